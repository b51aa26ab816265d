"""The grid figures of the 2-D convolution and of layer normalisation, as a reader sees them.

Typeset by real LuaLaTeX (with the documents' font, so Cyrillic is there) and
read back by poppler: every word's box is compared with every other one (no
label sits on another), and the words are those of the spec and of its
language. The labels are checked against the spec's sizes: which input
positions are padding, which cells form the receptive field of the drawn
output element, and the index arithmetic of the two terms that element sends
back (computed here from the CS231n indexing x_{c, S i + u − P}, not read
from the figure's code).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import ROOT
from derive.pipeline import Options, derive_spec
from derive.render.document import latex
from derive.render.i18n import translations
from texharness import collisions, figure_words, require_latex

SPECS = ROOT / "specs"


def _figure(path: Path, lang: str):
    result = derive_spec(path)
    return result, result.entry.figure_of(result.outcome, lang)


def _caption_words(module, names: tuple[str, ...], lang: str) -> set[str]:
    """The longer words of the figure's captions in lang, from the catalog (placeholders dropped)."""
    text = " ".join(translations(lang).gettext(getattr(module, n)) for n in names)
    return {w.strip(",.:;()") for w in re.sub(r"%\(\w+\)s", " ", text).split() if len(w) > 3}


@pytest.mark.parametrize("lang", ["ru", "en", "pl"])
@pytest.mark.parametrize("spec,captions", [
    ("conv2d", ("FIGURE_INPUT", "FIGURE_KERNEL", "FIGURE_OUTPUT")),
    ("layernorm", ("FIGURE_LAYER", "FIGURE_BATCH")),
])
def test_grid_figures_typeset_in_the_language_without_collisions(spec, captions, lang, tmp_path):
    require_latex()
    result, figure = _figure(SPECS / f"{spec}.yaml", lang)
    words = figure_words(figure.tikz(), tmp_path)
    assert collisions(words) == []
    found = {w.strip(",.:;()") for *_box, w in words}
    expected = _caption_words(result.module, captions, lang)
    assert expected and expected <= found, expected - found


CONV = """kind: conv
dims: 2
channels: 1
size: {size}
filters: 1
kernel: {kernel}
stride: {stride}
padding: {padding}
"""


@pytest.mark.parametrize("size,kernel,stride,padding", [(4, 3, 1, 1), (5, 3, 2, 1), (3, 2, 1, 0)])
def test_conv2d_figure_is_the_spec_s_geometry(size, kernel, stride, padding, tmp_path):
    """Padding cells, the receptive field (green, red where a real input receives a gradient) and the two
    backward labels follow the spec's sizes."""
    import sympy as sp

    path = tmp_path / "conv.yaml"
    path.write_text(CONV.format(size=size, kernel=kernel, stride=stride, padding=padding), encoding="utf-8")
    _result, figure = _figure(path, "en")
    inputs, weights, outputs = figure.panels
    side = size + 2 * padding
    out = (size - kernel + 2 * padding) // stride + 1
    assert (inputs.rows, inputs.cols, weights.rows, outputs.rows) == (side, side, kernel, out)
    col = (out - 1) // 2  # the drawn output element: first row, middle column
    field = {(stride * 0 + u, stride * col + v) for u in range(kernel) for v in range(kernel)}
    for a, row in enumerate(inputs.cells):
        for b, cell in enumerate(row):
            real = padding <= a < size + padding and padding <= b < size + padding
            assert (cell.fill == "forward") == ((a, b) in field)
            assert (cell.outline == "backward") == ((a, b) in field and real)
            assert (cell.label.tex == "0") == (not real)
            if real:
                assert cell.label.tex == f"$x_{{1,{a - padding},{b - padding}}}$"
    marked = [(a, b) for a, row in enumerate(outputs.cells) for b, c in enumerate(row) if c.fill]
    assert marked == [(0, col)]
    r, s, m, q = sp.symbols("r s m q", integer=True)
    # dL/dw_{1,1,r,s} gets dL/dy_{1,0,col} x_{1, r - P, S col + s - P}; dL/dx_{1,m,q} gets dL/dy w_{1,1,m + P, q + P - S col}
    from derive.render.printing import latex

    x, w = sp.IndexedBase("x"), sp.IndexedBase("w")
    to_w, to_x = figure.arrows[2].label.tex, figure.arrows[3].label.tex
    assert to_w.endswith(latex(x[1, r - padding, stride * col + s - padding]) + "$"), to_w
    assert to_x.endswith(latex(w[1, 1, m + padding, q + padding - stride * col]) + "$"), to_x
    assert [a.colour for a in figure.arrows] == ["forward", "forward", "backward", "backward"]


def test_layernorm_figure_has_the_spec_s_features(tmp_path):
    path = tmp_path / "ln.yaml"
    path.write_text("kind: layernorm\nfeatures: 5\n", encoding="utf-8")
    _result, figure = _figure(path, "en")
    layer, batch = figure.panels
    assert layer.cols == batch.cols == 5
    assert [c.label.tex for c in layer.cells[0]] == [f"$x_{{{k}}}$" for k in range(1, 6)]
    assert all(c.fill == "forward" for c in layer.cells[0]) and not any(c.fill for row in layer.cells[1:] for c in row)
    assert all(row[0].fill == "forward" for row in batch.cells) and not any(c.fill for row in batch.cells for c in row[1:])


@pytest.mark.parametrize("spec", ["conv2d", "layernorm"])
def test_grid_figure_beside_markdown_and_in_latex_with_its_legend(spec, cli, tmp_path):
    result, figure = _figure(SPECS / f"{spec}.yaml", "pl")
    legend = translations("pl").gettext(figure.legend)
    assert legend != figure.legend and legend.startswith("Na zielono")
    out = tmp_path / f"{spec}.md"
    assert cli(SPECS / f"{spec}.yaml", "--lang", "pl", "-o", out).exit_code == 0
    text = out.read_text(encoding="utf-8")
    assert f"]({spec}.svg)" in text and legend in text
    svg = out.with_suffix(".svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and svg.count("<rect") >= 9
    source = latex(result, "pl", Options())
    assert r"\begin{tikzpicture}" in source and "Na zielono" in source


@pytest.fixture
def cli():
    from click.testing import CliRunner

    from derive.cli import main

    def invoke(*args):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_grid_figure_in_the_html_page_is_in_the_page_s_language(cli, tmp_path):
    """The standalone HTML page inlines the SVG with the captions and the legend of its language."""
    out = tmp_path / "conv2d.html"
    assert cli(SPECS / "conv2d.yaml", "--format", "html", "--lang", "ru", "-o", out).exit_code == 0
    page = out.read_text(encoding="utf-8")
    result, figure = _figure(SPECS / "conv2d.yaml", "ru")
    assert "<svg" in page and "Вход" in page and "Input" not in page
    assert translations("ru").gettext(figure.legend) in page


@pytest.mark.parametrize("spec", ["rnn-3-steps", "attention-3-tokens", "conv1d", "residual-mlp"])
def test_the_other_layer_figures_typeset_without_collisions(spec, tmp_path):
    """The layered figures of the other layer kinds (and of a residual network): no label sits on another."""
    require_latex()
    _result, figure = _figure(SPECS / f"{spec}.yaml", "ru")
    words = figure_words(figure.tikz(), tmp_path)
    assert len(words) >= 8
    assert collisions(words) == []


def test_conv2d_figure_says_which_channel_and_filter_it_shows(tmp_path):
    path = tmp_path / "conv.yaml"
    path.write_text(CONV.format(size=4, kernel=3, stride=1, padding=1).replace("channels: 1", "channels: 2")
                    .replace("filters: 1", "filters: 3"), encoding="utf-8")
    _result, figure = _figure(path, "ru")
    assert [n.plain for n in figure.panels[1].notes] == ["канал 1 из 2, фильтр 1 из 3"]
    _result, single = _figure(SPECS / "conv2d.yaml", "ru")
    assert single.panels[1].notes == []
