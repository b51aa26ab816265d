"""Check every derivative of a scalar graph against finite differences of its forward pass.

At the spec's `values` (unless they sit on a kink) and at random points whose
kink arguments (of relu, max, min, |·|, indicators) stay away from 0, each
local derivative ∂v/∂a is compared with a central difference of v's own
expression, and each gradient ∂f/∂v (chain, named and closed forms alike)
with a central difference of the forward pass in which v is nudged and
everything after it recomputed. Exact values are compared with the same
forms evaluated numerically.
"""

from __future__ import annotations

from dataclasses import dataclass

import mpmath
import sympy as sp

from derive.core.functions import kink_arguments
from derive.kinds.graph.backprop import Backprop
from derive.numeric.precise import DPS, derivative, evaluate, finite
from derive.numeric.harness import KINK_MARGIN, PRECISE, Check as _Check, away_from_kinks
from derive.numeric.stream import default_rng

RANDOM_POINTS = 4


@dataclass
class Check(_Check):
    """The network's Check at the graph's tolerance (high-precision differences); at_values: the spec's point was checked too."""

    tolerance: float = PRECISE
    at_values: bool = False
    digits: int = DPS  # the precision of the finite differences (and of every evaluation), which the note names


def away_from(values: list | None) -> bool:
    return values is not None and all(abs(v) > KINK_MARGIN for v in values)


class _Verifier:
    def __init__(self, bp: Backprop, rng):
        """rng: NumPy's random stream (derive.numeric.stream: the same numbers, without importing NumPy)."""
        self.bp, self.rng = bp, rng
        self.kinks = [k for n in bp.nodes for e in (n.expr, *(l.expr for l in n.locals)) for k in kink_arguments(e)]

    # -- points ----------------------------------------------------------------------
    def forward(self, env: dict, nudge: tuple[sp.Symbol, mpmath.mpf] | None = None) -> dict | None:
        """All node values from the inputs in env (with one value nudged), or None off the domain."""
        env = dict(env)
        if nudge and nudge[0] in env:
            env[nudge[0]] += nudge[1]
        for node in self.bp.nodes:
            value = evaluate(node.expr, env)
            if not finite(value):
                return None
            env[node.symbol] = value + (nudge[1] if nudge and nudge[0] == node.symbol else 0)
        return env

    def kink_values(self, env: dict | None) -> list | None:
        """The kink arguments at the point (None: outside the domain, or a gradient is not finite)."""
        if env is None:
            return None
        kinks = [evaluate(k, env) for k in self.kinks]
        return kinks if all(finite(k) for k in kinks) else None

    def usable(self, env: dict | None) -> bool:
        return away_from(self.kink_values(env))

    def random_point(self) -> dict:
        def draw():
            return {x: mpmath.mpf(float(self.rng.uniform(-2.0, 2.0))) for x in self.bp.inputs}

        def kinks(env):
            full = self.forward(env)
            values = self.kink_values(full)
            return values if values is not None and self._gradients_finite(full) else None

        return away_from_kinks(draw, kinks)

    def _gradients_finite(self, env: dict) -> bool:
        return all(finite(evaluate(g.named, env)) for g in self.bp.grads.values())

    # -- checks ----------------------------------------------------------------------
    def check_point(self, env: dict, check: Check) -> None:
        full = self.forward(env)
        for node in self.bp.nodes:
            for loc in node.locals:
                fd = derivative(lambda t: evaluate(node.expr, {**full, loc.arg: t}), full[loc.arg])
                check.compare(f"d{node.symbol}/d{loc.arg}", evaluate(loc.expr, full), fd)
        upstream = {g.upstream: evaluate(g.named, full) for g in self.bp.grads.values() if g.upstream is not None}
        out = self.bp.of
        for v, grad in self.bp.grads.items():
            fd = derivative(lambda h: self.forward(env, (v, h))[out], mpmath.mpf(0), scale=full[v])
            name = f"d{out}/d{v}"
            check.compare(name, evaluate(grad.named, full), fd)
            check.compare(f"{name} (chain form)", evaluate(grad.chain, {**full, **upstream}), fd)
            check.compare(f"{name} (closed form)", evaluate(grad.closed, full), fd)

    def check_values(self, check: Check) -> None:
        """The exact values printed equal the formulas evaluated at the spec's values."""
        values = self.bp.values
        env = {x: evaluate(values[x], {}) for x in self.bp.inputs}
        full = self.forward(env)
        for node in self.bp.nodes:
            check.compare(f"{node.symbol} (value)", evaluate(node.value, {}), full[node.symbol])
        for v, grad in self.bp.grads.items():
            check.compare(f"d{self.bp.of}/d{v} (value)", evaluate(grad.value, {}), evaluate(grad.named, full))
            for term, loc in zip(grad.terms, grad.uses):
                product = term[0] * term[1] if isinstance(term, tuple) else term
                check.compare(f"d{self.bp.of}/d{v} via {loc.node} (value)", evaluate(product, {}),
                              evaluate(self.bp.grads[loc.node].named * loc.expr, full))
        if self.usable(full):
            check.at_values = True
            check.points += 1
            self.check_point(env, check)


def verify(bp: Backprop, points: int = RANDOM_POINTS, seed: int = 0) -> Check:
    verifier = _Verifier(bp, default_rng(seed))
    check = Check(digits=DPS)
    with mpmath.workdps(DPS):  # nudges and sums outside `evaluate` need the same precision
        if bp.values is not None:
            verifier.check_values(check)
        for _ in range(points):
            verifier.check_point(verifier.random_point(), check)
            check.points += 1
    return check
