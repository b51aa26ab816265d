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
from sympy.printing.precedence import precedence
from sympy.printing.str import StrPrinter

GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda",
    "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega",
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
}
GREEK_VARIANTS = {"epsilon": r"\varepsilon"}
SPELLINGS = {"lamda": "lambda"}  # λ as SymPy spells it in names (lambda is a Python keyword)
NAME_RE = re.compile(r"(?P<base>[A-Za-z]+?)(?P<layer>\d*)(?:_(?P<index>[A-Za-z0-9_]+))?\Z")
RELATION_TEX = {">": ">", "<": "<", ">=": r"\ge ", "<=": r"\le "}
INDICATOR_TEX = {"I": "I", "1": r"\mathbb{1}", "bbI": r"\mathbb{I}"}


def base_latex(base: str) -> str:
    base = SPELLINGS.get(base, base)
    if base in GREEK:
        return GREEK_VARIANTS.get(base, "\\" + base)
    return base if len(base) == 1 else rf"\mathrm{{{base}}}"


# Subscripts that are words, set upright as words are (H_{\mathrm{out}}); letters such as ij stay indices.
WORD_SUBSCRIPTS = {"in", "out", "max", "min", "hid", "prev", "next", "new", "old", "true", "pred", "avg", "total"}


def _subscript(part: str) -> str:
    return rf"\mathrm{{{part}}}" if part in WORD_SUBSCRIPTS else part


def latex_name(name: str) -> str:
    """theta_01 -> \\theta_{01}; x_1 -> x_1; W2_11 -> W^{[2]}_{11}; theta_10_3 -> \\theta_{10,3};
    H_out -> H_{\\mathrm{out}}."""
    m = NAME_RE.match(name)
    if not m:
        return rf"\mathrm{{{name}}}"
    tex = base_latex(m["base"])
    if m["layer"]:
        tex += f"^{{[{m['layer']}]}}"
    if m["index"]:
        index = ",".join(_subscript(part) for part in m["index"].split("_"))
        tex += f"_{index}" if len(index) == 1 else f"_{{{index}}}"
    return tex


def _ordered(terms: list[sp.Expr], terms_order: str = "given") -> list[sp.Expr]:
    """Positive terms first (y − t, not −t + y), a weight-decay term λ w last; otherwise the given order, or, with
    terms_order="bias-last", numbers, then compound terms, then lone names: Wa + b, √(σ² + ε).
    An index and a number stay as written in indices: l + 1, not 1 + l."""
    if len(terms) == 2 and any(t.is_Integer for t in terms) and any(t.is_Symbol and t.is_integer for t in terms):
        return sorted(terms, key=lambda t: t.is_Integer)
    if terms_order == "bias-last":
        return sorted(terms, key=lambda t: (_decay(t), t.could_extract_minus_sign(), _term_rank(t)))
    return sorted(terms, key=lambda t: (_decay(t), t.could_extract_minus_sign()))


def _decay(term: sp.Expr) -> bool:
    """A weight-decay term λ w: written after the chain-rule terms it is added to (… + λ φ₁)."""
    term = -term if term.could_extract_minus_sign() else term
    return term.is_Mul and any(f.is_Symbol and SPELLINGS.get(f.name, f.name) == "lambda" for f in term.args)


def ordered_terms(terms: list[sp.Expr], terms_order: str = "given") -> list[sp.Expr]:
    """A sum's terms in the order the printer writes them (for numbers substituted term by term)."""
    return _ordered(list(terms), terms_order)


def _term_rank(term: sp.Expr) -> int:
    term = -term if term.could_extract_minus_sign() else term
    if term.is_number:
        return 0
    if term.is_Symbol and term.name in SMALL_CONSTANTS:
        return 3
    return 2 if term.is_Symbol or isinstance(term, sp.Indexed) else 1


SMALL_CONSTANTS = {"epsilon"}  # written last in a sum: √(σ² + ε)
COEFFICIENTS = {"alpha", "beta", "gamma", "eta", "lambda"}  # written in front: α z, η ∂J/∂W


WEIGHTS = {"w", "W", "omega", "theta"}  # names of weights: ω₁ h₁, w x, θ₁ x written weight first


def _is_weight(symbol: sp.Symbol) -> bool:
    m = NAME_RE.match(symbol.name)
    return bool(m) and m["base"] in WEIGHTS


DELTA = re.compile(r"delta\d*\Z")  # δ, δ2: the error that reaches a layer, written first (δ_i a_j, seed 004)


def _lead(factor: sp.Expr) -> int:
    """0 for a coefficient (α, η, the Kronecker 1_{k=i}), 1 for the upstream δ, 2 for the rest."""
    if (factor.is_Symbol and SPELLINGS.get(factor.name, factor.name) in COEFFICIENTS) or isinstance(factor, sp.KroneckerDelta):
        return 0
    name = factor.base.label.name if isinstance(factor, sp.Indexed) else getattr(factor, "name", "")
    return 1 if DELTA.match(name) else 2


def lecture_order(factors: list[sp.Expr]) -> list[sp.Expr]:
    """Factors as lecturers write them: a coefficient such as α first (α z), then the upstream δ
    (δ_i a_j, as seeds 000 and 004 write the chain rule), and x before a sum that contains ±x, so σ(1 − σ)
    and a(1 − a), not SymPy's (1 − σ)σ; other factors keep their place."""
    out = sorted(factors, key=_lead)
    for s in [f for f in factors if f.is_Add]:
        for x in [f for f in out if not f.is_Add and (f in s.args or -f in s.args)]:
            if out.index(x) > out.index(s):
                out.remove(x)
                out.insert(out.index(s), x)
    return out


def _spaced(factor: sp.Expr) -> bool:
    """A bracket notation (I[z>0], a[z]) is set off by thin spaces, as seed 000 sets φ₁ I[u₁>0] ψ₁₁."""
    return type(factor).__name__ in ("Indicator", "relu", "Heaviside")


_SINGLE = re.compile(r"(\\(mathbf|boldsymbol)\{\\?[A-Za-z]+\}|\\?[A-Za-z]+)(_[A-Za-z0-9]|_\{[^{}]*\})?")


def _single(tex: str) -> bool:
    """One letter, bold or not, with at most a subscript (p, \\mathbf{h}_{t - 1}): a transpose needs no
    parentheses around it; W^{[l]} or ∂L/∂S keeps them."""
    return _SINGLE.fullmatch(tex) is not None


def _power(tex: str, exp: str | None) -> str:
    return tex if exp is None else rf"\left({tex}\right)^{{{exp}}}"


def _appearance(expr: sp.Expr) -> list[sp.Symbol]:
    """The index symbols of expr's indexed entries in the order they appear (x_{c,u,v}: c, u, v)."""
    seen: list[sp.Symbol] = []
    for node in sp.preorder_traversal(expr):
        if isinstance(node, sp.Indexed):
            for index in node.indices:
                for s in sorted(sp.sympify(index).free_symbols, key=lambda s: str(index).find(s.name)):
                    if s not in seen:
                        seen.append(s)
    return seen


class _Memo:
    """Remembers what each sub-expression printed as: a network's formulas share most of theirs.

    Keyed by (type, expr), since SymPy's == equates 1 and 1.0; Floats are left out
    because StrPrinter prints them differently at different depths.
    """

    def __init__(self, settings=None):
        super().__init__(settings)
        self._memo: dict = {}

    def _print(self, expr, **kwargs):
        if kwargs or isinstance(expr, sp.Float):
            return super()._print(expr, **kwargs)
        key = (type(expr), expr)
        try:
            return self._memo[key]
        except KeyError:
            text = self._memo[key] = super()._print(expr)
            return text
        except TypeError:  # unhashable (a list of arguments, say)
            return super()._print(expr)


class DeriveLatexPrinter(_Memo, LatexPrinter):
    """SymPy's LaTeX printer with derive's notation (see the module docstring)."""

    printmethod = "_derive_latex"
    _default_settings = {
        **LatexPrinter._default_settings,
        "order": "none",
        "partials": {},
        "indicator": "I",
        "relu": "a",
        "notation": "math",
        "kronecker": "1",
        "decimal": ".",  # the language's decimal sign (derive.numbers.decimal_sign): 0{,}3679 in ru and pl
        "terms": "given",
        "written": {},  # vocabulary function name -> its symbol in this lecture (derive.functions.WRITTEN_APART)
        "fold_frac_powers": True,  # (σ² + ε)^{3/2}, not a fraction in the exponent
        "ordinary": frozenset(),  # variables of one-variable functions: da/dz, not ∂a/∂z  # order of a sum's terms: given (θ_0 + θ_1 x, seed 000) | bias-last (Wa + b)
    }

    def doprint(self, expr):
        if isinstance(expr, sp.Basic) and expr.has(sp.sign):
            expr = _sign_absorbs_minus(expr)
        if isinstance(expr, sp.Basic):
            expr = deviations_summed(expr)
        return super().doprint(expr)

    def _print_ExpBase(self, expr, exp=None):
        """e^{−(wx + θ)}, as seed 003 writes the sigmoid, not SymPy's e^{−wx−θ}: an exponent whose every term is
        negative is written as minus a sum."""
        arg = expr.args[0]
        if arg.is_Add and all(t.could_extract_minus_sign() for t in arg.args):
            return self._do_exponent(rf"e^{{- \left({self._print(-arg)}\right)}}", exp)
        return super()._print_ExpBase(expr, exp)

    def _print_Add(self, expr, order=None):
        """A sum of cases (each term holds an indicator), the case z > 0 first and each term's indicator last:
        I[z>0] + α e^{z} I[z≤0], as the piecewise definition lists its cases; other sums as SymPy prints them."""
        cases = _cases(expr) if self.order == "none" else None
        if cases is None:
            return super()._print_Add(expr, order)
        tex = ""
        for i, (term, indicator) in enumerate(cases):
            rest = self._print(term) if term != 1 else ""
            body = (rest + r" \, " if rest else "") + self._print(indicator)
            tex += body if i == 0 else f" + {body}"
        return tex

    def _as_ordered_terms(self, expr, order=None):
        if (order or self.order) == "none":
            return _ordered(list(expr.args), self._settings["terms"])
        return super()._as_ordered_terms(expr, order)

    def _print_Mul(self, expr):
        """A product without fractions in lecture order (lecture_order), function applications set off
        by thin spaces: \\phi_1 \\, I[u_1>0] \\, \\psi_{11}. Fractions keep SymPy's layout."""
        args = list(expr.args)
        plain = self.order == "none" and not any(
            (a.is_Pow and a.exp.is_negative) or (a.is_Rational and not a.is_Integer) for a in args)
        if not plain and self.order == "none":
            tex = self._over_root(expr) or self._coefficient_form(expr)
            if tex is not None:
                return tex
        if not plain or any(a.is_Number for a in args[1:]) or (args[0].is_Number and args[0].is_negative):
            return super()._print_Mul(expr)
        coeff, factors = (args[0], args[1:]) if args[0].is_Number else (None, args)
        factors = self._weight_first(lecture_order(factors))
        tex = ""
        for i, f in enumerate(factors):
            term = self._print(f)
            if self._needs_mul_brackets(f, first=(i == 0 and coeff is None), last=(i == len(factors) - 1)):
                term = rf"\left({term}\right)"
            if i:
                tex += r" \, " if _spaced(f) or _spaced(factors[i - 1]) else " "
            tex += term
        return f"{self._print(coeff)} {tex}" if coeff is not None else tex

    def _coefficient_form(self, expr) -> str | None:
        """A fraction whose numerator holds a fraction or a sum Σ, written as a coefficient times the rest, as
        lecturers write it: \\frac{1}{\\sqrt{d_k}} \\frac{∂L}{∂S} K, not \\frac{\\frac{∂L}{∂S} K}{\\sqrt{d_k}};
        μ = \\frac{1}{n} Σ_j x_j, not \\frac{Σ_j x_j}{n}; None for any other product."""
        from sympy.simplify import fraction

        negative = expr.could_extract_minus_sign()
        numer, denom = fraction(-expr if negative else expr, exact=True)
        if denom == 1 or not (r"\frac" in self._print(numer) or any(isinstance(f, sp.Sum) for f in sp.Mul.make_args(numer))):
            return None
        coeff, rest = numer.as_coeff_Mul()
        body = self._print(rest)
        if rest.is_Add:
            body = rf"\left({body}\right)"
        return ("- " if negative else "") + f"{self._print(coeff / denom)} {body}"

    def _weight_first(self, factors: list) -> list:
        """A weight times one input, weight first (ω₁ h₁ + β₁, the house order W a + b), whatever SymPy's
        alphabetical order of the two names; longer products keep their chain-rule order."""
        if len(factors) != 2 or not all(f.is_Symbol and f not in self._settings["partials"] for f in factors):
            return factors
        weight = [_is_weight(f) for f in factors]
        return factors[::-1] if weight == [False, True] and _lead(factors[0]) == 2 else factors  # λ w stays

    def _over_root(self, expr) -> str | None:
        """z √2/2 as z/√2 and z √2/(2 √π) as z/√(2π), as the definition GELU(z) = z Φ(z) writes them; SymPy
        rationalises 1/√2 to √2/2. None for a product without √n/n."""
        from sympy.simplify import fraction

        negative = expr.could_extract_minus_sign()
        coeff, rest = (-expr if negative else expr).as_coeff_Mul()
        root = sp.sqrt(coeff.q) if coeff.is_Rational and coeff.q > 1 else None
        if root is None or root not in sp.Mul.make_args(rest):
            return None
        numer, denom = fraction(coeff.p * rest / root, exact=True)
        roots = [f for f in sp.Mul.make_args(denom) if f.is_Pow and f.exp is sp.S.Half]
        others = sp.Mul(*[f for f in sp.Mul.make_args(denom) if f not in roots])
        radicand = self._print(sp.Mul(coeff.q, *[f.base for f in roots], evaluate=False))
        under = (f"{self._print(others)} " if others != 1 else "") + rf"\sqrt{{{radicand}}}"
        return ("- " if negative else "") + rf"\frac{{{self._print(numer)}}}{{{under}}}"

    def _print_Sum(self, expr):
        """Σ over several indices with the outer index first, in the order the indices appear in the
        summand (0 ≤ u ≤ F − 1 before 0 ≤ v ≤ F − 1 for x_{c,u,v}), as lecturers list them; SymPy lists
        the innermost first. Limits that depend on another index keep SymPy's order."""
        limits = list(expr.limits)
        if len(limits) < 2:
            return super()._print_Sum(expr)
        names = {lim[0] for lim in limits}
        if any(s in names for lim in limits for b in lim[1:] for s in sp.sympify(b).free_symbols):
            return super()._print_Sum(expr)
        seen = _appearance(expr.function)
        first = {v: seen.index(v) if v in seen else len(seen) for v in names}
        ordered = sorted(reversed(limits), key=lambda lim: first[lim[0]])
        rows = [rf"{self._print(lo)} \leq {self._print(v)} \leq {self._print(hi)}" for v, lo, hi in ordered]
        tex = r"\sum_{\substack{" + r"\\".join(rows) + "}} "
        body = self._print(expr.function)
        return tex + (rf"\left({body}\right)" if expr.function.is_Add else body)

    def _print_Factors(self, expr):
        r"""A product written factor by factor, as Ioffe & Szegedy (2015) write ∂ℓ/∂σ²:
        -\frac{1}{2} \gamma_k \sum_p … \left(\sigma^2 + \varepsilon\right)^{-3/2}. The sign and the numeric
        coefficient lead, then the factors in lecture order (lecture_order), negative powers last and kept
        as powers (1/√x for the power −½); no fraction bar, and a sum is not bracketed, as the paper sets it
        (every factor after it is free of its index, so Σ_p f_p · c = c Σ_p f_p)."""
        (product,) = expr.args
        coeff, factors = product.as_coeff_mul()
        sign = "- " if coeff.is_negative else ""
        coeff = abs(coeff)
        powers = [f for f in factors if f.is_Pow and f.exp.is_negative]
        rest = lecture_order([f for f in factors if f not in powers])
        parts = [] if coeff == 1 else [self._print(coeff)]
        # a constant set as a fraction (1/√(σ² + ε)) stands before a Σ, so it is not read as inside the sum
        ahead = [f for f in powers if -f.exp in (1, sp.S.Half)] if any(isinstance(f, sp.Sum) for f in rest) else []
        for i, f in enumerate(rest):
            tex = self._print(f)
            if isinstance(f, sp.Sum) and ahead:
                parts += [self._print_negative_power(p) for p in ahead]
                ahead, powers = [], [p for p in powers if p not in ahead]
            parts.append(rf"\left({tex}\right)" if f.is_Add or (f.is_Mul and i) else tex)
        parts += [self._print_negative_power(f) for f in powers]
        return sign + " ".join(parts)

    def _print_negative_power(self, power) -> str:
        """x^{-3/2} as written; 1/√x and 1/x as fractions (the paper's 1/√(σ² + ε))."""
        base, exp = self._print(power.base), -power.exp
        if exp == 1:
            return rf"\frac{{1}}{{{base}}}"
        if exp == sp.S.Half:
            return rf"\frac{{1}}{{\sqrt{{{base}}}}}"
        shown = rf"\left({base}\right)" if not (power.base.is_Symbol or isinstance(power.base, sp.Indexed)) else base
        return rf"{shown}^{{-{exp.p}/{exp.q}}}" if exp.q != 1 else rf"{shown}^{{-{exp.p}}}"

    def _print_Float(self, expr):
        tex = super()._print_Float(expr)
        sign = self._settings["decimal"]
        return tex if sign == "." else tex.replace(".", "{" + sign + "}")

    def _print_Symbol(self, expr, style="plain"):
        partial = self._settings["partials"].get(expr)
        if partial:
            of, node = (self._print(s) for s in partial)
            return rf"\frac{{\partial {of}}}{{\partial {node}}}"
        return latex_name(expr.name)

    def _print_Derivative(self, expr):
        """∂y/∂θ_{01} as a fraction (first order, one variable: all derive prints); dσ(z)/dz where
        the function has one variable, or the variable is in the `ordinary` setting."""
        (wrt, count), = expr.variable_count
        of = self._print(expr.expr)
        if expr.expr.is_Add or expr.expr.is_Mul or expr.expr.is_Pow:  # ∂/∂w (λ/2 w²): the operator, then the term
            return rf"\frac{{\partial}}{{\partial {self._print(wrt)}}}\left({of}\right)"
        one = wrt in self._settings["ordinary"] or (not expr.expr.is_Symbol and len(expr.expr.free_symbols) == 1
                                                    and (expr.expr.free_symbols == {wrt} or not wrt.is_Symbol))
        d = "d" if one else r"\partial"
        return rf"\frac{{{d} {of}}}{{{d} {self._print(wrt)}}}"

    def _print_elementary(self, expr, exp=None):
        r"""\tanh(z), \log(y), \tanh^{2}(z), \operatorname{erf}(z): no stray braces and spaces."""
        name = {"log": r"\log", "tanh": r"\tanh", "sin": r"\sin", "cos": r"\cos", "erf": r"\operatorname{erf}",
                "sign": r"\operatorname{sign}"}[type(expr).__name__]
        power = f"^{{{exp}}}" if exp is not None else ""
        return rf"{name}{power}\left({self._print(expr.args[0])}\right)" if expr.args[0].is_Add or "frac" in \
            self._print(expr.args[0]) else rf"{name}{power}({self._print(expr.args[0])})"

    _print_tanh = _print_log = _print_sin = _print_cos = _print_erf = _print_sign = _print_elementary

    def _print_Function(self, expr, exp=None):
        """f(x, y, z) for a function the lecture names (f, g): no \\left( \\right) and stray spaces."""
        from sympy.core.function import AppliedUndef

        if not isinstance(expr, AppliedUndef):
            return super()._print_Function(expr, exp)
        name = latex_name(expr.func.__name__)
        power = f"^{{{exp}}}" if exp is not None else ""
        return f"{name}{power}(" + ", ".join(self._print(a) for a in expr.args) + ")"

    def _print_Indexed(self, expr):
        """δ_k, W_{i,j}; a named partial indexed: ∂J/∂W_{i,j} (not (∂J/∂W)_{i,j})."""
        indices = ",".join(self._print(i) for i in expr.indices)
        partial = self._settings["partials"].get(expr.base.label)
        if partial:
            of, node = (self._print(s) for s in partial)
            return rf"\frac{{\partial {of}}}{{\partial {node}_{{{indices}}}}}"
        return f"{self._print(expr.base.label)}_{{{indices}}}"

    def _print_KroneckerDelta(self, expr, exp=None):
        """1_{k=i} (seed 001) or the Kronecker δ_{ki}, as the `kronecker` setting says."""
        a, b = (self._print(x) for x in expr.args)
        if self._settings["kronecker"] == "delta":
            return rf"\delta_{{{a}{b}}}"
        return rf"1_{{{b}={a}}}"

    def _print_Indicator(self, expr):
        cond = expr.args[0]
        inner = f"{self._print(cond.lhs)}{RELATION_TEX[cond.rel_op]}{self._print(cond.rhs)}"
        return f"{INDICATOR_TEX[self._settings['indicator']]}[{inner}]"

    # exp: SymPy's _print_Pow passes the exponent of f(x)^2 to the function's printer
    def _print_relu(self, expr, exp=None):
        arg = self._print(expr.args[0])
        return _power(f"a[{arg}]" if self._settings["relu"] == "a" else rf"\operatorname{{ReLU}}({arg})", exp)

    def _print_leaky_relu(self, expr, exp=None):
        z, alpha = (self._print(a) for a in expr.args)
        return _power(rf"\operatorname{{LReLU}}_{{{alpha}}}({z})", exp)

    def _print_sigmoid(self, expr, exp=None):
        return _power(rf"\sigma({self._print(expr.args[0])})", exp)

    def _print_Heaviside(self, expr, exp=None):
        return _power(rf"\operatorname{{H}}({self._print(expr.args[0])})", exp)

    def _print_Basic(self, expr):
        """SymPy's own `_latex` hooks (π, ∞, …), which the `_derive_latex` printmethod would bypass."""
        hook = getattr(expr, "_latex", None)
        return hook(self) if callable(hook) and not isinstance(expr, type) else super()._print_Basic(expr)


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
        """A B (math) or A @ B (numpy); scalar factors such as 1/m stand in front, juxtaposed."""
        scalars = [a for a in expr.args if a.is_number or (a.is_Pow and a.base.is_Symbol and a.exp.is_negative)]
        matrices = [a for a in expr.args if a not in scalars]
        product = (" @ " if self._numpy() else " ").join(self._operand(a) for a in matrices)
        if not scalars:
            return product
        return f"{self._print(sp.Mul(*scalars))} " + (rf"\left({product}\right)" if self._numpy() else product)

    def _print_Tr(self, expr):
        base = self._print(expr.args[0])
        if self._numpy():
            return f"{base}.T"
        return f"{base}^T" if _single(base) else rf"\left({base}\right)^T"

    def _print_Total(self, expr):
        (v,) = expr.args
        if self._numpy():
            return rf"\operatorname{{sum}}({self._print(v)})"
        return rf"\textstyle\sum_k {self._print(v)}_k"


class AsciiPrinter(_Memo, StrPrinter):
    """The CONTRACT's expression syntax: SymPy str() with I(cond), relu, sigmoid, leaky_relu.

    With the setting answer=True, the syntax a student types (CONTRACT section 4): `^` for a power and
    I[cond] for an indicator; the answer grammar reads both forms back.
    """

    _default_settings = {**StrPrinter._default_settings, "order": "none", "answer": False}

    def _as_ordered_terms(self, expr, order=None):
        return _ordered(list(expr.args)) if (order or self.order) == "none" else super()._as_ordered_terms(expr, order)

    def _print_Indicator(self, expr):
        inner = self._print(expr.args[0])
        return f"I[{inner}]" if self._settings["answer"] else f"I({inner})"

    def _print_Pow(self, expr, rational=False):
        special = expr.exp is sp.S.Half or (expr.is_commutative and expr.exp in (-sp.S.Half, sp.S.NegativeOne))
        if not self._settings["answer"] or (special and not rational):  # sqrt(x), 1/x as StrPrinter writes them
            return super()._print_Pow(expr, rational)
        prec = precedence(expr)
        return f"{self.parenthesize(expr.base, prec, strict=False)}^{self.parenthesize(expr.exp, prec, strict=False)}"

    def _print_Exp1(self, expr):
        return "exp(1)"

    def _print_Factors(self, expr):
        return self._print(expr.args[0])


def _flipped_sign(term: sp.Expr) -> sp.Expr | None:
    """−c·sign(t − y)·… as c·sign(y − t)·… (sign is odd), as lecturers write the derivative of |y − t|;
    SymPy pulls the minus out of sign(y − t) and writes −sign(t − y). None for other terms."""
    coeff, rest = term.as_coeff_Mul()
    signs = [f for f in sp.Mul.make_args(rest) if isinstance(f, sp.sign) and f.args[0].is_Add]
    if not coeff.is_negative or len(signs) != 1:
        return None
    others = [f for f in sp.Mul.make_args(rest) if f is not signs[0]]
    flipped = sp.sign(-signs[0].args[0], evaluate=False)
    return sp.Mul(*([-coeff] if coeff != -1 else []), flipped, *others, evaluate=False)


def _cases(expr: sp.Add) -> list | None:
    """The terms of a sum of cases as (the rest, its indicator), the case > or ≥ first; None unless every term
    is a product with exactly one indicator, the indicators being the cases of one condition (I[z>0] + α e^z I[z≤0]),
    and the sum has two terms or more."""
    if not expr.is_Add or len(expr.args) < 2 or any(t.could_extract_minus_sign() for t in expr.args):
        return None
    out = []
    for term in expr.args:
        marks = [f for f in sp.Mul.make_args(term) if type(f).__name__ == "Indicator"]
        if len(marks) != 1:
            return None
        out.append((sp.Mul(*[f for f in sp.Mul.make_args(term) if f is not marks[0]]), marks[0]))
    conditions = [c[1].args[0] for c in out]
    if len({(c.lhs, c.rhs) for c in conditions}) != 1 or len({c.rel_op for c in conditions}) != len(conditions):
        return None  # not the cases of one variable: φ₁ I[u₁>0] ψ₁₁ + φ₂ I[u₂>0] ψ₁₂ keeps its chain-rule order
    return sorted(out, key=lambda c: c[1].args[0].rel_op not in (">", ">="))


def _fold(expr: sp.Add) -> sp.Expr | None:
    """c Σ_{j=1}^{N} f_j + N g as c Σ_j (f_j + g/c) (Σ_j of a constant is N times it), when that needs no new
    fraction: 2nμ − 2Σ_j x_j = −2 Σ_j (x_j − μ) and 2μ − (2/B) Σ_p z_p = −(2/B) Σ_p (z_p − μ), the form that shows
    the deviations from the mean summing to zero. None for any other sum, or if SymPy does not confirm it equal."""
    sums = [t for t in expr.args if any(isinstance(f, sp.Sum) for f in sp.Mul.make_args(t))]
    if len(sums) != 1 or len(expr.args) < 2:
        return None
    inner = [f for f in sp.Mul.make_args(sums[0]) if isinstance(f, sp.Sum)]
    coeff = sp.Mul(*[f for f in sp.Mul.make_args(sums[0]) if not isinstance(f, sp.Sum)])
    if len(inner) != 1 or len(inner[0].limits) != 1:
        return None
    (total,) = inner
    if not coeff.is_number and coeff.free_symbols - total.limits[0][2].free_symbols:
        return None
    j, lo, hi = total.limits[0]
    count = hi - lo + 1
    rest = expr - sums[0]
    if j in rest.free_symbols or not count.free_symbols:
        return None
    shift = sp.simplify(rest / (coeff * count))
    if count.free_symbols & shift.free_symbols or any(isinstance(a, sp.Sum) for a in sp.preorder_traversal(shift)):
        return None
    folded = coeff * sp.Sum(total.function + shift, total.limits[0])
    return folded if sp.simplify((folded - expr).doit()) == 0 else None


def _content_out(expr: sp.Mul) -> sp.Expr:
    """A product's factor (2x_p − 2μ) as 2 (x_p − μ), the 2 joining the coefficient: \\frac{2}{n} ∂L/∂σ² (x_p − μ)."""
    factors = list(sp.Mul.make_args(expr))
    out, changed = [], False
    for f in factors:
        if f.is_Add and len(factors) > 2:
            content, primitive = f.primitive()
            if content != 1 and content.is_Rational:
                out += [content, primitive]
                changed = True
                continue
        out.append(f)
    return sp.Mul(*out) if changed else expr


def deviations_summed(expr: sp.Expr) -> sp.Expr:
    """expr with each sum over Σ that folds (_fold) folded, and each product's numeric content taken out of its
    sum factors (_content_out); SymPy confirms each fold equal to what it replaces."""
    if expr.has(sp.Sum):
        expr = expr.replace(lambda e: e.is_Add and e.has(sp.Sum), _folded)
    return expr.replace(lambda e: e.is_Mul and any(f.is_Add for f in e.args), _content_out)


def _folded(expr: sp.Add) -> sp.Expr:
    """expr folded by _fold, or expr itself: each sum is tried once (the fold's check simplifies)."""
    folded = _fold(expr)
    return expr if folded is None else folded


def _sign_absorbs_minus(expr: sp.Expr) -> sp.Expr:
    return expr.replace(lambda e: e.is_Mul and _flipped_sign(e) is not None, _flipped_sign)


def latex(expr: sp.Expr, **settings) -> str:
    return DeriveLatexPrinter(settings).doprint(expr)


def latex_printer(**settings):
    """One printer for many formulas with the same settings (its memo is shared): printer(expr) -> str."""
    return DeriveLatexPrinter(settings).doprint


_ASCII = AsciiPrinter()
_ANSWER = AsciiPrinter({"answer": True})


@lru_cache(maxsize=65536)
def ascii(expr: sp.Expr) -> str:
    """Cached: the verifier and the JSON renderer print the same formulas."""
    return _ASCII.doprint(expr)


@lru_cache(maxsize=16384)
def answer_text(expr: sp.Expr) -> str:
    """expr as a student would type it in an answers file (x^2, I[z_1 > 0]): the expected answer in feedback."""
    return _ANSWER.doprint(expr)
