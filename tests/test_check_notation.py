"""Answers as students paste them (issue 13): Unicode, document punctuation, mangled LaTeX, odd keys;
and the feedback defects seen in class.

The correct answers are seed 000's formulas (tests/seeds/000.txt) written the ways a
student copies them from a PDF, a Word file or a chat; the grader must call each one
correct. References for the parser are the same formula typed in plain ASCII and
parsed, or built directly with SymPy.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp
import yaml

from conftest import ROOT
from derive.core.calculus import Indicator
from derive.grading.check import MESSAGES, REFUSED, Engine, Words
from derive.grading.grader import node_gradients
from derive.core.parse import ParseError, parse_math

SPEC = ROOT / "specs" / "two-layer-relu.yaml"
S = sp.Symbol


@pytest.fixture(scope="module")
def grader():
    return Engine(str(SPEC)).grader(None)[0]


# -- every example string of issue 13 is graded correct ---------------------------------------------

PASTED = [
    ("theta_01", "(φ₁·I[u₁>0]·ψ₁₁ + φ₂·I[u₂>0]·ψ₁₂)·I[z₁>0]"),
    ("psi_02", "φ_2 · 𝟙[u_2>0]"),
    ("psi_02", "φ_2 ReLU′(u_2)"),
    ("psi_12", "∂y/∂g_2 · I[u_2>0] · h_1"),
    ("psi_11", "φ_1∙I[u_1>0]∙h_1"),
    ("psi_01", "φ_1 I[u_1>0] – 0"),
    ("phi_1", "g_1."),
    ("psi_12", r"\phi_2\mathbb{1}_{u_2>0}\max\{0,z_1\}"),
    # and more of the same kind
    ("psi_02", "φ₂ 𝕀(u₂ > 0)"),
    ("psi_11", "φ_1 ∗ I[u_1>0] × h_1"),
    ("psi_11", "φ_1 ⋅ I[u_1>0] ⋅ h_1"),
    ("psi_01", "φ_1 I[u_1>0] — 0"),
    ("psi_12", r"\partial y / \partial g_2 \cdot I[u_2>0] h_1"),
    ("psi_12", r"\phi_2 \mathbb{1}\left\{u_2>0\right\} h_1"),
    ("psi_12", "φ₂·ReLU’(u₂)·h₁"),
    ("theta_11", "∂y/∂h₁ · I[z₁>0] · x."),
    ("phi_0", "1."),
]


@pytest.mark.parametrize("key,text", PASTED, ids=[t for _, t in PASTED])
def test_pasted_answers_are_correct(grader, key, text):
    v = grader.check(key, text)
    assert v.verdict == "correct", (text, v.findings)


UNICODE_FORMS = [  # pasted form, the same in ASCII
    ("φ₁₁ + x²", "phi_11 + x^2"),
    ("(y − t)²", "(y - t)^2"),
    ("x⁻¹", "x^(-1)"),
    ("ψ₁₂·h₁", "psi_12*h_1"),
    ("σ′(z)", "sigma'(z)"),
    ("𝟙[z>0]", "I[z>0]"),
    (r"\max\{0, z\}", "max(0, z)"),
    ("a – b — c", "a - b - c"),
    ("0,5 x", "0.5 x"),  # a decimal comma, as ru and pl write it
    ("2,25 (y − t)", "2.25 (y - t)"),
    ("I[x > 0,5]", "I[x > 0.5]"),
    ("max(0,5)", "max(0, 5)"),  # in a function's arguments the comma separates
    (r"\max\{0,5\}", "max(0, 5)"),
]


@pytest.mark.parametrize("pasted,plain", UNICODE_FORMS)
def test_unicode_reads_as_its_ascii_form(pasted, plain):
    assert parse_math(pasted) == parse_math(plain)


def test_partial_with_a_slash_is_the_named_quantity():
    names = {"dy_dh_1": S("dy_dh_1"), "x": S("x")}
    assert parse_math("∂y/∂h_1 x", names=names) == S("dy_dh_1") * S("x")
    assert parse_math("∂y/∂h₁ x", names=names) == S("dy_dh_1") * S("x")


# -- what cannot be read says why ------------------------------------------------------------------


def test_cyrillic_letter_is_named_with_its_code_point(grader):
    v = grader.check("theta_11", "dy_dh_1 I[z_1>0] х")  # a Cyrillic х
    assert v.verdict == "invalid"
    finding = v.findings[0]
    assert finding.code == "parse.confusable"
    args = dict(finding.args)
    assert args["codepoint"] == "U+0445" and args["latin"] == "x" and args["column"] == "18"  # 1-based
    for lang in ("en", "ru", "pl"):
        assert "U+0445" in Words(lang).feedback(v)


def test_other_unexpected_characters_name_their_code_point(grader):
    v = grader.check("phi_1", "g_1 ☺")
    assert v.findings[0].code == "parse.unexpected_character"
    assert dict(v.findings[0].args)["codepoint"] == "U+263A"


@pytest.mark.parametrize("latex,command", [
    (r"\theta_{11}", r"\theta"), (r"\frac{1}{2} g_1", r"\frac"), (r"\beta", r"\beta"),
    (r"\alpha", r"\alpha"), (r"\varphi_1", r"\varphi"), (r"\right)", r"\right"),
])
def test_latex_mangled_by_yaml_double_quotes_is_recognised(grader, latex, command):
    # the answer as a student writes it in a YAML file, in double quotes: YAML turns \t into a tab, …
    mangled = yaml.safe_load(f'a: "{latex}"')["a"]
    assert mangled != latex
    with pytest.raises(ParseError) as info:
        parse_math(mangled)
    assert info.value.key == "yaml_escape" and info.value.details["command"] == command
    v = grader.check("phi_1", mangled)
    assert v.verdict == "invalid" and v.findings[0].code == "parse.yaml_escape"
    assert "single quotes" in Words("en").feedback(v)
    assert "одинарных кавычках" in Words("ru").feedback(v)
    assert "apostrofach" in Words("pl").feedback(v)


def test_an_ordinary_line_break_or_tab_is_still_space():
    assert parse_math("x +\n\ty") == S("x") + S("y")
    assert parse_math("x +\nu_1") == S("x") + S("u_1")  # a line that begins with u_1 is not \nu


# -- keys ------------------------------------------------------------------------------------------


def _run(cli, tmp_path, spec, answers: dict, *args):
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump({"student": "S", "answers": answers}, allow_unicode=True), encoding="utf-8")
    return cli("check", spec, path, *args)


def test_unicode_and_squeezed_keys_are_accepted(cli, tmp_path, grader):
    answers = {"θ₁₁": "dy_dh_1 I[z_1>0] x", "theta02": "dy_dh_2 I[z_2>0]", "ψ₁₂": "phi_2 I[u_2>0] h_1",
               r"\phi_{0}": "1", "dydh1": "phi_1 I[u_1>0] psi_11 + phi_2 I[u_2>0] psi_12"}
    result = _run(cli, tmp_path, SPEC, answers, "--format", "json")
    data = json.loads(result.output)
    verdicts = {a["key"]: a["verdict"] for a in data["answers"]}
    for key in ("theta_11", "theta_02", "psi_12", "phi_0", "dy_dh_1"):
        assert verdicts[key] == "correct", data
    assert "refused" not in data
    assert data["total"] == 13  # dy_dh_1 is graded, not counted: the questions are the 13 parameters
    assert [a["key"] for a in data["answers"]][-1] == "dy_dh_1"


def test_an_unknown_key_is_refused_alone(cli, tmp_path):
    result = _run(cli, tmp_path, SPEC, {"theta_99": "x", "phi_1": "g_1"}, "--format", "json")
    assert result.exit_code == 1  # graded (phi_1 correct, the rest missing), not a broken file
    data = json.loads(result.output)
    assert {a["key"]: a["verdict"] for a in data["answers"]}["phi_1"] == "correct"
    assert [r["key"] for r in data["refused"]] == ["theta_99"]
    assert "theta_99" in data["refused"][0]["feedback"]


def test_an_ambiguous_key_is_refused_alone(cli, tmp_path):
    # with 11 inputs and 11 hidden units, theta111 is theta_1_11 or theta_11_1
    spec = tmp_path / "wide.yaml"
    spec.write_text("kind: network\ninput: {name: x, size: 11}\noutput: y\nindex: source-target\nlayers:\n"
                    "  - {units: 11, activation: relu, params: theta, pre: z, post: h}\n"
                    "  - {units: 1, activation: identity, params: phi}\n", encoding="utf-8")
    result = _run(cli, tmp_path, spec, {"theta111": "x", "phi_1": "h_1"}, "--format", "json", "--lang", "ru")
    data = json.loads(result.output)
    assert {a["key"]: a["verdict"] for a in data["answers"]}["phi_1"] == "correct"
    (refused,) = data["refused"]
    assert refused["key"] == "theta111"
    assert "theta_1_11" in refused["feedback"] and "theta_11_1" in refused["feedback"]
    assert "может означать" in refused["feedback"]


# -- feedback defects ------------------------------------------------------------------------------


def test_the_verdict_word_is_not_repeated(cli, tmp_path):
    result = _run(cli, tmp_path, SPEC, {"phi_1": "g_1 + x^3"})
    line = next(li for li in result.output.splitlines() if li.strip().startswith("phi_1"))
    assert line.lower().count("incorrect") == 1, line


@pytest.fixture(scope="module")
def two_classes(tmp_path_factory):
    spec = tmp_path_factory.mktemp("sm") / "softmax2.yaml"
    spec.write_text("kind: network\ninput: x\noutput: y\nindex: target-source\nlayers:\n"
                    "  - {units: 2, activation: sigmoid, params: W, bias: b, pre: z, post: a}\n"
                    "  - {units: 2, activation: softmax, params: W, bias: b, pre: z}\nloss: ce\ntarget: t\n",
                    encoding="utf-8")
    return Engine(str(spec)).grader(None)[0]


def test_a_sign_error_with_two_classes_is_a_sign_error(two_classes):
    # −(y_1 − t_1)·a_1 is also ∂J/∂W2_21 when t_1 + t_2 = 1: the nearer mistake is the sign
    v = two_classes.check("W2_11", "-(y_1 - t_1)*a_1")
    assert v.verdict == "incorrect" and [f.code for f in v.findings] == ["sign"]


def test_rounded_decimals_are_told_as_rounding(tmp_path):
    spec = tmp_path / "mse.yaml"
    spec.write_text("kind: network\ninput: x\noutput: y\nindex: target-source\nlayers:\n"
                    "  - {units: 3, activation: identity, params: W, bias: b}\nloss: mse\ntarget: t\n",
                    encoding="utf-8")
    grader = Engine(str(spec)).grader(None)[0]
    exact = grader.expected["b_1"].unfolded  # 2/3 (y_1 − t_1), from the derivation
    assert grader.check("b_1", str(exact)).verdict == "correct"
    v = grader.check("b_1", "0.666667*(y_1 - t_1)")
    assert v.verdict == "incorrect" and [f.code for f in v.findings] == ["rounded"]
    assert "2/3" in dict(v.findings[0].args)["numbers"]
    text = Words("en").feedback(v)
    assert "1 times" not in text and "rounding" in text
    # the 1/n of the mean left out: 2 (y_1 − t_1) instead of 2/3 (y_1 − t_1)
    v = grader.check("b_1", str(3 * exact))
    assert [f.code for f in v.findings] == ["missing_mean"] and dict(v.findings[0].args)["n"] == "3"


def test_unknown_gradient_names_are_reported_whole(grader):
    v = grader.check("psi_11", "dy_dq_1 h_1")
    assert v.verdict == "invalid"
    assert dict(v.findings[0].args)["names"] == "dy_dq_1"


def test_unknown_name_message_is_short(grader):
    v = grader.check("psi_22", "phi_2 * I[u_2 > 0] * hh_2")
    args = dict(v.findings[0].args)
    assert v.findings[0].code == "unknown_name_close" and "h_2" in args["close"].split("\n")
    assert "known" not in args and len(args["close"].split("\n")) <= 6


def test_hide_expected(cli, tmp_path):
    shown = _run(cli, tmp_path, SPEC, {"phi_1": "u_1"})
    hidden = _run(cli, tmp_path, SPEC, {"phi_1": "u_1"}, "--hide-expected")
    assert "expected:" in shown.output and "expected:" not in hidden.output
    data = json.loads(_run(cli, tmp_path, SPEC, {"phi_1": "u_1"}, "--hide-expected", "--format", "json").output)
    assert all(a["expected_latex"] is None for a in data["answers"])


def test_expected_cross_entropy_answers_in_the_lecturers_form():
    grader = Engine(str(ROOT / "specs" / "softmax-ce.yaml")).grader(None)[0]
    for key in ("b_2", "W_11", "dJ_dz_1"):
        expected = grader.expected.get(key) or grader.step(key)
        shown = parse_math(expected.ascii)
        # no t_1 + t_2 + t_3 left, and still the derivation's value where the targets sum to one
        assert not {S("t_3"), S("t_1")} <= shown.free_symbols or key == "W_11" and S("t_2") not in shown.free_symbols
        assert grader.check(key, expected.ascii).verdict == "correct"
    assert parse_math(grader.expected["b_2"].ascii) == S("y_2") - S("t_2")


# -- test points -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["dy_dh_1*I[z_1>0]*I[x>-2]", "dy_dh_1*I[z_1>0]*I[x<2]",
                                  "dy_dh_1*I[z_1>0]*I[theta_01 > -1]", "dy_dh_1*I[z_1>0]*I[x^2 < 4]"])
def test_answers_true_only_for_small_values_are_incorrect(grader, text):
    assert grader.check("theta_01", text).verdict == "incorrect"


def test_points_reach_beyond_the_usual_ranges(grader):
    x = grader.env[S("x")]
    theta = grader.env[S("theta_11")]
    assert (np.abs(x) > 2).mean() > 0.2 and np.abs(x).max() > 20
    assert (np.abs(theta) > 1).mean() > 0.2


# -- intermediate quantities ∂y/∂v: each one against finite differences of the forward pass --------


def _forward_with(net, point: dict, node: sp.Symbol, delta: float) -> float:
    """The output with node nudged by delta and everything after it recomputed (numpy, float64)."""
    from derive.numeric.evaluate import evaluate

    env = {s: np.array([v]) for s, v in point.items()}
    for symbol, expr in net.forward:
        env[symbol] = np.atleast_1d(evaluate(expr, env)) + (delta if symbol == node else 0.0)
    return float(env[net.of][0])


def test_every_intermediate_gradient_matches_finite_differences(grader):
    net = grader.derivation.network
    rng = np.random.default_rng(3)
    point = {s: rng.uniform(-1, 1) for s in [*net.params, *net.inputs]}
    env = {s: np.array([v]) for s, v in point.items()}
    from derive.numeric.evaluate import evaluate

    for symbol, expr in net.forward:
        env[symbol] = np.atleast_1d(evaluate(expr, env))
    for g in [*grader.derivation.backward]:
        env[g.symbol] = np.atleast_1d(evaluate(g.expr, env))
    steps = node_gradients(grader.derivation)
    assert {str(s) for s, _ in steps} >= {"dy_dg_1", "dy_dg_2", "dy_du_1", "dy_du_2", "dy_dz_1", "dy_dz_2"}
    for symbol, expr in steps:
        env[symbol] = np.atleast_1d(evaluate(expr, env))
        node = S(str(symbol)[len("dy_d"):])
        h = 1e-5
        fd = (_forward_with(net, point, node, h) - _forward_with(net, point, node, -h)) / (2 * h)
        assert abs(env[symbol][0] - fd) < 1e-6 * max(1, abs(fd)), (symbol, env[symbol][0], fd)


def test_intermediate_quantities_are_graded(grader):
    assert grader.check("dy_dg_2", "phi_2").verdict == "correct"
    assert grader.check("dy_du_1", "φ₁·𝟙[u₁>0]").verdict == "correct"
    assert grader.check("dy_dh_1", "phi_1 I[u_1>0] psi_11 + phi_2 I[u_2>0] psi_12").verdict == "correct"
    v = grader.check("dy_dh_1", "phi_1 psi_11 + phi_2 I[u_2>0] psi_12")
    assert v.verdict == "incorrect" and v.findings[0].code == "missing_indicator"


def test_new_messages_are_in_every_catalog():
    for lang in ("ru", "pl"):
        words = Words(lang)
        for msgid in [MESSAGES["parse.confusable"], MESSAGES["parse.yaml_escape"], MESSAGES["rounded"],
                      *REFUSED.values()]:
            assert words.gettext(msgid) != msgid, (lang, msgid)
    assert Indicator  # the parser's indicator is the derivation's


def test_one_answer_set_is_checked():
    from derive.grading.check import Engine, check_answer_set

    answers = {"φ₁": "g_1", "theta11": "dy_dh_1 I[z_1>0] x", "nonsense": "1"}
    result = check_answer_set(Engine(str(SPEC)), answers, "pl")
    verdicts = {a["key"]: a["verdict"] for a in result["answers"]}
    assert verdicts["phi_1"] == "correct" and verdicts["theta_11"] == "correct"
    assert result["total"] == 13 and result["score"] == 2
    assert [r["key"] for r in result["refused"]] == ["nonsense"] and "Klucza" in result["refused"][0]["feedback"]


def test_check_answer_set_for_a_graph_without_expected():
    from derive.grading.check import Engine, check_answer_set

    engine = Engine(str(ROOT / "specs" / "graph-add-mul.yaml"))
    result = check_answer_set(engine, {"x": "z = -4", "z": "3"}, "ru", show_expected=False)
    assert result["score"] == 2 and all(a["expected_latex"] is None for a in result["answers"])


def test_latex_in_double_quotes_that_yaml_refuses_gets_the_hint(tmp_path):
    from conftest import run_process

    path = tmp_path / "a.yaml"
    path.write_text('answers:\n  psi_12: "\\phi_2 I[u_2>0] h_1"\n', encoding="utf-8")
    proc = run_process("check", SPEC, path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert ":2:" in proc.stderr and "single quotes" in proc.stderr


def test_a_wide_network_is_graded_within_the_time_limit(tmp_path):
    # 1-24-24-24-1: the unfolded sums have hundreds of paths; answers are still graded, none times out
    spec = tmp_path / "wide.yaml"
    spec.write_text("kind: network\ninput: x\noutput: y\nindex: source-target\nlayers:\n"
                    "  - {units: 24, activation: relu, params: theta, pre: z, post: h}\n"
                    "  - {units: 24, activation: relu, params: psi, pre: u, post: g}\n"
                    "  - {units: 24, activation: relu, params: omega, pre: v, post: k}\n"
                    "  - {units: 1, activation: identity, params: phi}\nloss: half_sse\ntarget: t\n", encoding="utf-8")
    grader = Engine(str(spec)).grader(None)[0]
    key = "theta_0_21"
    right = grader.expected[key].ascii
    assert grader.check(key, right).verdict == "correct"
    assert [f.code for f in grader.check(key, f"-({right})").findings] == ["sign"]
    assert grader.check(key, "1").verdict == "incorrect"
    assert grader.check("dJ_dz_1", "dJ_dh_1").findings[0].code == "missing_indicator"


def test_an_empty_answers_section_is_all_missing(cli, tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("student: S\nanswers:\n", encoding="utf-8")
    data = json.loads(cli("check", SPEC, path, "--format", "json").output)
    assert data["score"] == 0 and {a["verdict"] for a in data["answers"]} == {"missing"}


@pytest.mark.parametrize("text,bad", [("dy_dh_1 ж", "ж"), ("dy_dh_1 * * x", "*"), ("(dy_dh_1", "(")])
def test_the_students_characters_are_quoted_as_the_language_quotes(grader, text, bad):
    # the quotation marks are each language's own (its language.toml), never Python's repr
    from derive.core.languages import language

    v = grader.check("theta_11", text)
    assert v.verdict == "invalid"
    for lang in ("en", "ru", "pl"):
        opening, closing = language(lang).quotes
        feedback = Words(lang).feedback(v)
        assert f"{opening}{bad}{closing}" in feedback and f"'{bad}'" not in feedback, feedback
    assert "«ж»" in Words("ru").feedback(grader.check("theta_11", "dy_dh_1 ж"))
    assert "„ж”" in Words("pl").feedback(grader.check("theta_11", "dy_dh_1 ж"))
