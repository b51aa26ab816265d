"""Vectorised numeric evaluation of SymPy expressions with numpy, without generating code.

`evaluate(expr, env)` walks the expression tree (iteratively, so depth never
raises RecursionError) and applies one numpy rule per node class, over arrays
of test points held in `env` (Symbol -> array). Nothing is printed and eval'd:
this is how students' answers are evaluated, so the only operations that can
run are the ones in STRUCTURE (arithmetic, relations, cases) and the numpy
rules of the function vocabulary (`derive.functions`; a function without one
is evaluated through its definition). Anything else raises `Unsupported`.
`namespace()` is the same vocabulary as names, for running derive's own
printed programs (verification).
"""

from __future__ import annotations

from functools import reduce
from typing import Callable, Mapping

import numpy as np
import sympy as sp
from sympy.functions.elementary.piecewise import ExprCondPair

from derive.core import functions

__all__ = ["Unsupported", "evaluate", "rule_for", "namespace", "STRUCTURE"]


class Unsupported(Exception):
    """An expression node the evaluator has no rule for (never expected from parse_math)."""


def _power(base, exponent):
    return np.power(np.asarray(base, dtype=float), exponent)


def _product(*xs):
    return reduce(np.multiply, xs)


def _total(*xs):
    return reduce(np.add, xs)


def _cases(*pairs):
    """Piecewise: at every point, the value of the first case whose condition holds."""
    out = np.asarray(pairs[-1][0], dtype=float)
    for value, cond in reversed(pairs[:-1]):
        out = np.where(cond, value, out)
    return out


# node class -> numpy rule over the values of the node's arguments; functions come from the vocabulary
STRUCTURE: dict[type, Callable] = {
    sp.Add: _total,
    sp.Mul: _product,
    sp.Pow: _power,
    sp.StrictGreaterThan: np.greater,
    sp.GreaterThan: np.greater_equal,
    sp.StrictLessThan: np.less,
    sp.LessThan: np.less_equal,
    ExprCondPair: lambda value, cond: (value, cond),
    sp.Piecewise: _cases,
}


def rule_for(cls: type) -> Callable | None:
    """The numpy rule for a node class: arithmetic, else the vocabulary's (generated from a definition)."""
    rule = STRUCTURE.get(cls)
    if rule is not None:
        return rule
    f = functions.by_class(cls)
    if f is None:
        return None
    return f.numpy or _through_definition(cls)


def _through_definition(cls: type) -> Callable:
    """A function known by its definition only: evaluate the definition at the arguments' values."""
    def rule(*xs):
        dummies = [sp.Dummy() for _ in xs]
        return evaluate(cls.definition(*dummies), dict(zip(dummies, xs)))

    return rule


def namespace() -> dict:
    """The vocabulary as names -> numpy functions, for derive's own printed formulas (no builtins)."""
    names = {f.ascii: f.numpy or _through_definition(f.cls) for f in functions.FUNCTIONS.values()}
    names |= {alias: names[functions.FUNCTIONS[name].ascii] for alias, name in functions.ASCII_ALIASES.items()}
    return names | {"pi": np.pi, "E": np.e, "__builtins__": {}}


def _leaf(node: sp.Basic, env: Mapping[sp.Symbol, np.ndarray]):
    if node.is_Symbol:
        try:
            return env[node]
        except KeyError:
            raise Unsupported(f"no value for {node}") from None
    if node.is_Number or node in (sp.E, sp.pi):
        return float(node)
    if node is sp.true:
        return True
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
            rule = rule_for(type(node))
            if rule is None:
                raise Unsupported(f"cannot evaluate {type(node).__name__}")
            values[node] = rule(*(values[arg] for arg in node.args))
    return values[expr]
