"""The safe math parser: every construct of CONTRACT section 4, and every hostile input refused.

References are SymPy objects built directly with SymPy's API (not by the
parser), and the seed documents' formulas typed from tests/seeds/000.txt.
Hostile inputs must raise ParseError (with a column and what was expected),
never run anything and never raise anything else.
"""

from __future__ import annotations

import os

import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.core.calculus import Indicator, leaky_relu, relu, sigmoid
from derive.core.parse import ParseError, UnknownName, canonical_name, parse_math

S = sp.Symbol
x, z, u_1, u_2, z_1, h_1, h_2, g_1 = (S(n) for n in "x z u_1 u_2 z_1 h_1 h_2 g_1".split())
phi_1, psi_11, psi_21, theta_01, W2_11 = (S(n) for n in "phi_1 psi_11 psi_21 theta_01 W2_11".split())
NAMES = {str(s): s for s in (x, z, u_1, u_2, z_1, h_1, h_2, g_1, phi_1, psi_11, psi_21, theta_01, W2_11, S("dy_dh_1"))}


def I(cond):  # noqa: E743 - the indicator, as the seeds write it
    return Indicator(cond)


# -- constructs ------------------------------------------------------------------------------

CONSTRUCTS = [
    # products, powers, sums
    ("phi_1*psi_11", phi_1 * psi_11),
    ("phi_1 psi_11", phi_1 * psi_11),
    (r"\phi_1 \cdot \psi_{11}", phi_1 * psi_11),
    (r"\phi_1 \times \psi_{11}", phi_1 * psi_11),
    ("2x", 2 * x),
    ("x^2", x**2),
    ("x**2", x**2),
    ("x^{2}", x**2),
    ("x - z + 1", x - z + 1),
    ("-x", -x),
    ("(x + z)(x - z)", (x + z) * (x - z)),
    # indicators: I[..], I(..), 1[..], [..], H(..), Heaviside(..), blackboard bold, subscripts, set braces
    ("I[u_1>0]", I(u_1 > 0)),
    ("I(u_1 > 0)", I(u_1 > 0)),
    ("1[u_1>0]", I(u_1 > 0)),
    ("[u_1>0]", I(u_1 > 0)),
    ("H(u_1)", I(u_1 > 0)),
    ("Heaviside(u_1)", I(u_1 > 0)),
    (r"\mathbb{1}[u_1>0]", I(u_1 > 0)),
    (r"\mathbb{I}[u_1>0]", I(u_1 > 0)),
    (r"\mathbb{1}\{u_1>0\}", I(u_1 > 0)),
    (r"\mathbb{1}_{\{u_1>0\}}", I(u_1 > 0)),
    (r"1_{u_1>0}", I(u_1 > 0)),
    (r"\mathbb{1}_{u_1 > 0}", I(u_1 > 0)),
    ("I[0 < u_1]", I(u_1 > 0)),
    ("I[u_1 >= 0]", I(sp.Ge(u_1, 0))),
    (r"I[u_1 \geq 0]", I(sp.Ge(u_1, 0))),
    # functions
    ("max(0, z_1)", sp.Max(0, z_1)),
    (r"\max\left(0, z_1\right)", sp.Max(0, z_1)),
    ("relu(z_1)", relu(z_1)),
    (r"\operatorname{ReLU}(z_1)", relu(z_1)),
    ("a[z_1]", relu(z_1)),  # seed 000 writes the ReLU as a[·]
    ("sigma(z)", sigmoid(z)),
    (r"\sigma(z)", sigmoid(z)),
    ("sigmoid(z)", sigmoid(z)),
    ("tanh(z)", sp.tanh(z)),
    (r"\tanh(z)", sp.tanh(z)),
    ("exp(-z)", sp.exp(-z)),
    ("e^{-z}", sp.exp(-z)),
    ("log(x)", sp.log(x)),
    (r"\ln x", sp.log(x)),
    ("leaky_relu(z, 0.1)", leaky_relu(z, sp.Rational(1, 10))),
    # derivatives written with a prime
    ("relu'(z_1)", I(z_1 > 0)),
    (r"\operatorname{ReLU}'(z_1)", I(z_1 > 0)),
    (r"\sigma'(z)", sigmoid(z) * (1 - sigmoid(z))),
    ("tanh'(z)", 1 - sp.tanh(z) ** 2),
    ("leaky_relu'(z, 0.1)", I(z > 0) + sp.Rational(1, 10) * I(sp.Le(z, 0))),
    # LaTeX structure
    (r"\frac{x}{z}", x / z),
    (r"\frac12 x", x / 2),
    (r"\left(x + z\right) h_1", (x + z) * h_1),
    (r"\Big(x + z\Big)\;h_1", (x + z) * h_1),
    # names: Greek, indices, layers, Unicode, long known names
    (r"\theta_{01}", theta_01),
    (r"\theta_{0,1}", theta_01),
    ("θ_01", theta_01),
    (r"W^{[2]}_{11}", W2_11),
    ("dy_dh_1 * x", S("dy_dh_1") * x),
    (r"\frac{\partial y}{\partial h_{1}} x", S("dy_dh_1") * x),
]


@pytest.mark.parametrize("text,expected", CONSTRUCTS, ids=[c[0] for c in CONSTRUCTS])
def test_construct(text, expected):
    assert parse_math(text, names=NAMES) == expected


SEED_000 = [  # tests/seeds/000.txt, lines 53-125, typed as printed there
    (r"\phi_1\,I[u_1>0]\;h_2", phi_1 * I(u_1 > 0) * h_2),
    (r"\Big(\phi_1 I[u_1>0]\psi_{11}+\phi_2 I[u_2>0]\psi_{12}\Big)\;I[z_1>0]\;x",
     (phi_1 * I(u_1 > 0) * psi_11 + S("phi_2") * I(u_2 > 0) * S("psi_12")) * I(z_1 > 0) * x),
    (r"g_1", g_1),
]


@pytest.mark.parametrize("text,expected", SEED_000)
def test_seed_formulas(text, expected):
    names = NAMES | {n: S(n) for n in ("phi_2", "psi_12")}
    assert parse_math(text, names=names) == expected


def test_canonical_names():
    assert canonical_name("theta", ["0", "1"]) == "theta_01"
    assert canonical_name("theta", ["10", "3"]) == "theta_10_3"
    assert canonical_name("W", ["1", "1"], "2") == "W2_11"


def test_without_names_every_identifier_is_a_symbol():
    assert parse_math("alpha x_1") == S("alpha") * S("x_1")


# -- names ------------------------------------------------------------------------------------


def test_unknown_name_lists_it_with_its_column_and_the_known_names():
    with pytest.raises(UnknownName) as info:
        parse_math("phi_1 * foo", names=NAMES)
    assert info.value.names == ["foo"]
    assert "column 9" in str(info.value)
    assert "phi_1" in str(info.value) and "theta_01" in str(info.value)


# -- hostile and absurd input -------------------------------------------------------------------

HOSTILE = [
    ("sinh(x)", "unknown function “sinh”"),
    ("exp'(x)", "unexpected character “'”"),
    ("((x)", "never closed"),
    ("x)", "unbalanced “)”"),
    ("__import__('os')", "column 1"),
    ("__import__('os').system('touch /tmp/derive-pwned')", "column 1"),
    ("lambda: 0", "column"),
    ("lambda x: x", "unexpected character “:”"),
    ("x.y", "'.' is only allowed inside a number"),
    ("x.__class__.__bases__[0].__subclasses__()", "column 2"),
    ("().__class__", "column"),
    ("eval('1')", "unknown function “eval”"),
    ("exec('x')", "unknown function “exec”"),
    ("open('/etc/passwd')", "unknown function “open”"),
    (r"\input{/etc/passwd}", r"unknown LaTeX command \input"),
    (r"\def\x{1}", r"unknown LaTeX command \def"),
    (r"\frac{\partial}{\partial x}", "expected a name after \\partial"),
    (r"\frac{\partial y}{\partial q}", "unknown name “dy_dq”"),
    ("9**9**9**9", "too large"),
    ("2^2^2^2^2^2^2", "too large"),
    ("10^100000", "too large"),
    ("1" * 40, "digits"),
    ("x = 1", "'=' is not allowed"),
    ("", "found nothing"),
    ("x +", "unexpected end of the expression"),
    ("* x", "unexpected “*”"),
    ("I[x]", "needs a comparison"),
    ("x > 0", "only allowed inside I[…]"),
    ("1/0", "division by zero"),
]


@pytest.mark.parametrize("text,message", HOSTILE, ids=[h[0][:30] for h in HOSTILE])
def test_hostile_input_is_a_parse_error(text, message):
    with pytest.raises(ParseError) as info:
        parse_math(text, names=NAMES)
    assert message in str(info.value)
    assert info.value.column is not None


def test_nothing_is_executed(tmp_path):
    marker = tmp_path / "pwned"
    for text in (f"__import__('os').system('touch {marker}')", f"eval(\"open('{marker}', 'w')\")"):
        with pytest.raises(ParseError):
            parse_math(text, names=NAMES)
    assert not marker.exists()


def test_ten_thousand_nested_parentheses():
    text = "(" * 10_000 + "x" + ")" * 10_000
    with pytest.raises(ParseError, match="characters long"):
        parse_math(text, names=NAMES)
    with pytest.raises(ParseError, match="nested deeper than 100 levels"):
        parse_math(text, names=NAMES, max_length=100_000)


def test_a_hundred_thousand_characters():
    with pytest.raises(ParseError, match="100000 characters long; at most 5000"):
        parse_math("x+" * 50_000, names=NAMES)
    with pytest.raises(ParseError, match="column 5001"):
        parse_math("x" * 100_000, names=NAMES)


def test_not_text():
    with pytest.raises(ParseError, match="expected an expression as text"):
        parse_math(["x"], names=NAMES)


def test_syntax_error_says_what_was_expected():
    with pytest.raises(ParseError) as info:
        parse_math("x + * z", names=NAMES)
    assert "column 5" in str(info.value) and "expected" in str(info.value)


TOKENS = ["x", "z_1", "u_1", " ", "(", ")", "[", "]", "{", "}", "+", "-", "*", "^", "**", "/", ">", "0", "1", "9",
          "I", "H", "max", "relu", ",", r"\frac", r"\left(", r"\right)", r"\mathbb{1}", "_", ".", "__", "|", "e"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=30).map("".join))
def test_token_soup_never_crashes(text):
    try:
        result = parse_math(text, names=NAMES)
    except ParseError:
        return
    assert isinstance(result, sp.Basic)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_never_crashes(text):
    try:
        parse_math(text, names=NAMES)
    except ParseError:
        pass


def test_parse_math_signature_is_compatible():
    # graph specs call parse_math(text, names=...) and a location keyword; without names it still works
    from derive.errors import Location

    assert parse_math("x", names=None) == x
    with pytest.raises(ParseError) as info:
        parse_math("x +", location=Location("spec.yaml", 4, 10))
    assert str(info.value).startswith("spec.yaml:4:13")
    assert os.path.basename("spec.yaml") in info.value.show()
