"""Typography a lecturer expects (issue 15): each item checked against the output, with its reference.

* the CS231n worked example (seed 001: x = −2, y = 5, z = −4, q = x + y = 3) spells the
  chain-rule step out as "= z · 1 = (−4) · 1 = −4";
* factors of a product are set apart by thin spaces, φ₁ I[u₁>0] h₁ (seed 000's product);
* d/dz for a function of one variable (seed 004: dσ/dz, dtanh/dz), ∂ for several;
* English quotation marks as TeX sets them, ``…'', never straight or typed curly quotes.
"""

from __future__ import annotations

import re

import pytest

import sympy as sp

from conftest import ROOT


def _spec(name: str):
    return ROOT / "specs" / name


def test_graph_steps_multiply_out_as_cs231n_does(cli):
    md = cli(_spec("graph-add-mul.yaml"), "--lang", "en").stdout
    # df/dx = df/dq · dq/dx = z · 1 = (−4) · 1 = −4 (CS231n's numbers)
    step = re.search(r"\\frac\{\\partial f\}\{\\partial x\} = \\frac\{\\partial f\}\{\\partial q\} "
                     r"\\frac\{\\partial q\}\{\\partial x\} = (.*)$", md, re.M)
    assert step is not None
    assert step.group(1) == r"z \cdot 1 = \left(-4\right) \cdot 1 = -4"


def test_factors_are_set_apart_by_thin_spaces(cli):
    md = cli(_spec("two-layer-relu.yaml"), "--lang", "en").stdout
    line = next(x for x in md.splitlines() if x.startswith(r"\frac{\partial y}{\partial h_1} ="))
    products = line.split(" = ", 1)[1].split(" + ")
    assert products == [r"\phi_1 \, I[u_1>0] \, \psi_{11}", r"\phi_2 \, I[u_2>0] \, \psi_{12}"]


def test_d_for_one_variable_partial_for_several():
    from derive.core.calculus import sigmoid
    from derive.render.printing import latex

    x, y, z = sp.symbols("x y z", real=True)
    assert latex(sp.Derivative(sigmoid(z), z)) == r"\frac{d \sigma(z)}{d z}"
    assert latex(sp.Derivative(sp.tanh(z), z)) == r"\frac{d \tanh(z)}{d z}"
    assert latex(sp.Derivative(x * y, x)).startswith(r"\frac{\partial")


def test_lectures_use_d_for_activations(cli):
    for spec, want in (("sigmoid-bce.yaml", r"\frac{d \sigma(z)}{d z}"), ("two-layer-relu.yaml", r"\frac{d a[z]}{d z}"),
                       ("mlp-backprop.yaml", r"\frac{d a}{d z}")):
        assert want in cli(_spec(spec), "--lang", "en").stdout, spec


def test_english_quotes_in_latex_are_tex_quotes(cli):
    for spec in ("mlp-backprop.yaml", "residual-mlp.yaml"):
        tex = cli(_spec(spec), "--lang", "en", "--format", "tex").stdout
        body = tex[tex.index(r"\begin{document}"):]
        prose = re.sub(r"\$[^$]*\$|\\\[.*?\\\]|\\begin\{(equation|align|gather)\*?\}.*?\\end\{\1\*?\}", "", body, flags=re.S)
        assert re.search(r"``[^`']+''", prose), spec
        assert not re.search("[\u201c\u201d\"]", prose), spec


def test_a_spaced_dash_is_tied_to_the_word_before_it():
    from derive.render.tex import Converter

    # «x — y»: a no-break space before the dash, so no line of the PDF starts with it (Russian, Polish)
    (para,) = [b for b in Converter().blocks("$.T$ — транспонирование, а «x» — вектор.\n") if b.kind == "para"]
    assert r"$.T$~— транспонирование" in para.tex and "x»~— вектор" in para.tex and " —" not in para.tex


@pytest.mark.parametrize("spec", ["sigmoid-layer.yaml", "leaky-relu.yaml"])
def test_no_line_of_a_russian_pdf_starts_with_a_dash(spec, tmp_path):
    from texharness import latex_of, pdf_text, require_latex
    from derive.render.pdf import compile_pdf

    require_latex()
    tex = latex_of(_spec(spec), "ru")
    assert " —" not in tex.split("\\begin{document}")[-1]
    pdf = compile_pdf(tex, tmp_path / "ru.pdf")
    lines = [x.strip() for x in pdf_text(pdf).splitlines()]
    assert lines and not [x for x in lines if x.startswith("—")]
