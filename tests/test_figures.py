"""Figures as a reader sees them: typeset by real LuaLaTeX, their words located by poppler.

The edge labels of a network and of a computational graph must not sit on one
another (seed 000's network, a 3-4-2 network, seed 001's sigmoid neuron): every
word's box in the PDF (pdftotext -bbox) is compared with every other one.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from derive.pipeline import derive_spec
from texharness import require_latex

NETWORK_342 = """\
kind: network
index: target-source
input: {name: x, size: 3}
layers:
  - {units: 4, activation: sigmoid, params: W, bias: b}
  - {units: 2, activation: sigmoid, params: V, bias: c}
loss: half_sse
"""
WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')


def _words(tikz: str, folder: Path) -> list[tuple[float, float, float, float, str]]:
    source = ("\\documentclass{standalone}\n\\usepackage{fontspec,amsmath,amssymb,tikz}\n\\begin{document}\n"
              + tikz + "\n\\end{document}\n")
    (folder / "f.tex").write_text(source, encoding="utf-8")
    subprocess.run(["lualatex", "--interaction=nonstopmode", "--halt-on-error", "f.tex"], cwd=folder,
                   capture_output=True, check=True, timeout=300)
    html = subprocess.run(["pdftotext", "-bbox", "f.pdf", "-"], cwd=folder, capture_output=True, text=True,
                          check=True).stdout
    return [(float(a), float(b), float(c), float(d), w) for a, b, c, d, w in WORD.findall(html)]


def _collisions(words) -> list[tuple[str, str]]:
    """Pairs of words whose boxes overlap by more than a fifth of the smaller one."""
    found = []
    for n, p in enumerate(words):
        for q in words[n + 1:]:
            w = min(p[2], q[2]) - max(p[0], q[0])
            h = min(p[3], q[3]) - max(p[1], q[1])
            if w > 0 and h > 0:
                smaller = min((p[2] - p[0]) * (p[3] - p[1]), (q[2] - q[0]) * (q[3] - q[1]))
                if w * h > 0.2 * smaller:
                    found.append((p[4], q[4]))
    return found


@pytest.mark.parametrize("spec", ["two-layer-relu", "342", "sigmoid-neuron", "graph-add-mul", "sigmoid-layer"])
def test_figure_labels_do_not_collide(spec, tmp_path):
    require_latex()
    path = ROOT / "specs" / f"{spec}.yaml"
    if spec == "342":
        path = tmp_path / "net.yaml"
        path.write_text(NETWORK_342, encoding="utf-8")
    result = derive_spec(path)
    figure = result.entry.module.figure(result.outcome, "ru")
    words = _words(figure.tikz(), tmp_path)
    assert len(words) >= 8
    assert _collisions(words) == []


def test_graph_figure_numbers_in_the_language_and_a_legend(cli):
    from derive.render.document import latex
    from derive.pipeline import Options

    result = derive_spec(ROOT / "specs" / "sigmoid-neuron.yaml")
    tikz = result.entry.module.figure(result.outcome, "pl").tikz()
    assert "0{,}3679" in tikz and "0.3679" not in tikz
    source = latex(result, "pl", Options())
    assert "na zielono" in source and "na czerwono" in source  # the legend under the figure
    assert "na zielono" not in latex(derive_spec(ROOT / "specs" / "two-layer-relu.yaml"), "pl", Options())
