"""`kind: mlp`: the generic lecture on an L-layer perceptron with symbolic sizes n^{[l]} (seed 004).

The kind's interface: the formulas come from derive.mlpformulas, every one is
checked numerically by derive.mlpcheck before it is printed (a disagreement
raises VerificationFailed). Neither of those imports this module.
"""

from __future__ import annotations

from derive.meta import __version__
from derive.kinds.mlp import check as mlpcheck
from derive.errors import VerificationFailed
from derive.numeric.harness import from_errors
from derive.kinds.mlp.formulas import KIND, MlpSpec, Outcome, build_parts, notation, parse, z_

__all__ = ["KIND", "parse", "derive", "printer_settings", "context", "to_json", "Outcome", "MlpSpec"]


def derive(spec: MlpSpec) -> Outcome:
    outcome = Outcome(spec, build_parts(spec))
    outcome.claims = mlpcheck.check(outcome)
    verification = from_errors([(c.what, c.error) for c in outcome.claims])
    if not verification.ok:
        raise VerificationFailed.first(spec.file, verification)
    return outcome


def printer_settings(outcome: Outcome) -> dict:
    return {"relu": "ReLU", "terms": "bias-last", "ordinary": frozenset({z_})}


def context(outcome: Outcome, lang: str) -> dict:
    return {
        "s": notation(),
        "title": outcome.spec.title.get(lang),
        "sections": outcome.spec.sections,
        "boxes": outcome.spec.boxes,
        **outcome.parts,
        "claims": outcome.claims,
        "max_error": outcome.max_error,
        "version": __version__,
    }


def to_json(outcome: Outcome) -> dict:
    return mlpcheck.to_json(outcome)
