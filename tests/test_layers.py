"""Modern layers (issue 17): residual connections, RNN through time, attention, convolution, layer norm.

Every derived formula is compared with HIPS autograd (an independent reverse-mode
autodiff library) on random instances: the forward pass is written here in
numpy from the spec's meaning, the derivatives are read from derive's JSON (a
program in the contract's syntax, evaluated top to bottom by this file's own
tiny evaluator, not derive's).
"""

from __future__ import annotations

import json
import math

import pytest

from conftest import LANGS, ROOT
from katex import extract_math, katex_errors

autograd = pytest.importorskip("autograd")  # the `test` extra; CI installs it
import autograd.numpy as anp  # noqa: E402

SPECS = ROOT / "specs"


def _json(cli, spec, *extra) -> dict:
    result = cli(spec, "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


NAMESPACE = {
    "I": lambda cond: 1.0 if cond else 0.0,
    "relu": lambda z: max(z, 0.0),
    "tanh": math.tanh,
    "exp": math.exp,
    "log": math.log,
    "sqrt": math.sqrt,
    "sigmoid": lambda z: 1.0 / (1.0 + math.exp(-z)),
    "__builtins__": {},
}


def run_program(doc: dict, env: dict) -> dict:
    """The JSON as the contract defines it: forward, then backward, then one formula per parameter."""
    env = dict(env)
    for step in doc["forward"] + doc["backward"]:
        env[step["name"]] = eval(step["expr"], NAMESPACE, env)
    return {d["wrt"]: eval(d["expr"], NAMESPACE, env) for d in doc["derivatives"]}


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-7 * max(1.0, abs(b))


# -- residual connections -----------------------------------------------------------------------


def _residual_reference(values: dict) -> dict:
    """specs/residual-mlp.yaml written in numpy: h = relu(Wx + b) + x, g = tanh(Vh + c) + h, y = U g + β."""
    names = sorted(values)

    def loss(vector):
        v = dict(zip(names, vector))
        x = anp.array([v["x_1"], v["x_2"]])
        W = anp.array([[v["W_11"], v["W_12"]], [v["W_21"], v["W_22"]]])
        V = anp.array([[v["V_11"], v["V_12"]], [v["V_21"], v["V_22"]]])
        h = anp.maximum(anp.dot(W, x) + anp.array([v["b_1"], v["b_2"]]), 0.0) + x
        g = anp.tanh(anp.dot(V, h) + anp.array([v["c_1"], v["c_2"]])) + h
        y = v["U_1"] * g[0] + v["U_2"] * g[1] + v["beta"]
        return 0.5 * (y - v["t"]) ** 2

    grad = autograd.grad(loss)(anp.array([values[n] for n in names]))
    return dict(zip(names, grad))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_residual_mlp_agrees_with_autograd(cli, seed):
    import numpy as np

    doc = _json(cli, SPECS / "residual-mlp.yaml")
    rng = np.random.default_rng(seed)
    names = doc["parameters"] + doc["inputs"] + doc["targets"]
    values = {n: float(rng.uniform(-1, 1)) for n in names}
    got = run_program(doc, values)
    want = _residual_reference(values)
    assert doc["parameters"] and all(_close(got[p], want[p]) for p in doc["parameters"]), (got, want)
    assert all(d["verified"] is True for d in doc["derivatives"])


def test_residual_gradient_is_the_plain_gradient_plus_the_identity_term(cli, tmp_path):
    """∂J/∂h_i with the skip = ∂J/∂h_i without it (same point) + ∂J/∂g_i: the highway term."""
    text = (SPECS / "residual-mlp.yaml").read_text(encoding="utf-8")
    plain = tmp_path / "plain.yaml"
    plain.write_text(text.replace("post: g, residual: true", "post: g"), encoding="utf-8")
    res, base = _json(cli, SPECS / "residual-mlp.yaml"), _json(cli, plain)
    values = {n: 0.3 + 0.1 * i for i, n in enumerate(res["parameters"] + res["inputs"] + res["targets"])}
    env_res, env_base = dict(values), dict(values)
    for doc, env in ((res, env_res), (base, env_base)):
        for step in doc["forward"] + doc["backward"]:
            env[step["name"]] = eval(step["expr"], NAMESPACE, env)
    # compare at the same point: the plain network gets the residual one's h, u and y (and g = tanh(u))
    for name in ("h_1", "h_2", "u_1", "u_2", "y"):
        env_base[name] = env_res[name]
    for i in (1, 2):
        env_base[f"g_{i}"] = math.tanh(env_res[f"u_{i}"])
    for step in base["backward"]:
        env_base[step["name"]] = eval(step["expr"], NAMESPACE, env_base)
    highway = {"h_1": env_res["dJ_dy"] * values["U_1"], "h_2": env_res["dJ_dy"] * values["U_2"]}  # ∂J/∂g_i
    for h, term in highway.items():
        assert _close(env_res[f"dJ_d{h}"], env_base[f"dJ_d{h}"] + term)


@pytest.mark.parametrize("lang,word", [("en", "highway"), ("ru", "«магистраль»"), ("pl", "„autostrada”")])
def test_residual_is_narrated_and_renders_in_katex(cli, lang, word):
    result = cli(SPECS / "residual-mlp.yaml", "--lang", lang)
    assert result.exit_code == 0, result.output
    assert word in result.output
    assert not katex_errors(extract_math(result.output))


@pytest.mark.parametrize("layer,message", [
    ("- {units: 3, activation: relu, residual: true}", "width must match its input: it has 3 units and 2 inputs"),
    ("- {units: 2, activation: relu, residual: yes please}", "expected true or false"),
])
def test_bad_residual_layers_are_spec_errors(cli, tmp_path, layer, message):
    spec = tmp_path / "bad.yaml"
    spec.write_text(f"input: {{name: x, size: 2}}\nlayers:\n  {layer}\n  - {{units: 1}}\n", encoding="utf-8")
    result = cli(spec)
    assert result.exit_code == 2
    assert message in result.output and "bad.yaml:3:" in result.output


def test_residual_in_the_vector_view_is_refused_clearly(cli):
    result = cli(SPECS / "residual-mlp.yaml", "--view", "vector")
    assert result.exit_code == 2 and "scalar view" in result.output
