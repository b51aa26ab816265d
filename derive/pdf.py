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
import shutil
import subprocess
import tempfile
from pathlib import Path

from .errors import DeriveError, ToolMissing

APT_PACKAGES = (
    "latexmk texlive-luatex texlive-latex-recommended texlive-latex-extra texlive-pictures "
    "texlive-lang-cyrillic texlive-lang-polish fonts-cmu lmodern"
)
INSTALL = f"sudo apt-get install --no-install-recommends {APT_PACKAGES}"
TIMEOUT = 300  # seconds for one document; a runaway LaTeX run is stopped
MAX_PASSES = 4
CONTEXT_LINES = 4  # log lines shown after each '!' error line
MAX_ERRORS = 5


class LatexFailed(DeriveError):
    """LaTeX could not typeset the document: the lines of its log that say why."""

    exit_code = 1


def require_latex() -> None:
    """Raise ToolMissing unless lualatex is on PATH."""
    missing = [tool for tool in ("lualatex",) if shutil.which(tool) is None]
    if missing:
        raise ToolMissing(f"LaTeX ({', '.join(missing)})", INSTALL)


def compile_pdf(tex: str, target: str | Path, name: str = "derivation") -> Path:
    """Typeset tex into the PDF at target (written only when complete); returns target."""
    require_latex()
    target = Path(target)
    with tempfile.TemporaryDirectory(prefix="derive-latex-") as folder:
        work = Path(folder)
        (work / f"{name}.tex").write_text(tex, encoding="utf-8")
        proc = _lualatex(work, name, passes=MAX_PASSES if _has_references(tex) else 1)
        pdf = work / f"{name}.pdf"
        if not _complete(proc, pdf, work / f"{name}.log"):
            raise LatexFailed(_failure(work / f"{name}.log", proc, tex))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        shutil.copyfile(pdf, partial)
        os.replace(partial, target)
    return target


def _complete(proc: subprocess.CompletedProcess, pdf: Path, log: Path) -> bool:
    """LuaLaTeX's last pass succeeded and wrote the PDF."""
    return pdf.is_file() and proc.returncode == 0


def _has_references(tex: str) -> bool:
    """Whether LaTeX needs more than one pass (a table of contents, equation references)."""
    return any(command in tex for command in (r"\tableofcontents", r"\eqref", r"\ref{", r"\pageref"))


def _lualatex(work: Path, name: str, passes: int) -> subprocess.CompletedProcess:
    """Run LuaLaTeX until the .aux file stops changing (at most `passes` times)."""
    env = {
        **os.environ,
        "openin_any": "p",  # kpathsea: no reading absolute paths or dot files a document names
        "openout_any": "p",
        "shell_escape": "f",
        "max_print_line": "200",  # log lines unbroken, so error lines are quoted whole
    }
    command = ["lualatex", "--no-shell-escape", "--interaction=nonstopmode", "--halt-on-error", f"{name}.tex"]
    aux = work / f"{name}.aux"
    for _ in range(passes):
        before = aux.read_bytes() if aux.is_file() else None
        try:
            proc = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, errors="replace",
                                  timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise LatexFailed(f"LaTeX did not finish within {TIMEOUT} s") from exc
        if proc.returncode != 0 or (aux.is_file() and aux.read_bytes() == before):
            break
    return proc


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
