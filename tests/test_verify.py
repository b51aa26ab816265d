"""Verification can fail: a wrong formula is caught and never printed."""

from __future__ import annotations

import sympy as sp

from conftest import ROOT
from derive.kinds.network.backprop import derive
from derive.kinds.network.model import build
from derive.kinds.network.spec import load_spec
from derive.kinds.network.verify import verify


def seed_derivation():
    return derive(build(load_spec(ROOT / "specs" / "two-layer-relu.yaml")))


def test_correct_derivation_verifies():
    check = verify(seed_derivation())
    assert check.ok and check.points == 3 and check.max_error < 1e-6


def test_a_missing_indicator_is_caught():
    d = seed_derivation()
    p = next(p for p in d.derivatives if str(p.param) == "psi_11")
    p.value = sp.Symbol("phi_1") * sp.Symbol("h_1")  # forgot I[u_1 > 0]
    check = verify(d)
    assert not check.ok and check.failures[0][0] == "psi_11"


def test_a_wrong_expanded_form_is_caught():
    d = seed_derivation()
    p = next(p for p in d.derivatives if str(p.param) == "theta_11")
    p.expanded = p.expanded.subs(sp.Symbol("psi_12"), sp.Symbol("psi_21"))  # transposed index
    check = verify(d)
    assert [f[0] for f in check.failures] == ["theta_11 (shown form)"] * 3 or "theta_11 (shown form)" in check.failures[0][0]


def test_cli_refuses_to_print_an_unverified_formula(monkeypatch, cli):
    import derive.kinds.network.kind as network_kind

    def broken(network):
        d = derive(network)
        d.derivatives[0].value = sp.S(2) * d.derivatives[0].value
        return d

    monkeypatch.setattr(network_kind, "backprop", broken)
    result = cli(ROOT / "specs" / "two-layer-relu.yaml")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "finite differences" in result.stderr and "theta_01" in result.stderr


def test_finite_differences_in_blocks_equal_one_sweep(monkeypatch):
    """Blocked sweeps (the memory bound for big networks) give the same differences as one sweep."""
    import numpy as np

    from derive.kinds.network import verify as verify_module

    derivation = derive(build(load_spec(ROOT / "specs" / "two-layer-relu.yaml")))
    verifier = verify_module._Verifier(derivation, np.random.default_rng(3))
    env = verifier.draw(normalized=False)
    whole = verifier.finite_differences(env)
    monkeypatch.setattr(verify_module, "FD_BLOCK", 4)
    assert len(whole) == len(derivation.network.params) == 13
    assert np.array_equal(verifier.finite_differences(env), whole)
