"""`kind: conv`: a convolution layer, 1-D or 2-D, with channels, stride and zero padding (CS231n notation).

Forward (indices from 0, as in the CS231n notes): K filters w_{k,c,u} of
width F over C input channels, stride S, padding P:
y_{k,i} = b_k + Σ_c Σ_u w_{k,c,u} x_{c, S i + u − P} (2-D: a second spatial
index j with offset v), and L = ½ Σ (y − t)². The engine derives ∂L/∂w (a
correlation of the input with the upstream gradient: every output position
uses the same weights, so their contributions add up), ∂L/∂b and ∂L/∂x (the
full convolution of the upstream gradient with the flipped kernel, cropped by P at each end). Entries
outside the input are the zero padding; outside the kernel, zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.meta import N_
from derive.render.jinja import Row
from derive.core.yamlload import Doc
from derive.kinds import indexform as engine
from . import common
from derive.kinds.indexform import Quantity, index, size

KIND = "conv"
KEYS = ("kind", "title", "dims", "channels", "size", "filters", "kernel", "stride", "padding", "boxes")
MAX_SIZE, MAX_CHANNELS = {1: 12, 2: 6}, 3

f, c, i, j, u, v, k, d, m, q, r, s = (index(x) for x in "fcijuvkdmqrs")


@dataclass(frozen=True)
class ConvSpec:
    file: str
    title: dict
    dims: int
    channels: int
    size: int
    filters: int
    kernel: int
    stride: int
    padding: int
    boxes: str = "key"  # the key results are framed, unless the spec says `boxes: none`

    @property
    def out(self) -> int:
        return (self.size - self.kernel + 2 * self.padding) // self.stride + 1


def parse(doc: Doc) -> ConvSpec:
    read = common.Reader(doc, KEYS)
    dims = read.int("dims", 1, 1, 2)
    spec = ConvSpec(doc.file, doc.title(), dims, read.int("channels", 1, 1, MAX_CHANNELS),
                    read.int("size", 5 if dims == 1 else 4, 1, MAX_SIZE[dims]), read.int("filters", 1, 1, MAX_CHANNELS),
                    read.int("kernel", 3, 1, MAX_SIZE[dims]), read.int("stride", 1, 1, 4), read.int("padding", 0, 0, 3),
                    doc.boxes() or "key")
    span = spec.size - spec.kernel + 2 * spec.padding
    if span < 0:
        raise doc.error(("kernel",), f"the kernel ({spec.kernel}) is wider than the padded input "
                                     f"({spec.size} + 2·{spec.padding})")
    if span % spec.stride:
        raise doc.error(("stride",), f"the filters do not fit: (size − kernel + 2·padding)/stride + 1 = "
                                     f"({spec.size} − {spec.kernel} + 2·{spec.padding})/{spec.stride} + 1 is not a "
                                     "whole number; change the stride or the padding")
    return spec


SIZE_NAMES = {1: ("C", "N", "K", "F", "S", "P", "N_out"), 2: ("C", "H", "K", "F", "S", "P", "H_out")}


def build(spec: ConvSpec) -> engine.Model:
    C, N, K, F, S, P, M = (size(x) if x not in "SP" else sp.Symbol(x, integer=True, nonnegative=True)
                           for x in SIZE_NAMES[spec.dims])
    x, w, b, y, t = (sp.IndexedBase(n) for n in "xwbyt")
    two = spec.dims == 2
    space = ((0, M - 1), (0, M - 1)) if two else ((0, M - 1),)
    inputs = ((0, N - 1), (0, N - 1)) if two else ((0, N - 1),)
    kernel = ((0, F - 1), (0, F - 1)) if two else ((0, F - 1),)
    out_idx, offsets = ((i, j), (u, v)) if two else ((i,), (u,))
    pixel = tuple(S * o + e - P for o, e in zip(out_idx, offsets))
    body = w[(f, c, *offsets)] * x[(c, *pixel)]
    for e, (lo, hi) in reversed(list(zip(offsets, kernel))):
        body = sp.Sum(body, (e, lo, hi))
    quantities = {
        "x": Quantity("x", "input", ((1, C), *inputs), wrt=(d, m, q) if two else (d, m)),
        "t": Quantity("t", "target", ((1, K), *space)),
        "w": Quantity("w", "param", ((1, K), (1, C), *kernel), wrt=(k, d, r, s) if two else (k, d, r)),
        "b": Quantity("b", "param", ((1, K),), wrt=(k,)),
        "y": Quantity("y", "node", ((1, K), *space), (f, *out_idx), b[f] + sp.Sum(body, (c, 1, C)),
                      wrt=(k, m, q) if two else (k, m)),
    }
    err = (y[(f, *out_idx)] - t[(f, *out_idx)]) ** 2 / 2
    for o, (lo, hi) in reversed(list(zip(out_idx, space))):
        err = sp.Sum(err, (o, lo, hi))
    quantities["L"] = Quantity("L", "loss", (), (), sp.Sum(err, (f, 1, K)))
    sizes = dict(zip((C, N, K, F, S, P, M), (spec.channels, spec.size, spec.filters, spec.kernel, spec.stride,
                                             spec.padding, spec.out)))
    model = engine.Model(quantities, "L", sizes)
    engine.backward(model, ["y", "w", "b", "x"])
    return model


# -- the kind interface ------------------------------------------------------------------------------


def derive(spec: ConvSpec) -> common.Outcome:
    model = build(spec)
    return common.Outcome(spec, model, common.verified(spec, model))


def printer_settings(outcome: common.Outcome) -> dict:
    return {"partials": outcome.model.partials}


def context(outcome: common.Outcome, lang: str) -> dict:
    model, spec = outcome.model, outcome.spec
    qs, g = model.quantities, model.gradients
    names = SIZE_NAMES[spec.dims]
    symbols = {str(sym): sym for sym in model.sizes}
    out = symbols[names[-1]]
    N, F, S, P = (symbols[x] for x in (names[1], "F", "S", "P"))
    return {
        "title": spec.title.get(lang),
        "boxes": spec.boxes,
        "dims": spec.dims,
        "sizes": [Row([sym, sp.Integer(val)]) for sym, val in model.sizes.items() if sym != out],
        "out": Row([out, (N - F + 2 * P) / S + 1, sp.Integer(spec.out)]),
        "forward": Row([qs["y"].element(qs["y"].indices), qs["y"].definition]),
        "loss": Row([sp.Symbol("L"), qs["L"].definition]),
        "dy": Row([g["y"].element(), g["y"].done]),
        "dw": Row([g["w"].element(), g["w"].chain, g["w"].done], key=True),
        "db": Row([g["b"].element(), g["b"].done], key=True),
        "bias": qs["b"].element(g["b"].indices),  # b_k, named in the sentence before its gradient
        "dx": Row([g["x"].element(), g["x"].chain, g["x"].done], key=True),
        "examples": [_example(model, "w"), _example(model, "x")],
        "full": _full_convolution(spec, N, F, S, P, out),
        "check": outcome.check,
    }


def _full_convolution(spec: ConvSpec, N, F, S, P, out) -> dict:
    """How the input's gradient relates to the full convolution, for this spec's padding and stride.

    The upstream gradient (spread out by S − 1 zeros when S > 1) has (N_out − 1)S + 1 entries; its full
    convolution with the flipped kernel has F − 1 more. The length is computed from the output size, and
    it is the padded input's length N + 2P, so the input's gradient is that full convolution with P entries
    cut off at each end (they belong to the padding zeros); with S = 1 and 2P = F − 1 it is as long as the
    input, a "same" convolution.
    """
    width = (spec.size - spec.kernel + 2 * spec.padding) // spec.stride + 1
    length = sp.expand(((N - F + 2 * P) / S + 1 - 1) * S + F)  # (N_out − 1)S + F, with N_out's formula
    full = (width - 1) * spec.stride + spec.kernel
    assert length == N + 2 * P and full == spec.size + 2 * spec.padding, (length, full)
    shown = sp.Add(sp.Mul(sp.Add(out, -1, evaluate=False), S, evaluate=False), F, evaluate=False)
    return {"length": Row([shown, length, sp.Integer(full)]), "crop": spec.padding, "stride": spec.stride,
            "same": spec.stride == 1 and 2 * spec.padding == spec.kernel - 1 and spec.padding > 0}


def _example(model: engine.Model, name: str) -> Row:
    return engine.example(model, name)


def to_json(outcome: common.Outcome) -> dict:
    return common.to_json(KIND, outcome)


# -- figure: a 1-D convolution as connections (first channel, first filter) ------------------------


def figure(outcome: common.Outcome, lang: str = "en"):
    """Input positions (padding as boxes 0) on the left, outputs on the right, each edge labelled by its weight.

    A 2-D convolution has too many connections to read: it is drawn as grids (`grid_figure`).
    """
    from derive.render.diagram import Edge, Figure, Layered, Node, name_label, number_label

    spec = outcome.spec
    if spec.dims != 1:
        return grid_figure(outcome, lang)
    cells = list(range(-spec.padding, spec.size + spec.padding))
    inputs = [Node(number_label("0"), "box") if not 0 <= z < spec.size else Node(name_label(f"x_1_{z}")) for z in cells]
    outputs = [Node(name_label(f"y_1_{o}")) for o in range(spec.out)]
    edges = [Edge((0, spec.stride * o + w - spec.padding + spec.padding), (1, o), above=name_label(f"w_1_1_{w}"))
             for o in range(spec.out) for w in range(spec.kernel)]
    return Figure(Layered([inputs, outputs], edges), "y")


# -- figure: a 2-D convolution as grids (first channel, first filter) -------------------------------

FIGURE_INPUT = N_("Input %(x)s with zero padding %(P)s")
FIGURE_KERNEL = N_("Kernel %(w)s (shared)")
FIGURE_OUTPUT = N_("Output %(y)s")
FIGURE_SLICE = N_("channel %(c)s of %(C)s, filter %(f)s of %(K)s")
FIGURE_LEGEND = N_("In green, the forward pass: the receptive field of one output element (the window of the "
                   "input the kernel covers; dashed, its next position) and the value computed from it. In red, "
                   "the gradient flowing back from that element: to every weight of the kernel and to every input "
                   "in its receptive field (the zero padding receives none).")


def grid_figure(outcome: common.Outcome, lang: str = "en"):
    """The padded input, the kernel and the output of channel 1 and filter 1 as grids: one output element,
    its receptive field in the input (green), and the gradient it sends back to the kernel and the input (red).

    The element is in the first output row, in the middle column, so a padded input shows padding in its
    field. Every label is computed from the model: the window x_{1, S i + u − P, S j + v − P} at that
    element, and the two terms the element contributes to ∂L/∂w and ∂L/∂x (SymPy's derivative of its
    definition, the Kronecker deltas summed out).
    """
    from derive.render import grid
    from derive.render.i18n import translations
    from derive.render.printing import latex
    from derive.render.tex import escape

    spec, model = outcome.spec, outcome.model
    _ = translations(lang).gettext
    qs, sizes = model.quantities, model.sizes
    y_q = qs["y"]
    x_b, w_b, y_b = (qs[n].base for n in "xwy")
    where = (sp.Integer(0), sp.Integer((spec.out - 1) // 2))
    at = {f: sp.Integer(1), **dict(zip(y_q.indices[1:], where))}
    number = {sym: sp.Integer(val) for sym, val in sizes.items() if str(sym) in ("S", "P")}
    definition = y_q.definition.xreplace({**at, **number})
    total = next(iter(definition.atoms(sp.Sum)))  # Σ_v Σ_u Σ_c: one channel is written without its Σ
    shown_def = definition.xreplace({total: sp.Sum(total.function.xreplace({c: sp.Integer(1)}),
                                                   *[lim for lim in total.limits if lim[0] != c])}) \
        if spec.channels == 1 else definition
    element = y_b[(1, *where)]
    m_, q_, r_, s_ = (qs["x"].wrt[1], qs["x"].wrt[2], qs["w"].wrt[2], qs["w"].wrt[3])
    full = definition.xreplace({sym: sp.Integer(val) for sym, val in sizes.items()})
    to_w = engine.sum_out(sp.diff(full, w_b[1, 1, r_, s_]))
    to_x = engine.sum_out(sp.diff(full, x_b[1, m_, q_]))
    window = next(a for a in sp.preorder_traversal(shown_def) if isinstance(a, sp.Indexed) and a.base == x_b)

    def m(expr):
        return grid.math(expr, latex(expr))

    def upstream(factor):
        return grid.Text(rf"$\partial L/\partial {latex(element)}\, {latex(factor)}$",
                         (("∂L/∂", "", ""), *grid.runs_of(element), (" ", "", ""), *grid.runs_of(factor)))

    P, S, F = spec.padding, spec.stride, spec.kernel
    rows = [S * where[0] + u_ for u_ in range(F)]  # padded positions of the field
    cols = [S * where[1] + v_ for v_ in range(F)]
    cells = []
    for a in range(spec.size + 2 * P):
        row = []
        for b in range(spec.size + 2 * P):
            inside = P <= a < spec.size + P and P <= b < spec.size + P
            field = a in rows and b in cols
            if not inside:
                row.append(grid.Cell(grid.Text("0", (("0", "", ""),)), "forward" if field else "padding"))
            else:
                row.append(grid.Cell(m(x_b[1, a - P, b - P]), "forward" if field else "",
                                     "backward" if field else ""))
        cells.append(row)
    slides = cols[0] + S + F <= spec.size + 2 * P
    inputs = grid.Panel(grid.phrase(_(FIGURE_INPUT), escape, x=m(sp.Symbol("x")),
                                    P=grid.Text(f"$P = {P}$", (("P = " + str(P), "", ""),))),
                        cells, notes=[_forward_label(element, shown_def).coloured("forward")],
                        window=(rows[0], cols[0] + S, F, F) if slides else None)
    drawn = [] if spec.channels == spec.filters == 1 else [  # which slice of the arrays the grids show
        grid.phrase(_(FIGURE_SLICE), escape, **{k: grid.Text(f"${v}$", ((str(v), "", ""),)) for k, v in
                                                (("c", 1), ("C", spec.channels), ("f", 1), ("K", spec.filters))})]
    kernel = grid.Panel(grid.phrase(_(FIGURE_KERNEL), escape, w=m(sp.Symbol("w"))),
                        [[grid.Cell(m(w_b[1, 1, u_, v_]), "forward", "backward") for v_ in range(F)] for u_ in range(F)],
                        notes=drawn)
    out_cells = [[grid.Cell(m(y_b[1, a, b]), *(("forward", "backward") if (a, b) == where else ("", "")))
                  for b in range(spec.out)] for a in range(spec.out)]
    output = grid.Panel(grid.phrase(_(FIGURE_OUTPUT), escape, y=m(sp.Symbol("y"))), out_cells)
    arrows = [grid.Arrow(0, 1, m(window), "forward", 0.3),
              grid.Arrow(1, 2, m(element), "forward", 0.3),
              grid.Arrow(2, 1, upstream(to_w), "backward", 0.7),
              grid.Arrow(1, 0, upstream(to_x), "backward", 0.7)]
    return grid.GridFigure([inputs, kernel, output], arrows, FIGURE_LEGEND, "L")


def _forward_label(element: sp.Expr, definition: sp.Expr):
    """y_{1,0,1} = b_1 + Σ_{u,v} x_{1,u−1,v} w_{1,1,u,v}: the sum's indices under one Σ (a note is one line)."""
    from derive.render import grid
    from derive.render.printing import latex

    total = next(iter(definition.atoms(sp.Sum)))
    rest = definition - total
    names = ",".join(str(lim[0]) for lim in reversed(total.limits))
    tex = rf"{latex(element)} = {latex(rest)} + \sum_{{{names}}} {latex(total.function)}"
    return grid.Text(f"${tex}$", tuple(grid.runs_of(sp.Eq(element, definition, evaluate=False))))
