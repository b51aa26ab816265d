"""Figures in the HTML page as a reader sees them, in a real browser (headless Chromium, Selenium).

At a phone's width (420 px) the page needs no sideways scrolling, every label of
the figure is drawn at 11 px or more (its font size times the scale the browser
draws the SVG at), no label's box overlaps another's (getBoundingClientRect),
and every label lies inside the picture. At a desktop's width the wide drawing
is the one shown. A residual network's skip arcs pass under no label.
Screenshots go to the test's tmp folder and to $DERIVE_SCREENSHOTS when set.
"""

from __future__ import annotations

import pytest

from conftest import ROOT
from derive.render.html import NARROWEST
from test_web_browser import _shot, browser  # noqa: F401 (the fixture: Chromium, or a failure when CI=true)

SPECS = ROOT / "specs"
PHONE, DESKTOP = 420, 1280
SMALLEST_PX = 11

# Every label of the shown figure: its text, effective font size and box; boxes that overlap.
MEASURE = """
const svg = [...document.querySelectorAll('figure.diagram svg')].find(s => s.getBoundingClientRect().width > 0);
const frame = svg.getBoundingClientRect(), scale = svg.getScreenCTM().a;
const labels = [...svg.querySelectorAll('text')].map(t => {
  const b = t.getBoundingClientRect();
  return {text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * scale,
          box: [b.left, b.top, b.right, b.bottom]};
});
const overlaps = [];
labels.forEach((p, i) => labels.slice(i + 1).forEach(q => {
  const w = Math.min(p.box[2], q.box[2]) - Math.max(p.box[0], q.box[0]);
  const h = Math.min(p.box[3], q.box[3]) - Math.max(p.box[1], q.box[1]);
  if (w > 1 && h > 1) overlaps.push([p.text, q.text]);
}));
return {inner: window.innerWidth, scroll: document.documentElement.scrollWidth,
        frame: [frame.left, frame.top, frame.right, frame.bottom], labels, overlaps,
        narrow: svg.closest('.narrow') !== null, shown: document.querySelectorAll('figure.diagram svg').length};
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
    left, top, right, bottom = seen["frame"]
    outside = [lab["text"] for lab in seen["labels"]
               if lab["box"][0] < left - 1 or lab["box"][2] > right + 1 or lab["box"][1] < top - 1 or lab["box"][3] > bottom + 1]
    assert outside == []
    assert right <= seen["inner"]


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
