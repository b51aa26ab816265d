"""Modern layers (issue 17): residual connections, RNN through time, attention, convolution, layer norm.

Every derived formula is compared with HIPS autograd (an independent reverse-mode
autodiff library) on random instances: the forward pass is written here in
numpy from the spec's meaning, the derivatives are read from derive's JSON (a
program in the contract's syntax, evaluated top to bottom by this file's own
tiny evaluator, not derive's).
"""

from __future__ import annotations

import itertools
import json
import math
import re

import pytest

from conftest import IN_CI, LANGS, ROOT
from katex import extract_math, katex_errors

try:  # the `test` extra installs it; in CI a missing reference library is a failure, not a skip
    import autograd
    import autograd.numpy as anp
except ImportError:
    if IN_CI:
        raise
    pytest.skip("autograd is not installed: pip install -c constraints.txt '.[test]'", allow_module_level=True)

SPECS = ROOT / "specs"


_JSON: dict = {}  # the example specs' JSON, derived once per test session


def _json(cli, spec, *extra) -> dict:
    key = (str(spec), extra)
    if key not in _JSON:
        result = cli(spec, "--format", "json", *extra)
        assert result.exit_code == 0, result.output
        _JSON[key] = json.loads(result.output)
    return _JSON[key]


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


_DERIVED: dict = {}  # spec -> the pipeline's verified result, rendered in each language on demand


class Rendered:
    """What `derive SPEC --lang L` prints (exit code 0 and its Markdown), one derivation per spec and session."""

    def __init__(self, output: str):
        self.exit_code, self.output = 0, output


def lecture(spec, lang: str = "en") -> Rendered:
    from derive.render import document
    from derive.pipeline import Options, derive_spec

    if spec not in _DERIVED:
        _DERIVED[spec] = derive_spec(spec, Options())
    return Rendered(document.markdown(_DERIVED[spec], lang, Options()))


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



def _has_sum(text: str, lhs: str, *terms: str) -> bool:
    """A line `lhs = a + b` with exactly these terms, in the order the printer chooses."""
    import itertools

    return any(f"{lhs} = {' + '.join(order)}" in text for order in itertools.permutations(terms))

@pytest.mark.parametrize("lang,word", [("en", "highway"), ("ru", "«магистраль»"), ("pl", "„autostrada”")])
def test_residual_is_narrated_and_renders_in_katex(cli, lang, word):
    result = lecture(SPECS / "residual-mlp.yaml", lang)
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




# -- the index-form kinds: one helper for autograd references ------------------------------------


def array(values: dict, name: str, shape: tuple, start: tuple | int = 1):
    """The numpy array of the JSON names name_<i><j>… (indices from `start`, per axis), for autograd."""
    import itertools

    starts = start if isinstance(start, tuple) else (start,) * len(shape)

    def key(idx):
        parts = [str(k + s) for k, s in zip(idx, starts)]
        return f"{name}_{('_' if any(len(p) > 1 for p in parts) else '').join(parts)}"

    flat = [values[key(idx)] for idx in itertools.product(*[range(n) for n in shape])]
    return anp.reshape(anp.array(flat), shape)


def agrees_with_autograd(doc: dict, loss, seed: int, scale: float = 1.0) -> None:
    """derive's derivatives (its JSON program) against autograd's gradient of loss(values) at a random point."""
    import numpy as np

    rng = np.random.default_rng(seed)
    names = doc["parameters"] + doc["inputs"] + doc.get("targets", [])
    values = {n: float(rng.uniform(-scale, scale)) for n in names}
    got = run_program(doc, values)
    params = doc["parameters"]

    def as_function(vector):
        return loss({**values, **dict(zip(params, vector))})

    want = autograd.grad(as_function)(anp.array([values[p] for p in params]))
    bad = [(p, got[p], w) for p, w in zip(params, want) if not _close(got[p], float(w))]
    assert params and not bad, bad
    assert all(d["verified"] is True for d in doc["derivatives"])


# -- kind: rnn ----------------------------------------------------------------------------------


def _rnn_loss(v: dict, steps=3, nx=2, nh=2, ny=1):
    W, U, V = array(v, "W", (nh, nh)), array(v, "U", (nh, nx)), array(v, "V", (ny, nh))
    b, c = array(v, "b", (nh,)), array(v, "c", (ny,))
    x, tau = array(v, "x", (steps, nx)), array(v, "tau", (steps, ny))
    h = array(v, "h", (1, nh), start=(0, 1))[0]
    total = 0.0
    for t in range(steps):
        h = anp.tanh(anp.dot(W, h) + anp.dot(U, x[t]) + b)
        y = anp.dot(V, h) + c
        total = total + 0.5 * anp.sum((y - tau[t]) ** 2)
    return total


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rnn_bptt_agrees_with_autograd(cli, seed):
    agrees_with_autograd(_json(cli, SPECS / "rnn-3-steps.yaml"), _rnn_loss, seed)


def test_rnn_other_sizes_agree_with_autograd(cli, tmp_path):
    spec = tmp_path / "rnn.yaml"
    spec.write_text("kind: rnn\nsteps: 4\ninput: 1\nhidden: 3\noutput: 2\n", encoding="utf-8")
    doc = _json(cli, spec)
    assert doc["sizes"] == {"T": 4, "n_x": 1, "n_h": 3, "n_y": 2}
    agrees_with_autograd(doc, lambda v: _rnn_loss(v, 4, 1, 3, 2), seed=7)


def test_rnn_gradient_of_a_shared_weight_has_one_term_per_step(cli):
    doc = _json(cli, SPECS / "rnn-3-steps.yaml")
    w11 = next(d for d in doc["derivatives"] if d["wrt"] == "W_11")
    assert w11["expr"].count("delta_") == 3 and {"h_01", "h_11", "h_21"} <= set(re.findall(r"h_\d\d", w11["expr"]))


@pytest.mark.parametrize("lang,words", [
    ("en", ["δ through time", "vanishes"]),
    ("ru", ["затухает", "0{,}585"]),
    ("pl", ["zanika", "0{,}585"]),
])
def test_rnn_lecture_in_three_languages_renders_in_katex(cli, lang, words):
    result = lecture(SPECS / "rnn-3-steps.yaml", lang)
    assert result.exit_code == 0, result.output
    assert all(w in result.output for w in words)
    assert not katex_errors(extract_math(result.output))


def test_rnn_vanishing_bound_uses_the_spectral_norm(cli):
    """‖W‖₂ printed for the example matrix is its largest singular value (computed here by numpy)."""
    import numpy as np

    sigma = np.linalg.norm(np.array([[0.5, -0.3], [0.2, 0.4]]), 2)
    out = lecture(SPECS / "rnn-3-steps.yaml").output
    assert f"\\lVert W \\rVert_2 \\approx {sigma:.3g}" in out
    assert f"\\lVert W \\rVert_2^{{10}} \\approx {sigma ** 10:.3g}" in out


@pytest.mark.parametrize("text,message", [
    ("kind: rnn\nsteps: 0\n", "steps: expected a whole number from 1 to 8"),
    ("kind: rnn\nhidden: 2\nexample_W: [[1, 2]]\n", "expected a 2×2 matrix"),
    ("kind: rnn\nlayers: 2\n", "unknown key 'layers'"),
])
def test_bad_rnn_specs_are_spec_errors(cli, tmp_path, text, message):
    spec = tmp_path / "bad.yaml"
    spec.write_text(text, encoding="utf-8")
    result = cli(spec)
    assert result.exit_code == 2 and message in result.output and "bad.yaml:" in result.output


def test_a_wrong_index_formula_is_caught_before_printing():
    """The engine's check is not a formality: a gradient with a wrong sign on one term fails it."""
    import sympy as sp

    from derive.kinds import indexform as engine
    from derive.kinds.layers import rnn

    spec = rnn.RnnSpec("x.yaml", {}, 2, 1, 2, 1, None)
    model = rnn.build(spec)
    assert engine.verify(model).ok
    g = model.gradients["W"]
    model.gradients["W"] = engine.Gradient(g.quantity, g.base, g.indices, g.chain, g.local, -g.done, g.users)
    check = engine.verify(model)
    assert not check.ok and check.failures[0][0].startswith("dL/dW")


# -- kind: attention ----------------------------------------------------------------------------


def _attention_loss(v: dict, n=3, d=2, dk=2):
    X, Y = array(v, "X", (n, d)), array(v, "Y", (n, dk))
    Q, K, V = (anp.dot(X, array(v, w, (d, dk))) for w in ("WQ", "WK", "WV"))
    S = anp.dot(Q, K.T) / anp.sqrt(dk)
    E = anp.exp(S - anp.max(S, axis=1, keepdims=True))
    P = E / anp.sum(E, axis=1, keepdims=True)
    return 0.5 * anp.sum((anp.dot(P, V) - Y) ** 2)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_attention_agrees_with_autograd(cli, seed):
    agrees_with_autograd(_json(cli, SPECS / "attention-3-tokens.yaml"), _attention_loss, seed, scale=1.5)


def test_attention_other_sizes_agree_with_autograd(cli, tmp_path):
    spec = tmp_path / "att.yaml"
    spec.write_text("kind: attention\ntokens: 2\nfeatures: 3\nhead: 1\n", encoding="utf-8")
    agrees_with_autograd(_json(cli, spec), lambda v: _attention_loss(v, 2, 3, 1), seed=5, scale=1.5)


def test_attention_softmax_jacobian_is_diag_p_minus_p_pT():
    """The Jacobian printed for one row, evaluated at a random softmax, against numpy's diag(p) − p pᵀ."""
    import numpy as np
    import sympy as sp

    from derive.kinds.layers.attention import row_jacobian

    J, _, same = row_jacobian(3)
    p = np.exp([0.3, -1.0, 0.5])
    p /= p.sum()
    value = np.array(J.subs({sp.Symbol(f"p_{k}"): p[k - 1] for k in (1, 2, 3)}), dtype=float)
    assert same and np.allclose(value, np.diag(p) - np.outer(p, p))


@pytest.mark.parametrize("lang,word", [("en", "Through the softmax"), ("ru", "Через softmax"),
                                       ("pl", "Przez softmax")])
def test_attention_lecture_renders_in_katex(cli, lang, word):
    result = lecture(SPECS / "attention-3-tokens.yaml", lang)
    assert result.exit_code == 0, result.output
    assert word in result.output and r"\frac{\partial L}{\partial W^{Q}} = X^T \frac{\partial L}{\partial Q}" in result.output
    assert not katex_errors(extract_math(result.output))


# -- kind: conv ---------------------------------------------------------------------------------


def _conv_loss(v: dict, dims, C, N, K, F, S, P):
    """The convolution written out with loops (CS231n's definition), zero padding by a bounds check."""
    M = (N - F + 2 * P) // S + 1
    total = 0.0
    for f in range(K):
        for pos in (itertools.product(range(M), repeat=dims)):
            y = v[f"b_{f + 1}"]
            for c in range(C):
                for off in itertools.product(range(F), repeat=dims):
                    src = [S * o + e - P for o, e in zip(pos, off)]
                    if all(0 <= z < N for z in src):
                        y = y + v[_name("w", (f + 1, c + 1, *off))] * v[_name("x", (c + 1, *src))]
            total = total + 0.5 * (y - v[_name("t", (f + 1, *pos))]) ** 2
    return total


def _name(base: str, idx: tuple) -> str:
    parts = [str(k) for k in idx]
    return f"{base}_{('_' if any(len(p) > 1 for p in parts) else '').join(parts)}"


@pytest.mark.parametrize("spec,sizes", [("conv1d", (1, 2, 5, 2, 3, 2, 1)), ("conv2d", (2, 1, 4, 1, 3, 1, 1))])
def test_convolution_agrees_with_autograd(cli, spec, sizes):
    agrees_with_autograd(_json(cli, SPECS / f"{spec}.yaml"), lambda v: _conv_loss(v, *sizes), seed=3)


@pytest.mark.parametrize("text,sizes", [
    ("dims: 1\nchannels: 1\nsize: 6\nfilters: 1\nkernel: 2\nstride: 2\npadding: 0\n", (1, 1, 6, 1, 2, 2, 0)),
    ("dims: 1\nchannels: 3\nsize: 7\nfilters: 2\nkernel: 3\nstride: 3\npadding: 1\n", (1, 3, 7, 2, 3, 3, 1)),
    ("dims: 1\nchannels: 1\nsize: 4\nfilters: 1\nkernel: 4\nstride: 1\npadding: 2\n", (1, 1, 4, 1, 4, 1, 2)),
    ("dims: 2\nchannels: 2\nsize: 3\nfilters: 2\nkernel: 2\nstride: 1\npadding: 0\n", (2, 2, 3, 2, 2, 1, 0)),
])
def test_other_convolutions_agree_with_autograd(cli, tmp_path, text, sizes):
    spec = tmp_path / "conv.yaml"
    spec.write_text("kind: conv\n" + text, encoding="utf-8")
    agrees_with_autograd(_json(cli, spec), lambda v: _conv_loss(v, *sizes), seed=4)


def test_input_gradient_reads_the_kernel_flipped(cli):
    """∂L/∂x_{d,m} = Σ ∂L/∂y_{f,i} w_{f,d,m+P−iS}: the kernel index falls as the output position rises."""
    doc = _json(cli, SPECS / "conv1d.yaml")
    dx = {e["name"]: e["expr"] for e in doc["backward"]}
    # channel 1, position m = 1; S = 2, P = 1: i = 0 reads w_{f,1,2}, i = 1 reads w_{f,1,0}
    assert dx["dL_dx_11"] == "dL_dy_10*w_112 + dL_dy_11*w_110 + dL_dy_20*w_212 + dL_dy_21*w_210"
    # position 2: i = 0 would read w_{f,1,3}, outside the kernel, so only i = 1 contributes
    assert dx["dL_dx_12"] == "dL_dy_11*w_111 + dL_dy_21*w_211"


@pytest.mark.parametrize("spec,sizes", [("conv1d", (1, 2, 5, 2, 3, 2, 1)), ("conv2d", (2, 1, 4, 1, 3, 1, 1))])
def test_input_gradients_agree_with_autograd(cli, spec, sizes):
    import numpy as np

    doc = _json(cli, SPECS / f"{spec}.yaml")
    rng = np.random.default_rng(11)
    values = {n: float(rng.uniform(-1, 1)) for n in doc["parameters"] + doc["inputs"] + doc["targets"]}
    env = dict(values)
    for step in doc["forward"] + doc["backward"]:
        env[step["name"]] = eval(step["expr"], NAMESPACE, env)
    xs = doc["inputs"]
    want = autograd.grad(lambda vec: _conv_loss({**values, **dict(zip(xs, vec))}, *sizes))(
        anp.array([values[x] for x in xs]))
    assert all(_close(env[f"dL_d{x}"], float(w)) for x, w in zip(xs, want))


@pytest.mark.parametrize("lang", LANGS)
def test_convolution_lectures_render_in_katex(cli, lang):
    for spec in ("conv1d", "conv2d"):
        result = lecture(SPECS / f"{spec}.yaml", lang)
        assert result.exit_code == 0, result.output
        assert "CS231n" in result.output
        assert not katex_errors(extract_math(result.output))


def test_a_stride_that_does_not_fit_is_a_spec_error(cli, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("kind: conv\nsize: 6\nkernel: 3\nstride: 2\n", encoding="utf-8")
    result = cli(spec)
    assert result.exit_code == 2 and "bad.yaml:4:" in result.output and "not a whole number" in result.output


# -- kind: layernorm ----------------------------------------------------------------------------


def _layernorm_loss(v: dict, n=3):
    x, t = array(v, "x", (n,)), array(v, "t", (n,))
    gamma, beta = array(v, "gamma", (n,)), array(v, "beta", (n,))
    mu = anp.mean(x)
    var = anp.mean((x - mu) ** 2)
    y = gamma * (x - mu) / anp.sqrt(var + v["epsilon"]) + beta
    return 0.5 * anp.sum((y - t) ** 2)


@pytest.mark.parametrize("seed", [1, 2])
def test_layernorm_agrees_with_autograd(cli, seed):
    doc = _json(cli, SPECS / "layernorm.yaml")
    assert doc["constants"] == ["epsilon"]

    def loss(v):
        return _layernorm_loss(v)

    import numpy as np

    rng = np.random.default_rng(seed)
    names = doc["parameters"] + doc["inputs"] + doc["targets"]
    values = {n: float(rng.uniform(-1, 1)) for n in names} | {"epsilon": 0.1}
    got = run_program(doc, values)
    params = doc["parameters"]
    want = autograd.grad(lambda vec: loss({**values, **dict(zip(params, vec))}))(anp.array([values[p] for p in params]))
    assert all(_close(got[p], float(w)) for p, w in zip(params, want))
    # the input gradient (the compact form's subject) against autograd too
    env = dict(values)
    for step in doc["forward"] + doc["backward"]:
        env[step["name"]] = eval(step["expr"], NAMESPACE, env)
    xs = [f"x_{k}" for k in (1, 2, 3)]
    want_x = autograd.grad(lambda vec: loss({**values, **dict(zip(xs, vec))}))(anp.array([values[x] for x in xs]))
    assert all(_close(env[f"dL_d{x}"], float(w)) for x, w in zip(xs, want_x))


@pytest.mark.parametrize("lang,word", [("en", "Batch normalisation"), ("ru", "Батч-нормализация"),
                                       ("pl", "Normalizacja wsadowa")])
def test_layernorm_lecture_renders_in_katex(cli, lang, word):
    result = lecture(SPECS / "layernorm.yaml", lang)
    assert result.exit_code == 0, result.output
    assert word in result.output and r"\hat{x}_{p} \sum_{k=1}^{n}" in result.output
    assert not katex_errors(extract_math(result.output))


def test_derive_check_finds_a_missing_identity_term(cli, tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text('answers:\n'
                       '  b_1: "(y-t)*(U_1*(1 - tanh(u_1)^2)*V_11 + U_2*(1 - tanh(u_2)^2)*V_21)*I[z_1>0]"\n'
                       '  b_2: "(y-t)*(U_2 + U_1*(1 - tanh(u_1)^2)*V_12 + U_2*(1 - tanh(u_2)^2)*V_22)*I[z_2>0]"\n',
                       encoding="utf-8")
    result = cli("check", SPECS / "residual-mlp.yaml", answers, "--format", "json")
    verdicts = {a["key"]: a for a in json.loads(result.output)["answers"]}
    assert result.exit_code == 1
    assert verdicts["b_2"]["verdict"] == "correct"
    assert verdicts["b_1"]["verdict"] == "incorrect" and "U_1*(y - t)" in verdicts["b_1"]["feedback"]


def test_rnn_and_conv1d_figures_are_drawn(cli, tmp_path):
    """The unrolled RNN (one column per step) and the 1-D convolution's connections, as SVG beside Markdown."""
    for spec, circles in (("rnn-3-steps", 1 + 3 * 3), ("conv1d", 5 + 3), ("attention-3-tokens", 8)):
        out = tmp_path / f"{spec}.md"
        assert cli(SPECS / f"{spec}.yaml", "-o", out).exit_code == 0
        svg = out.with_suffix(".svg").read_text(encoding="utf-8")
        assert svg.count("<circle") == circles and f"]({spec}.svg)" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("spec", ["rnn-3-steps", "attention-3-tokens", "conv1d", "conv2d", "layernorm"])
def test_json_is_a_program_that_evaluates_top_to_bottom(cli, spec):
    """CONTRACT 3: every name in an expr is an input, target, parameter, constant or defined above it."""
    doc = _json(cli, SPECS / f"{spec}.yaml")
    known = set(doc["inputs"]) | set(doc["parameters"]) | set(doc.get("targets", [])) | set(doc.get("constants", []))
    from derive.core.functions import FUNCTIONS

    functions = {"I", *FUNCTIONS}
    for step in doc["forward"] + doc["backward"]:
        names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", step["expr"])) - functions
        assert names <= known, (step, names - known)
        known.add(step["name"])
    for d in doc["derivatives"]:
        assert set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", d["expr"])) - functions <= known, d
    assert [d["wrt"] for d in doc["derivatives"]] == doc["parameters"]


def test_quiz_variants_keep_residual_layers_as_wide_as_their_input():
    """derive quiz varies hidden widths; a residual layer follows its input's width (else h = f(z) + x is undefined)."""
    from derive.kinds.network.kind import derive
    from derive.kinds.network.spec import load_spec_text
    from derive.grading.variant import variant

    spec = load_spec_text("input: {name: x, size: 2}\nlayers:\n  - {units: 3, activation: relu}\n"
                          "  - {units: 3, activation: tanh, residual: true}\n  - {units: 1}\n")
    widths = set()
    for seed in range(1, 25):
        v = variant(spec, seed)
        assert v.layers[1].residual and v.layers[1].units == v.layers[0].units
        widths.add(v.layers[0].units)
        assert derive(v).check.ok
    assert widths == {2, 3}


RESIDUAL_VECTOR = """\
input: {name: x, size: 2}
index: target-source
layers:
  - {units: 2, activation: relu, residual: true}
  - {units: 2, activation: tanh, params: V, bias: c, pre: u, post: g, residual: true}
  - {units: 1, activation: sigmoid, params: U, bias: beta, pre: v}
loss: bce
view: vector
"""


@pytest.mark.parametrize("lang,word", [("en", "highway"), ("ru", "магистраль"), ("pl", "autostrada")])
def test_residual_matrix_view_has_the_identity_term_and_is_verified(cli, tmp_path, lang, word):
    spec = tmp_path / "res.yaml"
    spec.write_text(RESIDUAL_VECTOR, encoding="utf-8")
    result = cli(spec, "--lang", lang)
    assert result.exit_code == 0, result.output  # the matrix forms agree with the scalar derivatives
    assert word in result.output
    assert _has_sum(result.output, r"\frac{\partial J}{\partial a}", r"\frac{\partial J}{\partial g}", r"V^T \delta^{[2]}")
    assert _has_sum(result.output, r"\frac{\partial J}{\partial x}", r"\frac{\partial J}{\partial a}", r"W^T \delta^{[1]}")
    assert not katex_errors(extract_math(result.output))


def test_the_example_residual_network_in_the_matrix_view(cli, tmp_path):
    """specs/residual-mlp.yaml with view: vector (its identity output named z = W a + b by the matrix view)."""
    spec = tmp_path / "res.yaml"
    spec.write_text((SPECS / "residual-mlp.yaml").read_text(encoding="utf-8") + "view: vector\n", encoding="utf-8")
    result = cli(spec)
    assert result.exit_code == 0, result.output
    assert _has_sum(result.output, r"\frac{\partial J}{\partial h}", r"\frac{\partial J}{\partial g}", r"V^T \delta^{[2]}")


def test_the_wheel_ships_every_subpackage():
    """pyproject lists packages by name: a subpackage left out (derive.layers) is missing from `pip install .`."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    found = {"derive." + p.parent.name for p in (ROOT / "derive").glob("*/__init__.py")}
    assert found <= listed, found - listed


# -- derive check on the layer kinds --------------------------------------------------------------


@pytest.mark.parametrize("spec,answers,verdicts", [
    ("rnn-3-steps", {"W_11": "delta_11*h_01 + delta_21*h_11 + delta_31*h_21",
                     "W_12": "-(delta_11*h_02 + delta_21*h_12 + delta_31*h_22)",
                     "b_1": "delta_11 + delta_21",  # the last step's term left out
                     "V_11": "2*(dL_dy_11*h_11 + dL_dy_21*h_21 + dL_dy_31*h_31)",
                     "delta_21": "dL_dh_21*(1 - h_21^2)"},
     {"W_11": ("correct", ""), "W_12": ("incorrect", "sign"), "b_1": ("incorrect", "60"),
      "V_11": ("incorrect", "2 times"), "delta_21": ("correct", "")}),
    ("attention-3-tokens", {"WQ_11": "X_11*dL_dQ_11 + X_21*dL_dQ_21 + X_31*dL_dQ_31",
                            "WV_12": "X_11*dL_dV_12 + X_21*dL_dV_22"},
     {"WQ_11": ("correct", ""), "WV_12": ("incorrect", "")}),
    ("conv1d", {"dL_dx_12": "dL_dy_11*w_111 + dL_dy_21*w_211", "w_110": "dL_dy_11*x_11 + dL_dy_12*x_13",
                "w_111": "dL_dy_11*x_11"},
     {"dL_dx_12": ("correct", ""), "w_110": ("correct", ""), "w_111": ("incorrect", "")}),
    ("layernorm", {"gamma_1": "dL_dy_1*xhat_1", "beta_2": "dL_dy_1", "dL_dx_1": "__import__('os')"},
     {"gamma_1": ("correct", ""), "beta_2": ("incorrect", ""), "dL_dx_1": ("invalid", "")}),
])
def test_derive_check_grades_the_layer_kinds(cli, tmp_path, spec, answers, verdicts):
    sheet = tmp_path / "answers.yaml"
    sheet.write_text("answers:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in answers.items()), encoding="utf-8")
    result = cli("check", SPECS / f"{spec}.yaml", sheet, "--format", "json")
    assert result.exit_code == 1, result.output
    got = {a["key"]: a for a in json.loads(result.output)["answers"]}
    for key, (verdict, words) in verdicts.items():
        assert got[key]["verdict"] == verdict, got[key]
        assert words in got[key]["feedback"], got[key]
