"""`derive check` and `derive quiz` for computational graphs (`kind: graph`): numbers and formulas.

References: seed 001 (tests/seeds/001.txt: f = (x + y) z at x = −2, y = 5, z = −4, and
∂f/∂x = z; the sigmoid neuron f = 1/(1 + e^{−(xw + θ)})), with every number computed
here by central differences of the forward function written out in this file, never
taken from derive.
"""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
import yaml

from conftest import ROOT
from derive.grading.check import Engine, Words

ADD_MUL = ROOT / "specs" / "graph-add-mul.yaml"
NEURON = ROOT / "specs" / "sigmoid-neuron.yaml"


def add_mul(x, y, z):  # seed 001, "a simple example"
    return (x + y) * z


def neuron(x, w, theta):  # seed 001, the sigmoid neuron
    return 1 / (1 + math.exp(-(x * w + theta)))


def fd(f, point: dict, name: str, h: float = 1e-6) -> float:
    up, down = dict(point), dict(point)
    up[name] += h
    down[name] -= h
    return (f(**up) - f(**down)) / (2 * h)


SEED = {"x": -2.0, "y": 5.0, "z": -4.0}


@pytest.fixture(scope="module")
def grader():
    return Engine(str(ADD_MUL)).grader(None)[0]


@pytest.fixture(scope="module")
def neuron_grader():
    return Engine(str(NEURON)).grader(None)[0]


def verdict(g, key, text):
    v = g.check(key, text)
    return v.verdict, [f.code for f in v.findings]


# -- numbers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["x", "y", "z"])
def test_the_seeds_numbers_are_correct(grader, key):
    value = fd(add_mul, SEED, key)
    assert verdict(grader, key, f"{value:.6f}")[0] == "correct"
    assert verdict(grader, key, value)[0] == "correct"  # a YAML number
    assert verdict(grader, key, f"{value * 1.004:.6f}")[0] == "correct"  # within 0.5 %
    assert verdict(grader, key, f"{value * 1.01:.6f}") == ("incorrect", ["wrong_value"])


@pytest.mark.parametrize("key", ["x", "w", "theta"])
def test_neuron_numbers_within_the_tolerance(neuron_grader, key):
    point = {"x": -1.0, "w": 2.0, "theta": 3.0}  # the spec's values
    value = fd(neuron, point, key)
    assert verdict(neuron_grader, key, f"{value:.4f}")[0] == "correct"
    assert verdict(neuron_grader, key, f"{value:.2g}")[0] in ("correct", "incorrect")  # two digits: as close as it is
    assert verdict(neuron_grader, key, f"{-value:.4f}") == ("incorrect", ["sign_slip"])
    assert verdict(neuron_grader, key, f"{value * 10:.4f}") == ("incorrect", ["too_large"])


def test_decimal_comma_is_read(neuron_grader):
    value = fd(neuron, {"x": -1.0, "w": 2.0, "theta": 3.0}, "theta")
    assert verdict(neuron_grader, "theta", f"{value:.4f}".replace(".", ","))[0] == "correct"


def test_the_spec_tolerance_is_used(tmp_path):
    spec = tmp_path / "loose.yaml"
    spec.write_text(ADD_MUL.read_text(encoding="utf-8") + "tolerance: 0.02\n", encoding="utf-8")
    loose = Engine(str(spec)).grader(None)[0]
    value = fd(add_mul, SEED, "x")
    assert verdict(loose, "x", f"{value * 1.015:.6f}")[0] == "correct"
    assert verdict(loose, "x", f"{value * 1.03:.6f}")[0] == "incorrect"


@pytest.mark.parametrize("bad", ["0", "2", "-0.1", "'x'"])
def test_a_bad_tolerance_is_a_spec_error(tmp_path, cli, bad):
    spec = tmp_path / "bad.yaml"
    spec.write_text(ADD_MUL.read_text(encoding="utf-8") + f"tolerance: {bad}\n", encoding="utf-8")
    answers = tmp_path / "a.yaml"
    answers.write_text("answers: {x: '-4'}\n", encoding="utf-8")
    result = cli("check", spec, answers)
    assert result.exit_code == 2 and "tolerance" in result.output


# -- formulas --------------------------------------------------------------------------------------


def test_formulas_are_checked_for_all_values(grader):
    # the seed's chain rule: ∂f/∂x = ∂f/∂q ∂q/∂x = z
    assert verdict(grader, "x", "z")[0] == "correct"
    assert verdict(grader, "x", r"\frac{\partial f}{\partial q}")[0] == "correct"
    assert verdict(grader, "z", "x + y")[0] == "correct"
    assert verdict(grader, "z", "q")[0] == "correct"
    # right at the spec's values (−2 − 5 + 3 = −4), wrong elsewhere: a formula is not a number
    assert verdict(grader, "x", "x - y + 3")[0] == "incorrect"


def test_formula_and_number_together(grader):
    value = fd(add_mul, SEED, "x")
    assert verdict(grader, "x", f"z = {value:g}") == ("correct", ["correct_formula_value"])
    # the right formula, a slip in the arithmetic
    assert verdict(grader, "x", f"z = {value + 1:g}")[1][0] == "arithmetic_slip"
    # a wrong formula (∂f/∂z's), computed correctly at the values
    wrong = fd(add_mul, SEED, "z")
    assert verdict(grader, "x", f"x + y = {wrong:g}") == ("incorrect", ["other_input", "wrong_formula_computed"])
    assert verdict(grader, "x", f"x + y = {wrong + 7:g}") == ("incorrect", ["other_input", "wrong_formula_and_value"])


def test_typical_mistakes_are_named(grader, neuron_grader):
    assert verdict(grader, "x", "-z") == ("incorrect", ["sign"])
    assert verdict(grader, "y", "1") == ("incorrect", ["missing_upstream"])  # ∂q/∂y without ∂f/∂q
    assert verdict(grader, "x", "x + y") == ("incorrect", ["other_input"])
    value = fd(add_mul, SEED, "z")  # a number that is another input's derivative
    assert verdict(grader, "x", f"{value:g}") == ("incorrect", ["other_input"])
    assert verdict(neuron_grader, "x", "w") == ("incorrect", ["missing_upstream"])  # ∂a/∂x only


def test_graph_with_two_paths():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        spec = Path(d) / "paths.yaml"  # x is used twice: the gradients of both uses add up
        spec.write_text("kind: graph\nnodes:\n  a: x * y\n  b: x + y\n  f: a * b\nvalues: {x: 3, y: -1}\n",
                        encoding="utf-8")
        g = Engine(str(spec)).grader(None)[0]

        def f(x, y):
            return (x * y) * (x + y)

        point = {"x": 3.0, "y": -1.0}
        assert verdict(g, "x", f"{fd(f, point, 'x'):g}")[0] == "correct"
        assert verdict(g, "x", "b y + a")[0] == "correct"
        assert verdict(g, "x", "b y") == ("incorrect", ["missing_path"])
        assert verdict(g, "df_da", "b")[0] == "correct"


def test_no_number_without_values(tmp_path):
    spec = tmp_path / "symbolic.yaml"
    spec.write_text("kind: graph\nnodes:\n  q: x + y\n  f: q * z\n", encoding="utf-8")
    g = Engine(str(spec)).grader(None)[0]
    assert verdict(g, "x", "-4") == ("invalid", ["no_values"])
    assert verdict(g, "x", "z")[0] == "correct"


def test_pasted_and_hostile_graph_answers(grader):
    assert verdict(grader, "z", "x + y.")[0] == "correct"
    assert verdict(grader, "z", "q = 3")[0] == "correct"
    assert verdict(grader, "z", "x − y")[0] == "incorrect"  # a Unicode minus is read as minus
    assert verdict(grader, "z", "х + y")[0] == "invalid"  # a Cyrillic х
    assert verdict(grader, "z", "9**9**9**9")[0] == "invalid"
    assert verdict(grader, "z", "q = = 3")[0] == "invalid"
    assert verdict(grader, "z", "__import__('os')")[0] == "invalid"


# -- the command: three languages, CSV, JSON -------------------------------------------------------


def _class(tmp_path) -> list:
    value = {k: fd(add_mul, SEED, k) for k in "xyz"}
    students = {
        "ivanova": {"x": f"{value['x']:g}", "y": "z", "z": "x + y = 3"},
        "kowalski": {"x": "z = -5", "y": "1", "z": f"{-value['z']:g}"},
        "smith": {"x": "x + y = 3", "y": "-4,0", "z": ""},
    }
    paths = []
    for name, answers in students.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"student": name, "answers": answers}, allow_unicode=True), encoding="utf-8")
        paths.append(path)
    return paths


def test_graph_class_csv(cli, tmp_path):
    result = cli("check", ADD_MUL, *_class(tmp_path), "--format", "csv")
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["student"], r["x"], r["y"], r["z"], r["score"]) for r in rows] == [
        ("ivanova", "correct", "correct", "correct", "3"),
        ("kowalski", "incorrect", "incorrect", "incorrect", "0"),
        ("smith", "incorrect", "correct", "missing", "1"),
    ]


@pytest.mark.parametrize("lang,words", [
    ("en", ["arithmetic slip", "wrong sign", "upstream gradient"]),
    ("ru", ["ошибка в арифметике", "неверный знак", "градиента сверху"]),
    ("pl", ["błąd rachunkowy", "zły znak", "gradientu z góry"]),
])
def test_graph_feedback_in_three_languages(cli, tmp_path, lang, words):
    result = cli("check", ADD_MUL, *_class(tmp_path), "--lang", lang)
    for word in words:
        assert word in result.output, (word, result.output)


def test_graph_json(cli, tmp_path):
    path = _class(tmp_path)[0]
    data = json.loads(cli("check", ADD_MUL, path, "--format", "json").output)
    assert data["score"] == data["total"] == 3
    assert [a["key"] for a in data["answers"]] == ["x", "y", "z"]
    assert data["answers"][0]["expected_latex"] == "z = -4"


def test_tolerance_is_shown_as_the_language_writes_a_percentage():
    """CLDR's percent patterns: 0,5 % (no-break space) in Russian, 0,5% in Polish, 0.5% in English."""
    g = Engine(str(ADD_MUL)).grader(None)[0]
    v = g.check("x", "-4")
    assert "0,5\xa0%" in Words("ru").feedback(v) and "0,5%" in Words("pl").feedback(v)
    assert "0.5%" in Words("en").feedback(v) and "0.5 %" not in Words("en").feedback(v)


# -- derive quiz for graphs ------------------------------------------------------------------------


def test_graph_quiz_variant_and_check_back(cli, tmp_path):
    result = cli("quiz", ADD_MUL, "-o", tmp_path, "--seed", "7", "--lang", "pl")
    assert result.exit_code == 0, result.output
    sheet_path, template_path = result.output.split()
    sheet = open(sheet_path, encoding="utf-8").read()
    assert "Graf obliczeniowy" in sheet and "Dla wartości" in sheet
    template = yaml.safe_load(open(template_path, encoding="utf-8"))
    assert template["seed"] == 7 and list(template["answers"]) == ["x", "y", "z"]
    # this variant's values, read back from the grader; the answers are finite differences there
    outcome = Engine(str(ADD_MUL)).outcome(7)
    point = {str(k): float(v) for k, v in outcome.result.values.items() if str(k) in "xyz"}
    assert point != SEED
    template["answers"] = {k: f"{fd(add_mul, point, k):g}" for k in "xyz"}
    template_path_filled = tmp_path / "filled.yaml"
    template_path_filled.write_text(yaml.safe_dump(template), encoding="utf-8")
    result = cli("check", ADD_MUL, template_path_filled, "--format", "json")
    assert result.exit_code == 0, result.output
    # the seed's own numbers are wrong for this variant
    template["answers"] = {k: f"{fd(add_mul, SEED, k):g}" for k in "xyz"}
    template_path_filled.write_text(yaml.safe_dump(template), encoding="utf-8")
    assert cli("check", ADD_MUL, template_path_filled, "--format", "json").exit_code == 1


# -- the composition lecture (seed 003) on a concrete instance -------------------------------------


def composition(x, A_0, b_0, A_1, b_1, A_2, b_2, y):  # specs/composition-check.yaml written out
    f_1 = math.tanh(A_0 * x + b_0)
    f_2 = math.tanh(A_1 * f_1 + b_1)
    f_3 = math.tanh(A_2 * f_2 + b_2)
    return (y - f_3) ** 2


def test_composition_instance_is_graded():
    g = Engine(str(ROOT / "specs" / "composition-check.yaml")).grader(None)[0]
    point = {"x": 1.0, "A_0": 0.5, "b_0": 0.0, "A_1": -1.0, "b_1": 0.5, "A_2": 2.0, "b_2": -0.5, "y": 1.0}
    for key in ("A_0", "b_1", "A_2"):
        assert verdict(g, key, f"{fd(composition, point, key):.5f}")[0] == "correct", key
    # seed 003's product, written by a student: ∂L/∂f_3 · ∂f_3/∂θ
    assert verdict(g, "A_2", "dL_df_3 (1 - f_3^2) f_2")[0] == "correct"
    assert verdict(g, "b_2", "2(f_3 - y)(1 - f_3^2)")[0] == "correct"
    assert verdict(g, "b_2", "2(f_3 - y)") == ("incorrect", ["missing_local"])  # ∂L/∂f_3 alone
    assert verdict(g, "b_2", "1 - f_3^2") == ("incorrect", ["missing_upstream"])  # ∂f_3/∂b_2 alone
    assert verdict(g, "A_1", "dL_df_3 (1 - f_3^2) A_2 (1 - f_2^2) f_1")[0] == "correct"


@pytest.mark.parametrize("spec", ["mlp-backprop.yaml", "deep-composition.yaml"])
def test_lectures_point_to_their_concrete_instances(cli, tmp_path, spec):
    answers = tmp_path / "a.yaml"
    answers.write_text("answers: {x: '1'}\n", encoding="utf-8")
    result = cli("check", ROOT / "specs" / spec, answers)
    assert result.exit_code == 2
    assert "mlp-check.yaml" in result.output and "composition-check.yaml" in result.output


GRAPH_TOKENS = ["x", "y", "z", "q", "f", "df_dq", " = ", "=", "-4", "3", "0,5", ".", "+", "-", "*", "(", ")", "≈",
                "^", "2", "I[", "]", ">", "<=", "∂f/∂q", "−", "1/3", "e"]


def test_any_graph_answer_gets_a_verdict(grader):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from derive.grading.grader import VERDICTS

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(st.text(max_size=30), st.lists(st.sampled_from(GRAPH_TOKENS), max_size=20).map("".join)))
    def check(text):
        v = grader.check("x", text)
        assert v.verdict in VERDICTS and v.findings

    check()


@pytest.mark.parametrize("text", [
    "__import__('os').system('touch /tmp/derive-check-pwned')", "lambda: 0", "eval('1')", r"\input{/etc/passwd}",
    "9**9**9**9", "(" * 10_000 + "x" + ")" * 10_000, "x" * 100_000, "z = " + "9" * 5000, "= -4", "sqrt(-1)",
    "log(0)", "log(-1)",
])
def test_hostile_graph_answers_are_invalid(grader, text):
    assert verdict(grader, "x", text)[0] == "invalid"


# -- values in feedback are written as the language writes numbers ---------------------------------


def saturated_slope() -> float:  # tanh(10 x) at x = 1, far into its flat part (mpmath's numerical derivative)
    import mpmath

    with mpmath.workdps(40):
        return float(mpmath.diff(lambda x: mpmath.tanh(10 * x), 1))


@pytest.mark.parametrize("lang,comma", [("en", "."), ("ru", ","), ("pl", ",")])
def test_a_tiny_value_in_feedback_reads_as_a_power_of_ten(cli, tmp_path, lang, comma):
    spec = tmp_path / "flat.yaml"
    spec.write_text("kind: graph\nnodes:\n  f: tanh(10 x)\noutput: f\nvalues: {x: 1}\n", encoding="utf-8")
    answers = tmp_path / "a.yaml"
    answers.write_text("answers:\n  x: '10 (1 - f^2) = 1'\n", encoding="utf-8")
    out = cli("check", spec, answers, "--lang", lang).output
    mantissa, exponent = f"{saturated_slope():.5e}".split("e")  # 8.244e-08
    superscript = str(int(exponent)).translate(str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻"))
    shown = mantissa.replace(".", comma)
    times = "×" if comma == "." else "·"  # docs/glossary.md: × where the decimal sign is a point
    slip, expected = (line for line in out.splitlines() if f"{times}10{superscript}" in line)
    assert shown in slip and shown in expected.split("=")[-1], out
    assert "e-" not in out and "10^" not in out, out


def test_the_expected_answer_is_shown_as_a_student_types_it(cli, tmp_path):
    # «ожидалось:» in the answer syntax (^, I[…]), and the answer grammar reads it back as a correct answer
    from derive.core.parse import parse_math

    spec = ROOT / "specs" / "composition-check.yaml"
    answers = tmp_path / "a.yaml"
    answers.write_text("answers: {A_2: '1'}\n", encoding="utf-8")
    out = cli("check", spec, answers, "--lang", "ru").output
    shown = [line.split("ожидалось:")[1].strip() for line in out.splitlines() if "ожидалось:" in line]
    assert len(shown) == 6 and all("**" not in s for s in shown) and any("^2" in s for s in shown), out
    g = Engine(str(spec)).grader(None)[0]
    for key, text in zip(("A_0", "b_0", "A_1", "b_1", "A_2", "b_2"), shown):
        formula = text.split(" = ")[0]
        parse_math(formula, names=g.names)
        assert g.check(key, formula).verdict == "correct", (key, formula)


def test_composition_variants_keep_their_derivatives_measurable():
    # tanh saturated at every layer made every ∂L/∂θ about 1e-8…1e-12: then 0.5 % of it means nothing.
    # Over many seeds, the drawn values keep every pre-activation moderate, so some derivative is sizeable
    # (finite differences of the composition written out above, not derive's numbers).
    from derive.grading.variant import SATURATION, graph_draws

    spec = Engine(str(ROOT / "specs" / "composition-check.yaml")).outcome(None).spec
    keys = ("A_0", "b_0", "A_1", "b_1", "A_2", "b_2")
    for seed in range(1, 201):
        point = {k: float(v) for k, v in next(graph_draws(spec, seed)).items()}
        f_1 = math.tanh(point["A_0"] * point["x"] + point["b_0"])
        f_2 = math.tanh(point["A_1"] * f_1 + point["b_1"])
        assert abs(point["A_0"] * point["x"] + point["b_0"]) <= SATURATION
        assert abs(point["A_1"] * f_1 + point["b_1"]) <= SATURATION
        assert abs(point["A_2"] * f_2 + point["b_2"]) <= SATURATION
        assert max(abs(fd(composition, point, k)) for k in keys) > 1e-3, (seed, point)


def test_the_variant_with_seed_3_is_not_saturated():
    outcome = Engine(str(ROOT / "specs" / "composition-check.yaml")).outcome(3)
    point = {str(k): float(v) for k, v in outcome.result.values.items() if str(k) in
             ("x", "A_0", "b_0", "A_1", "b_1", "A_2", "b_2", "y")}
    assert min(abs(fd(composition, point, k)) for k in ("A_2", "b_2")) > 1e-3, point
