"""The harness's float backend (derive.numeric.scalar) and NumPy's random stream without NumPy (derive.numeric.stream).

References: NumPy itself (its default_rng, its sum, the vocabulary's NumPy
rules, the NumPy backend of the same verifier), finite differences, and a
deliberately wrong derivative that both backends must reject.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

from derive.core import functions
from derive.core.functions import ACTIVATIONS, FUNCTIONS, Activation, Function, defined, registered
from derive.kinds.network import verify as network_verify
from derive.kinds.network.backprop import derive as backprop
from derive.kinds.network.model import build
from derive.kinds.network.spec import load_spec_text
from derive.kinds.network.verify import SCALAR_PARAMETERS, _Verifier, verify
from derive.numeric import scalar
from derive.numeric.evaluate import namespace as numpy_namespace
from derive.numeric.harness import Check
from derive.numeric.stream import Stream, default_rng, pairwise_sum

from conftest import work_imports

# -- the stream: NumPy's numbers ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 7, 12345, 2**32 - 1, 2**32, 2**64 + 3, 2**130 + 5])
def test_the_stream_draws_numpys_numbers(seed):
    ours, numpys = default_rng(seed), np.random.default_rng(seed)
    for low, high in [(-1.0, 1.0), (-2.0, 2.0), (0.05, 0.3), (0.05, 0.95)]:
        assert ours.uniform(low, high) == numpys.uniform(low, high)
        assert ours.uniform(low, high, 5) == list(numpys.uniform(low, high, 5))
    assert [ours.random() for _ in range(200)] == list(numpys.random(200))


def test_the_stream_refuses_a_negative_seed():
    with pytest.raises(ValueError):
        Stream(-1)


def test_the_sum_adds_in_numpys_order():
    rng = random.Random(4)
    for n in range(0, 400):
        xs = [rng.uniform(0, 1) * 10 ** rng.randint(-8, 8) for _ in range(n)]
        assert pairwise_sum(xs) == float(np.sum(np.array(xs, dtype=float))), n


# -- the vocabulary's float rules ------------------------------------------------------------------


def test_every_function_has_a_float_rule_under_its_numpy_name():
    assert set(scalar.namespace()) == set(numpy_namespace())
    assert all(f.math is not None for f in FUNCTIONS.values())  # the shipped entries state theirs


def _args(f: Function, rng: random.Random) -> list[float]:
    low, high = f.nargs
    count = low if high == low else 3
    if f.name in ("log", "sqrt"):
        return [rng.uniform(0.01, 40.0)]
    return [rng.uniform(-30.0, 30.0) for _ in range(count)]


@pytest.mark.parametrize("name", [n for n in FUNCTIONS if n != "I"])
def test_a_float_rule_gives_what_the_numpy_rule_gives(name):
    f, rng = FUNCTIONS[name], random.Random(name)
    with np.errstate(all="ignore"):
        for _ in range(200):
            args = _args(f, rng)
            assert f.math(*args) == pytest.approx(float(f.numpy(*map(np.float64, args))), rel=4e-16, abs=1e-300)


EXTREMES = [1000.0, -1000.0, 750.0, -750.0, math.inf, -math.inf, math.nan, 0.0, -0.0, -1.0, 1e-320]


@pytest.mark.parametrize("name", [n for n in FUNCTIONS if n != "I"])
def test_where_math_raises_the_float_rule_gives_numpys_inf_or_nan(name):
    """exp(1000), log(−1), sin(inf), sqrt(−1): math raises, NumPy warns and gives inf or nan; the rule gives NumPy's."""
    f = FUNCTIONS[name]
    with np.errstate(all="ignore"):
        for z in EXTREMES:
            args = [z] * f.nargs[0] if name not in ("elu", "leaky_relu") else [z, 0.7]
            ours, numpys = f.math(*args), float(f.numpy(*map(np.float64, args)))
            assert (math.isnan(ours) and math.isnan(numpys)) or ours == numpys, (name, z, ours, numpys)


def test_a_program_that_numpy_would_make_inf_or_nan_gives_nan():
    names = scalar.namespace()
    program = [(n, compile(text, n, "eval")) for n, text in
               [("a", "1/x"), ("b", "x**(-1)"), ("c", "y**0.5"), ("d", "exp(1000)*2"), ("e", "(1e300*1e300)")]]
    values = scalar.run(program, {"x": 0.0, "y": -4.0}, names)
    assert all(math.isnan(values[n]) or values[n] == math.inf for n in "abcde")
    forward = scalar.program_function([("u", "1/x"), ("J", "u*u")], ["x"], "J", names)
    assert math.isnan(forward({"x": 0.0})) and forward({"x": 2.0}) == 0.25


def test_a_non_finite_value_fails_the_comparison_as_in_numpy():
    for value in (math.nan, math.inf):
        ours, numpys = Check(), Check()
        ours.compare("w_1", value, 1.0)
        with np.errstate(all="ignore"):
            numpys.compare("w_1", np.float64(value), 1.0)
        assert not ours.ok and not numpys.ok
        assert ours.failure_message("f.yaml") == numpys.failure_message("f.yaml")


# -- the two backends on random networks -----------------------------------------------------------


def _spec(activation: str, loss: str, decay, seed: int) -> str:
    rng = random.Random(f"{activation}{loss}{decay}{seed}")
    alpha = ", alpha: 0.7" if ACTIVATIONS[activation].alpha is not None else ""
    hidden = [f"  - {{units: {rng.randint(1, 3)}, activation: {activation}{alpha}}}" for _ in range(rng.randint(1, 2))]
    head, units = {"bce": ("sigmoid", 1), "ce": ("softmax", 3)}.get(loss, ("identity", rng.randint(1, 2)))
    lines = ["kind: network", f"input: {{name: x, size: {rng.randint(1, 2)}}}", "layers:", *hidden,
             f"  - {{units: {units}, activation: {head}}}", f"loss: {loss}"]
    return "\n".join(lines + ([f"weight_decay: {decay}"] if decay is not None else [])) + "\n"


LOSSES = [("half_sse", None), ("mae", None), ("mse", "lambda"), ("bce", 0.1), ("ce", None), ("sse", 2)]


@pytest.mark.parametrize("activation", [a for a in ACTIVATIONS if a != "softmax"])
@pytest.mark.parametrize("loss,decay", LOSSES)
def test_both_backends_give_the_same_verdict_and_figures(activation, loss, decay):
    derivation = backprop(build(load_spec_text(_spec(activation, loss, decay, 0))))
    ours, numpys = verify(derivation, backend="scalar"), verify(derivation, backend="numpy")
    assert ours.ok and numpys.ok, (ours.failures, numpys.failures)
    assert (ours.points, ours.formulas) == (numpys.points, numpys.formulas)
    # the same points; values differ at most in a last bit of exp or tanh, which a finite difference
    # (step 1e-6) magnifies to about 1e-10: far below the tolerance (1e-5)
    assert ours.max_error == pytest.approx(numpys.max_error, abs=1e-9)
    if activation in ("identity", "relu", "leaky_relu") and loss in ("half_sse", "mae", "mse", "sse"):
        assert ours.max_error == numpys.max_error  # no exp, no tanh: the same operations, the same bits


@pytest.mark.parametrize("backend", ["scalar", "numpy"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu", "elu"])
def test_a_wrong_derivative_is_caught_by_both_backends(backend, activation):
    derivation = backprop(build(load_spec_text(_spec(activation, "half_sse", None, 1))))
    first = derivation.derivatives[0]
    wrong = replace(first, value=first.value * sp.Rational(101, 100) + sp.Rational(1, 100), expanded=None)
    mutated = replace(derivation, derivatives=[wrong, *derivation.derivatives[1:]])
    check = verify(mutated, backend=backend)
    assert not check.ok and check.failures[0][0] == str(first.param)
    assert "finite differences give" in check.failure_message("net.yaml")


def test_a_wrong_derivative_of_a_large_network_gives_the_same_failure_in_both():
    derivation = backprop(build(load_spec_text(_spec("sigmoid", "mae", None, 2))))
    last = derivation.derivatives[-1]
    mutated = replace(derivation, derivatives=[*derivation.derivatives[:-1], replace(last, value=last.value + 1e-3)])
    ours, numpys = verify(mutated, backend="scalar"), verify(mutated, backend="numpy")
    assert [f[0] for f in ours.failures] == [f[0] for f in numpys.failures] != []
    assert ours.failures[0][1:] == pytest.approx(numpys.failures[0][1:], rel=1e-9)


# -- which backend runs ---------------------------------------------------------------------------------


def _relu(width: int) -> str:
    layers = "\n".join(f"  - {{units: {width}, activation: relu}}" for _ in range(3))
    return f"kind: network\ninput: x\nlayers:\n{layers}\n  - {{units: 1}}\nloss: half_sse\n"


def _backend(text: str) -> str:
    return _Verifier(backprop(build(load_spec_text(text))), default_rng(0), backend=None).backend


def test_small_networks_are_verified_with_floats_large_ones_with_numpy():
    assert len(backprop(build(load_spec_text(_relu(8)))).network.params) <= SCALAR_PARAMETERS
    assert _backend(_relu(8)) == "scalar"  # 169 parameters
    assert len(backprop(build(load_spec_text(_relu(16)))).network.params) > SCALAR_PARAMETERS
    assert _backend(_relu(16)) == "numpy"  # 593 parameters


def test_a_function_with_only_a_numpy_rule_is_verified_with_numpy():
    cls = type("numpyonly", (sp.Function,), {"fdiff": lambda self, i=1: sp.cos(self.args[0])})
    entry = Function("numpyonly", cls, cls, numpy=lambda z: np.sin(z))
    with registered(entry, Activation("numpyonly", lambda z, alpha: cls(z))):
        text = "kind: network\ninput: x\nlayers:\n  - {units: 2, activation: numpyonly}\n  - {units: 1}\nloss: half_sse\n"
        assert _backend(text) == "numpy"
        assert verify(backprop(build(load_spec_text(text)))).ok


def test_a_function_known_by_its_definition_is_verified_with_floats_through_it():
    cls = defined("softsign", lambda z: z / (1 + sp.Abs(z)))
    with registered(Function("softsign", cls, cls), Activation("softsign", lambda z, alpha: cls(z))):
        text = "kind: network\ninput: x\nlayers:\n  - {units: 2, activation: softsign}\n  - {units: 1}\nloss: half_sse\n"
        assert _backend(text) == "scalar"
        derivation = backprop(build(load_spec_text(text)))
        ours, numpys = verify(derivation, backend="scalar"), verify(derivation, backend="numpy")
        assert ours.ok and numpys.ok and ours.max_error == pytest.approx(numpys.max_error, abs=1e-9)
        assert scalar.namespace()["softsign"](-3.0) == pytest.approx(-0.75, rel=1e-15)


def test_the_automatic_choice_gives_the_numpy_backends_verdict(monkeypatch):
    derivation = backprop(build(load_spec_text(_spec("silu", "ce", None, 3))))
    auto = verify(derivation)
    monkeypatch.setattr(network_verify, "SCALAR_PARAMETERS", 0)
    assert verify(derivation).as_json() | {"max_relative_error": 0} == auto.as_json() | {"max_relative_error": 0}


# -- the whole process: a small network never imports NumPy ------------------------------------------

def _imports_numpy(*args) -> bool:
    return work_imports(["numpy"], *args)["modules"]["numpy"]


def test_json_of_a_small_network_does_not_import_numpy(tmp_path):
    spec = tmp_path / "relu-1-8-8-8-1.yaml"
    spec.write_text(_relu(8), encoding="utf-8")
    target = tmp_path / "out.json"
    assert not _imports_numpy(spec, "--format", "json", "-o", target)
    assert json.loads(target.read_text(encoding="utf-8"))["verification"]["verified"] is True


def test_json_of_a_scalar_graph_does_not_import_numpy(tmp_path):
    spec = tmp_path / "graph.yaml"
    spec.write_text("kind: graph\nnodes:\n  q: w * x + b\n  f: sin(q) + exp(cos(q))\noutput: f\n", encoding="utf-8")
    target = tmp_path / "out.json"
    assert not _imports_numpy(spec, "--format", "json", "-o", target)
    assert all(d["verified"] for d in json.loads(target.read_text(encoding="utf-8"))["derivatives"])


def test_a_large_network_still_uses_numpy(tmp_path):
    spec = tmp_path / "relu-1-16-16-16-1.yaml"
    spec.write_text(_relu(16), encoding="utf-8")
    assert _imports_numpy(spec, "--format", "json", "-o", tmp_path / "out.json")
