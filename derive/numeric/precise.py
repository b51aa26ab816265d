"""Evaluate SymPy expressions numerically, in high precision, without generating code.

`evaluate(expr, env)` walks the expression tree with mpmath, one rule per
SymPy class (a registry, like the activations'): names come from `env`
(Symbols, Indexed elements, or any other atom standing for a value). An
expression class without a rule raises `KeyError` naming it, so a formula
that cannot be checked is never silently passed. Finite differences at 40
digits make the check of a derivative exact to far beyond printing precision.
"""

from __future__ import annotations

from functools import reduce
from typing import Callable

import mpmath
import sympy as sp
from sympy.functions.elementary.piecewise import ExprCondPair

from derive.core import functions

DPS = 40
STEP = mpmath.mpf("1e-12")
BOUND = mpmath.mpf("1e50")  # larger magnitudes count as overflow: no point computing e^(e^(e^x)) exactly


def _pow(base, exponent):
    if abs(base) > BOUND or abs(exponent) > 10_000:
        return mpmath.inf
    return base**exponent


def _cases(*pairs):
    return next(value for value, cond in pairs if cond)


# arithmetic, relations and SymPy's own functions; the vocabulary's functions come from derive.functions
RULES: dict[type, Callable] = {
    sp.Add: lambda *a: mpmath.fsum(a),
    sp.Mul: lambda *a: reduce(lambda p, q: p * q, a),
    sp.Pow: _pow,
    sp.sinh: mpmath.sinh,
    sp.cosh: mpmath.cosh,
    sp.coth: mpmath.coth,
    sp.sech: mpmath.sech,
    sp.csch: mpmath.csch,
    sp.KroneckerDelta: lambda a, b: mpmath.mpf(1 if a == b else 0),
    sp.StrictGreaterThan: lambda a, b: a > b,
    sp.GreaterThan: lambda a, b: a >= b,
    sp.StrictLessThan: lambda a, b: a < b,
    sp.LessThan: lambda a, b: a <= b,
    ExprCondPair: lambda value, cond: (value, cond),
    sp.Piecewise: _cases,
}


def evaluate(expr: sp.Basic, env: dict) -> mpmath.mpf:
    """The value of expr with the atoms of env replaced by their values (see the module docstring)."""
    with mpmath.workdps(DPS):
        return _eval(expr, env)


def _eval(expr, env):
    if expr in env:
        return env[expr]
    if expr.is_Integer:
        return mpmath.mpf(int(expr))
    if expr.is_Rational:
        return mpmath.mpf(int(expr.p)) / int(expr.q)
    if expr.is_Float:
        return mpmath.mpf(str(expr))
    if expr is sp.E:
        return +mpmath.e  # unary plus: the constant as a number at the working precision
    if expr is sp.pi:
        return +mpmath.pi
    if expr is sp.I:
        return mpmath.mpc(0, 1)
    if expr is sp.true or expr is sp.false:
        return bool(expr)
    if isinstance(expr, sp.Sum):
        return _sum(expr, env)
    rule = RULES.get(type(expr)) or _rule_by_mro(expr)
    return rule(*(_eval(a, env) for a in expr.args))


def _rule_by_mro(expr):
    for cls in type(expr).__mro__:
        if cls in RULES:
            return RULES[cls]
        f = functions.by_class(cls)
        if f is not None:
            return f.mpmath or _through_definition(cls)
    raise KeyError(f"no numeric rule for {type(expr).__name__} (in {expr})")


def _through_definition(cls: type) -> Callable:
    """A function known by its definition only: its value is the definition's at the arguments."""
    def rule(*xs):
        dummies = [sp.Dummy() for _ in xs]
        return _eval(cls.definition(*dummies), dict(zip(dummies, xs)))

    return rule


def _sum(expr: sp.Sum, env):
    """Σ over concrete limits: each index takes each value in turn (innermost limit first, as SymPy lists them)."""
    function, limits = expr.function, list(expr.limits)
    (index, low, high) = limits.pop()
    inner = sp.Sum(function, *limits) if limits else function
    total = mpmath.mpf(0)
    for k in range(int(low), int(high) + 1):
        total += _eval(inner.xreplace({index: sp.Integer(k)}), env)
    return total


def finite(x) -> bool:
    """A real number of sensible size (a log of a negative number is complex: that point is not used)."""
    return isinstance(x, mpmath.mpf) and mpmath.isfinite(x) and abs(x) < BOUND


def derivative(f: Callable[[mpmath.mpf], mpmath.mpf], x: mpmath.mpf, scale=1) -> mpmath.mpf:
    """Central difference of f at x, at 40 digits; the step grows with the size of the quantity nudged."""
    with mpmath.workdps(DPS):
        step = STEP * max(1, abs(scale), abs(x))
        return (f(x + step) - f(x - step)) / (2 * step)
