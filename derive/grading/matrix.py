"""Grading matrix answers for a network in vector view (`view: vector`): δ^{[l]}, ∂J/∂W^{[l]}, ∂J/∂b^{[l]}, ….

Every name of the matrix view (x, W1, b1, z1, a, delta2, dJ_dW2, …: the names the
JSON's `vector[]` uses) stands for an explicit SymPy matrix of the scalar network's
quantities (W1 is [[W1_11, W1_12, …], …], delta2 is [dJ_dz2_1, dJ_dz2_2]), so a
student's `W2^T delta2 ⊙ I[z1 > 0]` or `(W2.T @ delta2) * relu'(z1)` is read by the
safe parser into a matrix of scalar formulas. Its shape is compared with the
expected one, then every entry is evaluated at the scalar grader's test points and
compared with the scalar derivation's value of that entry (∂J/∂W2_jk for the
entry (j, k) of dJ_dW2, and so on). Diagnoses: a transposed result (x δᵀ for
δ xᵀ), the sign, the activation's derivative missing from δ or the activation
written in its place, and which entries differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from derive.grading.grader import (
    Finding,
    FormulaGrader,
    Verdict,
    _constant_ratio,
    _set,
    agreement,
    gradient_symbols,
)
from derive.numeric.evaluate import Unsupported, evaluate
from derive.render.printing import answer_text

GRADED_STEPS = ("loss_grad", "local", "delta_output", "delta_hidden", "delta_softmax", "grad_W", "grad_b", "grad_input")
ASKED_STEPS = ("delta_output", "delta_hidden", "delta_softmax", "grad_W", "grad_b")


@dataclass
class _MatrixTarget:
    key: str
    step: object  # vector.Step
    entries: sp.ImmutableMatrix  # the expected value of each entry, over the scalar grader's names
    values: np.ndarray  # (rows, cols, points)
    ascii: str
    latex: str
    mistakes: list = field(default_factory=list)


def _column(symbols) -> sp.ImmutableMatrix:
    return sp.ImmutableMatrix([[s] for s in symbols])


class MatrixGrader(FormulaGrader):
    """Matrix-form answers for one network in vector view, on top of its scalar Grader (same test points)."""

    def __init__(self, outcome, scalar):
        super().__init__()
        self.outcome, self.scalar = outcome, scalar
        self.net = outcome.derivation.network
        self.grad = gradient_symbols(outcome.derivation)
        self.matrices = self._matrices()
        self.names = {**scalar.names, **self.matrices}
        self.points = scalar.points
        self.targets: dict[str, _MatrixTarget] = {}
        for step in outcome.vector.backward:
            key = str(step.lhs)
            if step.reason in GRADED_STEPS and key not in self.targets:
                entries = self._expected(step)
                if entries is not None:
                    self.targets[key] = self._target(key, step, entries)
        self.asked = [k for k, t in self.targets.items() if t.step.reason in ASKED_STEPS]

    def withheld(self, key: str) -> set[str]:
        """The quantity asked, by its name (delta2 for delta2) and by its scalar gradients' names (dJ_dz2, a
        one-unit layer's δ): an answer that names it agrees with itself everywhere."""
        target = self.targets[key]
        components = self._components(target.step) if target.step.reason != "local" else None
        return {key} | {str(s) for s in (components if components is not None else ()) if str(s) in self.names}

    # -- the names of the matrix view, as matrices of scalar quantities

    def _matrices(self) -> dict[str, sp.ImmutableMatrix]:
        from derive.kinds.network.vector import family

        net, out = self.net, {}
        out[str(family(net.inputs))] = _column(net.inputs)
        if net.targets:
            out[str(family(net.targets))] = _column(net.targets)
        for layer in net.layers:
            pre, post = [u.pre for u in layer.units], [u.post for u in layer.units]
            if pre[0] is not None:
                out[str(family(pre))] = _column(pre)
            out[str(family(post))] = _column(post)
            out[layer.spec.params] = sp.ImmutableMatrix([[p for p, src in u.incoming if src != 1] for u in layer.units])
            out[layer.spec.bias] = _column([u.incoming[0][0] for u in layer.units])
        for step in self.outcome.vector.backward:  # δ, ∂J/∂z, ∂J/∂a: the columns of their scalar gradients
            components = self._components(step) if step.reason != "local" else self._expected(step)
            if components is not None and step.reason not in ("grad_W", "grad_b"):
                out.setdefault(str(step.lhs), components)  # dy_dz2, the local derivative, is a column of formulas
        return {name: m for name, m in out.items() if m.shape != (1, 1)} | \
               {name: m[0, 0] for name, m in out.items() if m.shape == (1, 1)}

    def _layer(self, step):
        return self.net.layers[step.layer - 1]

    def _components(self, step) -> sp.ImmutableMatrix | None:
        """The column of scalar gradient symbols a step's vector stands for (None for the other steps)."""
        layer = self._layer(step)
        if step.reason in ("delta_output", "delta_hidden", "delta_softmax"):
            return _column([self.grad[u.pre] for u in layer.units])
        if step.reason == "loss_grad":
            return _column([self.grad[u.post] for u in layer.units])
        if step.reason == "grad_input":
            return _column([self.grad[x] for x in self.net.inputs])
        return None

    def _expected(self, step) -> sp.ImmutableMatrix | None:
        """Each entry's expected value, over the scalar grader's names (gradient symbols have values there)."""
        layer = self._layer(step)
        if step.reason == "grad_W":
            return sp.ImmutableMatrix([[self.scalar.expected[str(p)].value for p, src in u.incoming if src != 1]
                                       for u in layer.units])
        if step.reason == "grad_b":
            return _column([self.scalar.expected[str(u.incoming[0][0])].value for u in layer.units])
        if step.reason == "local":
            if layer.activation.name == "softmax":
                return None
            return _column([layer.activation.derivative(u.pre, u.post, layer.alpha) for u in layer.units])
        return self._components(step)

    def _target(self, key: str, step, entries: sp.ImmutableMatrix) -> _MatrixTarget:
        values = self._values(entries)
        text = plain(step.rhs[0])
        from derive.kinds.network.kind import printer_settings
        from derive.render.printing import latex_printer

        tex = latex_printer(**printer_settings(self.outcome))(step.rhs[0])
        return _MatrixTarget(key, step, entries, values, text, tex)

    def _values(self, m) -> np.ndarray:
        m = m if isinstance(m, sp.MatrixBase) else sp.ImmutableMatrix([[m]])
        return np.array([[np.broadcast_to(evaluate(m[i, j], self.scalar.env), (self.points,)).astype(float)
                          for j in range(m.cols)] for i in range(m.rows)])

    # -- checking

    def grade_formula(self, verdict: Verdict, target: _MatrixTarget, answer) -> Verdict:
        try:
            values = self._values(answer)
        except Unsupported as exc:
            return _set(verdict, "invalid", Finding.of("unsupported", what=str(exc)))
        kind, findings = matrix_findings(values, target.values, target.key, self.points, lambda: self.mistakes(target))
        return _set(verdict, kind, *findings)

    def mistakes(self, target: _MatrixTarget) -> list[tuple[Finding, np.ndarray]]:
        """δ without the activation's derivative, or with the activation in its place (and ∂J/∂W, ∂J/∂b built on
        such a δ), as values at the test points; built once."""
        if target.mistakes:
            return target.mistakes
        step, layer = target.step, self._layer(target.step)
        act = layer.activation
        if act.name in ("identity", "softmax") or layer.units[0].pre is None:
            target.mistakes = [(Finding.of("sign"), -target.values)]
            return target.mistakes
        upstream = [self.grad[u.post] for u in layer.units]  # ∂J/∂a_j: δ_j before ⊙ f'(z_j)
        posts = [u.post for u in layer.units]
        from derive.kinds.network.vector import family

        pre, post = family([u.pre for u in layer.units]), family(posts)
        factor = answer_text(act.derivative(pre, post, layer.alpha))  # f'(z) over the layer's own vectors: y*(1 - y)
        wrong = {"missing_derivative_delta": upstream,
                 "activation_in_delta": [g * a for g, a in zip(upstream, posts)]}
        out = []
        for code, delta in wrong.items():
            entries = self._with_delta(step, layer, delta)
            if entries is not None:
                out.append((Finding.of(code, factor=factor), self._values(entries)))
        target.mistakes = out
        return out

    def _with_delta(self, step, layer, delta: list) -> sp.ImmutableMatrix | None:
        if step.reason in ("delta_output", "delta_hidden"):
            return _column(delta)
        if step.reason == "grad_b":
            return _column(delta)
        if step.reason == "grad_W":
            return sp.ImmutableMatrix([[d * src for p, src in u.incoming if src != 1] for d, u in zip(delta, layer.units)])
        return None


def matrix_findings(values: np.ndarray, expected: np.ndarray, key: str, points: int, mistakes=list) -> tuple:
    """(verdict, findings) of a matrix answer's values (rows, cols, points) against the expected ones: the shape
    (a transposed result, a row for a column, the transpose's shape: a transpose missing, and the typical
    mistake its transpose makes, if any), then the entries; the sign, a square result transposed, the
    typical mistakes (mistakes(): [(finding, values)], asked only when needed), a constant factor, which
    entries differ. Shared by the vector view and the index graphs' matrix keys."""
    if values.shape != expected.shape:
        if values.shape[:2] == expected.shape[1::-1] and _agrees(values.transpose(1, 0, 2), expected):
            code = "row_for_column" if expected.shape[1] == 1 else "transposed_result"
            return "incorrect", [Finding.of(code, shape=_shape(values), expected=_shape(expected))]
        if values.shape[:2] == expected.shape[1::-1]:  # the transpose's shape: a transpose missing, and what else
            hint = [Finding.of("transposed_shape", shape=_shape(values), expected=_shape(expected), key=key)]
            flipped = values.transpose(1, 0, 2)
            return "incorrect", hint + next(([f] for f, wrong in mistakes() if _agrees(flipped, wrong)), [])
        return "incorrect", [Finding.of("wrong_shape", shape=_shape(values), expected=_shape(expected), key=key)]
    if _agrees(values, expected) and expected.shape[:2] == (1, 1):  # one entry: not "all 1 entries agree"
        return "correct", [Finding.of("correct_points", points=points)]
    if _agrees(values, expected):
        return "correct", [Finding.of("correct_matrix", entries=expected.shape[0] * expected.shape[1], points=points)]
    if _agrees(values, -expected):
        return "incorrect", [Finding.of("sign")]
    if values.shape[0] == values.shape[1] and _agrees(values.transpose(1, 0, 2), expected):
        return "incorrect", [Finding.of("transposed_result", shape=_shape(values), expected=_shape(expected))]
    for finding, wrong in mistakes():
        if _agrees(values, wrong):
            return "incorrect", [finding]
    factor = _constant_ratio(values.ravel(), expected.ravel())
    if factor is not None:
        return "incorrect", [Finding.of("constant_factor", factor=factor)]
    rows, cols = expected.shape[:2]
    bad = [(i, j) for i in range(rows) for j in range(cols) if not _agrees(values[i, j], expected[i, j])]
    shown = ", ".join(f"({i + 1}, {j + 1})" for i, j in bad[:6]) + (", …" if len(bad) > 6 else "")
    return "incorrect", [Finding.of("entries_differ", bad=len(bad), entries=rows * cols, which=shown)]


def _agrees(values: np.ndarray, expected: np.ndarray) -> bool:
    return bool(np.all(agreement(values, expected)))


def _shape(values: np.ndarray) -> str:
    return f"{values.shape[0]}×{values.shape[1]}"


def plain(expr: sp.Expr) -> str:
    """A matrix formula as a student types it in math notation: W2^T delta2 ⊙ I(z1 > 0), delta2 a^T."""
    from derive.render.notation import Had, MatProd, Tr

    def show(e, inner=False) -> str:
        if isinstance(e, Tr):
            return f"{show(e.args[0], True)}^T"
        if isinstance(e, MatProd):
            text = " ".join(show(a, True) for a in e.args)
        elif isinstance(e, Had):
            text = " ⊙ ".join(show(a, True) for a in e.args)
        elif e.has(Had, MatProd, Tr) and (e.is_Add or e.is_Mul):
            joiner = " + " if e.is_Add else " "
            text = joiner.join(show(a, True) for a in e.args)
        else:
            text = answer_text(e)
            return f"({text})" if inner and (e.is_Add or (e.is_Mul and len(text) > 12)) else text
        return f"({text})" if inner and len(e.args) > 1 else text

    return show(expr)


class VectorViewGrader:
    """A network in vector view: matrix keys (delta2, dJ_dW1, …) by MatrixGrader, scalar ones by the Grader."""

    def __init__(self, outcome, scalar):
        self.scalar, self.matrix = scalar, MatrixGrader(outcome, scalar)
        self.names, self.backward, self.expected = self.matrix.names, scalar.backward, scalar.expected
        self.asked = self.matrix.asked

    def keys(self) -> list[str]:
        return [*self.matrix.keys(), *self.scalar.keys()]

    def check(self, key: str, raw) -> Verdict:
        return (self.matrix if key in self.matrix.targets else self.scalar).check(key, raw)

    def reading(self, key: str, text: str) -> tuple:
        return (self.matrix if key in self.matrix.targets else self.scalar).reading(key, text)

    def names_for(self, key: str) -> dict:
        return (self.matrix if key in self.matrix.targets else self.scalar).names_for(key)
