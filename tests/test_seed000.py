"""Seed 000 reproduced: the 13 derivatives of the two-layer ReLU network.

References: the seed document itself (tests/seeds/000.txt, a copy of the
lecture note) and the seed's formulas typed here as SymPy expressions.
"""

from __future__ import annotations

import re

import pytest
import sympy as sp

from conftest import ROOT, SEEDS
from derive.kinds.network.backprop import derive
from derive.core.calculus import Indicator as I
from derive.kinds.network.model import build
from derive.kinds.network.spec import load_spec

S = sp.Symbol
x = S("x")
phi0, phi1, phi2 = S("phi_0"), S("phi_1"), S("phi_2")
psi = {f"{i}{j}": S(f"psi_{i}{j}") for i in range(3) for j in (1, 2)}
h1, h2, g1, g2, u1, u2, z1, z2 = map(S, "h_1 h_2 g_1 g_2 u_1 u_2 z_1 z_2".split())

DY_DH1 = phi1 * I(u1 > 0) * psi["11"] + phi2 * I(u2 > 0) * psi["12"]
DY_DH2 = phi1 * I(u1 > 0) * psi["21"] + phi2 * I(u2 > 0) * psi["22"]
# typed from the seed, section by section
SEED_FORMULAS = {
    "phi_0": sp.S.One,
    "phi_1": g1,
    "phi_2": g2,
    "psi_01": phi1 * I(u1 > 0),
    "psi_11": phi1 * I(u1 > 0) * h1,
    "psi_21": phi1 * I(u1 > 0) * h2,
    "psi_02": phi2 * I(u2 > 0),
    "psi_12": phi2 * I(u2 > 0) * h1,
    "psi_22": phi2 * I(u2 > 0) * h2,
    "theta_01": DY_DH1 * I(z1 > 0),
    "theta_11": DY_DH1 * I(z1 > 0) * x,
    "theta_02": DY_DH2 * I(z2 > 0),
    "theta_12": DY_DH2 * I(z2 > 0) * x,
}


@pytest.fixture(scope="module")
def derivation():
    return derive(build(load_spec(ROOT / "specs" / "two-layer-relu.yaml")))


def shown(p):
    """The form a reader sees last: expanded when there is one."""
    return p.expanded if p.expanded is not None else p.value


def test_thirteen_parameters_in_contract_order(derivation):
    assert [str(p.param) for p in derivation.derivatives] == [
        "theta_01", "theta_11", "theta_02", "theta_12",
        "psi_01", "psi_11", "psi_21", "psi_02", "psi_12", "psi_22",
        "phi_0", "phi_1", "phi_2",
    ]


@pytest.mark.parametrize("param", SEED_FORMULAS)
def test_each_derivative_equals_the_seed_symbolically(derivation, param):
    p = next(p for p in derivation.derivatives if str(p.param) == param)
    assert sp.expand(shown(p) - SEED_FORMULAS[param]) == 0


def test_backward_quantities_are_the_seeds_dy_dh(derivation):
    named = {str(g.node): g.expr for g in derivation.backward}
    assert set(named) == {"h_1", "h_2"}
    assert sp.expand(named["h_1"] - DY_DH1) == 0
    assert sp.expand(named["h_2"] - DY_DH2) == 0


# -- the printed text against the seed's own LaTeX ---------------------------------

def normalize(tex: str) -> str:
    """LaTeX up to spacing and bracket sizing: \\Big( = \\left( = (, _{1} = _1."""
    for old, new in [(r"\Big(", "("), (r"\Big)", ")"), (r"\left(", "("), (r"\right)", ")"),
                     (r"\,", ""), (r"\;", ""), (r"\qquad", "")]:
        tex = tex.replace(old, new)
    tex = re.sub(r"_\{(\w)\}", r"_\1", tex)
    return re.sub(r"\s+", "", tex)


def seed_equations() -> dict[str, str]:
    """∂y/∂param -> the right-hand side, read from the seed document."""
    text = (SEEDS / "000.txt").read_text(encoding="utf-8")
    out = {}
    for block in re.findall(r"\$\$(.*?)\$\$", text, flags=re.S):
        for eq in re.split(r",\\qquad", block):
            m = re.match(r"\s*\\frac\{\\partial y\}\{\\partial (\\\w+_\{?\w+\}?)\}\s*=(.*)", eq, flags=re.S)
            if m:
                out[normalize(m[1])] = normalize(m[2]).rstrip(".")
    return out


def test_the_seed_has_thirteen_parameter_derivatives():
    assert len(seed_equations()) == 13


@pytest.mark.parametrize("lang", ["ru", "en", "pl"])
def test_printed_markdown_contains_every_seed_formula(cli, lang):
    result = cli(ROOT / "specs" / "two-layer-relu.yaml", "--lang", lang)
    assert result.exit_code == 0
    printed = {}
    for block in re.findall(r"\$\$(.*?)\$\$", result.stdout, flags=re.S):
        block = re.sub(r"^\s*\\boxed\{(.*)\}\s*$", r"\1", block, flags=re.S)  # key results are boxed
        m = re.match(r"\s*\\frac\{\\partial y\}\{\\partial (\\\w+_\{?\w+\}?)\}\s*=(.*)", block, flags=re.S)
        if m:
            printed[normalize(m[1])] = [normalize(part) for part in m[2].split("=")]
    for param, rhs in seed_equations().items():
        parts = printed[param]
        suffixes = ["=".join(parts[i:]) for i in range(len(parts))]
        assert rhs in suffixes, f"{param}: seed {rhs!r} does not end {parts!r}"


def test_seed_order_of_sections_phi_psi_theta(cli):
    out = cli(ROOT / "specs" / "two-layer-relu.yaml", "--lang", "ru").stdout
    headings = re.findall(r"^## .*\$(\\\w+)\$", out, flags=re.M)
    assert headings == [r"\phi", r"\psi", r"\theta"]
    # ∂y/∂h_1 is derived first and reused: it appears before the first θ total
    assert out.index(r"\frac{\partial y}{\partial h_1} =") < out.index(r"\frac{\partial y}{\partial \theta_{01}}")
