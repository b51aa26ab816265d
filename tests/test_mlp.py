"""kind: mlp (seed 004): the engine's formulas against the seed's, against finite differences, in KaTeX."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import sympy as sp

from conftest import LANGS, ROOT, SEEDS, run_process
from katex import extract_math, katex_errors

from derive.kinds.mlp import kind as mlp
from derive.kinds.mlp import check as mlpcheck
from derive.kinds.mlp import formulas as mlpformulas
from derive.core.calculus import sigmoid
from derive.errors import SpecError
from derive.render.notation import Act, ActPrime, MatProd, Tr, Whole
from derive.pipeline import derive_spec, render
from derive.core.yamlload import load_text

SPEC = ROOT / "specs" / "mlp-backprop.yaml"
L, l, j, k, m, B, i = mlpformulas.L, mlpformulas.l, mlpformulas.j, mlpformulas.k, mlpformulas.m, mlpformulas.B, mlpformulas.i
W, b, z, a, y, delta, n = mlpformulas.W, mlpformulas.b, mlpformulas.z, mlpformulas.a, mlpformulas.y, mlpformulas.delta, mlpformulas.n
zs, as_ = mlpformulas.z_, mlpformulas.a_


@pytest.fixture(scope="module")
def result():
    return derive_spec(SPEC)


@pytest.fixture(scope="module")
def parts(result):
    return result.outcome.parts


@pytest.fixture(scope="module")
def markdown(result):
    return {lang: render(result, "md", lang) for lang in LANGS}


def same(x, ref) -> bool:
    return sp.simplify(sp.expand(x - ref)) == 0


def concrete(expr, layer=2, **idx):
    return mlpcheck.instantiate(expr, layer, **idx)


# -- formulas typed from seed 004, compared symbolically ------------------------------------


def test_forward_scalar_form_is_the_seeds(parts):
    seed = sp.Sum(W[l, j, k] * a[l - 1, k], (k, 1, n[l - 1])) + b[l, j]  # z_j = Σ_k W_jk a_k + b_j
    derived = parts["forward"]["z_scalar"].parts[1]
    for unit in (1, 2):
        assert same(concrete(derived, j=unit), concrete(seed, j=unit))
    assert parts["forward"]["a_scalar"].parts[1] == Act(l, z[l, j])


def test_sigmoid_derivative_is_a_times_one_minus_a(parts):
    item = next(x for x in parts["activations"]["items"] if x["name"] == "sigmoid")
    assert same(item["derivative"], as_ * (1 - as_))  # dσ/dz = a(1 − a)
    s = sigmoid(zs)
    assert same(item["rows"][1].parts[2].rewrite(sp.exp), (s * (1 - s)).rewrite(sp.exp))


def test_tanh_derivative_goes_through_the_sigmoid_to_one_minus_a_squared(parts):
    item = next(x for x in parts["activations"]["items"] if x["name"] == "tanh")
    rows = item["rows"]
    assert same(rows[0].parts[1], 2 * sigmoid(2 * zs) - 1)
    assert same(rows[1].parts[2], 4 * sigmoid(2 * zs) * (1 - sigmoid(2 * zs)))  # 4σ(2z)(1 − σ(2z))
    assert same(rows[2].parts[1], (1 + sp.tanh(zs)) / 2)  # the step between: σ(2z) from the identity
    assert same(rows[3].parts[1], (1 + sp.tanh(zs)) * (1 - sp.tanh(zs)))
    assert same(rows[3].parts[2], 1 - sp.tanh(zs) ** 2)
    assert rows[3].key  # boxed, as in the seed
    assert same(item["derivative"], 1 - as_**2)


@pytest.mark.parametrize("name, negative", [("relu", 0), ("leaky_relu", mlpformulas.alpha)])
def test_kinked_derivatives_are_the_seeds_cases(parts, name, negative):
    item = next(x for x in parts["activations"]["items"] if x["name"] == name)
    cases = {str(cond): value for value, cond in item["cases"]}
    assert cases == {"z > 0": 1, "z < 0": negative}
    assert item["undefined"]  # "не определена" at z = 0


def test_output_error_general_form(parts):
    general = parts["losses"]["general"]
    assert same(general["scalar"].parts[1], mlpformulas.dJda[L, j] * ActPrime(L, z[L, j]))


def _pair(parts, name):
    return next(x for x in parts["losses"]["items"] if x["name"] == name)


def test_mse_linear_steps_are_the_seeds(parts):
    item = _pair(parts, "mse_linear")
    grad = item["steps"][0].parts[1]
    assert same(grad.args[0] * grad.args[1], (a[L, j] - y[j]) / m)  # ∂J/∂a_j = (1/m)(a_j − y_j)
    assert item["steps"][1].parts[1] == 1
    assert same(item["result"], (a[L, j] - y[j]) / m)


def test_bce_sigmoid_steps_are_the_seeds(parts):
    item = _pair(parts, "bce_sigmoid")
    A, Y = a[L, j], y[j]
    assert same(item["grad"], -(Y / A - (1 - Y) / (1 - A)) / m)
    assert same(item["steps"][0].parts[2], -(Y - A) / (A * (1 - A)) / m)
    assert same(item["fprime"], A * (1 - A))
    assert same(item["result"], (A - Y) / m)


def test_ce_softmax_jacobian_and_result(parts):
    item = _pair(parts, "ce_softmax")
    kron = sp.KroneckerDelta(j, k)
    assert same(item["jacobian_expr"], a[L, k] * (kron - a[L, j]))
    assert same(item["result"], (a[L, j] - y[j]) / m)


def test_hidden_error_recurrence_is_the_seeds(parts):
    back = parts["backward"]
    seed = sp.Sum(delta[l + 1, k] * W[l + 1, k, j], (k, 1, n[l + 1])) * ActPrime(l, z[l, j])
    for unit in (1, 2, 3):
        assert same(concrete(back["recurrence"], 1, j=unit), concrete(seed, 1, j=unit))
    assert back["a_local"] == W[l + 1, k, j]  # ∂z_k^{[l+1]}/∂a_j^{[l]} = W_kj^{[l+1]}


def test_gradients_are_the_seeds(parts):
    back = parts["backward"]
    assert back["grad_W"] == delta[l, j] * a[l - 1, k]
    assert back["grad_b"] == delta[l, j]
    assert back["weight_local"].parts[2] == a[l - 1, k]
    assert back["bias_local"].parts[2] == 1


def test_batchnorm_forward_is_the_seeds():
    defs = mlpformulas.bn_definitions()
    zk = mlpformulas.zb
    size = 4
    values = {zk[k, r]: sp.Rational(r * r, 3) for r in range(1, size + 1)}
    mean = sum(values.values()) / size
    variance = sum((v - mean) ** 2 for v in values.values()) / size
    got_mean = defs["mu"].subs(B, size).doit().xreplace(values)
    got_var = defs["var"].subs(B, size).doit().xreplace(values).subs(mlpformulas.mu[k], mean)
    assert got_mean == mean and got_var == variance
    assert same(defs["zhat"], (zk[k, i] - mlpformulas.mu[k]) / sp.sqrt(mlpformulas.var[k] + mlpformulas.eps))
    assert defs["out"] == mlpformulas.gamma[k] * mlpformulas.zhat[k, i] + mlpformulas.beta[k]


# -- the seed's LaTeX, found in the rendered lecture ------------------------------------------

SEED_TEX = [
    r"z^{[l]} = W^{[l]} a^{[l-1]} + b^{[l]}",
    r"z_j^{[l]} = \sum_{k=1}^{n^{[l-1]}} W_{jk}^{[l]} a_k^{[l-1]} + b_j^{[l]}",
    r"a^{[l]} = f^{[l]}(z^{[l]})",
    r"a_j^{[l]} = f^{[l]}(z_j^{[l]})",
    r"\delta^{[L]} = \nabla_{a^{[L]}} J \odot f^{[L]'}(z^{[L]})",
    r"\delta^{[L]} = \frac{1}{m} (a^{[L]} - y)",
    r"\delta_j^{[L]} = \frac{1}{m} (a_j^{[L]} - y_j)",
    r"\delta_j^{[l]} = \left( \sum_{k=1}^{n^{[l+1]}} \delta_k^{[l+1]} W_{kj}^{[l+1]} \right) \cdot f^{[l]'}(z_j^{[l]})",
    r"\delta^{[l]} = ((W^{[l+1]})^T \delta^{[l+1]}) \odot f^{[l]'}(z^{[l]})",
    r"\frac{\partial J}{\partial W_{jk}^{[l]}} = \delta_j^{[l]} a_k^{[l-1]}",
    r"\frac{\partial J}{\partial W^{[l]}} = \delta^{[l]} (a^{[l-1]})^T",
    r"\frac{\partial J}{\partial b_j^{[l]}} = \delta_j^{[l]}",
    r"\frac{\partial J}{\partial b^{[l]}} = \delta^{[l]}",
    r"\frac{\partial z_k^{[l+1]}}{\partial a_j^{[l]}} = W_{kj}^{[l+1]}",
    r"W_{jk}^{[l]} &:= W_{jk}^{[l]} - \alpha \frac{\partial J}{\partial W_{jk}^{[l]}}",
    r"b_j^{[l]} &:= b_j^{[l]} - \alpha \frac{\partial J}{\partial b_j^{[l]}}",
    r"W^{[l]} &:= W^{[l]} - \alpha \frac{\partial J}{\partial W^{[l]}}",
    r"\mu_{B,k} = \frac{1}{B} \sum_{i=1}^{B} z_k^{(i)}",
    r"\sigma^2_{B,k} = \frac{1}{B} \sum_{i=1}^{B} (z_k^{(i)} - \mu_{B,k})^2",
    r"\frac{d\sigma}{dz} = a (1 - a)",
    r"\frac{d\tanh}{dz} = 1 - a^2",
    r"\tanh'(z) = 1 - \tanh^2(z)",
]


def normal(tex: str) -> str:
    """Spacing, braces, \\left/\\right, \\cdot, & and prime spellings removed; d/dz read as ∂a/∂z."""
    tex = tex.replace(r"\prime", "'").replace(r"\frac{d\sigma}{dz}", r"\frac{\partial a}{\partial z}")
    tex = tex.replace(r"\frac{d\tanh}{dz}", r"\frac{\partial a}{\partial z}").replace(r"\tanh'(z)", r"\tanh'z")
    tex = tex.replace(r"\tanh^2(z)", r"\tanh^2z")
    tex = re.sub(r"\\left|\\right|\\cdot|&|\s|[{}]", "", tex)
    tex = tex.replace("^'", "'").replace(r"\fracdadz", r"\frac\partiala\partialz")  # da/dz (issue 15)
    tex = tex.replace(r"\eta", r"\alpha")  # the lecture calls the learning rate η: α is leaky ReLU's slope
    return tex.replace(r"\tanh'(z)", r"\tanh'z").replace(r"\tanh^2(z)", r"\tanh^2z").replace(r"\tanh(z)", r"\tanhz")


def test_seed_formulas_appear_in_the_rendered_lecture(markdown):
    for lang in LANGS:
        shown = normal(markdown[lang])
        missing = [tex for tex in SEED_TEX if not _appears(normal(tex), shown)]
        assert missing == [], lang


def _appears(tex: str, shown: str) -> bool:
    """tex, or its two sides with steps between them in one chain (tanh′ = (1 + tanh)(1 − tanh) = 1 − tanh²)."""
    if tex in shown:
        return True
    lhs, rhs = tex.split("=", 1)
    return re.search(re.escape(lhs + "=") + r"[^$]*=" + re.escape(rhs) + r"(?![^$=]*[^$=\\])", shown) is not None


def test_seed_formulas_are_typed_from_the_seed():
    """The references above are the seed's own text (guards against a typo that would pass by luck)."""
    text = normal((SEEDS / "004.txt").read_text(encoding="utf-8"))
    for tex in SEED_TEX:
        assert normal(tex) in text, tex


# -- finite differences, with numpy references written here -------------------------------------


def fd(f, x, h=1e-6):
    out = np.zeros_like(x)
    for c in range(x.size):
        e = np.zeros_like(x)
        e[c] = h
        out[c] = (f(x + e) - f(x - e)) / (2 * h)
    return out


def _result_numeric(expr, a_vals, y_vals, batch):
    size = len(a_vals)
    out = []
    for r in range(size):
        e = mlpcheck.instantiate(expr, None, (size, size), j=r + 1).subs(m, batch)
        out.append(float(e.subs({a[1, r + 1]: a_vals[r], y[r + 1]: y_vals[r]})))
    return np.array(out)


NUMPY_LOSSES = {
    "mse_linear": (lambda zz: zz, lambda A, Y, batch: np.sum(0.5 * (A - Y) ** 2) / batch),
    "ce_softmax": (lambda zz: np.exp(zz) / np.exp(zz).sum(), lambda A, Y, batch: -np.sum(Y * np.log(A)) / batch),
    "bce_sigmoid": (lambda zz: 1 / (1 + np.exp(-zz)),
                    lambda A, Y, batch: -np.sum(Y * np.log(A) + (1 - Y) * np.log(1 - A)) / batch),
}


@pytest.mark.parametrize("name", list(NUMPY_LOSSES))
def test_output_error_agrees_with_finite_differences(parts, name):
    rng = np.random.default_rng(7)
    act, loss = NUMPY_LOSSES[name]
    for _ in range(3):
        zz = rng.uniform(-2, 2, 4)
        yy = np.eye(4)[rng.integers(4)] if name == "ce_softmax" else rng.uniform(0.05, 0.95, 4)
        batch = 5
        numeric = fd(lambda v: loss(act(v), yy, batch), zz)
        derived = _result_numeric(_pair(parts, name)["result"], act(zz), yy, batch)
        assert np.allclose(derived, numeric, atol=1e-7)


def _bn_numpy(zz, gamma, beta, eps):
    mu = zz.mean()
    var = ((zz - mu) ** 2).mean()
    zhat = (zz - mu) / np.sqrt(var + eps)
    return gamma * zhat + beta, mu, var, zhat


@pytest.mark.parametrize("size", [2, 3, 7])
def test_batchnorm_backward_agrees_with_finite_differences(parts, size):
    rng = np.random.default_rng(size)
    zz, g = rng.normal(size=size) * 2, rng.normal(size=size)
    gamma, beta, eps = 1.3, -0.4, 1e-3
    out, mu, var, zhat = _bn_numpy(zz, gamma, beta, eps)
    J = lambda v: float(g @ _bn_numpy(v, gamma, beta, eps)[0])
    numeric_z = fd(J, zz)
    numeric_gamma = (g @ _bn_numpy(zz, gamma + 1e-6, beta, eps)[0] - g @ _bn_numpy(zz, gamma - 1e-6, beta, eps)[0]) / 2e-6
    numeric_beta = g.sum()
    f = parts["batchnorm"]["formulas"]
    kk = 1
    vals = {mlpformulas.gamma[kk]: gamma, mlpformulas.beta[kk]: beta, mlpformulas.mu[kk]: mu, mlpformulas.var[kk]: var, mlpformulas.eps: eps}
    vals |= {mlpformulas.zb[kk, r + 1]: zz[r] for r in range(size)} | {mlpformulas.zhat[kk, r + 1]: zhat[r] for r in range(size)}
    vals |= {mlpformulas.dJdzt[kk, r + 1]: g[r] for r in range(size)}

    def value(expr, r=1):
        expr = expr.args[0] * expr.args[1] if expr.func.__name__ == "Scaled" else expr
        return float(expr.subs({B: size, k: kk, i: r}).doit().xreplace(vals))

    assert np.allclose([value(f["d_z_compact"], r) for r in range(1, size + 1)], numeric_z, atol=1e-6)
    assert np.allclose([value(f["d_z"], r) for r in range(1, size + 1)], numeric_z, atol=1e-6)
    assert value(f["d_gamma"]) == pytest.approx(numeric_gamma, abs=1e-6)
    assert value(f["d_beta"]) == pytest.approx(numeric_beta, abs=1e-9)


def test_recurrence_and_weight_gradient_on_a_numpy_network(parts):
    """Two layers (tanh, then softmax + CE): δ^{[1]} from the engine's recurrence, ∂J/∂W^{[1]} = δ a^T."""
    rng = np.random.default_rng(3)
    sizes = (3, 4, 2)
    W1, b1 = rng.normal(size=(4, 3)), rng.normal(size=4)
    W2, b2 = rng.normal(size=(2, 4)), rng.normal(size=2)
    x, t = rng.normal(size=3), np.array([0.0, 1.0])

    def loss(w1flat):
        h = np.tanh(w1flat.reshape(4, 3) @ x + b1)
        zz = W2 @ h + b2
        p = np.exp(zz) / np.exp(zz).sum()
        return -np.sum(t * np.log(p))

    numeric = fd(loss, W1.ravel()).reshape(4, 3)
    z1 = W1 @ x + b1
    h = np.tanh(z1)
    p = np.exp(W2 @ h + b2) / np.exp(W2 @ h + b2).sum()
    delta2 = p - t  # m = 1
    back = parts["backward"]
    analytic = np.zeros((4, 3))
    for r in range(4):
        rec = mlpcheck.instantiate(back["recurrence"], 1, sizes, j=r + 1)
        rec = rec.replace(ActPrime, lambda lay, arg: 1 - sp.tanh(arg) ** 2)
        vals = {delta[2, c + 1]: delta2[c] for c in range(2)} | {W[2, c + 1, r + 1]: W2[c, r] for c in range(2)}
        vals[z[1, r + 1]] = z1[r]
        d1 = float(rec.xreplace(vals))
        for c in range(3):
            grad = mlpcheck.instantiate(back["grad_W"], 1, sizes, j=r + 1, k=c + 1)
            analytic[r, c] = float(grad.xreplace({delta[1, r + 1]: d1, a[0, c + 1]: x[c]}))
    assert np.allclose(analytic, numeric, atol=1e-6)


# -- the checks catch wrong formulas ----------------------------------------------------------------


def test_a_transposed_matrix_form_is_caught(parts):
    back = parts["backward"]
    wrong = MatProd(Tr(Whole(a.label, l - 1)), Whole(delta.label, l))
    assert mlpcheck.matrix_agrees(back["grad_W"], wrong) is False
    right = MatProd(Whole(delta.label, l), Tr(Whole(a.label, l - 1)))
    assert mlpcheck.matrix_agrees(back["grad_W"], right)
    swapped = mlpcheck.matrix_agrees(back["recurrence"], parts["backward"]["check"][0][2].func(
        MatProd(Whole(W.label, l + 1), Whole(delta.label, l + 1)), ActPrime(l, Whole(z.label, l))))
    assert swapped is False


def test_a_wrong_output_error_is_caught():
    item = mlpformulas._ce_softmax()
    item["result"] = (a[L, j] + y[j]) / m
    (claim,) = mlpcheck._delta_L(item, np.random.default_rng(0))
    assert claim.error > 1e-3


# -- rendering, JSON, errors ---------------------------------------------------------------------


def test_renders_in_every_language_and_katex(markdown):
    formulas = []
    for lang in LANGS:
        found = extract_math(markdown[lang])
        assert len(found) > 150
        assert markdown[lang].count(r"\boxed") >= 12
        formulas += found
    assert katex_errors(formulas) == []


def test_prose_is_translated(markdown):
    assert "Обратное распространение ошибки" in markdown["ru"]
    assert "Propagacja wsteczna" in markdown["pl"]
    assert "Checked" in markdown["en"] and "Проверка" in markdown["ru"] and "Sprawdzenie" in markdown["pl"]


def test_json(result):
    data = json.loads(render(result, "json", "en"))
    assert data["kind"] == "mlp" and data["verified"] is True
    assert data["sections"] == list(mlpformulas.SECTIONS)
    assert len(data["checks"]) >= 20 and all(c["ok"] for c in data["checks"])
    names = {f["name"] for f in data["formulas"]}
    assert {"vector", "weight_matrix", "d_z", "d_gamma", "d_beta"} <= names
    assert katex_errors([f["latex"] for f in data["formulas"]]) == []


def test_sections_are_chosen_in_the_spec(tmp_path):
    spec = tmp_path / "short.yaml"
    spec.write_text("kind: mlp\nsections: [forward, update]\n", encoding="utf-8")
    out = derive_spec(spec)
    assert list(out.outcome.parts) == ["forward", "update"]
    md = render(out, "md", "en")
    assert "## 1. The forward pass" in md and "## 2. The weight update" in md and "Batch" not in md


def test_bad_spec_is_a_located_error(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("kind: mlp\nlosses: [mse_linear, hinge]\n", encoding="utf-8")
    proc = run_process(spec)
    assert proc.returncode == 2
    assert "bad.yaml:2:" in proc.stderr and "hinge" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_key_names_the_valid_ones():
    with pytest.raises(SpecError, match="expected one of: kind, title, sections"):
        mlp.parse(load_text("kind: mlp\nlayers: 3\n", "x.yaml"))


def test_a_wrong_formula_is_never_printed(tmp_path, monkeypatch):
    """derive() itself refuses: a δ^{[L]} that disagrees with finite differences raises VerificationFailed."""
    from derive.errors import VerificationFailed

    original = mlpformulas.LOSS_BUILDERS["mse_linear"]

    def wrong():
        item = original()
        item["result"] = (a[L, j] - 2 * y[j]) / m
        return item

    monkeypatch.setitem(mlpformulas.LOSS_BUILDERS, "mse_linear", wrong)
    spec = mlp.parse(load_text("kind: mlp\nsections: [losses]\nlosses: [mse_linear]\n", "w.yaml"))
    with pytest.raises(VerificationFailed, match="mse_linear"):
        mlp.derive(spec)
