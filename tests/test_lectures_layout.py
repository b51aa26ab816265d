"""Formula layout a lecturer expects (issue 15, the English review): each rule checked on a rendered lecture.

The references are the lectures' own definitions (the order in which an entry's indices are written,
y_{f,i,j} = b_f + Σ x_{c,u,v} w_{f,c,u,v}), the notation the seeds use (δ bold as a vector,
H_out's subscript a word), and real KaTeX and LuaLaTeX for what the notation does on the page.
Every lecture here must still be verified: the CLI exits 1 when a formula fails its check.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from conftest import ROOT
from katex import katex_errors, katex_dir, require_katex


def _md(cli, name: str, *args: str) -> str:
    result = cli(ROOT / "specs" / name, "--lang", "en", *args)
    assert result.exit_code == 0, result.stdout  # 0: every formula verified before it was printed
    return result.stdout


def _line(md: str, start: str) -> str:
    return next(x for x in md.splitlines() if x.startswith(start))


def _limits(line: str) -> list[list[str]]:
    """The index of every row of every multi-index Σ in a line: [['c', 'u', 'v'], …]."""
    out = []
    for m in re.finditer(r"\\substack\{", line):
        depth, end = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(line[end], 0)
            end += 1
        out.append(re.findall(r"\\leq (\w+) \\leq", line[m.end():end]))
    return out


def _first_use(text: str, indices: list[str]) -> list[str]:
    """The indices in the order they first appear in the subscripts of `text` (x_{c,u + i S - P,v}: c, u, v)."""
    subs = ",".join(re.findall(r"_\{([^{}]*)\}", text))
    return sorted(indices, key=lambda i: re.search(rf"(?<![A-Za-z\\]){i}(?![A-Za-z])", subs).start())


@pytest.mark.parametrize("spec, start", [
    ("conv2d.yaml", "y_{f,i,j} = "), ("conv2d.yaml", "L = "), ("conv1d.yaml", "y_{f,i} = "),
    ("attention-3-tokens.yaml", "L = "), ("rnn-3-steps.yaml", "L = "),
])
def test_sum_limits_list_the_outer_index_first(cli, spec, start):
    line = _line(_md(cli, spec), start)
    (rows,) = _limits(line)
    summand = line.split("}} ", 1)[1]
    assert len(rows) >= 2 and rows == _first_use(summand, rows), (rows, summand)


def test_conv2d_limits_as_the_definition_writes_its_indices(cli):
    md = _md(cli, "conv2d.yaml")
    assert _limits(_line(md, "y_{f,i,j} = ")) == [["c", "u", "v"]]
    assert _limits(_line(md, "L = ")) == [["f", "i", "j"]]
    for line in md.splitlines():  # ∂L/∂x and ∂L/∂w: f, then i, then j, in every Σ
        for rows in _limits(line):
            assert rows == _first_use(line, rows), line


def test_transpose_of_a_single_symbol_has_no_parentheses(cli):
    attention = _md(cli, "attention-3-tokens.yaml")
    assert r"- \mathbf{p} \mathbf{p}^T" in attention
    assert r"\mathbf{p}_{i} \mathbf{p}_{i}^T" in attention
    assert r"\left(\mathbf{p}\right)^T" not in attention and r"\left(\mathbf{p}_{i}\right)^T" not in attention
    rnn = _md(cli, "rnn-3-steps.yaml")
    assert r"\boldsymbol{\delta}_{t} \mathbf{h}_{t - 1}^T" in rnn
    # a compound or superscripted base keeps its parentheses: (∂L/∂S)ᵀ, (W^{[l+1]})ᵀ
    assert r"\left(\frac{\partial L}{\partial S}\right)^T Q" in attention
    assert r"\left(W^{[l+1]}\right)^T" in _md(cli, "mlp-backprop.yaml")
    # one transpose sign in the lectures: ^T, as in Wᵀ δ
    for md in (attention, rnn):
        assert r"\top" not in md


def test_greek_vectors_are_bold(cli):
    rnn = _md(cli, "rnn-3-steps.yaml")
    assert r"\mathbf{\delta}" not in rnn
    assert r"\boldsymbol{\delta}_{t + 1}" in rnn
    assert r"\mathbf{h}_{t}" in rnn  # Latin vectors stay upright bold


def _katex_html(tex: str) -> str:
    require_katex()
    script = ("const k = require(process.argv[1]); process.stdout.write(k.renderToString(process.argv[2], "
              "{throwOnError: true}));")
    return subprocess.run([shutil.which("node") or "node", "-e", script, str(katex_dir()), tex], capture_output=True,
                          text=True, check=True, timeout=60).stdout


def test_katex_makes_boldsymbol_delta_bold_and_mathbf_does_not():
    assert katex_errors([r"\boldsymbol{\delta}_{t + 1}"]) == []
    def delta_class(tex):  # the class KaTeX gives the span that holds δ
        html = _katex_html(tex).split('class="katex-html"', 1)[1]
        return re.search(r'<span class="([^"]*)"[^>]*>δ</span>', html).group(1)

    assert "boldsymbol" in delta_class(r"\boldsymbol{\delta}")
    assert delta_class(r"\mathbf{\delta}") == "mord mathnormal"  # the defect: \mathbf leaves δ as it was


def test_lualatex_sets_the_rnn_lecture_with_a_bold_delta(cli, tmp_path):
    if shutil.which("lualatex") is None or shutil.which("pdffonts") is None:
        message = "lualatex and pdffonts (TeX Live, poppler-utils) are needed"
        if __import__("os").environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    tex = cli(ROOT / "specs" / "rnn-3-steps.yaml", "--lang", "en", "--format", "tex").stdout
    assert r"\boldsymbol{\delta}" in tex
    (tmp_path / "rnn.tex").write_text(tex, encoding="utf-8")
    run = subprocess.run(["lualatex", "-interaction=nonstopmode", "-halt-on-error", "rnn.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:]
    fonts = subprocess.run(["pdffonts", str(tmp_path / "rnn.pdf")], capture_output=True, text=True).stdout
    assert "CMMIB" in fonts, fonts  # δ set in bold math italic (\\mathbf{\\delta} would leave only CMMI)


@pytest.mark.parametrize("spec, word", [("conv2d.yaml", "H"), ("conv1d.yaml", "N")])
def test_word_subscripts_are_upright(cli, spec, word):
    md = _md(cli, spec)
    assert rf"{word}_{{\mathrm{{out}}}}" in md
    assert rf"{word}_{{out}}" not in md


def test_index_subscripts_stay_italic():
    from derive.render.printing import latex_name

    assert latex_name("H_out") == r"H_{\mathrm{out}}"
    assert latex_name("w_ij") == "w_{ij}"
    assert latex_name("theta_10_3") == r"\theta_{10,3}"


def test_a_fraction_over_a_fraction_becomes_a_coefficient(cli):
    attention = _md(cli, "attention-3-tokens.yaml")
    layernorm = _md(cli, "layernorm.yaml")
    for md in (attention, layernorm):
        assert not re.search(r"\\frac\{\\frac", md)
        assert not re.search(r"\\frac\{[^{}]*\\frac", md)
    assert r"= \frac{1}{\sqrt{d_k}} \sum_{j=1}^{n} \frac{\partial L}{\partial S_{p,j}} K_{j,r}" in attention
    assert r"\frac{\partial L}{\partial K} = \frac{1}{\sqrt{d_k}} \left(\frac{\partial L}{\partial S}\right)^T Q" \
        in attention
    assert r"= \frac{1}{n} \frac{\partial L}{\partial \mu} + " in layernorm


def test_the_coefficient_form_has_the_fraction_s_value():
    """The rewritten layout is the same number: print, parse back through the answer grammar, compare."""
    import sympy as sp

    from derive.render.printing import latex

    x, n, d = sp.symbols("x n d", positive=True)
    f = sp.Function("f")(x)
    dfx = sp.Derivative(f, x)
    assert latex(dfx * x / sp.sqrt(d)) == r"\frac{1}{\sqrt{d}} x \frac{d f(x)}{d x}"
    assert latex(-3 * dfx / (2 * n)) == r"- \frac{3}{2 n} \frac{d f(x)}{d x}"
    assert latex(x / n) == r"\frac{x}{n}"  # no fraction in the numerator: an ordinary fraction


def test_rational_exponents_are_written_with_a_slash(cli):
    from derive.render.printing import latex
    import sympy as sp

    s, e = sp.symbols("s e", positive=True)
    assert latex((s + e) ** sp.Rational(3, 2)) == r"\left(e + s\right)^{3/2}"
    layernorm = _md(cli, "layernorm.yaml")
    assert r"\left(\sigma^2 + \varepsilon\right)^{-3/2}" in layernorm
    assert not re.search(r"\^\{-? ?\\frac", layernorm)


def test_json_latex_of_the_layer_kinds_still_renders(cli):
    for spec in ("conv2d.yaml", "attention-3-tokens.yaml", "rnn-3-steps.yaml", "layernorm.yaml"):
        data = json.loads(_md(cli, spec, "--format", "json"))
        assert data["verification"]["verified"] is True
        assert katex_errors([d["latex"] for d in data["index_form"]]) == []


# -- the order of terms and factors: the definition's, or the house order --------------------------------------------


def test_gelu_reads_z_over_root_two_as_its_definition():
    """GELU(z) = z Φ(z), Φ(z) = ½ (1 + erf(z/√2)) (Hendrycks & Gimpel 2016); SymPy rationalises z/√2 to z√2/2."""
    import sympy as sp

    from derive.render.printing import latex

    z = sp.Symbol("z", real=True)
    assert latex(sp.erf(z / sp.sqrt(2))) == r"\operatorname{erf}\left(\frac{z}{\sqrt{2}}\right)"
    assert latex(z * sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi)) == r"\frac{z e^{- \frac{z^{2}}{2}}}{\sqrt{2 \pi}}"
    assert latex(-z / sp.sqrt(3)) == r"- \frac{z}{\sqrt{3}}"
    assert latex(z * sp.sqrt(2) / 4) == r"\frac{z \sqrt{2}}{4}"  # not of the form √n/n: as it was


def test_gelu_lecture_has_no_rationalised_root(cli):
    md = _md(cli, "gelu-mae-decay.yaml")
    assert r"\sqrt{2}}{2}" not in md and r"\frac{z \sqrt{2}}" not in md


def test_bce_terms_in_the_seed_s_order(cli):
    # seed 004, line 132: J = −1/m [y log(a^{[L]}) + (1 − y) log(1 − a^{[L]})]
    md = _md(cli, "mlp-backprop.yaml")
    assert (r"\left(y_{q} \log(a_{q}^{[L]}) + \left(1 - y_{q}\right) \log\left(1 - a_{q}^{[L]}\right)\right)"
            in md)


def test_weight_decay_term_comes_last(cli):
    md = _md(cli, "gelu-mae-decay.yaml")
    line = _line(md, r"\frac{\partial J}{\partial \phi_1} = ")
    last = line.rsplit(" = ", 1)[1]
    assert last.endswith(r"+ \lambda \phi_1") and last.startswith(r"\operatorname{sign}\left(y - t\right)"), last
    for line in md.splitlines():  # in every row of the decay section, λ w is the last term
        for part in line.split(" = ")[1:]:
            if r"\lambda \theta" in part or r"\lambda \psi" in part or r"\lambda \phi" in part:
                assert re.search(r"\+ \\lambda \\(theta|psi|phi)_\{?\d+\}?(?: \\approx .*)?$", part), part


def test_weight_decay_numbers_follow_the_printed_order():
    """The worked example substitutes numbers term by term in the printed order (ordered_terms)."""
    import sympy as sp

    from derive.render.printing import latex, ordered_terms

    lam, phi, s, g = sp.symbols("lamda phi_1 s g_1", real=True)
    expr = lam * phi - s * g
    assert ordered_terms(expr.args) == [-s * g, lam * phi]
    assert latex(expr) == r"- g_1 s + \lambda \phi_1"


def test_weight_times_input_and_bias_last(cli):
    # the spec writes f_1 = β₁ + ω₁ h₁; the house order is W a + b (weight, input, then bias)
    md = _md(cli, "graph-sin-cos-exp.yaml")
    for k in (1, 2, 3):
        assert rf"f_{k} = \omega_{k} h_{k} + \beta_{k}" in md
    assert r"f_0 = \omega_0 x + \beta_0" in md
    assert r"h_1 \omega_1" not in md


def test_rnn_index_form_writes_the_bias_last_as_its_matrix_form_does(cli):
    # the matrix form is a_t = U x_t + W h_{t-1} + b; the index form read a_{t,i} = b_i + Σ…, the bias first
    md = _md(cli, "rnn-3-steps.yaml")
    for start, bias in ((r"a_{t,i} = ", "b_{i}"), (r"y_{t,j} = ", "c_{j}")):
        line = _line(md, start)
        assert line.endswith(f"+ {bias}") and line.count(bias) == 1, line


def test_upstream_delta_first(cli):
    # seed 004, line 178: ∂J/∂W_{jk} = δ_j a_k (the upstream factor first)
    md = _md(cli, "mlp-check.yaml")
    assert r"= \delta^{[2]}_{i} a_{j}" in md
    assert r"\sum_{k=1}^{n} \delta^{[2]}_{k} \frac{\partial z^{[2]}_{k}}{\partial W^{[2]}_{i,j}}" in md
    assert r"a_{j} \delta" not in md


# -- a long sum in the PDF ----------------------------------------------------------------------------------------


def test_a_long_worked_sum_is_set_three_terms_to_a_line(cli):
    from derive.render.tex import _rows, _split

    md = _md(cli, "conv2d.yaml")
    line = _line(md, r"\frac{\partial L}{\partial w_{1,1,0,0}} = ")
    terms = line.split(" = ", 1)[1].count(" + ") + 1
    assert terms == 9  # 3×3 kernel positions that read the 4×4 output without padding
    lines = _split(_rows(line)).split(r" \\")
    assert len(lines) == 3 and all(x.count(r"\frac{\partial L}{\partial y") == 3 for x in lines), lines
    short = r"a + b + c"
    assert _split(_rows(f"x = {short}")) == f"x &= {short}"


def test_a_coefficient_still_leads_a_weight():
    import sympy as sp

    from derive.render.printing import latex

    lam, w, eta, h = sp.symbols("lamda w eta h_1", real=True)
    assert latex(lam * w) == r"\lambda w"
    assert latex(eta * w) == r"\eta w"
    assert latex(h * sp.Symbol("omega_1")) == r"\omega_1 h_1"


# -- layer norm's ∂L/∂σ², factored as batch norm's (Ba et al. 2016; Ioffe & Szegedy 2015) ----------------------


def test_layernorm_dvar_is_the_chain_rule_product_not_its_expansion(cli):
    md = _md(cli, "layernorm.yaml")
    line = _line(md, r"\frac{\partial L}{\partial \sigma^2} = ")
    assert line.endswith(r"= - \frac{1}{2} \sum_{k=1}^{n} \frac{\partial L}{\partial \hat{x}_{k}} \left(x_{k} - \mu\right) "
                         r"\left(\sigma^2 + \varepsilon\right)^{-3/2}"), line
    assert r"\right) \mu - \sum" not in line  # the expanded (Σ g) μ − Σ g x of before


def test_layernorm_printed_dvar_is_checked_against_the_derived_one():
    """The factored ∂L/∂σ² is compared with the engine's at every check point; a wrong one fails the check."""
    from derive.kinds import indexform as engine
    from derive.kinds.layers import layernorm
    from derive.render.notation import Factors

    spec = layernorm.LayerNormSpec("layernorm.yaml", {"en": "t"}, 3)
    model = layernorm.build(spec)
    form, paper = layernorm.compact(model), layernorm.as_paper(model)
    check = engine.verify(model, extra=layernorm._compact_check(model, form, paper))
    assert check.ok
    wrong = Factors(2 * paper.args[0])
    assert not engine.verify(model, extra=layernorm._compact_check(model, form, wrong)).ok


def test_the_derivative_of_the_absolute_loss_reads_sign_of_y_minus_t(cli):
    # SymPy pulls the minus out of sign(y − t) (sign is odd) and prints −sign(t − y); lecturers write sign(y − t)
    md = _md(cli, "gelu-mae-decay.yaml")
    assert r"\operatorname{sign}\left(y - t\right)" in md and r"- \operatorname{sign}" not in md


def test_sign_absorbing_the_minus_keeps_the_value():
    import random

    import sympy as sp

    from derive.render.printing import _sign_absorbs_minus, latex

    t, y, s, lam, p = sp.symbols("t y s lambda p", real=True)
    for expr in (-sp.sign(t - y), -2 * sp.sign(t - y) * s, -sp.sign(t - y) * s + lam * p, sp.sign(t - y) * s):
        shown = _sign_absorbs_minus(expr)
        for _ in range(20):
            at = {v: random.uniform(-3, 3) for v in (t, y, s, lam, p)}
            assert float(shown.subs(at)) == float(expr.subs(at))
    assert latex(-sp.sign(t - y)) == r"\operatorname{sign}\left(y - t\right)"
    assert latex(sp.sign(t - y)) == r"\operatorname{sign}\left(t - y\right)"  # nothing to absorb


# -- the native reviewers' fifth round (s5-style) --------------------------------------------------------------


def _displays_after_text(md: str) -> list[str]:
    """The text lines that an opening $$ follows directly (no blank line between: the PDF sets it inline)."""
    lines, inside, out = md.splitlines(), False, []
    for n, line in enumerate(lines):
        if line.strip() == "$$":
            if not inside and n and lines[n - 1].strip():
                out.append(lines[n - 1])
            inside = not inside
    return out


def test_displays_apart_sets_a_display_off_from_the_text_before_it():
    from derive.render.jinja import displays_apart

    assert _displays_after_text(displays_apart("Likewise:\n$$\na = b\n$$\n\n$$\nc\n$$\n")) == []
    assert displays_apart("A:\n$$\na\n$$\nB") == "A:\n\n$$\na\n$$\nB"  # the closing $$ keeps its line


@pytest.mark.parametrize("lang", ["en", "ru", "pl"])
def test_linear_layer_speaks_element_by_element_and_gives_gradients_as_results(cli, lang):
    md = cli(ROOT / "specs" / "linear-layer.yaml", "--lang", lang).stdout
    assert _displays_after_text(md) == []  # "Likewise, element by element:" had its display set inline
    assert not re.search("omponentwise|окомпонентно|kładowa po składowej", md)
    assert {"en": "Likewise, element by element:", "ru": "Аналогично, поэлементно:",
            "pl": "Analogicznie, element po elemencie:"}[lang] in md
    assert "Покомпонентно, после подстановки" not in md
    result = md.split("## 4)")[1].split("---")[0]
    # every result a gradient of f: ∂f/∂θ_i = ∂f/∂q_i, not the local ∂f_m/∂θ_i = 1_{m=i}
    assert r"\partial f_{m}" not in result
    assert r"\frac{\partial f}{\partial \theta_{i}} = \frac{\partial f}{\partial q_{i}}" in result


def test_english_numbers_multiply_a_power_of_ten_with_times(cli):
    # docs/glossary.md: where the decimal sign is a point, 2.7 × 10^{-10}; ru and pl keep 2,7 · 10^{-10}
    for spec in ("linear-layer.yaml", "rnn-3-steps.yaml"):
        en = cli(ROOT / "specs" / spec, "--lang", "en").stdout
        assert r"\cdot 10^{" not in en and re.search(r"[0-9] \\times 10\^\{-[0-9]+\}", en)
    ru = cli(ROOT / "specs" / "linear-layer.yaml", "--lang", "ru").stdout
    assert re.search(r"[0-9] \\cdot 10\^\{-[0-9]+\}", ru) and r"\times 10^{" not in ru


def test_layernorm_writes_the_mean_and_its_derivatives_as_a_lecturer_does(cli):
    md = _md(cli, "layernorm.yaml")
    assert _line(md, r"\mu = ") == r"\mu = \frac{1}{n} \sum_{j=1}^{n} x_{j}"  # not Σ x_j / n
    assert _line(md, r"\sigma^2 = ").startswith(r"\sigma^2 = \frac{1}{n} \sum_{j=1}^{n}")
    mu = _line(md, r"\frac{\partial L}{\partial \mu} = ")
    # (1/n) ∂L/∂σ² (2nμ − 2Σ_j x_j) as −(2/n) ∂L/∂σ² Σ_j (x_j − μ): the deviations that sum to zero, as the text says
    assert r"- \frac{2}{n} \frac{\partial L}{\partial \sigma^2} \sum_{j=1}^{n} \left(x_{j} - \mu\right)" in mu
    assert r"2 n \mu" not in mu
    xp = _line(md, r"\frac{\partial L}{\partial x_{p}} = \frac{\partial L}{\partial \mu}")
    assert r"\frac{2}{n} \frac{\partial L}{\partial \sigma^2} \left(x_{p} - \mu\right)" in xp
    assert r"2 x_{p} - 2 \mu" not in xp


def test_batch_norm_shows_the_deviations_summing_to_zero_and_the_constant_outside_the_sum(cli):
    md = _md(cli, "mlp-backprop.yaml")
    line = _line(md, r"\frac{\partial \sigma^2_{B,k}}{\partial \mu_{B,k}} = ")
    assert line.endswith(r"= - \frac{2}{B} \sum_{p=1}^{B} \left(z_{k}^{(p)} - \mu_{B,k}\right) = 0")
    mu = _line(md, r"\frac{\partial J}{\partial \mu_{B,k}} = ")
    assert mu.index(r"\frac{1}{\sqrt{\sigma^2_{B,k} + \varepsilon}}") < mu.index(r"\sum_{p=1}^{B}")


def test_a_folded_sum_equals_what_it_replaces():
    import numpy as np
    import sympy as sp

    from derive.render.printing import deviations_summed

    n, j, mu = sp.Symbol("n", integer=True, positive=True), sp.Symbol("j", integer=True), sp.Symbol("mu")
    x = sp.IndexedBase("x")
    before = 2 * n * mu - 2 * sp.Sum(x[j], (j, 1, n))
    after = deviations_summed(before)
    assert isinstance(after.as_coeff_Mul()[1], sp.Sum) and after != before
    rng = np.random.default_rng(3)
    values = rng.normal(size=5)
    def at(e):  # n = 5, plain floats, the sum written out by numpy
        return float(e.subs(n, 5).doit().replace(lambda a: isinstance(a, sp.Indexed),
                                                  lambda a: sp.Float(values[int(a.indices[0]) - 1])).subs(mu, 0.7))
    assert at(after) == pytest.approx(at(before), rel=1e-12)
    assert deviations_summed(sp.Sum(x[j], (j, 1, n)) + sp.Symbol("lamda") * mu) == sp.Sum(x[j], (j, 1, n)) + sp.Symbol("lamda") * mu


def test_cases_list_z_positive_first_as_the_piecewise_definition_does(cli):
    gelu = _md(cli, "gelu-mae-decay.yaml")
    assert _line(gelu, r"\frac{d \operatorname{ELU}_{\alpha}(z)}{d z} = ").endswith(
        r"= I[z>0] + \alpha e^{z} \, I[z\le 0]")
    relu = _md(cli, "two-layer-relu.yaml")  # a chain-rule sum over units is not a sum of cases: its order stays
    assert r"\phi_1 \, I[u_1>0] \, \psi_{11} + \phi_2 \, I[u_2>0] \, \psi_{12}" in relu


def test_a_negative_exponent_sum_is_minus_a_sum(cli):
    md = _md(cli, "sigmoid-neuron.yaml")
    assert r"e^{- \left(w x + \theta\right)}" in md and r"e^{- w x - \theta}" not in md  # seed 003: e^{−(wx+θ)}


def _frames(cli, spec: str, lang: str = "en") -> list[str]:
    result = cli(ROOT / "specs" / spec, "--lang", lang, "--format", "tex", "--document", "slides")
    assert result.exit_code == 0, result.stdout
    return result.stdout.split(r"\begin{frame}")[1:]


@pytest.mark.parametrize("lang, before", [("en", "Before the step it was"), ("ru", "До шага"), ("pl", "Przed krokiem")])
def test_a_steps_before_and_after_share_one_frame(cli, lang, before):
    frames = _frames(cli, "mazur-2-2-2.yaml", lang)
    (frame,) = [f for f in frames if before in f]
    assert "{E}^{+}" in frame  # the loss after the step, on the frame that gives the loss before it


def test_the_verification_note_has_a_frame_of_its_own_title_and_a_remark_its_own_step(cli):
    frames = _frames(cli, "mlp-backprop.yaml")
    last = frames[-1]
    assert last.startswith("[shrink]{Verification}") and "Checked:" in last
    assert not [f for f in frames[:-1] if "Checked:" in f]
    bce = next(f for f in frames if "Binary cross-entropy with a sigmoid" in f)
    assert "Remark:" not in bce  # the remark on all the pairs is not the last pair's (it overflowed that frame)
    ru = _frames(cli, "mlp-backprop.yaml", "ru")[-1]
    assert ru.startswith("[shrink]{Проверка}")
