"""Layered graph drawings: the same picture as SVG (beside Markdown) and as TikZ (in LaTeX).

A drawing is data, not code, so networks and computational graphs share it:

    layers: list[list[Node]]      columns from left to right, nodes from top to bottom
    edges:  list[Edge]            Edge(source=(layer, index), target=(layer, index),
                                       above=Label | None, below=Label | None)

A `Node` has a `label` and a `shape` (`"circle"` for a neuron or an operation,
`"box"` for a constant such as the bias input 1). A `Label` carries the same
text twice: `tex` (LaTeX math, without `$`) for TikZ, and `text` with optional
`sub`/`sup` (plain Unicode) for SVG; `name_label("theta_01")` makes one from a
derive name. Edge labels sit above and below their edge, each where it keeps
clear of every other line, label and node (`place_labels`); the gaps between
layers and the rows are as wide as that needs (`_Layout._fit`), the same
geometry for the SVG and the TikZ picture.
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
import re
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Callable
from xml.sax.saxutils import escape

import numpy as np

from derive.core.functions import FUNCTIONS
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
    over: tuple[Label, ...] = ()  # written over the node, one under the other (a shared bias and its derivative)


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


SUPERSCRIPTS = dict(zip("0123456789-−+()n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁻⁺⁽⁾ⁿ"))
SUBSCRIPTS = dict(zip("0123456789-−+()", "₀₁₂₃₄₅₆₇₈₉₋₋₊₍₎"))
TEX_WORDS = {r"\left": "", r"\right": "", r"\cdot": "·", r"\times": "×", r"\sqrt": "√", r"\,": "", r"\;": ""}


# the functions a formula names by a TeX command (\\tanh, \\exp, \\sin): their words in the vocabulary
FUNCTION_WORDS = {word for f in FUNCTIONS.values() for word in f.latex_words} | {
    f.gate[0][1:] for f in FUNCTIONS.values() if f.gate and f.gate[0] == "\\" + f.gate[1]}


def _superscript(text: str) -> str:
    return "".join(SUPERSCRIPTS[c] for c in text)


def tex_text(tex: str) -> str | None:
    """A short formula's TeX as plain Unicode text for an SVG label, exactly (ω, −, ², x₁, tanh), or None
    when it uses anything that has no exact plain form (a fraction, a letter as an exponent)."""
    out, i = [], 0
    while i < len(tex):
        c = tex[i]
        if c == "\\":
            m = re.match(r"\\(?:[A-Za-z]+|[,;])", tex[i:])
            word = m[0] if m else "\\"
            name = word[1:]
            if word in TEX_WORDS:
                out.append(TEX_WORDS[word])
            elif name in GREEK_TEXT:
                out.append(GREEK_TEXT[name])
            elif name in ("operatorname", "mathrm"):
                inner = re.match(r"\{([A-Za-z]+)\}", tex[i + len(word):])
                if not inner:
                    return None
                out.append(inner[1])
                word += inner[0]
            elif name.isalpha() and name in FUNCTION_WORDS:
                out.append(name)
            else:
                return None
            i += len(word)
        elif c in "^_":
            m = re.match(r"[\^_](?:\{([^{}]*)\}|(\w))", tex[i:])
            table = SUPERSCRIPTS if c == "^" else SUBSCRIPTS
            script = (m[1] if m and m[1] is not None else m[2]) if m else None
            if script is None or not all(ch in table for ch in script):
                return None
            out.append("".join(table[ch] for ch in script))
            i += len(m[0])
        elif c in "{}":
            return None
        else:
            out.append("−" if c == "-" else "" if c == " " else c)
            i += 1
    return "".join(out)


# -- layout ---------------------------------------------------------------------


def shown(n: int) -> list[int | None]:
    """The slots of a layer of n nodes: indices, with None for the ellipsis of a large layer."""
    if n <= MAX_SHOWN:
        return list(range(n))
    return [*range(HEAD), None, n - 1]


@dataclass
class _Layout:
    """Positions: layer i at x = xs[i] cm, slot k of a layer at y = k rows of dy cm (centred).

    The gaps between layers and the rows are as wide as the edge labels need (`_fit`): a gap whose
    labels cannot all keep clear of the other edges is widened, the rows moved apart, and a gap
    without labels (into the loss) narrowed to make room, until every label has a clear place."""

    layers: list[list[Node]]
    edges: list[Edge]
    spread: float = 1.0
    fit: bool = True

    def __post_init__(self):
        self.slots = [shown(len(layer)) for layer in self.layers]
        self.height = max(len(s) for s in self.slots)
        gaps = max(1, len(self.layers) - 1)
        base = min(TIKZ_DX_CM * _dx_scale(self.spread), TIKZ_WIDTH_CM / gaps)
        self.gaps, self.dy_cm = [base] * gaps, TIKZ_DY_CM * self.spread
        if self.fit:  # the SVG and the TikZ picture, in every language, share one fitting
            gaps, self.dy_cm, spots = _fitted(tuple(map(tuple, self.layers)), tuple(self.edges), self.spread)
            self.gaps, self.spots = list(gaps), list(spots)

    @property
    def xs(self) -> list[float]:
        return [sum(self.gaps[:i]) for i in range(len(self.layers))]

    def y(self, layer: int, slot: int) -> float:
        return (self.height - len(self.slots[layer])) / 2 + slot

    def nodes(self):
        """(layer, index or None, x, y) for every drawn node and ellipsis (x the layer, y in rows)."""
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

    def _place(self) -> tuple[list[Spot], list[int]]:
        """Where each drawn edge's labels go, and the edges whose labels find no clear place."""
        drawn = self._drawn(skip=False)
        arcs = [seg for _e, curve in self.skip_arcs() for seg in _polyline(curve)]
        labels = [self._edge_labels(e, a, b) for e, a, b in drawn]
        spots = place_labels(labels, self._node_boxes(), lines=arcs)
        return spots, unclear(labels, spots, self._node_boxes(), lines=arcs)

    def _gaps_of(self, edges: list[int]) -> list[int]:
        """The gaps (0 between the first two layers) the given drawn edges leave from."""
        drawn = self._drawn(skip=False)
        return sorted({int(drawn[n][1][0]) for n in edges})

    def _fit(self) -> list[Spot]:
        """Widen the crowded gaps (FIT_WIDER) and then the rows (FIT_TALLER) until every label keeps clear:
        at each height the gaps crowded at their first width are widened step by step (up to
        FIT_WIDTH_CM; a gap without labels gives way first), and the first clear picture is the one.
        Without a clear layout, the one with the fewest labels in the way."""
        base, rows = list(self.gaps), self.dy_cm
        labelled = sum(bool(e.above or e.below) for e, _a, _b in self._drawn(skip=False))
        if labelled > FIT_MOST_LABELS:  # too dense for any page: drawn as it is, its labels placed
            return self._place()[0]
        best = None
        for taller in FIT_TALLER:
            self.gaps, self.dy_cm = base, rows * taller
            spots, stuck = self._place()
            if not stuck:
                return spots
            if best is None:
                best = (len(stuck), base, self.dy_cm, spots)
            crowded, tried = self._gaps_of(stuck), [base]
            for wider in FIT_WIDER:
                gaps = self._widened(base, crowded, wider)
                if gaps is None or gaps in tried:
                    continue
                tried.append(gaps)
                self.gaps = gaps
                spots, stuck = self._place()
                if not stuck:
                    return spots
                if best is None or len(stuck) < best[0]:
                    best = (len(stuck), gaps, self.dy_cm, spots)
        _n, self.gaps, self.dy_cm, spots = best
        return spots

    def _widened(self, base: list[float], crowded: list[int], wider: float) -> list[float] | None:
        """The gaps with the crowded ones `wider` times as wide, the others giving way (those without
        labels first, down to BARE_GAP_CM, then labelled ones down to LABELLED_GAP_CM); None if the
        picture would still be wider than FIT_WIDTH_CM."""
        gaps = [w * wider if g in crowded else w for g, w in enumerate(base)]
        over = sum(gaps) - FIT_WIDTH_CM
        for g in sorted((g for g in range(len(base)) if g not in crowded), key=self._labelled):
            give = min(max(0.0, over), gaps[g] - (LABELLED_GAP_CM if self._labelled(g) else BARE_GAP_CM))
            if give > 0:
                gaps[g] -= give
                over -= give
        return gaps if over <= 1e-9 else None

    def _labelled(self, gap: int) -> bool:
        return any(e.above or e.below for e, a, _b in self._drawn(skip=False) if int(a[0]) == gap)

    def drawn_edges(self):
        """(edge, (x1, y1), (x2, y2), t, flip): t is where along the edge its labels go (clear of the skip
        arcs), flip whether its one label goes under it."""
        for (edge, a, b), (t, flip) in zip(self._drawn(skip=False), self.spots):
            yield edge, a, b, (t if edge.above or edge.below else 0.5), flip

    def skip_arcs(self):
        """(edge, Bézier control points in cm) of every drawn skip connection."""
        for edge, a, b in self._drawn(skip=True):
            yield edge, skip_curve(self.cm(a), self.cm(b), TIKZ_R_CM, SKIP_DEPTH * self.dy_cm,
                                   skip_angle(self.layers, edge))

    # geometry in cm, as TikZ draws it (the SVG is drawn in the same proportions)
    def cm(self, p: tuple[float, float]) -> tuple[float, float]:
        return self.xs[int(p[0])], p[1] * self.dy_cm

    @property
    def width_cm(self) -> float:
        return sum(self.gaps) if len(self.layers) > 1 else 0.0

    def _edge_labels(self, e: Edge, a, b) -> EdgeLabels:
        either = bool(e.above) != bool(e.below) and not (e.above or e.below).colour  # a weight, not a value
        return EdgeLabels(self.cm(a), self.cm(b), label_size(e.above), label_size(e.below), either, LABEL_GAP_CM)

    def _node_boxes(self) -> list[Box2]:
        """Every node, and the value written under it (a worked example's), as a box in cm."""
        half, boxes = 0.42, []
        for i, index, x, y in self.nodes():
            if index is None:
                continue
            cx, cy = self.cm((x, y))
            boxes.append((cx - half, cy - half, cx + half, cy + half))
            node = self.layers[i][index]
            if node.note:
                w = label_width(node.note) / 2
                boxes.append((cx - w, cy + half, cx + w, cy + half + text_height(node.note)))
            if node.over:
                w = max(map(label_width, node.over)) / 2
                boxes.append((cx - w, cy - half - over_height(node), cx + w, cy - half))
        return boxes


@lru_cache(maxsize=32)
def _fitted(layers: tuple[tuple[Node, ...], ...], edges: tuple[Edge, ...], spread: float):
    """(gaps, row height, label spots) of a drawing, fitted once (`_Layout._fit`)."""
    lay = _Layout([list(layer) for layer in layers], list(edges), spread, fit=False)
    spots = lay._fit()
    return tuple(lay.gaps), lay.dy_cm, tuple(spots)


# how much a crowded gap is widened, and the rows moved apart: a page has room across (up to FIT_WIDTH_CM)
# more than down, so the rows move apart only when no width will do
FIT_WIDER = (1.1, 1.2, 1.3, 1.45, 1.6, 1.8, 2.0, 2.25)
FIT_TALLER = (1.0, 1.15, 1.3, 1.45, 1.6, 1.8)
FIT_MOST_LABELS = 40  # a drawing with more labelled edges (two 6-unit layers) is not fitted: no page has room
FIT_WIDTH_CM = 14.6  # a page's 15.6 cm of text less a neuron and some room: the widest a crowded picture is drawn
LABELLED_GAP_CM = 3.0  # the narrowest a gap with labels that are not crowded is drawn to make room
BARE_GAP_CM = 2.0  # the narrowest a gap without labels (the outputs into the loss) is drawn


TIKZ_R_CM = 0.4  # a neuron's radius (minimum size=8mm)
TIKZ_BOX_CM = 0.3  # half a constant's side (minimum size=6mm)
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


LABEL_TS = [0.1 + 0.025 * i for i in range(31)]  # candidate places along an edge, 0.1 … 0.85


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
    either_side: bool = False  # its one label may go under the edge instead (a network's weight, not a value)
    gap: float = 0.04  # cm between a label and its edge (a network's labels: LABEL_GAP_CM)


Spot = tuple[float, bool]  # where along an edge (0 … 1) its labels go, and whether they change sides


def place_labels(edges: list[EdgeLabels], obstacles: list[Box2], prefer: float = 0.35,
                 lines: list[tuple[Point, Point]] = ()) -> list[Spot]:
    """_place, computed once for a drawing's SVG and its TikZ."""
    return list(_place(tuple(edges), tuple(obstacles), prefer, tuple(lines)))


@lru_cache(maxsize=32)
def _place(edges: tuple[EdgeLabels, ...], obstacles: tuple[Box2, ...], prefer: float,
           lines: tuple[tuple[Point, Point], ...]) -> tuple[Spot, ...]:
    """Where along each edge (0 … 1) its labels go, and on which side when either will do (a label
    goes under its edge only to keep clear of something): the candidate whose labels overlap no other label
    and no node (obstacles), cross no other edge and keep EDGE_ROOM from them (and from unlabelled lines,
    such as skip arcs), then the one nearest `prefer`. Greedy, the most constrained edges first (those
    with the fewest places clear of every line and node), then REPLACE_ROUNDS rounds that move each edge's
    labels again knowing where all the others are; a label is the rectangle it is drawn as, turned along
    its edge."""
    # each edge's options, cheapest alone first (other labels only add to a cost)
    options = [sorted(_options(n, edges, obstacles, prefer, lines), key=lambda option: option[1])
               for n in range(len(edges))]
    placed: dict[int, tuple] = {}  # edge -> its chosen option
    chosen: list = [None] * len(edges)

    def cost(n: int, option) -> float:
        _spot, fixed, roomy, box = option
        return fixed + 60 * sum(_sat(q, p) for k, (_s, _f, quads_k, box_k) in placed.items()
                                if k != n and _boxes_meet(box, box_k) for q in roomy for p in quads_k)

    def cheapest(n: int):
        best, least = None, math.inf
        for option in options[n]:
            if option[1] >= least:
                break
            total = cost(n, option)
            if total < least:
                best, least = option, total
        return best

    # the most constrained first: the edges with the fewest places clear of every line and node
    order = sorted(range(len(edges)), key=lambda n: sum(option[1] < 1 for option in options[n]))
    for round_ in range(1 + REPLACE_ROUNDS):
        for n in order:
            if round_ and cost(n, chosen[n]) < 1:  # clear of every line, label and node: stays
                continue
            chosen[n] = placed[n] = cheapest(n)
    return tuple(option[0] for option in chosen)


def _bounds(quads: list[Quad]) -> Box2:
    xs, ys = [x for q in quads for x, _ in q], [y for q in quads for _, y in q]
    return (min(xs), min(ys), max(xs), max(ys)) if xs else (0.0, 0.0, 0.0, 0.0)


def _boxes_meet(p: Box2, q: Box2) -> bool:
    return p[0] < q[2] and q[0] < p[2] and p[1] < q[3] and q[1] < p[3]


def _options(n: int, edges, obstacles, prefer: float, lines):
    """Edge n's candidate places: (spot, its cost apart from other labels, its labels' quads with LABEL_ROOM,
    their bounds)."""
    e = edges[n]
    segments = [(d.a, d.b) for k, d in enumerate(edges) if k != n] + list(lines)
    nodes = _shapes([((x0, y0), (x1, y0), (x1, y1), (x0, y1)) for x0, y0, x1, y1 in obstacles])
    ts = np.array(LABEL_TS)
    out = []
    for flip in ((False, True) if e.either_side else (False,)):
        near = _segment_hits(e, ts, flip, EDGE_ROOM, segments)
        crossings = _segment_hits(e, ts, flip, 0.0, segments)
        for t, near_t, crossings_t in zip(LABEL_TS, near.tolist(), crossings.tolist()):
            blocked = _hits(_label_quads(e, t, flip=flip), nodes)
            # a line through a label still reads; a label on a label does not
            fixed = 10 * crossings_t + 10 * near_t + 80 * blocked + 0.5 * (abs(t - prefer) + 0.3 * flip)
            roomy = _label_quads(e, t, room=LABEL_ROOM, flip=flip)
            out.append(((t, flip), fixed, roomy, _bounds(roomy)))
    return out


def _segment_hits(e: EdgeLabels, ts, flip: bool, room: float, segments) -> np.ndarray:
    """For each place t in ts, how many (label, segment) pairs overlap, the labels of e at t grown by
    `room` (as _label_quads draws them; the same test as _sat, for all places and segments at once): in
    the edge's own frame (along it, across it) each label is an upright box, and a segment misses it when
    their extents part along either axis or the box lies wholly on one side of the segment's line."""
    if not segments:
        return np.zeros(len(ts), dtype=int)
    (x1, y1), (x2, y2) = e.a, e.b
    length = math.hypot(x2 - x1, y2 - y1) or 1.0
    u = np.array([(x2 - x1) / length, (y2 - y1) / length])
    nrm = np.array([u[1], -u[0]])  # the "above" side (y downwards)
    ends = np.array(segments, dtype=float)  # (S, 2 ends, 2)
    along, across = ends @ u, ends @ nrm  # (S, 2) each
    start_along, start_across = np.dot(e.a, u), np.dot(e.a, nrm)
    count = np.zeros(len(ts), dtype=int)
    for size, sign in ((e.above, -1 if flip else 1), (e.below, 1 if flip else -1)):
        if not size:
            continue
        w, h = size[0] / 2 + room, size[1] / 2 + room
        cx = (start_along + ts * length)[:, None]  # (K, 1)
        cy = start_across + sign * (size[1] / 2 + e.gap)
        apart = ((along.min(axis=1) >= cx + w) | (along.max(axis=1) <= cx - w)
                 | (across.min(axis=1) >= cy + h) | (across.max(axis=1) <= cy - h))
        mx, my = -(across[:, 1] - across[:, 0]), along[:, 1] - along[:, 0]  # the segment's normal
        side = mx * (cx - along[:, 0]) + my * (cy - across[:, 0])
        apart |= np.abs(side) >= w * np.abs(mx) + h * np.abs(my)
        count += (~apart).sum(axis=1)
    return count


def _shapes(polygons) -> list[tuple[tuple[Point, ...], Box2]]:
    """Polygons (or segments) with their bounds, for _hits."""
    return [(p, _bounds([p])) for p in polygons]


def _hits(quads: list[Quad], shapes) -> int:
    """How many (quad, shape) pairs overlap."""
    count = 0
    for q in quads:
        box = _bounds([q])
        count += sum(1 for shape, bounds in shapes if _boxes_meet(box, bounds) and _sat(q, shape))
    return count


def unclear(edges: list[EdgeLabels], spots: list[Spot], obstacles: list[Box2],
            lines: list[tuple[Point, Point]] = ()) -> list[int]:
    """The edges whose labels, where `spots` put them, come within EDGE_ROOM of another edge or line,
    or overlap a node or another edge's labels."""
    nodes = [((x0, y0), (x1, y0), (x1, y1), (x0, y1)) for x0, y0, x1, y1 in obstacles]
    quads = [_label_quads(e, t, room=LABEL_ROOM, flip=flip) for e, (t, flip) in zip(edges, spots)]
    out = []
    for n, (e, (t, flip)) in enumerate(zip(edges, spots)):
        clear = _label_quads(e, t, room=EDGE_ROOM, flip=flip)
        segments = [(d.a, d.b) for k, d in enumerate(edges) if k != n] + list(lines)
        if (any(_meet(q, seg) for q in clear for seg in segments)
                or any(_meet(q, p) for q in quads[n] for p in nodes)
                or any(_meet(q, p) for q in quads[n] for k, qs in enumerate(quads) if k != n for p in qs)):
            out.append(n)
    return out


REPLACE_ROUNDS = 3
Quad = tuple[Point, Point, Point, Point]
LABEL_ROOM = 0.04  # cm kept free around a label from another label (glyphs stand out of the estimated box)
EDGE_ROOM = 0.09  # cm kept free around a label from the other edges
LABEL_GAP_CM = 0.1  # between a label's box and its own edge (TikZ: outer sep; a ψ's tail stays off the line)
LABEL_GAP_PT = LABEL_GAP_CM / 2.54 * 72.27


def _label_quads(e: EdgeLabels, t: float, room: float = 0.0, flip: bool = False) -> list[Quad]:
    """The rectangles of an edge's labels at t, turned along the edge as they are drawn (`room` more
    on every side; `flip`: above and below change places)."""
    (x1, y1), (x2, y2) = e.a, e.b
    length = math.hypot(x2 - x1, y2 - y1) or 1.0
    ux, uy = (x2 - x1) / length, (y2 - y1) / length  # along the edge
    nx, ny = uy, -ux  # the normal on the "above" side (y downwards)
    px, py = x1 + t * (x2 - x1), y1 + t * (y2 - y1)
    quads = []
    for size, sign in ((e.above, -1 if flip else 1), (e.below, 1 if flip else -1)):
        if size:
            w, h = size[0] / 2 + room, size[1] / 2 + room
            off = size[1] / 2 + e.gap
            cx, cy = px + sign * nx * off, py + sign * ny * off
            quads.append(tuple((cx + a * ux * w + b * nx * h, cy + a * uy * w + b * ny * h)
                               for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1))))
    return quads


def _meet(p, q) -> bool:
    """Whether two rectangles (or a rectangle and a segment) overlap: far apart (most pairs) when their
    upright bounds already part, else by _sat."""
    return _boxes_meet(_bounds([p]), _bounds([q])) and _sat(p, q)


def _sat(p, q) -> bool:
    """No separating axis between two rectangles (or a rectangle and a segment): a rectangle's first two
    sides give all its axes (the other two are parallel to them), a segment's one side its one."""
    for poly in (p, q):
        for i in range(1 if len(poly) == 2 else 2):
            (x1, y1), (x2, y2) = poly[i], poly[i + 1]
            ax, ay = y1 - y2, x2 - x1
            a = [x * ax + y * ay for x, y in p]
            b = [x * ax + y * ay for x, y in q]
            if max(a) <= min(b) or max(b) <= min(a):
                return False
    return True


def over_height(node: Node) -> float:
    """The height in cm of the labels written over a node, one under the other."""
    return sum(map(text_height, node.over))


def text_height(label: Label) -> float:
    """A \\scriptsize label's height in cm with its inner sep: W^{[1]}_{11}, a superscript over an index,
    stands taller than b_1 (LuaLaTeX, inner sep included: 11.6 pt against 7.9 pt)."""
    return 0.42 if label.sup and label.sub else 0.34 if label.sup else 0.32


# \scriptsize glyph widths in pt, as LuaLaTeX sets them in CMU Serif (math italic letters, cmr7 digits;
# indices and superscripts at 5 pt), by the kind of character
SCRIPTSIZE_PT = {"wide": 8.6, "upper": 6.5, "lower": 4.6, "digit": 4.0, "point": 2.4, "=": 10.7, "minus": 6.3,
                 " ": 0.0}
SCRIPT_PT = {"digit": 3.6, "bracket": 2.2, "comma": 1.7}
PT_CM = 2.54 / 72.27


def _glyph_pt(c: str) -> float:
    kind = ("wide" if c in "WM" else "upper" if c.isupper() else "digit" if c.isdigit() else "point" if c in ".,"
            else "minus" if c in "-−" else c if c in SCRIPTSIZE_PT else "lower")
    return SCRIPTSIZE_PT[kind]


def _script_pt(script: str) -> float:
    return sum(SCRIPT_PT["bracket" if c in "[]()" else "comma" if c in ",." else "digit"] for c in script) + 0.4


def label_size(label: Label | None) -> tuple[float, float] | None:
    """A \\scriptsize label's (width, height) in cm, as place_labels takes it; None for no label."""
    return (label_width(label), text_height(label)) if label else None


def label_width(label: Label) -> float:
    """A \\scriptsize label's width in cm with its inner sep (1 pt a side), as LuaLaTeX sets it (within
    0.03 cm for W^{[1]}_{11}, b^{[2]} = 0,6 or 0,0004386): a superscript and an index stand one over the other."""
    scripts = max(_script_pt(label.sup) if label.sup else 0.0, _script_pt(label.sub) if label.sub else 0.0)
    return (sum(map(_glyph_pt, label.text + label.tail)) + scripts + 2.0) * PT_CM


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
    top = y - (SVG_R * 0.8 if node.shape == "box" else SVG_R) - 5
    for k, label in enumerate(reversed(node.over)):  # the last one nearest the node
        note += _svg_text(label, x, top - 15 * k, 12)
    size = min(16, int(2 * SVG_R * 0.9 / (0.62 * max(1, len(node.label.plain)))))  # LOSS fits its circle
    return shape + _svg_text(node.label, x, y + size / 3, size) + note


def _svg_edge_label(label: Label, x: float, y: float, angle: float, above: bool, gap_cm: float = LABEL_GAP_CM) -> str:
    gap = (gap_cm - 0.04) * SVG_PX_PER_CM  # off its own edge as in TikZ (-6 and 15 keep 0.04 cm)
    dy = -6 - gap if above else 15 + gap
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
    dy = lay.dy_cm * SVG_PX_PER_CM  # the TikZ picture's proportions

    over_px = 15 * max((len(n.over) for layer in layers for n in layer), default=0)

    def px(x: float, y: float) -> Point:
        cx, cy = lay.cm((x, y))
        return SVG_MARGIN + SVG_R + cx * SVG_PX_PER_CM, SVG_MARGIN + SVG_R + over_px + cy * SVG_PX_PER_CM

    width = 2 * (SVG_MARGIN + SVG_R) + lay.width_cm * SVG_PX_PER_CM
    arcs = SKIP_DEPTH * dy if any(e.skip for e in edges) else 0  # the lowest row's skip arcs dip under it
    height = 2 * (SVG_MARGIN + SVG_R) + (lay.height - 1) * dy + arcs + over_px  # over_px: labels over a top node
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" {SVG_FONT}>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>',
    ]
    if title:
        out.append(f"<title>{escape(title)}</title>")
    labels = []
    for edge, a, b, t, flip in lay.drawn_edges():
        (x1, y1), (x2, y2) = px(*a), px(*b)
        d = math.hypot(x2 - x1, y2 - y1)
        ux, uy = (x2 - x1) / d, (y2 - y1) / d
        out.append(f'<line x1="{x1 + ux * SVG_R:.1f}" y1="{y1 + uy * SVG_R:.1f}" x2="{x2 - ux * SVG_R:.1f}" '
                   f'y2="{y2 - uy * SVG_R:.1f}" stroke="#555" marker-end="url(#arrow)"/>')
        mx, my, angle = x1 + (x2 - x1) * t, y1 + (y2 - y1) * t, math.degrees(math.atan2(y2 - y1, x2 - x1))
        labels += [_svg_edge_label(lab, mx, my, angle, above != flip)
                   for lab, above in ((edge.above, True), (edge.below, False)) if lab]
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
# The labels' size, fixed: the layout measures them at 7 pt (SCRIPTSIZE_PT; scripts at 5 pt), and \\scriptsize
# would be 8 pt in the lectures' 11 pt class, every label an eighth wider than the room kept for it.
LABEL_FONT = r"\fontsize{7}{8.5}\selectfont"


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


def _border(node: Node, ux: float, uy: float) -> float:
    """How far from a node's centre its border is in the direction (ux, uy), in cm: a neuron is a circle
    of TIKZ_R_CM, a constant a square of 2 × TIKZ_BOX_CM."""
    return TIKZ_R_CM if node.shape != "box" else TIKZ_BOX_CM / max(abs(ux), abs(uy))


def tikz_pos(a: Point, b: Point, t: float, source: Callable[[float, float], float],
             target: Callable[[float, float], float]) -> float:
    """TikZ's pos of the point at t of the way from centre a to centre b: TikZ measures an edge from the
    source's border to the target's. `source` and `target` give how far each border is from its centre in
    a direction (ux, uy), in cm (a network's nodes: `_border`; a graph's boxes: their own)."""
    length = math.hypot(b[0] - a[0], b[1] - a[1])
    ux, uy = (b[0] - a[0]) / length, (b[1] - a[1]) / length
    start, end = source(ux, uy), length - target(ux, uy)
    return (t * length - start) / (end - start)


def _tikz_pos(a: Point, b: Point, t: float, source: Node, target: Node) -> float:
    """tikz_pos between two of a network's nodes."""
    return tikz_pos(a, b, t, partial(_border, source), partial(_border, target))


def layered_tikz(layers: list[list[Node]], edges: list[Edge], spread: float = 1.0) -> str:
    """The drawing as a `tikzpicture` (needs \\usepackage{tikz}; see the module docstring)."""
    lay = _Layout(layers, edges, spread)
    out = [
        r"\begin{tikzpicture}[x=1cm, y=-1cm, >=stealth,"
        r" neuron/.style={circle, draw, minimum size=8mm, inner sep=1.5pt},"  # LOSS fits its circle
        r" constant/.style={rectangle, draw, fill=black!5, minimum size=6mm, inner sep=0pt},"
        rf" param/.style={{font={LABEL_FONT}, fill=white, fill opacity=0.85, text opacity=1, inner sep=1pt,"
        rf" outer sep={LABEL_GAP_PT:.1f}pt, sloped}},"
        r" skip/.style={dashed, thick, blue!60!black}]"
    ]
    for i, index, x, y in lay.nodes():
        x, y = lay.cm((x, y))
        if index is None:
            out.append(rf"\node at ({x:.2f}, {y:.2f}) {{$\vdots$}};")
            continue
        node = layers[i][index]
        style = "constant" if node.shape == "box" else "neuron"
        note = (rf", label={{[text={TIKZ_COLOURS[node.note.colour]}, font={LABEL_FONT}]below:{{${node.note.tex}$}}}}"
                if node.note else "")
        if node.over:
            lines = r"\\".join(rf"\textcolor{{{TIKZ_COLOURS[lab.colour]}}}{{${lab.tex}$}}" for lab in node.over)
            note += rf", label={{[align=center, font={LABEL_FONT}]above:{{{lines}}}}}"
        out.append(rf"\node[{style}{note}] ({_node_name(i, index)}) at ({x:.2f}, {y:.2f}) {{${node.label.tex}$}};")
    for edge, a, b, t, flip in lay.drawn_edges():
        sides = ("below", "above") if flip else ("above", "below")
        pos = _tikz_pos(lay.cm(a), lay.cm(b), t, *(layers[i][k] for i, k in (edge.source, edge.target)))
        labels = "".join(
            rf" node[param, {side}, pos={pos:.3f}{_tikz_colour(lab)}] {{${lab.tex}$}}"
            for lab, side in ((edge.above, sides[0]), (edge.below, sides[1]))
            if lab
        )
        out.append(rf"\draw[->] ({_node_name(*edge.source)}) --{labels} ({_node_name(*edge.target)});")
    for edge, curve in lay.skip_arcs():
        out.append(_tikz_skip(edge, curve, layers))
    out.append(r"\end{tikzpicture}")
    return "\n".join(out)
