"""Every kind satisfies the kind interface (derive.kind), and its entry states exactly what else it offers."""

from __future__ import annotations

import pytest

from conftest import ROOT
from derive.kinds.base import KINDS, Kind, Outcome, Spec
from derive.pipeline import derive_spec

OPTIONAL = {"figure": ("figure",), "options": ("apply_options",), "inputs": ("inputs",),
            "documents": ("markdown_document", "latex_document")}
EXAMPLE = {"network": "two-layer-relu", "graph": "graph-add-mul", "mlp": "mlp-backprop",
           "composition": "deep-composition", "course": "course", "rnn": "rnn-3-steps",
           "attention": "attention-3-tokens", "conv": "conv1d", "layernorm": "layernorm"}


@pytest.mark.parametrize("name", list(KINDS))
def test_a_kind_module_is_a_kind_and_its_entry_is_true(name):
    entry = KINDS[name]
    assert isinstance(entry.module, Kind)
    for flag, functions in OPTIONAL.items():
        for function in functions:
            assert hasattr(entry.module, function) == getattr(entry, flag), f"{name}: {flag} / {function}"


@pytest.mark.parametrize("name", list(KINDS))
def test_an_outcome_carries_its_spec(name):
    result = derive_spec(ROOT / "specs" / f"{EXAMPLE[name]}.yaml")
    assert result.entry is KINDS[name]
    assert isinstance(result.outcome, Outcome) and isinstance(result.outcome.spec, Spec)
    assert result.outcome.spec.file.endswith(f"{EXAMPLE[name]}.yaml")
