"""`derive quiz` for the layer kinds (rnn, attention, conv1d, conv2d, layernorm), a residual network and an
index-form graph: the sheet keeps the spec's title and sizes, and `derive check` grades the sheet's own
expected answers correct and typical wrong ones (the sign, a factor 2, a term left out) not.

The expected answers are read from the text report (`expected:`) that a lecturer sees; the layer
derivations themselves are tested against HIPS autograd in test_layers.py, the index graph against
seed 001 in test_check_index.py.
"""

from __future__ import annotations

import json

import pytest
import sympy as sp
import yaml

from conftest import ROOT
from derive.grading.check import Engine
from derive.render.printing import latex

SPECS = ROOT / "specs"
LAYERS = ["rnn-3-steps", "attention-3-tokens", "conv1d", "conv2d", "layernorm"]
TITLES = {  # the spec's own title, in the sheet's language (the variant keeps what the title says)
    "rnn-3-steps": ("ru", "Рекуррентная сеть"),
    "attention-3-tokens": ("pl", None),
    "conv1d": ("en", None),
    "conv2d": ("ru", None),
    "layernorm": ("pl", None),
    "residual-mlp": ("en", None),
}


def _quiz(cli, tmp_path, spec: str, lang: str, seed: int):
    result = cli("quiz", SPECS / f"{spec}.yaml", "-o", tmp_path, "--seed", str(seed), "--lang", lang)
    assert result.exit_code == 0, result.output
    sheet_path, template_path = result.output.split()
    return open(sheet_path, encoding="utf-8").read(), yaml.safe_load(open(template_path, encoding="utf-8")), template_path


def _expected(cli, spec: str, template: dict, tmp_path) -> dict:
    """The expected answers as the text report shows them (each key answered wrongly on purpose)."""
    template = dict(template, answers={k: "0" for k in template["answers"]})
    path = tmp_path / "zeros.yaml"
    path.write_text(yaml.safe_dump(template, allow_unicode=True), encoding="utf-8")
    result = cli("check", SPECS / f"{spec}.yaml", path, "--lang", "en")
    out = {}
    key = None
    for line in result.output.splitlines():
        words = line.split()
        if words and words[0] in template["answers"]:
            key = words[0]
        elif key and line.strip().startswith("expected:"):
            out[key] = line.split("expected:", 1)[1].strip()
    assert set(out) == set(template["answers"]), result.output
    return out


def _check(cli, spec: str, template: dict, answers: dict, tmp_path) -> dict:
    return _check_all(cli, spec, template, [answers], tmp_path)[0]


def _check_all(cli, spec: str, template: dict, answer_sets: list[dict], tmp_path) -> list[dict]:
    """Several answer sets graded by one `derive check` (one derivation)."""
    paths = []
    for n, answers in enumerate(answer_sets):
        path = tmp_path / f"filled-{n}.yaml"
        path.write_text(yaml.safe_dump(dict(template, answers=answers), allow_unicode=True), encoding="utf-8")
        paths.append(path)
    result = cli("check", SPECS / f"{spec}.yaml", *paths, "--format", "json")
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.output)
    return [{a["key"]: a for a in one["answers"]} for one in (data if isinstance(data, list) else [data])]


@pytest.mark.parametrize("spec", [*LAYERS, "residual-mlp"])
def test_a_sheets_own_answers_are_correct_and_typical_wrong_ones_are_not(cli, tmp_path, spec):
    lang, title = TITLES[spec]
    sheet, template, _ = _quiz(cli, tmp_path, spec, lang, 4)
    assert template["seed"] == 4 and 1 <= len(template["answers"]) <= 8
    spec_title = yaml.safe_load((SPECS / f"{spec}.yaml").read_text(encoding="utf-8")).get("title", {}).get(lang)
    if spec_title:
        assert spec_title in sheet
    if title:
        assert title in sheet
    for key in template["answers"]:  # every asked element is on the sheet, as ∂L/∂W_{…}
        assert rf"\partial {latex(sp.Symbol(key))}}}" in sheet, key
    expected = _expected(cli, spec, template, tmp_path)
    right, negated, doubled = _check_all(cli, spec, template, [
        expected, {k: f"-({v})" for k, v in expected.items()}, {k: f"2*({v})" for k, v in expected.items()}], tmp_path)
    assert all(a["verdict"] == "correct" for a in right.values()), right
    assert all(a["verdict"] == "incorrect" and "sign" in a["feedback"] for a in negated.values()), negated
    assert all(a["verdict"] == "incorrect" and "2" in a["feedback"] for a in doubled.values()), doubled


@pytest.mark.parametrize("spec", ["rnn-3-steps", "conv1d"])
def test_a_term_left_out_is_incorrect(cli, tmp_path, spec):
    _, template, _ = _quiz(cli, tmp_path, spec, "en", 2)
    expected = _expected(cli, spec, template, tmp_path)
    sums = {k: v for k, v in expected.items() if " + " in v}
    assert sums, expected
    shortened = {k: v.rsplit(" + ", 1)[0] for k, v in sums.items()}
    got = _check(cli, spec, dict(template, answers={k: "" for k in sums}), shortened, tmp_path)
    assert all(got[k]["verdict"] == "incorrect" for k in sums), got


@pytest.mark.parametrize("spec", LAYERS)
def test_variants_ask_other_elements_of_every_parameter(spec):
    engine = Engine(str(SPECS / f"{spec}.yaml"))
    grader, everything = engine.grader(None)
    chosen = {tuple(engine.grader(seed)[1]) for seed in range(1, 7)}
    assert len(chosen) > 1 or chosen == {tuple(everything)}  # layernorm: 6 parameters, all asked
    for asked in chosen:
        assert set(asked) <= set(everything)
        for elements in grader.of_quantity.values():  # at least one element of every parameter
            assert set(asked) & elements


@pytest.mark.parametrize("spec", LAYERS)
def test_the_asked_gradient_is_not_a_name_of_the_answer(spec):
    grader, asked = Engine(str(SPECS / f"{spec}.yaml")).grader(None)
    key = asked[0]
    assert grader.check(key, f"dL_d{key}").verdict == "invalid"


def test_an_index_graph_sheet_and_its_answers(cli, tmp_path):
    sheet, template, _ = _quiz(cli, tmp_path, "linear-layer", "pl", 3)
    assert r"W \in \mathbb{R}^{n \times n}" in sheet and r"q_{k} = \sum_{l=1}^{n} W_{k,l} x_{l}" in sheet
    assert r"\frac{\partial f_{m}}{\partial \theta_{i}}" in sheet and "1_{k=i}" in sheet
    assert "Każdy element zapisz w notacji indeksowej" in sheet
    assert list(template["answers"]) == ["W_ij", "x_i", "theta_i"]
    seed_001 = {"W_ij": r"\frac{\partial f}{\partial q_i} x_j", "x_i": r"\sum_k \frac{\partial f}{\partial q_k} W_{k,i}",
                "theta_i": "1_{m=i}"}
    assert all(a["verdict"] == "correct" for a in _check(cli, "linear-layer", template, seed_001, tmp_path).values())
    expected = _expected(cli, "linear-layer", template, tmp_path)
    negated = _check(cli, "linear-layer", template, {k: f"-({v})" for k, v in expected.items()}, tmp_path)
    assert all(a["verdict"] == "incorrect" for a in negated.values()), negated
