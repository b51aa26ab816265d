"""`derive check` for networks in vector view: matrix answers in math and numpy notation (issue 13).

References: seed 004's boxed formulas δ^{[l]} = ((W^{[l+1]})ᵀ δ^{[l+1]}) ⊙ f′(z^{[l]}) and
∂J/∂W^{[l]} = δ^{[l]} (a^{[l−1]})ᵀ (tests/seeds/004.txt, lines 159 and 182), seed 002's
∂LOSS/∂W = ∂LOSS/∂f @ g.T (tests/seeds/002.txt, line 61), typed as students type them;
and the expected matrices themselves against central differences of a numpy forward pass
written out in this file.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import yaml

from conftest import ROOT
from derive.grading.check import Engine, Words

VECTOR_SPEC = """\
kind: network
title: {en: "A ReLU layer and a sigmoid layer in matrix form"}
input: {name: x, size: 3}
output: y
index: target-source
layers:
  - {units: 4, activation: relu, params: W, bias: b, pre: z, post: a}
  - {units: 2, activation: sigmoid, params: W, bias: b, pre: z}
loss: half_sse
target: t
loss_name: J
view: vector
"""
SEED_002 = ROOT / "specs" / "sigmoid-layer.yaml"


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    path = tmp_path_factory.mktemp("vec") / "relu-sigmoid.yaml"
    path.write_text(VECTOR_SPEC, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def grader(spec):
    return Engine(str(spec)).grader(None)[0]


def verdict(g, key, text):
    v = g.check(key, text)
    return v.verdict, [f.code for f in v.findings]


SEED_004_FORMS = [  # seed 004 (lines 159, 182) as students write it: math notation, LaTeX, Unicode, numpy
    ("delta1", "W2^T delta2 ⊙ I[z1 > 0]"),
    ("delta1", r"\left(\left(W^{[2]}\right)^T \delta^{[2]}\right) \odot \mathbb{1}[z^{[1]}>0]"),
    ("delta1", "(W2ᵀ δ2) ⊙ 𝟙[z1 > 0]"),
    ("delta1", "(W2.T @ delta2) * relu'(z1)"),
    ("delta1", "(W2.T @ delta2) * (z1 > 0)"),  # numpy's boolean mask
    ("delta1", r"(W^{[2]})^{\top} \delta^{[2]} \odot \operatorname{ReLU}'(z^{[1]})"),
    ("dJ_dW1", "delta1 x^T"),
    ("dJ_dW1", r"\delta^{[1]} x^{T}"),
    ("dJ_dW1", "delta1 @ x.T"),
    ("dJ_dW1", "(W2^T delta2 ⊙ I[z1>0]) x^T"),
    ("dJ_dW2", "δ2 aᵀ"),
    ("dJ_dW2", r"\delta^{[2]} (a)^T"),
    ("dJ_db2", "delta2"),
    ("delta2", "(y - t) ⊙ y ⊙ (1 - y)"),
    ("delta2", "(y - t) * y * (1 - y)"),
    ("delta2", r"\frac{\partial J}{\partial y} \odot \sigma'(z^{[2]})"),
    ("dJ_dx", "W1^T delta1"),
]


@pytest.mark.parametrize("key,text", SEED_004_FORMS, ids=[t for _, t in SEED_004_FORMS])
def test_seed_004_forms_are_correct(grader, key, text):
    assert verdict(grader, key, text) == ("correct", ["correct_matrix"]), text


MISTAKES = [
    ("dJ_dW1", "x delta1^T", "transposed_result"),  # x δᵀ for δ xᵀ
    ("dJ_dW1", "-delta1 x^T", "sign"),
    ("delta1", "W2^T delta2", "missing_derivative_delta"),  # ⊙ f′(z) left out
    ("delta1", "W2^T delta2 ⊙ a", "activation_in_delta"),
    ("dJ_dW1", "(W2^T delta2) x^T", "missing_derivative_delta"),
    ("delta2", "y - t", "missing_derivative_delta"),
    ("dJ_dW1", "delta1 a^T", "wrong_shape"),  # the layer's own activation instead of its input
    ("delta1", "W2^T delta2 ⊙ I[z1 > 1]", "entries_differ"),
]


@pytest.mark.parametrize("key,text,code", MISTAKES, ids=[t for _, t, _ in MISTAKES])
def test_typical_matrix_mistakes(grader, key, text, code):
    assert verdict(grader, key, text) == ("incorrect", [code]), text


@pytest.mark.parametrize("text,code", [
    ("W2 delta2", "parse.shapes_product"),  # W2 is 2×4, δ2 2×1: the transpose is missing
    ("delta1 + delta2", "parse.shapes_add"),
    ("delta2 ⊙ a", "parse.shapes_had"),
    ("delta1^2", "parse.matrix_power"),
])
def test_impossible_shapes_are_invalid_with_the_reason(grader, text, code):
    # asked of dJ_dW1: for delta1 itself, an answer naming delta1 is refused before its shapes are read
    assert verdict(grader, "dJ_dW1", text) == ("invalid", [code])


def test_scalar_answers_are_still_accepted(grader):
    assert grader.check("W1_12", "dJ_dz1_1 x_2").verdict == "correct"
    assert grader.check("b2_1", "(y_1 - t_1) y_1 (1 - y_1)").verdict == "correct"


def test_seed_002_numpy_notation():
    g = Engine(str(SEED_002)).grader(None)[0]
    assert verdict(g, "dLOSS_dW", r"\frac{\partial \text{LOSS}}{\partial f} @ g.T")[0] == "correct"
    assert verdict(g, "dLOSS_dW", "(h - y) * h * (1 - h) @ g.T")[0] == "correct"
    assert verdict(g, "dLOSS_df", "(h - y) * h * (1 - h)")[0] == "correct"
    assert verdict(g, "dLOSS_dW", "g @ dLOSS_df.T")[1] == ["transposed_result"]


# -- the expected matrices against finite differences of a numpy forward pass -----------------------


def _loss(W1, b1, W2, b2, x, t):
    z1 = W1 @ x + b1
    a = np.maximum(z1, 0)
    y = 1 / (1 + np.exp(-(W2 @ a + b2)))
    return 0.5 * np.sum((y - t) ** 2)


def test_expected_matrices_match_finite_differences(grader):
    env = grader.scalar.env
    k = 7  # one test point
    m = grader.matrix.matrices

    def value(matrix):
        return np.array([[env[matrix[i, j]][k] for j in range(matrix.cols)] for i in range(matrix.rows)])

    params = {name: value(m[name]) for name in ("W1", "b1", "W2", "b2", "x", "t")}
    for name, key in (("W1", "dJ_dW1"), ("W2", "dJ_dW2"), ("b1", "dJ_db1"), ("b2", "dJ_db2")):
        fd = np.zeros_like(params[name])
        for index in np.ndindex(fd.shape):
            up, down = {n: v.copy() for n, v in params.items()}, {n: v.copy() for n, v in params.items()}
            up[name][index] += 1e-6
            down[name][index] -= 1e-6
            fd[index] = (_loss(**up) - _loss(**down)) / 2e-6
        expected = grader.matrix.targets[key].values[:, :, k]
        assert np.allclose(expected, fd, atol=1e-6), (key, expected, fd)


# -- the command: a class, three languages ---------------------------------------------------------


def _class(tmp_path) -> list:
    students = {
        "ivanova": {"delta2": "(y - t) ⊙ y ⊙ (1 - y)", "dJ_dW2": "delta2 a^T", "dJ_db2": "delta2",
                    "delta1": "W2^T delta2 ⊙ I[z1 > 0]", "dJ_dW1": "delta1 x^T", "dJ_db1": "delta1"},
        "kowalski": {"delta2": "y - t", "dJ_dW2": "a delta2^T", "dJ_db2": "delta2",
                     "delta1": "W2^T delta2", "dJ_dW1": "delta1 @ x.T", "dJ_db1": "W2 delta2"},
    }
    paths = []
    for name, answers in students.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"student": name, "answers": answers}, allow_unicode=True), encoding="utf-8")
        paths.append(path)
    return paths


def test_matrix_class_csv(cli, spec, tmp_path):
    result = cli("check", spec, *_class(tmp_path), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["score"] for r in rows] == ["6", "2"]
    assert rows[1]["dJ_dW2"] == "incorrect" and rows[1]["dJ_db1"] == "invalid"


@pytest.mark.parametrize("lang,words", [
    ("en", ["transposed", "is missing from δ", "inner sizes differ"]),
    ("ru", ["транспонирован", "не хватает производной", "внутренние размеры"]),
    ("pl", ["transponowany", "brakuje pochodnej", "wymiary wewnętrzne"]),
])
def test_matrix_feedback_in_three_languages(cli, spec, tmp_path, lang, words):
    output = cli("check", spec, *_class(tmp_path), "--lang", lang).output
    for word in words:
        assert word in output, (word, output)


def test_matrix_json_and_expected(cli, spec, tmp_path):
    data = json.loads(cli("check", spec, _class(tmp_path)[0], "--format", "json").output)
    assert data["score"] == data["total"] == 6
    latex = {a["key"]: a["expected_latex"] for a in data["answers"]}
    assert latex["dJ_dW1"] == r"\delta^{[1]} x^T"


def test_vector_view_quiz_asks_the_matrices(cli, spec, tmp_path):
    result = cli("quiz", spec, "-o", tmp_path, "--lang", "ru")
    sheet_path, template_path = result.output.split()
    template = yaml.safe_load(open(template_path, encoding="utf-8"))
    assert list(template["answers"]) == ["delta2", "dJ_dW2", "dJ_db2", "delta1", "dJ_dW1", "dJ_db1"]
    sheet = open(sheet_path, encoding="utf-8").read()
    assert r"\delta^{[1]}" in sheet and r"\frac{\partial J}{\partial W^{[1]}}" in sheet
    assert "W^{[1]} x + b^{[1]}" in sheet  # the forward pass in matrix form


def test_words_for_matrix_findings_exist():
    g = Engine(str(SEED_002)).grader(None)[0]
    v = g.check("dLOSS_dW", "g @ dLOSS_df.T")
    for lang in ("ru", "pl"):
        assert Words(lang).feedback(v) != Words("en").feedback(v)


def test_the_mlp_lecture_instance_is_graded():
    # specs/mlp-check.yaml: seed 004's boxed formulas on L = 2 (ReLU, then sigmoid with BCE: δ^{[L]} = a^{[L]} − y)
    g = Engine(str(ROOT / "specs" / "mlp-check.yaml")).grader(None)[0]
    assert verdict(g, "delta2", "y - t")[0] == "correct"
    assert verdict(g, "delta1", r"((W^{[2]})^T \delta^{[2]}) \odot \mathbb{1}[z^{[1]} > 0]")[0] == "correct"
    assert verdict(g, "dJ_dW1", r"\delta^{[1]} (x)^T")[0] == "correct"
    assert verdict(g, "dJ_dW2", r"\delta^{[2]} (a)^T")[0] == "correct"
    assert verdict(g, "dJ_dW2", r"a \delta^{[2]}")[1] == ["transposed_result"]


def test_a_row_for_a_column_and_a_constant_factor(grader):
    assert verdict(grader, "dJ_db1", "delta1^T") == ("incorrect", ["row_for_column"])
    assert verdict(grader, "dJ_dW2", "2 delta2 a^T") == ("incorrect", ["constant_factor"])
    v = grader.check("delta2", "(y - t)")
    assert dict(v.findings[0].args)["factor"] == "y*(1 - y)"  # f'(z2) over the layer's own output


def test_transposes_only_where_names_are_matrices():
    # in a graph node or a scalar answer, x^T is x to the power T (never silently x)
    import sympy as sp

    from derive.core.parse import UnknownName, parse_math

    x, T = sp.Symbol("x"), sp.Symbol("T")
    assert parse_math("x^T") == x**T
    assert parse_math("x^T", names={"x": x, "T": T}) == x**T
    with pytest.raises(UnknownName):
        parse_math("x^T", names={"x": x})


MATRIX_TOKENS = ["W2", "delta2", "delta1", "a", "x", "z1", "^T", ".T", "ᵀ", " ", "⊙", "*", "@", "+", "-", "(", ")",
                 "I[", "]", ">", "0", "1", "relu'(", "σ(", "δ2", r"\odot", "^2", "/", "=", "[", "|", "2"]


def test_any_matrix_answer_gets_a_verdict(grader):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from derive.grading.grader import VERDICTS

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(st.text(max_size=30), st.lists(st.sampled_from(MATRIX_TOKENS), max_size=20).map("".join)))
    def check(text):
        v = grader.check("delta1", text)
        assert v.verdict in VERDICTS and v.findings

    check()


def test_the_transpose_s_shape_hints_at_a_missing_transpose():
    # specs/mlp-check.yaml: W2 is 1×3, δ2 1×1, so W2 δ2 is 1×3 where δ1 is 3×1; its transpose W2ᵀ δ2 is seed 004's
    # δ1 without ⊙ f'(z1): the hint says both (the English review's answer "W2 @ delta2")
    g = Engine(str(ROOT / "specs" / "mlp-check.yaml")).grader(None)[0]
    for text in ("W2 @ delta2", "delta2 W2"):
        assert verdict(g, "delta1", text) == ("incorrect", ["transposed_shape", "missing_derivative_delta"]), text
    v = g.check("delta1", "W2 @ delta2")
    english = Words("en").feedback(v)
    assert "1×3" in english and "3×1" in english and "transpose missing" in english
    assert "I[z1 > 0]" in english
    feedback = {lang: Words(lang).feedback(v) for lang in ("ru", "pl")}
    assert "транспонирование" in feedback["ru"] and "transpozycji" in feedback["pl"]
    # the transpose's shape but no known mistake: the hint alone; another shape: no hint
    assert verdict(g, "delta1", "2 W2 @ delta2") == ("incorrect", ["transposed_shape"])
    assert verdict(g, "dJ_db1", "delta1^T") == ("incorrect", ["row_for_column"])  # its transpose is right


def test_a_shape_that_is_not_the_transpose_gets_no_transpose_hint(grader):
    assert verdict(grader, "dJ_dW1", "delta1 a^T") == ("incorrect", ["wrong_shape"])  # 4×4 for 4×3
