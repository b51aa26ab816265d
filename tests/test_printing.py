"""The printers: one-line expected strings for the notation of the seeds."""

from __future__ import annotations

import re

import pytest
import sympy as sp

from derive.core.calculus import Indicator, relu, sigmoid
from derive.render.printing import ascii, latex, latex_name


@pytest.mark.parametrize(
    "name, tex",
    [
        ("theta_01", r"\theta_{01}"),
        ("phi_1", r"\phi_1"),
        ("x", "x"),
        ("x_3", "x_3"),
        ("W2_11", r"W^{[2]}_{11}"),
        ("b3", r"b^{[3]}"),
        ("theta_10_3", r"\theta_{10,3}"),
        ("epsilon", r"\varepsilon"),
        ("LOSS", r"\mathrm{LOSS}"),
    ],
)
def test_names(name, tex):
    assert latex_name(name) == tex


def test_indicator_and_relu_as_in_seed_000():
    u = sp.Symbol("u_1")
    assert latex(Indicator(u > 0)) == "I[u_1>0]"
    assert latex(Indicator(u > 0), indicator="1") == r"\mathbb{1}[u_1>0]"
    assert latex(relu(u)) == "a[u_1]"
    assert ascii(Indicator(u > 0)) == "I(u_1 > 0)"


def test_positive_terms_first():
    y, t = sp.symbols("y t")
    assert latex(y - t) == "y - t"
    assert ascii(y - t) == "y - t"


def test_sigmoid_prints_as_sigma():
    assert latex(sigmoid(sp.Symbol("z"))) == r"\sigma(z)"


def test_piecewise_has_conditions_and_no_english_words():
    z, alpha = sp.symbols("z alpha")
    assert latex(sp.Piecewise((z, z > 0), (alpha * z, True))) == (
        r"\begin{cases} z, & z > 0 \\ \alpha z, & z \leq 0 \end{cases}"
    )


def test_the_new_activations_print_as_operators():
    import sympy as sp

    from derive.core.functions import elu, gelu, silu, softplus

    z, a = sp.symbols("z alpha")
    assert latex(gelu(z)) == r"\operatorname{GELU}(z)"  # as \tanh(z): \left( only around a sum or a fraction
    assert latex(silu(z) ** 2) == r"\operatorname{SiLU}(z)^{2}"
    assert latex(softplus(z)) == r"\operatorname{softplus}(z)"
    assert latex(elu(z, a)) == r"\operatorname{ELU}_{\alpha}(z)"
    assert latex(elu(z, 1)) == r"\operatorname{ELU}(z)"  # α = 1, the usual ELU, is not written


def test_named_functions_print_like_tanh_without_stray_braces_or_spaces():
    """erf, sign and the vocabulary's GELU were printed operatorname{erf}{\\left(… \\right)} and
    GELU\\left(z\\right): now as \\tanh(z) is, brackets grown only around a sum or a fraction."""
    from derive.core.functions import gelu

    a, b, z = sp.symbols("a b z", real=True)
    cases = [
        (sp.erf(z), r"\operatorname{erf}(z)"),
        (sp.erf(z / 2), r"\operatorname{erf}\left(\frac{z}{2}\right)"),
        (sp.sign(a - b), r"\operatorname{sign}\left(a - b\right)"),
        (gelu(z), r"\operatorname{GELU}(z)"),
        (gelu(a + b), r"\operatorname{GELU}\left(a + b\right)"),
        (sp.tanh(z), r"\tanh(z)"),
    ]
    for expr, tex in cases:
        assert latex(expr) == tex


def test_no_lecture_has_stray_braces_or_spaces_around_arguments(cli):
    from conftest import ROOT

    for spec in ("gelu-mae-decay.yaml", "mlp-backprop.yaml", "graph-sin-cos-exp.yaml"):
        text = cli(ROOT / "specs" / spec, "--lang", "en").stdout
        assert not re.search(r"\\operatorname\{[A-Za-z]+\}\{\\left\(", text), spec  # erf{\left(…\right)}
        # a simple argument in plain parentheses; a fraction (erf(z/√2)) is tall and gets \left( \right)
        assert not re.search(r"\\operatorname\{[A-Za-z]+\}(_\{[^}]*\})?\\left\((?!\\frac)[A-Za-z0-9_{}\\^]+\\right\)",
                             text), spec
        assert r" \right)" not in text, spec


def test_a_shown_number_survives_being_rebuilt_from_its_args():
    """SymPy rebuilds an expression's nodes from their args (expr.replace, xreplace): a shown number inside a
    product whose sum is rewritten (printing.deviations_summed) must come back the same, not fail (a worked
    graph's row crashed every format of tests/specs/graph-mazur-2-2-2.yaml)."""
    from derive.render.numbers import Num
    from derive.render.printing import deviations_summed

    x, y = sp.symbols("x y")
    shown = Num(sp.Rational(-1, 25), 4, False, "ru")
    assert shown.func(*shown.args) == shown
    product = sp.Mul(shown, x + y, evaluate=False)
    rewritten = deviations_summed(product)
    assert rewritten.has(Num) and latex(rewritten).count("0{,}04") == 1
