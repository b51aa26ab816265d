"""Worked examples with numbers (CONTRACT section 7), against independent references.

References: the numbers Matt Mazur's "A Step by Step Backpropagation Example"
publishes (typed in here because they are published, not computed by derive),
HIPS autograd and central finite differences of a numpy forward pass written
in this file from the spec's meaning, and real LuaLaTeX for the PDF.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT

MAZUR = ROOT / "specs" / "mazur-2-2-2.yaml"

# The tutorial's published numbers, as printed there, with the names derive gives its weights
# (w1: i1→h1 = W1_11, w2: i2→h1 = W1_12, w3: i1→h2 = W1_21, w4: i2→h2 = W1_22,
#  w5: h1→o1 = W2_11, w6: h2→o1 = W2_12, w7: h1→o2 = W2_21, w8: h2→o2 = W2_22).
MAZUR_TOTAL_ERROR = "0.298371109"
MAZUR_DE_DW5 = "0.082167041"
MAZUR_UPDATED = {
    "W2_11": "0.35891648", "W2_12": "0.408666186", "W2_21": "0.511301270", "W2_22": "0.561370121",
    "W1_11": "0.149780716", "W1_12": "0.19956143", "W1_21": "0.24975114", "W1_22": "0.29950229",
}


def _json(cli, spec: Path, *args) -> dict:
    result = cli(spec, "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _as_printed(value: float, published: str) -> str:
    """value rounded to as many decimals as the published number has."""
    return f"{value:.{len(published.split('.')[1])}f}"


# -- Mazur's tutorial, digit for digit --------------------------------------------------------------


def test_mazur_total_error_gradient_and_updated_weights_match_the_tutorial(cli):
    data = _json(cli, MAZUR)
    forward = {s["name"]: s["value"] for s in data["forward"]}
    grads = {d["wrt"]: d["value"] for d in data["derivatives"]}
    updated = {u["name"]: u["value"] for u in data["update"]}
    assert _as_printed(forward["E"], MAZUR_TOTAL_ERROR) == MAZUR_TOTAL_ERROR
    assert _as_printed(grads["W2_11"], MAZUR_DE_DW5) == MAZUR_DE_DW5
    for name, published in MAZUR_UPDATED.items():
        assert _as_printed(updated[name], published) == published, name


def test_mazur_biases_are_shared_and_frozen_as_in_the_tutorial(cli):
    data = _json(cli, MAZUR)
    assert [p for p in data["parameters"] if p.startswith("b")] == ["b1", "b2"]
    updated = {u["name"]: u for u in data["update"]}
    assert updated["b1"] == {"name": "b1", "value": 0.35, "frozen": True}
    assert updated["b2"] == {"name": "b2", "value": 0.6, "frozen": True}
    # one bias for both units: its derivative is the sum of the two units' terms
    b2 = next(d for d in data["derivatives"] if d["wrt"] == "b2")
    assert b2["expr"].count("dE_do_") == 2
    assert data["loss_after"] < data["forward"][-1]["value"]


def test_mazur_loss_after_the_step_is_the_forward_pass_at_the_new_weights(cli):
    """The tutorial prints 0.291027924, rounding its intermediate values; float64 from the published
    weights gives 0.291027774, and so does derive."""
    data = _json(cli, MAZUR)
    new = {u["name"]: u["value"] for u in data["update"]}
    values = data["values"]
    sigma = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    h1 = sigma(new["W1_11"] * values["i_1"] + new["W1_12"] * values["i_2"] + new["b1"])
    h2 = sigma(new["W1_21"] * values["i_1"] + new["W1_22"] * values["i_2"] + new["b1"])
    o1 = sigma(new["W2_11"] * h1 + new["W2_12"] * h2 + new["b2"])
    o2 = sigma(new["W2_21"] * h1 + new["W2_22"] * h2 + new["b2"])
    reference = 0.5 * (values["t_1"] - o1) ** 2 + 0.5 * (values["t_2"] - o2) ** 2
    assert data["loss_after"] == pytest.approx(reference, rel=1e-12)
    assert f"{data['loss_after']:.6f}" == "0.291028"  # the tutorial's 0.291027924 to six digits


def test_json_is_a_program_with_a_value_on_every_step(cli):
    data = _json(cli, MAZUR)
    assert data["forward"][-1]["name"] == data["of"] == "E"  # the loss is a forward step
    assert all("value" in s for s in data["forward"] + data["backward"] + data["derivatives"])
    assert [u["name"] for u in data["update"]] == data["parameters"]
    assert data["learning_rate"] == 0.5 and data["tolerance"] == 0.005


@pytest.mark.parametrize("lang, sign", [("en", "."), ("ru", "{,}"), ("pl", "{,}")])
def test_markdown_shows_the_numbers_at_every_step_in_the_language_format(cli, lang, sign):
    text = cli(MAZUR, "--lang", lang).stdout
    number = lambda s: s.replace(".", sign)  # noqa: E731
    # substituted in the order the formula is written, W11 i1 + W12 i2 + b (the bias last)
    assert f"= {number('0.15')} \\cdot {number('0.05')} + {number('0.2')} \\cdot {number('0.1')} + {number('0.35')} = {number('0.3775')}" in text
    assert f"\\sigma({number('0.3775')}) \\approx {number('0.5933')}" in text  # forward
    assert f"\\approx {number('0.2984')}" in text  # the loss
    assert f"\\approx {number('0.03635')}" in text  # a backward quantity, ∂E/∂h_1
    assert f"\\approx {number('0.08217')}" in text  # ∂E/∂w5
    assert f"= {number('0.4')} - {number('0.5')} \\cdot {number('0.08217')} \\approx {number('0.3589')}" in text
    if sign != ".":
        assert "0.3589" not in text and "0.5933" not in text


def test_digits_sets_the_significant_digits(cli, tmp_path):
    spec = tmp_path / "mazur9.yaml"
    spec.write_text(MAZUR.read_text(encoding="utf-8") + "digits: 9\n", encoding="utf-8")
    text = cli(spec).stdout
    assert r"E \approx 0.298371109" in text
    assert r"\approx 0.149780716" in text and r"\approx 0.358916480" in text


# -- other values: autograd and finite differences ------------------------------------------------

OTHER = """\
kind: network
input: {name: x, size: 3}
output: y
index: target-source
layers:
  - {units: 2, activation: tanh, params: W, bias: b, bias_shared: true, pre: z, post: h}
  - {units: 2, activation: sigmoid, params: W, bias: b, pre: u}
loss: sse
values:
  x_1: 0.7
  x_2: -1.3
  x_3: 0.4
  t_1: 0.2
  t_2: -0.5
  b1: -0.1
  W1_11: 0.3
  W1_12: -0.8
  W1_13: 0.25
  W1_21: 0.9
  W1_22: 0.15
  W1_23: -0.6
  b2_1: 0.05
  b2_2: -0.45
  W2_11: 1.1
  W2_12: -0.7
  W2_21: 0.35
  W2_22: 0.6
learning_rate: 0.1
"""


def _reference_loss(np_):
    """The network of OTHER, written from the spec's meaning (not from derive's output)."""

    def loss(p, x, t):
        h = np_.tanh(np_.dot(p["W1"], x) + p["b1"])  # one bias for both units
        y = 1 / (1 + np_.exp(-(np_.dot(p["W2"], h) + p["b2"])))
        return np_.sum((y - t) ** 2)

    return loss


def _reference_params(values: dict) -> dict:
    return {
        "W1": np.array([[values["W1_11"], values["W1_12"], values["W1_13"]],
                        [values["W1_21"], values["W1_22"], values["W1_23"]]]),
        "b1": values["b1"],
        "W2": np.array([[values["W2_11"], values["W2_12"]], [values["W2_21"], values["W2_22"]]]),
        "b2": np.array([values["b2_1"], values["b2_2"]]),
    }


def _flat(grads: dict) -> dict:
    out = {"b1": float(grads["b1"])}
    out |= {f"W1_{j + 1}{k + 1}": float(grads["W1"][j, k]) for j in range(2) for k in range(3)}
    out |= {f"W2_{j + 1}{k + 1}": float(grads["W2"][j, k]) for j in range(2) for k in range(2)}
    out |= {f"b2_{j + 1}": float(grads["b2"][j]) for j in range(2)}
    return out


@pytest.fixture(scope="module")
def other(tmp_path_factory):
    from click.testing import CliRunner

    from derive.cli import main

    spec = tmp_path_factory.mktemp("worked") / "other.yaml"
    spec.write_text(OTHER, encoding="utf-8")
    result = CliRunner().invoke(main, [str(spec), "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_values_agree_with_autograd(other):
    import autograd.numpy as anp
    from autograd import grad

    values = other["values"]
    x, t = np.array([values["x_1"], values["x_2"], values["x_3"]]), np.array([values["t_1"], values["t_2"]])
    params = _reference_params(values)
    loss = _reference_loss(anp)
    expected = _flat(grad(loss)(params, x, t))
    got = {d["wrt"]: d["value"] for d in other["derivatives"]}
    assert set(got) == set(expected)
    for name in expected:
        assert got[name] == pytest.approx(expected[name], rel=1e-12, abs=1e-15), name
    assert other["forward"][-1]["value"] == pytest.approx(float(loss(params, x, t)), rel=1e-12)
    updated = {u["name"]: u["value"] for u in other["update"]}
    for name in expected:
        assert updated[name] == pytest.approx(values[name] - 0.1 * expected[name], rel=1e-12), name
    new = _reference_params(updated)
    assert other["loss_after"] == pytest.approx(float(loss(new, x, t)), rel=1e-12)


def test_values_agree_with_finite_differences(other):
    values = other["values"]
    x, t = np.array([values["x_1"], values["x_2"], values["x_3"]]), np.array([values["t_1"], values["t_2"]])
    loss = _reference_loss(np)
    got = {d["wrt"]: d["value"] for d in other["derivatives"]}
    step = 1e-6
    for name in got:
        plus, minus = dict(values), dict(values)
        plus[name] += step
        minus[name] -= step
        fd = (loss(_reference_params(plus), x, t) - loss(_reference_params(minus), x, t)) / (2 * step)
        assert got[name] == pytest.approx(fd, rel=1e-6, abs=1e-9), name


# -- exact fractions, only when asked -----------------------------------------------------------------

EXACT = """\
kind: network
input: x
output: y
layers:
  - {units: 1, activation: relu, params: theta, pre: z, post: h}
  - {units: 1, activation: identity, params: phi}
loss: half_sse
values: {x: 2, t: 1, theta_0: "1/3", theta_1: 1, phi_0: 0, phi_1: 3}
"""


def test_exact_fractions_only_when_asked(cli, tmp_path):
    spec = tmp_path / "exact.yaml"
    spec.write_text(EXACT, encoding="utf-8")
    decimal = cli(spec).stdout
    assert r"\frac{7}{3}" not in decimal and r"z = \theta_0 + \theta_1 x = \frac{1}{3}" not in decimal
    assert r"\approx 2.333" in decimal  # z = 1/3 + 2
    spec.write_text(EXACT + "exact: true\n", encoding="utf-8")
    exact = cli(spec).stdout
    assert r"= \frac{7}{3}" in exact and r"\approx 2.333" not in exact
    # y = 3 z = 7 exactly, J = (7 − 1)²/2 = 18, ∂J/∂φ_1 = (y − t) h = 6 · 7/3 = 14
    data = json.loads(cli(spec, "--format", "json").stdout)
    assert data["forward"][-1]["value"] == 18
    assert {d["wrt"]: d["value"] for d in data["derivatives"]}["phi_1"] == 14
    assert data["forward"][0] == {"name": "z", "expr": "theta_0 + theta_1*x", "value": 7 / 3, "exact": "7/3"}


# -- bad input: a clear message with the place, exit code 2 ---------------------------------------------


@pytest.mark.parametrize("extra, where, says", [
    ("values: {x: 1, w: 2}\n", "values.w", "not an input, target or parameter"),
    ("values: {x: 1}\n", "values", "no value for"),
    ("values: {x: one}\n", "values.x", "expected a number"),
    ("learning_rate: 0.1\n", "learning_rate", "needs values"),
    ("values: {x: 1, theta_0: 0, theta_1: 1, phi_0: 0, phi_1: 1}\nlearning_rate: -1\n", "learning_rate", "above 0"),
    ("values: {x: 1, theta_0: 0, theta_1: 1, phi_0: 0, phi_1: 1}\nlearning_rate: 1\nfrozen: [psi]\n", "frozen[0]",
     "not a parameter"),
    ("values: {x: 1, theta_0: 0, theta_1: 1, phi_0: 0, phi_1: 1}\ndigits: 40\n", "digits", "significant digits"),
    ("values: {x: 1, theta_0: 0, theta_1: 1, phi_0: 0, phi_1: 1}\nexact: yes please\n", "exact", "true or false"),
    ("valeus: {x: 1}\n", "valeus", "unknown key"),
])
def test_bad_worked_keys_name_the_place(extra, where, says, tmp_path):
    from conftest import run_process

    spec = tmp_path / "bad.yaml"
    spec.write_text("kind: network\ninput: x\noutput: y\nlayers:\n"
                    "  - {units: 1, activation: relu, params: theta, pre: z, post: h}\n"
                    "  - {units: 1, activation: identity, params: phi}\n" + extra, encoding="utf-8")
    proc = run_process(spec)
    assert proc.returncode == 2, proc.stderr
    assert "bad.yaml:" in proc.stderr and f"{where}:" in proc.stderr and says in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bias_shared_is_a_yes_or_no_and_belongs_to_the_scalar_view(cli, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("kind: network\nindex: target-source\nlayers:\n  - {units: 2, activation: relu, bias_shared: 1}\n"
                    "  - {units: 1}\n", encoding="utf-8")
    result = cli(spec)
    assert result.exit_code == 2 and "layers[0].bias_shared" in result.output
    spec.write_text("kind: network\nindex: target-source\nview: vector\nlayers:\n"
                    "  - {units: 2, activation: relu, bias_shared: true}\n  - {units: 1}\n", encoding="utf-8")
    result = cli(spec)
    assert result.exit_code == 2 and "bias_shared needs view: scalar" in result.output


def test_a_quantity_that_is_not_a_real_number_is_a_spec_error():
    import sympy as sp

    from derive.kinds.network.worked import NotANumber, _number

    with pytest.raises(NotANumber, match="not a real number"):
        _number(sp.log(sp.S.Zero), sp.Symbol("J"))
    with pytest.raises(NotANumber):
        _number(sp.sqrt(sp.S(-1)), sp.Symbol("J"))


# -- PDF ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ru", "en", "pl"])
def test_mazur_renders_as_pdf_with_the_language_number_format(lang, tmp_path):
    from texharness import pdf_text, require_latex, run_derive, squeeze

    require_latex()
    pdf = tmp_path / f"mazur-{lang}.pdf"
    proc = run_derive(MAZUR, "--format", "pdf", "--lang", lang, "-o", pdf)
    assert proc.returncode == 0, proc.stderr
    text = squeeze(pdf_text(pdf))
    comma = "," if lang in ("ru", "pl") else "."
    assert f"0{comma}3589" in text and f"0{comma}2984" in text and f"0{comma}3775" in text


# -- the figure ---------------------------------------------------------------------------------------


def test_figure_has_values_on_nodes_and_weights_and_gradients_on_edges(tmp_path):
    from derive.render import document
    from derive.pipeline import Options, derive_spec

    result = derive_spec(MAZUR)
    svg = document.figure_of(result, Options(), "ru").svg()
    assert "0,5933" in svg and "0,2984" in svg  # h_1 and E under their nodes
    assert " = 0,15" in svg and "0,0004386" in svg  # w1 = 0,15 and ∂E/∂w1 on its edge
    assert 'fill="#c0392b"' in svg and 'fill="#1a7f37"' in svg  # gradients red, values green
    assert svg.count(">b<") == 2  # each shared bias labelled once, not once per unit
    assert "0.5933" not in svg
    tikz = document.figure_of(result, Options(), "en").tikz()
    assert "below:{$0.5933$}" in tikz and "text=red!75!black" in tikz
    plain = document.figure_of(derive_spec(ROOT / "specs" / "two-layer-relu.yaml"), Options(), "ru").svg()
    assert "#c0392b" not in plain  # no values: the figure is as before


# -- graphs: digits and exact too -----------------------------------------------------------------------

GRAPH = "kind: graph\nnodes: {q: x / y, f: q * q}\nvalues: {x: 20, y: 7}\n"


def test_graph_numbers_follow_digits_exact_and_the_language(cli, tmp_path):
    spec = tmp_path / "g.yaml"
    spec.write_text(GRAPH, encoding="utf-8")
    text = cli(spec).stdout
    assert r"\frac{20}{7}" not in text and r"\frac{400}{49}" not in text  # no fractions unless asked
    assert r"q = \frac{x}{y} \approx 2.857" in text and r"f = q^{2} \approx 8.163" in text
    assert r"\approx 2{,}857" in cli(spec, "--lang", "pl").stdout
    spec.write_text(GRAPH + "digits: 6\nexact: true\n", encoding="utf-8")
    text = cli(spec).stdout
    assert r"q = \frac{x}{y} = \frac{20}{7} \approx 2.85714" in text
    assert r"f = q^{2} = \frac{400}{49} \approx 8.16327" in text


def test_graph_digits_without_values_is_refused(cli, tmp_path):
    spec = tmp_path / "g.yaml"
    spec.write_text("kind: graph\nnodes: {f: x * y}\ndigits: 3\n", encoding="utf-8")
    result = cli(spec)
    assert result.exit_code == 2 and "digits" in result.output and "needs values" in result.output


# -- derive check and derive quiz with numbers ------------------------------------------------------------


def _mazur_gradients(values: dict) -> dict:
    """∂E/∂(each parameter) of Mazur's network at values, by autograd (an independent reference)."""
    import autograd.numpy as anp
    from autograd import grad

    names = ["b1", "W1_11", "W1_12", "W1_21", "W1_22", "b2", "W2_11", "W2_12", "W2_21", "W2_22"]

    def loss(p):
        b1, w1, w2, w3, w4, b2, w5, w6, w7, w8 = [p[k] for k in range(10)]
        i1, i2, t1, t2 = (values[k] for k in ("i_1", "i_2", "t_1", "t_2"))
        h1 = 1 / (1 + anp.exp(-(w1 * i1 + w2 * i2 + b1)))
        h2 = 1 / (1 + anp.exp(-(w3 * i1 + w4 * i2 + b1)))
        o1 = 1 / (1 + anp.exp(-(w5 * h1 + w6 * h2 + b2)))
        o2 = 1 / (1 + anp.exp(-(w7 * h1 + w8 * h2 + b2)))
        return 0.5 * (t1 - o1) ** 2 + 0.5 * (t2 - o2) ** 2

    g = grad(loss)(anp.array([float(values[n]) for n in names]))
    return dict(zip(names, map(float, g)))


def _answers(tmp_path, answers: dict, seed=None) -> Path:
    lines = ([f"seed: {seed}"] if seed is not None else []) + ["answers:"]
    lines += [f'  {k}: "{v}"' for k, v in answers.items()]
    path = tmp_path / f"answers-{seed}-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_check_grades_numbers_within_the_tolerance(cli, tmp_path):
    grads = _mazur_gradients({k: float(v) for k, v in json.loads(cli(MAZUR, "--format", "json").stdout)["values"].items()})
    answers = {"W2_11": f"{grads['W2_11'] * 1.004:.6g}",  # 0.4 % off: within 0.5 %
               "W2_12": f"{grads['W2_12'] * 1.01:.6g}",  # 1 % off
               "W2_21": f"{-grads['W2_21']:.6g}",  # the sign
               "W1_11": "dE_dh_1*h_1*(1 - h_1)*i_1",  # a formula is still checked as a formula
               "W1_12": "0.5*0.5"}
    result = cli("check", MAZUR, _answers(tmp_path, answers), "--format", "json", "--lang", "ru")
    verdicts = {a["key"]: a for a in json.loads(result.stdout)["answers"]}
    assert verdicts["W2_11"]["verdict"] == "correct" and "0,5" in verdicts["W2_11"]["feedback"]
    assert verdicts["W2_12"]["verdict"] == "incorrect" and "1 %" in verdicts["W2_12"]["feedback"].replace("\xa0", " ")
    assert verdicts["W2_21"]["verdict"] == "incorrect" and "знак" in verdicts["W2_21"]["feedback"]
    assert verdicts["W1_11"]["verdict"] == "correct"
    assert verdicts["W1_12"]["verdict"] == "incorrect"
    assert result.exit_code == 1


def test_tolerance_in_the_spec_changes_it(cli, tmp_path):
    spec = tmp_path / "loose.yaml"
    spec.write_text(MAZUR.read_text(encoding="utf-8") + "tolerance: 0.02\n", encoding="utf-8")
    grads = _mazur_gradients({k: float(v) for k, v in json.loads(cli(spec, "--format", "json").stdout)["values"].items()})
    result = cli("check", spec, _answers(tmp_path, {"W2_12": f"{grads['W2_12'] * 1.01:.6g}"}), "--format", "json")
    assert {a["key"]: a["verdict"] for a in json.loads(result.stdout)["answers"]}["W2_12"] == "correct"


def test_quiz_gives_each_student_their_own_numbers_and_check_grades_them(cli, tmp_path):
    from derive.grading.check import Engine

    sheets = {}
    for seed in (1, 2):
        result = cli("quiz", MAZUR, "--seed", seed, "--lang", "pl", "-o", tmp_path)
        assert result.exit_code == 0, result.output
        sheets[seed] = (tmp_path / f"mazur-2-2-2-{seed}.md").read_text(encoding="utf-8")
    assert sheets[1] != sheets[2] and "Dla wartości:" in sheets[1] and "{,}" in sheets[1]
    assert r"\approx" not in sheets[1]  # the sheet gives the values, not the answers
    engine = Engine(str(MAZUR))
    for seed in (1, 2):
        values = {k: float(v) for k, v in engine.outcome(seed).spec.worked.values.items()}
        assert values["t_1"] == 0.01 and values["t_2"] == 0.99  # the targets stay
        asked = engine.grader(seed)[1]
        grads = _mazur_gradients(values)
        good = cli("check", MAZUR, _answers(tmp_path, {k: f"{grads[k]:.6g}" for k in asked}, seed), "--format", "json")
        assert good.exit_code == 0, good.stdout
        other = _mazur_gradients({k: float(v) for k, v in engine.outcome(3 - seed).spec.worked.values.items()})
        bad = cli("check", MAZUR, _answers(tmp_path, {k: f"{other[k]:.6g}" for k in asked}, seed), "--format", "json")
        assert bad.exit_code == 1  # the other student's numbers are not this student's


def test_mazur_slides_show_the_numbers(tmp_path):
    from texharness import pdf_text, require_latex, run_derive, squeeze

    require_latex()
    pdf = tmp_path / "mazur.slides.pdf"
    proc = run_derive(MAZUR, "--format", "pdf", "--document", "slides", "--lang", "ru", "-o", pdf)
    assert proc.returncode == 0, proc.stderr
    text = squeeze(pdf_text(pdf))
    assert "0,3589" in text and "0,08217" in text and "Одиншагградиентногоспуска" in text


SOURCE_TARGET = """\
kind: network
input: x
output: y
layers:
  - {units: 2, activation: relu, params: theta, pre: z, post: h, bias_shared: true}
  - {units: 2, activation: leaky_relu, params: psi, pre: u, post: g}
  - {units: 1, activation: identity, params: phi}
loss: none
values: {x: 1.5, theta_0: 0.1, theta_11: 0.5, theta_12: -0.4, psi_01: 0.2, psi_11: 1, psi_21: -1,
         psi_02: 0, psi_12: 0.3, psi_22: 0.7, phi_0: 0.1, phi_1: 2, phi_2: -1, alpha: 0.1}
learning_rate: 0.1
"""


def test_shared_bias_in_source_target_order_without_a_loss(cli, tmp_path):
    import autograd.numpy as anp
    from autograd import grad

    spec = tmp_path / "st.yaml"
    spec.write_text(SOURCE_TARGET, encoding="utf-8")
    data = _json(cli, spec)
    assert data["parameters"][:3] == ["theta_0", "theta_11", "theta_12"]  # one θ_0 for both units
    v = data["values"]
    names = data["parameters"]

    def y(p):
        p = dict(zip(names, p))
        h1, h2 = (anp.maximum(0, p["theta_0"] + p[f"theta_1{j}"] * v["x"]) for j in (1, 2))
        lrelu = lambda u: anp.where(u > 0, u, v["alpha"] * u)  # noqa: E731
        g1 = lrelu(p["psi_01"] + p["psi_11"] * h1 + p["psi_21"] * h2)
        g2 = lrelu(p["psi_02"] + p["psi_12"] * h1 + p["psi_22"] * h2)
        return p["phi_0"] + p["phi_1"] * g1 + p["phi_2"] * g2

    expected = grad(y)(anp.array([float(v[n]) for n in names]))
    got = {d["wrt"]: d["value"] for d in data["derivatives"]}
    for name, g in zip(names, expected):
        assert got[name] == pytest.approx(float(g), abs=1e-12), name
    text = cli(spec, "--lang", "ru").stdout
    assert "Выход сети при новых значениях параметров" in text and r"= -1 - 0{,}1 \cdot 0{,}255" in text
    assert r"{w}^{+} = w - \eta" in text  # θ names a family here, so the rule is written with w


SOFTMAX = """\
kind: network
input: {name: x, size: 2}
output: y
index: target-source
layers:
  - {units: 2, activation: tanh, params: W, pre: z, post: h}
  - {units: 3, activation: softmax, params: W, pre: u}
loss: ce
values: {x_1: 1, x_2: -2, t_1: 0, t_2: 1, t_3: 0, b1_1: 0.1, b1_2: -0.1, W1_11: 0.5, W1_12: 0.25, W1_21: -0.3,
         W1_22: 0.8, b2_1: 0, b2_2: 0.2, b2_3: -0.2, W2_11: 1, W2_12: -1, W2_21: 0.5, W2_22: 0.5, W2_31: -0.5, W2_32: 2}
learning_rate: 1
digits: 3
"""


def test_softmax_cross_entropy_numbers_agree_with_autograd_and_render(cli, tmp_path):
    import autograd.numpy as anp
    from autograd import grad

    from katex import extract_math, katex_errors

    spec = tmp_path / "softmax.yaml"
    spec.write_text(SOFTMAX, encoding="utf-8")
    data = _json(cli, spec)
    v, names = data["values"], data["parameters"]

    def loss(p):
        p = dict(zip(names, p))
        x = [v["x_1"], v["x_2"]]
        h = [anp.tanh(p[f"b1_{j}"] + p[f"W1_{j}1"] * x[0] + p[f"W1_{j}2"] * x[1]) for j in (1, 2)]
        u = anp.array([p[f"b2_{k}"] + p[f"W2_{k}1"] * h[0] + p[f"W2_{k}2"] * h[1] for k in (1, 2, 3)])
        y = anp.exp(u) / anp.sum(anp.exp(u))
        return -anp.sum(anp.array([v["t_1"], v["t_2"], v["t_3"]]) * anp.log(y))

    start = anp.array([float(v[n]) for n in names])
    for d, g in zip(data["derivatives"], grad(loss)(start)):
        assert d["value"] == pytest.approx(float(g), rel=1e-10, abs=1e-14), d["wrt"]
    assert data["loss_after"] == pytest.approx(float(loss(start - grad(loss)(start))), rel=1e-10)
    text = cli(spec, "--lang", "pl").stdout
    assert r"= \frac{e^{1{,}06}}{e^{1{,}06} + e^{-0{,}232} + e^{-2{,}18}} \approx 0{,}762" in text  # 3 digits
    assert katex_errors(extract_math(text)) == []


def test_a_value_on_a_kink_is_said(cli, tmp_path):
    spec = tmp_path / "kink.yaml"
    spec.write_text("kind: network\nlayers:\n  - {units: 2, activation: relu, params: theta, pre: z, post: h}\n"
                    "  - {units: 1, activation: identity, params: phi}\nloss: half_sse\n"
                    "values: {x: 2, t: 1, theta_01: -1, theta_11: 0.5, theta_02: 0, theta_12: 1, phi_0: 0, phi_1: 1, "
                    "phi_2: 1}\n", encoding="utf-8")
    text = cli(spec).stdout
    assert "At these values $z_1 = 0$ sits exactly on the kink" in text
    data = _json(cli, spec)
    assert {d["wrt"]: d["value"] for d in data["derivatives"]}["theta_11"] == 0  # I[0 > 0] = 0


def test_extreme_values_never_end_in_a_traceback(tmp_path):
    from conftest import run_process

    head = ("kind: network\nlayers:\n  - {units: 1, activation: sigmoid, params: w, pre: z, post: h}\n"
            "  - {units: 1, activation: identity, params: v}\nloss: half_sse\n")
    spec = tmp_path / "long.yaml"
    spec.write_text(head + 'values: {x: "' + "9" * 5000 + '", t: 1, w_0: 0, w_1: 1, v_0: 0, v_1: 1}\n', encoding="utf-8")
    proc = run_process(spec)
    assert proc.returncode == 2 and "values.x" in proc.stderr and "digits" in proc.stderr
    spec.write_text(head + "values: {x: 3, t: 1, w_0: 1e308, w_1: -1e308, v_0: 0, v_1: 1e-300}\nlearning_rate: 1e300\n",
                    encoding="utf-8")
    proc = run_process(spec)  # e^(-2·10^308): a number no float or Decimal holds, printed all the same
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert r"\sigma(-2 \times 10^{308}) \approx 3.399 \times 10^{-868588963806503655" in proc.stdout


def test_format_number():
    import sympy as sp

    from derive.render.numbers import format_number, format_percent

    assert format_number(sp.Rational(7, 20), "ru") == "0,35"  # exact: no trailing zeros
    assert format_number(sp.Float("0.29102777", 30), "en") == "0.2910"  # rounded: four digits shown
    assert format_number(sp.Float("0.29102777", 30), "pl", tex=True) == "0{,}2910"
    assert format_number(sp.Rational(-226025, 10**7), "en") == "-0.02260"
    assert format_number(sp.Rational(1, 10**7), "en", tex=True) == r"1 \times 10^{-7}"
    assert format_percent(0.005, "ru") == "0,5\xa0%" and format_percent(0.005, "en") == "0.5%"


def test_a_value_of_exactly_zero_takes_no_relative_tolerance(cli, tmp_path):
    spec = tmp_path / "dead.yaml"
    spec.write_text("kind: network\nlayers:\n  - {units: 1, activation: relu, params: theta, pre: z, post: h}\n"
                    "  - {units: 1, activation: identity, params: phi}\nloss: half_sse\n"
                    "values: {x: 1, t: 1, theta_0: -2, theta_1: 1, phi_0: 0, phi_1: 1}\n", encoding="utf-8")
    # z = −1: the ReLU is off, so ∂J/∂θ_1 is exactly 0
    answers = _answers(tmp_path, {"theta_1": "0", "theta_0": "0.001"})
    verdicts = {a["key"]: a["verdict"] for a in json.loads(cli("check", spec, answers, "--format", "json").stdout)["answers"]}
    assert verdicts["theta_1"] == "correct" and verdicts["theta_0"] == "incorrect"


WORKED_BCE = """kind: network
input: {name: x, size: 2}
output: y
index: target-source
layers:
  - {units: 2, activation: relu, params: W, bias: b, pre: z, post: h}
  - {units: 1, activation: sigmoid, params: W, bias: b, pre: s}
loss: bce
values: {x_1: 1.0, x_2: -2.0, t: 1, W1_11: 0.5, W1_12: -0.3, W1_21: 0.8, W1_22: 0.2, b1_1: 0.1, b1_2: -0.1,
         W2_1: 1.2, W2_2: -0.7, b2: 0.05}
"""


def test_numbers_continue_the_simplified_form_they_follow(cli, tmp_path):
    """∂J/∂s = ∂J/∂y y(1 − y) = y − t is continued with y − t's own numbers (0,7824 − 1), not with the
    first form's, which would read as y − t = (−1,278) · 0,7824 · (1 − 0,7824)."""
    import math

    spec = tmp_path / "bce.yaml"
    spec.write_text(WORKED_BCE, encoding="utf-8")
    text = cli(spec, "--lang", "ru").stdout
    y = 1 / (1 + math.exp(-(1.2 * 1.2 - 0.7 * 0.3 + 0.05)))  # s = 1,28 by hand: h = (1,2; 0,3)
    row = next(line for line in text.splitlines() if line.startswith(r"\frac{\partial J}{\partial s} ="))
    assert row.endswith(rf"= y - t = {y:.4f} - 1 \approx {y - 1:.4f}".replace(".", "{,}")), row


def test_a_graph_value_given_in_closed_form_is_shown_as_given(cli, tmp_path):
    """`y: pi/4` was shown as y = 0.785398163397448 (fifteen digits after an equals sign): a given value is
    shown as given, and what is computed from it is rounded (x y = π/8 ≈ 0,3927)."""
    import math

    spec = tmp_path / "g.yaml"
    spec.write_text('kind: graph\nnodes: {f: x * y}\nvalues: {x: "1/2", y: pi/4}\n', encoding="utf-8")
    text = cli(spec, "--lang", "ru").stdout
    assert r"x = 0{,}5,\qquad y = \frac{\pi}{4}" in text, text
    assert r"f = x y \approx " + f"{math.pi / 8:.4f}".replace(".", "{,}") in text
    assert "785398" not in text
