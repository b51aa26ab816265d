"""`--format html`: the derivation as one standalone page whose formulas render offline.

The page is the derivation's Markdown (derive.document) turned into HTML by
markdown-it (raw HTML in the Markdown is escaped, never passed through), with
every formula left as its TeX source in a `.math` element. KaTeX 0.16.47,
shipped inside the package (derive/katex/, MIT), is inlined: its script, and
its CSS with the woff2 fonts embedded as data: URIs, so the page needs no
network and no node. A few lines of script render each `.math` element when
the page opens. A Content-Security-Policy forbids every remote request. The
figure is inlined as SVG; print CSS keeps equations and the figure whole.
"""

from __future__ import annotations

import base64
import math
import re
from functools import lru_cache
from html import escape
from pathlib import Path

KATEX = Path(__file__).resolve().parents[1] / "katex"  # derive/katex (package data)
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "font-src data:; img-src data:")
_FONT_URL = re.compile(r"url\(fonts/([\w-]+)\.woff2\) format\(\"woff2\"\)")
_OTHER_FONT_URLS = re.compile(r",url\(fonts/[\w-]+\.(?:woff|ttf)\) format\(\"(?:woff|truetype)\"\)")
_XML_HEADER = re.compile(r"^\s*<\?xml[^>]*\?>\s*")

RENDER_SCRIPT = """
document.querySelectorAll(".math").forEach(function (el) {
  katex.render(el.textContent, el, {displayMode: el.classList.contains("block"), throwOnError: false});
});
"""

STYLE = """
body { font-family: "Latin Modern Roman", "CMU Serif", Georgia, serif; line-height: 1.5;
       max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #111; background: #fff; }
h1, h2, h3 { line-height: 1.25; }
.katex-display { overflow-x: auto; overflow-y: hidden; padding: 0.2rem 0; }
figure.diagram { text-align: center; margin: 1.5rem 0; }
figure.diagram svg { max-width: 100%; height: auto; }
figure.diagram .scroll { overflow-x: auto; overflow-y: hidden; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #bbb; padding: 0.2rem 0.6rem; }
code { font-size: 0.92em; }
@media print {
  body { max-width: none; margin: 0; font-size: 11pt; }
  .katex-display { overflow: visible; }
  .katex-display, figure.diagram, table { break-inside: avoid; page-break-inside: avoid; }
  h1, h2, h3 { break-after: avoid; page-break-after: avoid; }
}
"""


def page(result, lang: str, options) -> str:
    """The standalone HTML page of a derivation in lang."""
    from derive.render.document import FIGURE_SRC, figure_of, markdown

    if result.entry.documents:  # a course: each chapter's figure under its title
        figures: dict = {}
        text = result.module.markdown_document(result.outcome, lang, options, figures=figures)
        body = to_html(text, {src: responsive(fig, f"d{n}") for n, (src, fig) in enumerate(figures.items())})
        return _document(lang, _title(text, result), body)
    fig = figure_of(result, options, lang)  # its words and numbers in lang, and the legend of its colours under it
    text = markdown(result, lang, options, figure_src=FIGURE_SRC if fig else None, legend=fig.legend if fig else None)
    body = to_html(text, {FIGURE_SRC: responsive(fig)} if fig else {})
    return _document(lang, _title(text, result), body)


NARROWEST = 0.8  # the wide drawing is shown while it needs no more shrinking than this (its text ≥ 0.8 of its size)
SMALLEST_PX = 11  # no label of a figure is drawn smaller on screen
_SVG_WIDTH = re.compile(r'<svg[^>]* width="(\d+)"')
_VIEW_WIDTH = re.compile(r'<svg[^>]* viewBox="0 0 (\d+)')
_FONT_SIZES = re.compile(r'<text[^>]* font-size="(\d+(?:\.\d+)?)"')


def responsive(fig, scope: str = "d0") -> str:
    """The figure's SVG for the page, readable on a phone (its CSS applies to elements of class
    `scope` only: a course's page has a figure per chapter).

    A figure with a drawing for narrow screens (`svg_narrow`, a grid figure's panels stacked) gets
    both, and the page shows the narrow one whenever the wide one would have to shrink below
    NARROWEST of its size (and the wide one in print). A drawing shrinks with the page only as far
    as its smallest label stays SMALLEST_PX; on a narrower screen it scrolls sideways inside its
    own frame (as wide equations do), so the page itself never does."""
    wide = _XML_HEADER.sub("", fig.svg())
    narrow = getattr(fig, "svg_narrow", None)
    if narrow is None:
        return (f"<style>@media screen {{ .diagram .scroll.{scope} svg {{ min-width: {_least(wide)}px; }} }}</style>"
                f'<div class="scroll {scope}">{wide}</div>')
    narrow = _XML_HEADER.sub("", narrow())
    below = math.ceil(int(_SVG_WIDTH.search(wide).group(1)) * NARROWEST) + 2 * 16  # the body's padding, 1rem each side
    return (f"<style>@media screen and (max-width: {below}px) {{ .diagram .wide.{scope} {{ display: none; }} }}\n"
            f"@media print, (min-width: {below + 0.02}px) {{ .diagram .narrow.{scope} {{ display: none; }} }}\n"
            f"@media screen {{ .diagram .narrow.{scope} svg {{ min-width: {_least(narrow)}px; }} }}</style>"
            f'<div class="wide {scope}">{wide}</div><div class="narrow scroll {scope}">{narrow}</div>')


def _least(svg: str) -> int:
    """The narrowest width (px) at which the drawing's smallest label is still SMALLEST_PX."""
    smallest = min(float(size) for size in _FONT_SIZES.findall(svg))
    # one pixel to spare: the browser lays the drawing out in fractions of a pixel (517.6 px for 518)
    return math.ceil(int(_VIEW_WIDTH.search(svg).group(1)) * min(1.0, SMALLEST_PX / smallest)) + 1


def to_html(text: str, figures: dict[str, str], math=None) -> str:
    """Markdown -> HTML body: math kept as TeX in .math elements (or as math(tex, {"display_mode"}) gives
    it, already escaped), images named in figures inlined as SVG."""
    parser = _parser(math)
    parser.add_render_rule("image", _image_rule(figures))
    return parser.render(text)


def _parser(math=None):
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    # the same reading of the Markdown as the LaTeX route (derive.tex), with raw HTML escaped
    extra = {"renderer": math} if math else {}
    return (MarkdownIt("commonmark", {"html": False}).enable("table")
            .use(dollarmath_plugin, allow_space=True, double_inline=True, **extra))


def _image_rule(figures: dict[str, str]):
    def render(self, tokens, idx, options, env):
        token = tokens[idx]
        svg = figures.get(token.attrGet("src"))
        if svg is None:
            return self.image(tokens, idx, options, env)
        label = escape(token.content or "", quote=True)
        return f'<figure class="diagram" role="img" aria-label="{label}">{_XML_HEADER.sub("", svg)}</figure>'

    return render


def _title(text: str, result) -> str:
    m = re.search(r"^# (.+)$", text, re.M)
    if m:
        return re.sub(r"\\(.)", r"\1", m.group(1)).replace("$", "")
    return Path(result.outcome.spec.file).stem


def _document(lang: str, title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{escape(lang, quote=True)}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="derive">\n'
        f"<title>{escape(title)}</title>\n"
        f"<style>\n{katex_css()}\n</style>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n"
        f"{body}</main>\n"
        f"<script>{_safe_script(katex_js())}</script>\n<script>{RENDER_SCRIPT}</script>\n"
        "</body>\n</html>\n"
    )


def _safe_script(js: str) -> str:
    """Script text that cannot end its <script> element early."""
    return js.replace("</script", "<\\/script")


@lru_cache(maxsize=1)
def katex_js() -> str:
    return (KATEX / "katex.min.js").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def katex_css() -> str:
    """KaTeX's CSS with its woff2 fonts as data: URIs (every browser in use reads woff2; the
    woff and ttf fallbacks are dropped so that nothing is ever fetched)."""
    css = (KATEX / "katex.min.css").read_text(encoding="utf-8")
    css = _OTHER_FONT_URLS.sub("", css)
    return _FONT_URL.sub(_font_data, css)


def _font_data(m: re.Match) -> str:
    data = base64.b64encode((KATEX / "fonts" / f"{m.group(1)}.woff2").read_bytes()).decode("ascii")
    return f'url(data:font/woff2;base64,{data}) format("woff2")'
