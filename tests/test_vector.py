"""view: vector (seeds 002 and 004): matrix formulas derived from the scalar ones and checked against them."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import sympy as sp

from conftest import LANGS, SEEDS, SPECS, run_process
from katex import extract_math, katex_errors

SIGMOID_LAYER = SPECS[0].parent / "sigmoid-layer.yaml"
MATRIX_SPECS = [SPECS[0].parent / name for name in ("sigmoid-bce.yaml", "softmax-ce.yaml", "sigmoid-layer.yaml")]

# Seed 002's results, typed from the seed (its "most important parts" and two index forms).
SEED_002 = [
    r"\frac{\partial \text{LOSS}}{\partial h} = h - y",
    r"\frac{\partial h}{\partial f} = h * (1 - h)",
    r"\frac{\partial \text{LOSS}}{\partial f} = \frac{\partial \text{LOSS}}{\partial h} * \frac{\partial h}{\partial f}",
    r"\frac{\partial \text{LOSS}}{\partial b} = \frac{\partial \text{LOSS}}{\partial f}",
    r"\frac{\partial \text{LOSS}}{\partial W} = \frac{\partial \text{LOSS}}{\partial f} @ g.T",
    r"\frac{\partial \text{LOSS}}{\partial g} = W.T@ \frac{\partial \text{LOSS}}{\partial f}",
    r"\frac{\partial \text{LOSS}}{\partial h_i} = h_i - y_i",
    r"\frac{\partial \text{LOSS}}{\partial W_{i,j}} = \frac{\partial \text{LOSS}}{\partial f_i} g_j",
    r"h = \sigma(f)",
]


def normalized(tex: str) -> str:
    """Spacing, \\left/\\right, \\text vs \\mathrm and x_{i} vs x_i do not change a formula."""
    tex = tex.replace(r"\left", "").replace(r"\right", "").replace(r"\text{", r"\mathrm{")
    tex = re.sub(r"\s+", "", tex)
    return re.sub(r"_\{(\w)\}", r"_\1", tex)


def sides(tex: str) -> list[str]:
    """a = b = c -> [a, b, c] (normalized), splitting only at '=' outside braces (1_{k=i} stays whole)."""
    parts, depth, current = [], 0, ""
    for ch in normalized(tex):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if ch == "=" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    return parts + [current]


def test_seed_002_formulas_are_derived():
    """Each seed equation lhs = rhs is a displayed equation of ours, lhs = … = rhs."""
    seed = (SEEDS / "002.txt").read_text(encoding="utf-8")
    out = run_process(SIGMOID_LAYER, "--lang", "en")
    assert out.returncode == 0, out.stderr
    equations = [sides(tex) for tex in extract_math(out.stdout)]
    for formula in SEED_002:
        assert normalized(formula) in normalized(seed), f"typo in the test: {formula}"
        lhs, rhs = sides(formula)
        assert any(eq[0] == lhs and rhs in eq[1:] for eq in equations), formula


def test_seed_002_numpy_summary_means_the_seeds_numbers():
    """The printed numpy formulas, evaluated, give the seed's gradient of ½‖σ(Wg+b) − y‖² (finite differences)."""
    from derive.pipeline import derive_spec
    from derive.kinds.network.vector import numpy_names
    from derive.render.printing import ascii

    view = derive_spec(SIGMOID_LAYER).outcome.vector
    rng = np.random.default_rng(0)
    W, b, g, y = rng.normal(size=(2, 2)), rng.normal(size=(2, 1)), rng.normal(size=(2, 1)), rng.normal(size=(2, 1))

    def loss(W, b, g):
        h = 1 / (1 + np.exp(-(W @ g + b)))
        return 0.5 * float(((h - y) ** 2).sum())

    def fd(f, x, eps=1e-6):
        out = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[idx] = eps
            out[idx] = (f(x + e) - f(x - e)) / (2 * eps)
        return out

    f = W @ g + b
    env = {"W": W, "b": b, "g": g, "y": y, "f": f, "h": 1 / (1 + np.exp(-f))}
    for step in view.forward + view.backward:
        env[str(step.lhs)] = eval(ascii(step.rhs[0]), numpy_names(), env)  # our own printed formulas, not user input
    grads = {str(s.lhs): env[str(s.lhs)] for s in view.backward}
    assert np.allclose(grads["dLOSS_dW"], fd(lambda W_: loss(W_, b, g), W), atol=1e-7)
    assert np.allclose(grads["dLOSS_db"], fd(lambda b_: loss(W, b_, g), b), atol=1e-7)
    assert np.allclose(grads["dLOSS_dg"], fd(lambda g_: loss(W, b, g_), g), atol=1e-7)


@pytest.mark.parametrize("spec", MATRIX_SPECS, ids=lambda p: p.stem)
def test_vector_and_scalar_views_agree(spec):
    from derive.pipeline import Options, derive_spec
    from derive.kinds.network.vector import check_vector_view

    outcome = derive_spec(spec, Options(view="vector")).outcome
    check = check_vector_view(outcome.vector, outcome.derivation, examples=5, seed=7)
    assert check.ok and check.formulas >= 8, check.failures


def test_a_wrong_matrix_formula_is_caught():
    """Drop the transpose from ∂J/∂x = (W^{[1]})ᵀ δ^{[1]}: the check must refuse it."""
    from derive.pipeline import Options, derive_spec
    from derive.kinds.network.vector import Tr, check_vector_view

    outcome = derive_spec(MATRIX_SPECS[0], Options(view="vector")).outcome
    view = outcome.vector
    step = next(s for s in view.backward if s.reason == "grad_input")
    step.rhs[0] = step.rhs[0].replace(Tr, lambda a: a)
    check = check_vector_view(view, outcome.derivation)
    assert not check.ok


def test_math_notation_boxes_the_key_results_of_seed_004():
    out = run_process(MATRIX_SPECS[0], "--view", "vector")
    assert out.returncode == 0, out.stderr
    text = normalized(out.stdout)
    # seed 004's δ recurrence and gradients, typed from the seed (with the spec's names a, x)
    for formula in [r"\delta^{[1]}=((W^{[2]})^T\delta^{[2]})\odota\odot(1-a)",
                    r"\frac{\partialJ}{\partialW^{[2]}}=\delta^{[2]}a^T",
                    r"\frac{\partialJ}{\partialb^{[1]}}=\delta^{[1]}"]:
        assert r"\boxed{" + formula in text, formula
    assert "=y-t}" in text  # BCE + sigmoid simplifies to a − y (here y − t), derived by SymPy


def test_vector_view_needs_target_source_index():
    out = run_process(SPECS[0].parent / "two-layer-relu.yaml", "--view", "vector")
    assert out.returncode == 2
    assert "index: target-source" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("spec", MATRIX_SPECS, ids=lambda p: p.stem)
def test_vector_view_renders_in_katex_in_every_language(spec):
    formulas = []
    for lang in LANGS:
        out = run_process(spec, "--view", "vector", "--lang", lang)
        assert out.returncode == 0, out.stderr
        formulas += extract_math(out.stdout)
    data = json.loads(run_process(spec, "--view", "vector", "--format", "json").stdout)
    assert data["vector"] and all(step["verified"] for step in data["vector"])
    formulas += [step["latex"] for step in data["vector"]]
    assert katex_errors(formulas) == []


def test_prose_differs_by_language_and_formulas_do_not():
    outs = {lang: run_process(SIGMOID_LAYER, "--lang", lang).stdout for lang in LANGS}
    # the same formulas, up to the decimal sign of the numbers (4.7, 4{,}7) and the sign before a power of ten
    # that goes with it (4.7 \times 10^{-11}, 4{,}7 \cdot 10^{-11}: docs/glossary.md)
    maths = {lang: extract_math(text.replace("{,}", ".").replace(r"\times 10^", r"\cdot 10^"))
             for lang, text in outs.items()}
    assert maths["ru"] == maths["en"] == maths["pl"]
    assert "Обратный проход" in outs["ru"] and "Przejście wstecz" in outs["pl"]


def test_an_identity_output_layer_in_the_matrix_view(cli, tmp_path):
    """z = W a + b is written for the identity output layer too (it was a KeyError); --view vector says what to add."""
    text = ("kind: network\nindex: target-source\ninput: {name: x, size: 2}\nlayers:\n"
            "  - {units: 2, activation: tanh}\n  - {units: 2, activation: identity}\nloss: half_sse\n")
    spec = tmp_path / "v.yaml"
    spec.write_text(text + "view: vector\n")
    result = cli(spec)
    assert result.exit_code == 0 and "Checked" in result.output
    scalar = tmp_path / "s.yaml"
    scalar.write_text(text)
    out = cli(scalar, "--view", "vector")
    assert out.exit_code == 2 and "view: vector" in out.output


def test_a_wrong_index_form_is_caught():
    """Swap i and j in ∂J/∂W_{i,j} = δ_i a_j (δ_j a_i): the check evaluates the index forms entry by entry and refuses it."""
    from derive.pipeline import Options, derive_spec
    from derive.kinds.network.vector import check_vector_view

    outcome = derive_spec(MATRIX_SPECS[0], Options(view="vector")).outcome
    view = outcome.vector
    assert check_vector_view(view, outcome.derivation).ok
    step = next(s for s in view.backward if s.reason == "grad_W" and s.because)
    (i, j) = step.because[1][0].indices
    step.because[1][-1] = step.because[1][-1].xreplace({i: j, j: i})
    check = check_vector_view(view, outcome.derivation)
    assert not check.ok
    assert all("index form 2" in name for name, *_ in check.failures)


def test_a_wide_layers_index_forms_are_checked_at_drawn_entries(monkeypatch, tmp_path):
    """An output layer of 5 units over 6 inputs has 30 entries W_{i,j}: 16 are drawn (the form is the same for
    all), its 6 inputs x_j are all checked, and so is every row k at a drawn entry; the check passes."""
    from derive.pipeline import derive_spec
    from derive.kinds.network import vector

    text = ("kind: network\nindex: target-source\ninput: {name: x, size: 6}\nlayers:\n"
            "  - {units: 5, activation: tanh}\nloss: half_sse\nview: vector\n")
    names, real = [], vector._VectorCheck.compare

    def spy(self, name, value, reference):
        names.append(name)
        return real(self, name, value, reference)

    monkeypatch.setattr(vector._VectorCheck, "compare", spy)
    spec = tmp_path / "wide.yaml"
    spec.write_text(text, encoding="utf-8")
    outcome = derive_spec(spec).outcome
    assert outcome.vector_check.ok, outcome.vector_check.failures
    at = {reason: {n.split(" at ")[1] for n in names if n.startswith(f"{reason}[1] index form 2")}
          for reason in ("grad_W", "grad_input")}
    assert len(at["grad_W"]) == vector.INDEX_ENTRIES and len(at["grad_input"]) == 6
    rows = {re.search(r"k: (\d+)", n).group(1) for n in names if n.startswith("grad_W[1] index form: local 1")}
    assert rows == {str(k) for k in range(1, 6)}
