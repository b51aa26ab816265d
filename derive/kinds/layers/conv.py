"""`kind: conv`: a convolution layer, 1-D or 2-D, with channels, stride and zero padding (CS231n notation).

Forward (indices from 0, as in the CS231n notes): K filters w_{k,c,u} of
width F over C input channels, stride S, padding P:
y_{k,i} = b_k + Σ_c Σ_u w_{k,c,u} x_{c, S i + u − P} (2-D: a second spatial
index j with offset v), and L = ½ Σ (y − t)². The engine derives ∂L/∂w (a
correlation of the input with the upstream gradient: every output position
uses the same weights, so their contributions add up), ∂L/∂b and ∂L/∂x (a
full convolution of the upstream gradient with the flipped kernel). Entries
outside the input are the zero padding; outside the kernel, zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.render.jinja import Row
from derive.core.yamlload import Doc
from . import common, engine
from .engine import Quantity, index, size

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
        "dx": Row([g["x"].element(), g["x"].chain, g["x"].done], key=True),
        "examples": [_example(model, "w"), _example(model, "x")],
        "check": outcome.check,
    }


def _example(model: engine.Model, name: str) -> Row:
    return engine.example(model, name)


def to_json(outcome: common.Outcome) -> dict:
    return common.to_json(KIND, outcome)


# -- figure: a 1-D convolution as connections (first channel, first filter) ------------------------


def figure(outcome: common.Outcome, lang: str = "en"):
    """Input positions (padding as boxes 0) on the left, outputs on the right, each edge labelled by its weight.

    Only 1-D convolutions get a figure: a 2-D one has too many connections to read.
    """
    from derive.render.diagram import Edge, Figure, Layered, Node, name_label, number_label

    spec = outcome.spec
    if spec.dims != 1:
        return None
    cells = list(range(-spec.padding, spec.size + spec.padding))
    inputs = [Node(number_label("0"), "box") if not 0 <= z < spec.size else Node(name_label(f"x_1_{z}")) for z in cells]
    outputs = [Node(name_label(f"y_1_{o}")) for o in range(spec.out)]
    edges = [Edge((0, spec.stride * o + w - spec.padding + spec.padding), (1, o), above=name_label(f"w_1_1_{w}"))
             for o in range(spec.out) for w in range(spec.kernel)]
    return Figure(Layered([inputs, outputs], edges), "y")
