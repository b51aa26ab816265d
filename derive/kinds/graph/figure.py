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
import re
from dataclasses import dataclass, field, replace
from functools import partial
from xml.sax.saxutils import escape

import sympy as sp

from derive.meta import N_
from derive.render.diagram import (EDGE_ROOM, LABEL_FONT, LABEL_ROOM, Box2, EdgeLabels, Label, Spot, _label_quads,
                                   _superscript, _svg_edge_label, label_size, name_label, place_labels, tex_text,
                                   text_width, tikz_pos, unclear)
from derive.core.functions import by_class

# + and × are the graph's arithmetic; every function's gate label is its vocabulary entry's (derive.functions)
GATE_LABELS = {
    sp.Add: (r"+", "+"),
    sp.Mul: (r"\times", "×"),
}
FORWARD_COLOUR, BACKWARD_COLOUR = "#1a7f37", "#c0392b"  # CS231n: values green, gradients red
TIKZ_FORWARD, TIKZ_BACKWARD = "green!50!black", "red!75!black"
LABEL_AT = 0.5  # where an edge's numbers go when nothing is in their way: the middle
LEGEND = N_("Above each edge, in green: the value that flows forward; below it, in red: the gradient that flows back.")


def gate_label(expr: sp.Expr, name: str) -> Label:
    """What a node computes, drawn in its circle: an elementary operation on its inputs by its symbol
    (+, ×, ×(−1), +1, exp, …; a power or reciprocal of its one input as (·)², 1/(·), so that no input's
    name stands for the input), and any other expression by its shape, the indices left out when no two
    inputs share a letter (β₀ + ω₀x is ωx+β, (f₃ − y)² is (f−y)²): a "+" gate is a sum of its inputs,
    whose local derivatives are all 1, as graph-add-mul teaches."""
    args = [a for a in expr.free_symbols]
    if args and all(isinstance(a, sp.Symbol) for a in args) and not expr.has(sp.Indexed):
        label = _operation(expr) or _shape(expr, args)
        if label is not None and len(label.text) <= SHAPE_CHARS:
            return label
        if _weighted_sum(expr):  # w₁i₁ + w₂i₂ + b₁: a neuron's sum, as network diagrams draw it
            return Label(r"\Sigma", "Σ")
        return name_label(name)  # (t₁ − o₁)²/2 + …: not a "+" gate, whose local derivatives would all be 1
    if type(expr) in GATE_LABELS:
        return Label(*GATE_LABELS[type(expr)])
    function = by_class(type(expr))
    if function is not None and function.gate:
        return Label(*function.gate)
    return name_label(name)


SHAPE_CHARS = 10  # the longest expression a gate spells out (tanh(Ax+b)); a longer one is drawn by its name


def _weighted_sum(expr: sp.Expr) -> bool:
    """Whether expr is a sum of inputs times inputs and lone inputs (w₁i₁ + w₂i₂ + b₁)."""
    return expr.is_Add and all(t.is_Symbol or (t.is_Mul and len(t.args) == 2 and all(f.is_Symbol for f in t.args))
                               for t in expr.args)


def _operation(expr: sp.Expr) -> Label | None:
    """The label of an elementary operation on bare inputs (and at most one number), else None."""
    operands = expr.args
    numbers = [a for a in operands if a.is_Number]
    if not all(a.is_Symbol or a.is_Number for a in operands) or len(numbers) > 1:
        return None
    if expr.is_Pow and operands[0].is_Symbol and expr.exp.is_Integer:
        n = int(expr.exp)
        if n == -1:
            return Label(r"1/(\cdot)", "1/(·)")
        return Label(rf"(\cdot)^{{{n}}}", "(·)" + _superscript(str(n)))
    if type(expr) in GATE_LABELS and len(operands) - len(numbers) >= 1:
        tex, text = GATE_LABELS[type(expr)]
        if not numbers:
            return Label(tex, text)
        c = numbers[0]
        if expr.is_Mul and c == -1:
            return Label(r"\times(-1)", "×(−1)")
        if expr.is_Add and c.is_negative:  # s − 1 subtracts
            return Label(f"-{sp.latex(-c)}", f"−{-c}")
        shown = sp.latex(c) if c >= 0 else rf"({sp.latex(c)})"
        return Label(f"{tex}{shown}", f"{text}{c}".replace("-", "−") if c >= 0 else f"{text}({c})".replace("-", "−"))
    function = by_class(type(expr))
    if function is not None and function.gate and len(operands) >= 1 and not numbers:
        return Label(*function.gate)
    return None


def _shape(expr: sp.Expr, args: list[sp.Symbol]) -> Label | None:
    """A compound node's expression as printed in the lecture (weights first: ω₀x + β₀), its inputs' indices
    dropped when that leaves no two alike; None if it has no plain-text form."""
    from derive.render.printing import latex

    tex = latex(expr, terms="bias-last")
    short = {a: re.sub(r"_\w+$", "", a.name) for a in args}  # omega_0 -> omega
    if len(set(short.values())) == len(short):
        tex = latex(expr.xreplace({a: sp.Symbol(s) for a, s in short.items()}), terms="bias-last")
    text = tex_text(tex)
    # set as tightly as the text reads (ωh+β): a circle is only as wide as its label
    tight = re.sub(r" ([+-]) ", r"{\1}", tex).replace(r"\left(", "(").replace(r"\right)", ")")
    return None if text is None else Label(tight, text)


def number_label(value: sp.Expr | None, lang: str = "en", digits: int = 4) -> Label | None:
    """A number in lang's format to `digits` significant digits; text with a real minus sign."""
    if value is None:
        return None
    from derive.render.numbers import PRECISION, format_number

    value = sp.sympify(value)
    if not value.is_Number:  # evaluated once, as format_number would (a gradient deep in a graph is a long product)
        value = sp.N(value, PRECISION)
    return Label(format_number(value, lang, digits, tex=True), format_number(value, lang, digits).replace("-", "−"))


@dataclass
class Box:
    key: str
    label: Label
    circle: bool
    name: Label | None = None  # drawn over a circle
    column: int = 0
    row: float = 0.0  # its order in its column
    x: float = 0.0  # cm, as TikZ draws it (y downwards); the SVG is the same picture scaled
    y: float = 0.0

    @property
    def r(self) -> float:
        """A gate's radius in cm: 9 mm across, or as wide as its label needs (×(−1))."""
        width = GATE_CHAR_CM * len(self.label.text + self.label.sup + self.label.sub)
        return max(GATE_R_CM, math.hypot(width, GATE_TEXT_CM) / 2 + GATE_SEP_CM)


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
    spots: list = field(default_factory=list)  # where along each arrow its numbers go

    def __post_init__(self):
        if self.outcome.indexed:
            self._build_index(self.outcome.result)
        else:
            self._build_scalar(self.outcome.result)
        self.spots = _layout(self.boxes, self.arrows)

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
        return _svg(self.boxes, self.arrows, self.spots, self.outcome.spec.output)

    def tikz(self) -> str:
        return _tikz(self.boxes, self.arrows, self.spots)


def _flow(bp, loc) -> sp.Expr:
    """The gradient flowing back along the edge arg → node: upstream value × local value."""
    return sp.sympify(bp.grads[loc.node].value * loc.expr.xreplace(bp.values))


# -- layout -------------------------------------------------------------------------


def _layout(boxes: dict[str, Box], arrows: list[Arrow]) -> list[Spot]:
    """Each box's column and its order in the column, then its place in cm and where each arrow's
    numbers go (`_fit`)."""
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
    return _fit(boxes, arrows, users)


def _fit(boxes: dict[str, Box], arrows: list[Arrow], users: dict[str, list[str]]) -> list[Spot]:
    """_fitting, done once for a graph's figure in every language (its numbers are as wide in each)."""
    key = (tuple((k, b.column, b.row, b.circle, b.label.plain, b.name.plain if b.name else "")
                 for k, b in boxes.items()),
           tuple((a.source, a.target, label_size(a.above), label_size(a.below)) for a in arrows))
    if key not in _FITTED:
        spots = _fitting(boxes, arrows, users)
        if len(_FITTED) >= 32:
            _FITTED.clear()
        _FITTED[key] = ({k: (b.x, b.y) for k, b in boxes.items()}, spots)
    places, spots = _FITTED[key]
    for k, b in boxes.items():
        b.x, b.y = places[k]
    return list(spots)


_FITTED: dict = {}


def _fitting(boxes: dict[str, Box], arrows: list[Arrow], users: dict[str, list[str]]) -> list[Spot]:
    """Place the boxes (`_place`) and each arrow's numbers (`place_labels`, the network figures' placement)
    so that no number comes near another arrow, number or box: each gap between columns starts as wide
    as its widest number needs, and the gaps whose arrows' numbers find no clear place are widened
    (FIT_WIDER, up to FIT_WIDTH_CM in all), then the rows moved apart (FIT_PITCH); the first clear
    picture is the one, or else the one with the fewest numbers in the way."""
    columns = max(b.column for b in boxes.values()) + 1
    base = [BARE_GAP_CM] * max(1, columns - 1)
    for a in arrows:
        widest = max((label_size(lab)[0] for lab in (a.above, a.below) if lab), default=0.0)
        span = boxes[a.target].column - boxes[a.source].column
        ends = _half(boxes[a.source]) + _half(boxes[a.target]) + ARROW_HEAD_CM  # a wide gate (ωh+β) needs more
        for g in range(boxes[a.source].column, boxes[a.target].column):
            base[g] = max(base[g], (widest + max(LABEL_SPARE_CM, ends + LABEL_AIR_CM)) / span)
    labelled = any(a.above or a.below for a in arrows)
    best = None
    for pitch in FIT_PITCH if labelled else FIT_PITCH[:1]:
        gaps = list(base)
        for _round in range(len(FIT_WIDER) + 1):
            _place(boxes, users, gaps, pitch)
            edges, obstacles = _geometry(boxes, arrows)
            spots = place_labels(edges, obstacles, prefer=LABEL_AT)
            stuck = unclear(edges, spots, obstacles) if labelled else []
            if best is None or len(stuck) < best[0]:
                best = (len(stuck), list(gaps), pitch, spots)
            if not stuck:
                return spots
            crowded = {g for n in stuck for g in range(boxes[arrows[n].source].column, boxes[arrows[n].target].column)}
            gaps = [w * FIT_WIDER_BY if g in crowded else w for g, w in enumerate(gaps)]
            if sum(gaps) > FIT_WIDTH_CM:
                break
    _n, gaps, pitch, spots = best
    _place(boxes, users, gaps, pitch)
    return spots


def _place(boxes: dict[str, Box], users: dict[str, list[str]], gaps: list[float], pitch: float) -> None:
    """Columns `gaps` cm apart; in each column (from the output back) a box sits level with the mean of
    its users, as near as rows `pitch` cm apart allow, a gate GATE_WEIGHT times as firmly as an input:
    a chain of gates runs straight, a leaf that feeds one node sits beside it, shared ones between."""
    columns = max(b.column for b in boxes.values()) + 1
    for c in reversed(range(columns)):
        members = sorted((b for b in boxes.values() if b.column == c), key=lambda b: b.row)
        wanted = [sum(boxes[u].y for u in users[b.key]) / len(users[b.key]) if users[b.key] else 0.0
                  for b in members]
        weights = [GATE_WEIGHT if b.circle else 1.0 for b in members]
        for b, y in zip(members, _packed(wanted, weights, pitch)):
            b.x, b.y = sum(gaps[:c]), y


def _packed(wanted: list[float], weights: list[float], pitch: float) -> list[float]:
    """Places in the order of `wanted`, each at least `pitch` below the one before, as near their wishes
    as can be (weighted least squares): the wishes less k × pitch made non-decreasing by pooling
    neighbours (pool-adjacent-violators)."""
    blocks: list[list[float]] = []  # [weighted sum, weight, count] of the shifted wishes pooled into one place
    for k, (y, w) in enumerate(zip(wanted, weights)):
        blocks.append([w * (y - k * pitch), w, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, weight, n = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += weight
            blocks[-1][2] += n
    shifted = [total / weight for total, weight, n in blocks for _ in range(int(n))]
    return [y + k * pitch for k, y in enumerate(shifted)]


def _geometry(boxes: dict[str, Box], arrows: list[Arrow]) -> tuple[list[EdgeLabels], list[Box2]]:
    """The arrows with their numbers' sizes, and the boxes (with the names over the gates) in their way."""
    edges = [EdgeLabels((boxes[a.source].x, boxes[a.source].y), (boxes[a.target].x, boxes[a.target].y),
                        label_size(a.above), label_size(a.below), gap=NUMBER_GAP_CM) for a in arrows]
    obstacles = []
    for b in boxes.values():
        half = (b.r if b.circle else INPUT_HALF_CM) + NODE_ROOM_CM + ARROW_HEAD_CM  # an arrow head at its border
        obstacles.append((b.x - half, b.y - half, b.x + half, b.y + half))
        if b.circle and b.name:  # the node's name over its circle
            w = text_width(b.name, 0.2) / 2
            obstacles.append((b.x - w - NODE_ROOM_CM, b.y - b.r - NAME_HEIGHT_CM, b.x + w + NODE_ROOM_CM, b.y - b.r))
    return edges, obstacles


def _half(box: Box) -> float:
    """How far a box reaches left and right of its centre, in cm."""
    return box.r if box.circle else INPUT_HALF_CM


def _border(box: Box, ux: float, uy: float) -> float:
    """How far from a box's centre its border is in the direction (ux, uy), in cm."""
    return box.r if box.circle else INPUT_HALF_CM / max(abs(ux), abs(uy))


def _tikz_pos(a: Box, b: Box, t: float) -> float:
    """diagram.tikz_pos between two of the graph's boxes."""
    return tikz_pos((a.x, a.y), (b.x, b.y), t, partial(_border, a), partial(_border, b))


GATE_R_CM, INPUT_HALF_CM, NAME_HEIGHT_CM = 0.45, 0.35, 0.45  # a gate is 9 mm across, an input 7 mm square
GATE_CHAR_CM, GATE_TEXT_CM, GATE_SEP_CM = 0.2, 0.35, 0.035  # a gate label's letters (roughly), its height, inner sep
NODE_ROOM_CM = EDGE_ROOM - LABEL_ROOM  # a number keeps as far from a box as from a line (place_labels keeps LABEL_ROOM)
ARROW_HEAD_CM = 0.1  # an arrow head stands out of the box it enters (stealth, about 1 mm): a number keeps clear of it too
# between a number and its own arrow: a long chain of gates is drawn wider than the page and scaled down
# (to 0.75), and its numbers still keep 1.5 pt of white from their arrows (measured by tests/test_figures.py)
NUMBER_GAP_CM = 0.12
NUMBER_GAP_PT = NUMBER_GAP_CM / 2.54 * 72.27
BARE_GAP_CM = 2.0  # the narrowest gap between columns
GATE_WEIGHT = 10.0  # how much more firmly a gate keeps level with its users than an input does
LABEL_SPARE_CM = 1.2  # a gap is at least its widest number and this much more (a gate and an input's halves, and air)
LABEL_AIR_CM = 0.4  # … or the halves of its two ends (a wide gate's) and this much air
FIT_PITCH = (2.4, 3.0)  # cm between the rows of a column, tried in turn
FIT_WIDER, FIT_WIDER_BY = range(6), 1.3  # up to six times a crowded gap is widened by 30 %
FIT_WIDTH_CM = 20.0  # the widest a picture is drawn to make room; wider than the page's TIKZ_WIDTH, it is scaled down


# -- SVG ------------------------------------------------------------------------------

PX_PER_CM, MARGIN = 52, 30  # the TikZ picture scaled, as the network figures are (\scriptsize is 13 px)
FONT = 'font-family="CMU Serif, Latin Modern Roman, Times New Roman, serif"'


def _svg_label(label: Label, x: float, y: float, size: int, colour: str = "black", italic: bool = True) -> str:
    style = ' font-style="italic"' if italic and label.text.isalpha() and len(label.text) <= 2 else ""
    sup = (f'<tspan font-style="normal" font-size="{size * 0.7:.0f}" dy="{-size * 0.4:.0f}">{escape(label.sup)}</tspan>'
           if label.sup else "")
    down = size * 0.3 + (size * 0.4 if label.sup else 0)
    sub = (f'<tspan font-style="normal" font-size="{size * 0.7:.0f}" dy="{down:.0f}">{escape(label.sub)}</tspan>'
           if label.sub else "")
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{colour}"{style} text-anchor="middle">'
            f"{escape(label.text)}{sup}{sub}</text>")


def _svg(boxes: dict[str, Box], arrows: list[Arrow], spots: list[Spot], title: str) -> str:
    edges, _obstacles = _geometry(boxes, arrows)
    xs = [b.x for b in boxes.values()]
    ys = [b.y for b in boxes.values()] + [b.y - b.r - NAME_HEIGHT_CM for b in boxes.values() if b.name]
    for e, (t, flip) in zip(edges, spots):  # the numbers stay inside the picture
        for quad in _label_quads(e, t, flip=flip):
            xs += [x for x, _ in quad]
            ys += [y for _, y in quad]
    left, top = min(xs) - GATE_R_CM, min(ys) - GATE_R_CM
    width = (max(xs) + GATE_R_CM - left) * PX_PER_CM + 2 * MARGIN
    height = (max(ys) + GATE_R_CM - top) * PX_PER_CM + 2 * MARGIN

    def at(b: Box) -> tuple[float, float]:
        return MARGIN + (b.x - left) * PX_PER_CM, MARGIN + (b.y - top) * PX_PER_CM

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" {FONT}>',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
           f"<title>{escape(title)}</title>"]
    labels = []
    for a, (t, _flip) in zip(arrows, spots):
        source, target = boxes[a.source], boxes[a.target]
        (x1, y1), (x2, y2) = at(source), at(target)
        length = math.hypot(x2 - x1, y2 - y1)
        ux, uy = (x2 - x1) / length, (y2 - y1) / length
        r1, r2 = _border(source, ux, uy) * PX_PER_CM, _border(target, ux, uy) * PX_PER_CM
        out.append(f'<line x1="{x1 + ux * r1:.1f}" y1="{y1 + uy * r1:.1f}" x2="{x2 - ux * r2:.1f}" '
                   f'y2="{y2 - uy * r2:.1f}" stroke="#555" marker-end="url(#arrow)"/>')
        mx, my, angle = x1 + t * (x2 - x1), y1 + t * (y2 - y1), math.degrees(math.atan2(y2 - y1, x2 - x1))
        labels += [_svg_edge_label(replace(lab, colour=colour), mx, my, angle, above, NUMBER_GAP_CM)
                   for lab, colour, above in ((a.above, "forward", True), (a.below, "backward", False)) if lab]
    out += labels
    for b in boxes.values():
        x, y = at(b)
        if b.circle:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{b.r * PX_PER_CM:.1f}" fill="white" stroke="black"/>')
            out.append(_svg_label(b.label, x, y + 5, 15, italic=False))
            if b.name:
                out.append(_svg_label(b.name, x, y - b.r * PX_PER_CM - 6, 14, "#555"))
        else:
            half = INPUT_HALF_CM * PX_PER_CM
            out.append(f'<rect x="{x - half:.1f}" y="{y - half:.1f}" width="{2 * half:.1f}" height="{2 * half:.1f}" '
                       'fill="#f3f3f3" stroke="black"/>')
            out.append(_svg_label(b.label, x, y + 5, 16))
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- TikZ -----------------------------------------------------------------------------

TIKZ_WIDTH = 15.6  # cm, a page's text: a wider picture is scaled down to it


def _tikz(boxes: dict[str, Box], arrows: list[Arrow], spots: list[Spot]) -> str:
    xs = [b.x for b in boxes.values()]
    scale = math.floor(100 * min(1.0, TIKZ_WIDTH / max(max(xs) - min(xs) + 2 * GATE_R_CM, 1e-9))) / 100  # never over
    names = {key: f"g{i}" for i, key in enumerate(boxes)}
    out = [rf"\begin{{tikzpicture}}[x=1cm, y=-1cm, scale={scale:.2f}, transform shape, >=stealth,"
           rf" gate/.style={{circle, draw, minimum size={2 * GATE_R_CM * 10:.0f}mm, inner sep=1pt}},"
           rf" input/.style={{rectangle, draw, fill=black!5, minimum size={2 * INPUT_HALF_CM * 10:.0f}mm,"
           r" inner sep=2pt},"
           rf" number/.style={{font={LABEL_FONT}, fill=white, fill opacity=0.85, text opacity=1, inner sep=1pt,"
           rf" outer sep={NUMBER_GAP_PT:.1f}pt, sloped}},"
           r" value/.style={number, text=" + TIKZ_FORWARD + r"},"
           r" grad/.style={number, text=" + TIKZ_BACKWARD + r"}]"]
    for key, b in boxes.items():
        style = "gate" if b.circle else "input"
        name = rf", label={{[text=black!60]above:${b.name.tex}$}}" if b.circle and b.name else ""
        out.append(rf"\node[{style}{name}] ({names[key]}) at ({b.x:.3f}, {b.y:.3f}) {{${b.label.tex}$}};")
    for a, (t, _flip) in zip(arrows, spots):
        pos = _tikz_pos(boxes[a.source], boxes[a.target], t)
        labels = "".join(rf" node[{style}, {side}, pos={pos:.3f}] {{${lab.tex}$}}"
                         for lab, style, side in ((a.above, "value", "above"), (a.below, "grad", "below")) if lab)
        out.append(rf"\draw[->] ({names[a.source]}) --{labels} ({names[a.target]});")
    out.append(r"\end{tikzpicture}")
    return "\n".join(out)
