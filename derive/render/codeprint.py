"""Expressions as code for other programs: numpy (notebooks) and Maxima (STACK questions in Moodle).

Both printers read the same SymPy expressions as the LaTeX printer. derive's
own functions (I[·], ReLU, σ, …) are first rewritten into SymPy's elementary
ones by their own rewrite rules (`elementary`), so no table of functions is
kept here; the indicator I[·] has a Maxima form of its own, unit_step (0 at
the kink, as derive's I[z > 0] is), which STACK lets students type.
"""

from __future__ import annotations

import keyword
import re

import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter


REWRITE_TARGETS = (sp.Max, sp.exp, sp.Piecewise)  # SymPy functions derive's own may be rewritten as


def elementary(expr: sp.Expr, keep: tuple[type, ...] = ()) -> sp.Expr:
    """expr with derive's own functions (I, relu, sigmoid, gelu, …) written with SymPy's, by their own
    definition (`definition`, as derive's vocabulary defines functions) or rewrite rules (as Max, exp,
    Piecewise); the classes in keep are left for the printer."""
    def own(node):
        return (isinstance(node, sp.Function) and not type(node).__module__.startswith("sympy.")
                and not isinstance(node, keep))

    def rewritten(node):
        definition = getattr(type(node), "definition", None)
        if callable(definition):
            return elementary(definition(*node.args), keep)
        for target in REWRITE_TARGETS:
            other = node.rewrite(target)
            if other != node:
                return elementary(other, keep)
        raise ValueError(f"no elementary form for {type(node).__name__}: it has no definition and no rewrite "
                         f"as Max, exp or Piecewise")

    return expr.replace(own, rewritten)


# -- numpy -----------------------------------------------------------------------------------


# names the generated code uses itself (modules, the notebook's functions and variables)
PYTHON_TAKEN = {"numpy", "math", "functools", "forward", "output", "point", "derivatives", "worst", "name", "value",
                "up", "down", "estimate", "error"}


def python_name(name: str) -> str:
    """A JSON name as a Python variable: keywords and the code's own names get a trailing _ (`lambda_`)."""
    return f"{name}_" if keyword.iskeyword(name) or name in PYTHON_TAKEN else name


def numpy_printer():
    """SymPy's NumPyPrinter, with the forms a student reads easily: numpy.where(z > 0, 1, 0) for a
    two-piece Piecewise, numpy.maximum(0, z), infix comparisons. Its module_imports say what to import."""
    from sympy.printing.numpy import NumPyPrinter

    class Printer(NumPyPrinter):
        def _print_Piecewise(self, expr):
            if len(expr.args) == 2 and expr.args[1].cond == sp.true:
                (a, cond), (b, _) = expr.args
                return f"numpy.where({self._infix(cond)}, {self._print(a)}, {self._print(b)})"
            return super()._print_Piecewise(expr)

        def _print_Max(self, expr):
            if len(expr.args) == 2:
                return f"numpy.maximum({self._print(expr.args[0])}, {self._print(expr.args[1])})"
            return super()._print_Max(expr)

        def _infix(self, rel):
            return f"{self._print(rel.lhs)} {rel.rel_op} {self._print(rel.rhs)}"

        def _print_Relational(self, expr):
            return f"({self._infix(expr)})"

        def _print_Pow(self, expr, rational=False):
            if expr.exp == -1:  # 1/(1 + e^-z), not (1 + e^-z)**(-1.0)
                return f"1/{self.parenthesize(expr.base, PRECEDENCE['Pow'], strict=True)}"
            return super()._print_Pow(expr, rational=rational)

        def _print_erf(self, expr):  # numpy has no erf (NumPyPrinter would reach for SciPy)
            self.module_imports.setdefault("math", set())
            return f"numpy.vectorize(math.erf)({self._print(expr.args[0])})"

    return Printer({"strict": True})


def numpy_code(expr: sp.Expr, printer) -> str:
    """expr as numpy code by printer (names that are Python keywords get a trailing _)."""
    renamed = {s: sp.Symbol(python_name(s.name)) for s in expr.free_symbols if python_name(s.name) != s.name}
    return printer.doprint(elementary(expr).xreplace(renamed))

# -- Maxima ----------------------------------------------------------------------------------

# Maxima's keywords cannot name a variable (its function names can: psi, gamma are fine as variables)
MAXIMA_RESERVED = {"and", "or", "not", "do", "else", "elseif", "for", "from", "if", "in", "next", "step", "then",
                   "thru", "unless", "while", "lambda"}


class MaximaPrinter(StrPrinter):
    """Maxima syntax: ^ for powers, %e and %pi, max/min/abs, if-then-else, and unit_step for I[·]."""

    printmethod = "_maxima"

    def _print_Symbol(self, expr):
        return maxima_name(expr.name)

    def _print_Pow(self, expr, rational=False):
        if expr.exp == sp.S.Half:
            return f"sqrt({self._print(expr.base)})"
        if expr.exp == -1:
            return f"1/{self.parenthesize(expr.base, PRECEDENCE['Mul'], strict=True)}"
        base = self.parenthesize(expr.base, PRECEDENCE["Pow"], strict=True)
        exp = self.parenthesize(expr.exp, PRECEDENCE["Pow"], strict=True)
        if (exp.startswith("-") or "/" in exp) and not exp.startswith("("):
            exp = f"({exp})"
        return f"{base}^{exp}"

    def _print_Indicator(self, expr):
        cond = expr.args[0]
        lhs, rhs = cond.lhs, cond.rhs
        if isinstance(cond, sp.StrictGreaterThan):
            return f"unit_step({self._print(lhs - rhs)})"
        if isinstance(cond, sp.StrictLessThan):
            return f"unit_step({self._print(rhs - lhs)})"
        if isinstance(cond, sp.GreaterThan):
            return f"(1 - unit_step({self._print(rhs - lhs)}))"
        if isinstance(cond, sp.LessThan):
            return f"(1 - unit_step({self._print(lhs - rhs)}))"
        raise ValueError(f"no Maxima form for the indicator of {cond}")

    def _print_Exp1(self, expr):
        return "%e"

    def _print_Pi(self, expr):
        return "%pi"

    def _print_ImaginaryUnit(self, expr):
        return "%i"

    def _print_Max(self, expr):
        return f"max({', '.join(self._print(a) for a in expr.args)})"

    def _print_Min(self, expr):
        return f"min({', '.join(self._print(a) for a in expr.args)})"

    def _print_Abs(self, expr):
        return f"abs({self._print(expr.args[0])})"

    def _print_sign(self, expr):  # Maxima's sign() answers pos/neg/zero; signum is the number
        return f"signum({self._print(expr.args[0])})"

    def _print_Piecewise(self, expr):
        parts = []
        for i, (value, cond) in enumerate(expr.args):
            if cond == sp.true:
                parts.append(f"else {self._print(value)}")
            else:
                parts.append(f"{'if' if i == 0 else 'elseif'} {self._print(cond)} then {self._print(value)}")
        return f"({' '.join(parts)})"

    def _print_Float(self, expr):
        return repr(float(expr))


def maxima_name(name: str) -> str:
    """A name as a Maxima variable: Maxima's keywords (lambda, if, …) and the names STACK questions use
    themselves (the input ans1, the variables d_ta, d_m1, …) get a trailing _."""
    return f"{name}_" if name in MAXIMA_RESERVED or re.fullmatch(r"ans\d+|d_ta|d_m\d+", name) else name


def maxima(expr: sp.Expr) -> str:
    """expr in Maxima syntax (STACK's teacher's answers); derive's functions other than I[·] rewritten first."""
    from derive.core.calculus import Indicator

    return MaximaPrinter().doprint(elementary(expr, keep=(Indicator,)))
