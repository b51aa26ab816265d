"""Every derivative of random networks equals finite differences of an independent numpy forward pass.

The reference here shares nothing with derive's own forward pass or verifier:
weights live in numpy arrays named by this file's own reading of CONTRACT
section 2, and the engine's formulas are evaluated with sympy.lambdify.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.kinds.network.backprop import chain, derive
from derive.core.calculus import Indicator, leaky_relu, relu, sigmoid
from derive.kinds.network.model import build
from derive.kinds.network.spec import load_spec_text

NP_ACT = {
    "identity": lambda z, a: z,
    "relu": lambda z, a: np.maximum(z, 0),
    "leaky_relu": lambda z, a: np.where(z > 0, z, a * z),
    "sigmoid": lambda z, a: 1 / (1 + np.exp(-z)),
    "tanh": lambda z, a: np.tanh(z),
    "softmax": lambda z, a: np.exp(z) / np.exp(z).sum(),
}
NP_LOSS = {
    "half_sse": lambda y, t: 0.5 * np.sum((y - t) ** 2),
    "sse": lambda y, t: np.sum((y - t) ** 2),
    "mse": lambda y, t: np.mean((y - t) ** 2),
    "bce": lambda y, t: -(t[0] * np.log(y[0]) + (1 - t[0]) * np.log(1 - y[0])),
    "ce": lambda y, t: -np.sum(t * np.log(y)),
}
LAMBDIFY_MODULES = [
    {
        "Indicator": lambda c: np.where(c, 1.0, 0.0),
        "relu": lambda z: np.maximum(z, 0),
        "leaky_relu": lambda z, a: np.where(z > 0, z, a * z),
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    },
    "numpy",
]
ALPHA = 0.17


def names(spec: dict) -> list[tuple[list[list[str]], list[str] | None]]:
    """Per layer: weight names [target][source] and bias names, by CONTRACT section 2."""
    sizes = [spec["input"]["size"]] + [l["units"] for l in spec["layers"]]
    ts = spec.get("index") == "target-source"
    counts = {}
    for l in spec["layers"]:
        counts[l["params"]] = counts.get(l["params"], 0) + 1
    out = []
    for n, l in enumerate(spec["layers"], start=1):
        fam = l["params"] + (str(n) if counts[l["params"]] > 1 else "")
        bias = (l.get("bias", "b") + (str(n) if ts and len(spec["layers"]) > 1 else "")) if ts else None
        src, tgt = sizes[n - 1], sizes[n]
        wide = max(src, tgt) >= 10
        sep = "_" if wide else ""

        def w(j, k):
            if tgt == 1:
                return f"{fam}_{k}"
            return f"{fam}_{j}{sep}{k}" if ts else f"{fam}_{k}{sep}{j}"

        weights = [[w(j, k) for k in range(1, src + 1)] for j in range(1, tgt + 1)]
        if ts:
            biases = [bias if tgt == 1 else f"{bias}_{j}" for j in range(1, tgt + 1)]
        else:
            biases = [f"{fam}_0" if tgt == 1 else f"{fam}_0{sep}{j}" for j in range(1, tgt + 1)]
        out.append((weights, biases))
    return out


def numpy_objective(spec: dict, values: dict) -> float:
    a = np.array([values[n] for n in input_names(spec)])
    for layer, (weights, biases) in zip(spec["layers"], names(spec)):
        W = np.array([[values[n] for n in row] for row in weights])
        b = np.array([values[n] for n in biases])
        z = W @ a + b
        a = NP_ACT[layer.get("activation", "identity")](z, ALPHA)
    if spec.get("loss", "none") == "none":
        return float(a[0])
    t = np.array([values[n] for n in target_names(spec)])
    return float(NP_LOSS[spec["loss"]](a, t))


def input_names(spec):
    n = spec["input"]["size"]
    return ["x"] if n == 1 else [f"x_{i}" for i in range(1, n + 1)]


def target_names(spec):
    n = spec["layers"][-1]["units"]
    return ["t"] if n == 1 else [f"t_{i}" for i in range(1, n + 1)]


def pre_activations(spec: dict, values: dict) -> list[float]:
    a, out = np.array([values[n] for n in input_names(spec)]), []
    for layer, (weights, biases) in zip(spec["layers"], names(spec)):
        z = np.array([[values[n] for n in row] for row in weights]) @ a + np.array([values[n] for n in biases])
        if layer.get("activation") in ("relu", "leaky_relu"):
            out += list(z)
        a = NP_ACT[layer.get("activation", "identity")](z, ALPHA)
    return out


def engine_gradient(derivation, values: dict) -> dict[str, float]:
    env = dict(values)
    program = list(derivation.network.forward) + [(g.symbol, g.expr) for g in derivation.backward]
    for sym, expr in program:
        env[str(sym)] = _evaluate(expr, env)
    return {str(p.param): _evaluate(p.value, env) for p in derivation.derivatives}


def _evaluate(expr, env):
    free = sorted(expr.free_symbols, key=str)
    f = sp.lambdify(free, expr, modules=LAMBDIFY_MODULES)
    return float(f(*[env[str(s)] for s in free]))


@st.composite
def network_specs(draw):
    depth = draw(st.integers(1, 3))
    loss = draw(st.sampled_from(["none", "half_sse", "sse", "mse", "bce", "ce"]))
    hidden = [
        {
            "units": draw(st.integers(1, 3)),
            "activation": draw(st.sampled_from(["identity", "relu", "leaky_relu", "sigmoid", "tanh"])),
        }
        for _ in range(depth - 1)
    ]
    n_out = 1 if loss in ("none", "bce") else draw(st.integers(1, 3))
    out_act = {"bce": "sigmoid", "ce": "softmax" if n_out > 1 else "sigmoid"}.get(
        loss, draw(st.sampled_from(["identity", "sigmoid", "tanh"]))
    )
    layers = hidden + [{"units": n_out, "activation": out_act}]
    index = draw(st.sampled_from(["source-target", "target-source"]))
    for n, layer in enumerate(layers, start=1):
        layer["params"] = draw(st.sampled_from(["w", "theta"])) if n == 1 else "w"
        if layer["activation"] == "leaky_relu":
            layer["alpha"] = ALPHA
    spec = {"kind": "network", "input": {"name": "x", "size": draw(st.integers(1, 3))}, "index": index,
            "layers": layers, "loss": loss}
    if loss != "none":
        spec["target"] = "t"
    return spec


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=network_specs(), seed=st.integers(0, 2**31))
def test_random_networks_match_numpy_finite_differences(spec, seed):
    derivation = derive(build(load_spec_text(yaml.safe_dump(spec))))
    rng = np.random.default_rng(seed)
    for _ in range(100):
        values = {str(p): rng.uniform(-1, 1) for p in derivation.network.params}
        values |= {n: rng.uniform(-2, 2) for n in input_names(spec)}
        if spec["loss"] != "none":
            values |= {n: rng.uniform(0.1, 0.9) for n in target_names(spec)}
        values["alpha"] = ALPHA
        if all(abs(z) > 1e-3 for z in pre_activations(spec, values)):
            break
    analytic = engine_gradient(derivation, values)
    h = 1e-6
    for name, value in analytic.items():
        plus, minus = dict(values), dict(values)
        plus[name] += h
        minus[name] -= h
        fd = (numpy_objective(spec, plus) - numpy_objective(spec, minus)) / (2 * h)
        assert abs(value - fd) <= 1e-5 * max(1.0, abs(fd)), (name, value, fd)


def test_a_value_used_by_two_units_gets_both_paths():
    """∂y/∂h_1 sums over both units of the next layer (the multivariable chain rule)."""
    text = "layers: [{units: 1, activation: relu, params: theta, pre: z, post: h}, {units: 2, activation: tanh, params: psi, pre: u, post: g}, {units: 1, params: phi}]"
    derivation = derive(build(load_spec_text(text)))
    (grad,) = [g for g in derivation.backward if str(g.node) == "h"]
    assert len(grad.expr.args) == 2 and grad.expr.is_Add


def test_chain_keeps_order_and_drops_ones():
    a, b = sp.symbols("a b")
    assert list(chain(b, sp.S.One, a).args) == [b, a]
    assert chain(sp.S.One, sp.S.One) == 1
    assert chain(a, sp.S.Zero) == 0


def test_sigmoid_and_tanh_derivatives_are_written_with_the_activation():
    text = "layers: [{units: 1, activation: sigmoid, params: w, pre: z, post: h}, {units: 1, activation: tanh, params: v, pre: u}]\nloss: half_sse"
    derivation = derive(build(load_spec_text(text)))
    h, y = sp.Symbol("h"), sp.Symbol("y")
    w1 = next(p for p in derivation.derivatives if str(p.param) == "w_1")
    assert w1.local.has(h) and sp.expand(sp.Mul(*w1.local.args) / sp.Symbol("x") - h * (1 - h)) == 0
    v1 = next(p for p in derivation.derivatives if str(p.param) == "v_1")
    assert v1.value.has(y) and not v1.value.has(sp.tanh)


def test_deep_network_output_grows_linearly():
    """Named backward quantities keep the derivation's size linear in the parameters."""
    def size(width):
        text = yaml.safe_dump({"layers": [{"units": width, "activation": "relu"} for _ in range(3)] + [{"units": 1}], "loss": "half_sse"})
        derivation = derive(build(load_spec_text(text)))
        leaves = sum(sum(1 for _ in sp.preorder_traversal(p.value)) for p in derivation.derivatives)
        leaves += sum(sum(1 for _ in sp.preorder_traversal(g.expr)) for g in derivation.backward)
        return leaves, len(derivation.network.params)

    (s4, p4), (s16, p16) = size(4), size(16)
    assert s16 / s4 < 1.5 * p16 / p4
