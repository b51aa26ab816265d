"""Grid drawings: arrays as grids of cells, the same picture as SVG (beside Markdown) and as TikZ (in LaTeX).

A convolution or a normalisation is about which entries of an array are
used together, which a layered graph cannot show; a grid drawing can:

    panels: list[Panel]   from left to right; each a caption, a grid of Cells, optional row names
                          (left of the rows) and notes (lines of text under the grid)
    arrows: list[Arrow]   from one panel to the next (or back): Arrow(source, target, label, colour,
                          level) runs horizontally through the gap between them at `level`
                          (0 … 1 of the lower panel's height), its label above it (forward) or
                          below it (backward)

A `Cell` has a label and marks: `fill` ("" white, "forward" green, "padding"
grey) and `outline` ("" none, "backward" red: the cell receives a gradient),
the colours of the layered figures (values green, gradients red, as CS231n
draws them). Text is a `Text`: `tex` (text-mode LaTeX, math inside $…$) and
`runs` for SVG ((text, sub, sup) triples, written one after another).
Every size is computed from the texts (an estimate of their width), so
labels do not run into one another: gaps between panels are as wide as the
labels of the arrows through them, and a panel's slot as wide as its caption
and notes. `svg_narrow()` draws the same figure for a phone: the panels one
under another, captions and notes wrapped, each arrow a short vertical one with
its label beside it (the HTML page chooses between the two; derive.html).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import sympy as sp

from derive.render.diagram import GREEK_TEXT, SVG_COLOURS, SVG_FONT, TIKZ_COLOURS

CHAR_CM = {"cell": 0.14, "note": 0.16, "caption": 0.17}  # rough widths of a letter (\scriptsize, \footnotesize, \small)
LINE_CM = {"cell": 0.45, "note": 0.6, "caption": 0.6}
GAP_CM, MARGIN_CM = 1.0, 0.3
SVG_PX = 40  # px per cm
FILLS_TIKZ = {"": "white", "forward": "green!15", "padding": "black!8"}
FILLS_SVG = {"": "white", "forward": "#d9f2df", "padding": "#ebebeb"}
FONT_TIKZ = {"cell": r"\scriptsize", "note": r"\footnotesize", "caption": r"\small"}
FONT_SVG = {"cell": 11, "note": 12, "caption": 14}


@dataclass(frozen=True)
class Text:
    tex: str  # text-mode LaTeX
    runs: tuple = ()  # ((text, sub, sup), …) for SVG
    colour: str = ""  # "" | "forward" | "backward"

    @property
    def plain(self) -> str:
        return "".join(t + sup + sub for t, sub, sup in self.runs)

    def width(self, size: str) -> float:
        letters = sum(_letters(t) + _letters(sup, True) + _letters(sub, True) for t, sub, sup in self.runs)
        return CHAR_CM[size] * letters + 0.15

    def coloured(self, colour: str) -> Text:
        return Text(self.tex, self.runs, colour)


WIDE = set("wmWM")  # letters half as wide again as most (a kernel's w)
SCRIPT_WIDTH = {",": 0.58, ".": 0.58, "−": 1.36, "-": 1.36, "+": 1.36, "=": 1.36}  # in letters, as TeX sets them


def _letters(text: str, script: bool = False) -> float:
    """The width of text in letters of its size: measured in LuaLaTeX for CM at \\scriptsize (w_{1,1,0,2}
    is 26.8 pt): a sub- or superscript digit is 0.86 of a letter, a comma 0.58, a letter 1.1, a minus
    1.36; in the line itself w and m count 1.5."""
    if script:
        return sum(SCRIPT_WIDTH.get(c, 0.86 if c.isdigit() else 1.1) for c in text)
    return sum(1.5 if c in WIDE else 1.0 for c in text)


def words(text: str, escape_tex) -> Text:
    """Plain words (escaped for LaTeX)."""
    return Text(escape_tex(text), ((text, "", ""),))


def phrase(template: str, escape_tex, **parts: Text) -> Text:
    """A translated sentence with formulas: "Kernel %(w)s" with w = $w$ -> words and math, in order."""
    out, rest = [], template
    while "%(" in rest:
        before, _, after = rest.partition("%(")
        name, _, rest = after.partition(")s")
        if before:
            out.append(words(before, escape_tex))
        out.append(parts[name])
    if rest:
        out.append(words(rest, escape_tex))
    return joined(*out)


def joined(*parts: Text, colour: str = "") -> Text:
    return Text("".join(p.tex for p in parts), tuple(r for p in parts for r in p.runs), colour)


def math(expr: sp.Expr, tex: str) -> Text:
    """A formula: `tex` (math, printed by derive's printer) and its runs for SVG, from the expression."""
    return Text(f"${tex}$", tuple(runs_of(expr)))


def runs_of(expr: sp.Expr) -> list[tuple[str, str, str]]:
    """Plain runs of a small formula (elements, products, sums, Σ, fractions ∂L/∂y): for SVG text."""
    if isinstance(expr, sp.Indexed):
        return [(_name(expr.base.label), ",".join(_index_text(i) for i in expr.indices), "")]
    if isinstance(expr, sp.Symbol):
        return [(_name(expr), "", "")]
    if isinstance(expr, sp.Eq):
        return runs_of(expr.lhs) + [(" = ", "", "")] + runs_of(expr.rhs)
    if isinstance(expr, sp.Pow) and expr.exp == sp.S.Half:
        return [("√(", "", "")] + runs_of(expr.base) + [(")", "", "")]
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 0:
        return _grouped(expr.base) + [("", "", str(expr.exp))]
    if isinstance(expr, sp.Pow) and expr.exp.is_Number and expr.exp < 0:
        return [("1/", "", "")] + _grouped(expr.base ** -expr.exp)
    if isinstance(expr, sp.Sum):
        out = [("Σ", ",".join(str(lim[0]) for lim in reversed(expr.limits)), "")]
        return out + [(" ", "", "")] + runs_of(expr.function)
    if expr.is_Add:
        out = []
        for n, a in enumerate(sorted(sp.Add.make_args(expr), key=lambda a: a.could_extract_minus_sign())):
            negative = a.could_extract_minus_sign()
            out += ([(" − " if negative else " + ", "", "")] if n else ([("−", "", "")] if negative else []))
            out += runs_of(-a if negative else a)
        return out
    if expr.is_Mul:
        out = []
        for n, a in enumerate(expr.args):
            out += ([(" ", "", "")] if n else []) + (runs_of(a) if not a.is_Add else [("(", "", "")] + runs_of(a) + [(")", "", "")])
        return out
    return [(str(expr), "", "")]


def _grouped(expr: sp.Expr) -> list[tuple[str, str, str]]:
    simple = isinstance(expr, (sp.Indexed, sp.Symbol, sp.Number))
    return runs_of(expr) if simple else [("(", "", "")] + runs_of(expr) + [(")", "", "")]


def _name(label) -> str:
    if isinstance(getattr(label, "plain", None), str):  # a name that prints as textbook notation (σ², x̂)
        return label.plain
    name = getattr(label, "name", str(label))
    return GREEK_TEXT.get(name, name)


def _index_text(index: sp.Expr) -> str:
    return str(index).replace(" ", "").replace("-", "−")


@dataclass(frozen=True)
class Cell:
    label: Text
    fill: str = ""  # "" | "forward" | "padding"
    outline: str = ""  # "" | "backward"


@dataclass
class Panel:
    caption: Text
    cells: list[list[Cell]]
    row_names: list[Text] = field(default_factory=list)
    notes: list[Text] = field(default_factory=list)
    window: tuple | None = None  # (row0, col0, rows, cols): a dashed frame (where the kernel slides next)

    @property
    def rows(self) -> int:
        return len(self.cells)

    @property
    def cols(self) -> int:
        return max(len(r) for r in self.cells)


@dataclass(frozen=True)
class Arrow:
    source: int  # panel index
    target: int
    label: Text
    colour: str  # "forward" (label above) | "backward" (label below)
    level: float = 0.5  # height in the lower of the two panels (0 top, 1 bottom)


@dataclass
class GridFigure:
    """A kind's figure made of grids (the `figure(outcome, lang)` hook): `svg()`, `tikz()`, `legend`."""

    panels: list[Panel]
    arrows: list[Arrow] = field(default_factory=list)
    legend: str | None = None  # the msgid of the sentence under the figure that says what the colours mean
    title: str = ""

    def svg(self) -> str:
        return _svg(_layout(self), self.title)

    def svg_narrow(self) -> str:
        """The same figure for a narrow screen (a phone): the panels one under another, at the same
        font sizes, each arrow a short vertical one with its label beside it."""
        return _svg(_stacked(self), self.title, ids="narrow-", zoom=NARROW_ZOOM)

    def tikz(self) -> str:
        return _tikz(_layout(self))


# -- layout (in cm, y downwards) ------------------------------------------------------------------


@dataclass
class _Placed:
    panel: Panel
    x0: float  # the grid's left edge
    y0: float  # the grid's top edge
    cell: float  # a cell's side
    names: float  # width of the row names left of the grid
    slot: float  # width of the panel with its names, caption and notes
    above: list = field(default_factory=list)  # lines of a long caption before its last one (a narrow drawing)

    @property
    def x1(self) -> float:
        return self.x0 + self.panel.cols * self.cell

    @property
    def y1(self) -> float:
        return self.y0 + self.panel.rows * self.cell


def _cell_side(figure: GridFigure) -> float:
    widest = max(c.label.width("cell") for p in figure.panels for r in p.cells for c in r)
    return max(0.8, widest + 0.15)


def _layout(figure: GridFigure) -> tuple[list[_Placed], GridFigure, float, float]:
    side = _cell_side(figure)
    top = MARGIN_CM + LINE_CM["caption"] + 0.15
    placed, x = [], MARGIN_CM
    for n, p in enumerate(figure.panels):
        names = max((t.width("note") for t in p.row_names), default=0.0)
        names = names + 0.15 if names else 0.0
        grid = p.cols * side
        slot = max(names + grid, p.caption.width("caption"), max((t.width("note") for t in p.notes), default=0.0))
        placed.append(_Placed(p, x + names, top, side, names, slot))
        gap = max([GAP_CM] + [a.label.width("note") + 0.6 for a in figure.arrows if {a.source, a.target} == {n, n + 1}])
        x += slot + gap
    width = max(q.x0 - q.names + q.slot for q in placed)
    height = max(q.y1 + 0.2 + LINE_CM["note"] * len(q.panel.notes) for q in placed) + MARGIN_CM
    return placed, figure, width + MARGIN_CM, height


NARROW_CM = 7.7  # the width of the stacked drawing: 388 px at NARROW_ZOOM (a 420 px screen less the page's margins)
NARROW_ZOOM = 1.25  # the stacked drawing is shown this much larger (a phone's screen is held closer, its subscripts stay legible)
ARROW_ROW_CM = 0.75  # the height of one arrow of the stacked layout, its label beside it


def _stacked(figure: GridFigure) -> tuple[list[_Placed], GridFigure, float, float, list]:
    """The panels one under another (for a narrow screen), captions and notes wrapped to NARROW_CM;
    between two panels, their arrows one per row: (arrow, x, y from, y to) with the arrow pointing
    down (forward) or up (backward)."""
    side = _cell_side(figure)
    limit = NARROW_CM - 2 * MARGIN_CM
    placed, arrows, y = [], [], MARGIN_CM
    for n, p in enumerate(figure.panels):
        captions = wrapped(p.caption, "caption", limit)
        p = Panel(captions[-1], p.cells, p.row_names, [line for t in p.notes for line in wrapped(t, "note", limit)],
                  p.window)
        names = max((t.width("note") for t in p.row_names), default=0.0)
        names = names + 0.15 if names else 0.0
        slot = max([names + p.cols * side] + [t.width("caption") for t in captions] + [t.width("note") for t in p.notes])
        top = y + LINE_CM["caption"] * len(captions) + 0.15
        q = _Placed(p, MARGIN_CM + names, top, side, names, slot, captions[:-1])
        placed.append(q)
        y = q.y1 + 0.2 + LINE_CM["note"] * len(p.notes) + 0.15
        between = [a for a in figure.arrows if {a.source, a.target} == {n, n + 1}]
        for a in sorted(between, key=lambda a: a.colour != "forward"):
            top, bottom = y + 0.1, y + ARROW_ROW_CM - 0.1
            arrows.append((a, MARGIN_CM + 0.3, top if a.source < a.target else bottom,
                           bottom if a.source < a.target else top))
            y += ARROW_ROW_CM
        y += 0.25 if between else GAP_CM / 2
    labels = [MARGIN_CM + 0.6 + a.label.width("note") for a, *_ in arrows]
    width = max([q.x0 - q.names + q.slot for q in placed] + labels)
    return placed, figure, width + MARGIN_CM, y - 0.25 + MARGIN_CM, arrows


def wrapped(text: Text, size: str, limit: float) -> list[Text]:
    """The text as lines no wider than limit cm (estimated), broken at spaces only; an index stays
    with its letter."""
    words: list[list] = [[]]
    for body, sub, sup in text.runs:
        parts = body.split(" ")
        for k, part in enumerate(parts):
            if k:
                words.append([])
            last = k == len(parts) - 1
            if part or (last and (sub or sup)):
                words[-1].append((part, sub if last else "", sup if last else ""))
    lines: list[list] = []
    for word in (w for w in words if w):
        longer = [*lines[-1], (" ", "", ""), *word] if lines else word
        if lines and Text("", tuple(longer)).width(size) <= limit:
            lines[-1] = longer
        else:
            lines.append(list(word))
    return [Text(text.tex, tuple(line), text.colour) for line in lines] or [text]


def _arrow_geometry(placed: list[_Placed], a: Arrow) -> tuple[float, float, float]:
    """(x from, x to, y) of an arrow through the gap between two neighbouring panels."""
    s, t = placed[a.source], placed[a.target]
    low = min((s, t), key=lambda q: q.y1 - q.y0)
    y = low.y0 + a.level * (low.y1 - low.y0)
    left, right = (s, t) if a.source < a.target else (t, s)
    x_from, x_to = left.x1 + 0.1, right.x0 - right.names - 0.1
    return (x_from, x_to, y) if a.source < a.target else (x_to, x_from, y)


# -- TikZ -------------------------------------------------------------------------------------------


def _tikz(layout) -> str:
    placed, figure, _w, _h = layout
    out = [r"\begin{tikzpicture}[x=1cm, y=-1cm, >=stealth]"]
    for q in placed:
        p, side = q.panel, q.cell
        out.append(rf"\node[anchor=south west, inner sep=0pt, font={FONT_TIKZ['caption']}] at ({q.x0 - q.names:.2f}, "
                   rf"{q.y0 - 0.15:.2f}) {{{p.caption.tex}}};")
        for r, row in enumerate(p.cells):
            for c, cell in enumerate(row):
                x0, y0 = q.x0 + c * side, q.y0 + r * side
                out.append(rf"\draw[fill={FILLS_TIKZ[cell.fill]}] ({x0:.2f}, {y0:.2f}) rectangle ({x0 + side:.2f}, {y0 + side:.2f});")
                if cell.outline:
                    out.append(rf"\draw[{TIKZ_COLOURS[cell.outline]}, very thick] ({x0 + 0.06:.2f}, {y0 + 0.06:.2f}) "
                               rf"rectangle ({x0 + side - 0.06:.2f}, {y0 + side - 0.06:.2f});")
                out.append(rf"\node[font={FONT_TIKZ['cell']}{_text_colour(cell.label)}] at ({x0 + side / 2:.2f}, "
                           rf"{y0 + side / 2:.2f}) {{{cell.label.tex}}};")
        if p.window:
            r0, c0, rows, cols = p.window
            out.append(rf"\draw[dashed, thick, black!60] ({q.x0 + c0 * side + 0.03:.2f}, {q.y0 + r0 * side + 0.03:.2f}) "
                       rf"rectangle ({q.x0 + (c0 + cols) * side - 0.03:.2f}, {q.y0 + (r0 + rows) * side - 0.03:.2f});")
        for r, name in enumerate(p.row_names):
            out.append(rf"\node[anchor=east, font={FONT_TIKZ['note']}{_text_colour(name)}] at ({q.x0 - 0.1:.2f}, "
                       rf"{q.y0 + (r + 0.5) * side:.2f}) {{{name.tex}}};")
        for n, note in enumerate(p.notes):
            out.append(rf"\node[anchor=north west, inner sep=0pt, font={FONT_TIKZ['note']}{_text_colour(note)}] at "
                       rf"({q.x0 - q.names:.2f}, {q.y1 + 0.2 + n * LINE_CM['note']:.2f}) {{{note.tex}}};")
    for a in figure.arrows:
        x_from, x_to, y = _arrow_geometry(placed, a)
        side = "above" if a.colour == "forward" else "below"
        colour = TIKZ_COLOURS[a.colour]
        out.append(rf"\draw[->, thick, {colour}] ({x_from:.2f}, {y:.2f}) -- node[{side}, font={FONT_TIKZ['note']}, "
                   rf"text={colour}] {{{a.label.tex}}} ({x_to:.2f}, {y:.2f});")
    out.append(r"\end{tikzpicture}")
    return "\n".join(out)


def _text_colour(text: Text) -> str:
    return f", text={TIKZ_COLOURS[text.colour]}" if text.colour else ""


# -- SVG --------------------------------------------------------------------------------------------


def _svg_text(text: Text, x: float, y: float, size: str, anchor: str = "middle") -> str:
    px = FONT_SVG[size]
    fill = f' fill="{SVG_COLOURS[text.colour]}"' if text.colour else ""
    parts, back = [], 0.0  # back: the shift that returns to the baseline after a sub- or superscript
    for body, sub, sup in text.runs:
        if body:
            parts.append(f'<tspan dy="{back:.0f}">{escape(body)}</tspan>' if back else escape(body))
            back = 0.0
        for script, dy in ((sup, -px * 0.4), (sub, px * 0.3)):
            if script:
                parts.append(f'<tspan font-size="{px * 0.7:.0f}" dy="{dy + back:.0f}">{escape(script)}</tspan>')
                back = -dy
    return (f'<text x="{x * SVG_PX:.1f}" y="{y * SVG_PX:.1f}" font-size="{px}" text-anchor="{anchor}"{fill}>'
            + "".join(parts) + "</text>")


def _svg_stacked_arrows(arrows, ids: str) -> list[str]:
    out = []
    for a, x, y_from, y_to in arrows:
        out.append(f'<line x1="{x * SVG_PX:.1f}" y1="{y_from * SVG_PX:.1f}" x2="{x * SVG_PX:.1f}" y2="{y_to * SVG_PX:.1f}" '
                   f'stroke="{SVG_COLOURS[a.colour]}" stroke-width="2" marker-end="url(#{ids}arrow-{a.colour})"/>')
        out.append(_svg_text(a.label.coloured(a.colour), x + 0.3, (y_from + y_to) / 2 + 0.12, "note", "start"))
    return out


def _svg(layout, title: str, ids: str = "", zoom: float = 1.0) -> str:
    """The SVG document; `ids` prefixes its element ids (two drawings of one figure share a page); `zoom`
    is how much larger than its drawing units the document asks to be shown."""
    placed, figure, width, height, *stacked = layout
    view_w, view_h = round(width * SVG_PX), round(height * SVG_PX)  # the size asked for is the view's, zoomed
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{view_w * zoom:.0f}" height="{view_h * zoom:.0f}" '
           f'viewBox="0 0 {view_w} {view_h}" {SVG_FONT}>']
    for colour in ("forward", "backward"):
        out.append(f'<defs><marker id="{ids}arrow-{colour}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
                   f'markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="{SVG_COLOURS[colour]}"/>'
                   "</marker></defs>")
    if title:
        out.append(f"<title>{escape(title)}</title>")
    for q in placed:
        p, side = q.panel, q.cell
        for k, line in enumerate([*q.above, p.caption]):
            out.append(_svg_text(line, q.x0 - q.names, q.y0 - 0.2 - LINE_CM["caption"] * (len(q.above) - k), "caption", "start"))
        for r, row in enumerate(p.cells):
            for c, cell in enumerate(row):
                x0, y0 = q.x0 + c * side, q.y0 + r * side
                out.append(f'<rect x="{x0 * SVG_PX:.1f}" y="{y0 * SVG_PX:.1f}" width="{side * SVG_PX:.1f}" '
                           f'height="{side * SVG_PX:.1f}" fill="{FILLS_SVG[cell.fill]}" stroke="black"/>')
                if cell.outline:
                    out.append(f'<rect x="{(x0 + 0.06) * SVG_PX:.1f}" y="{(y0 + 0.06) * SVG_PX:.1f}" '
                               f'width="{(side - 0.12) * SVG_PX:.1f}" height="{(side - 0.12) * SVG_PX:.1f}" fill="none" '
                               f'stroke="{SVG_COLOURS[cell.outline]}" stroke-width="2.5"/>')
                out.append(_svg_text(cell.label, x0 + side / 2, y0 + side / 2 + 0.12, "cell"))
        if p.window:
            r0, c0, rows, cols = p.window
            out.append(f'<rect x="{(q.x0 + c0 * side + 0.03) * SVG_PX:.1f}" y="{(q.y0 + r0 * side + 0.03) * SVG_PX:.1f}" '
                       f'width="{(cols * side - 0.06) * SVG_PX:.1f}" height="{(rows * side - 0.06) * SVG_PX:.1f}" '
                       'fill="none" stroke="#777" stroke-width="2" stroke-dasharray="6 4"/>')
        for r, name in enumerate(p.row_names):
            out.append(_svg_text(name, q.x0 - 0.1, q.y0 + (r + 0.5) * side + 0.12, "note", "end"))
        for n, note in enumerate(p.notes):
            out.append(_svg_text(note, q.x0 - q.names, q.y1 + 0.55 + n * LINE_CM["note"], "note", "start"))
    if stacked:
        out += _svg_stacked_arrows(stacked[0], ids)
    for a in figure.arrows if not stacked else ():
        x_from, x_to, y = _arrow_geometry(placed, a)
        colour = SVG_COLOURS[a.colour]
        out.append(f'<line x1="{x_from * SVG_PX:.1f}" y1="{y * SVG_PX:.1f}" x2="{x_to * SVG_PX:.1f}" y2="{y * SVG_PX:.1f}" '
                   f'stroke="{colour}" stroke-width="2" marker-end="url(#{ids}arrow-{a.colour})"/>')
        dy = -0.25 if a.colour == "forward" else 0.45
        out.append(_svg_text(a.label.coloured(a.colour), (x_from + x_to) / 2, y + dy, "note"))
    out.append("</svg>")
    return "\n".join(out) + "\n"
