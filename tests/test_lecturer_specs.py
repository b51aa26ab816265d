"""Two specs a lecturer wrote from the contract alone (tests/specs/lecturer-*.yaml), checked against HIPS
autograd on a forward pass written here from the contract's definitions, not from derive's output.

The JSON (CONTRACT section 3) is run as the program it promises to be: every `expr` evaluated top to bottom
with the contract's functions, and each derivative compared with autograd's gradient at random points.
"""

from __future__ import annotations

import json
import math

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.extend import defvjp, primitive

from conftest import ROOT

SPECS = ROOT / "tests" / "specs"


@primitive
def _erf(z):
    return np.vectorize(math.erf)(z)


defvjp(_erf, lambda ans, z: lambda g: g * 2 / np.sqrt(np.pi) * anp.exp(-z ** 2))  # d erf = 2/√π e^{-z²}


def _sigmoid(z):
    return 1 / (1 + anp.exp(-z))


# the contract's functions (sections 3 and 5), for running the JSON's expr strings
def _sig(z):
    return 1 / (1 + math.exp(-z))


FUNCTIONS = {
    "I": lambda c: 1.0 if c else 0.0, "exp": math.exp, "log": math.log, "tanh": math.tanh, "sigmoid": _sig,
    "relu": lambda z: max(0.0, z), "silu": lambda z: z * _sig(z), "softplus": lambda z: math.log1p(math.exp(z)),
    "gelu": lambda z: z / 2 * (1 + math.erf(z / math.sqrt(2))), "elu": lambda z, a: z if z > 0 else a * (math.exp(z) - 1),
    "sign": lambda z: float((z > 0) - (z < 0)), "Abs": abs, "erf": math.erf, "sqrt": math.sqrt, "pi": math.pi,
}


def _run(data: dict, point: dict) -> dict:
    env = dict(FUNCTIONS, **point)
    for step in data["forward"] + data["backward"]:
        env[step["name"]] = eval(step["expr"], {"__builtins__": {}}, env)  # derive's own output, not user input
    return {d["wrt"]: eval(d["expr"], {"__builtins__": {}}, env) for d in data["derivatives"]}


def _json(cli, name: str) -> dict:
    result = cli(SPECS / f"{name}.yaml", "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _layer(P, a, family, bias, units, act):
    return [act(sum(P[f"{family}_{j}{k}"] * a[k - 1] for k in range(1, len(a) + 1)) + P[f"{bias}_{j}"])
            for j in range(1, units + 1)]


def _newer_loss(names, x, t):
    def elu(z):
        return anp.where(z > 0, z, 0.5 * (anp.exp(z) - 1))

    def loss(vector):
        P = dict(zip(names, vector))
        h = _layer(P, x, "W", "b", 2, lambda z: z * _sigmoid(z))
        g = _layer(P, h, "V", "c", 2, elu)
        y = _layer(P, g, "U", "beta", 2, lambda z: z / 2 * (1 + _erf(z / np.sqrt(2))))
        mae = sum(anp.abs(yj - tj) for yj, tj in zip(y, t)) / 2
        return mae + 0.01 / 2 * sum(P[n] ** 2 for n in names if n[0] in "WVU")  # weights only, not biases
    return loss


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_newer_activations_agree_with_autograd(cli, seed):
    data = _json(cli, "lecturer-newer-activations")
    names = data["parameters"]
    assert len(names) == 18 and data["of"] == "J"
    rng = np.random.default_rng(seed)
    point = {n: float(rng.uniform(-1.5, 1.5)) for n in names + data["inputs"] + data["targets"]}
    x, t = [point[n] for n in data["inputs"]], [point[n] for n in data["targets"]]
    expected = grad(_newer_loss(names, x, t))(np.array([point[n] for n in names]))
    got = _run(data, point)
    for name, value in zip(names, expected):
        assert got[name] == pytest.approx(float(value), rel=1e-9, abs=1e-12), name


def _softmax_ce_loss(names, x, t):
    def loss(vector):
        P = dict(zip(names, vector))
        h = _layer(P, x, "W1", "b1", 2, anp.tanh)
        s = _layer(P, h, "W2", "b2", 3, lambda z: z)
        e = [anp.exp(sj) for sj in s]
        y = [ej / sum(e) for ej in e]
        return -sum(tj * anp.log(yj) for tj, yj in zip(t, y))
    return loss


def test_worked_softmax_example_numbers_agree_with_autograd(cli):
    data = _json(cli, "lecturer-worked-softmax-ce")
    names, values = data["parameters"], data["values"]
    x, t = [values[n] for n in data["inputs"]], [values[n] for n in data["targets"]]
    loss = _softmax_ce_loss(names, x, t)
    theta = np.array([values[n] for n in names])
    gradient = grad(loss)(theta)
    assert data["forward"][-1]["name"] == "J" and data["forward"][-1]["value"] == pytest.approx(loss(theta), rel=1e-12)
    assert [d["value"] for d in data["derivatives"]] == pytest.approx(list(gradient), rel=1e-9, abs=1e-12)
    stepped = theta - data["learning_rate"] * gradient
    assert [u["value"] for u in data["update"]] == pytest.approx(list(stepped), rel=1e-12)
    assert data["loss_after"] == pytest.approx(loss(stepped), rel=1e-12)


def test_worked_softmax_example_prints_its_numbers_the_russian_way(cli):
    """The Markdown continues each simplified row with its own numbers, in the language's format."""
    text = cli(SPECS / "lecturer-worked-softmax-ce.yaml", "--lang", "ru").stdout
    data = _json(cli, "lecturer-worked-softmax-ce")
    y2 = next(s["value"] for s in data["forward"] if s["name"] == "y_2")
    row = next(line for line in text.splitlines() if line.startswith(r"\frac{\partial J}{\partial s_2} ="))
    assert f"{y2:.4f}".replace(".", "{,}") + r" \cdot \left(0 + 1 + 0\right) - 1" in row, row
