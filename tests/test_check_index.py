"""`derive check` for graphs in index notation (`kind: graph` with `shapes:`): element-wise and matrix answers.

References: seed 001 (tests/seeds/001.txt), the linear layer f = W x + θ in index notation:
∂q_k/∂W_ij = 1_{k=i} x_j, so ∂f/∂W_ij = ∂f/∂q_i x_j; ∂f/∂x_i = Σ_k ∂f/∂q_k W_{k,i};
∂f_m/∂θ_i = 1_{m=i}; in matrix form ∂f/∂W = ∂f/∂q xᵀ and ∂f/∂x = Wᵀ ∂f/∂q. For
h = relu(W x + b) the same chain with ReLU' = I[z > 0] on the diagonal. Every answer
below is written from those formulas by hand, never taken from derive's output.
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

LINEAR = ROOT / "specs" / "linear-layer.yaml"
RELU = "kind: graph\nshapes: {W: [3, 2], x: [2], b: [3]}\nnodes:\n  z: W x + b\n  h: relu(z)\n"


@pytest.fixture(scope="module")
def grader():
    return Engine(str(LINEAR)).grader(None)[0]


@pytest.fixture(scope="module")
def relu_grader(tmp_path_factory):
    spec = tmp_path_factory.mktemp("relu") / "relu-layer.yaml"
    spec.write_text(RELU, encoding="utf-8")
    return Engine(str(spec)).grader(None)[0]


def verdict(g, key, text):
    v = g.check(key, text)
    return v.verdict, [f.code for f in v.findings]


def test_the_asked_keys_are_the_json_derivatives(cli, grader):
    data = json.loads(cli(LINEAR, "--format", "json").output)
    assert Engine(str(LINEAR)).grader(None)[1] == [d["wrt"] for d in data["derivatives"]] == ["W_ij", "x_i", "theta_i"]
    assert {"df_dW", "df_dx", "df_dtheta", "q_i", "df_dq"} <= set(grader.keys())


# -- element-wise answers (seed 001's index notation) ---------------------------------------------


@pytest.mark.parametrize("key,text", [
    ("W_ij", "df_dq_i x_j"),
    ("W_ij", r"\frac{\partial f}{\partial q_i} x_j"),
    ("W_ij", "∂f/∂qᵢ·xⱼ"),  # pasted
    ("W_ij", r"\sum_k \frac{\partial f}{\partial q_k} 1_{k=i} x_j"),  # the chain before the sum is carried out
    ("W_ij", r"\sum_{k=1}^{n} \frac{\partial f}{\partial q_k} \delta_{ki} x_j"),
    ("x_i", r"\sum_k \frac{\partial f}{\partial q_k} W_{k,i}"),
    ("x_i", "sum_k df_dq_k*W_ki"),
    ("x_i", "Σₖ ∂f/∂qₖ Wₖᵢ"),  # pasted
    ("x_i", r"\sum\limits_{l=1}^{n} W_{l,i} \cdot \frac{\partial f}{\partial q_l}"),  # another summation index
    ("theta_i", "1_{m=i}"),
    ("theta_i", r"\mathbb{1}_{m=i}"),
    ("theta_i", "I[m = i]"),
    ("theta_i", "I(m == i)"),
    ("theta_i", r"\delta_{mi}"),
    ("theta_i", "δ_{im}"),
    ("q_i", "1_{m=i}"),
])
def test_seed_001_answers_are_correct(grader, key, text):
    assert verdict(grader, key, text) == ("correct", ["correct_index"])


@pytest.mark.parametrize("key,text", [
    # componentwise, the output's index m free: ∂f_m/∂W_ij = 1_{m=i} x_j, ∂f_m/∂x_i = W_{m,i} (the lecture prints
    # both beside the upstream forms), and the upstream form where the key's expected element is componentwise:
    # ∂f/∂θ_i = Σ_m ∂f/∂f_m 1_{m=i} = ∂f/∂f_i. Either convention, written consistently, is right.
    ("W_ij", "1_{m=i} x_j"),
    ("W_ij", r"\delta_{mi} x_j"),
    ("x_i", "W_{m,i}"),
    ("theta_i", "df_df_i"),
    ("theta_i", r"\sum_k \frac{\partial f}{\partial f_k} 1_{k=i}"),
    ("q_i", "df_df_i"),
])
def test_the_other_convention_is_correct_too(grader, key, text):
    assert verdict(grader, key, text) == ("correct", ["correct_index"])


def test_the_other_convention_holds_through_an_activation(relu_grader):
    # h_m = relu(z_m), z = W x + b: ∂h_m/∂W_ij = I[z_m > 0] 1_{m=i} x_j; ∂h/∂b_i = ∂h/∂z_i over the upstream gradients
    m = relu_grader.d.output.indices[0]
    assert verdict(relu_grader, "W_ij", f"I[z_{m} > 0] 1_{{{m}=i}} x_j") == ("correct", ["correct_index"])
    assert verdict(relu_grader, "W_ij", f"1_{{{m}=i}} x_j")[0] == "incorrect"  # the indicator missing
    assert verdict(relu_grader, "b_i", "dh_dz_i") == ("correct", ["correct_index"])


@pytest.mark.parametrize("key,text", [("W_ij", "1_{m=j} x_i"), ("x_i", "W_{i,m}")])
def test_a_wrong_componentwise_answer_is_wrong_not_a_missing_sum(grader, key, text):
    assert verdict(grader, key, text) == ("incorrect", ["differs"])


@pytest.mark.parametrize("key,text", [("q_i", "df_dq_i"), ("theta_i", "df_dtheta_i"), ("W_ij", "df_dW_ij")])
def test_naming_the_asked_gradient_says_so(grader, key, text):
    assert verdict(grader, key, text) == ("invalid", ["names_asked"])


@pytest.mark.parametrize("key,text,code", [
    ("W_ij", "-df_dq_i x_j", "sign"),
    ("W_ij", "df_dq_j x_i", "transposed_parameter"),  # ∂f/∂W_ji
    ("W_ij", "x_j", "missing_upstream"),  # the local derivative alone
    ("W_ij", "2 df_dq_i x_j", "constant_factor"),
    ("x_i", r"\sum_k \frac{\partial f}{\partial q_k} W_{i,k}", "transposed_indices"),  # W x, not Wᵀ
    ("x_i", "df_dq_k W_ki", "index_free"),  # the sum is missing
    ("x_i", r"\sum_k W_{k,i}", "missing_upstream"),
    ("theta_i", "1_{m=i} x_i", "differs"),
    ("theta_i", "1", "differs"),
    ("W_ij", "df_dq_i x_j + W_ij", "differs"),
])
def test_typical_wrong_answers_are_named(grader, key, text, code):
    v, codes = verdict(grader, key, text)
    assert v == "incorrect" and codes == [code], (v, codes)


@pytest.mark.parametrize("key,text,code", [
    ("x_i", "xx_k", "unknown_name_close"),  # did you mean x_k? (one name: "Unknown name: xx_k")
    ("x_i", r"\sum_z W_{z,i}", "parse.sum_index"),  # z is not an index letter here
    ("x_i", "sum_k", "parse.unexpected_end"),
    ("x_i", "W_{k,i} = 3", "parse.equation"),
    ("x_i", "sum_k sum_l sum_p sum_r sum_s sum_t sum_u x_k x_l x_p x_r x_s x_t x_u", "unsupported"),  # 3^7 terms
])
def test_unreadable_index_answers_are_invalid(grader, key, text, code):
    assert verdict(grader, key, text) == ("invalid", [code])


def test_an_index_beyond_the_shape_is_named(relu_grader):
    # W is 3×2: a sum over k of W_{i,k} x_k fits, one of W_{k,i} (k up to 3) against x_k (2 entries) does not
    assert verdict(relu_grader, "x_i", r"\sum_k \frac{\partial h}{\partial z_k} W_{i,k}")[1] == ["index_range"]


# -- matrix answers -----------------------------------------------------------------------------


@pytest.mark.parametrize("key,text", [
    ("df_dW", "df_dq x^T"),
    ("df_dW", r"\frac{\partial f}{\partial q} x^{\top}"),
    ("df_dW", "df_dq @ x.T"),
    ("df_dx", "W^T df_dq"),
    ("df_dx", "W.T @ df_dq"),
    ("df_dx", "Wᵀ ∂f/∂q"),
    ("df_dtheta", "df_df"),
    ("df_dq", "df_df"),
])
def test_matrix_answers_are_correct(grader, key, text):
    assert verdict(grader, key, text)[0] == "correct"


@pytest.mark.parametrize("key,text,code", [
    ("df_dW", "x df_dq^T", "transposed_result"),  # x δᵀ for δ xᵀ
    ("df_dW", "-df_dq x^T", "sign"),
    ("df_dx", "W df_dq", "transposed_indices"),  # W for Wᵀ
    ("df_dx", "df_dq^T W", "row_for_column"),
    ("df_dW", "df_dq^T x", "wrong_shape"),
    ("df_dx", "2 W^T df_dq", "constant_factor"),
])
def test_typical_wrong_matrix_answers_are_named(grader, key, text, code):
    assert verdict(grader, key, text) == ("incorrect", [code])


def test_impossible_matrix_shapes_are_invalid(relu_grader):
    # W is 3×2 and ∂h/∂z has 3 entries: W ∂h/∂z cannot be multiplied
    assert verdict(relu_grader, "dh_dx", "W dh_dz") == ("invalid", ["parse.shapes_product"])


# -- a layer with an activation: relu(W x + b), concrete sizes 3 × 2 ----------------------------------


@pytest.mark.parametrize("key,text", [
    ("W_ij", r"\frac{\partial h}{\partial z_i} x_j"),
    ("x_i", r"\sum_k \frac{\partial h}{\partial z_k} W_{k,i}"),
    ("b_i", "dh_dz_i"),
    ("z_i", "1_{m=i} I[z_m > 0]"),  # ∂h_m/∂z_i: ReLU' on the diagonal
    ("z_i", r"\delta_{mi} \mathbb{1}[z_i > 0]"),
    ("dh_dW", "dh_dz x^T"),
    ("dh_dx", "W^T dh_dz"),
    ("dh_dz", "dh_dh ⊙ I[z > 0]"),
    ("dh_dz", "dh_dh * (z > 0)"),  # numpy's mask
    ("dh_db", "dh_dh ⊙ relu'(z)"),
])
def test_relu_layer_answers_are_correct(relu_grader, key, text):
    assert verdict(relu_grader, key, text)[0] == "correct", relu_grader.check(key, text).findings


@pytest.mark.parametrize("key,text,code", [
    ("z_i", "1_{m=i}", "missing_indicator"),  # ReLU' forgotten
    ("dh_dz", "dh_dh", "entries_differ"),
    ("W_ij", r"\frac{\partial h}{\partial z_j} x_i", "index_range"),  # i runs to 3, x has 2 entries
])
def test_relu_layer_mistakes(relu_grader, key, text, code):
    assert verdict(relu_grader, key, text)[1] == [code]


def test_the_relu_layer_is_graded_at_points_on_both_sides_of_every_kink(relu_grader):
    z = np.array([relu_grader.env[s] for s in relu_grader.matrix_names["z"]])
    assert (z > 0).any(axis=1).all() and (z < 0).any(axis=1).all()
    assert np.abs(z).min() > 1e-3


# -- files, the command, three languages ------------------------------------------------------------


def _class(tmp_path):
    files = {
        "ivanova": {"W_ij": r"\frac{\partial f}{\partial q_i} x_j", "x_i": r"\sum_k \frac{\partial f}{\partial q_k} W_{k,i}",
                    "theta_i": "1_{m=i}", "df_dW": "df_dq x^T"},
        "kowalski": {"W_{ij}": "df_dq_j x_i", "x_i": "df_dq_k W_ki", "theta_i": "-1_{m=i}", "df_dx": "W df_dq"},
        "smith": {"W_ij": "x_j", "x_i": "Σₖ ∂f/∂qₖ Wᵢₖ"},
    }
    paths = []
    for name, answers in files.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"student": name, "answers": answers}, allow_unicode=True), encoding="utf-8")
        paths.append(path)
    return paths


def test_index_class_csv(cli, tmp_path):
    result = cli("check", LINEAR, *_class(tmp_path), "--format", "csv")
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["student"], r["W_ij"], r["x_i"], r["theta_i"], r["score"], r["total"]) for r in rows] == [
        ("ivanova", "correct", "correct", "correct", "3", "3"),
        ("kowalski", "incorrect", "incorrect", "incorrect", "0", "3"),
        ("smith", "incorrect", "incorrect", "missing", "0", "3"),
    ]


@pytest.mark.parametrize("lang,words", [
    ("en", ["the indices are transposed", "a sum over k is missing", "The sign is wrong", "upstream gradient"]),
    ("ru", ["индексы переставлены", "не хватает суммы по k", "Неверный знак", "градиента сверху"]),
    ("pl", ["indeksy są zamienione", "brakuje sumy po k", "Zły znak", "gradientu z góry"]),
])
def test_index_feedback_in_three_languages(cli, tmp_path, lang, words):
    result = cli("check", LINEAR, *_class(tmp_path), "--lang", lang)
    for word in words:
        assert word in result.output, (word, result.output)


def test_index_json_shows_the_derivation_latex(cli, tmp_path):
    data = json.loads(cli("check", LINEAR, _class(tmp_path)[0], "--format", "json").output)
    assert data["score"] == data["total"] == 3
    spec_json = json.loads(cli(LINEAR, "--format", "json").output)
    latex = {d["wrt"]: d["latex"] for d in spec_json["derivatives"]}
    assert {a["key"]: a["expected_latex"] for a in data["answers"][:3]} == latex
    assert data["answers"][3]["key"] == "df_dW" and data["answers"][3]["verdict"] == "correct"


def test_the_matrix_form_is_shown_as_lecturers_write_it(grader):
    assert grader.check("df_dW", "").expected == "df_dq x^T"
    assert grader.check("df_dx", "").expected == "W^T df_dq"


def test_russian_feedback_for_an_index_answer_is_russian():
    g = Engine(str(LINEAR)).grader(None)[0]
    text = Words("ru").feedback(g.check("x_i", "df_dq_k W_ki"))
    assert "Индекс k" in text and "free" not in text


# -- a vector used on two paths: f = W x + x (∂f_m/∂x_i = W_{m,i} + 1_{m=i}) ---------------------------


SKIP = "kind: graph\nshapes: {W: [n, n], x: [n]}\nnodes:\n  q: W x\n  f: q + x\n"


@pytest.fixture(scope="module")
def skip_grader(tmp_path_factory):
    spec = tmp_path_factory.mktemp("skip") / "skip.yaml"
    spec.write_text(SKIP, encoding="utf-8")
    return Engine(str(spec)).grader(None)[0]


@pytest.mark.parametrize("key,text,outcome", [
    ("x_i", r"\sum_k \frac{\partial f}{\partial q_k} W_{k,i} + \frac{\partial f}{\partial f_i}", ("correct", "correct_index")),
    ("x_i", r"\sum_k \frac{\partial f}{\partial q_k} W_{k,i}", ("incorrect", "missing_path")),  # the direct use
    ("x_i", "df_df_i", ("incorrect", "missing_path")),  # the use through q
    ("df_dx", "W^T df_dq + df_df", ("correct", "correct_matrix")),
    ("df_dx", "W^T df_dq", ("incorrect", "missing_path")),
    ("df_dx", "W df_dq + df_df", ("incorrect", "transposed_indices")),
])
def test_both_paths_of_a_vector_used_twice(skip_grader, key, text, outcome):
    v = skip_grader.check(key, text)
    assert (v.verdict, v.findings[0].code) == outcome, v.findings


def test_every_expected_answer_shown_is_graded_correct(grader, relu_grader, skip_grader):
    for g in (grader, relu_grader, skip_grader):
        for key in g.keys():
            expected = g.check(key, "").expected
            assert g.check(key, expected).verdict == "correct", (key, expected)
            # in the notation the hint teaches (1_{m=i}), not the JSON's I(m == i)
            assert "==" not in expected and "Kronecker" not in expected, (key, expected)
