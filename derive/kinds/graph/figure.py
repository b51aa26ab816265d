"""The picture of a computational graph, CS231n style: values above the edges, gradients below.

Inputs are boxes with their names; operations are circles showing their gate
(+, ×, max, exp, 1/x, …) with the node's name over them; a last box receives
the output. Above each edge, in green, the value that flows forward; below it,
in red, the gradient that flows back along it. The layout is a small layered
one: a node sits one column right of its latest argument, an input one column
left of its first user, and each column is ordered by where its users sit.
`GraphFigure(outcome)` has `svg()` (a standalone SVG document) and `tikz()` (a
tikzpicture, scaled to fit a page).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import sympy as sp

from derive.meta import N_
from derive.render.diagram import EdgeLabels, Label, name_label, place_labels, text_width
from derive.core.functions import by_class

# + and × are the graph's arithmetic; every function's gate label is its vocabulary entry's (derive.functions)
GATE_LABELS = {
    sp.Add: (r"+", "+"),
    sp.Mul: (r"\times", "×"),
}
FORWARD_COLOUR, BACKWARD_COLOUR = "#1a7f37", "#c0392b"  # CS231n: values green, gradients red
TIKZ_FORWARD, TIKZ_BACKWARD = "green!50!black", "red!75!black"
LABEL_AT = 0.42  # where edge labels go when nothing is in their way: a little before the middle
LEGEND = N_("Above each edge, in green: the value that flows forward; below it, in red: the gradient that flows back.")


def gate_label(expr: sp.Expr, name: str) -> Label:
    """The gate of a node, by the class of its expression: −s is '×(−1)', 1/d is '1/x'; else its name."""
    if expr.is_Mul and len(expr.args) == 2 and expr.args[0] == -1:
        return Label(r"\times(-1)", "×(−1)")
    if expr.is_Pow and expr.exp == -1:
        return Label(r"1/x", "1/x")
    if expr.is_Pow and expr.exp.is_Integer:
        return Label(rf"x^{{{int(expr.exp)}}}", f"x^{int(expr.exp)}")
    if type(expr) in GATE_LABELS:
        return Label(*GATE_LABELS[type(expr)])
    function = by_class(type(expr))
    if function is not None and function.gate:
        return Label(*function.gate)
    return name_label(name)


def number_label(value: sp.Expr | None, lang: str = "en", digits: int = 4) -> Label | None:
    """A number in lang's format to `digits` significant digits; text with a real minus sign."""
    if value is None:
        return None
    from derive.render.numbers import format_number

    return Label(format_number(value, lang, digits, tex=True), format_number(value, lang, digits).replace("-", "−"))


@dataclass
class Box:
    key: str
    label: Label
    circle: bool
    name: Label | None = None  # drawn over a circle
    column: int = 0
    row: float = 0.0


@dataclass
class Arrow:
    source: str
    target: str
    above: Label | None
    below: Label | None


@dataclass
class GraphFigure:
    """Boxes and arrows of one graph (see the module docstring)."""

    outcome: object
    lang: str = "en"  # the numbers on the edges are written as this language writes them
    boxes: dict[str, Box] = field(default_factory=dict)
    arrows: list[Arrow] = field(default_factory=list)

    def __post_init__(self):
        if self.outcome.indexed:
            self._build_index(self.outcome.result)
        else:
            self._build_scalar(self.outcome.result)
        _layout(self.boxes, self.arrows)

    # -- content ------------------------------------------------------------------
    def _add(self, key, label, circle, name=None):
        self.boxes[key] = Box(key, label, circle, name)

    def _number(self, value):
        return number_label(value, self.lang, self.outcome.spec.digits)

    def _build_scalar(self, bp) -> None:
        values = bp.values
        for x in bp.inputs:
            self._add(x.name, name_label(x.name), False)
        for n in bp.nodes:
            self._add(n.symbol.name, gate_label(n.expr, n.symbol.name), True, name_label(n.symbol.name))
        self._add("<out>", name_label(bp.of.name), False)
        for n in bp.nodes:
            for loc in n.locals:
                above = self._number(values[loc.arg]) if values else None
                below = self._number(_flow(bp, loc)) if values else None
                self.arrows.append(Arrow(loc.arg.name, n.symbol.name, above, below))
        self.arrows.append(Arrow(bp.of.name, "<out>", self._number(values[bp.of]) if values else None,
                                 self._number(sp.S.One) if values else None))

    def _build_index(self, d) -> None:
        for x in d.inputs:
            self._add(x, name_label(x), False)
        for spec_node, n in zip(d.spec.nodes, d.nodes):
            self._add(n.quantity.name, gate_label(spec_node.expr, n.quantity.name), True, name_label(n.quantity.name))
        self._add("<out>", name_label(d.spec.output), False)
        for n in d.nodes:
            self.arrows += [Arrow(a, n.quantity.name, None, None) for a in n.args]
        self.arrows.append(Arrow(d.spec.output, "<out>", None, None))

    # -- drawings -----------------------------------------------------------------
    @property
    def legend(self) -> str | None:
        """The msgid of the sentence under the figure that says what the colours mean."""
        return LEGEND if any(a.above or a.below for a in self.arrows) else None

    def svg(self) -> str:
        return _svg(self.boxes, self.arrows, self.outcome.spec.output)

    def tikz(self) -> str:
        return _tikz(self.boxes, self.arrows)


def _flow(bp, loc) -> sp.Expr:
    """The gradient flowing back along the edge arg → node: upstream value × local value."""
    return sp.sympify(bp.grads[loc.node].value * loc.expr.xreplace(bp.values))


# -- layout -------------------------------------------------------------------------


def _layout(boxes: dict[str, Box], arrows: list[Arrow]) -> None:
    args = {k: [a.source for a in arrows if a.target == k] for k in boxes}
    users = {k: [a.target for a in arrows if a.source == k] for k in boxes}
    for key, box in boxes.items():  # boxes are in computation order: arguments come first
        if args[key]:
            box.column = 1 + max(boxes[a].column for a in args[key])
    for key, box in boxes.items():
        if not args[key] and users[key]:
            box.column = min(boxes[u].column for u in users[key]) - 1
    columns = max(b.column for b in boxes.values()) + 1
    for c in reversed(range(columns)):
        members = [b for b in boxes.values() if b.column == c]
        members.sort(key=lambda b: sum(boxes[u].row for u in users[b.key]) / len(users[b.key]) if users[b.key] else 0)
        for k, b in enumerate(members):
            b.row = k - (len(members) - 1) / 2


def _label_places(boxes: dict[str, Box], arrows: list[Arrow]) -> list[float]:
    """Where along each arrow its numbers go, clear of other arrows, numbers and nodes (in TikZ cm)."""
    at = lambda b: (b.column * TIKZ_DX, b.row * TIKZ_DY)  # noqa: E731
    size = lambda lab: (text_width(lab, 0.2), 0.4) if lab else None  # noqa: E731 (\small)
    edges = [EdgeLabels(at(boxes[a.source]), at(boxes[a.target]), size(a.above), size(a.below)) for a in arrows]
    obstacles = []
    for b in boxes.values():
        x, y = at(b)
        obstacles.append((x - 0.48, y - 0.48, x + 0.48, y + 0.48))
        if b.circle and b.name:  # the node's name above its circle
            obstacles.append((x - 0.3, y - 0.95, x + 0.3, y - 0.48))
    return [t for t, _flip in place_labels(edges, obstacles, prefer=LABEL_AT)]


# -- SVG ------------------------------------------------------------------------------

DX, DY, R, MARGIN = 150, 95, 22, 40
FONT = 'font-family="CMU Serif, Latin Modern Roman, Times New Roman, serif"'


def _svg_label(label: Label, x: float, y: float, size: int, colour: str = "black", italic: bool = True) -> str:
    style = ' font-style="italic"' if italic and label.text.isalpha() and len(label.text) <= 2 else ""
    sub = (f'<tspan font-style="normal" font-size="{size * 0.7:.0f}" dy="{size * 0.3:.0f}">{escape(label.sub)}</tspan>'
           if label.sub else "")
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{colour}"{style} text-anchor="middle">'
            f"{escape(label.text + label.sup)}{sub}</text>")


def _svg(boxes: dict[str, Box], arrows: list[Arrow], title: str) -> str:
    rows = [b.row for b in boxes.values()]
    top, bottom = min(rows), max(rows)
    columns = max(b.column for b in boxes.values())
    width, height = 2 * MARGIN + columns * DX, 2 * MARGIN + (bottom - top) * DY + 2 * R

    def at(b: Box) -> tuple[float, float]:
        return MARGIN + b.column * DX, MARGIN + R + (b.row - top) * DY

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" {FONT}>',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
           f"<title>{escape(title)}</title>"]
    for a, t in zip(arrows, _label_places(boxes, arrows)):
        (x1, y1), (x2, y2) = at(boxes[a.source]), at(boxes[a.target])
        length = math.hypot(x2 - x1, y2 - y1)
        ux, uy = (x2 - x1) / length, (y2 - y1) / length
        out.append(f'<line x1="{x1 + ux * R:.1f}" y1="{y1 + uy * R:.1f}" x2="{x2 - ux * R:.1f}" y2="{y2 - uy * R:.1f}" '
                   'stroke="#555" marker-end="url(#arrow)"/>')
        mx, my = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
        if a.above:
            out.append(_svg_label(a.above, mx, my - 7, 14, FORWARD_COLOUR, italic=False))
        if a.below:
            out.append(_svg_label(a.below, mx, my + 18, 14, BACKWARD_COLOUR, italic=False))
    for b in boxes.values():
        x, y = at(b)
        if b.circle:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{R}" fill="white" stroke="black"/>')
            out.append(_svg_label(b.label, x, y + 5, 15, italic=False))
            if b.name:
                out.append(_svg_label(b.name, x, y - R - 6, 14, "#555"))
        else:
            out.append(f'<rect x="{x - R:.1f}" y="{y - R * 0.75:.1f}" width="{2 * R}" height="{1.5 * R:.1f}" '
                       'fill="#f3f3f3" stroke="black"/>')
            out.append(_svg_label(b.label, x, y + 5, 16))
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- TikZ -----------------------------------------------------------------------------

TIKZ_DX, TIKZ_DY, TIKZ_WIDTH = 2.6, 2.1, 15.0  # cm; wider pictures are scaled down to TIKZ_WIDTH


def _tikz(boxes: dict[str, Box], arrows: list[Arrow]) -> str:
    columns = max(b.column for b in boxes.values())
    scale = min(1.0, TIKZ_WIDTH / max(TIKZ_DX * columns, 1e-9))
    names = {key: f"g{i}" for i, key in enumerate(boxes)}
    out = [rf"\begin{{tikzpicture}}[x={TIKZ_DX}cm, y=-{TIKZ_DY}cm, scale={scale:.2f}, transform shape, >=stealth,"
           r" gate/.style={circle, draw, minimum size=9mm, inner sep=1pt},"
           r" input/.style={rectangle, draw, fill=black!5, minimum size=7mm, inner sep=2pt},"
           r" value/.style={font=\small, text=" + TIKZ_FORWARD + r"},"
           r" grad/.style={font=\small, text=" + TIKZ_BACKWARD + r"}]"]
    for key, b in boxes.items():
        style = "gate" if b.circle else "input"
        name = rf", label={{[text=black!60]above:${b.name.tex}$}}" if b.circle and b.name else ""
        out.append(rf"\node[{style}{name}] ({names[key]}) at ({b.column}, {b.row:.2f}) {{${b.label.tex}$}};")
    for a, t in zip(arrows, _label_places(boxes, arrows)):
        labels = "".join(rf" node[{style}, {side}, pos={t:.2f}, sloped] {{${lab.tex}$}}"
                         for lab, style, side in ((a.above, "value", "above"), (a.below, "grad", "below")) if lab)
        out.append(rf"\draw[->] ({names[a.source]}) --{labels} ({names[a.target]});")
    out.append(r"\end{tikzpicture}")
    return "\n".join(out)
