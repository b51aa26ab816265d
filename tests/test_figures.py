"""Figures as a reader sees them: typeset by real LuaLaTeX, their words located by poppler.

The edge labels of a network and of a computational graph must not sit on one
another (seed 000's network, a 3-4-2 network, seed 001's sigmoid neuron): every
word's box in the PDF (pdftotext -bbox) is compared with every other one. Those
boxes are upright, so a worked example's two numbers on one sloped edge (above
and below it, mazur-2-2-2) look overlapping when they are not; such figures are
checked with turned rectangles in a real browser (test_figures_phone.py).
"""

from __future__ import annotations

import pytest

from conftest import ROOT
from derive.pipeline import derive_spec
from texharness import collisions, figure_words, require_latex

NETWORK_342 = """\
kind: network
index: target-source
input: {name: x, size: 3}
layers:
  - {units: 4, activation: sigmoid, params: W, bias: b}
  - {units: 2, activation: sigmoid, params: V, bias: c}
loss: half_sse
"""


@pytest.mark.parametrize("spec", ["two-layer-relu", "342", "sigmoid-neuron", "graph-add-mul", "sigmoid-layer",
                                  "mlp-check", "softmax-ce", "composition-check"])
def test_figure_labels_do_not_collide(spec, tmp_path):
    require_latex()
    path = ROOT / "specs" / f"{spec}.yaml"
    if spec == "342":
        path = tmp_path / "net.yaml"
        path.write_text(NETWORK_342, encoding="utf-8")
    result = derive_spec(path)
    figure = result.entry.module.figure(result.outcome, "ru")
    words = figure_words(figure.tikz(), tmp_path)
    assert len(words) >= 8
    assert collisions(words) == []


def test_graph_figure_numbers_in_the_language_and_a_legend(cli):
    from derive.render.document import latex
    from derive.pipeline import Options

    result = derive_spec(ROOT / "specs" / "sigmoid-neuron.yaml")
    tikz = result.entry.module.figure(result.outcome, "pl").tikz()
    assert "0{,}3679" in tikz and "0.3679" not in tikz
    source = latex(result, "pl", Options())
    assert "na zielono" in source and "na czerwono" in source  # the legend under the figure
    assert "na zielono" not in latex(derive_spec(ROOT / "specs" / "two-layer-relu.yaml"), "pl", Options())
