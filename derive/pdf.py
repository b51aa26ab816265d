"""PDF output: compile a LaTeX document with latexmk and LuaLaTeX, safely, and put the PDF in place.

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
from .safewrite import copy_file

APT_PACKAGES = (
    "latexmk texlive-luatex texlive-latex-recommended texlive-latex-extra texlive-pictures "
    "texlive-lang-cyrillic texlive-lang-polish fonts-cmu lmodern"
)
INSTALL = f"sudo apt-get install --no-install-recommends {APT_PACKAGES}"
TIMEOUT = 300  # seconds for one document; a runaway LaTeX run is stopped
CONTEXT_LINES = 4  # log lines shown after each '!' error line
MAX_ERRORS = 5


class LatexFailed(DeriveError):
    """LaTeX could not typeset the document: the lines of its log that say why."""

    exit_code = 1


def require_latex() -> None:
    """Raise ToolMissing unless latexmk and lualatex are on PATH."""
    missing = [tool for tool in ("latexmk", "lualatex") if shutil.which(tool) is None]
    if missing:
        raise ToolMissing(f"LaTeX ({', '.join(missing)})", INSTALL)


def compile_pdf(tex: str, target: str | Path, name: str = "derivation", make_folder: bool = True) -> Path:
    """Typeset tex into the PDF at target (written only when complete, its folder made when make_folder);
    returns target."""
    require_latex()
    target = Path(target)
    with tempfile.TemporaryDirectory(prefix="derive-latex-") as folder:
        work = Path(folder)
        (work / f"{name}.tex").write_text(tex, encoding="utf-8")
        proc = _latexmk(work, name, passes=None if _has_references(tex) else 1)
        pdf = work / f"{name}.pdf"
        if not _complete(proc, pdf, work / f"{name}.log"):
            raise LatexFailed(_failure(work / f"{name}.log", proc, tex))
        copy_file(pdf, target, make_folder=make_folder)
    return target


def _complete(proc: subprocess.CompletedProcess, pdf: Path, log: Path) -> bool:
    """latexmk succeeded, or stopped only because a one-pass document reached its pass limit."""
    if not pdf.is_file():
        return False
    if proc.returncode == 0:
        return True
    out = proc.stdout + proc.stderr
    errors = any(line.startswith("!") for line in log.read_text(encoding="utf-8", errors="replace").splitlines())
    return "needed too many passes" in out and not errors


def _has_references(tex: str) -> bool:
    """Whether LaTeX needs more than one pass (a table of contents, equation references)."""
    return any(command in tex for command in (r"\tableofcontents", r"\eqref", r"\ref{", r"\pageref"))


def _latexmk(work: Path, name: str, passes: int | None) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "openin_any": "p",  # kpathsea: no reading absolute paths or dot files a document names
        "openout_any": "p",
        "shell_escape": "f",
        "max_print_line": "200",  # log lines unbroken, so error lines are quoted whole
    }
    command = ["latexmk", "-lualatex", "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error",
               "-quiet"]
    if passes is not None:  # one pass: no references to settle, and the bookmark package writes the outline in it
        command += ["-e", f"$max_repeat={passes}"]
    command.append(f"{name}.tex")
    try:
        return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, errors="replace",
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise LatexFailed(f"LaTeX did not finish within {TIMEOUT} s") from exc


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
