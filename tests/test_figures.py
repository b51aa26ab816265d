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
layout computed it. Computational graphs too: every spec's, a 2-2-2 network
written as a graph (five arrows into each sum) and CS231n's thirteen-node neuron
(tests/specs/), drawn wider and scaled to the page.
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
# the least white between a label's ink and any line, node or arrow head: a reader looks at a page at about
# 150 dpi, where 2.5 pt is 5 px; closer, an anti-aliased line reads as striking the label through (mazur-2-2-2's
# W^{[2]}_{11} and attention's W^V came within 2.2 pt of a line, typeset at the lectures' 11 pt, and were read so)
CLEARANCE_PT = 2.5


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


NODE_AT = re.compile(r"\\node\[.*?\] \(n\d+-\d+\) at \(([-\d.]+), ([-\d.]+)\)")
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


# -- computational graphs (kind: graph) ------------------------------------------------------------

GRAPH_SPECS = ROOT / "tests" / "specs"  # a 2-2-2 network written as a graph; CS231n's two-input neuron


@pytest.mark.parametrize("spec, lang", [("graph-mazur-2-2-2", "en"), ("graph-mazur-2-2-2", "pl"),
                                        ("graph-cs231n-neuron", "en"), ("graph-cs231n-neuron", "ru")])
def test_dense_graph_numbers_keep_clear_of_every_line(spec, lang, tmp_path):
    """Five arrows meet at each sum of the 2-2-2 network, three of its inputs feed both sums (their
    arrows cross); CS231n's neuron is a chain of thirteen nodes, wider than the page and scaled down.
    Typeset by LuaLaTeX, every number keeps CLEARANCE_PT of white from every line, node and name."""
    require_latex()
    result = derive_spec(GRAPH_SPECS / f"{spec}.yaml")
    figure = result.entry.figure_of(result.outcome, lang)
    assert _edge_labelled(figure)
    assert label_clearance(figure.tikz(), tmp_path) >= CLEARANCE_PT


GRAPH_NODE_AT = re.compile(r"\\node\[(gate|input)(.*?)\] \((g\d+)\) at \(([-\d.]+), ([-\d.]+)\) \{\$(.*)\$\};")
GRAPH_NAME = re.compile(r"above:\$(.*)\$\}")
GRAPH_SCALE = re.compile(r"scale=([\d.]+)")


def _graph_tikz_places(tikz: str) -> dict[str, tuple[float, float]]:
    """Each node's place (cm) by its name: a gate's is written over it, an input's in it (the output's
    box is `out`)."""
    places = {}
    for style, options, _id, x, y, text in GRAPH_NODE_AT.findall(tikz):
        name = GRAPH_NAME.search(options)[1] if style == "gate" else text
        places["out" if name in places else name] = (float(x), float(y))
    return places


@pytest.mark.parametrize("spec", ["graph-mazur-2-2-2", "graph-cs231n-neuron"])
def test_a_graph_figure_fits_the_page_and_its_numbers_stay_legible(spec):
    """However wide a graph is drawn to make room, it is scaled to the page's 15.6 cm of text, and no
    further than to three quarters (its \\scriptsize numbers stay over 5 pt)."""
    result = derive_spec(GRAPH_SPECS / f"{spec}.yaml")
    tikz = result.entry.figure_of(result.outcome, "en").tikz()
    scale = float(GRAPH_SCALE.search(tikz)[1])
    xs = [x for x, _y in _graph_tikz_places(tikz).values()]
    assert (max(xs) - min(xs) + 2 * 0.45) * scale <= TEXT_WIDTH_CM + 0.05
    assert scale >= 0.72


def test_a_leaf_sits_beside_the_one_node_it_feeds():
    """w_3 and w_4 feed only z_2 and sit on its side of the shared inputs i_1, i_2, b_1 (which feed
    both sums and sit between them); a chain of gates (h_1 after z_1) runs level."""
    result = derive_spec(GRAPH_SPECS / "graph-mazur-2-2-2.yaml")
    at = _graph_tikz_places(result.entry.figure_of(result.outcome, "en").tikz())
    y = {name: at[name][1] for name in at}
    assert y["z_1"] < y["z_2"]  # TikZ coordinates here grow downwards (y=-1cm)
    shared = [y[n] for n in ("i_1", "i_2", "b_1")]
    assert max(y["w_1"], y["w_2"]) < min(shared) and min(y["w_3"], y["w_4"]) > max(shared)
    assert y["z_1"] - 1.0 < sum(shared) / 3 < y["z_2"] + 1.0


def test_graph_svg_is_the_tikz_picture_scaled():
    """The web page's SVG draws every node where the PDF's TikZ does (one layout, in cm): the distances
    between any two nodes keep one ratio."""
    import xml.etree.ElementTree as ET

    from derive.kinds.graph.figure import PX_PER_CM

    result = derive_spec(GRAPH_SPECS / "graph-mazur-2-2-2.yaml")
    figure = result.entry.figure_of(result.outcome, "en")
    cm = _graph_tikz_places(figure.tikz())
    ns = "{http://www.w3.org/2000/svg}"
    root = ET.fromstring(figure.svg())
    px = [(float(c.get("cx")), float(c.get("cy"))) for c in root.iter(f"{ns}circle")]
    px += [(float(r.get("x")) + float(r.get("width")) / 2, float(r.get("y")) + float(r.get("height")) / 2)
           for r in root.iter(f"{ns}rect") if r.get("fill") == "#f3f3f3"]
    assert len(px) == len(cm)
    tikz_points = sorted(cm.values(), key=lambda p: (round(p[0] * PX_PER_CM), p[1]))
    svg_points = sorted(px, key=lambda p: (round(p[0]), p[1]))
    origin_cm, origin_px = tikz_points[0], svg_points[0]
    for (xc, yc), (xp, yp) in zip(tikz_points, svg_points):
        assert abs((xp - origin_px[0]) - (xc - origin_cm[0]) * PX_PER_CM) < 0.2
        assert abs((yp - origin_px[1]) - (yc - origin_cm[1]) * PX_PER_CM) < 0.2


def test_cs231n_neuron_figure_shows_the_course_notes_gradients():
    """The gradients written under the inputs' arrows are CS231n's (Optimization 2, the 2-d neuron):
    dw = [-0.20, -0.39, 0.20], dx = [0.39, -0.59], and the output 0.73."""
    result = derive_spec(GRAPH_SPECS / "graph-cs231n-neuron.yaml")
    figure = result.entry.figure_of(result.outcome, "en")
    grads = {a.source: float(a.below.text.replace("−", "-")) for a in figure.arrows if a.source != "f"}
    published = {"w_0": -0.20, "w_1": -0.39, "w_2": 0.20, "x_0": 0.39, "x_1": -0.59}
    assert {k: round(grads[k], 2) for k in published} == published
    assert round(float(next(a.above.text for a in figure.arrows if a.target == "<out>")), 2) == 0.73
