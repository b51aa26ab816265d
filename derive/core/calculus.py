"""The SymPy classes of backpropagation's own functions: the indicator, ReLU, leaky ReLU, σ; softmax.

Each function states its local derivative next to its definition (``fdiff``),
as micrograd's ops do; tests compare it with SymPy's derivative of the
definition. The registry that names them for specs, grammars, numerics and
printers is `derive.functions`.
"""

from __future__ import annotations

from typing import Sequence

import sympy as sp


class Indicator(sp.Function):
    """I[cond]: 1 where cond holds, 0 elsewhere (an Iverson bracket).

    Piecewise constant, so its derivative is 0 everywhere away from the
    boundary of cond; backpropagation is only ever evaluated there.
    """

    nargs = 1

    @classmethod
    def eval(cls, cond):
        if cond is sp.true:
            return sp.S.One
        if cond is sp.false:
            return sp.S.Zero
        return None

    def _eval_derivative(self, s):
        return sp.S.Zero

    def _eval_rewrite_as_Piecewise(self, cond, **kwargs):
        return sp.Piecewise((1, cond), (0, True))

    def _eval_is_real(self):
        return True


class relu(sp.Function):
    """ReLU(z) = max(0, z); ReLU'(z) = I[z > 0]."""

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_number and z.is_real:
            return sp.Max(0, z)
        return None

    def fdiff(self, argindex=1):
        return Indicator(self.args[0] > 0)

    def _eval_rewrite_as_Max(self, z, **kwargs):
        return sp.Max(0, z)


class leaky_relu(sp.Function):
    """LeakyReLU(z, α) = z for z > 0, αz otherwise; derivative I[z>0] + α I[z≤0]."""

    nargs = 2

    @classmethod
    def eval(cls, z, alpha):
        if z.is_number and z.is_real:
            return z if z > 0 else alpha * z
        return None

    def fdiff(self, argindex=1):
        z, alpha = self.args
        if argindex == 1:
            return sp.Add(Indicator(z > 0), alpha * Indicator(z <= 0), evaluate=False)
        return z * Indicator(z <= 0)

    def _eval_rewrite_as_Piecewise(self, z, alpha, **kwargs):
        return sp.Piecewise((z, z > 0), (alpha * z, True))


class sigmoid(sp.Function):
    """σ(z) = 1 / (1 + e^{-z}); σ'(z) = σ(z)(1 − σ(z))."""

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_Number:
            return 1 / (1 + sp.exp(-z))
        return None

    def fdiff(self, argindex=1):
        return sp.Mul(self, 1 - self, evaluate=False)

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sp.exp(-z))


def softmax(zs: Sequence[sp.Expr]) -> list[sp.Expr]:
    """softmax(z)_j = e^{z_j} / Σ_k e^{z_k}."""
    total = sp.Add(*[sp.exp(z) for z in zs])
    return [sp.exp(z) / total for z in zs]


def softmax_jacobian(zs: Sequence[sp.Symbol], ys: Sequence[sp.Symbol]) -> list[list[sp.Expr]]:
    """∂y_k/∂z_j of softmax, by SymPy, rewritten with the outputs: y_k(1 − y_k), −y_k y_j.

    The rewrite e^{z_k} = y_k S with S = Σ e^{z} is exact, so no identity such
    as Σ y = 1 is assumed.
    """
    return [[in_softmax_outputs(sp.diff(yk, zj), zs, ys) for zj in zs] for yk in softmax(zs)]


def in_softmax_outputs(derivative: sp.Expr, zs: Sequence[sp.Symbol], ys: Sequence[sp.Symbol]) -> sp.Expr:
    """A derivative of softmax(zs) written with its outputs ys: e^{z_k} = y_k S with S = Σ e^{z} (exact)."""
    total, S = sp.Add(*[sp.exp(z) for z in zs]), sp.Dummy("S")
    in_y = {sp.exp(z): y * S for z, y in zip(zs, ys)}
    return tidy_sign(sp.factor(sp.simplify(derivative.subs(total, S).subs(in_y))))


def tidy_sign(expr: sp.Expr) -> sp.Expr:
    """−y(y − 1) → y(1 − y): move a leading minus into a sum factor, as textbooks write it."""
    if not (expr.is_Mul and expr.could_extract_minus_sign()):
        return expr
    sums = [f for f in expr.args if f.is_Add]
    if len(sums) != 1:
        return expr
    rest = [f for f in (-expr).args if f is not sums[0] and f != -sums[0]]
    return sp.Mul(*rest, -sums[0])
