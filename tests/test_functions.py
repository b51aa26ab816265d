"""The function vocabulary (derive.functions) against independent references.

References: SymPy's own numeric evaluation (evalf) of each entry's expression,
SymPy's derivative of each definition, HIPS autograd gradients of networks
written here in plain autograd.numpy (not derive's formulas), and finite
differences (derive's verification). A made-up function registered in one
fixture works in a network spec, a graph expression, a student's answer and JSON.
"""

from __future__ import annotations

import json
import math
import textwrap

import mpmath
import numpy as np
import pytest
import sympy as sp

import autograd.numpy as anp
from autograd import grad
from autograd.extend import defvjp, primitive

from conftest import ROOT
from derive.core import functions
from derive.kinds.network.backprop import derive as backprop
from derive.core.functions import ACTIVATIONS, FUNCTIONS, Activation, Function, defined, registered
from derive.kinds.network.model import build
from derive.numeric.evaluate import evaluate as evaluate_numpy
from derive.numeric.precise import evaluate as evaluate_precise
from derive.kinds.network.spec import load_spec_text
from derive.kinds.network.verify import verify

RNG = np.random.default_rng(7)


# -- every entry: its three numeric forms agree with SymPy's own evaluation -------------------


def _arguments(f: Function, rng) -> list[float]:
    low, high = f.nargs
    count = low if high == low else max(low, 2)
    if f.name in ("log", "sqrt"):
        return [float(rng.uniform(0.2, 3.0))]
    return [float(rng.uniform(-2.5, 2.5)) for _ in range(count)]


@pytest.mark.parametrize("name", [n for n in FUNCTIONS if n != "I"])
def test_numeric_rules_agree_with_sympy(name):
    f = FUNCTIONS[name]
    rng = np.random.default_rng(1)
    for _ in range(5):
        args = _arguments(f, rng)
        symbols = sp.symbols(f"a0:{len(args)}", real=True)
        expr = f.build(*symbols)
        reference = float(sp.N(expr.subs(dict(zip(symbols, [sp.Float(a, 30) for a in args]))), 25))
        via_numpy = float(evaluate_numpy(expr, {s: np.array(a) for s, a in zip(symbols, args)}))
        via_mpmath = float(evaluate_precise(expr, {s: mpmath.mpf(a) for s, a in zip(symbols, args)}))
        assert via_numpy == pytest.approx(reference, rel=1e-12, abs=1e-12)
        assert via_mpmath == pytest.approx(reference, rel=1e-15, abs=1e-15)


@pytest.mark.parametrize("cls", [functions.softplus, functions.gelu, functions.silu, functions.elu])
def test_a_defined_functions_derivative_is_sympys_derivative_of_its_definition(cls):
    z, a = sp.symbols("z alpha", real=True)
    args = (z, a) if cls is functions.elu else (z,)
    stated = sp.diff(cls(*args), z)
    reference = sp.diff(cls.definition(*args), z)  # Piecewise for ELU: compared on both sides
    for value in (-1.7, -0.3, 0.4, 2.2):
        point = {z: value, a: 0.7}
        assert float(stated.subs(point)) == pytest.approx(float(reference.subs(point)), rel=1e-12)


def test_unknown_names_list_the_vocabulary():
    from derive.errors import SpecError

    spec = "layers:\n  - {units: 1, activation: relu6}\n"
    with pytest.raises(SpecError) as info:
        load_spec_text(spec)
    assert "relu6" in str(info.value) and "softplus" in str(info.value) and "gelu" in str(info.value)


# -- networks: derive's formulas equal autograd's gradients and finite differences ------------


@primitive
def _erf(x):
    return np.vectorize(math.erf, otypes=[float])(x)


defvjp(_erf, lambda ans, x: lambda g: g * 2.0 / np.sqrt(np.pi) * anp.exp(-x * x))

AUTOGRAD_ACTIVATIONS = {
    "identity": lambda z, a: z,
    "relu": lambda z, a: anp.maximum(z, 0.0),
    "leaky_relu": lambda z, a: anp.where(z > 0, z, a * z),
    "sigmoid": lambda z, a: 1.0 / (1.0 + anp.exp(-z)),
    "tanh": lambda z, a: anp.tanh(z),
    "softplus": lambda z, a: anp.log(1.0 + anp.exp(z)),
    "gelu": lambda z, a: 0.5 * z * (1.0 + _erf(z / np.sqrt(2.0))),
    "silu": lambda z, a: z / (1.0 + anp.exp(-z)),
    "elu": lambda z, a: anp.where(z > 0, z, a * (anp.exp(anp.minimum(z, 0.0)) - 1.0)),
}
AUTOGRAD_LOSSES = {
    "half_sse": lambda ys, ts: 0.5 * sum((y - t) ** 2 for y, t in zip(ys, ts)),
    "mse": lambda ys, ts: sum((y - t) ** 2 for y, t in zip(ys, ts)) / len(ys),
    "mae": lambda ys, ts: sum(anp.abs(y - t) for y, t in zip(ys, ts)) / len(ys),
}


def _autograd_loss(net, point: dict):
    """The network's loss as a function of its parameter vector, written in autograd.numpy from its wiring."""
    params = [str(p) for p in net.params]
    lam = point.get(str(net.spec.weight_decay)) if isinstance(net.spec.weight_decay, str) else net.spec.weight_decay

    def loss(theta):
        value = dict(zip(params, theta))
        sources = [point[str(x)] for x in net.inputs]
        for layer in net.layers:
            alpha = point.get(str(layer.alpha), None) if layer.alpha is not None and layer.alpha.is_Symbol else (
                float(layer.alpha) if layer.alpha is not None else None)
            act = AUTOGRAD_ACTIVATIONS[layer.activation.name]
            outs = []
            for unit in layer.units:
                z = sum(value[str(p)] * (1.0 if src == 1 else sources[net_source_index(layer, unit, src)])
                        for p, src in unit.incoming)
                outs.append(act(z, alpha))
            sources = outs
        ts = [point[str(t)] for t in net.targets]
        total = AUTOGRAD_LOSSES[net.spec.loss](sources, ts)
        if lam is not None:
            total = total + lam / 2 * sum(value[str(w)] ** 2 for w in net.weights)
        return total

    return loss


def net_source_index(layer, unit, src) -> int:
    """Which of the layer's sources (inputs or the previous layer's outputs) src is."""
    return [s for _, s in unit.incoming if s != 1].index(src)


def _random_spec(rng, activation: str, loss: str, decay=None) -> str:
    inputs = int(rng.integers(1, 3))
    hidden = [int(rng.integers(1, 4)) for _ in range(int(rng.integers(1, 3)))]
    outputs = 1 if loss == "mae" and rng.uniform() < 0.5 else int(rng.integers(1, 3))
    alpha = ""
    if activation in ("elu", "leaky_relu"):
        alpha = ", alpha: 0.7" if rng.uniform() < 0.5 else ", alpha: alpha"
    layers = [f"  - {{units: {n}, activation: {activation}{alpha}}}" for n in hidden]
    layers.append(f"  - {{units: {outputs}, activation: identity}}")
    lines = ["kind: network", f"input: {{name: x, size: {inputs}}}", "layers:", *layers, f"loss: {loss}"]
    if decay is not None:
        lines.append(f"weight_decay: {decay}")
    return "\n".join(lines) + "\n"


def _derive_values(derivation, point: dict) -> list[float]:
    """derive's derivative formulas evaluated (derive's own evaluator) at point."""
    net = derivation.network
    env = {sp.Symbol(k): np.array(v) for k, v in point.items()}
    for s, e in net.forward:
        env[s] = evaluate_numpy(e, env)
    for g in derivation.backward:
        env[g.symbol] = evaluate_numpy(g.expr, env)
    return [float(evaluate_numpy(p.value, env)) for p in derivation.derivatives]


def _point(net, rng) -> dict:
    point = {str(p): float(rng.uniform(-1, 1)) for p in net.params}
    point |= {str(x): float(rng.uniform(-2, 2)) for x in net.inputs}
    point |= {str(t): float(rng.uniform(-1, 1)) for t in net.targets}
    point |= {str(c): float(rng.uniform(0.05, 0.3)) for c in net.constants}
    return point


CASES = [(a, "half_sse", None) for a in ("softplus", "gelu", "silu", "elu")] + [
    ("tanh", "mae", None), ("relu", "mae", None), ("elu", "mae", None),
    ("sigmoid", "half_sse", 0.1), ("relu", "mse", "lambda"), ("gelu", "mae", "mu"), ("silu", "half_sse", 2),
]


@pytest.mark.parametrize("activation,loss,decay", CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_random_networks_agree_with_autograd_and_finite_differences(activation, loss, decay, seed):
    rng = np.random.default_rng(seed * 100 + len(activation))
    spec = load_spec_text(_random_spec(rng, activation, loss, decay))
    derivation = backprop(build(spec))
    check = verify(derivation)
    assert check.ok and check.formulas >= len(derivation.derivatives), check.failures
    net = derivation.network
    kinks = [k for _, e in net.forward for k in functions.kink_arguments(e)]
    compared = 0
    for _ in range(10):
        point = _point(net, rng)
        env = {sp.Symbol(k): np.array(v) for k, v in point.items()}
        for s, e in net.forward:
            env[s] = evaluate_numpy(e, env)
        if any(abs(float(evaluate_numpy(k, env))) < 1e-3 for k in kinks):
            continue
        theta = np.array([point[str(p)] for p in net.params])
        reference = grad(_autograd_loss(net, point))(theta)
        assert np.allclose(_derive_values(derivation, point), reference, rtol=1e-9, atol=1e-12)
        compared += 1
    assert compared >= 3


def test_weight_decay_is_a_direct_term_of_weights_only():
    spec = load_spec_text(_random_spec(np.random.default_rng(3), "tanh", "half_sse", "lambda"))
    derivation = backprop(build(spec))
    lam = sp.Symbol("lamda")
    weights = set(derivation.network.weights)
    for p in derivation.derivatives:
        assert (p.direct == lam * p.param) if p.param in weights else p.direct is None
    assert verify(derivation).ok


def test_weight_decay_needs_a_loss_and_reads_lambda_as_a_symbol(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("layers:\n  - {units: 1}\nloss: none\nweight_decay: 0.1\n")
    out = cli(bad)
    assert out.exit_code == 2 and "weight_decay" in out.output
    good = tmp_path / "good.yaml"
    good.write_text("layers:\n  - {units: 1, activation: tanh}\nloss: half_sse\nweight_decay: lambda\n")
    result = cli(good, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert "lamda" in data["constants"]
    assert "lamda*w_1" in data["derivatives"][1]["expr"].replace(" ", "")
    assert r"\lambda" in cli(good).output


# -- graphs: the toy model of Understanding Deep Learning, notebook 7.1 -------------------------

TOY = ROOT / "specs" / "graph-sin-cos-exp.yaml"  # notebook 7.1 of Understanding Deep Learning


def _toy_loss(p, x=2.3, y=2.0):
    b0, b1, b2, b3, w0, w1, w2, w3 = p
    f = b3 + w3 * anp.cos(b2 + w2 * anp.exp(b1 + w1 * anp.sin(b0 + w0 * x)))
    return (f - y) ** 2


def test_a_graph_of_sin_cos_exp_derives_verifies_and_equals_autograd(cli):
    spec = TOY
    result = cli(spec, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    got = {d["wrt"]: d for d in data["derivatives"]}
    reference = grad(_toy_loss)(np.array([1.0, 2.0, -3.0, 0.4, 0.1, -0.4, 2.0, 3.0]))
    names = ["beta_0", "beta_1", "beta_2", "beta_3", "omega_0", "omega_1", "omega_2", "omega_3"]
    for name, value in zip(names, reference):
        assert got[name]["verified"] is True
        assert float(got[name]["value"]) == pytest.approx(value, rel=1e-9)
    md = cli(spec).output
    assert r"\sin" in md and r"\cos" in md


# -- a made-up function registered in one place works everywhere ------------------------------


@pytest.fixture
def softsign():
    """softsign(z) = z / (1 + |z|): one entry, its derivative and numerics from the definition."""
    cls = defined("softsign", lambda z: z / (1 + sp.Abs(z)))
    with registered(Function("softsign", cls, cls), Activation("softsign", lambda z, alpha: cls(z))):
        yield cls


NETWORK = """\
kind: network
input: x
layers:
  - {units: 2, activation: softsign, params: theta, pre: z, post: h}
  - {units: 1, activation: identity, params: phi}
"""


def test_a_registered_function_in_a_network_spec_and_json(softsign, cli, tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(NETWORK)
    result = cli(spec, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"name": "h_1", "expr": "softsign(z_1)"} in data["forward"]
    assert all(d["verified"] for d in data["derivatives"])
    assert r"\operatorname{softsign}" in cli(spec).output


def test_a_registered_function_in_a_graph_expression(softsign, cli, tmp_path):
    spec = tmp_path / "graph.yaml"
    spec.write_text("kind: graph\nnodes:\n  q: x * y\n  f: softsign(q)\noutput: f\nvalues: {x: 2, y: -3}\n")
    result = cli(spec, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert all(d["verified"] for d in data["derivatives"])
    x, y = sp.symbols("x y", real=True)
    reference = sp.diff(x * y / (1 + sp.Abs(x * y)), x).subs({x: 2, y: -3})
    dx = next(d for d in data["derivatives"] if d["wrt"] == "x")
    assert float(dx["value"]) == pytest.approx(float(reference))


def test_a_registered_function_in_a_students_answer(softsign, cli, tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(NETWORK)
    answers = tmp_path / "answers.yaml"
    answers.write_text(textwrap.dedent("""\
        answers:
          phi_1: "softsign(z_1)"
          phi_2: "softsign(theta_01 + theta_11*x)"
          phi_0: "softsign(z_1)"
        """))
    result = cli("check", spec, answers, "--format", "json")
    verdicts = {a["key"]: a["verdict"] for a in json.loads(result.output)["answers"]}
    assert verdicts["phi_1"] == "correct" and verdicts["phi_0"] == "incorrect"
    assert verdicts["phi_2"] == "incorrect"  # h_2 = softsign(z_2), not of z_1


def test_registration_is_undone_after_the_fixture(softsign):
    assert "softsign" in FUNCTIONS and "softsign" in ACTIVATIONS and "softsign" in functions.words()


def test_the_registry_is_back_to_the_shipped_vocabulary():
    assert "softsign" not in FUNCTIONS and "softsign" not in ACTIVATIONS and "softsign" not in functions.words()


@pytest.mark.parametrize("lang", ["en", "ru", "pl"])
def test_the_toy_graph_renders_in_katex(cli, lang):
    from katex import extract_math_with_mode, katex_errors

    math = extract_math_with_mode(cli(TOY, "--lang", lang).output)
    assert len(math) > 20
    for display in (True, False):
        assert katex_errors([tex for tex, mode in math if mode == display], display=display) == []


def test_the_vector_view_takes_mae_and_new_activations(cli, tmp_path):
    spec = tmp_path / "v.yaml"
    spec.write_text("kind: network\nindex: target-source\nview: vector\ninput: {name: x, size: 2}\nlayers:\n"
                    "  - {units: 2, activation: silu}\n  - {units: 2, activation: sigmoid}\nloss: mae\n")
    result = cli(spec)
    assert result.exit_code == 0 and r"\operatorname{sign}" in result.output and r"\operatorname{SiLU}" in result.output
    decay = tmp_path / "d.yaml"
    decay.write_text(spec.read_text() + "weight_decay: 0.1\n")
    assert cli(decay).exit_code == 2


# -- one verification harness: the same `verification` object in every kind's JSON -------------


@pytest.mark.parametrize("spec", ["two-layer-relu", "graph-add-mul", "linear-layer", "mlp-backprop", "deep-composition"])
def test_every_kind_reports_verification_in_one_shape(cli, spec):
    from derive.numeric import harness

    data = json.loads(cli(ROOT / "specs" / f"{spec}.yaml", "--format", "json").output)
    v = data["verification"]
    assert set(v) == {"verified", "points", "formulas", "max_relative_error", "tolerance"}
    assert v["verified"] is True and v["formulas"] >= 1 and 0 <= v["max_relative_error"] <= v["tolerance"]
    assert v["tolerance"] in (harness.FLOAT, harness.PRECISE)


def test_one_failure_wording():
    from derive.errors import VerificationFailed
    from derive.numeric.harness import Check, from_errors

    check = Check()
    check.compare("psi_11", 1.0, 2.0)
    assert VerificationFailed.first("a.yaml", check).show() == (
        "a.yaml: the derived formula for psi_11 gives 1 but finite differences give 2; nothing was printed. "
        "This is a bug in derive: please report it with the spec.")
    assert "relative difference 0.5" in VerificationFailed.first("b.yaml", from_errors([("W", 0.5)])).show()


def test_json_exprs_of_the_new_vocabulary_read_back_with_the_answer_parser():
    """The ASCII printer and the answer grammar agree on every new name (elu, gelu, erf, Abs, sign, pi, lamda)."""
    from derive.core.parse import parse_math
    from derive.render.printing import ascii

    spec = load_spec_text((ROOT / "specs" / "gelu-mae-decay.yaml").read_text(encoding="utf-8"))
    derivation = backprop(build(spec))
    rng = np.random.default_rng(5)
    exprs = [e for _, e in derivation.network.forward] + [p.value for p in derivation.derivatives]
    names = {str(s): s for e in exprs for s in e.free_symbols}
    for expr in exprs:
        back = parse_math(ascii(expr), names)
        env = {s: np.array(rng.uniform(0.1, 1.0)) for s in names.values()}
        assert float(evaluate_numpy(back, env)) == pytest.approx(float(evaluate_numpy(expr, env)), rel=1e-12)


# -- one engine: the network presented (φ, ψ, θ) equals the graph kind's closed forms of the same compiled graph --


@pytest.mark.parametrize("activation,loss,decay", [("relu", "half_sse", None), ("gelu", "mae", "lambda"),
                                                    ("elu", "mse", 0.1), ("sigmoid", "bce", None)])
def test_a_network_compiled_to_a_graph_derives_the_same_gradients(activation, loss, decay):
    from derive.kinds.graph.backprop import backprop as graph_backprop
    from derive.kinds.graph.verify import verify as graph_verify
    from derive.kinds.network.graph import compile_network

    text = _random_spec(np.random.default_rng(11), activation, "half_sse" if loss == "bce" else loss, decay)
    if loss == "bce":
        text = text.replace("activation: identity}", "activation: sigmoid}").replace("loss: half_sse", "loss: bce")
        text = text.replace("units: 2, activation: sigmoid}", "units: 1, activation: sigmoid}")
    derivation = backprop(build(load_spec_text(text)))
    net = derivation.network
    bp = graph_backprop(compile_network(net))
    assert graph_verify(bp, points=2).ok  # the graph engine's own 40-digit check
    rng = np.random.default_rng(2)
    for _ in range(3):
        point = _point(net, rng)
        if net.spec.loss == "bce":
            point |= {str(t): float(rng.uniform(0.05, 0.95)) for t in net.targets}
        graph_env = {s: np.array(point[s.name]) for s in bp.inputs}
        graph = [float(evaluate_numpy(g.closed, graph_env)) for g in bp.derivatives]
        assert np.allclose(_derive_values(derivation, point), graph, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_quiz_variants_of_the_new_vocabulary(cli, tmp_path, seed):
    """A variant keeps ELU's α (it crashed with α unset) and its answers template is graded."""
    spec = ROOT / "specs" / "gelu-mae-decay.yaml"
    assert cli("quiz", spec, "--seed", seed, "-o", tmp_path).exit_code == 0
    template = tmp_path / f"gelu-mae-decay-{seed}.answers.yaml"
    result = cli("check", spec, template, "--format", "json")
    assert result.exit_code == 1 and json.loads(result.output)["total"] >= 3  # nothing answered yet


def test_an_index_graph_with_a_kink_is_checked_away_from_it(cli, tmp_path):
    """graph_index draws its points through the harness too: relu(W x + b) keeps every W x + b away from 0."""
    from derive.core.functions import kink_arguments
    from derive.kinds.graph.kind import derive as derive_graph
    from derive.kinds.graph.spec import parse_doc
    from derive.core.yamlload import load_text

    text = "kind: graph\nshapes: {W: [n, n], x: [n], b: [n]}\nnodes:\n  q: W x + b\n  f: relu(q)\noutput: f\n"
    outcome = derive_graph(parse_doc(load_text(text, "g.yaml")))
    assert outcome.check.ok and outcome.check.points == 2 and outcome.check.formulas > 100
    assert kink_arguments(sp.Symbol("a") + sp.Max(sp.Symbol("q"), 0)) in ([sp.Symbol("q")], [-sp.Symbol("q")])


def test_quiz_families_come_from_the_registry_and_keep_their_order():
    """Handed-out variants must rebuild the same network: the old families keep their members and order."""
    from derive.grading.variant import family

    assert family("relu") == family("leaky_relu") == ("relu", "leaky_relu")
    assert family("sigmoid") == family("tanh") == ("sigmoid", "tanh")
    assert family("gelu") == ("softplus", "gelu", "silu") and family("elu") == () and family("identity") == ()


ALL_FUNCTIONS = """\
kind: graph
nodes:
  a: softplus(x) * gelu(y)
  b: silu(a) + elu(a - y, 2)
  c: erf(b) + sqrt(x^2 + 1) + abs(a - 1) + sign(y) * cos(x)
  f: sin(c) - c^2
output: f
values: {x: 0.5, y: -1.5}
"""


def _all_functions(x: float, y: float) -> float:
    """The graph above in plain Python (math), an independent reference."""
    gelu = lambda z: z / 2 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    a = math.log1p(math.exp(x)) * gelu(y)
    z = a - y
    b = a / (1 + math.exp(-a)) + (z if z > 0 else 2 * (math.exp(z) - 1))
    c = math.erf(b) + math.sqrt(x * x + 1) + abs(a - 1) + math.copysign(1, y) * math.cos(x)
    return math.sin(c) - c * c


def test_a_graph_of_every_new_function_has_exact_values_and_agrees_with_plain_python(cli, tmp_path):
    spec = tmp_path / "all.yaml"
    spec.write_text(ALL_FUNCTIONS)
    result = cli(spec, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    got = {d["wrt"]: d["value"] for d in data["derivatives"]}
    h = 1e-6
    assert got["x"] == pytest.approx((_all_functions(0.5 + h, -1.5) - _all_functions(0.5 - h, -1.5)) / (2 * h), rel=1e-7)
    assert got["y"] == pytest.approx((_all_functions(0.5, -1.5 + h) - _all_functions(0.5, -1.5 - h)) / (2 * h), rel=1e-7)
    assert data["forward"][-1]["value"] == pytest.approx(_all_functions(0.5, -1.5), rel=1e-12)
    assert data["verification"]["verified"] is True


@pytest.mark.parametrize("value,message", [("[1]", "expected a number or a name"), (".inf", "not a finite number"),
                                           ("exp", "reserved"), ("'two words'", "not a valid name")])
def test_bad_weight_decay_is_a_clear_error(cli, tmp_path, value, message):
    spec = tmp_path / "w.yaml"
    spec.write_text(f"layers:\n  - {{units: 1, activation: tanh}}\nloss: half_sse\nweight_decay: {value}\n")
    result = cli(spec)
    assert result.exit_code == 2 and "w.yaml:4:15: weight_decay:" in result.output and message in result.output
