"""The two printers every formula goes through: LaTeX for people, ASCII for programs.

`latex(expr, **settings)` prints textbook LaTeX: θ_{01} from `theta_01`,
W^{[2]}_{11} from `W2_11`, I[z_1>0] for indicators, a[z] for ReLU, ∂y/∂h_1
for backward quantities; products keep their chain-rule order. `ascii(expr)`
prints the CONTRACT's JSON syntax (`phi_1*I(u_1 > 0)*psi_11`), which the
answer parser reads back. Notation lives in the tables and settings below.
"""

from __future__ import annotations

import re
from functools import lru_cache

import sympy as sp
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda",
    "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega",
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
}
GREEK_VARIANTS = {"epsilon": r"\varepsilon"}
NAME_RE = re.compile(r"(?P<base>[A-Za-z]+?)(?P<layer>\d*)(?:_(?P<index>[A-Za-z0-9_]+))?\Z")
RELATION_TEX = {">": ">", "<": "<", ">=": r"\ge ", "<=": r"\le "}
INDICATOR_TEX = {"I": "I", "1": r"\mathbb{1}", "bbI": r"\mathbb{I}"}


def base_latex(base: str) -> str:
    if base in GREEK:
        return GREEK_VARIANTS.get(base, "\\" + base)
    return base if len(base) == 1 else rf"\mathrm{{{base}}}"


def latex_name(name: str) -> str:
    """theta_01 -> \\theta_{01}; x_1 -> x_1; W2_11 -> W^{[2]}_{11}; theta_10_3 -> \\theta_{10,3}."""
    m = NAME_RE.match(name)
    if not m:
        return rf"\mathrm{{{name}}}"
    tex = base_latex(m["base"])
    if m["layer"]:
        tex += f"^{{[{m['layer']}]}}"
    if m["index"]:
        index = ",".join(m["index"].split("_"))
        tex += f"_{index}" if len(index) == 1 else f"_{{{index}}}"
    return tex


def _ordered(terms: list[sp.Expr]) -> list[sp.Expr]:
    """Positive terms first (y − t, not −t + y); otherwise the given order."""
    return sorted(terms, key=lambda t: t.could_extract_minus_sign())


class DeriveLatexPrinter(LatexPrinter):
    """SymPy's LaTeX printer with derive's notation (see the module docstring)."""

    printmethod = "_derive_latex"
    _default_settings = {
        **LatexPrinter._default_settings,
        "order": "none",
        "partials": {},
        "indicator": "I",
        "relu": "a",
        "notation": "math",
    }

    def _as_ordered_terms(self, expr, order=None):
        return _ordered(list(expr.args)) if (order or self.order) == "none" else super()._as_ordered_terms(expr, order)

    def _print_Symbol(self, expr, style="plain"):
        partial = self._settings["partials"].get(expr)
        if partial:
            of, node = (self._print(s) for s in partial)
            return rf"\frac{{\partial {of}}}{{\partial {node}}}"
        return latex_name(expr.name)

    def _print_Derivative(self, expr):
        """∂y/∂θ_{01} as a fraction (first order, one variable: all derive prints)."""
        (wrt, count), = expr.variable_count
        of = self._print(expr.expr)
        return rf"\frac{{\partial {of}}}{{\partial {self._print(wrt)}}}"

    def _print_Indicator(self, expr):
        cond = expr.args[0]
        inner = f"{self._print(cond.lhs)}{RELATION_TEX[cond.rel_op]}{self._print(cond.rhs)}"
        return f"{INDICATOR_TEX[self._settings['indicator']]}[{inner}]"

    def _print_relu(self, expr):
        arg = self._print(expr.args[0])
        return f"a[{arg}]" if self._settings["relu"] == "a" else rf"\operatorname{{ReLU}}({arg})"

    def _print_leaky_relu(self, expr):
        z, alpha = (self._print(a) for a in expr.args)
        return rf"\operatorname{{LReLU}}_{{{alpha}}}({z})"

    def _print_sigmoid(self, expr):
        return rf"\sigma({self._print(expr.args[0])})"

    def _print_Heaviside(self, expr):
        return rf"\operatorname{{H}}({self._print(expr.args[0])})"


    def _print_Piecewise(self, expr):
        """Cases with conditions only, no words (SymPy writes 'for' and 'otherwise', in English):
        the last case's `True` becomes the negation of the one condition before it."""
        rows = []
        for k, (value, cond) in enumerate(expr.args):
            if cond == sp.true and k == 1:
                cond = sp.Not(expr.args[0][1])
            condition = "" if cond == sp.true else self._print(cond)
            rows.append(f"{self._print(value)}, & {condition}")
        return r"\begin{cases} " + r" \\ ".join(rows) + r" \end{cases}"

    # -- matrix notation (view: vector): math ⊙ Wᵀ, or numpy * @ .T (seed 002) --------
    def _numpy(self) -> bool:
        return self._settings["notation"] == "numpy"

    def _operand(self, arg) -> str:
        tex = self._print(arg)
        return rf"\left({tex}\right)" if arg.is_Add or (arg.is_Mul and not self._numpy()) else tex

    def _print_Had(self, expr):
        def operand(arg):
            return rf"\left({self._print(arg)}\right)" if arg.func.__name__ == "MatProd" else self._operand(arg)

        return (" * " if self._numpy() else r" \odot ").join(operand(a) for a in expr.args)

    def _print_softmax(self, expr):
        return rf"\operatorname{{softmax}}({self._print(expr.args[0])})"

    def _print_MatProd(self, expr):
        return (" @ " if self._numpy() else " ").join(self._operand(a) for a in expr.args)

    def _print_Tr(self, expr):
        base = self._print(expr.args[0])
        if self._numpy():
            return f"{base}.T"
        return rf"\left({base}\right)^T" if "^" in base or not expr.args[0].is_Symbol else f"{base}^T"

    def _print_Total(self, expr):
        (v,) = expr.args
        if self._numpy():
            return rf"\operatorname{{sum}}({self._print(v)})"
        return rf"\textstyle\sum_k {self._print(v)}_k"


class AsciiPrinter(StrPrinter):
    """The CONTRACT's expression syntax: SymPy str() with I(cond), relu, sigmoid, leaky_relu."""

    _default_settings = {**StrPrinter._default_settings, "order": "none"}

    def _as_ordered_terms(self, expr, order=None):
        return _ordered(list(expr.args)) if (order or self.order) == "none" else super()._as_ordered_terms(expr, order)

    def _print_Indicator(self, expr):
        return f"I({self._print(expr.args[0])})"

    def _print_Exp1(self, expr):
        return "exp(1)"


def latex(expr: sp.Expr, **settings) -> str:
    return DeriveLatexPrinter(settings).doprint(expr)


@lru_cache(maxsize=65536)
def ascii(expr: sp.Expr) -> str:
    """Cached: the verifier and the JSON renderer print the same formulas."""
    return AsciiPrinter().doprint(expr)
