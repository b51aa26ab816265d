"""Grading answers for the layer kinds (rnn, attention, conv, layernorm): formulas at concrete sizes.

A key is a name the kind's JSON lists: a parameter's gradient (`W_12`,
`WQ_21`, `w_110`) or a backward quantity (`delta_21`, `dL_dh_31`,
`dL_dx_12`). An answer is a formula over the names of that JSON program
(inputs, parameters, targets, forward and backward quantities), read by the
answer grammar (derive.mathparse: nothing is evaluated as Python), and it is
correct when it agrees with the verified derivation at POINTS random test
points. Diagnoses: the sign, a constant factor, and otherwise how many points
differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.grading.grader import (
    Finding,
    FormulaGrader,
    Verdict,
    _set,
    agreement,
    value_findings,
)
from derive.numeric.evaluate import Unsupported, evaluate
from derive.render.printing import answer_text, latex_printer
from derive.kinds import indexform as engine
from derive.kinds.layers.common import ascii_names, element_name

POINTS = 60  # test points: each is a whole forward and backward pass at the concrete sizes


@dataclass
class _Target:
    key: str
    values: np.ndarray
    ascii: str
    latex: str


class LayerGrader(FormulaGrader):
    """Grades formulas for one verified layer derivation (common.Outcome)."""

    def __init__(self, outcome, seed: int = 0):
        super().__init__()
        model = outcome.model
        self.concrete = engine.Concrete(model)
        rng = np.random.default_rng(seed)
        points = [engine.random_point(model, rng) for _ in range(POINTS)]
        given = points[0]
        loss = model.quantities[model.loss]
        forward = engine.value_program(self.concrete, dict(given), [loss.base])
        params = [model.gradients[q.name] for q in model.params]
        inputs = [model.gradients[q.name] for q in model.quantities.values()
                  if q.role == "input" and q.name in model.gradients]
        wanted = [engine.gradient_of(g, e) for g in params + inputs for e in engine.elements(g.quantity, model.sizes)]
        known = dict(given) | {engine.key(a): 0 for a, _ in forward}
        backward = engine.value_program(self.concrete, known, wanted)
        program = forward + backward
        self.names = {element_name_of(name): sp.Symbol(element_name_of(name), real=True) for name in given}
        asked_gradients = {engine.key(a) for a in wanted if engine.key(a) in of_param_keys(params, model)}
        # a parameter's own gradient (dL_dW_11) is what is asked: it is not a name an answer may use
        self.names |= {element_name(a): sp.Symbol(element_name(a), real=True) for a, _ in program
                       if engine.key(a) not in asked_gradients}
        self._withheld = {element_name(a) for a, _ in program if engine.key(a) in asked_gradients}
        self.env = self._values(points, [a for a, _ in program])
        self.points = POINTS
        formulas = dict(program)
        self.asked = [element_name(e) for q in model.params for e in engine.elements(q, model.sizes)]
        self.of_quantity = {q.name: {element_name(e) for e in engine.elements(q, model.sizes)} for q in model.params}
        self.model = model
        of_param = {engine.key(engine.gradient_of(g, e)): element_name(e)
                    for g in params for e in engine.elements(g.quantity, model.sizes)}
        self.targets = {}
        tex = latex_printer(partials=model.partials)  # the derivation's own LaTeX (∂L/∂y_{1,1}, δ_{2,1}), as in JSON
        for atom, _expr in backward:  # a parameter's gradient is asked by the parameter's name (W_12)
            name = element_name(atom)
            key = of_param.get(engine.key(atom), name)
            shown = ascii_names(formulas[atom])
            self.targets[key] = _Target(key, self.env[sp.Symbol(name, real=True)], answer_text(shown), tex(formulas[atom]))

    def _values(self, points: list[dict], atoms: list) -> dict:
        """Every named quantity at every test point, as arrays keyed by the answer grammar's symbols."""
        columns: dict[str, list[float]] = {}
        for values in points:
            values = dict(values)
            for atom in atoms:
                self.concrete.evaluate(values, atom)
            for name, value in values.items():
                columns.setdefault(name, []).append(float(value))
        return {sp.Symbol(element_name_of(name), real=True): np.array(v) for name, v in columns.items()
                if len(v) == len(points)}

    def withheld(self, key: str) -> set[str]:
        return self._withheld | super().withheld(key)  # the parameters' gradients, and a backward key itself

    def grade_formula(self, verdict: Verdict, target: _Target, formula: sp.Expr) -> Verdict:
        try:
            values = np.broadcast_to(evaluate(formula, self.env), (self.points,)).astype(float)
        except Unsupported as exc:
            return _set(verdict, "invalid", Finding.of("unsupported", what=str(exc)))
        if np.all(agreement(values, target.values)):
            return _set(verdict, "correct", Finding.of("correct_points", points=self.points))
        if np.all(agreement(-values, target.values)):
            return _set(verdict, "incorrect", Finding.of("sign"))
        return _set(verdict, "incorrect", *value_findings(None, values, target.values, self.points))


def of_param_keys(params: list, model) -> set:
    """The engine keys of the parameters' gradients (dL/dW[1,2], …)."""
    return {engine.key(engine.gradient_of(g, e)) for g in params for e in engine.elements(g.quantity, model.sizes)}


def element_name_of(key: str) -> str:
    """An engine key (h[2,1], L) as the JSON's name (h_21, L)."""
    label, idx = engine.parse_key(key)
    if not idx:
        return label
    parts = [str(i) for i in idx]
    return f"{label}_{('_' if any(len(p) > 1 for p in parts) else '').join(parts)}"
