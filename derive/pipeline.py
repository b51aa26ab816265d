"""The pipeline, top to bottom: load spec -> model -> derive -> verify -> render -> write.

Verification is not optional: a formula that disagrees with finite
differences stops the pipeline with `VerificationFailed` instead of being
printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .backprop import Derivation, derive
from .errors import VerificationFailed
from .model import build
from .spec import NetworkSpec, load_spec
from .verify import Check, verify

FORMATS = ("md", "json")


@dataclass
class Result:
    spec: NetworkSpec
    derivation: Derivation
    check: Check


def derive_spec(path: str | Path) -> Result:
    spec = load_spec(path)
    derivation = derive(build(spec))
    check = verify(derivation)
    if not check.ok:
        name, analytic, numeric = check.failures[0]
        raise VerificationFailed(
            f"{spec.file}: the derived formula for {name} gives {analytic:.6g} but finite differences give "
            f"{numeric:.6g}; nothing was printed. This is a bug in derive: please report it with the spec."
        )
    return Result(spec, derivation, check)


def render(result: Result, fmt: str, lang: str) -> str:
    from . import render as renderers

    if fmt == "json":
        return renderers.json_text(result.derivation, result.check)
    return renderers.markdown(result.derivation, result.check, lang)
