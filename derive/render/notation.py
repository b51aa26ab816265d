"""Lecture notation for symbolic sizes: layered tensors W^{[l]}_{jk}, a_k^{[l-1](i)}, and matrix display.

The general derivations of `kind: mlp` are done by SymPy over indexed
quantities whose first index is the layer: `W[l, j, k]` is W_{jk}^{[l]},
`n[l-1]` is n^{[l-1]}. Keeping the layer an ordinary index means SymPy knows
that W^{[l]} and W^{[l+1]} are different (KroneckerDelta(l, l+1) = 0) and a
general formula becomes a concrete one by plain substitution (l -> 2, n[1] -> 3).

Each quantity prints itself through the project's one printer (the
`_derive_latex` print method of DeriveLatexPrinter); the matrix-form display
classes are named `Had`, `MatProd`, `Tr` so the printer's `_print_Had`,
`_print_MatProd`, `_print_Tr` lay them out (⊙, juxtaposition, ᵀ).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.render.printing import base_latex

HATS = {"zhat": r"\hat{z}", "yhat": r"\hat{y}"}


@dataclass(frozen=True)
class Style:
    """How a family prints: base letter, whether index 0 is a layer, whether the last is an example."""

    tex: str
    layered: bool = True
    example: bool = False
    partial_of: str | None = None  # "J": the entry is ∂J/∂(the family named `tex`)
    sub_prefix: str = ""  # "B,": μ_{B,k}


_STYLES: dict[str, Style] = {}


def _tex(name: str) -> str:
    return HATS.get(name) or base_latex(name)


def _layer(printer, layer) -> str:
    """[l], [l-1], [l+1], [L]: the symbol first, whatever SymPy's canonical order of l + 1 is."""
    const, rest = layer.as_coeff_Add() if layer.is_Add else (sp.S.Zero, layer)
    if rest == 0:
        return f"[{const}]"
    tex = printer._print(rest)
    if const:
        tex += f"{int(const):+d}" if tex else str(const)
    return f"[{tex}]"


class Entry(sp.Indexed):
    """One entry such as W_{jk}^{[l]} (indices: layer, j, k) or z_k^{(i)}."""

    def _derive_latex(self, printer) -> str:
        style = _STYLES[str(self.base.label)]
        idx = list(self.indices)
        sup = _layer(printer, idx.pop(0)) if style.layered else ""
        if style.example:
            sup += "(" + printer._print(idx.pop()) + ")"
        sub = style.sub_prefix + ("".join if all(_short(i) for i in idx) else ",".join)(
            printer._print(i) for i in idx
        )
        body = style.tex + (f"_{{{sub}}}" if sub else "") + (f"^{{{sup}}}" if sup else "")
        if style.partial_of:
            return rf"\frac{{\partial {style.partial_of}}}{{\partial {body}}}"
        return body


def _short(index) -> bool:
    return index.is_Symbol or (index.is_Integer and 0 <= index < 10)


class Family(sp.IndexedBase):
    """A family of entries; `Family('W')[l, j, k]` is an Entry (the whole family at layer l: `Whole`)."""

    def __new__(cls, name, style: Style | None = None, **kw):
        obj = super().__new__(cls, name, **kw)
        if style is not None:
            _STYLES[name] = style
        return obj

    def __getitem__(self, indices):
        indices = indices if isinstance(indices, tuple) else (indices,)
        return Entry(self, *indices)


def family(name: str, tex: str | None = None, *, layered=True, example=False, partial_of=None,
           sub_prefix="", **assumptions) -> Family:
    return Family(name, Style(tex or _tex(name), layered, example, partial_of, sub_prefix), **assumptions)


class Whole(sp.Function):
    """W^{[l]}, a^{[l-1]}, δ^{[l](i)}: a family's whole vector/matrix at one layer (and example)."""

    nargs = (2, 3)

    def _derive_latex(self, printer) -> str:
        label, layer, *example = self.args
        style = _STYLES[str(label)]
        sup = _layer(printer, layer) if style.layered else ""
        sup += f"({printer._print(example[0])})" if example else ""
        body = style.tex + (f"^{{{sup}}}" if sup else "")
        return rf"\frac{{\partial {style.partial_of}}}{{\partial {body}}}" if style.partial_of else body

    @property
    def is_Symbol(self):  # the printer's Tr writes W^T without parentheses for symbols only
        return False


class Act(sp.Function):
    """f^{[l]}(z): the activation of layer l, generic; its derivative is ActPrime (stated here, as micrograd does)."""

    nargs = 2

    def fdiff(self, argindex=2):
        if argindex != 2:
            return sp.S.Zero
        return ActPrime(*self.args)

    def _derive_latex(self, printer) -> str:
        layer, z = self.args
        return rf"f^{{{_layer(printer, layer)}}}({printer._print(z)})"


class ActName(sp.Function):
    """f^{[l]}, the name of layer l's activation (display only)."""

    nargs = 1

    def _derive_latex(self, printer) -> str:
        return f"f^{{{_layer(printer, self.args[0])}}}"


class ActPrime(sp.Function):
    """f^{[l]′}(z): the derivative of the layer-l activation."""

    nargs = 2

    def _derive_latex(self, printer) -> str:
        layer, z = self.args
        return rf"f^{{{_layer(printer, layer)}\prime}}({printer._print(z)})"


class Grad(sp.Function):
    """∇_{a} J, the gradient of J with respect to a vector (display only)."""

    nargs = 2

    def _derive_latex(self, printer) -> str:
        of, wrt = self.args
        return rf"\nabla_{{{printer._print(wrt)}}} {printer._print(of)}"


class Had(sp.Function):
    """u ⊙ v, the elementwise (Hadamard) product, printed by the printer's _print_Had."""


class Factors(sp.Function):
    """A product shown factor by factor (−½ γ Σ … (σ² + ε)^{−3/2}), printed by the printer's _print_Factors;
    its one argument is the product itself, so evaluating it is evaluating the product (display only)."""

    nargs = 1

    def doit(self, **hints):
        return self.args[0].doit(**hints) if hints.get("deep", True) else self.args[0]


class MatProd(sp.Function):
    """A v, a matrix product in the given order, printed by the printer's _print_MatProd."""


class Tr(sp.Function):
    """Aᵀ, printed by the printer's _print_Tr."""

    nargs = 1


class Kron(sp.Function):
    """The Kronecker delta written as an Iverson bracket I[j = k] (δ is taken by the errors)."""

    nargs = 2

    def _derive_latex(self, printer) -> str:
        j, k = (printer._print(x) for x in self.args)
        return f"I[{j}={k}]"


class Scaled(sp.Function):
    """c (expr) kept apart, as lecturers write (1/m)(a − y) rather than (a − y)/m (display only)."""

    nargs = 2

    def _derive_latex(self, printer) -> str:
        coeff, inner = self.args
        tex = printer._print(inner)
        return f"{printer._print(coeff)} " + (rf"\left({tex}\right)" if inner.is_Add else tex)


class DerivOf(sp.Function):
    """∂/∂x (expr): the derivative about to be taken, with its operand in parentheses (display only)."""

    nargs = 2

    def _derive_latex(self, printer) -> str:
        expr, wrt = self.args
        d = "d" if expr.free_symbols == {wrt} else r"\partial "  # d/dz for a function of one variable
        return rf"\frac{{{d.strip()}}}{{{d}{printer._print(wrt)}}}\left({printer._print(expr)}\right)"


def chain_order(expr: sp.Expr, first: tuple[str, ...]) -> sp.Expr:
    """Products in chain-rule order for display: factors of the families in `first` lead, in that order."""

    def rank(factor) -> int:
        labels = [str(e.base.label) for e in factor.atoms(sp.Indexed)]
        hits = [first.index(lab) for lab in labels if lab in first]
        return min(hits) if hits else len(first)

    def reorder(*args):
        return sp.Mul(*sorted(args, key=rank), evaluate=False)

    return expr.replace(sp.Mul, reorder)


class Hat(sp.Function):
    """ŷ: a hatted name (display only)."""

    nargs = 1

    def _derive_latex(self, printer) -> str:
        return rf"\hat{{{printer._print(self.args[0])}}}"


class Prime(sp.Function):
    """f'(z) for a named function application f(z): σ'(z), tanh'(z), ReLU'(z) (display only)."""

    nargs = 1

    def _derive_latex(self, printer) -> str:
        tex = printer._print(self.args[0])
        cut = min(i for i in (tex.find("{\\left("), tex.find("("), len(tex)) if i >= 0)
        return tex[:cut] + "^{\\prime}" + tex[cut:]


class Named(sp.Function):
    """A function written by name, BN(z): `Named(Symbol('BN'), z)` (display only)."""

    nargs = 2

    def _derive_latex(self, printer) -> str:
        name, arg = self.args
        return rf"\operatorname{{{name}}}({printer._print(arg)})"


class Assign(sp.Function):
    """lhs := rhs, an update rule (display only)."""

    nargs = 2

    def _derive_latex(self, printer) -> str:
        lhs, rhs = self.args
        return f"{printer._print(lhs)} := {printer._print(rhs)}"


def in_range(expr: sp.Expr) -> sp.Expr:
    """Drop the Piecewise((e, k <= n), (0, True)) SymPy adds for 'index k within its range'.

    Every index of the lecture runs over its layer's units, so the condition
    holds by construction; only conditions made of index/size inequalities are dropped.
    """

    def unwrap(*pairs):
        value, cond = pairs[0]
        if len(pairs) > 1 and _is_range(cond):
            return value
        return sp.Piecewise(*pairs)

    return expr.replace(sp.Piecewise, unwrap)


def _is_range(cond) -> bool:
    if cond is sp.true:
        return True
    if isinstance(cond, sp.And):
        return all(_is_range(c) for c in cond.args)
    return isinstance(cond, (sp.Le, sp.Ge, sp.Lt, sp.Gt)) and all(
        s.is_integer for s in cond.free_symbols
    )


def pull_constants(expr: sp.Expr) -> sp.Expr:
    """Σ_k c·f_k -> c·Σ_k f_k for factors c free of the summation index (one index per Sum)."""

    def pull(body, *limits):
        if len(limits) != 1 or not body.is_Mul:
            return sp.Sum(body, *limits)
        index = limits[0][0]
        inside = [f for f in body.args if f.has(index)]
        outside = [f for f in body.args if not f.has(index)]
        return sp.Mul(*outside) * sp.Sum(sp.Mul(*inside), *limits)

    return expr.replace(sp.Sum, pull)


def collapse(expr: sp.Expr) -> sp.Expr:
    """Evaluate sums over Kronecker deltas and drop range conditions, until nothing changes."""
    for _ in range(6):
        new = pull_constants(in_range(sp.expand(expr).doit()))
        if new == expr:
            return new
        expr = new
    return expr
