"""PDF output: compile a LaTeX document with LuaLaTeX, safely, and put the PDF in place.

LuaLaTeX runs once for a document without cross-references (the bookmark package
writes the outline in that one pass) and again while the .aux file changes, at most
MAX_PASSES times, for one with a table of contents or equation references; LuaLaTeX
is called directly (latexmk's own start-up and bookkeeping cost more than a page of
typesetting).

With `formats` (derive build gives <out>/.derive-latex/_formats), the preamble up to FORMAT_MARK, the
same in every lecture of a kind, is read once into a LuaLaTeX format (mylatexformat) and each document
starts at the mark: about a quarter of a lecture's LaTeX time. What goes before the mark keeps no Lua state
but fontspec's module (required again when the format is loaded); fonts, babel, microtype and TikZ come
after it. A format is kept with the list of files it was made of (size and time of each): a changed file
(a TeX Live update) or a changed preamble makes a new one. A format that cannot be made, or a document
that fails with one, is typeset the ordinary way.

Compilation happens in a fresh temporary folder with shell escape off and
kpathsea's paranoid file access (no reading or writing outside that folder
but for TeX's own files); the PDF is moved into place only when complete. A
missing latexmk/LuaLaTeX is `ToolMissing` (exit 3, with the apt command); a
LaTeX error is `LatexFailed` (exit 1) showing only the log's error lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from derive.errors import DeriveError, ToolMissing
from derive.core.safewrite import copy_file

APT_PACKAGES = (
    "latexmk texlive-luatex texlive-latex-recommended texlive-latex-extra texlive-pictures "
    "texlive-lang-cyrillic texlive-lang-polish fonts-cmu lmodern"
)
INSTALL = f"sudo apt-get install --no-install-recommends {APT_PACKAGES}"
TIMEOUT = 300  # seconds for one document; a runaway LaTeX run is stopped
MAX_PASSES = 4
CONTEXT_LINES = 4  # log lines shown after each '!' error line
MAX_ERRORS = 5


SANDBOX_NAME = "derive-sandbox.lua"
# Run by LuaTeX before the format (--lua): Lua may open files only inside the work folder and TeX's and the
# fonts' own trees, and write only in the work folder and TeX's caches. Shell escape is off besides
# (os.execute, io.popen obey it), so no spec, title or package can make Lua read /etc/passwd into a PDF.
LUA_SANDBOX = r"""
local open, lines, input, output, dofile_, loadfile_ = io.open, io.lines, io.input, io.output, dofile, loadfile
local readable, writable
local function folders(list, value)
  for d in string.gmatch(value or "", "[^:;,{}]+") do
    d = d:gsub("^!!", ""):gsub("/+$", "")
    if d:sub(1, 1) == "/" then list[#list + 1] = d .. "/" end
  end
end
local function expand(names)
  local list = {}
  for _, v in ipairs(names) do
    local ok, value = pcall(kpse.expand_var, "$" .. v)
    if ok then folders(list, value) end
  end
  return list
end
local function roots()
  if readable then return end
  readable = expand({"TEXMFROOT", "TEXMFDIST", "TEXMFMAIN", "TEXMFLOCAL", "TEXMFSYSVAR", "TEXMFSYSCONFIG",
                     "TEXMFVAR", "TEXMFCONFIG", "TEXMFHOME", "TEXMFCACHE", "OSFONTDIR", "TEXMF"})
  writable = expand({"TEXMFVAR", "TEXMFCACHE"})
  for _, d in ipairs({"/usr/share/fonts", "/usr/local/share/fonts", "/usr/share/texmf", "/usr/share/texlive",
                      "/etc/fonts", "/etc/texmf", "/var/lib/texmf"}) do readable[#readable + 1] = d .. "/" end
  local here = lfs.currentdir() .. "/"
  readable[#readable + 1] = here
  writable[#writable + 1] = here
end
local function under(name, list)
  for _, root in ipairs(list) do
    if name:sub(1, #root) == root then return true end
  end
  return false
end
local function allowed(name, mode)
  if type(name) ~= "string" then return true end
  if name:find("..", 1, true) or name:find("~", 1, true) then return false end
  if name:sub(1, 1) ~= "/" then return true end
  roots()
  if mode and mode:find("[wa+]") then return under(name, writable) end
  return under(name, readable)
end
local function refused(name) return nil, tostring(name) .. ": derive does not let Lua open this file", 13 end
io.open = function(name, mode, ...)
  if not allowed(name, mode) then return refused(name) end
  return open(name, mode, ...)
end
io.lines = function(name, ...)
  if not allowed(name) then error(tostring(name) .. ": derive does not let Lua read this file") end
  return lines(name, ...)
end
io.input = function(name, ...)
  if type(name) == "string" and not allowed(name) then error(name .. ": derive does not let Lua read this file") end
  return input(name, ...)
end
io.output = function(name, ...)
  if type(name) == "string" and not allowed(name, "w") then error(name .. ": derive does not let Lua write this file") end
  return output(name, ...)
end
dofile = function(name, ...)
  if not allowed(name) then error(tostring(name) .. ": derive does not let Lua run this file") end
  return dofile_(name, ...)
end
loadfile = function(name, ...)
  if not allowed(name) then return refused(name) end
  return loadfile_(name, ...)
end
"""


class LatexFailed(DeriveError):
    """LaTeX could not typeset the document: the lines of its log that say why."""

    exit_code = 1


def require_latex() -> None:
    """Raise ToolMissing unless lualatex is on PATH."""
    missing = [tool for tool in ("lualatex",) if shutil.which(tool) is None]
    if missing:
        raise ToolMissing(f"LaTeX ({', '.join(missing)})", INSTALL)


def compile_pdf(tex: str, target: str | Path, name: str = "derivation", make_folder: bool = True,
                keep: str | Path | None = None, formats: str | Path | None = None) -> Path:
    """Typeset tex into the PDF at target (written only when complete, its folder made when make_folder);
    returns target. A document with references keeps its .aux and .toc in the folder `keep` (derive build
    gives one per output): the next build starts from them, and when the first pass writes the same .aux
    again (a changed formula that moved no page of the contents), that one pass is the last. `formats`: a
    folder for the preloaded preambles (see the module's text), or None to typeset each document whole."""
    require_latex()
    target = Path(target)
    references = _has_references(tex)
    with tempfile.TemporaryDirectory(prefix="derive-latex-") as folder:
        work = Path(folder)
        (work / f"{name}.tex").write_text(tex, encoding="utf-8")
        seeded = keep is not None and references and _restore(Path(keep), work, name)
        passes, pages_matter = MAX_PASSES if references else 1, r"\pageref" in tex
        fmt = preloaded(tex, Path(formats)) if formats is not None else None
        proc = _lualatex(work, name, passes, pages_matter, fmt)
        pdf = work / f"{name}.pdf"
        if (seeded or fmt) and not _complete(proc, pdf, work / f"{name}.log"):
            # what was kept does not fit, or the format fails: afresh, the ordinary way
            for suffix in (*KEPT, ".pdf"):
                (work / f"{name}{suffix}").unlink(missing_ok=True)
            proc = _lualatex(work, name, passes, pages_matter)
            if fmt and not seeded and _complete(proc, pdf, work / f"{name}.log"):
                _discard(fmt)  # the document is fine, so the format was not: not used again (nor remade)
        if not _complete(proc, pdf, work / f"{name}.log"):
            raise LatexFailed(_failure(work / f"{name}.log", proc, tex))
        copy_file(pdf, target, make_folder=make_folder)
        if keep is not None and references:
            _save(work, name, Path(keep))
    return target


KEPT = (".aux", ".toc")  # what the next pass reads: labels, and the contents' lines


def _restore(keep: Path, work: Path, name: str) -> bool:
    """Copy the .aux and .toc a previous build kept into the work folder; whether there was an .aux."""
    for suffix in KEPT:
        kept = keep / f"{name}{suffix}"
        if kept.is_file() and not kept.is_symlink():
            shutil.copyfile(kept, work / f"{name}{suffix}")
    return (work / f"{name}.aux").is_file()


def _save(work: Path, name: str, keep: Path) -> None:
    """Keep the .aux and .toc of the finished document for the next build (a failure to keep is no error)."""
    from derive.errors import DeriveError

    for suffix in KEPT:
        made = work / f"{name}{suffix}"
        try:
            if made.is_file():
                copy_file(made, keep / f"{name}{suffix}", make_folder=True)
            else:
                (keep / f"{name}{suffix}").unlink(missing_ok=True)
        except (DeriveError, OSError):
            pass


def _complete(proc: subprocess.CompletedProcess, pdf: Path, log: Path) -> bool:
    """LuaLaTeX's last pass succeeded and wrote the PDF."""
    return pdf.is_file() and proc.returncode == 0


def _has_references(tex: str) -> bool:
    """Whether LaTeX needs more than one pass (a table of contents, equation references)."""
    return any(command in tex for command in (r"\tableofcontents", r"\eqref", r"\ref{", r"\pageref"))


# \newlabel{key}{{number}{page}…}: the page a label sits on, which only \pageref prints.
_LABEL_PAGE = re.compile(rb"(\\newlabel\{[^{}]*\}\{\{[^{}]*\})\{[^{}]*\}")


def _aux_state(aux: Path, pages_matter: bool) -> bytes | None:
    r"""What the next pass reads from the .aux: its text, without the pages of labels when the document
    prints no page reference (an equation that moves to the next page changes nothing printed; the
    table of contents' pages are \@writefile lines and still count)."""
    if not aux.is_file():
        return None
    text = aux.read_bytes()
    return text if pages_matter else _LABEL_PAGE.sub(rb"\1", text)


def _environment() -> dict:
    return {
        **os.environ,
        "openin_any": "p",  # kpathsea: no reading absolute paths or dot files a document names
        "openout_any": "p",
        "shell_escape": "f",
        "max_print_line": "200",  # log lines unbroken, so error lines are quoted whole
    }


def _lualatex(work: Path, name: str, passes: int, pages_matter: bool = True,
              fmt: Path | None = None) -> subprocess.CompletedProcess:
    """Run LuaLaTeX until what it reads from the .aux file stops changing (at most `passes` times); with
    `fmt`, from that format (the document's preamble up to FORMAT_MARK preloaded)."""
    env = _environment()
    (work / SANDBOX_NAME).write_text(LUA_SANDBOX, encoding="utf-8")
    preload = [f"--fmt={fmt.with_suffix('')}"] if fmt is not None else []
    command = [*_engine().split(), *preload, "--no-shell-escape", "--interaction=nonstopmode", "--halt-on-error",
               f"{name}.tex"]
    aux = work / f"{name}.aux"
    for _ in range(passes):
        before = _aux_state(aux, pages_matter)
        proc = _run(command, work, env)
        if proc.returncode != 0 or (aux.is_file() and _aux_state(aux, pages_matter) == before):
            break
    return proc


# -- a preamble preloaded in a format -------------------------------------------------------------------

FORMAT_MARK = r"\csname endofdump\endcsname"  # mylatexformat: the format ends here (\relax in a plain run)
# What loading the format must do again: fontspec's Lua module (its functions; no callbacks, no state) and
# pdftexcmds' (hyperref's helper), which their packages require while loading, are not in a format.
FORMAT_EVERYJOB = r'\everyjob\expandafter{\the\everyjob\directlua{require("fontspec") require("pdftexcmds")}}'
FORMAT_TIMEOUT = 120
FORMAT_LUA_NAME = "derive-format.lua"
# Run first when a format is made. expl3 keeps its integer arrays (case changing, regex: \MakeUppercase in a
# book's running heads) in Lua and writes them into the format at \dump; in -ini mode it starts them empty
# instead of reading those the stock format holds, as every ordinary run does. This gives it those, so
# the format made holds the stock arrays and the preamble's own, the same as an ordinary run has.
FORMAT_LUA = r"""
local register = token.create("@expl@luadata@bytecode").index
local saved = lua.bytecode[register]
local stock = saved and saved() or {}
local function upvalue(f, name)
  for i = 1, 255 do
    local n, v = debug.getupvalue(f, i)
    if n == nil then return nil end
    if n == name then return v end
  end
end
local gset = lua.get_functions_table()[token.create("__intarray_gset_count:Nw").mode]
local get = gset and upvalue(gset, "__intarray_table")
local tables = get and upvalue(get, "tables")
if not (tables and stock.__intarray) then error("derive: expl3's integer arrays not found") end
for i, t in pairs(stock.__intarray) do
  if tables[i] == nil then tables[i] = t end
end
"""


def preloaded(tex: str, folder: Path) -> Path | None:
    """The format holding tex's preamble up to FORMAT_MARK, made in `folder` if it is not there or no longer
    fits its files; None when tex has no mark or the format cannot be made (the document is then typeset
    whole). Workers building at the same time wait for each other (a lock per format)."""
    at = tex.find(FORMAT_MARK)
    if at < 0 or shutil.which("kpsewhich") is None:
        return None
    head = tex[:at]
    stem = "derive-" + hashlib.sha256("\n".join((engine_identity(), FORMAT_LUA, FORMAT_EVERYJOB, head)).encode()).hexdigest()[:20]
    fmt, manifest, failed = (folder / f"{stem}{suffix}" for suffix in (".fmt", ".files.json", ".failed"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if _current(fmt, manifest):
            return fmt
        if failed.is_file():
            return None
        import fcntl

        with open(folder / f"{stem}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if _current(fmt, manifest):
                return fmt
            return _make_format(head, stem, fmt, manifest, failed)
    except OSError:
        return None


def _discard(fmt: Path) -> None:
    """A format a document failed with (and typeset whole without) is set aside for good: the next documents
    are typeset whole rather than each making it and failing with it again."""
    try:
        fmt.with_suffix(".failed").write_text("a document failed with this format\n", encoding="utf-8")
        for path in (fmt, fmt.with_suffix(".files.json")):
            path.unlink(missing_ok=True)
    except OSError:
        pass


def _current(fmt: Path, manifest: Path) -> bool:
    """The format is there and every file it was made of has the size and time it had then."""
    try:
        files = json.loads(manifest.read_text(encoding="utf-8"))
        if not fmt.is_file() or not isinstance(files, dict) or not files:
            return False
        for path, (size, mtime) in files.items():
            stat = os.stat(path)
            if stat.st_size != size or stat.st_mtime_ns != mtime:
                return False
    except (OSError, ValueError, TypeError):
        return False
    return True


def _make_format(head: str, stem: str, fmt: Path, manifest: Path, failed: Path) -> Path | None:
    """Dump head (with FORMAT_EVERYJOB) into a format by mylatexformat; record the files it read."""
    with tempfile.TemporaryDirectory(prefix="derive-format-") as folder:
        work = Path(folder)
        (work / "head.tex").write_text(f'\\directlua{{dofile("{FORMAT_LUA_NAME}")}}\n{head}{FORMAT_EVERYJOB}\n'
                                       f"{FORMAT_MARK}\n", encoding="utf-8")
        (work / FORMAT_LUA_NAME).write_text(FORMAT_LUA, encoding="utf-8")
        (work / SANDBOX_NAME).write_text(LUA_SANDBOX, encoding="utf-8")
        command = [*_engine().split(), "-ini", f"-jobname={stem}", "--recorder", "--no-shell-escape",
                   "--interaction=nonstopmode", "--halt-on-error", "&lualatex", "mylatexformat.ltx", "head.tex"]
        try:
            proc = _run(command, work, _environment(), FORMAT_TIMEOUT)
        except LatexFailed:
            proc = None
        made = work / f"{stem}.fmt"
        if proc is None or proc.returncode != 0 or not made.is_file():
            failed.write_text("", encoding="utf-8")
            return None
        files = _read_files(work / f"{stem}.fls", work)
        part = fmt.with_name(fmt.name + ".part")
        shutil.copyfile(made, part)
        os.replace(part, fmt)
        manifest.write_text(json.dumps(files, indent=0, sort_keys=True), encoding="utf-8")
    return fmt


def _read_files(fls: Path, work: Path) -> dict:
    """{path: [size, mtime_ns]} of every file outside the work folder that the format's LuaLaTeX run read."""
    files = {}
    for line in fls.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("INPUT "):
            continue
        path = Path(line[6:].strip())
        path = path if path.is_absolute() else work / path
        if work in path.parents or not path.is_file():
            continue
        stat = path.stat()
        files[str(path)] = [stat.st_size, stat.st_mtime_ns]
    return files


@lru_cache(maxsize=1)
def engine_identity() -> str:
    """The LuaTeX version and the stock LuaLaTeX format a preloaded one is made from (its path, size and
    time): a new TeX Live makes new formats."""
    try:
        version = subprocess.run(["lualatex", "--version"], capture_output=True, text=True, timeout=30).stdout
        stock = subprocess.run(["kpsewhich", "-engine=luahbtex", "lualatex.fmt"], capture_output=True, text=True,
                               timeout=30).stdout.strip()
        stat = os.stat(stock) if stock else None
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{version.splitlines()[0] if version else ''}|{stock}|{stat.st_size if stat else 0}|" \
           f"{stat.st_mtime_ns if stat else 0}"


def _engine() -> str:
    """The LuaLaTeX command: Lua's file access confined (LUA_SANDBOX), no sockets, and where util-linux's
    setpriv is present, killed when derive dies (so a killed derive leaves no LaTeX behind)."""
    prefix = "setpriv --pdeathsig KILL " if shutil.which("setpriv") else ""
    return f"{prefix}lualatex --nosocket --lua={SANDBOX_NAME}"  # run in the work folder, beside the .tex


def _run(command: list[str], work: Path, env: dict, timeout: int | None = None) -> subprocess.CompletedProcess:
    """Run LuaLaTeX in its own process group, which is killed whole on the timeout."""
    from derive.core.bounded import die_with_parent

    proc = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True,
                            preexec_fn=die_with_parent)
    timeout = TIMEOUT if timeout is None else timeout
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise LatexFailed(f"LaTeX did not finish within {timeout} s") from None
    except BaseException:
        _kill_group(proc)
        raise
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.communicate()


def _failure(log: Path, proc: subprocess.CompletedProcess, tex: str) -> str:
    """The error lines of the LaTeX log (each '!' line and what follows), not the whole log."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.is_file() else []
    shown: list[str] = []
    errors = [i for i, line in enumerate(lines) if line.startswith("!")][:MAX_ERRORS]
    for i in errors:
        shown += lines[i : i + CONTEXT_LINES + 1]
    if not shown:
        shown = (proc.stderr or proc.stdout).strip().splitlines()[-10:]
    hint = f"\n(the font comes from Debian's fonts-cmu: {INSTALL})" if any("CMU" in s for s in shown) else ""
    return "LaTeX failed:\n" + "\n".join(shown) + hint
