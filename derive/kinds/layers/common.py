"""What the layer kinds share: typed spec getters, the Outcome, JSON and the verified-or-fail step.

Each kind (rnn, attention, conv, layernorm) builds an engine.Model from its
spec, derives it, and calls `verified(spec, model)`, the one place where the
numeric check runs and a failure stops the output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sympy as sp

from derive.meta import __version__
from derive.errors import VerificationFailed
from derive.render.printing import ascii, latex_printer
from derive.core.yamlload import Doc
from derive.kinds import indexform as engine

MAX_ENTRY = 1000  # entries of an example matrix: a lecture's numbers, not overflow


class Reader:
    """Typed, located access to one spec mapping: every problem is a SpecError at file:line:column."""

    def __init__(self, doc: Doc, keys: tuple):
        if not isinstance(doc.data, dict):
            raise doc.error((), "a spec is a YAML mapping with keys such as kind, title, " + ", ".join(keys[2:5]))
        doc.known_keys(doc.data, keys)
        self.doc, self.data = doc, doc.data

    def int(self, key: str, default: int, low: int, high: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.doc.error((key,), f"expected a whole number from {low} to {high}, got {value!r}")
        return value

    def matrix(self, key: str, rows: int, cols: int) -> list[list[float]] | None:
        value = self.data.get(key)
        if value is None:
            return None
        ok = (isinstance(value, list) and len(value) == rows
              and all(isinstance(r, list) and len(r) == cols for r in value)
              and all(isinstance(x, (int, float)) and not isinstance(x, bool) and abs(x) <= MAX_ENTRY
                      for r in value for x in r))
        if not ok:
            raise self.doc.error((key,), f"expected a {rows}×{cols} matrix of numbers between −{MAX_ENTRY} and "
                                         f"{MAX_ENTRY}, as a list of {rows} rows")
        return [[float(x) for x in r] for r in value]


@dataclass
class Outcome:
    spec: Any
    model: engine.Model
    check: engine.Check
    extra: dict = field(default_factory=dict)


def verified(spec, model: engine.Model, extra=None) -> engine.Check:
    """The numeric check of every formula (engine.verify); a disagreement stops everything (exit 1)."""
    check = engine.verify(model, extra=extra)
    if not check.ok:
        raise VerificationFailed.first(spec.file, check)
    return check


def element_name(atom) -> str:
    """W[1, 2] -> W_12 (W_1_12 when an index has two digits), L -> L: the contract's ASCII names."""
    if not isinstance(atom, sp.Indexed):
        return str(atom)
    idx = [str(int(k)) for k in atom.indices]
    sep = "_" if any(len(k) > 1 for k in idx) else ""
    return f"{atom.base.label}_{sep.join(idx)}"


def ascii_names(expr: sp.Expr) -> sp.Expr:
    """Concrete elements as plain symbols named by element_name, for the ASCII program."""
    return expr.xreplace({a: sp.Symbol(element_name(a), real=True) for a in expr.atoms(sp.Indexed)})


def to_json(kind: str, outcome: Outcome) -> dict:
    """The contract's program (forward, backward, derivatives) at the concrete sizes, plus the index forms."""
    model, check = outcome.model, outcome.check
    concrete = engine.Concrete(model)
    given = engine.random_point(model, __import__("numpy").random.default_rng(0))
    loss = model.quantities[model.loss]
    params = [e for q in model.params for e in engine.elements(q, model.sizes)]
    forward = engine.value_program(concrete, dict(given), [loss.base])
    grads = [model.gradients[q.name] for q in model.params]
    wanted = [engine.gradient_of(g, e) for g in grads for e in engine.elements(g.quantity, model.sizes)]
    known = dict(given) | {engine.key(a): 0 for a, _ in forward}
    inputs = [model.gradients[q.name] for q in model.quantities.values() if q.role == "input" and q.name in model.gradients]
    also = [engine.gradient_of(g, e) for g in inputs for e in engine.elements(g.quantity, model.sizes)]
    backward = engine.value_program(concrete, known, wanted + also)
    tex = latex_printer(partials=model.partials)
    result_of = {a: e for a, e in backward}
    out = {
        "kind": kind,
        "of": model.loss,
        "sizes": {str(k): v for k, v in model.sizes.items()},
        "inputs": [element_name(e) for q in model.quantities.values() if q.role == "input"
                   for e in engine.elements(q, model.sizes)] + [element_name(q.element(p)) for q in
                                                                 model.quantities.values() for p in q.given],
        "parameters": [element_name(e) for e in params],
        "forward": [{"name": element_name(a), "expr": ascii(ascii_names(e))} for a, e in forward],
        "backward": [{"name": element_name(a), "expr": ascii(ascii_names(e))} for a, e in backward
                     if a not in wanted],
        "derivatives": [{"wrt": element_name(e), "expr": ascii(ascii_names(result_of[w])),
                         "latex": tex(result_of[w]), "verified": check.ok}
                        for e, w in zip(params, wanted)],
        "index_form": [{"name": str(g.element()).replace(" ", ""),
                        "latex": tex(g.done), "expr": ascii(g.done)} for g in model.gradients.values()],
        "verification": check.as_json() | {"sizes": check.sizes},
        "version": __version__,
    }
    constants = [str(q.name) for q in model.quantities.values() if q.role == "constant"]
    if constants:
        out["constants"] = constants
    targets = [element_name(e) for q in model.quantities.values() if q.role == "target"
               for e in engine.elements(q, model.sizes)]
    if targets:
        out["targets"] = targets
    return out
