"""The math of the mlp and composition lectures is valid LaTeX (amsmath, xcolor), in every language.

The PDF route converts the same math the Markdown shows, so every formula
(display and inline) goes through one real LuaLaTeX run.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import LANGS, ROOT
from katex import extract_math_with_mode

from derive.pipeline import derive_spec, render

PREAMBLE = r"""\documentclass{article}
\usepackage{amsmath,amssymb}
\usepackage{xcolor}
\usepackage{fontspec}
\setmainfont{DejaVu Serif}
\begin{document}
"""


def _lualatex():
    tool = shutil.which("lualatex")
    if tool is None:
        message = "lualatex is not installed (apt-get install texlive-luatex texlive-latex-extra)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return tool


def test_lecture_math_compiles_with_lualatex(tmp_path):
    tool = _lualatex()
    body = []
    for spec in ("mlp-backprop.yaml", "deep-composition.yaml"):
        result = derive_spec(ROOT / "specs" / spec)
        for lang in LANGS:
            for tex, display in extract_math_with_mode(render(result, "md", lang)):
                body.append(rf"\[ {tex} \]" if display else f"${tex}$\n")
    (tmp_path / "math.tex").write_text(PREAMBLE + "\n\n".join(body) + "\n\\end{document}\n", encoding="utf-8")
    proc = subprocess.run([tool, "-interaction=nonstopmode", "-halt-on-error", "math.tex"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    log = (tmp_path / "math.log").read_text(encoding="utf-8", errors="replace")
    assert proc.returncode == 0, log[-3000:]
    assert "Missing character" not in log
