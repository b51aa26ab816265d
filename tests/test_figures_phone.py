"""Figures in the HTML page as a reader sees them, in a real browser (headless Chromium, Selenium).

At a phone's width (420 px) the page needs no sideways scrolling, every label of
the figure is drawn at 11 px or more (its font size times the scale the browser
draws the SVG at), no label's box overlaps another's (getBoundingClientRect),
and every label lies inside the picture. At a desktop's width the wide drawing
is the one shown. A residual network's skip arcs pass under no label.
Screenshots go to the test's tmp folder and to $DERIVE_SCREENSHOTS when set.
"""

from __future__ import annotations

import re

import pytest

from conftest import ROOT
from derive.render.html import NARROWEST
from test_web_browser import _shot, browser  # noqa: F401 (the fixture: Chromium, or a failure when CI=true)

SPECS = ROOT / "specs"
PHONE, DESKTOP = 420, 1280
SMALLEST_PX = 11

# Every label of the shown figure: its text, effective font size (its font size times the scale the
# browser draws it at) and box; the pairs whose boxes overlap by more than a pixel. A label turned
# along an edge is compared as the turned rectangle it is (its getBBox through its screen matrix).
MEASURE = """
const svg = [...document.querySelectorAll('figure.diagram svg')].find(s => s.getBoundingClientRect().width > 0);
const frame = svg.getBoundingClientRect();
const labels = [...svg.querySelectorAll('text')].map(t => {
  const b = t.getBBox(), m = t.getScreenCTM(), r = t.getBoundingClientRect();
  const quad = [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height], [b.x, b.y + b.height]]
    .map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);
  return {text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b),
          box: [r.left, r.top, r.right, r.bottom], quad};
});
function apart(p, q) {  // a separating axis with a gap, or an overlap of at most a pixel
  for (const poly of [p, q]) for (let i = 0; i < 4; i++) {
    const [x1, y1] = poly[i], [x2, y2] = poly[(i + 1) % 4], len = Math.hypot(x2 - x1, y2 - y1) || 1;
    const n = [(y1 - y2) / len, (x2 - x1) / len];
    const on = poly => poly.map(([x, y]) => x * n[0] + y * n[1]);
    const a = on(p), b = on(q);
    if (Math.min(Math.max(...a), Math.max(...b)) - Math.max(Math.min(...a), Math.min(...b)) <= 1) return true;
  }
  return false;
}
const overlaps = [];
labels.forEach((p, i) => labels.slice(i + 1).forEach(q => { if (!apart(p.quad, q.quad)) overlaps.push([p.text, q.text]); }));
return {inner: window.innerWidth, scroll: document.documentElement.scrollWidth,
        frame: [frame.left, frame.top, frame.right, frame.bottom], labels, overlaps,
        narrow: svg.closest('.narrow') !== null};
"""

# Points along each skip arc (every 2 px) that fall inside a label's box.
ARCS_UNDER_LABELS = """
const svg = document.querySelector('figure.diagram svg');
const boxes = [...svg.querySelectorAll('text')].map(t => t.getBoundingClientRect());
const hits = [];
svg.querySelectorAll('path.skip').forEach(path => {
  const m = path.getScreenCTM(), length = path.getTotalLength();
  for (let s = 0; s <= length; s += 2) {
    const p = path.getPointAtLength(s), x = m.a * p.x + m.c * p.y + m.e, y = m.b * p.x + m.d * p.y + m.f;
    boxes.forEach((b, k) => { if (x > b.left && x < b.right && y > b.top && y < b.bottom)
      hits.push([path.dataset.source, path.dataset.target, svg.querySelectorAll('text')[k].textContent]); });
  }
});
return {arcs: svg.querySelectorAll('path.skip').length, hits};
"""


def _open(driver, path, width: int) -> None:
    driver.set_window_size(width, 900)
    driver.get(path.as_uri())
    inner = driver.execute_script("return window.innerWidth")
    if inner != width:  # the window's frame, if any, is not the page's
        driver.set_window_size(2 * width - inner, 900)


def _page(cli, tmp_path, spec: str, lang: str):
    out = tmp_path / f"{spec}-{lang}.html"
    assert cli(SPECS / f"{spec}.yaml", "--format", "html", "--lang", lang, "-o", out).exit_code == 0
    return out


@pytest.mark.parametrize("lang", ["ru", "en", "pl"])
@pytest.mark.parametrize("spec", ["conv2d", "layernorm"])
def test_grid_figure_is_readable_on_a_phone(browser, cli, tmp_path, spec, lang):  # noqa: F811
    _open(browser, _page(cli, tmp_path, spec, lang), PHONE)
    seen = browser.execute_script(MEASURE)
    _shot(browser, tmp_path, f"figure-{spec}-{lang}-phone")
    assert seen["inner"] == PHONE
    assert seen["scroll"] <= seen["inner"], "the page scrolls sideways"
    assert seen["narrow"], "the stacked drawing is the one shown on a phone"
    assert len(seen["labels"]) >= 20
    small = [(lab["text"], round(lab["px"], 1)) for lab in seen["labels"] if lab["px"] < SMALLEST_PX]
    assert small == []
    assert seen["overlaps"] == []
    assert _outside(seen) == []
    assert seen["frame"][2] <= seen["inner"]


def _outside(seen) -> list[str]:
    """The labels that stick out of the picture."""
    left, top, right, bottom = seen["frame"]
    return [lab["text"] for lab in seen["labels"]
            if lab["box"][0] < left - 1 or lab["box"][2] > right + 1 or lab["box"][1] < top - 1 or lab["box"][3] > bottom + 1]


GRIDS = {"conv2d", "layernorm"}  # tested above, in three languages
WITHOUT_FIGURE = {"course", "deep-composition", "mlp-backprop"}
FIGURED = sorted(p.stem for p in SPECS.glob("*.yaml") if p.stem not in GRIDS | WITHOUT_FIGURE)


@pytest.mark.parametrize("spec", sorted(WITHOUT_FIGURE))
def test_the_specs_left_out_draw_no_figure(spec):
    from derive.pipeline import derive_spec

    result = derive_spec(SPECS / f"{spec}.yaml")
    assert getattr(result, "entry", None) is None or result.entry.figure_of(result.outcome, "en") is None


@pytest.mark.parametrize("spec", FIGURED)
def test_every_figure_is_readable_on_a_phone(browser, cli, tmp_path, spec):  # noqa: F811
    """The other figures (networks, graphs, layers): the page never scrolls sideways; the drawing
    shrinks only as far as its labels stay 11 px and otherwise scrolls inside its own frame."""
    _open(browser, _page(cli, tmp_path, spec, "en"), PHONE)
    seen = browser.execute_script(MEASURE)
    _shot(browser, tmp_path, f"figure-{spec}-phone")
    assert seen["scroll"] <= seen["inner"], "the page scrolls sideways"
    small = [(lab["text"], round(lab["px"], 1)) for lab in seen["labels"] if lab["px"] < SMALLEST_PX]
    assert small == []
    assert seen["overlaps"] == []


@pytest.mark.parametrize("spec", ["conv2d", "layernorm"])
def test_grid_figure_on_a_desktop_is_the_wide_drawing(browser, cli, tmp_path, spec):  # noqa: F811
    _open(browser, _page(cli, tmp_path, spec, "en"), DESKTOP)
    seen = browser.execute_script(MEASURE)
    _shot(browser, tmp_path, f"figure-{spec}-desktop")
    assert not seen["narrow"]
    assert seen["overlaps"] == []
    # the wide drawing is shown only while it keeps NARROWEST of its size: its 11 px labels stay ≥ 8.8 px
    assert min(lab["px"] for lab in seen["labels"]) >= SMALLEST_PX * NARROWEST


def test_residual_skip_arcs_pass_under_no_label(browser, cli, tmp_path):  # noqa: F811
    _open(browser, _page(cli, tmp_path, "residual-mlp", "en"), DESKTOP)
    found = browser.execute_script(ARCS_UNDER_LABELS)
    _shot(browser, tmp_path, "figure-residual-desktop")
    assert found["arcs"] == 4
    assert found["hits"] == []


WORKED_VALUES = """
values: {x_1: 0.5, x_2: -0.3, t: 0.2, W_11: 0.1, W_12: 0.2, W_21: -0.3, W_22: 0.4, b_1: 0.1, b_2: -0.1,
         V_11: 0.3, V_12: -0.2, V_21: 0.25, V_22: 0.1, c_1: 0.05, c_2: 0.0, U_1: 0.6, U_2: -0.4, beta: 0.1}
learning_rate: 0.5
"""


def test_worked_residual_figure_numbers_and_arcs_stay_apart(browser, cli, tmp_path):  # noqa: F811
    """With a worked example's numbers (a value under each unit, two numbers on each edge) the arcs
    still pass under no number and no two labels overlap."""
    spec = tmp_path / "worked-residual.yaml"
    spec.write_text((SPECS / "residual-mlp.yaml").read_text(encoding="utf-8") + WORKED_VALUES, encoding="utf-8")
    page = tmp_path / "worked-residual.html"
    assert cli(spec, "--format", "html", "--lang", "ru", "-o", page).exit_code == 0
    _open(browser, page, DESKTOP)
    found, seen = browser.execute_script(ARCS_UNDER_LABELS), browser.execute_script(MEASURE)
    _shot(browser, tmp_path, "figure-worked-residual-desktop")
    assert found["arcs"] == 4 and found["hits"] == []
    assert any(lab["text"] == "0,59" for lab in seen["labels"])  # h_1 = ReLU(0,09) + 0,5, under its unit
    assert seen["overlaps"] == []


def test_the_largest_conv2d_figure_scrolls_in_its_frame_on_a_phone(browser, cli, tmp_path):  # noqa: F811
    """A 6×6 input padded by 2 (ten cells a row) is wider than a phone even stacked: the drawing keeps
    its labels at 11 px and scrolls inside its frame; the page does not."""
    spec = tmp_path / "conv-large.yaml"
    text = (SPECS / "conv2d.yaml").read_text(encoding="utf-8")
    for key, value in (("size", 6), ("padding", 2), ("channels", 2), ("filters", 2)):
        text = re.sub(rf"^{key}: \d+$", f"{key}: {value}", text, flags=re.M)
    spec.write_text(text, encoding="utf-8")
    page = tmp_path / "conv-large.html"
    assert cli(spec, "--format", "html", "--lang", "pl", "-o", page).exit_code == 0
    _open(browser, page, PHONE)
    seen = browser.execute_script(MEASURE)
    _shot(browser, tmp_path, "figure-conv-large-phone")
    assert seen["narrow"] and seen["scroll"] <= seen["inner"]
    assert len(seen["labels"]) > 150  # 10 × 10 padded cells among them
    assert min(lab["px"] for lab in seen["labels"]) >= SMALLEST_PX
    assert seen["overlaps"] == []


@pytest.mark.parametrize("spec", ["graph-mazur-2-2-2", "graph-cs231n-neuron"])
def test_dense_graph_figure_is_readable_on_a_phone(browser, cli, tmp_path, spec):  # noqa: F811
    """A 2-2-2 network written as a graph (five arrows into each sum) and CS231n's thirteen-node neuron:
    no two numbers overlap in the SVG either (turned rectangles), none is under 11 px, none sticks out
    of the picture, and the page does not scroll sideways."""
    out = tmp_path / f"{spec}.html"
    spec_path = ROOT / "tests" / "specs" / f"{spec}.yaml"
    assert cli(spec_path, "--format", "html", "--lang", "en", "-o", out).exit_code == 0
    _open(browser, out, PHONE)
    seen = browser.execute_script(MEASURE)
    _shot(browser, tmp_path, f"figure-{spec}-phone")
    assert seen["scroll"] <= seen["inner"], "the page scrolls sideways"
    assert len(seen["labels"]) >= 30
    assert [(lab["text"], round(lab["px"], 1)) for lab in seen["labels"] if lab["px"] < SMALLEST_PX] == []
    assert seen["overlaps"] == []
    assert _outside(seen) == []
