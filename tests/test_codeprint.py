"""The numpy and Maxima printers (derive.codeprint): one-line expected strings, as sympy's printer tests."""

from __future__ import annotations

import pytest
import sympy as sp

from derive.core.calculus import Indicator, leaky_relu, relu, sigmoid
from derive.render.codeprint import elementary, maxima, numpy_code, numpy_printer

x, z, a, w = sp.symbols("x z alpha w")


class softsign(sp.Function):
    """A function as derive's vocabulary defines one: by its definition only."""

    definition = staticmethod(lambda u: u / (1 + sp.Abs(u)))


class opaque(sp.Function):
    """A function with neither a definition nor a rewrite."""


def np_code(expr):
    return numpy_code(expr, numpy_printer())


@pytest.mark.parametrize("expr,expected", [
    (Indicator(z > 0), "unit_step(z)"),
    (Indicator(z < 0), "unit_step(-z)"),
    (Indicator(z >= 0), "(1 - unit_step(-z))"),
    (Indicator(z <= 0), "(1 - unit_step(z))"),
    (x * Indicator(z > w), "x*unit_step(-w + z)"),
    (relu(z), "max(0, z)"),
    (sigmoid(z), "1/(1 + exp(-z))"),
    (leaky_relu(z, a), "(if z > 0 then z else alpha*z)"),
    (x**2 / (w + 1), "x^2/(w + 1)"),
    (x ** sp.Rational(3, 2), "x^(3/2)"),
    (x**-2, "x^(-2)"),
    (sp.sqrt(x), "sqrt(x)"),
    (sp.E * sp.exp(-x) + sp.pi, "%pi + %e*exp(-x)"),
    (sp.Rational(1, 2) * x, "x/2"),
    (sp.log(1 - w), "log(1 - w)"),
    (sp.Symbol("lambda") * x, "lambda_*x"),
    (sp.Symbol("d_m1") + sp.Symbol("ans1") + sp.Symbol("d_1"), "ans1_ + d_1 + d_m1_"),
    (softsign(x), "x/(abs(x) + 1)"),
    (sp.sign(x - w) * sp.erf(x), "erf(x)*signum(-w + x)"),
])
def test_maxima(expr, expected):
    assert maxima(expr) == expected


@pytest.mark.parametrize("expr,expected", [
    (Indicator(z > 0), "numpy.where(z > 0, 1, 0)"),
    (relu(z), "numpy.maximum(0, z)"),
    (sigmoid(z), "1/(1 + numpy.exp(-z))"),
    (leaky_relu(z, a), "numpy.where(z > 0, z, alpha*z)"),
    (x * sp.erf(x), "x*numpy.vectorize(math.erf)(x)"),
    (sp.Symbol("lambda") * x, "lambda_*x"),
    (softsign(x), "x/(abs(x) + 1)"),
    (1 / (x * w), "1/(w*x)"),
])
def test_numpy(expr, expected):
    assert np_code(expr) == expected


def test_a_function_without_any_form_is_refused():
    with pytest.raises(ValueError, match="opaque"):
        elementary(opaque(x))
    assert elementary(x * opaque(x), keep=(opaque,)) == x * opaque(x)
