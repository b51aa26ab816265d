"""Vectorised numeric evaluation of SymPy expressions with numpy, without generating code.

`evaluate(expr, env)` walks the expression tree (iteratively, so depth never
raises RecursionError) and applies one numpy rule per node class, over arrays
of test points held in `env` (Symbol -> array). Nothing is printed and eval'd:
this is how students' answers are evaluated, so the only operations that can
run are the ones in RULES. Anything else raises `Unsupported`.
"""

from __future__ import annotations

from functools import reduce
from typing import Callable, Mapping

import numpy as np
import sympy as sp

from .calculus import Indicator, leaky_relu, relu, sigmoid

__all__ = ["Unsupported", "evaluate", "RULES"]


class Unsupported(Exception):
    """An expression node the evaluator has no rule for (never expected from parse_math)."""


def _power(base, exponent):
    return np.power(np.asarray(base, dtype=float), exponent)


def _product(*xs):
    return reduce(np.multiply, xs)


def _total(*xs):
    return reduce(np.add, xs)


def _indicator(cond):
    return np.where(cond, 1.0, 0.0)


# node class -> numpy rule over the values of the node's arguments
RULES: dict[type, Callable] = {
    sp.Add: _total,
    sp.Mul: _product,
    sp.Pow: _power,
    Indicator: _indicator,
    relu: lambda z: np.maximum(z, 0.0),
    leaky_relu: lambda z, a: np.where(z > 0, z, a * z),
    sigmoid: lambda z: 1.0 / (1.0 + np.exp(-z)),
    sp.exp: np.exp,
    sp.log: np.log,
    sp.tanh: np.tanh,
    sp.Abs: np.abs,
    sp.Max: lambda *xs: reduce(np.maximum, xs),
    sp.Min: lambda *xs: reduce(np.minimum, xs),
    sp.StrictGreaterThan: np.greater,
    sp.GreaterThan: np.greater_equal,
    sp.StrictLessThan: np.less,
    sp.LessThan: np.less_equal,
}


def _leaf(node: sp.Basic, env: Mapping[sp.Symbol, np.ndarray]):
    if node.is_Symbol:
        try:
            return env[node]
        except KeyError:
            raise Unsupported(f"no value for {node}") from None
    if node.is_Number or node in (sp.E, sp.pi):
        return float(node)
    raise Unsupported(f"cannot evaluate {type(node).__name__}")


def evaluate(expr: sp.Basic, env: Mapping[sp.Symbol, np.ndarray]) -> np.ndarray:
    """The value of expr at every test point of env (arrays broadcast together)."""
    values: dict[sp.Basic, object] = {}
    stack = [(expr, False)]
    with np.errstate(all="ignore"):
        while stack:
            node, ready = stack.pop()
            if node in values:
                continue
            if not node.args or node.is_Number:
                values[node] = _leaf(node, env)
                continue
            if not ready:
                stack.append((node, True))
                stack.extend((arg, False) for arg in node.args if arg not in values)
                continue
            rule = RULES.get(type(node))
            if rule is None:
                raise Unsupported(f"cannot evaluate {type(node).__name__}")
            values[node] = rule(*(values[arg] for arg in node.args))
    return values[expr]
