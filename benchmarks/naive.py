"""The naive SymPy route, for comparison: one big expression, `sympy.diff` per parameter.

Usage: python benchmarks/naive.py SPEC.yaml — builds the loss as a single
expression of inputs and parameters (every intermediate substituted), then
differentiates it with respect to each parameter, as a first attempt would.
"""

from __future__ import annotations

import sys

import sympy as sp

from derive.kinds.network.model import build
from derive.kinds.network.spec import load_spec


def main(path: str) -> None:
    net = build(load_spec(path))
    expr = net.of
    for symbol, definition in reversed(net.forward):
        expr = expr.subs(symbol, definition)
    derivatives = [sp.diff(expr, p) for p in net.params]
    print(f"{len(derivatives)} derivatives, {sum(sp.count_ops(d) for d in derivatives[:5])} ops in the first five")


if __name__ == "__main__":
    main(sys.argv[1])
