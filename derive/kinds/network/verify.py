"""Numerical verification of a derivation against finite differences of its forward pass.

The derivation is a program (CONTRACT section 3): forward definitions, then
named backward quantities, then one formula per parameter. `verify` runs that
very program, printed in the contract's ASCII syntax, at random points whose
pre-activations stay away from the kinks of ReLU-like activations, and
compares every formula with central differences of the forward pass. Shown
forms (expanded, simplified) are checked against the named ones at the same
points.

Two backends of the one harness compute the same figures at the same points
(derive.numeric.stream draws NumPy's own random stream without NumPy): up to
SCALAR_PARAMETERS parameters the program runs over Python floats with the
`math` rules of the vocabulary (derive.numeric.scalar), one forward pass per
parameter and sign, and NumPy is never imported; above, or when a function
has no float rule, NumPy runs the differences for all parameters at once in
vectorized sweeps.
"""

from __future__ import annotations

from contextlib import nullcontext

import sympy as sp

from derive.kinds.network.backprop import Derivation
from derive.core.functions import kink_arguments
from derive.numeric import scalar
from derive.numeric.harness import FLOAT as TOLERANCE, STEP, Check, away_from_kinks
from derive.numeric.stream import default_rng, pairwise_sum
from derive.render.printing import ascii

FD_BLOCK = 2048  # parameters perturbed per sweep: bounds memory (arrays of 2*FD_BLOCK) on big networks
# Up to this many parameters the float backend verifies (benchmarks/README.md, "Verifying without NumPy":
# its cost grows with the square of the parameters, NumPy's import is paid once)
SCALAR_PARAMETERS = 400


def compile_program(statements: list[tuple[sp.Symbol, sp.Expr]]) -> list[tuple[str, object]]:
    """(name, expr) pairs -> (name, code) from the contract's ASCII form of each expr."""
    return [(str(s), compile(ascii(e), f"<derive:{s}>", "eval")) for s, e in statements]


def numpy_namespace() -> dict:
    from derive.numeric.evaluate import namespace  # imports NumPy: only the NumPy backend needs it

    return namespace()


def run(program: list[tuple[str, object]], env: dict, names: dict | None = None) -> dict:
    names = numpy_namespace() if names is None else names
    for name, code in program:
        env[name] = eval(code, names, env)  # our own printed formulas, over validated names
    return env


class _Verifier:
    """backend: "numpy", "scalar", or None: scalar when the network is small and every function has a float rule.

    rng: anything with NumPy's `uniform(low, high)` (derive.numeric.stream, or a NumPy Generator).
    """

    def __init__(self, derivation: Derivation, rng, backend: str | None = "numpy"):
        self.d, self.net, self.rng = derivation, derivation.network, rng
        self.forward_text = [(str(s), ascii(e)) for s, e in self.net.forward]
        self.forward = [(name, compile(text, f"<derive:{name}>", "eval")) for name, text in self.forward_text]
        self.backward = compile_program([(g.symbol, g.expr) for g in derivation.backward])
        self.derivs = compile_program([(p.param, p.value) for p in derivation.derivatives])
        shown = [(p.param, p.expanded) for p in derivation.derivatives if p.expanded is not None]
        shown += [(g.symbol, g.simplified) for g in derivation.backward if g.simplified is not None]
        self.shown = compile_program(shown)
        self.one_hot = compile_program([(g.symbol, g.one_hot) for g in derivation.backward if g.one_hot is not None])
        self.param_names = [str(p) for p in self.net.params]  # printed once, not at every point
        kinks = [k for _, e in self.net.forward for k in kink_arguments(e)]
        self.kinks = compile_program([(sp.Symbol(f"kink{i}"), k) for i, k in enumerate(kinks)])
        self.backend = backend or self._choose()
        self.names = scalar.namespace() if self.backend == "scalar" else numpy_namespace()
        self._forward_function = None

    def _choose(self) -> str:
        """The float backend for small networks whose every function has a float rule, else NumPy."""
        if len(self.param_names) > SCALAR_PARAMETERS:
            return "numpy"
        programs = (self.forward, self.backward, self.derivs, self.shown, self.one_hot, self.kinks)
        variables = [name for program in programs for name, _ in program] + self.param_names
        variables += [str(s) for s in (*self.net.inputs, *self.net.constants, *self.net.targets)]
        return "scalar" if scalar.covers((code for p in programs for _, code in p), variables) else "numpy"

    def quiet(self):
        """NumPy's warnings off while it computes (its inf and nan fail the comparisons instead)."""
        if self.backend == "scalar":
            return nullcontext()
        import numpy as np

        return np.errstate(all="ignore")

    def run(self, program: list[tuple[str, object]], env: dict) -> dict:
        return scalar.run(program, env, self.names) if self.backend == "scalar" else run(program, env, self.names)

    def value(self, code, env: dict) -> float:
        return float(self.run([("__value__", code)], env).pop("__value__"))

    def draw(self, normalized: bool) -> dict:
        """A random point away from kinks: parameters, inputs, targets, constants."""
        return away_from_kinks(lambda: self._sample(normalized), self._kink_values)

    def _kink_values(self, env: dict) -> list[float]:
        values = self.run(self.kinks, self.run(self.forward, dict(env)))
        return [float(values[k]) for k, _ in self.kinks]

    def _sample(self, normalized: bool) -> dict:
        u = self.rng.uniform
        env = {name: u(-1.0, 1.0) for name in self.param_names}
        env |= {str(x): u(-2.0, 2.0) for x in self.net.inputs}
        env |= {str(c): u(0.05, 0.3) for c in self.net.constants}
        ts = self.net.targets
        if ts:
            low = 0.05 if self.net.spec.loss in ("bce", "ce") else -1.0
            high = 0.95 if low > 0 else 1.0
            t = [u(low, high) for _ in ts]  # the numbers NumPy's uniform(low, high, len(ts)) draws
            if normalized and len(ts) > 1:
                total = pairwise_sum(t)  # NumPy's sum, addition for addition
                t = [v / total for v in t]
            env |= {str(s): v for s, v in zip(ts, t)}
        return env

    def finite_differences(self, env: dict) -> list[float]:
        """Central differences of the forward pass for every parameter, in the verifier's backend."""
        if self.backend == "scalar":
            return self._scalar_differences(env)
        import numpy as np

        names = self.param_names
        return list(np.concatenate([self._differences(env, names[i : i + FD_BLOCK]) for i in range(0, len(names), FD_BLOCK)]))

    def _scalar_differences(self, env: dict) -> list[float]:
        """One forward pass over floats per parameter and sign: (f(p + h) − f(p − h)) / 2h, as the sweep computes it."""
        if self._forward_function is None:
            self._forward_function = scalar.program_function(self.forward_text, list(env), str(self.net.of), self.names)
        forward, out, batch = self._forward_function, [], dict(env)
        for name in self.param_names:
            p = env[name]
            batch[name] = p + STEP
            plus = forward(batch)
            batch[name] = p - STEP
            minus = forward(batch)
            batch[name] = p
            out.append((plus - minus) / (2 * STEP))
        return out

    def _differences(self, env: dict, names: list[str]):
        """One vectorized sweep: the block's parameters are arrays (column i: +STEP on parameter i,
        column n+i: −STEP) and every other value stays a scalar that NumPy broadcasts."""
        import numpy as np

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
        values = self.run(self.backward, self.run(self.forward, dict(env)))
        # a derivative is named after its parameter: keep the two apart
        results = {name: self.value(code, values) for name, code in self.derivs}
        numeric = self.finite_differences(env)
        for (name, _), fd in zip(self.derivs, numeric):
            check.compare(name, results[name], float(fd))
        for name, code in self.shown + (self.one_hot if normalized else []):
            reference = results[name] if name in results else float(values[name])
            check.compare(f"{name} (shown form)", self.value(code, values), reference)


def verify(derivation: Derivation, points: int = 3, seed: int = 0, backend: str | None = None) -> Check:
    """Check every formula of derivation at `points` random points.

    backend: "scalar" (floats and `math`), "numpy", or None: the float one for
    small networks (SCALAR_PARAMETERS) whose functions all have float rules.
    Both draw the same points and compute the same differences.
    """
    verifier = _Verifier(derivation, default_rng(seed), backend)
    check = Check(points=points, tolerance=TOLERANCE)
    with verifier.quiet():
        for k in range(points):
            normalized = k == 0
            verifier.check_point(verifier.draw(normalized), normalized, check)
    return check
