"""Grading answers for a computational graph (`kind: graph`, scalar): formulas and numbers.

A key is an input of `wrt` (∂f/∂x) or an intermediate gradient the derivation
names (df_dq: ∂f/∂q for a node q). A **formula** is checked as a formula for
all values: at 240 random test points (inputs spread over (−2, 2) and, for a
third, out to ±20; away from every kink, inside every node's domain), its
upstream gradients and nodes evaluated there.
A **number** (where the spec has `values:`) is correct within the spec's
`tolerance:` (relative; default 0.5 %) of the exact value. An answer may give
both, `z = -4`: the formula is graded, and the number tells an arithmetic slip
in the right formula from a wrong formula computed correctly.

Diagnoses compare the answer with mistakes built from the derivation: the sign,
the derivative with respect to another input, the local derivative without its
upstream gradient, a path (a use of the variable) left out, the upstream
gradient of another node; for numbers also a sign slip or a number 2, 10, 100 or 1000
times too large or too small.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from derive.errors import DeriveError
from derive.grading.grader import (
    MAX_LENGTH,
    MIN_POINTS,
    POINTS,
    POOL,
    Finding,
    FormulaGrader,
    Verdict,
    _constant_ratio,
    _nearly,
    _set,
    agreement,
    rounded_finding,
    spread,
    within,
)
from derive.kinds.graph.verify import KINK_MARGIN, kink_arguments
from derive.core.parse import parse_math
from derive.numeric.evaluate import Unsupported, evaluate
from derive.render.printing import answer_text, latex

DEFAULT_TOLERANCE = 0.005  # a number within 0.5 % of the exact value is correct (spec: `tolerance:`)
INPUT_RANGE, INPUT_FAR = 2.0, 20.0
SLIP_FACTORS = (2, 10, 100, 1000)  # a number off by one of these factors (or its reciprocal) is a slip
_NUMBER = r"[-+−–]?\s*(?:[0-9]+(?:[.,][0-9]+)?|[.,][0-9]+)(?:\s*/\s*[0-9]+)?"
_FINAL_NUMBER = re.compile(rf"(?:=|≈|\\approx)\s*(?P<number>{_NUMBER})\s*\.?\s*\Z")
_DECIMAL_COMMA = re.compile(r"(?<=[0-9]),(?=[0-9])")


@dataclass
class _Target:
    """One gradable quantity: ∂of/∂symbol, its closed form, its values at the test points and at the spec's values."""

    key: str
    grad: object  # graph_backprop.Grad
    closed: sp.Expr
    values: np.ndarray
    exact: sp.Expr | None
    ascii: str
    latex: str
    value_text: str | None = None  # the value at the spec's values, language-neutral (number_text)
    mistakes: list = field(default_factory=list)  # (Finding, closed form) built once


class GraphGrader(FormulaGrader):
    """Grades formulas and numbers for one derived scalar graph (graph.Outcome)."""

    def __init__(self, outcome, seed: int = 0):
        super().__init__()
        bp = outcome.result
        self.bp, self.spec = bp, outcome.spec
        self.tolerance = getattr(outcome.spec, "tolerance", None) or DEFAULT_TOLERANCE
        upstream = {g.upstream: g for g in bp.grads.values() if g.upstream is not None}
        self.upstream = {s: g.named for s, g in upstream.items()}
        self.closed = {n.symbol: n.closed for n in bp.nodes}
        symbols = [*bp.inputs, *(n.symbol for n in bp.nodes), *upstream]
        self.names = {str(s): s for s in symbols}
        self.env = self._points(seed)
        self.points = len(next(iter(self.env.values())))
        self.values = self._values_at_spec()
        wrt = [g.wrt for g in bp.derivatives]
        self.targets = {str(g.wrt): self._target(str(g.wrt), g) for g in bp.derivatives}
        for s, g in upstream.items():
            if g.wrt not in wrt:
                self.targets[str(s)] = self._target(str(s), g)
        self.asked = [str(g.wrt) for g in bp.derivatives]

    # -- set-up

    def _points(self, seed: int) -> dict:
        """Inputs at POOL random points; the nodes and upstream gradients there; the usable ones kept."""
        rng = np.random.default_rng(seed)
        env = {x: spread(rng, POOL, INPUT_RANGE, INPUT_FAR) for x in self.bp.inputs}
        usable = np.ones(POOL, dtype=bool)
        for node in self.bp.nodes:
            env[node.symbol] = np.broadcast_to(evaluate(node.expr, env), (POOL,)).astype(float)
            usable &= np.isfinite(env[node.symbol])
        for g in self.bp.grads.values():
            values = np.broadcast_to(evaluate(g.named, env), (POOL,)).astype(float)
            usable &= np.isfinite(values)
            if g.upstream is not None:
                env[g.upstream] = values
        kinks = [k for n in self.bp.nodes for k in kink_arguments(n.expr)]
        for k in kinks:
            usable &= np.abs(np.broadcast_to(evaluate(k, env), (POOL,))) > KINK_MARGIN
        keep = np.flatnonzero(usable)[:POINTS]
        if len(keep) < MIN_POINTS:
            raise DeriveError(f"{self.spec.file}: only {len(keep)} random test points inside the graph's domain "
                              f"were found; at least {MIN_POINTS} are needed to grade answers")
        return {s: v[keep] for s, v in env.items()}

    def _values_at_spec(self) -> dict | None:
        """Exact values of the inputs, nodes and upstream gradients at the spec's `values:`."""
        if self.bp.values is None:
            return None
        values = dict(self.bp.values)
        values |= {g.upstream: g.value for g in self.bp.grads.values() if g.upstream is not None}
        return values

    def _target(self, key: str, g) -> _Target:
        values = np.broadcast_to(evaluate(g.named, self.env), (self.points,)).astype(float)
        form = g.named if _size(g.named) < _size(g.closed) else g.closed  # over the nodes when that is shorter
        shown, tex, value = answer_text(form), latex(form), None
        if g.value is not None and g.closed != g.value:  # the formula and its value: z = -4
            tex, value = f"{tex} = {latex(g.value)}", number_text(g.value)
        return _Target(key, g, g.closed, values, g.value, shown, tex, value)

    # -- checking

    def read(self, text: str, names: dict) -> tuple:
        """(formula, number): `z = -4` is both, `-4` (or −0,5) a number, `z` a formula alone."""
        both = _formula_and_number(text)
        if re.fullmatch(rf"\s*{_NUMBER}\s*\.?\s*", text):  # −0,5 with a decimal comma is a number too
            text = _DECIMAL_COMMA.sub(".", text)
        if both:
            return (parse_math(both[0], names=names, max_length=MAX_LENGTH),
                    parse_math(_DECIMAL_COMMA.sub(".", both[1]), names={}, max_length=100))
        return parse_math(text, names=names, max_length=MAX_LENGTH), None

    def grade_formula(self, verdict: Verdict, target: _Target, answer: tuple) -> Verdict:
        formula, number = answer
        if number is None and not formula.free_symbols:
            return self._number(verdict, target, formula)
        if number is not None and number.free_symbols:
            return _set(verdict, "invalid", Finding.of("number_expected"))
        return self._formula(verdict, target, formula, number)

    # -- numbers

    def _number(self, verdict: Verdict, target: _Target, number: sp.Expr) -> Verdict:
        if target.exact is None:
            return _set(verdict, "invalid", Finding.of("no_values"))
        approximate = sp.N(number, 20)
        if not (approximate.is_real and approximate.is_finite):  # sqrt(-1), log(0)
            return _set(verdict, "invalid", Finding.of("value_not_real"))
        value, exact = float(approximate), float(target.exact)
        if self._close(value, exact):
            return _set(verdict, "correct", Finding.of("correct_value", tolerance_fraction=self.fraction()))
        return _set(verdict, "incorrect", *(self._number_mistake(target, value) or
                                             [Finding.of("wrong_value", tolerance_fraction=self.fraction())]))

    def _close(self, value: float, exact: float) -> bool:
        return within(value, exact, self.tolerance)

    def fraction(self) -> str:
        """The tolerance as a finding argument; Words writes it as the language writes a percentage."""
        return f"{self.tolerance:.6g}"

    def _number_mistake(self, target: _Target, value: float) -> list[Finding]:
        """A sign or factor slip, or the value of a typical wrong formula."""
        exact = float(target.exact)
        if exact != 0 and self._close(-value, exact):
            return [Finding.of("sign_slip")]
        for factor in SLIP_FACTORS:
            for slip, code in ((factor, "too_large"), (1 / factor, "too_small")):
                if exact != 0 and self._close(value, exact * slip):
                    return [Finding.of(code, factor=factor)]
        for finding, wrong in self.mistakes(target):
            at = self.at_values(wrong)
            if at is not None and self._close(value, at) and not self._close(at, exact):
                return [finding]
        return []

    def at_values(self, expr: sp.Expr) -> float | None:
        if self.values is None:
            return None
        try:
            return float(self.unfold(expr).xreplace(self.values).evalf())
        except (TypeError, ValueError):
            return None

    # -- formulas

    def unfold(self, expr: sp.Expr) -> sp.Expr:
        """Upstream gradients, then nodes, replaced by what they stand for: a formula of the inputs."""
        for _ in range(len(self.upstream) + 1):
            if not expr.free_symbols & self.upstream.keys():
                break
            expr = expr.xreplace(self.upstream)
        for _ in range(len(self.closed) + 1):
            if not expr.free_symbols & self.closed.keys():
                break
            expr = expr.xreplace(self.closed)
        return expr

    def _formula(self, verdict: Verdict, target: _Target, formula: sp.Expr, number: sp.Expr | None) -> Verdict:
        try:
            values = np.broadcast_to(evaluate(formula, self.env), (self.points,)).astype(float)
        except Unsupported as exc:
            return _set(verdict, "invalid", Finding.of("unsupported", what=str(exc)))
        right = bool(np.all(agreement(values, target.values)))  # at 240 points over a wide range, kinks avoided
        if right:
            return self._right_formula(verdict, target, number)
        findings = self._formula_mistake(target, values, formula)
        if number is not None:
            findings.append(self._number_of_wrong_formula(formula, number))
        return _set(verdict, "incorrect", *findings)

    def _right_formula(self, verdict: Verdict, target: _Target, number: sp.Expr | None) -> Verdict:
        if number is None or target.exact is None:
            return _set(verdict, "correct", Finding.of("correct_formula", points=self.points))
        if self._close(float(number), float(target.exact)):
            return _set(verdict, "correct", Finding.of("correct_formula_value", tolerance_fraction=self.fraction()))
        return _set(verdict, "incorrect", Finding.of("arithmetic_slip", value=number_text(target.exact)),
                    *self._number_mistake(target, float(number)))

    def _number_of_wrong_formula(self, formula: sp.Expr, number: sp.Expr) -> Finding:
        own = self.at_values(formula)
        if own is not None and self._close(float(number), own):
            return Finding.of("wrong_formula_computed")
        return Finding.of("wrong_formula_and_value")

    def _formula_mistake(self, target: _Target, values: np.ndarray, formula: sp.Expr) -> list[Finding]:
        for finding, wrong in self.mistakes(target):
            try:
                candidate = np.broadcast_to(evaluate(self.unfold(wrong), self.env), (self.points,)).astype(float)
            except Unsupported:
                continue
            if np.all(agreement(values, candidate)):
                return [finding]
        if _nearly(values, target.values):
            return [rounded_finding(formula)]
        factor = _constant_ratio(values, target.values)
        if factor is not None:
            return [Finding.of("constant_factor", factor=factor)]
        bad = int((~agreement(values, target.values)).sum())
        return [Finding.of("differs", bad=bad, points=self.points)]

    def mistakes(self, target: _Target) -> list[tuple[Finding, sp.Expr]]:
        """Typical wrong formulas for target (closed forms over names), built once."""
        if not target.mistakes:
            target.mistakes = list(self._mistakes(target)) or [(Finding.of("sign"), -target.closed)]
        return target.mistakes

    def _mistakes(self, target: _Target):
        g, right = target.grad, target.grad.named
        yield Finding.of("sign"), -right
        for key, other in self.targets.items():
            if other is not target and other.grad.wrt in self.bp.inputs and g.wrt in self.bp.inputs:
                yield Finding.of("other_input", other=str(other.grad.wrt), wrt=str(g.wrt)), other.grad.named
        terms = [self._term(loc) for loc in g.uses]
        for loc, term in zip(g.uses, terms):
            if loc.node != self.bp.of:
                yield Finding.of("missing_upstream", node=str(loc.node)), right - term + loc.expr
                yield (Finding.of("missing_local", node=str(loc.node), wrt=str(g.wrt)),
                       right - term + self.bp.grads[loc.node].named)
            if len(terms) > 1:
                yield Finding.of("missing_path", node=str(loc.node)), right - term
            for other in self.bp.nodes:
                if other.symbol not in (loc.node, self.bp.of) and other.symbol != g.wrt:
                    wrong_upstream = self.bp.grads[other.symbol].named * loc.expr
                    yield (Finding.of("wrong_upstream", node=str(loc.node), other=str(other.symbol)),
                           right - term + wrong_upstream)

    def _term(self, loc) -> sp.Expr:
        upstream = self.bp.grads[loc.node]
        return loc.expr if upstream.upstream is None else upstream.named * loc.expr


def _formula_and_number(text: str) -> tuple[str, str] | None:
    """'z = -4' -> ('z', '-4'): a formula and its value at the spec's values (the last '=' or '≈' of the text)."""
    cut = max(text.rfind("="), text.rfind("≈"), text.rfind("\\approx"))
    if cut <= 0 or text[cut - 1] in "<>!≤≥" or text[cut:cut + 1] == "=" and text[cut - 1] == "=":
        return None
    m = _FINAL_NUMBER.match(text, cut)
    if m is None or not text[:cut].strip():
        return None
    return text[:cut], m["number"]


def _size(expr: sp.Expr) -> int:
    return sum(1 for _ in sp.preorder_traversal(expr))


def number_text(value: sp.Expr) -> str:
    """A value for feedback, language-neutral: a short fraction as it is (-3/4), else 6 significant digits;
    Words.value writes it in the reader's language (−2,43089·10⁻⁸)."""
    return str(value) if value.is_Rational and len(str(value)) <= 12 else f"{float(value):.6g}"
