"""Worked examples with numbers (CONTRACT section 7): a network's derivation evaluated at given values.

`parse_worked(doc, spec, net)` reads `values:`, `learning_rate:`, `frozen:`,
`digits:`, `exact:` and `tolerance:` of a `kind: network` spec. `evaluate`
substitutes the values into the very expressions of the verified derivation
(forward definitions, named backward quantities, local derivatives, each
parameter's derivative), in the order the derivation defines them, so no
number comes from a second numeric path. With a learning rate it takes one
gradient-descent step, θ ← θ − η ∂J/∂θ, and evaluates the loss again at the
new parameters. Pure: no printing, no language (see `show` for the display
forms, which do take a language).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import sympy as sp

from derive.core.yamlload import one_of
from derive.render.numbers import DIGITS, PRECISION, Num, Over, Times
from derive.render.printing import ordered_terms

WORKED_KEYS = ("values", "learning_rate", "frozen", "digits", "exact", "tolerance")
TOLERANCE = 0.005  # relative: a numeric answer within 0.5 % of the value is correct (CONTRACT section 6)
MAX_DIGITS = 15
MAX_NUMBER_DIGITS = 40  # digits of one given value (a float's repr has at most 17)
_FRACTION = re.compile(r"\s*-?\d+\s*/\s*[1-9]\d*\s*\Z|\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*\Z")
ETA = sp.Symbol("eta")  # the learning rate as printed: η
PLUG_LIMIT = 80  # nodes: a formula with numbers substituted longer than this shows its value only


@dataclass(frozen=True)
class Worked:
    """What the spec asks of a worked example; values by their JSON names, as exact rationals."""

    values: dict
    learning_rate: sp.Rational | None = None
    frozen: tuple[str, ...] = ()
    digits: int = DIGITS
    exact: bool = False
    tolerance: float = TOLERANCE
    targets: tuple[str, ...] = ()  # the targets' names: data, kept by quiz variants


# -- reading the spec --------------------------------------------------------------------


def parse_worked(doc, spec, net) -> Worked | None:
    """The worked-example keys of a network spec, checked against the names of its model net; None without values
    (then net, not needed, may be None)."""
    data = doc.data
    if "values" not in data:
        extra = [k for k in WORKED_KEYS if k in data]
        if extra:
            raise doc.error((extra[0],), f"{extra[0]} needs values: (the inputs, targets and parameters by name)")
        return None
    names = _names(net)
    values = _values(doc, names)
    return Worked(
        values=values,
        learning_rate=_positive(doc, "learning_rate") if "learning_rate" in data else None,
        frozen=_frozen(doc, names["parameter"]),
        digits=digits_of(doc),
        exact=flag(doc, "exact"),
        tolerance=float(_positive(doc, "tolerance", below=1)) if "tolerance" in data else TOLERANCE,
        targets=tuple(names["target"]),
    )


def _names(net) -> dict[str, list[str]]:
    """The names a spec must give values to, by role (in the order JSON lists them)."""
    return {
        "input": [str(x) for x in net.inputs],
        "target": [str(t) for t in net.targets],
        "parameter": [str(p) for p in net.params],
        "constant": [str(c) for c in net.constants],
    }


def _values(doc, names: dict[str, list[str]]) -> dict[str, sp.Rational]:
    raw = doc.data["values"]
    if not isinstance(raw, dict) or not raw:
        raise doc.error(("values",), "expected a mapping of names to numbers, e.g. {x: 0.5, w_1: -1}")
    known = [n for role in names.values() for n in role]
    out = {}
    for key, value in raw.items():
        if key not in known:
            raise doc.key_error(("values", key), f"{key!r} is not an input, target or parameter of this network; "
                                             f"{one_of(key, known)}")
        out[key] = number(doc, ("values", key), value)
    missing = [n for n in known if n not in out]
    if missing:
        raise doc.error(("values",), f"no value for {', '.join(missing)}; every input, target and parameter needs one")
    return {n: out[n] for n in known}


def number(doc, path: tuple, value) -> sp.Rational:
    """A number as written (0.05 is exactly 1/20); a text "1/3" is a fraction."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise doc.error(path, f"expected a number such as 0.5, -2 or \"1/3\", got {_short(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise doc.error(path, f"expected a finite number, got {value!r}")
    text = repr(value) if isinstance(value, float) else str(value).replace(" ", "")
    if isinstance(value, str) and not _FRACTION.match(value):
        raise doc.error(path, f"expected a number such as 0.5, -2 or \"1/3\", got {_short(value)}")
    if sum(c.isdigit() for c in text) > MAX_NUMBER_DIGITS:
        raise doc.error(path, f"a number with more than {MAX_NUMBER_DIGITS} digits; write it shorter")
    return sp.Rational(text)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _positive(doc, key: str, below: float | None = None) -> sp.Rational:
    value = number(doc, (key,), doc.data[key])
    if value <= 0 or (below is not None and value >= below):
        bound = f" and below {below}" if below is not None else ""
        raise doc.error((key,), f"expected a number above 0{bound}, got {doc.data[key]!r}")
    return value


def digits_of(doc) -> int:
    value = doc.data.get("digits", DIGITS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DIGITS:
        raise doc.error(("digits",), f"expected a whole number of significant digits from 1 to {MAX_DIGITS}, got {value!r}")
    return value


def flag(doc, key: str) -> bool:
    value = doc.data.get(key, False)
    if not isinstance(value, bool):
        raise doc.error((key,), f"expected true or false, got {value!r}")
    return value


def _frozen(doc, params: list[str]) -> tuple[str, ...]:
    raw = doc.data.get("frozen", [])
    if "frozen" in doc.data and "learning_rate" not in doc.data:
        raise doc.error(("frozen",), "frozen names parameters the gradient-descent step leaves alone: it needs learning_rate:")
    if not isinstance(raw, list):
        raise doc.error(("frozen",), "expected a list of parameter names, e.g. [b1, b2]")
    for i, name in enumerate(raw):
        if name not in params:
            raise doc.error(("frozen", i), f"{name!r} is not a parameter of this network; {one_of(name, params)}")
    return tuple(raw)


# -- the numbers ---------------------------------------------------------------------------


class NotANumber(ValueError):
    """A quantity is not a real number at the given values (log of 0, say)."""


@dataclass
class Numbers:
    """The derivation at the given values: every quantity by its symbol, derivatives by parameter."""

    at: dict  # inputs, targets, parameters, constants, forward and backward quantities
    grads: dict  # parameter -> ∂of/∂parameter
    of: sp.Symbol | None = None  # what is differentiated
    learning_rate: sp.Rational | None = None
    updated: dict = field(default_factory=dict)  # parameter -> value after one step
    frozen: tuple = ()
    loss_after: sp.Expr | None = None


def _number(value: sp.Expr, expr: sp.Expr = None) -> sp.Expr:
    """An exact rational stays exact; anything else becomes a PRECISION-digit Float."""
    if not value.is_Rational:
        value = value.evalf(PRECISION)
    if not (value.is_Number and value.is_finite and value.is_real):
        raise NotANumber(f"{expr if expr is not None else value} is not a real number at the given values ({value})")
    return value


def evaluate(derivation, worked: Worked) -> Numbers:
    """Substitute worked.values into the derivation, top to bottom; then one descent step if asked."""
    net = derivation.network
    at = {sp.Symbol(name): v for name, v in worked.values.items()}
    _run(net.forward, at)
    _run([(g.symbol, g.expr) for g in derivation.backward], at)
    numbers = Numbers(at, {p.param: _number(p.value.xreplace(at), p.value) for p in derivation.derivatives}, net.of)
    if worked.learning_rate is not None:
        _step(numbers, net, worked)
    return numbers


def _run(statements, at: dict) -> None:
    for symbol, expr in statements:
        at[symbol] = _number(expr.xreplace(at), symbol)


def _step(numbers: Numbers, net, worked: Worked) -> None:
    eta = worked.learning_rate
    frozen = {sp.Symbol(n) for n in worked.frozen}
    numbers.learning_rate, numbers.frozen = eta, tuple(sp.Symbol(n) for n in worked.frozen)
    numbers.updated = {p: (numbers.at[p] if p in frozen else _number(numbers.at[p] - eta * numbers.grads[p]))
                       for p in net.params}
    after = {s: v for s, v in numbers.at.items() if s in set(net.inputs) | set(net.targets) | set(net.constants)}
    after |= numbers.updated
    _run(net.forward, after)
    numbers.loss_after = after[net.of]


# -- display: values substituted into formulas ------------------------------------------------


@dataclass
class Shown:
    """How numbers are shown in one language: significant digits, fractions or not."""

    digits: int
    exact: bool
    lang: str
    terms: str = "given"  # the printer's order of a sum's terms (printer_settings): numbers go in that order
    memo: dict = field(default_factory=dict, repr=False)

    def num(self, value: sp.Expr, bare: bool = False) -> Num:
        return Num(value, self.digits, self.exact, self.lang, bare)

    def given(self, value: sp.Expr) -> sp.Expr:
        """A value the spec gives, as written: 1/3 stays a fraction, 0.05 keeps all its digits, and a closed
        form (a graph's pi/4, sqrt(2)/2) stays one, not 0.785398163397448 after an equals sign."""
        if not value.is_Rational:
            return value
        return Num(value, max(self.digits, MAX_DIGITS), True, self.lang, True)

    def plug(self, expr: sp.Expr, at: dict) -> sp.Expr:
        """expr with each known name replaced by its number, kept as written (0,15 · 0,05 + 0,35)."""
        if expr in at:
            return self.num(at[expr])
        if not expr.args or isinstance(expr, Num):
            return expr  # the formula's own constants (½) stay as written
        # a sum substituted in the order its formula is printed: W i + W i + b = 0,15 · 0,05 + 0,2 · 0,1 + 0,35
        args = [self.plug(a, at) for a in (ordered_terms(expr.args, self.terms) if expr.is_Add else expr.args)]
        if expr.is_Mul:
            return _product(args)
        if expr.is_Add:  # a sum's first term needs no brackets: −1 − 0,1 · 0,255
            return sp.Add(*([args[0].as_bare()] if isinstance(args[0], Num) else args[:1]), *args[1:], evaluate=False)
        if expr.is_Pow:
            return sp.Pow(*args, evaluate=False)
        # a function's or a comparison's own brackets are enough: σ(−0,5), not σ((−0,5))
        args = [a.as_bare() if isinstance(a, Num) else a for a in args]
        return expr.func(*args, evaluate=False)


    def _value(self, expr: sp.Expr, at: dict) -> sp.Expr:
        """expr at the values `at` (remembered: a network's rows share most of their expressions)."""
        if expr in at:
            return at[expr]
        key = (expr, id(at))
        if key not in self.memo:
            self.memo[key] = _number(expr.xreplace(at), expr)
        return self.memo[key]

    def row(self, row, expr: sp.Expr, at: dict, limit: int = PLUG_LIMIT, value: sp.Expr | None = None):
        """row continued with expr's numbers substituted and its value (after ≈ when anything is rounded).

        value: expr's value when the caller has it already (the same substitution, done once)."""
        from derive.render.jinja import Row

        value = self.num(self._value(expr, at) if value is None else value, bare=True)
        plugged = self.plug(expr, at)
        parts = list(row.parts)
        shown = bool(plugged.atoms(Num)) and not isinstance(plugged, Num) and _size(plugged) <= limit
        parts += [plugged] if shown else []
        rounded = value.rounded or (shown and rounded_in(plugged))
        if not rounded and parts[-1] == value.value:  # ∂y/∂φ_0 = 1, not 1 = 1
            return Row(parts, key=row.key)
        return Row(parts + ([] if rounded else [value]), key=row.key,
                   approx=[value] if rounded else [])


def _size(expr: sp.Expr) -> int:
    return sum(1 for _ in sp.preorder_traversal(expr))


def _product(args: list) -> sp.Expr:
    """Numbers multiplied with dots, divisions as fractions, a minus sign in front."""
    sign = [a for a in args if a == -1]
    over = [a.base for a in args if a.is_Pow and a.exp == -1]
    over += [sp.Integer(a.q) for a in args if a.is_Rational and not a.is_Integer]  # ½ (…)² as (…)²/2
    rest = [a for a in args if a != -1 and not (a.is_Pow and a.exp == -1)]
    rest = [sp.Integer(a.p) if a.is_Rational and not a.is_Integer else a for a in rest]
    rest = [a for a in rest if a != 1]
    body = _times(rest) if rest else sp.S.One
    if over:
        body = Over(body, _times(over))
    return sp.Mul(sp.S.NegativeOne, body, evaluate=False) if sign else body


def _times(factors: list) -> sp.Expr:
    return factors[0] if len(factors) == 1 else Times(*factors)


def rounded_in(expr: sp.Expr) -> bool:
    """Whether any number shown in expr is rounded."""
    return any(n.rounded for n in expr.atoms(Num))


class Updated(sp.Expr):
    """θ⁺: a quantity after the gradient-descent step (display only)."""

    def _derive_latex(self, printer) -> str:
        return rf"{{{printer._print(self.args[0])}}}^{{+}}"

    def _latex(self, printer) -> str:
        return self._derive_latex(printer)

    def _sympystr(self, printer) -> str:
        return f"{printer._print(self.args[0])}_new"


# -- quiz variants: each student their own numbers ---------------------------------------------


def vary(spec, seed: int):
    """The spec with its inputs and parameters drawn anew for quiz variant seed (targets kept).

    Each value is the spec's value times a factor in [0.5, 1.5], to two significant digits, so
    signs and orders of magnitude stay those the lecturer chose (and a zero stays zero).
    """
    import dataclasses
    import random

    worked = spec.worked
    rng = random.Random(seed * 104729 + 7)
    values = {name: (v if name in worked.targets else _drawn(v, rng)) for name, v in worked.values.items()}
    return dataclasses.replace(spec, worked=dataclasses.replace(worked, values=values))


def _drawn(value: sp.Rational, rng) -> sp.Rational:
    if value == 0:
        return value
    from derive.render.numbers import significant

    drawn = significant(sp.Rational(value) * sp.Rational(rng.randint(50, 150), 100), 2)
    return sp.Rational(str(drawn)) if drawn != 0 else value
