"""Formulas in the form lecturers write them (issue 15, the items left open), in ru, en and pl.

The forms are produced by the printer from SymPy's results; these tests check the printed structure and
read the printed LaTeX back (sympy's LaTeX parser), comparing it with a derivative taken here from the
textbook definition and with finite differences, never with derive's own output.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp
from sympy.parsing.latex import parse_latex

from conftest import LANGS


def _rhs(text: str, lhs: str) -> str:
    """The right-hand side of the display line that starts with `lhs =`."""
    line = next(l for l in text.splitlines() if l.startswith(lhs + " = "))
    return line[len(lhs) + 3:]


# -- 1. batch norm's ∂J/∂σ² and ∂J/∂μ as Ioffe & Szegedy (2015) write them -------------------

D_VAR, D_MU = r"\frac{\partial J}{\partial \sigma^2_{B,k}}", r"\frac{\partial J}{\partial \mu_{B,k}}"
UPSTREAM = r"\frac{\partial J}{\partial \tilde{z}_{k}^{(p)}}"
SIZE = 4  # a batch of four, to read the printed Σ_{p=1}^{B} back at a concrete size
G, Z = sp.symbols(f"g_1:{SIZE + 1}"), sp.symbols(f"z_1:{SIZE + 1}")
GAMMA, BETA, MU, V, EPS = sp.symbols("gamma beta mu v varepsilon")
PLAIN = [  # the lecture's names -> plain names sympy's LaTeX parser reads
    (UPSTREAM, "g_{p}"), (r"z_{k}^{(p)}", "z_{p}"), (r"\mu_{B,k}", r"\mu"), (r"\sigma^2_{B,k}", "v"),
    (r"\gamma_{k}", r"\gamma"), (r" \left(", r" \cdot \left("),  # juxtaposed brackets: a product, not arguments
]
SUM = r"\sum_{p=1}^{B}"


def _read_back(tex: str) -> sp.Expr:
    """The printed formula as sympy reads it, at B = SIZE. What follows Σ is its summand, as a reader takes
    it (the factors after the sum are free of p, so either reading has the same value)."""
    for name, plain in PLAIN:
        tex = tex.replace(name, plain)
    head, summand = tex.split(SUM)
    expr = parse_latex(rf"{head} {SUM} \left({summand}\right)", backend="lark")
    names = {s.name: s for s in expr.free_symbols}
    p, g, z = sp.Symbol("p"), sp.IndexedBase("g"), sp.IndexedBase("z")
    plain = {"g_{p}": g[p], "z_{p}": z[p], "B": SIZE, "gamma": GAMMA, "mu": MU, "v": V, "epsilon": EPS}
    expr = expr.xreplace({names[n]: value for n, value in plain.items() if n in names}).doit()
    return expr.xreplace({g[r + 1]: G[r] for r in range(SIZE)} | {z[r + 1]: Z[r] for r in range(SIZE)})


def _loss_of_the_statistics() -> sp.Expr:
    """J = Σ_p g_p BN_p with ∂J/∂z̃_p = g_p and μ, σ² as independent variables (the paper's ∂ℓ/∂μ_B, ∂ℓ/∂σ²_B)."""
    return sum(g * (GAMMA * (z - MU) / sp.sqrt(V + EPS) + BETA) for g, z in zip(G, Z))


@pytest.mark.parametrize("lang", LANGS)
def test_batch_norm_variance_gradient_is_written_as_in_the_paper(lectures, lang):
    rhs = _rhs(lectures["mlp-backprop", lang], D_VAR)
    assert rhs.startswith(r"- \frac{1}{2} \gamma_{k} \sum_{p=1}^{B}"), rhs  # −½ γ Σ … in front
    assert rhs.endswith(r"\right)^{-3/2}") and r"\sigma^2_{B,k} + \varepsilon" in rhs, rhs  # the power −3/2
    order = [rhs.index(part) for part in (r"\gamma_{k}", r"\sum", UPSTREAM, r"z_{k}^{(p)} - \mu_{B,k}", "^{-3/2}")]
    assert order == sorted(order), rhs  # γ, Σ, ∂J/∂z̃, (z − μ), then the power, as the paper orders them
    assert r"\mu_{B,k} - z" not in rhs and r"\frac{\gamma" not in rhs, rhs


@pytest.mark.parametrize("lang", LANGS)
def test_batch_norm_mean_gradient_is_written_as_in_the_paper(lectures, lang):
    rhs = _rhs(lectures["mlp-backprop", lang], D_MU)
    assert rhs.startswith(r"- \gamma_{k} \sum_{p=1}^{B} " + UPSTREAM), rhs
    assert rhs.endswith(r"\frac{1}{\sqrt{\sigma^2_{B,k} + \varepsilon}}"), rhs


@pytest.mark.parametrize("lhs, wrt", [(D_VAR, V), (D_MU, MU)])
def test_batch_norm_printed_statistic_gradients_read_back_equal_the_derivative(lectures, lhs, wrt):
    loss = _loss_of_the_statistics()
    rng = np.random.default_rng(15)
    point = {s: float(rng.uniform(-1, 1)) for s in (*G, *Z, MU, GAMMA, BETA)} | {V: 0.8, EPS: 0.1}
    h = 1e-6
    fd = float((loss.subs(point | {wrt: point[wrt] + h}) - loss.subs(point | {wrt: point[wrt] - h})) / (2 * h))
    for lang in LANGS:
        printed = _read_back(_rhs(lectures["mlp-backprop", lang], lhs))
        assert sp.simplify(printed - sp.diff(loss, wrt)) == 0, (lang, printed)
        assert float(printed.subs(point)) == pytest.approx(fd, rel=1e-6)


@pytest.mark.parametrize("lang", LANGS)
def test_batch_norm_section_still_checks_its_printed_gradients(cli, lang):
    import json

    result = cli("specs/mlp-backprop.yaml", "--lang", lang, "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    checks = {c["what"]: c for c in out["checks"]}
    assert out["verified"] is True
    for name in ("dJ/dmu as printed", "dJ/dsigma^2 as printed"):
        (check,) = [c for w, c in checks.items() if name in w]
        assert check["ok"] and check["max_relative_error"] < 1e-6, check


# -- 2. one numbering of step headings per kind: its seed's, else the house style (seed 000's) ---------

import yaml  # noqa: E402

from conftest import ROOT, SPECS  # noqa: E402

SEEDS = ROOT / "tests" / "seeds"
NUMBERED = re.compile(r"^#{2,6} (\d+(?:\.\d+)*)([.)]?) ", re.M)  # "## 1) …", "## 1. …"
SUB_STEP = re.compile(r"^\*\*(\d+(?:\.\d+)*)([.)]?) ", re.M)  # a numbered bold step, "**2.1 …**"
KIND_SEED = {"network": "000", "mlp": "004"}  # the kinds whose step headings reproduce a seed's (the others: none)
HOUSE = "000"  # seed 000's numbering, for every kind that reproduces no seed's headings


def _marks(text: str, pattern=NUMBERED) -> set[str]:
    """The numbering styles in text: "1)", "1." or, for a step within a step, "1.1"."""
    return {("1.1" if "." in number else "1") + mark for number, mark in pattern.findall(text)}


def _seed_marks(seed: str) -> set[str]:
    (path,) = SEEDS.glob(f"{seed}*.txt")
    return _marks(path.read_text(encoding="utf-8"))


def _kinds(spec) -> set[str]:
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    if data.get("kind") == "course":
        return set().union(*(_kinds(spec.parent / (c if isinstance(c, str) else c["spec"]))
                             for c in data["chapters"]))
    return {data.get("kind", "network")}


def test_the_seeds_number_their_steps_one_way_each():
    assert _seed_marks("000") == {"1)"} and _seed_marks("004") == {"1."}  # "## 1) Производные", "## 1. Прямой"
    path, = SEEDS.glob("004*.txt")
    assert _marks(path.read_text(encoding="utf-8"), SUB_STEP) == {"1.1"}  # "**2.1 Производная Сигмоиды**"


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_step_headings_are_numbered_as_the_kinds_seed_does(lectures, spec):
    wanted = set().union(*(_seed_marks(KIND_SEED.get(kind, HOUSE)) for kind in _kinds(spec)))
    for lang in LANGS:
        text = lectures[spec.stem, lang]
        marks = _marks(text)
        assert marks <= wanted and len(marks) <= 1, (lang, marks, wanted)
        # a numbered sub-step is numbered within its section, 2.1, as seed 004 numbers them
        assert _marks(text, SUB_STEP) <= {"1.1"}, (lang, SUB_STEP.findall(text))


# -- 3. composition-check's local derivatives in the layers' outputs: 1 − f_1², not 1 − tanh²(A_0 x + b_0) ------

LOCAL = re.compile(r"\\frac\{\\partial (f_\d)\}\{\\partial ([A-Za-z]_?\d?)\} = (.+?) \\approx (-?\d+(?:\.|\{,\})?\d*)")


def _composition_nodes() -> dict[sp.Symbol, sp.Expr]:
    """The spec's layers f_i = tanh(A_{i-1} f_{i-1} + b_{i-1}), read with sympy from the spec file."""
    nodes = yaml.safe_load((ROOT / "specs" / "composition-check.yaml").read_text(encoding="utf-8"))["nodes"]
    return {sp.Symbol(name): sp.sympify(text.replace(" x", "*x").replace(" f_", "*f_"))
            for name, text in nodes.items() if name.startswith("f_")}


def _plain(tex: str) -> sp.Expr:
    """Printed LaTeX read by sympy's parser, which knows neither π nor erf: they are read as p_i and sin, then
    put back; e is Euler's number."""
    tex = tex.replace(r" \left(", r" \cdot \left(").replace(r"\pi", "p_{i}").replace(r"\operatorname{erf}", r"\sin")
    expr = parse_latex(tex, backend="lark")
    expr = expr.xreplace({s: sp.Symbol(s.name.replace("{", "").replace("}", "")) for s in expr.free_symbols})
    return expr.xreplace({sp.Symbol("p_i"): sp.pi, sp.Symbol("e"): sp.E}).replace(sp.sin, sp.erf)


@pytest.mark.parametrize("lang", LANGS)
def test_composition_check_writes_local_derivatives_with_the_layer_outputs(lectures, lang):
    text = lectures["composition-check", lang]
    section = text[text.index("## 2)"):text.index("## 3)")]
    rows = LOCAL.findall(section)
    nodes = _composition_nodes()
    assert len(rows) == 3 * len(nodes), rows  # ∂f_i/∂A, ∂f_i/∂(input), ∂f_i/∂b for each layer
    values = {sp.Symbol(k): v for k, v in yaml.safe_load(
        (ROOT / "specs" / "composition-check.yaml").read_text(encoding="utf-8"))["values"].items()}
    for node, wrt, rhs, number in rows:
        assert r"\tanh" not in rhs and f"{node}^{{2}}" in rhs, (lang, rhs)  # 1 − f_i², the layer's output named
        f, x = sp.Symbol(node), sp.Symbol(wrt)
        printed = _plain(rhs)
        textbook = sp.diff(nodes[f], x)  # the derivative of the spec's tanh, by sympy here
        assert sp.simplify(printed.subs(f, nodes[f]) - textbook) == 0, (lang, rhs)
        at = dict(values)
        for name, expr in nodes.items():  # the forward pass, to the values of f_1, f_2, f_3
            at[name] = expr.subs(at)
        assert float(printed.subs(at)) == pytest.approx(float(number.replace("{,}", ".")), rel=1e-3), (lang, rhs)
    assert "Checked" in text or "Проверка" in text or "Sprawdzenie" in text


# -- 4. GELU written as lecturers write it: GELU(z) = z Φ(z), GELU′(z) = Φ(z) + z φ(z) ---------------------------

from sympy.stats import Normal, cdf, density  # noqa: E402

ZR = sp.Symbol("z", real=True)
_X = Normal("X", 0, 1)  # the standard normal law, from sympy.stats: the reference for Φ and φ
CDF, PDF = cdf(_X)(ZR), density(_X)(ZR)
GELU_DEF, GELU_PRIME = r"\operatorname{GELU}(z)", r"\frac{d \operatorname{GELU}(z)}{d z}"
# gelu-mae-decay's output weights are φ (Prince), so its normal density is written Φ′, not φ
DENSITY = r"\Phi'(z)"


def _with_normal(tex: str) -> sp.Expr:
    """The printed formula with Φ(z), φ(z) replaced by the standard normal law's CDF and density."""
    P, Q = sp.symbols("P Q")
    expr = _plain(tex.replace(DENSITY, "Q").replace(r"\Phi(z)", "P"))
    return expr.xreplace({sp.Symbol("z"): ZR, sp.Symbol("P"): P, sp.Symbol("Q"): Q}).subs({P: CDF, Q: PDF})


def _gelu(x: float) -> float:
    import math

    return x * (1 + math.erf(x / math.sqrt(2))) / 2


@pytest.mark.parametrize("lang", LANGS)
def test_gelu_is_written_with_the_normal_distribution(lectures, lang):
    text = lectures["gelu-mae-decay", lang]
    definition, derivative = _rhs(text, GELU_DEF), _rhs(text, GELU_PRIME)
    assert r"\Phi(z)" in definition and r"\operatorname{erf}" not in definition, definition
    assert derivative.startswith(r"\Phi(z)") and rf"z {DENSITY}" in derivative, derivative  # Φ(z) + z Φ′(z)
    assert r"\operatorname{erf}" not in derivative and "e^" not in derivative, derivative
    assert sp.simplify(_with_normal(definition) - ZR * CDF) == 0
    printed = _with_normal(derivative)
    assert sp.simplify(printed - sp.diff(ZR * CDF, ZR)) == 0
    for x in (-1.3, 0.4, 2.0):  # and central finite differences of GELU itself (math.erf)
        fd = (_gelu(x + 1e-6) - _gelu(x - 1e-6)) / 2e-6
        assert float(printed.subs(ZR, x)) == pytest.approx(fd, rel=1e-7)


@pytest.mark.parametrize("lang", LANGS)
def test_gelu_note_defines_phi_by_the_normal_law(lectures, lang):
    text = lectures["gelu-mae-decay", lang]
    words = {"en": "standard normal distribution", "ru": "стандартного нормального закона",
             "pl": "standardowego rozkładu normalnego"}[lang]
    (note,) = [l for l in text.splitlines() if words in l]
    assert r"\Phi(z)" in note and DENSITY in note and note.endswith(":")
    block = text[text.index(note) + len(note):].split("$$")[1].strip()
    rows = dict(part.split(" = ", 1) for part in block.split(r",\qquad "))
    assert set(rows) == {r"\Phi(z)", DENSITY}
    for name, reference in ((r"\Phi(z)", CDF), (DENSITY, PDF)):
        shown = _plain(rows[name]).xreplace({sp.Symbol("z"): ZR})
        for x in (-1.0, 0.5, 1.7):
            assert float(shown.subs(ZR, x)) == pytest.approx(float(reference.subs(ZR, x)), rel=1e-12), (name, shown)


@pytest.mark.parametrize("lang", LANGS)
def test_gelu_layer_parameters_are_written_with_phi_too(lectures, lang):
    """The θ section writes each unit's GELU′(z_j) as Φ(z_j) + z_j φ(z_j), as the activation section does, not
    ½ + ½ erf(z_j/√2) + z_j e^{−z_j²/2}/√(2π); the printed local derivative, read back with the normal law's
    CDF and density, equals central finite differences of GELU (math.erf)."""
    text = lectures["gelu-mae-decay", lang]
    rows = [l for l in text.splitlines() if l.startswith(r"\frac{\partial h_")]
    assert rows, "no local derivatives of the GELU layer"
    body = "\n".join(rows)
    assert r"\operatorname{erf}" not in body and "e^" not in body, body
    for j in (1, 2):
        lhs = rf"\frac{{\partial h_{j}}}{{\partial \theta_{{0{j}}}}}"
        line = next(l for l in rows if l.startswith(lhs + " = "))
        printed = line[len(lhs) + 3:].split(r",\qquad")[0]
        assert printed == rf"\Phi(z_{j}) + z_{j} \Phi'(z_{j})", printed
        as_z = printed.replace(f"z_{j}", "z")
        read = _with_normal(as_z)
        for x in (-1.3, 0.4, 2.0):
            fd = (_gelu(x + 1e-6) - _gelu(x - 1e-6)) / 2e-6
            assert float(read.subs(ZR, x)) == pytest.approx(fd, rel=1e-7)
    totals = [l for l in text.splitlines() if l.startswith(r"\frac{\partial J}{\partial \theta_")]
    assert totals and not any(r"\operatorname{erf}" in l for l in totals)
    assert any(r"\left(\Phi(z_1) + z_1 \Phi'(z_1)\right)" in l for l in totals)
