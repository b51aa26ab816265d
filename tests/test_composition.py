"""kind: composition (seed 003): chain-rule products against the seed, finite differences, KaTeX."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import sympy as sp

from conftest import LANGS, ROOT, SEEDS, run_process
from katex import extract_math, katex_errors

from derive.kinds import composition as comp
from derive.pipeline import derive_spec, render
from derive.render.printing import latex

SPEC = ROOT / "specs" / "deep-composition.yaml"


@pytest.fixture(scope="module")
def result():
    return derive_spec(SPEC)


@pytest.fixture(scope="module")
def markdown(result):
    return {lang: render(result, "md", lang) for lang in LANGS}


def normal(tex: str) -> str:
    """Colours, frames, \\dfrac, bold and spacing removed: the product's structure remains."""
    tex = re.sub(r"\\bbox\[[^\]]*\]|\\color\{[a-z]+\}|\\color\[[^\]]*\]\{[^}]*\}", "", tex)
    tex = tex.replace(r"\dfrac", r"\frac").replace(r"\boldsymbol", "").replace(r"\boxed", "")
    tex = re.sub(r"\\dots|\\cdots", "…", tex)
    return re.sub(r"\s|[{}]", "", tex)


def seed_rows() -> list[str]:
    """The four displayed equations ∂L/∂θ_… of seed 003, as typed there."""
    text = (SEEDS / "003.txt").read_text(encoding="utf-8")
    blocks = re.findall(r"\$\$(.*?)\$\$", text, re.S)
    return [b for b in blocks if r"\partial L}{\partial \boldsymbol\theta" in b or r"\partial L}{\partial\boldsymbol\theta" in b]


def test_rows_are_the_seeds(result):
    outcome = result.outcome
    shown = [latex(r.display) for r in outcome.rows] + [latex(outcome.general.display)]
    rows = [f"{latex(comp.DThetaL(r.theta))}={s}" for r, s in zip(outcome.rows + [outcome.general], shown)]
    seed = seed_rows()
    assert len(seed) == 4
    for mine, theirs in zip(rows, seed):
        assert normal(mine) == normal(theirs)


def test_colours_and_frames_follow_the_seed(result):
    outcome = result.outcome
    for row in outcome.rows + [outcome.general]:
        for factor in row.factors:
            tex = latex(factor)
            if isinstance(factor, comp.JacIn):
                assert tex.startswith(r"{\color{red}")
            if isinstance(factor, comp.JacPar):
                assert tex.startswith(r"{\color{olive}")
    # the seed frames what is new against the row above: ∂f_{K−1}/∂f_{K−2} ∂f_{K−2}/∂θ_{K−3} in row θ_{K−3}
    third = latex(outcome.rows[2].display)
    framed = third[third.index(r"\boxed") :]
    assert "f_{K-1}}{\\partial \\boldsymbol f_{K-2}" in framed and "theta_{K-3}" in framed
    assert "f_{K}}{\\partial \\boldsymbol f_{K-1}}" not in framed
    assert r"\boxed" not in latex(outcome.rows[0].display)


def test_order_is_kept_by_non_commutative_factors():
    a, b = comp.JacIn(sp.Integer(3), sp.Symbol("red")), comp.JacIn(sp.Integer(2), sp.Symbol("red"))
    assert a * b != b * a
    factors = comp.chain(sp.Integer(4), 1, {"input": "red", "params": "olive"})
    assert [type(f).__name__ for f in factors] == ["GradL", "JacIn", "JacIn", "JacPar"]
    assert [int(f.args[0]) for f in factors] == [4, 4, 3, 2]


# -- finite differences, numpy reference written here -----------------------------------------


def numpy_loss(inst, A, b):
    f = inst.x
    for t in range(inst.K):
        f = np.tanh(A[t] @ f + b[t])
    return float(np.sum((inst.y - f) ** 2))


def fd_theta(inst, j, h=1e-6):
    out = []
    for target, shape in ((0, inst.A[j].shape), (1, inst.b[j].shape)):
        for idx in np.ndindex(*shape):
            params = [[x.copy() for x in inst.A], [x.copy() for x in inst.b]]
            params[target][j][idx] += h
            up = numpy_loss(inst, *params)
            params[target][j][idx] -= 2 * h
            out.append((up - numpy_loss(inst, *params)) / (2 * h))
    return np.array(out)


@pytest.mark.parametrize("K", [3, 4])
def test_products_agree_with_finite_differences(tmp_path, K):
    spec = tmp_path / "c.yaml"
    spec.write_text(f"kind: composition\nK: {K}\nrows: {K}\ncheck: {{seed: 3}}\n", encoding="utf-8")
    outcome = derive_spec(spec).outcome
    inst = comp.Instance(outcome.spec)
    assert len(outcome.rows) == K
    for row in outcome.rows:
        j = int(row.theta)
        value = comp.evaluate(row.factors, inst, K)[0]
        assert np.allclose(value, fd_theta(inst, j), atol=1e-6)
    md = render(derive_spec(spec), "md", "en")
    assert rf"\partial \boldsymbol\theta_{{0}}" in md and r"\vdots" not in md  # concrete rows θ_{K−1} … θ_0


def test_general_row_agrees_with_finite_differences(result):
    outcome = result.outcome
    inst = comp.Instance(outcome.spec)
    for i in range(inst.K - 2):
        value = comp.evaluate(outcome.general.factors, inst, inst.K, i)[0]
        assert np.allclose(value, fd_theta(inst, i), atol=1e-6)


def test_a_reversed_product_is_caught(result):
    outcome = result.outcome
    inst = comp.Instance(outcome.spec)
    row = outcome.rows[2]
    j = inst.K - 3
    swapped = [row.factors[0], row.factors[2], row.factors[1], row.factors[3]]
    try:
        value = comp.evaluate(swapped, inst, inst.K)[0]
    except ValueError:  # the shapes do not even fit: caught
        return
    assert not np.allclose(value, fd_theta(inst, j), atol=1e-3)


# -- rendering, JSON, errors -----------------------------------------------------------------------


def test_renders_in_every_language_and_katex(markdown):
    formulas = []
    for lang in LANGS:
        found = extract_math(markdown[lang])
        assert len(found) > 15
        formulas += found
    assert katex_errors(formulas) == []
    assert "czerwono" in markdown["pl"] and "красным" in markdown["ru"]


def test_json(result):
    data = json.loads(render(result, "json", "en"))
    assert data["kind"] == "composition" and data["K"] == "K" and data["verified"] is True
    assert [r["wrt"] for r in data["rows"]] == ["theta_K-1", "theta_K-2", "theta_K-3", "theta_i"]
    assert data["rows"][2]["factors"] == ["GradL(K)", "JacIn(K, red)", "JacIn(K - 1, red)", "JacPar(K - 2, olive)"]
    assert data["rows"][2]["shared_with_previous"] == 2
    assert katex_errors([r["latex"] for r in data["rows"]]) == []


@pytest.mark.parametrize("text, where", [
    ("kind: composition\ncolors: {input: chartreuse}\n", "c.yaml:2:"),
    ("kind: composition\nK: 1\n", "c.yaml:2:"),
    ("kind: composition\nrows: 4\ncheck: {K: 3}\n", "c.yaml:3:"),
])
def test_bad_spec_is_a_located_error(tmp_path, text, where):
    spec = tmp_path / "c.yaml"
    spec.write_text(text, encoding="utf-8")
    proc = run_process(spec)
    assert proc.returncode == 2, proc.stderr
    assert where in proc.stderr and "Traceback" not in proc.stderr


def test_a_wrong_product_is_never_printed(monkeypatch):
    """derive() refuses a chain whose factors are out of order (square Jacobians: the shapes fit, the values do not)."""
    from derive.errors import VerificationFailed
    from derive.core.yamlload import load_text

    original = comp.chain

    def reordered(K, j, colors):
        factors = original(K, j, colors)
        return factors[:1] + factors[1:-1][::-1] + factors[-1:]

    monkeypatch.setattr(comp, "chain", reordered)
    spec = comp.parse(load_text("kind: composition\nK: 4\nrows: 4\ncheck: {widths: [3, 3, 3, 3, 3]}\n", "w.yaml"))
    with pytest.raises(VerificationFailed) as err:
        comp.derive(spec)
    assert err.value.exit_code == 1
