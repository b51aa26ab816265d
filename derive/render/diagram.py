"""Layered graph drawings: the same picture as SVG (beside Markdown) and as TikZ (in LaTeX).

A drawing is data, not code, so networks and computational graphs share it:

    layers: list[list[Node]]      columns from left to right, nodes from top to bottom
    edges:  list[Edge]            Edge(source=(layer, index), target=(layer, index),
                                       above=Label | None, below=Label | None)

A `Node` has a `label` and a `shape` (`"circle"` for a neuron or an operation,
`"box"` for a constant such as the bias input 1). A `Label` carries the same
text twice: `tex` (LaTeX math, without `$`) for TikZ, and `text` with optional
`sub`/`sup` (plain Unicode) for SVG; `name_label("theta_01")` makes one from a
derive name. Edge labels sit above and below the middle part of the edge.
An edge with `skip=True` (a residual layer's skip connection) is drawn as a
dashed arc under the row, and the other edges' labels are placed clear of it.

A layer of more than `MAX_SHOWN` nodes is drawn as its first three nodes, a
vertical ellipsis and its last node; edges from or to the nodes left out are
left out. `layered_svg(layers, edges)` returns a standalone SVG document (one
`<circle>` per drawn circle node); `layered_tikz(layers, edges)` a
`tikzpicture` environment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from xml.sax.saxutils import escape

from derive.render.printing import GREEK, NAME_RE, latex_name

MAX_SHOWN = 8
HEAD = 3  # nodes shown before the ellipsis of a large layer

GREEK_TEXT = dict(
    zip(
        "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau upsilon "
        "phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split(),
        "αβγδεζηθικλμνξπρστυφχψωΓΔΘΛΞΠΣΥΦΨΩ",
    )
)
assert set(GREEK_TEXT) == GREEK


@dataclass(frozen=True)
class Label:
    tex: str
    text: str
    sub: str = ""
    sup: str = ""
    colour: str = ""  # "" black; "forward" (a value, green) or "backward" (a gradient, red), as CS231n draws them
    tail: str = ""  # plain text after the indices (" = 0,15"); `tex` already includes it

    @property
    def plain(self) -> str:
        return self.text + self.sup + self.sub + self.tail


@dataclass(frozen=True)
class Node:
    label: Label
    shape: str = "circle"
    note: Label | None = None  # written under the node (a worked example's value)


@dataclass(frozen=True)
class Edge:
    source: tuple[int, int]
    target: tuple[int, int]
    above: Label | None = None
    below: Label | None = None
    skip: bool = False  # a residual layer's skip connection: a dashed arc under the row, without labels


@dataclass
class Layered:
    """A whole drawing, as the templates receive it (see the module docstring)."""

    layers: list[list[Node]]
    edges: list[Edge] = field(default_factory=list)
    spread: float = 1.0  # room between the nodes, for long edge labels (a worked example's numbers)
    legend: str | None = None  # the msgid of the sentence under the figure (what the dashed arcs are)


@dataclass
class Figure:
    """A kind's figure (the `figure(outcome)` hook): the same drawing as SVG and as TikZ."""

    drawing: Layered
    title: str = ""

    @property
    def legend(self) -> str | None:
        return self.drawing.legend

    def svg(self) -> str:
        return layered_svg(self.drawing.layers, self.drawing.edges, self.title, self.drawing.spread)

    def tikz(self) -> str:
        return layered_tikz(self.drawing.layers, self.drawing.edges, self.drawing.spread)


def name_label(name: str) -> Label:
    """theta_01 -> θ with subscript 01; W2_11 -> W, superscript [2], subscript 11 (as latex_name prints)."""
    m = NAME_RE.match(name)
    if not m:
        return Label(latex_name(name), name)
    index = ",".join(m["index"].split("_")) if m["index"] else ""
    sup = f"[{m['layer']}]" if m["layer"] else ""
    return Label(latex_name(name), GREEK_TEXT.get(m["base"], m["base"]), index, sup)


def number_label(text: str) -> Label:
    return Label(text, text)


# -- layout ---------------------------------------------------------------------


def shown(n: int) -> list[int | None]:
    """The slots of a layer of n nodes: indices, with None for the ellipsis of a large layer."""
    if n <= MAX_SHOWN:
        return list(range(n))
    return [*range(HEAD), None, n - 1]


@dataclass
class _Layout:
    """Positions in abstract units: layer i at x = i, slot k of a layer at y = k (centred)."""

    layers: list[list[Node]]
    edges: list[Edge]
    spread: float = 1.0

    def __post_init__(self):
        self.slots = [shown(len(layer)) for layer in self.layers]
        self.height = max(len(s) for s in self.slots)

    def y(self, layer: int, slot: int) -> float:
        return (self.height - len(self.slots[layer])) / 2 + slot

    def nodes(self):
        """(layer, index or None, x, y) for every drawn node and ellipsis."""
        for i, slots in enumerate(self.slots):
            for k, index in enumerate(slots):
                yield i, index, i, self.y(i, k)

    def position(self, ref: tuple[int, int]) -> tuple[float, float] | None:
        layer, index = ref
        slots = self.slots[layer]
        return (layer, self.y(layer, slots.index(index))) if index in slots else None

    def _drawn(self, skip: bool):
        drawn = [(e, self.position(e.source), self.position(e.target)) for e in self.edges if e.skip == skip]
        return [(e, a, b) for e, a, b in drawn if a is not None and b is not None]

    def drawn_edges(self):
        """(edge, (x1, y1), (x2, y2), t): t is where along the edge its labels go (clear of the skip arcs)."""
        drawn = self._drawn(skip=False)
        arcs = [seg for _e, curve in self.skip_arcs() for seg in _polyline(curve)]
        ts = place_labels([self._edge_labels(e, a, b) for e, a, b in drawn], self._node_boxes(), lines=arcs)
        for (edge, a, b), t in zip(drawn, ts):
            yield edge, a, b, t if edge.above or edge.below else 0.5

    def skip_arcs(self):
        """(edge, Bézier control points in cm) of every drawn skip connection."""
        for edge, a, b in self._drawn(skip=True):
            yield edge, skip_curve(self.cm(a), self.cm(b), TIKZ_R_CM, SKIP_DEPTH * TIKZ_DY_CM * self.spread,
                                   skip_angle(self.layers, edge))

    # geometry in cm, as TikZ draws it (the SVG is drawn in the same proportions)
    def cm(self, p: tuple[float, float]) -> tuple[float, float]:
        return p[0] * self.dx_cm, p[1] * TIKZ_DY_CM * self.spread

    @property
    def dx_cm(self) -> float:
        return min(TIKZ_DX_CM * _dx_scale(self.spread), TIKZ_WIDTH_CM / max(1, len(self.layers) - 1))

    def _edge_labels(self, e: Edge, a, b) -> EdgeLabels:
        size = lambda lab: (text_width(lab, 0.17), 0.32) if lab else None  # noqa: E731 (\scriptsize)
        return EdgeLabels(self.cm(a), self.cm(b), size(e.above), size(e.below))

    def _node_boxes(self) -> list[Box2]:
        half = 0.42
        return [(x - half, y - half, x + half, y + half)
                for x, y in (self.cm((x, y)) for _i, index, x, y in self.nodes() if index is not None)]


TIKZ_R_CM = 0.4  # a neuron's radius (minimum size=8mm)
SKIP_DEPTH = 0.3
SKIP_ANGLE = 60  # degrees under the horizontal at which a skip arc leaves and enters its nodes
SKIP_ANGLE_NOTED = 20  # … when a value is written under them (a worked example): the arc passes beside it

Point = tuple[float, float]


def skip_angle(layers: list[list[Node]], edge: Edge) -> int:
    noted = any(layers[i][k].note for i, k in (edge.source, edge.target))
    return SKIP_ANGLE_NOTED if noted else SKIP_ANGLE


def skip_curve(a: Point, b: Point, r: float, depth: float, angle: float = SKIP_ANGLE) -> tuple[Point, Point, Point, Point]:
    """A skip connection from the node at a to the node at b (centres, y downwards), radius r: a cubic
    Bézier that leaves a under its right side, dips `depth` under the row and enters b under its left
    side, so it never runs along the straight edge between the two nodes or touches another node."""
    c, s = r * math.cos(math.radians(angle)), r * math.sin(math.radians(angle))
    p0, p3 = (a[0] + c, a[1] + s), (b[0] - c, b[1] + s)
    reach = (p3[0] - p0[0]) * 0.3
    return p0, (p0[0] + reach, a[1] + depth * 4 / 3), (p3[0] - reach, b[1] + depth * 4 / 3), p3


def _polyline(curve, pieces: int = 12) -> list[tuple[Point, Point]]:
    """A Bézier curve as straight pieces (for label placement)."""
    p0, p1, p2, p3 = curve

    def at(t: float) -> Point:
        u = 1 - t
        return tuple(u ** 3 * q0 + 3 * u * u * t * q1 + 3 * u * t * t * q2 + t ** 3 * q3
                     for q0, q1, q2, q3 in zip(p0, p1, p2, p3))

    points = [at(k / pieces) for k in range(pieces + 1)]
    return list(zip(points, points[1:]))


LABEL_TS = [0.15 + 0.05 * i for i in range(13)]  # candidate places along an edge, 0.15 … 0.75


def _dx_scale(spread: float) -> float:
    """Layers move apart half as much as units within a layer when a drawing is spread."""
    return 1 + (spread - 1) / 2


# -- edge labels without collisions ---------------------------------------------------------

Box2 = tuple[float, float, float, float]  # x0, y0, x1, y1 (y grows downwards, as in TikZ with y=-…)


@dataclass(frozen=True)
class EdgeLabels:
    """An edge from a to b (in cm) whose labels sit above and/or below it, each w × h cm."""

    a: tuple[float, float]
    b: tuple[float, float]
    above: tuple[float, float] | None  # (w, h) of the label above, or None
    below: tuple[float, float] | None


def place_labels(edges: list[EdgeLabels], obstacles: list[Box2], prefer: float = 0.35,
                 lines: list[tuple[Point, Point]] = ()) -> list[float]:
    """_place, computed once for a drawing's SVG and its TikZ."""
    return list(_place(tuple(edges), tuple(obstacles), prefer, tuple(lines)))


@lru_cache(maxsize=8)
def _place(edges: tuple[EdgeLabels, ...], obstacles: tuple[Box2, ...], prefer: float,
           lines: tuple[tuple[Point, Point], ...]) -> tuple[float, ...]:
    """Where along each edge (0 … 1) its labels go: the candidate whose labels overlap no other label
    and no node (obstacles) and cross the fewest other edges (and unlabelled lines, such as skip
    arcs, which count twice), then the one nearest `prefer`. Greedy in the order given, then
    REPLACE_ROUNDS rounds that move each edge's labels again knowing where all the others are; a
    label is the rectangle it is drawn as, turned along its edge."""
    segments = [(e.a, e.b) for e in edges]
    nodes = [((x0, y0), (x1, y0), (x1, y1), (x0, y1)) for x0, y0, x1, y1 in obstacles]
    placed: dict[int, list[Quad]] = {}
    result = [prefer] * len(edges)

    def cost(n: int, t: float) -> float:
        e, quads = edges[n], _label_quads(edges[n], t)
        crossings = sum(_meet(q, seg) for q in quads for k, seg in enumerate(segments) if k != n)
        crossings += 2 * sum(_meet(q, seg) for q in _label_quads(e, t, room=0.05) for seg in lines)
        roomy = _label_quads(e, t, room=LABEL_ROOM)
        overlaps = sum(_meet(q, p) for q in roomy for k, quads_k in placed.items() if k != n for p in quads_k)
        blocked = sum(_meet(q, p) for q in quads for p in nodes)
        # a line through a label still reads; a label on a label does not
        return 10 * crossings + 60 * overlaps + 80 * blocked + abs(t - prefer)

    for round_ in range(1 + REPLACE_ROUNDS):
        for n, e in enumerate(edges):
            if round_ and cost(n, result[n]) < 60:  # on no label and no node: stays
                continue
            result[n] = min(LABEL_TS, key=lambda t: cost(n, t))
            placed[n] = _label_quads(e, result[n], room=LABEL_ROOM)
    return tuple(result)


REPLACE_ROUNDS = 2
Quad = tuple[Point, Point, Point, Point]
LABEL_ROOM = 0.04  # cm kept free around a label from another label (glyphs stand out of the estimated box)


def _label_quads(e: EdgeLabels, t: float, room: float = 0.0) -> list[Quad]:
    """The rectangles of an edge's labels at t, turned along the edge as they are drawn (`room` more
    on every side)."""
    (x1, y1), (x2, y2) = e.a, e.b
    length = math.hypot(x2 - x1, y2 - y1) or 1.0
    ux, uy = (x2 - x1) / length, (y2 - y1) / length  # along the edge
    nx, ny = uy, -ux  # the normal on the "above" side (y downwards)
    px, py = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
    quads = []
    for size, sign in ((e.above, 1), (e.below, -1)):
        if size:
            w, h = size[0] / 2 + room, size[1] / 2 + room
            cx, cy = px + sign * nx * (size[1] / 2 + 0.04), py + sign * ny * (size[1] / 2 + 0.04)
            quads.append(tuple((cx + a * ux * w + b * nx * h, cy + a * uy * w + b * ny * h)
                               for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1))))
    return quads


def _meet(p, q) -> bool:
    """Whether two convex polygons (or a polygon and a segment) overlap: no separating axis."""
    if (max(x for x, _ in p) <= min(x for x, _ in q) or max(x for x, _ in q) <= min(x for x, _ in p)
            or max(y for _, y in p) <= min(y for _, y in q) or max(y for _, y in q) <= min(y for _, y in p)):
        return False  # far apart (most pairs): their upright boxes already part
    for poly in (p, q):
        for i in range(len(poly)):
            (x1, y1), (x2, y2) = poly[i], poly[(i + 1) % len(poly)]
            ax, ay = y1 - y2, x2 - x1
            a = [x * ax + y * ay for x, y in p]
            b = [x * ax + y * ay for x, y in q]
            if max(a) <= min(b) or max(b) <= min(a):
                return False
    return True


def text_width(label: Label, char_cm: float) -> float:
    """A label's width in cm, roughly: a sub- or superscript letter counts as two thirds of a letter, and
    the two stand one over the other."""
    return char_cm * (len(label.text) + 0.67 * max(len(label.sup), len(label.sub)) + len(label.tail)) + 0.12


# -- SVG --------------------------------------------------------------------------

# The SVG is the TikZ picture scaled (its labels are placed in the TikZ picture's centimetres, so the two
# must keep one geometry): 52 px a centimetre draws \scriptsize's 7 pt as the 13 px of the edge labels.
SVG_PX_PER_CM, SVG_R, SVG_MARGIN = 52, 21, 30
SVG_COLOURS = {"": "black", "forward": "#1a7f37", "backward": "#c0392b"}  # as graph_figure draws values and gradients
TIKZ_COLOURS = {"": "black", "forward": "green!50!black", "backward": "red!75!black"}
SKIP_COLOUR = "#1f4e9c"  # the skip connections' dashed arcs (TikZ: blue!60!black)
SVG_FONT = 'font-family="CMU Serif, Latin Modern Roman, Times New Roman, serif"'


def _svg_text(label: Label, x: float, y: float, size: int, italic: bool = True, **attrs) -> str:
    style = ' font-style="italic"' if italic and label.text.isalpha() else ""
    style += f' fill="{SVG_COLOURS[label.colour]}"' if label.colour else ""
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
    parts = [escape(label.text)]
    if label.sup:
        parts.append(f'<tspan font-style="normal" font-size="{size * 0.7:.0f}" dy="{-size * 0.4:.0f}">{escape(label.sup)}</tspan>')
    shift = -size * 0.4 if label.sup else 0
    back = 0.0  # how far the index is set back to stand under the superscript (W with [1] over 12), as TeX sets it
    if label.sub:
        dy = size * 0.3 + (size * 0.4 if label.sup else 0)
        shift += dy
        back = _script_width(label.sup, size)
        dx = f' dx="{-back:.1f}"' if back else ""
        parts.append(f'<tspan font-style="normal" font-size="{size * 0.7:.0f}"{dx} dy="{dy:.0f}">{escape(label.sub)}</tspan>')
    if label.tail:
        ahead = max(0.0, back - _script_width(label.sub, size))  # past the longer of the two scripts
        dx = f' dx="{ahead:.1f}"' if ahead else ""
        parts.append(f'<tspan font-style="normal"{dx} dy="{-shift:.0f}">{escape(label.tail)}</tspan>')
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}"{style} text-anchor="middle"{extra}>'
            + "".join(parts) + "</text>")


def _script_width(script: str, size: float) -> float:
    """The width of a sub- or superscript at 0.7 of size, roughly (brackets and commas are narrow)."""
    return sum(0.28 if c in "[](),." else 0.5 for c in script) * 0.7 * size


def _svg_node(node: Node, x: float, y: float) -> str:
    if node.shape == "box":
        s = SVG_R * 0.8
        shape = f'<rect x="{x - s:.1f}" y="{y - s:.1f}" width="{2 * s:.1f}" height="{2 * s:.1f}" fill="#f3f3f3" stroke="black"/>'
    else:
        shape = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{SVG_R}" fill="white" stroke="black"/>'
    note = _svg_text(node.note, x, y + SVG_R + 15, 12, italic=False) if node.note else ""
    size = min(16, int(2 * SVG_R * 0.9 / (0.62 * max(1, len(node.label.plain)))))  # LOSS fits its circle
    return shape + _svg_text(node.label, x, y + size / 3, size) + note


def _svg_edge_label(label: Label, x: float, y: float, angle: float, above: bool) -> str:
    dy = -6 if above else 15
    width = 7 * len(label.text + label.tail) + 5 * max(len(label.sup), len(label.sub)) + 4  # the scripts stacked
    box = f'<rect x="{x - width / 2:.1f}" y="{y + dy - 11:.1f}" width="{width:.1f}" height="14" fill="white" opacity="0.85"/>'
    return (f'<g transform="rotate({angle:.1f} {x:.1f} {y:.1f})">' + box
            + _svg_text(label, x, y + dy, 13) + "</g>")


def _svg_skip(edge: Edge, layers, a: Point, b: Point, row: float) -> str:
    """A skip connection as a dashed arc, which names the nodes it joins (data-source, data-target)."""
    p0, p1, p2, p3 = skip_curve(a, b, SVG_R, SKIP_DEPTH * row, skip_angle(layers, edge))
    names = [escape(layers[i][k].label.plain, {'"': "&quot;"}) for i, k in (edge.source, edge.target)]
    return (f'<path class="skip" data-source="{names[0]}" data-target="{names[1]}" d="M {p0[0]:.1f} {p0[1]:.1f} '
            f'C {p1[0]:.1f} {p1[1]:.1f} {p2[0]:.1f} {p2[1]:.1f} {p3[0]:.1f} {p3[1]:.1f}" fill="none" '
            f'stroke="{SKIP_COLOUR}" stroke-width="1.3" stroke-dasharray="5 3" marker-end="url(#arrow)"/>')


def layered_svg(layers: list[list[Node]], edges: list[Edge], title: str = "", spread: float = 1.0) -> str:
    """The drawing as a standalone SVG document (see the module docstring)."""
    lay = _Layout(layers, edges, spread)
    dx, dy = lay.dx_cm * SVG_PX_PER_CM, TIKZ_DY_CM * spread * SVG_PX_PER_CM  # the TikZ picture's proportions
    px = lambda x, y: (SVG_MARGIN + SVG_R + x * dx, SVG_MARGIN + SVG_R + y * dy)  # noqa: E731
    width = 2 * (SVG_MARGIN + SVG_R) + (len(layers) - 1) * dx
    arcs = SKIP_DEPTH * dy if any(e.skip for e in edges) else 0  # the lowest row's skip arcs dip under it
    height = 2 * (SVG_MARGIN + SVG_R) + (lay.height - 1) * dy + arcs
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" {SVG_FONT}>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>',
    ]
    if title:
        out.append(f"<title>{escape(title)}</title>")
    labels = []
    for edge, a, b, t in lay.drawn_edges():
        (x1, y1), (x2, y2) = px(*a), px(*b)
        d = math.hypot(x2 - x1, y2 - y1)
        ux, uy = (x2 - x1) / d, (y2 - y1) / d
        out.append(f'<line x1="{x1 + ux * SVG_R:.1f}" y1="{y1 + uy * SVG_R:.1f}" x2="{x2 - ux * SVG_R:.1f}" '
                   f'y2="{y2 - uy * SVG_R:.1f}" stroke="#555" marker-end="url(#arrow)"/>')
        mx, my, angle = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t, math.degrees(math.atan2(y2 - y1, x2 - x1))
        labels += [_svg_edge_label(lab, mx, my, angle, above) for lab, above in ((edge.above, True), (edge.below, False)) if lab]
    for edge, _curve in lay.skip_arcs():
        out.append(_svg_skip(edge, layers, px(*lay.position(edge.source)), px(*lay.position(edge.target)), dy))
    out += labels
    for i, index, x, y in lay.nodes():
        cx, cy = px(x, y)
        if index is None:
            out.append(f'<text x="{cx:.1f}" y="{cy + 8:.1f}" font-size="24" text-anchor="middle">⋮</text>')
        else:
            out.append(_svg_node(layers[i][index], cx, cy))
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- TikZ -------------------------------------------------------------------------

TIKZ_WIDTH_CM, TIKZ_DX_CM, TIKZ_DY_CM = 14.0, 4.0, 1.7


def _tikz_colour(label: Label) -> str:
    return f", text={TIKZ_COLOURS[label.colour]}" if label.colour else ""


def _node_name(i: int, index: int) -> str:
    return f"n{i}-{index}"


def _tikz_skip(edge: Edge, curve, layers) -> str:
    """A skip connection from one node's border to the other's, the same arc as the SVG's (cm, y up)."""
    p0, p1, p2, p3 = curve
    angle = skip_angle(layers, edge)
    return (rf"\draw[->, skip] ({_node_name(*edge.source)}.{-angle}) .. controls "
            rf"+({p1[0] - p0[0]:.2f}cm, {p0[1] - p1[1]:.2f}cm) and +({p2[0] - p3[0]:.2f}cm, {p3[1] - p2[1]:.2f}cm) .. "
            rf"({_node_name(*edge.target)}.{angle - 180});")


def layered_tikz(layers: list[list[Node]], edges: list[Edge], spread: float = 1.0) -> str:
    """The drawing as a `tikzpicture` (needs \\usepackage{tikz}; see the module docstring)."""
    lay = _Layout(layers, edges, spread)
    dx = min(TIKZ_DX_CM * _dx_scale(spread), TIKZ_WIDTH_CM / max(1, len(layers) - 1))
    out = [
        rf"\begin{{tikzpicture}}[x={dx:.2f}cm, y=-{TIKZ_DY_CM * spread:.2f}cm, >=stealth,"
        r" neuron/.style={circle, draw, minimum size=8mm, inner sep=1.5pt},"  # LOSS fits its circle
        r" constant/.style={rectangle, draw, fill=black!5, minimum size=6mm, inner sep=0pt},"
        r" param/.style={font=\scriptsize, fill=white, fill opacity=0.85, text opacity=1, inner sep=1pt, sloped},"
        r" skip/.style={dashed, thick, blue!60!black}]"
    ]
    for i, index, x, y in lay.nodes():
        if index is None:
            out.append(rf"\node at ({x}, {y:.2f}) {{$\vdots$}};")
            continue
        node = layers[i][index]
        style = "constant" if node.shape == "box" else "neuron"
        note = (rf", label={{[text={TIKZ_COLOURS[node.note.colour]}, font=\scriptsize]below:{{${node.note.tex}$}}}}"
                if node.note else "")
        out.append(rf"\node[{style}{note}] ({_node_name(i, index)}) at ({x}, {y:.2f}) {{${node.label.tex}$}};")
    for edge, _a, _b, t in lay.drawn_edges():
        labels = "".join(
            rf" node[param, {side}, pos={t:.2f}{_tikz_colour(lab)}] {{${lab.tex}$}}"
            for lab, side in ((edge.above, "above"), (edge.below, "below"))
            if lab
        )
        out.append(rf"\draw[->] ({_node_name(*edge.source)}) --{labels} ({_node_name(*edge.target)});")
    for edge, curve in lay.skip_arcs():
        out.append(_tikz_skip(edge, curve, layers))
    out.append(r"\end{tikzpicture}")
    return "\n".join(out)
