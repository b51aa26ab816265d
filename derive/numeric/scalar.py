"""The harness's scalar backend: derive's printed formulas over Python floats, with the `math` module.

A small problem (a 1-8-8-8-1 network has 169 parameters) is verified faster
by running its program once per finite difference over floats than by
importing NumPy (about as long as the whole verification) to run it once over
arrays. `namespace()` gives the vocabulary's `math` rules under the same names
as `derive.numeric.evaluate.namespace()` gives its NumPy rules; each rule
follows the NumPy one operation for operation, so the two backends agree to
the last bit or two. A function whose entry gives no `math` rule is
evaluated through its definition (`definition`), and a function with neither
is missing from the namespace: `covers` then says no, and that problem is
verified with NumPy.

Where NumPy gives inf or nan (and a warning), plain Python raises
(ZeroDivisionError, OverflowError, ValueError) or gives a complex number;
`run` and `program_function` turn those into nan, which the harness's
tolerance test rejects as it rejects NumPy's nan: a formula that is not
finite at a test point fails verification in both backends alike.
"""

from __future__ import annotations

import math
from functools import lru_cache, reduce
from typing import Callable, Iterable, Mapping

import sympy as sp

from derive.core import functions

__all__ = ["namespace", "covers", "run", "program_function", "evaluate", "NAN"]

NAN = float("nan")
_FAILS = (ArithmeticError, ValueError, TypeError)  # what plain floats raise where NumPy gives inf or nan


def _through_definition(cls: type) -> Callable:
    """A function known by its definition only: evaluate the definition at the arguments' values."""
    dummies_by_arity: dict[int, tuple[list, sp.Expr]] = {}

    def rule(*xs):
        if len(xs) not in dummies_by_arity:
            dummies = [sp.Dummy() for _ in xs]
            dummies_by_arity[len(xs)] = dummies, cls.definition(*dummies)
        dummies, body = dummies_by_arity[len(xs)]
        return evaluate(body, dict(zip(dummies, xs)))

    return rule


def _rule(f: functions.Function) -> Callable | None:
    if f.math is not None:
        return f.math
    if f.cls is not None and hasattr(f.cls, "definition"):
        return _through_definition(f.cls)
    return None


def namespace() -> dict:
    """The vocabulary as names -> float rules, for derive's own printed formulas (no builtins)."""
    return dict(_namespace(functions._version[0], len(functions.FUNCTIONS)))


@lru_cache(maxsize=4)
def _namespace(version: int, size: int) -> dict:
    names = {}
    for f in functions.FUNCTIONS.values():
        rule = _rule(f)
        if rule is not None:
            names[f.ascii] = rule
    for alias, name in functions.ASCII_ALIASES.items():
        ascii_name = functions.FUNCTIONS[name].ascii
        if ascii_name in names:
            names[alias] = names[ascii_name]
    return names | {"pi": math.pi, "E": math.e, "__builtins__": {}}


def covers(codes: Iterable, variables: Iterable[str]) -> bool:
    """Whether every function the compiled formulas call has a float rule (names that are not variables)."""
    known, names = set(variables), namespace()
    return all(n in names or n in known for code in codes for n in code.co_names)


def run(program: list[tuple[str, object]], env: dict, names: Mapping) -> dict:
    """Each (name, code) in turn into env; a value plain floats cannot give (NumPy's inf or nan) is nan."""
    for name, code in program:
        try:
            value = eval(code, names, env)  # our own printed formulas, over validated names
        except _FAILS:
            value = NAN
        env[name] = NAN if type(value) is complex else value
    return env


def program_function(statements: list[tuple[str, str]], inputs: list[str], output: str, names: Mapping) -> Callable[[dict], float]:
    """One Python function running the printed statements (name, ASCII form) over locals: env -> env[output].

    The forward pass of a finite difference runs once per parameter and sign;
    as one function its names are locals, several times faster than
    statement-by-statement `eval`. Statements are derive's own printed
    formulas over validated names (identifiers), never a user's text.
    """
    lines = ["def _program(_env):"]
    lines += [f"    {x} = _env[{x!r}]" for x in inputs]
    lines += [f"    {name} = {text}" for name, text in statements]
    lines.append(f"    return {output}")
    scope = dict(names)
    exec(compile("\n".join(lines), "<derive:forward>", "exec"), scope)
    program = scope["_program"]

    def forward(env: dict) -> float:
        try:
            value = program(env)
        except _FAILS:
            return NAN
        return NAN if type(value) is complex else float(value)

    return forward


# -- expressions (definitions of functions without a `math` rule) ------------------------------------

def _cases(*pairs):
    for value, cond in pairs:
        if cond:
            return value
    return NAN


_STRUCTURE: dict[type, Callable] = {
    sp.Add: lambda *xs: reduce(lambda a, b: a + b, xs),
    sp.Mul: lambda *xs: reduce(lambda a, b: a * b, xs),
    sp.Pow: lambda a, b: a ** b,
    sp.StrictGreaterThan: lambda a, b: a > b,
    sp.GreaterThan: lambda a, b: a >= b,
    sp.StrictLessThan: lambda a, b: a < b,
    sp.LessThan: lambda a, b: a <= b,
}


def evaluate(expr: sp.Basic, env: Mapping) -> float:
    """The float value of a (small) expression: a definition at its arguments' values."""
    if expr.is_Symbol:
        return env[expr]
    if expr.is_Number or expr in (sp.E, sp.pi):
        return float(expr)
    if expr is sp.true:
        return True
    if expr is sp.false:
        return False
    if isinstance(expr, sp.Piecewise):
        return _cases(*((evaluate(c.expr, env), evaluate(c.cond, env)) for c in expr.args))
    args = [evaluate(a, env) for a in expr.args]
    rule = _STRUCTURE.get(type(expr))
    if rule is None:
        f = functions.by_class(type(expr))
        rule = _rule(f) if f is not None else None
    if rule is None:
        raise ValueError(f"no float rule for {type(expr).__name__}")
    try:
        value = rule(*args)
    except _FAILS:
        return NAN
    return NAN if type(value) is complex else value
