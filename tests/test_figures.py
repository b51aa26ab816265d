"""Figures as a reader sees them: typeset by real LuaLaTeX, their words located by poppler.

The edge labels of a network and of a computational graph must not sit on one
another (seed 000's network, a 3-4-2 network, seed 001's sigmoid neuron): every
word's box in the PDF (pdftotext -bbox) is compared with every other one. Those
boxes are upright, so a worked example's two numbers on one sloped edge (above
and below it, mazur-2-2-2) look overlapping when they are not; such figures are
checked with turned rectangles in a real browser (test_figures_phone.py).

No edge label may touch a line either, its own edge's included (a ψ's tail on
its edge, the b₂ edge through W₁₁): the ink of every figure's labels is
measured against all other ink in the rasterised PDF, without the labels' white
backing, for every spec whose figure has edge labels (the dense ones, mlp-check,
softmax-ce, mazur-2-2-2 and a 3-4-2 network, included). The gaps those need are
widened only as far as the page's text width, and TikZ puts each label where the
layout computed it.
"""

from __future__ import annotations

import re

import pytest

from conftest import ROOT
from derive.pipeline import derive_spec
from texharness import cell_room, collisions, figure_words, label_clearance, require_latex

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


def _draws(path) -> bool:
    """Whether the spec's kind draws a figure (the kind registry says so)."""
    import yaml

    from derive.kinds.base import KINDS

    return KINDS[yaml.safe_load(path.read_text(encoding="utf-8")).get("kind", "network")].figure


# conv2d and layernorm draw grids (the test below); an index-form graph draws its nodes without edge labels
UNLABELLED = {"linear-layer"}
FIGURE_SPECS = sorted(p.stem for p in (ROOT / "specs").glob("*.yaml")
                      if _draws(p) and p.stem not in ("conv2d", "layernorm", *UNLABELLED))
CLEARANCE_PT = 1.5  # the least white between a label's ink and any line, node or arrow head


@pytest.mark.parametrize("spec", FIGURE_SPECS)
def test_edge_labels_keep_clear_of_every_line(spec, tmp_path):
    require_latex()
    result = derive_spec(ROOT / "specs" / f"{spec}.yaml")
    figure = result.entry.figure_of(result.outcome, "en")
    assert _edge_labelled(figure), f"{spec}: no figure with edge labels"
    assert label_clearance(figure.tikz(), tmp_path) >= CLEARANCE_PT


NETWORK_3332 = """\
kind: network
index: target-source
input: {name: x, size: 3}
layers:
  - {units: 3, activation: relu, params: W, bias: b}
  - {units: 3, activation: tanh, params: V, bias: c}
  - {units: 2, activation: identity, params: U, bias: g}
loss: half_sse
"""


@pytest.mark.parametrize("spec, lang", [("342", "en"), ("3332", "en"), ("mazur-2-2-2", "ru"), ("mazur-2-2-2", "pl")])
def test_crowded_figures_keep_clear_in_every_language(spec, lang, tmp_path):
    """A 3-4-2 network (its 4-4 layer with a bias: sixteen labelled edges), two crowded gaps side by side
    (3-3-3-2) and the worked example's long pairs with decimal commas."""
    require_latex()
    path = ROOT / "specs" / f"{spec}.yaml"
    if spec in ("342", "3332"):
        path = tmp_path / "net.yaml"
        path.write_text(NETWORK_342 if spec == "342" else NETWORK_3332, encoding="utf-8")
    result = derive_spec(path)
    figure = result.entry.figure_of(result.outcome, lang)
    assert label_clearance(figure.tikz(), tmp_path) >= CLEARANCE_PT


NODE_AT = re.compile(r"\\node\[[^\]]*\] \(n\d+-\d+\) at \(([-\d.]+), ([-\d.]+)\)")
TEXT_WIDTH_CM = 15.6  # the notes' A4 page less 27 mm margins on each side


@pytest.mark.parametrize("spec", ["mlp-check", "softmax-ce", "mazur-2-2-2", "two-layer-relu", "sigmoid-layer"])
def test_a_widened_figure_still_fits_the_page(spec):
    """A crowded drawing is widened only as far as the page's text width (its outer neurons included);
    one whose labels keep clear as drawn keeps its 4 cm between layers and 1.7 cm between rows."""
    result = derive_spec(ROOT / "specs" / f"{spec}.yaml")
    tikz = result.entry.figure_of(result.outcome, "en").tikz()
    xs, ys = zip(*((float(x), float(y)) for x, y in NODE_AT.findall(tikz)))
    assert max(xs) - min(xs) + 2 * 0.4 <= TEXT_WIDTH_CM
    if spec in ("two-layer-relu", "sigmoid-layer"):
        assert sorted(set(xs)) == [4.0 * i for i in range(len(set(xs)))]
        assert {round(y % 1.7, 6) for y in ys} <= {0.0, 0.85}


def test_tikz_places_a_label_where_the_layout_put_it(tmp_path):
    """TikZ measures pos from the source's border to the target's; the layout, from centre to centre.
    A label put at a fifth of a 4 cm edge from a constant (a 6 mm square) to a neuron (8 mm across)
    is typeset, by real LuaLaTeX, 0.8 cm from the constant's centre."""
    from derive.render.diagram import Edge, Node, layered_tikz, name_label, number_label, _tikz_pos

    require_latex()
    box, neuron = Node(number_label("1"), "box"), Node(name_label("a"))
    tikz = layered_tikz([[box], [neuron]], [Edge((0, 0), (1, 0), above=name_label("w"))])
    tikz = re.sub(r"pos=[\d.]+", f"pos={_tikz_pos((0, 0), (4, 0), 0.2, box, neuron):.4f}", tikz)
    words = {w: ((x0 + x1) / 2) * 2.54 / 72 for x0, _y0, x1, _y1, w in figure_words(tikz, tmp_path)}
    assert abs(words["a"] - words["1"] - 4.0) < 0.02
    assert abs(words["w"] - words["1"] - 0.8) < 0.03


def _edge_labelled(figure) -> bool:
    return figure is not None and r"\draw" in figure.tikz() and "node[" in figure.tikz().split(r"\draw", 1)[1]


@pytest.mark.parametrize("spec", sorted(UNLABELLED))
def test_the_specs_left_out_of_the_clearance_test_have_no_edge_labels(spec):
    result = derive_spec(ROOT / "specs" / f"{spec}.yaml")
    assert not _edge_labelled(result.entry.figure_of(result.outcome, "en"))


@pytest.mark.parametrize("spec", ["conv2d", "layernorm"])
def test_grid_cells_are_wider_than_their_labels(spec, tmp_path):
    """A kernel's w_{1,1,0,2} stays inside its cell and inside the red outline drawn 0.06 cm within it
    (very thick: 0.08 cm in all), with 0.02 cm to spare on each side."""
    require_latex()
    result = derive_spec(ROOT / "specs" / f"{spec}.yaml")
    tikz = result.entry.figure_of(result.outcome, "en").tikz()
    cramped = [(label, round(width, 3), side) for label, width, side in cell_room(tikz, tmp_path)
               if width > side - 2 * 0.1]
    assert cramped == []


def test_course_html_has_each_chapters_figure(cli, tmp_path):
    """A course's HTML page shows every chapter's figure under its title, as its PDF does; each figure's
    phone rules (min-width) apply to that figure only."""
    import re

    import yaml

    page = tmp_path / "course.html"
    assert cli(ROOT / "specs" / "course.yaml", "--format", "html", "--lang", "pl", "-o", page).exit_code == 0
    html = page.read_text(encoding="utf-8")
    chapters = yaml.safe_load((ROOT / "specs" / "course.yaml").read_text(encoding="utf-8"))["chapters"]
    titles = []
    for chapter in chapters:
        spec = chapter["spec"] if isinstance(chapter, dict) else chapter
        result = derive_spec(ROOT / "specs" / spec)
        figure = result.entry.figure_of(result.outcome, "pl")
        assert figure is not None
        titles.append(figure.svg().split("<title>")[1].split("</title>")[0])
    figures = re.findall(r'<figure class="diagram".*?</figure>', html, re.S)
    assert len(figures) == len(chapters)
    assert [re.search(r"<title>(.*?)</title>", f)[1] for f in figures] == titles
    scopes = re.findall(r"\.scroll\.(d\d+) svg \{ min-width: (\d+)px", html)
    assert [s for s, _ in scopes] == [f"d{n}" for n in range(len(chapters))]
    assert all(f'class="scroll {scope}"' in html for scope, _ in scopes)
