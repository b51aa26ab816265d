"""Matrix notation of the layer kinds, for display and for the numeric check of every matrix form.

The display classes print through derive's one printer (their `_derive_latex`
hook, or the printer's `_print_Had`/`_print_MatProd`/`_print_Tr` for the
shared classes of derive.matrixnotation). `numeric(expr, arrays)` evaluates a
matrix form with numpy, so a matrix form is compared with the index form it
summarises before it is printed: `arrays(name, sub)` gives the concrete array
of a vector h_t (sub = t) as a column, or of a matrix W (sub = None).
"""

from __future__ import annotations

from functools import reduce

import numpy as np
import sympy as sp

from derive.render.notation import Had, MatProd, Tr

T_ = Tr


class TexName(sp.Symbol):
    """A quantity's name that prints as textbook notation (W^{Q}, σ², x̂) while its ASCII name stays WQ, var, xhat."""

    TEX = {"WQ": "W^{Q}", "WK": "W^{K}", "WV": "W^{V}", "var": r"\sigma^2", "xhat": r"\hat{x}", "mu": r"\mu",
           "gamma": r"\gamma", "beta": r"\beta", "epsilon": r"\varepsilon"}

    PLAIN = {"WQ": "W^Q", "WK": "W^K", "WV": "W^V", "var": "σ²", "xhat": "x̂", "mu": "μ", "gamma": "γ", "beta": "β",
             "epsilon": "ε"}

    @property
    def plain(self) -> str:
        """The name as plain Unicode text (in an SVG figure)."""
        return self.PLAIN.get(self.name, self.name)

    def _derive_latex(self, printer, exp=None) -> str:
        tex = self.TEX.get(self.name, self.name)
        return tex if exp is None else rf"\left({tex}\right)^{{{exp}}}"


class Vec(sp.Function):
    """A vector or matrix by name, with an optional subscript (h_t, x_t; a bold letter): Vec('h', t)."""

    @classmethod
    def eval(cls, *args):
        return None

    def _derive_latex(self, printer, exp=None) -> str:
        name = self.args[0]
        from derive.render.printing import base_latex

        text = str(name)
        of, _, wrt = text.partition("_d") if text.startswith("d") and "_d" in text else ("", "", text)
        letter = base_latex(wrt)  # Greek letters are made bold by \boldsymbol; \mathbf leaves δ as it is
        base = rf"\boldsymbol{{{letter}}}" if letter.startswith("\\") else rf"\mathbf{{{letter}}}"
        tex = base if len(self.args) == 1 else f"{base}_{{{printer._print(self.args[1])}}}"
        if of:  # dL_ds: the gradient ∂L/∂s_i of a whole row or vector
            tex = rf"\frac{{\partial {base_latex(of[1:])}}}{{\partial {tex}}}"
        return tex if exp is None else f"{tex}^{{{exp}}}"

    def _sympystr(self, printer) -> str:
        name = str(self.args[0])
        return name if len(self.args) == 1 else f"{name}_{printer._print(self.args[1])}"

    def __new__(cls, name, *sub):
        return super().__new__(cls, sp.Symbol(name), *[sp.sympify(x) for x in sub])


class Diag(sp.Function):
    """diag(v): the diagonal matrix of a vector."""

    def _derive_latex(self, printer, exp=None) -> str:
        return rf"\operatorname{{diag}}\left({printer._print(self.args[0])}\right)"


class Norm(sp.Function):
    """‖A‖₂, the spectral norm (largest singular value)."""

    def _derive_latex(self, printer, exp=None) -> str:
        tex = rf"\left\lVert {printer._print(self.args[0])} \right\rVert_2"
        return tex if exp is None else f"{tex}^{{{exp}}}"


class Leq(sp.Function):
    """a ≤ b ≤ c: a chain of inequalities, for display."""

    def _derive_latex(self, printer, exp=None) -> str:
        return r" \le ".join(printer._print(a) for a in self.args)


class Softmax(sp.Function):
    """softmax applied to each row."""

    def _derive_latex(self, printer, exp=None) -> str:
        return rf"\operatorname{{softmax}}\left({printer._print(self.args[0])}\right)"


# -- numbers -------------------------------------------------------------------------------------


def numeric(expr: sp.Expr, arrays, at: dict | None = None):
    """The value of a matrix form; `at` gives the numbers of free indices such as t."""
    at = at or {}
    rule = RULES.get(type(expr)) or next((RULES[c] for c in type(expr).__mro__ if c in RULES), None)
    if rule is None:
        raise KeyError(f"no numeric rule for {type(expr).__name__} (in {expr})")
    return rule(expr, arrays, at)


def _vec(e, arrays, at):
    sub = int(sp.sympify(e.args[1]).xreplace({k: sp.Integer(v) for k, v in at.items()})) if len(e.args) > 1 else None
    return arrays(str(e.args[0]), sub)


def _symbol(e, arrays, at):
    if e in at:
        return at[e]
    return arrays(str(e), None)


def _sum(e, arrays, at):
    (ix, lo, hi), = e.limits
    lo, hi = (int(sp.sympify(v).xreplace({k: sp.Integer(x) for k, x in at.items()})) for v in (lo, hi))
    return sum(numeric(e.function, arrays, {**at, ix: n}) for n in range(lo, hi + 1))


RULES = {
    Vec: _vec,
    sp.Symbol: _symbol,
    sp.Integer: lambda e, a, at: float(e),
    sp.Rational: lambda e, a, at: float(e),
    sp.Float: lambda e, a, at: float(e),
    sp.Add: lambda e, a, at: reduce(np.add, [numeric(x, a, at) for x in e.args]),
    sp.Mul: lambda e, a, at: reduce(np.multiply, [numeric(x, a, at) for x in e.args]),
    sp.Pow: lambda e, a, at: np.power(numeric(e.base, a, at), numeric(e.exp, a, at)),
    Had: lambda e, a, at: reduce(np.multiply, [numeric(x, a, at) for x in e.args]),
    MatProd: lambda e, a, at: reduce(lambda u, v: u @ v if np.ndim(u) and np.ndim(v) else u * v,
                                     [numeric(x, a, at) for x in e.args]),
    Tr: lambda e, a, at: np.transpose(numeric(e.args[0], a, at)),
    Diag: lambda e, a, at: np.diag(np.ravel(numeric(e.args[0], a, at))),
    sp.tanh: lambda e, a, at: np.tanh(numeric(e.args[0], a, at)),
    sp.exp: lambda e, a, at: np.exp(numeric(e.args[0], a, at)),
    sp.sqrt: lambda e, a, at: np.sqrt(numeric(e.args[0], a, at)),
    Softmax: lambda e, a, at: _softmax(numeric(e.args[0], a, at)),
    sp.Sum: _sum,
}


def _softmax(S):
    E = np.exp(S - S.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)
