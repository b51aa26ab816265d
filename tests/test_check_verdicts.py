"""Wrong verdicts found by answering like students, and their regressions.

Every "correct" formula here is first checked against HIPS autograd (the network or
graph written again in plain autograd.numpy, not derive's formulas), so the
expectation never comes from the grader itself:

- an answer that only names the quantity it is asked for (`dy_dh_1` for ∂y/∂h₁,
  `delta2` for δ², `df_dq` for ∂f/∂q, `delta_21` in an RNN) agreed with itself at
  every test point and was graded `correct`; it is `invalid` now, in every kind,
  while a parameter's own name stays usable (weight decay: λ·φ₁ in ∂J/∂φ₁);
- `1/2x` was read as x/2 and `(y - t)/y(1 - y)` as ((y − t)/y)(1 − y): a student who
  meant 1/(2x) got `correct` for a wrong formula, one who meant (y − t)/(y(1 − y))
  `incorrect` for a right one. A factor written right after a divisor, without a
  space, is refused now with both readings spelt out; `1/2 x` and `1/2*x` stay x/2;
- a worked example's number as a calculator shows it, `4.3857e-4`, was `invalid`
  (Unknown name: e); it is the number now (against Mazur's published 0.000438568),
  and refused only where the letter is a name of the network (the loss `E`).
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad

from conftest import ROOT
from derive.core.parse import ParseError, parse_math
from derive.grading.check import Engine, Words

SPECS = ROOT / "specs"
RNG = np.random.default_rng(5)


def _grader(name: str):
    return Engine(str(SPECS / name)).grader(None)[0]


def _verdict(grader, key: str, text: str) -> tuple[str, list[str]]:
    v = grader.check(key, text)
    return v.verdict, [f.code for f in v.findings]


def _agree(reference, formula, points: int = 50) -> None:
    """reference (autograd) and formula (the answer's text, as numpy) agree at random points of (−2, 2)^n."""
    for _ in range(points):
        p = RNG.uniform(-2, 2, 12)
        assert np.isclose(reference(p), formula(p), rtol=1e-9, atol=1e-12), p


# --------------------------------------------------------------------------- autograd references


def _relu_net_y_of_h1(p):
    """Seed 000's network from h_1 on, h_1 = p[0]: y(h_1) with psi, phi and h_2 from p."""
    h1, h2, psi_01, psi_11, psi_21, psi_02, psi_12, psi_22, phi_0, phi_1, phi_2 = p[:11]
    relu = lambda v: anp.maximum(v, 0.0)  # noqa: E731
    return lambda h: phi_0 + phi_1 * relu(psi_01 + psi_11 * h + psi_21 * h2) + phi_2 * relu(psi_02 + psi_12 * h + psi_22 * h2)


def _bce_of(t):
    return lambda y: -(t * anp.log(y) + (1 - t) * anp.log(1 - y))


def test_the_right_answers_below_agree_with_autograd():
    # ∂y/∂h_1 of seed 000's network
    def reference(p):
        return grad(_relu_net_y_of_h1(p))(p[0])

    def formula(p):
        h1, h2, psi_01, psi_11, psi_21, psi_02, psi_12, psi_22, phi_0, phi_1, phi_2 = p[:11]
        u1, u2 = psi_01 + psi_11 * h1 + psi_21 * h2, psi_02 + psi_12 * h1 + psi_22 * h2
        return phi_1 * (u1 > 0) * psi_11 + phi_2 * (u2 > 0) * psi_12

    _agree(reference, formula)
    # δ² = ∂J/∂z² of a sigmoid output with binary cross-entropy: y − t
    sigmoid = lambda z: 1 / (1 + anp.exp(-z))  # noqa: E731
    _agree(lambda p: grad(lambda z: _bce_of(p[1] / 4 + 0.5)(sigmoid(z)))(p[0]),
           lambda p: sigmoid(p[0]) - (p[1] / 4 + 0.5))
    # ∂J/∂y of binary cross-entropy: (y − t)/(y(1 − y))
    _agree(lambda p: grad(_bce_of(p[1] / 4 + 0.5))(p[0] / 4 + 0.5),
           lambda p: ((p[0] / 4 + 0.5) - (p[1] / 4 + 0.5)) / ((p[0] / 4 + 0.5) * (1 - (p[0] / 4 + 0.5))))
    # f = q z with q = x + y: ∂f/∂q = z
    _agree(lambda p: grad(lambda q: q * p[2])(p[0] + p[1]), lambda p: p[2])
    # the RNN: L depends on h_21 through a_31 = … + W_11 h_21 + …; δ_21 = ∂L/∂h_21 · (1 − h_21²), h = tanh(a)
    _agree(lambda p: grad(lambda a: p[1] * anp.tanh(a))(p[0]), lambda p: p[1] * (1 - anp.tanh(p[0]) ** 2))


# --------------------------------------------------------------------------- the asked quantity by its own name


@pytest.mark.parametrize("spec,key,own,right", [
    ("two-layer-relu.yaml", "dy_dh_1", "dy_dh_1", "phi_1 I[u_1>0] psi_11 + phi_2 I[u_2>0] psi_12"),
    ("two-layer-relu.yaml", "dy_dh_1", r"\frac{\partial y}{\partial h_1}", "phi_1 I[u_1>0] psi_11 + phi_2 I[u_2>0] psi_12"),
    ("sigmoid-bce.yaml", "dJ_dy", "dJ_dy", "(y - t)/(y (1 - y))"),
    ("mlp-check.yaml", "delta2", "delta2", "y - t"),
    ("mlp-check.yaml", "delta2", "dJ_dz2", "y - t"),  # the one-unit δ² by its scalar name
    ("mlp-check.yaml", "dJ_dy", "dJ_dy", "(y - t)/(y (1 - y))"),
    ("graph-add-mul.yaml", "df_dq", "df_dq", "z"),
    ("rnn-3-steps.yaml", "delta_21", "delta_21", "dL_dh_21 (1 - h_21^2)"),
    ("rnn-3-steps.yaml", "delta_21", "2 delta_21 - delta_21", "dL_dh_21 (1 - tanh(a_21)^2)"),
])
def test_an_answer_that_names_the_asked_quantity_is_invalid(spec, key, own, right):
    grader = _grader(spec)
    assert _verdict(grader, key, own) == ("invalid", ["names_asked"])
    assert _verdict(grader, key, right)[0] == "correct"  # the same quantity written out (autograd above)


@pytest.mark.parametrize("lang,words", [("en", "is the gradient this answer asks for"),
                                        ("ru", "это и есть искомый градиент"),
                                        ("pl", "to właśnie szukany gradient")])
def test_the_feedback_says_so_in_the_students_language(lang, words):
    v = _grader("two-layer-relu.yaml").check("dy_dg_1", "dy_dg_1")
    assert words in Words(lang).feedback(v)


def test_a_parameters_own_name_stays_usable():
    """Weight decay puts λ·φ₁ into ∂J/∂φ₁: the key's name is part of the right answer, not the answer's name."""
    grader = _grader("gelu-mae-decay.yaml")
    assert _verdict(grader, "phi_1", "sign(y - t) sigmoid(v) g_1 + lamda phi_1")[0] == "correct"
    assert _verdict(grader, "phi_1", "sign(y - t) sigmoid(v) g_1")[0] == "incorrect"


def test_other_gradients_stay_usable():
    """∂J/∂b² = δ² and δ¹ = (W²)ᵀ δ² ⊙ I[z¹ > 0]: only the asked quantity is withheld."""
    grader = _grader("mlp-check.yaml")
    assert _verdict(grader, "dJ_db2", "delta2")[0] == "correct"
    assert _verdict(grader, "delta1", "W2^T delta2 ⊙ I[z1 > 0]")[0] == "correct"
    assert _verdict(_grader("two-layer-relu.yaml"), "theta_11", "dy_dh_1 I[z_1>0] x")[0] == "correct"


# --------------------------------------------------------------------------- a factor right after a divisor


@pytest.mark.parametrize("text", ["1/2x", "a/2b", "(y - t)/y(1 - y)", "1/x^2y", "x/(y + 1)z", "1/2sqrt(x)"])
def test_a_factor_glued_to_a_divisor_is_refused(text):
    with pytest.raises(ParseError) as caught:
        parse_math(text)
    assert caught.value.key == "ambiguous_division"


@pytest.mark.parametrize("text", ["1/2 x", "1/2*x", r"\frac12 x", "(1/2)x", "x/2", r"1/2\,x"])
def test_a_spaced_or_bracketed_product_after_a_divisor_is_read_as_before(text):
    x = parse_math("x")
    assert parse_math(text) == x / 2


def test_the_two_readings_are_graded_as_the_student_brackets_them():
    grader = _grader("sigmoid-bce.yaml")  # ∂J/∂y = (y − t)/(y(1 − y)), autograd above
    assert _verdict(grader, "dJ_dy", "(y - t)/(y(1 - y))")[0] == "correct"
    assert _verdict(grader, "dJ_dy", "(y - t)/y(1 - y)") == ("invalid", ["parse.ambiguous_division"])
    assert _verdict(grader, "dJ_dy", "(y - t)/y (1 - y)")[0] == "incorrect"  # ((y − t)/y)(1 − y), as spaced


def test_the_refusal_shows_both_readings_in_the_students_language():
    v = _grader("sigmoid-bce.yaml").check("dJ_dy", "(y - t)/y(1 - y)")
    assert "“/(y(1 - y))”" in Words("en").feedback(v) and "“*”" in Words("en").feedback(v)
    assert "«/(y(1 - y))»" in Words("ru").feedback(v) and "знаменатель" in Words("ru").feedback(v)
    assert "„/(y(1 - y))”" in Words("pl").feedback(v) and "mianownikiem" in Words("pl").feedback(v)


def test_half_x_in_a_graph(tmp_path):
    """f = x²/4: ∂f/∂x = x/2 (autograd). `1/2 x` is right; `1/2x` is refused, not taken for x/2; 1/(2x) is wrong."""
    spec = tmp_path / "half.yaml"
    spec.write_text("kind: graph\nnodes:\n  f: x^2/4\noutput: f\n", encoding="utf-8")
    _agree(lambda p: grad(lambda x: x ** 2 / 4)(p[0]), lambda p: p[0] / 2)
    grader = Engine(str(spec)).grader(None)[0]
    assert _verdict(grader, "x", "1/2 x")[0] == "correct"
    assert _verdict(grader, "x", "1/2x") == ("invalid", ["parse.ambiguous_division"])
    assert _verdict(grader, "x", "1/(2x)")[0] == "incorrect"


# --------------------------------------------------------------------------- numbers as a calculator shows them


def _mazur_dE_dw1() -> float:
    """Mazur's 2-2-2 example (specs/mazur-2-2-2.yaml) in autograd: ∂E/∂w1, which the tutorial gives as 0.000438568."""
    i, t = anp.array([0.05, 0.10]), anp.array([0.01, 0.99])
    sigmoid = lambda z: 1 / (1 + anp.exp(-z))  # noqa: E731

    def error(w1):
        W1 = anp.array([[w1, 0.20], [0.25, 0.30]])
        W2 = anp.array([[0.40, 0.45], [0.50, 0.55]])
        o = sigmoid(W2 @ sigmoid(W1 @ i + 0.35) + 0.60)
        return anp.sum((o - t) ** 2) / 2

    return grad(error)(0.15)


def test_scientific_notation_is_a_number():
    """4.3857e-4 was `invalid` (Unknown name: e) for a worked example's ∂E/∂w1 = 0.000438568 (Mazur; autograd)."""
    assert abs(_mazur_dE_dw1() - 0.000438568) < 1e-9
    grader = _grader("mazur-2-2-2.yaml")
    for text in ("4.3857e-4", "4,3857e-4", "4.3857*10^-4", "0.43857e-3", "4.3857e−4"):
        assert _verdict(grader, "W1_11", text)[0] == "correct", text
    assert _verdict(grader, "W1_11", "4.3857e-3")[0] == "incorrect"  # ten times too large
    assert _verdict(grader, "W1_11", "-4.3857e-4") == ("incorrect", ["value_sign"])


def test_scientific_notation_with_a_letter_that_is_a_name_is_refused():
    """The loss of the Mazur spec is E: 4.3857E-4 could be 4.3857·E − 4, so neither reading is guessed."""
    grader = _grader("mazur-2-2-2.yaml")
    assert _verdict(grader, "W1_11", "4.3857E-4") == ("invalid", ["parse.scientific_name"])
    v = grader.check("W1_11", "4.3857E-4")
    assert "“4.3857*10^-4”" in Words("en").feedback(v)
    assert "«4.3857*10^-4»" in Words("ru").feedback(v) and "экспоненциальной" in Words("ru").feedback(v)
    assert "„4.3857*10^-4”" in Words("pl").feedback(v) and "wykładniczym" in Words("pl").feedback(v)


@pytest.mark.parametrize("text,value", [("2e3", 2000), ("1E-2", 0.01), ("1.5e+2", 150), ("5e-1", 0.5)])
def test_scientific_notation_values(text, value):
    assert float(parse_math(text)) == value
    with pytest.raises(ParseError) as caught:
        parse_math("1e1001")
    assert caught.value.key == "exponent"


# --------------------------------------------------------------------------- e^… where a quantity is named e


def test_e_to_a_power_where_a_node_is_named_e_is_refused():
    """CS231n's neuron has a node e = exp(m): `x_1 e^{-z}/(1 + e^{-z})^2`, the textbook σ′ form, was read as a
    power of that node and graded `incorrect`. It is refused now; exp(−z) is graded as the exponential."""
    # autograd and CS231n's published gradient: w = (2, −3, −3), x = (−1, −2) gives ∂f/∂w_1 = x_1·σ′(1) ≈ −0.3932
    f = lambda w1: 1 / (1 + anp.exp(-(2 * -1 + w1 * -2 + -3)))  # noqa: E731
    assert abs(grad(f)(-3.0) - (-2) * np.exp(-1) / (1 + np.exp(-1)) ** 2) < 1e-12
    assert abs(grad(f)(-3.0) - (-0.3932)) < 1e-4
    grader = Engine(str(ROOT / "tests" / "specs" / "graph-cs231n-neuron.yaml")).grader(None)[0]
    assert _verdict(grader, "w_1", "x_1 exp(-z)/(1 + exp(-z))^2")[0] == "correct"
    assert _verdict(grader, "w_1", "x_1 e^{-z}/(1 + e^{-z})^2") == ("invalid", ["parse.euler_name"])
    assert _verdict(grader, "w_1", "x_1 e/d^2")[0] == "correct"  # the node e itself stays a name
    assert _verdict(grader, "w_1", "-0.3932")[0] == "correct"
    v = grader.check("w_1", "x_1 e^{-z}/(1 + e^{-z})^2")
    assert "exp(…)" in Words("ru").feedback(v) and "экспоненту" in Words("ru").feedback(v)


def test_e_to_a_power_is_the_exponential_where_e_is_no_name():
    assert parse_math("e^{-x}", names={"x": parse_math("x")}) == parse_math("exp(-x)")


# --------------------------------------------------------------------------- the web preview agrees with the verdict


@pytest.mark.parametrize("spec,key,text,ok,words", [
    ("graph-add-mul.yaml", "x", "qq", False, "Unknown name: qq; did you mean q?"),  # was an AttributeError
    ("graph-add-mul.yaml", "x", "z = -4", True, ""),  # a graph's `formula = number`, as derive check reads it
    ("graph-add-mul.yaml", "df_dq", "df_dq", False, "is the gradient this answer asks for"),
    ("mlp-check.yaml", "delta1", "W3", False, "Unknown name: W3"),
    ("mlp-check.yaml", "delta2", "delta2", False, "is the gradient this answer asks for"),
    ("two-layer-relu.yaml", "dy_dh_1", "dy_dh_1", False, "is the gradient this answer asks for"),
    ("rnn-3-steps.yaml", "W_11", "foo", False, "Unknown name: foo"),
])
def test_the_web_preview_reads_as_the_checker_does(spec, key, text, ok, words):
    from derive.web.checker import validate

    engine = Engine(str(SPECS / spec))
    shown = validate(engine, None, key, text, "en")
    assert shown["ok"] is ok and words in shown.get("message", "")
    assert (engine.grader(None)[0].check(key, text).verdict == "invalid") is not ok


# --------------------------------------------------------------------------- tanh²(a) as textbooks write it


def test_a_power_on_the_function_name():
    """`1 - tanh^2(a_21)` (δ of the RNN, autograd above) was `invalid` (unexpected “^”): it is tanh(a)² now."""
    grader = _grader("rnn-3-steps.yaml")
    for text in ("dL_dh_21 (1 - tanh^2(a_21))", r"\frac{\partial L}{\partial h_{21}} \left(1 - \tanh^{2}(a_{21})\right)",
                 "dL_dh_21 (1 - tanh^2 a_21)"):
        assert _verdict(grader, "delta_21", text)[0] == "correct", text
    assert _verdict(grader, "delta_21", "dL_dh_21 (1 - tanh(a_21))")[0] == "incorrect"
    assert parse_math("sin^2 x + cos^2 x") == parse_math("sin(x)^2 + cos(x)^2")
    for text in ("sin^{-1}(x)", "tanh^{1/2}(x)"):  # sin^{-1} is arcsin to some: only whole powers from 1 on
        with pytest.raises(ParseError):
            parse_math(text)


# --------------------------------------------------------------------------- numpy's * between a row and a column


def test_a_row_times_a_column_with_star_is_refused():
    """In numpy, x.T * delta1 broadcasts to delta1 x^T, which is ∂J/∂W1 (autograd below); read as a matrix product
    it was the number x^T delta1 and graded `incorrect`. Neither reading is guessed now."""
    relu, sigmoid = (lambda v: anp.maximum(v, 0.0)), (lambda v: 1 / (1 + anp.exp(-v)))
    W1, b1, W2, b2 = RNG.normal(size=(3, 3)), RNG.normal(size=(3, 1)), RNG.normal(size=(1, 3)), RNG.normal(size=(1, 1))
    x, t = RNG.normal(size=(3, 1)), 0.3

    def loss(W1, b1):  # specs/mlp-check.yaml: ReLU, then a sigmoid with binary cross-entropy
        y = sigmoid(W2 @ relu(W1 @ x + b1) + b2)[0, 0]
        return -(t * anp.log(y) + (1 - t) * anp.log(1 - y))

    dW1, delta1 = grad(loss, 0)(W1, b1), grad(loss, 1)(W1, b1)
    assert np.allclose(x.T * delta1, dW1) and np.allclose(delta1 @ x.T, dW1)  # numpy's reading is the derivative
    grader = _grader("mlp-check.yaml")
    assert _verdict(grader, "dJ_dW1", "x.T * delta1") == ("invalid", ["parse.row_times_column"])
    for text in ("delta1 @ x.T", "delta1 * x.T", "delta1 x^T"):
        assert _verdict(grader, "dJ_dW1", text)[0] == "correct", text
    assert _verdict(grader, "dJ_dW1", "x @ delta1.T")[0] == "incorrect"  # the transpose, in either notation


# --------------------------------------------------------------------------- the expected LaTeX shown to students


def test_node_gradients_are_named_by_their_node_in_the_expected_latex():
    """∂J/∂x_1 of sigmoid-bce showed ∂J/∂(dz^{[1]}_1) (the name cut one letter short); a student copying the
    expected LaTeX back got `invalid`. It is ∂J/∂z^{[1]}_1 now, and reads back as the right answer."""
    grader = _grader("sigmoid-bce.yaml")
    shown = grader.check("dJ_dx_1", "0").expected_latex
    assert r"\frac{\partial J}{\partial z^{[1]}_1}" in shown and r"\mathrm{dz}" not in shown
    assert _verdict(grader, "dJ_dx_1", shown)[0] == "correct"


def test_the_layer_kinds_expected_latex_renders_in_katex():
    """The layer kinds printed their backward names as \\mathrm{dL}_{dO}_{1,1}, a double subscript KaTeX refuses;
    they are the derivation's own ∂L/∂O_{1,1} now, which a real KaTeX renders."""
    from katex import katex_errors

    shown = []
    for spec, key in (("attention-3-tokens.yaml", "dL_dP_11"), ("rnn-3-steps.yaml", "V_11"), ("conv1d.yaml", None)):
        grader = _grader(spec)
        for k in ([key] if key else grader.keys()[:8]):
            shown.append(grader.check(k, "0").expected_latex)
    assert not [s for s in shown if r"\mathrm{dL}" in s]
    assert katex_errors(shown) == []


# --------------------------------------------------------------------------- a sum that leaves elements out


def test_a_sum_that_starts_after_1_is_not_the_whole_sum():
    """∂f/∂x_i of f = W x + θ is Σ_{k=1}^{n} W_ki ∂f/∂q_k (autograd below); `\\sum_{k=2}^{n}` leaves k = 1 out,
    but its bounds were read over and it was graded `correct`."""
    W, upstream = RNG.normal(size=(3, 3)), RNG.normal(size=3)
    full = grad(lambda x: anp.dot(upstream, anp.dot(W, x)))(RNG.normal(size=3))
    assert np.allclose(full, W.T @ upstream) and not np.allclose(full, W[1:].T @ upstream[1:])
    grader = _grader("linear-layer.yaml")
    for text in (r"\sum_{k=2}^{n} W_{k,i} df_dq_k", r"\sum_{k=0}^{n} W_{k,i} df_dq_k"):
        assert _verdict(grader, "x_i", text) == ("invalid", ["parse.sum_start"]), text
    for text in (r"\sum_{k=1}^{n} W_{k,i} df_dq_k", r"\sum\limits_{k=1}^{n} W_{k,i} df_dq_k", "sum_k W_ki df_dq_k"):
        assert _verdict(grader, "x_i", text)[0] == "correct", text
    v = grader.check("x_i", r"\sum_{k=2}^{n} W_{k,i} df_dq_k")
    assert "starts at 2" in Words("en").feedback(v) and "начинается с 2" in Words("ru").feedback(v)
    assert "zaczyna się od 2" in Words("pl").feedback(v)
