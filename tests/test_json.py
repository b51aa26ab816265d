"""--format json follows CONTRACT section 3: a program that evaluates top to bottom."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT, network_specs

def _functions() -> set[str]:
    """The names a JSON expr may use besides quantities: every function of the vocabulary
    (derive.functions), its ASCII spellings (Abs, Max, …: CONTRACT 5), I, and the constant pi (GELU′)."""
    from derive.core.functions import ASCII_ALIASES, FUNCTIONS as VOCABULARY

    return {"I", "pi", *VOCABULARY, *ASCII_ALIASES}


FUNCTIONS = _functions()
SYNTAX = re.compile(r"^[A-Za-z0-9_+\-*/(). <>=,]+$")


@pytest.fixture(scope="module")
def seed_json():
    from click.testing import CliRunner

    from derive.cli import main

    result = CliRunner().invoke(main, [str(ROOT / "specs" / "two-layer-relu.yaml"), "--format", "json"])
    assert result.exit_code == 0
    return json.loads(result.stdout)


def test_contract_example_values(seed_json):
    """The strings of CONTRACT section 3's example, for the seed-000 network."""
    assert seed_json["kind"] == "network" and seed_json["of"] == "y" and seed_json["inputs"] == ["x"]
    assert seed_json["parameters"][:2] == ["theta_01", "theta_11"]
    assert seed_json["forward"][:3] == [
        {"name": "z_1", "expr": "theta_01 + theta_11*x"},
        {"name": "z_2", "expr": "theta_02 + theta_12*x"},
        {"name": "h_1", "expr": "relu(z_1)"},
    ]
    assert seed_json["backward"][0] == {
        "name": "dy_dh_1", "expr": "phi_1*I(u_1 > 0)*psi_11 + phi_2*I(u_2 > 0)*psi_12",
    }
    first = seed_json["derivatives"][0]
    assert (first["wrt"], first["expr"], first["verified"]) == ("theta_01", "dy_dh_1*I(z_1 > 0)", True)
    assert first["latex"] == r"\frac{\partial y}{\partial h_1} \, I[z_1>0]"  # a thin space sets off I[·] (seed 000)


@pytest.mark.parametrize("spec", network_specs(), ids=lambda p: p.stem)
def test_every_spec_is_a_program_in_contract_syntax(cli, spec):
    data = json.loads(cli(spec, "--format", "json").stdout)
    defined = set(data["inputs"]) | set(data.get("targets", [])) | set(data["parameters"]) | set(data.get("constants", []))
    for entry in data["forward"] + data["backward"]:
        assert SYNTAX.match(entry["expr"]), entry
        used = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", entry["expr"])) - FUNCTIONS
        assert used <= defined, (entry, used - defined)
        defined.add(entry["name"])
    assert [d["wrt"] for d in data["derivatives"]] == data["parameters"]
    for d in data["derivatives"]:
        assert SYNTAX.match(d["expr"]) and d["verified"] is True
        assert set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", d["expr"])) - FUNCTIONS <= defined


def test_json_is_the_same_in_every_language(cli):
    spec = ROOT / "specs" / "two-layer-relu.yaml"
    outs = {cli(spec, "--format", "json", "--lang", lang).stdout for lang in ("ru", "en", "pl")}
    assert len(outs) == 1
