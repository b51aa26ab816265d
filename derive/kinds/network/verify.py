"""Numerical verification of a derivation against finite differences of its forward pass.

The derivation is a program (CONTRACT section 3): forward definitions, then
named backward quantities, then one formula per parameter. `verify` runs that
very program, printed in the contract's ASCII syntax, at random points whose
pre-activations stay away from the kinks of ReLU-like activations, and
compares every formula with central differences of the forward pass, computed
for all parameters at once in one vectorized sweep. Shown forms (expanded,
simplified) are checked against the named ones at the same points.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from derive.kinds.network.backprop import Derivation
from derive.core.functions import kink_arguments
from derive.numeric.evaluate import namespace
from derive.numeric.harness import FLOAT as TOLERANCE, STEP, Check, away_from_kinks
from derive.render.printing import ascii

FD_BLOCK = 2048  # parameters perturbed per sweep: bounds memory (arrays of 2*FD_BLOCK) on big networks


def compile_program(statements: list[tuple[sp.Symbol, sp.Expr]]) -> list[tuple[str, object]]:
    """(name, expr) pairs -> (name, code) from the contract's ASCII form of each expr."""
    return [(str(s), compile(ascii(e), f"<derive:{s}>", "eval")) for s, e in statements]


def run(program: list[tuple[str, object]], env: dict, names: dict | None = None) -> dict:
    names = namespace() if names is None else names
    for name, code in program:
        env[name] = eval(code, names, env)  # our own printed formulas, over validated names
    return env


class _Verifier:
    def __init__(self, derivation: Derivation, rng: np.random.Generator):
        self.d, self.net, self.rng = derivation, derivation.network, rng
        self.forward = compile_program(self.net.forward)
        self.backward = compile_program([(g.symbol, g.expr) for g in derivation.backward])
        self.derivs = compile_program([(p.param, p.value) for p in derivation.derivatives])
        shown = [(p.param, p.expanded) for p in derivation.derivatives if p.expanded is not None]
        shown += [(g.symbol, g.simplified) for g in derivation.backward if g.simplified is not None]
        self.shown = compile_program(shown)
        self.one_hot = compile_program([(g.symbol, g.one_hot) for g in derivation.backward if g.one_hot is not None])
        self.names = namespace()
        self.param_names = [str(p) for p in self.net.params]  # printed once, not at every point
        kinks = [k for _, e in self.net.forward for k in kink_arguments(e)]
        self.kinks = compile_program([(sp.Symbol(f"kink{i}"), k) for i, k in enumerate(kinks)])

    def draw(self, normalized: bool) -> dict:
        """A random point away from kinks: parameters, inputs, targets, constants."""
        return away_from_kinks(lambda: self._sample(normalized), self._kink_values)

    def _kink_values(self, env: dict) -> list[float]:
        values = run(self.kinks, run(self.forward, dict(env), self.names), self.names)
        return [float(values[k]) for k, _ in self.kinks]

    def _sample(self, normalized: bool) -> dict:
        u = self.rng.uniform
        env = {name: u(-1.0, 1.0) for name in self.param_names}
        env |= {str(x): u(-2.0, 2.0) for x in self.net.inputs}
        env |= {str(c): u(0.05, 0.3) for c in self.net.constants}
        ts = self.net.targets
        if ts:
            unit = self.net.spec.loss in ("bce", "ce")
            t = u(0.05, 0.95, len(ts)) if unit else u(-1.0, 1.0, len(ts))
            if normalized and len(ts) > 1:
                t = t / t.sum()
            env |= {str(s): v for s, v in zip(ts, t)}
        return env

    def finite_differences(self, env: dict) -> np.ndarray:
        """Central differences for every parameter, FD_BLOCK parameters per vectorized sweep.

        In a sweep the block's parameters are arrays (column i: +STEP on parameter i,
        column n+i: −STEP) and every other value stays a scalar that numpy broadcasts.
        """
        names = self.param_names
        return np.concatenate([self._differences(env, names[i : i + FD_BLOCK]) for i in range(0, len(names), FD_BLOCK)])

    def _differences(self, env: dict, names: list[str]) -> np.ndarray:
        n = len(names)
        batch = dict(env)
        for i, name in enumerate(names):
            column = np.full(2 * n, env[name])
            column[i] += STEP
            column[n + i] -= STEP
            batch[name] = column
        out = np.broadcast_to(np.asarray(run(self.forward, batch, self.names)[str(self.net.of)], dtype=float), (2 * n,))
        return (out[:n] - out[n:]) / (2 * STEP)

    def check_point(self, env: dict, normalized: bool, check: Check) -> None:
        values = run(self.backward, run(self.forward, dict(env), self.names), self.names)
        # a derivative is named after its parameter: keep the two apart
        results = {name: float(eval(code, self.names, values)) for name, code in self.derivs}
        numeric = self.finite_differences(env)
        for (name, _), fd in zip(self.derivs, numeric):
            check.compare(name, results[name], float(fd))
        for name, code in self.shown + (self.one_hot if normalized else []):
            reference = results[name] if name in results else float(values[name])
            check.compare(f"{name} (shown form)", float(eval(code, self.names, values)), reference)


def verify(derivation: Derivation, points: int = 3, seed: int = 0) -> Check:
    """Check every formula of derivation at `points` random points."""
    verifier = _Verifier(derivation, np.random.default_rng(seed))
    check = Check(points=points, tolerance=TOLERANCE)
    with np.errstate(all="ignore"):
        for k in range(points):
            normalized = k == 0
            verifier.check_point(verifier.draw(normalized), normalized, check)
    return check
