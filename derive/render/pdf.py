"""PDF output: compile a LaTeX document with LuaLaTeX, safely, and put the PDF in place.

LuaLaTeX runs once for a document without cross-references (the bookmark package
writes the outline in that one pass) and again while the .aux file changes, at most
MAX_PASSES times, for one with a table of contents or equation references; LuaLaTeX
is called directly (latexmk's own start-up and bookkeeping cost more than a page of
typesetting).

Compilation happens in a fresh temporary folder with shell escape off and
kpathsea's paranoid file access (no reading or writing outside that folder
but for TeX's own files); the PDF is moved into place only when complete. A
missing latexmk/LuaLaTeX is `ToolMissing` (exit 3, with the apt command); a
LaTeX error is `LatexFailed` (exit 1) showing only the log's error lines.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
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
                keep: str | Path | None = None) -> Path:
    """Typeset tex into the PDF at target (written only when complete, its folder made when make_folder);
    returns target. A document with references keeps its .aux and .toc in the folder `keep` (derive build
    gives one per output): the next build starts from them, and when the first pass writes the same .aux
    again (a changed formula that moved no page of the contents), that one pass is the last."""
    require_latex()
    target = Path(target)
    references = _has_references(tex)
    with tempfile.TemporaryDirectory(prefix="derive-latex-") as folder:
        work = Path(folder)
        (work / f"{name}.tex").write_text(tex, encoding="utf-8")
        seeded = keep is not None and references and _restore(Path(keep), work, name)
        passes, pages_matter = MAX_PASSES if references else 1, r"\pageref" in tex
        proc = _lualatex(work, name, passes, pages_matter)
        pdf = work / f"{name}.pdf"
        if seeded and not _complete(proc, pdf, work / f"{name}.log"):  # what was kept does not fit: afresh
            for suffix in KEPT:
                (work / f"{name}{suffix}").unlink(missing_ok=True)
            proc = _lualatex(work, name, passes, pages_matter)
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


def _lualatex(work: Path, name: str, passes: int, pages_matter: bool = True) -> subprocess.CompletedProcess:
    """Run LuaLaTeX until what it reads from the .aux file stops changing (at most `passes` times)."""
    env = {
        **os.environ,
        "openin_any": "p",  # kpathsea: no reading absolute paths or dot files a document names
        "openout_any": "p",
        "shell_escape": "f",
        "max_print_line": "200",  # log lines unbroken, so error lines are quoted whole
    }
    (work / SANDBOX_NAME).write_text(LUA_SANDBOX, encoding="utf-8")
    command = [*_engine().split(), "--no-shell-escape", "--interaction=nonstopmode", "--halt-on-error", f"{name}.tex"]
    aux = work / f"{name}.aux"
    for _ in range(passes):
        before = _aux_state(aux, pages_matter)
        proc = _run(command, work, env)
        if proc.returncode != 0 or (aux.is_file() and _aux_state(aux, pages_matter) == before):
            break
    return proc


def _engine() -> str:
    """The LuaLaTeX command: Lua's file access confined (LUA_SANDBOX), no sockets, and where util-linux's
    setpriv is present, killed when derive dies (so a killed derive leaves no LaTeX behind)."""
    prefix = "setpriv --pdeathsig KILL " if shutil.which("setpriv") else ""
    return f"{prefix}lualatex --nosocket --lua={SANDBOX_NAME}"  # run in the work folder, beside the .tex


def _run(command: list[str], work: Path, env: dict) -> subprocess.CompletedProcess:
    """Run LuaLaTeX in its own process group, which is killed whole on the timeout."""
    from derive.core.bounded import die_with_parent

    proc = subprocess.Popen(command, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, errors="replace", start_new_session=True,
                            preexec_fn=die_with_parent)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise LatexFailed(f"LaTeX did not finish within {TIMEOUT} s") from None
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
