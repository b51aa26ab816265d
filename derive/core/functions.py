"""The function vocabulary (CONTRACT section 5): one entry per function, activation and loss.

Every part of derive reads these tables and keeps none of its own: spec
validation (activation and loss names), the network and graph derivations,
the answer and graph grammars (`words`, `latex_words`), the numeric evaluators
(`numpy`, `mpmath`, `math`; generated from `definition` where an entry gives none),
verification (`kinks`: what must stay away from 0), the LaTeX and ASCII
printers (`tex`; the ASCII name is the SymPy class name) and the graph
figures (`gate`). A derivative is never typed here: SymPy differentiates the
definition (a class may state its own `fdiff`, which tests compare with it).

Adding an activation is one `Activation` entry (plus, for a new function, one
`Function` entry made with `defined`); `register` does it at run time.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
import math
from functools import lru_cache, reduce
from typing import Callable, Iterator, Sequence

import sympy as sp

from derive.core.calculus import Indicator, leaky_relu, relu, sigmoid

# -- helpers: differentiation over the reals, piecewise forms as indicators -------------


def real_diff(expr: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """∂expr/∂x with every name taken as real: |u|' is sign(u)·u', not a formula in re and im."""
    names = sorted(expr.free_symbols | {x}, key=str)
    real = {s: sp.Dummy(s.name, real=True) for s in names if not s.is_real}
    back = {d: s for s, d in real.items()}
    return sp.diff(expr.xreplace(real), x.xreplace(real)).xreplace(back)


def as_indicators(expr: sp.Expr) -> sp.Expr:
    """Piecewise((a, c), (b, True)) -> a·I[c] + b·I[¬c]: the closed form derive prints (ReLU' = I[z>0])."""
    def rewrite(pw):
        terms, rest = [], sp.true
        for value, cond in pw.args:
            here = cond if rest is sp.true else sp.And(rest, cond)
            if cond is sp.true:
                here = rest
            if here is not sp.true and not isinstance(here, sp.core.relational.Relational):
                return pw  # compound conditions: leave the cases as they are
            terms.append(_times_indicator(value, here))
            rest = sp.Not(cond)
        return sp.Add(*[t for t in terms if t != 0], evaluate=False) if len(terms) > 1 else terms[0]

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), rewrite)


def _times_indicator(value: sp.Expr, cond) -> sp.Expr:
    if cond is sp.true:
        return value
    return Indicator(cond) if value == 1 else sp.Mul(value, Indicator(cond), evaluate=False)


def defined(name: str, definition: Callable[..., sp.Expr], nargs: int = 1, tex: str | None = None,
            derivative: Callable[..., sp.Expr] | None = None, usual: sp.Expr | None = None) -> type:
    """A SymPy function class `name` whose value is definition(*args).

    Its derivative (fdiff) is SymPy's derivative of the definition, piecewise
    parts written with indicators; `derivative` (args -> f' in the first
    argument) states a simpler equal form instead (softplus' = σ), which
    tests compare with SymPy's. Numbers evaluate to the definition's value.
    LaTeX: `tex` as an operator name, with a second argument as subscript
    unless it is `usual` (ELU with α = 1 is written ELU(z)).
    """

    def eval(cls, *args):
        if all(a.is_number and a.is_real for a in args):  # a value: the definition's, exactly (graphs' values)
            return definition(*args)
        return None

    forms: dict[int, tuple] = {}  # argindex -> (dummies, f' over them): SymPy differentiates each once

    def fdiff(self, argindex=1):
        if derivative is not None and argindex == 1:
            return derivative(*self.args)
        if argindex not in forms:
            dummies = [sp.Dummy(real=True) for _ in self.args]
            forms[argindex] = dummies, as_indicators(sp.diff(definition(*dummies), dummies[argindex - 1]))
        dummies, form = forms[argindex]
        return form.xreplace(dict(zip(dummies, self.args)))

    def latex(self, printer, exp=None):
        # a lecture whose own names take the function's letter writes it otherwise (printer setting "written")
        op = getattr(printer, "_settings", {}).get("written", {}).get(name) or tex or rf"\operatorname{{{name}}}"
        first, *rest = (printer._print(a) for a in self.args)
        sub = f"_{{{rest[0]}}}" if rest and not (usual is not None and self.args[1] == usual) else ""
        tall = self.args[0].is_Add or r"\frac" in first  # GELU(z), as \tanh(z); GELU\left(a + b\right)
        text = rf"{op}{sub}\left({first}\right)" if tall else rf"{op}{sub}({first})"
        return text if exp is None else rf"{text}^{{{exp}}}"

    def expand(self, **hints):
        return definition(*self.args)

    namespace = {
        "nargs": nargs,
        "eval": classmethod(eval),
        "fdiff": fdiff,
        "_derive_latex": latex,
        "_eval_rewrite_as_definition": lambda self, *args, **kw: definition(*args),
        "definition": staticmethod(definition),
        "_eval_is_real": lambda self: all(a.is_real for a in self.args) or None,
    }
    return type(name, (sp.Function,), namespace)


def definition_of(expr: sp.Expr) -> sp.Expr:
    """A defined function's application written with its definition (softplus(z) -> log(1 + e^z)); else expr."""
    if isinstance(expr, sp.Function) and hasattr(type(expr), "definition"):
        return type(expr).definition(*expr.args)
    return expr


# -- functions --------------------------------------------------------------------------


def _no_kinks(*args) -> list[sp.Expr]:
    return []


def _first_arg(*args) -> list[sp.Expr]:
    return [args[0]]


def _pairwise(*args) -> list[sp.Expr]:
    return [a - b for i, a in enumerate(args) for b in args[i + 1 :]]


def _condition(cond) -> list[sp.Expr]:
    return [cond.lhs - cond.rhs] if isinstance(cond, sp.core.relational.Relational) else []


@dataclass(frozen=True)
class Function:
    """One function of the vocabulary.

    name: how answers, graph expressions and JSON write it; `build(*args)` makes
    the SymPy expression; `cls` is the class of what it makes (numeric rules are
    found by class; the ASCII printer writes `cls.__name__`). `numpy`/`mpmath`/`math`:
    the numeric rules (None: generated from `cls.definition`). `math` works on
    Python floats and follows `numpy` operation for operation, with NumPy's
    answers where `math` would raise (e^1000 = inf, log(−1) = nan), so that
    small problems are verified without importing NumPy and with the same figures. `kinks(*args)`:
    the quantities that must stay away from 0 for the function to be smooth.
    """

    name: str
    build: Callable[..., sp.Expr]
    cls: type | None
    numpy: Callable | None = None
    mpmath: Callable | None = None
    math: Callable | None = None  # over Python floats, as `numpy` computes (derive.numeric.scalar)
    nargs: tuple[int, int | None] = (1, 1)
    kinks: Callable[..., list] = _no_kinks
    words: tuple[str, ...] = ()  # further words the grammars read as this function (ln for log)
    latex_words: tuple[str, ...] = ()  # LaTeX commands that name it (\exp, \ln)
    gate: tuple[str, str] | None = None  # (TeX, text) drawn in a graph node's circle
    primed: bool = False  # f'(z) is accepted in answers (the derivative in the first argument)
    in_grammar: bool = True  # False: the grammars read it their own way (the indicator's I[…])
    printed: str | None = None  # its name in the ASCII form, when not its class's name (I for Indicator)

    @property
    def ascii(self) -> str:
        return self.printed or (self.cls.__name__ if self.cls is not None else self.name)

    @property
    def all_words(self) -> tuple[str, ...]:
        return (self.name.lower(), *self.words)


def _np():
    import numpy as np  # numpy is imported only when something is computed

    return np


def _mp():
    import mpmath

    return mpmath


def _np_erf(z):
    import math

    np = _np()
    return np.vectorize(math.erf, otypes=[float])(z)


softplus = defined("softplus", lambda z: sp.log(1 + sp.exp(z)), derivative=lambda z: sigmoid(z))
gelu = defined("gelu", lambda z: z / 2 * (1 + sp.erf(z / sp.sqrt(2))), tex=r"\operatorname{GELU}")
# display only: the standard normal distribution function Φ and density φ, which GELU's formulas are written
# with (GELU(z) = z Φ(z), GELU′(z) = Φ(z) + z φ(z)); each evaluates to its definition
normal_cdf = defined("normal_cdf", lambda z: (1 + sp.erf(z / sp.sqrt(2))) / 2, tex=r"\Phi")
normal_pdf = defined("normal_pdf", lambda z: sp.exp(-z ** 2 / 2) / sp.sqrt(2 * sp.pi), tex=r"\varphi")
# where a lecture's parameters are φ (Prince's notation), its density is written Φ′: the letter stays the weights'
# and the density is named by what it is, the derivative of Φ (text only; answers and JSON are unchanged)
WRITTEN_APART = {"normal_pdf": ({"phi", "varphi"}, r"\Phi'")}
silu = defined("silu", lambda z: z * sigmoid(z), tex=r"\operatorname{SiLU}")
elu = defined("elu", lambda z, a: sp.Piecewise((z, z > 0), (a * (sp.exp(z) - 1), True)), nargs=2,
              tex=r"\operatorname{ELU}", usual=sp.S.One)


def _np_sigmoid(z):
    np = _np()
    return 1.0 / (1.0 + np.exp(-z))


def _mp_exp(z):
    mp = _mp()
    return mp.exp(z) if z < 200 else mp.inf  # e^200 is past every bound the checks use


def _step(x):
    mp = _mp()
    return mp.mpf(1) if x > 0 else (mp.mpf("0.5") if x == 0 else mp.mpf(0))


# -- the `math` rules' helpers: Python floats, with NumPy's inf and nan where `math` raises ---------
_INF, _NAN = float("inf"), float("nan")


def _ieee(f: Callable[[float], float]) -> Callable[[float], float]:
    """f from `math`, giving nan where it raises (outside its domain: sin(inf), sqrt(−1)), as NumPy does."""
    def rule(z):
        try:
            return f(z)
        except (ValueError, OverflowError):
            return _NAN

    return rule


def _m_exp(z):
    try:
        return math.exp(z)
    except OverflowError:
        return _INF


def _m_log(z):
    if z > 0:
        return math.log(z)
    return -_INF if z == 0 else _NAN


def _m_sigmoid(z):
    return 1.0 / (1.0 + _m_exp(-z))  # numpy's 1/(1 + e^−z), the same operations


def _m_logaddexp0(z):
    """numpy.logaddexp(0, z), step by step as NumPy computes it."""
    if z == 0:
        return math.log(2)
    if -z > 0:
        return math.log1p(_m_exp(z))
    return z + math.log1p(_m_exp(-z)) if z == z else _NAN


_SQRT_2PI = math.sqrt(2 * math.pi)  # φ's constant, for its numpy and float rules alike


def _m_erf(z):
    return math.erf(z)


def _maximum(a, b):
    return a if a >= b or a != a else b  # nan wins, as in numpy.maximum


def _minimum(a, b):
    return a if a <= b or a != a else b


def _m_sign(z):
    return float((z > 0) - (z < 0)) if z == z else _NAN


def _m_heaviside(z, *_):
    return (1.0 if z > 0 else 0.0 if z < 0 else 0.5) if z == z else _NAN


FUNCTIONS: dict[str, Function] = {}
_CLASSES: dict[type, Function] = {}


def _add(f: Function) -> Function:
    FUNCTIONS[f.name] = f
    if f.cls is not None:
        _CLASSES[f.cls] = f
    return f


for _f in [
    Function("I", Indicator, Indicator, lambda c: _np().where(c, 1.0, 0.0), lambda c: _mp().mpf(1 if c else 0),
             kinks=_condition, in_grammar=False, printed="I",
             math=lambda c: 1.0 if c else 0.0),
    Function("relu", relu, relu, lambda z: _np().maximum(z, 0.0), lambda z: max(z, _mp().mpf(0)),
             kinks=_first_arg, gate=(r"\mathrm{ReLU}", "ReLU"), primed=True,
             math=lambda z: z if z > 0.0 or z != z else 0.0),  # numpy.maximum(z, 0): nan stays nan
    Function("leaky_relu", leaky_relu, leaky_relu, lambda z, a: _np().where(z > 0, z, a * z),
             lambda z, a: z if z > 0 else a * z, nargs=(2, 2), kinks=_first_arg, words=("leakyrelu",),
             gate=(r"\mathrm{LReLU}", "LReLU"), primed=True,
             math=lambda z, a: z if z > 0 else a * z),
    Function("sigmoid", sigmoid, sigmoid, _np_sigmoid, lambda z: 1 / (1 + _mp_exp(-z)) if -z < 200 else _mp().mpf(0),
             gate=(r"\sigma", "σ"), primed=True,
             math=_m_sigmoid),
    Function("tanh", sp.tanh, sp.tanh, lambda z: _np().tanh(z), lambda z: _mp().tanh(z), latex_words=("tanh",),
             gate=(r"\tanh", "tanh"), primed=True,
             math=math.tanh),
    Function("softplus", softplus, softplus, lambda z: _np().logaddexp(0.0, z),
             lambda z: _mp().log1p(_mp_exp(z)) if z < 200 else z, gate=(r"\operatorname{softplus}", "softplus"), primed=True,
             math=_m_logaddexp0),
    Function("gelu", gelu, gelu, lambda z: z / 2 * (1 + _np_erf(z / 2 ** 0.5)),
             lambda z: z / 2 * (1 + _mp().erf(z / _mp().sqrt(2))), gate=(r"\operatorname{GELU}", "GELU"), primed=True,
             math=lambda z: z / 2 * (1 + _m_erf(z / 2 ** 0.5))),
    Function("normal_cdf", normal_cdf, normal_cdf, lambda z: (1 + _np_erf(z / 2 ** 0.5)) / 2,
             lambda z: (1 + _mp().erf(z / _mp().sqrt(2))) / 2, in_grammar=False,
             math=lambda z: (1 + _m_erf(z / 2 ** 0.5)) / 2),
    Function("normal_pdf", normal_pdf, normal_pdf, lambda z: _np().exp(-z * z / 2) / _SQRT_2PI,
             lambda z: _mp().exp(-z ** 2 / 2) / _mp().sqrt(2 * _mp().pi), in_grammar=False,
             math=lambda z: _m_exp(-z * z / 2) / _SQRT_2PI),
    Function("silu", silu, silu, lambda z: z * _np_sigmoid(z), lambda z: z / (1 + _mp_exp(-z)) if -z < 200 else _mp().mpf(0),
             words=("swish",), gate=(r"\operatorname{SiLU}", "SiLU"), primed=True,
             math=lambda z: z * _m_sigmoid(z)),
    Function("elu", elu, elu, lambda z, a: _np().where(z > 0, z, a * (_np().exp(_np().minimum(z, 0.0)) - 1)),
             lambda z, a: z if z > 0 else a * (_mp_exp(z) - 1), nargs=(2, 2), kinks=_first_arg,
             gate=(r"\operatorname{ELU}", "ELU"), primed=True,
             math=lambda z, a: z if z > 0 else a * (_m_exp(_minimum(z, 0.0)) - 1)),
    Function("exp", sp.exp, sp.exp, lambda z: _np().exp(z), _mp_exp, latex_words=("exp",), gate=(r"\exp", "exp"),
             math=_m_exp),
    Function("log", sp.log, sp.log, lambda z: _np().log(z), lambda z: _mp().log(z), words=("ln",),
             latex_words=("log", "ln"), gate=(r"\log", "log"),
             math=_m_log),
    Function("sin", sp.sin, sp.sin, lambda z: _np().sin(z), lambda z: _mp().sin(z), latex_words=("sin",),
             gate=(r"\sin", "sin"),
             math=_ieee(math.sin)),
    Function("cos", sp.cos, sp.cos, lambda z: _np().cos(z), lambda z: _mp().cos(z), latex_words=("cos",),
             gate=(r"\cos", "cos"),
             math=_ieee(math.cos)),
    Function("erf", sp.erf, sp.erf, _np_erf, lambda z: _mp().erf(z), gate=(r"\operatorname{erf}", "erf"),
             math=_m_erf),
    Function("sqrt", sp.sqrt, None, lambda z: _np().sqrt(z), lambda z: _mp().sqrt(z), latex_words=("sqrt",),
             math=_ieee(math.sqrt)),
    Function("abs", sp.Abs, sp.Abs, lambda z: _np().abs(z), abs, kinks=_first_arg, gate=(r"|\cdot|", "|·|"),
             math=abs),
    Function("sign", sp.sign, sp.sign, lambda z: _np().sign(z), lambda z: _mp().mpf((z > 0) - (z < 0)),
             kinks=_first_arg,
             math=_m_sign),
    Function("max", sp.Max, sp.Max, lambda *xs: reduce(_np().maximum, xs), lambda *xs: max(xs), nargs=(2, None),
             kinks=_pairwise, latex_words=("max",), gate=(r"\max", "max"),
             math=lambda *xs: reduce(_maximum, xs)),
    Function("min", sp.Min, sp.Min, lambda *xs: reduce(_np().minimum, xs), lambda *xs: min(xs), nargs=(2, None),
             kinks=_pairwise, latex_words=("min",), gate=(r"\min", "min"),
             math=lambda *xs: reduce(_minimum, xs)),
    Function("heaviside", lambda z: Indicator(sp.Gt(z, 0)), sp.Heaviside, lambda z, *_: _np().heaviside(z, 0.5),
             lambda z, *_: _step(z), nargs=(1, 1), kinks=_first_arg,
             math=_m_heaviside),
]:
    _add(_f)

# SymPy's names for what the vocabulary calls abs, max, min (JSON may use them: CONTRACT section 5)
ASCII_ALIASES = {"Abs": "abs", "Max": "max", "Min": "min", "Heaviside": "heaviside"}


def by_class(cls: type) -> Function | None:
    """The entry whose expressions have class cls, or None."""
    return _CLASSES.get(cls)


def words() -> dict[str, str]:
    """word (lower case) -> function name, for the answer and graph grammars."""
    return _words(_version[0])


def latex_words() -> frozenset[str]:
    """LaTeX commands that name a function (\\exp, \\ln, \\sin)."""
    return _latex_words(_version[0])


_version = [0]  # bumped by `registered`: the word tables below are rebuilt


@lru_cache(maxsize=4)
def _words(version: int) -> dict[str, str]:
    return {w: f.name for f in FUNCTIONS.values() if f.in_grammar for w in f.all_words}


@lru_cache(maxsize=4)
def _latex_words(version: int) -> frozenset[str]:
    return frozenset(w for f in FUNCTIONS.values() for w in f.latex_words)


def kink_arguments(expr: sp.Expr) -> list[sp.Expr]:
    """The quantities that must stay away from 0 for expr to be smooth (relu's z, |y − t|'s y − t, …)."""
    out = []
    for node in sp.preorder_traversal(expr):
        f = by_class(type(node)) if isinstance(node, sp.Basic) and node.args else None
        if f is not None:
            out += f.kinks(*node.args)
    return out


# -- activations --------------------------------------------------------------------------


@dataclass(frozen=True)
class Activation:
    """An activation of a network layer: f(z[, α]).

    `alpha`: None if it takes no parameter, else its default (a symbol name or
    a number). kinks: f' jumps somewhere (verification keeps z away from 0).
    unit_interval: its values lie in (0, 1), as losses with logarithms need.
    family: activations a quiz variant may swap for one another (derive.variant).
    """

    name: str
    forward: Callable[[sp.Expr, sp.Expr | None], sp.Expr]
    kinks: bool = False
    elementwise: bool = True
    alpha: str | float | None = None
    unit_interval: bool = False
    family: str | None = None
    written_with: tuple = ()  # display functions its formulas are written with (GELU: Φ, φ), see `written`

    def apply(self, z: sp.Expr, alpha: sp.Expr | None = None) -> sp.Expr:
        return self.forward(z, alpha)

    def derivative(self, z: sp.Expr, a: sp.Expr, alpha: sp.Expr | None = None) -> sp.Expr:
        """f'(z) by SymPy, written with the activation a = f(z) where it appears (σ' = a(1−a))."""
        fz = self.apply(z, alpha)
        return sp.diff(fz, z).subs(fz, a)

    def written(self, expr: sp.Expr, z: sp.Expr) -> sp.Expr:
        """expr, a formula in z, written with the activation's display functions: GELU's z/2 (1 + erf(z/√2)) as
        z Φ(z), its derivative as Φ(z) + z φ(z) (the shorter term first). Each display function's definition
        is solved by SymPy for the special function in it (erf(z/√2) = 2Φ(z) − 1, e^{−z²/2} = √(2π) φ(z)),
        which is substituted; the result is kept only if, with the definitions put back, it equals expr."""
        out = expr
        for display in self.written_with:
            out = _written_with(out, display, z)
        if out == expr or sp.simplify(definitions(out) - expr) != 0:
            return expr
        return sp.Add(*sorted(out.args, key=sp.count_ops), evaluate=False) if out.is_Add else out


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        Activation("identity", lambda z, alpha: z),
        Activation("relu", lambda z, alpha: relu(z), kinks=True, family="kinked"),
        Activation("leaky_relu", lambda z, alpha: leaky_relu(z, alpha), kinks=True, alpha="alpha", family="kinked"),
        Activation("sigmoid", lambda z, alpha: sigmoid(z), unit_interval=True, family="squashing"),
        Activation("tanh", lambda z, alpha: sp.tanh(z), family="squashing"),
        Activation("softmax", lambda z, alpha: z, elementwise=False, unit_interval=True),
        Activation("softplus", lambda z, alpha: softplus(z), family="smooth rectifier"),
        Activation("gelu", lambda z, alpha: gelu(z), family="smooth rectifier", written_with=(normal_cdf, normal_pdf)),
        Activation("silu", lambda z, alpha: silu(z), family="smooth rectifier"),
        Activation("elu", lambda z, alpha: elu(z, alpha), kinks=True, alpha=1.0),
    ]
}


def _written_with(expr: sp.Expr, display: type, z: sp.Expr) -> sp.Expr:
    """expr with display(z)'s special function (erf(z/√2) in Φ, e^{−z²/2} in φ) replaced by its solution in
    terms of display(z)."""
    definition = display.definition(z)
    (special,) = definition.atoms(sp.Function)
    if not expr.has(special):
        return expr
    value = sp.Dummy()
    (solved,) = sp.solve(sp.Eq(definition, value), special)
    return sp.expand(expr.subs(special, solved.subs(value, display(z))))


def definitions(expr: sp.Expr) -> sp.Expr:
    """expr with every defined function written with its definition (Φ(z) as (1 + erf(z/√2))/2)."""
    return expr.replace(lambda e: isinstance(e, sp.Function) and hasattr(type(e), "definition"), definition_of)


# -- losses ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loss:
    """A loss J(y, t) over outputs y_1..y_n and targets t_1..t_n."""

    name: str
    formula: Callable[[Sequence[sp.Expr], Sequence[sp.Expr]], sp.Expr]
    single_output: bool = False
    needs_unit_interval: bool = False

    def apply(self, ys: Sequence[sp.Expr], ts: Sequence[sp.Expr]) -> sp.Expr:
        return self.formula(ys, ts)


def _sum(terms):
    return sp.Add(*terms)


LOSSES: dict[str, Loss] = {
    l.name: l
    for l in [
        Loss("half_sse", lambda ys, ts: sp.Rational(1, 2) * _sum((y - t) ** 2 for y, t in zip(ys, ts))),
        Loss("sse", lambda ys, ts: _sum((y - t) ** 2 for y, t in zip(ys, ts))),
        Loss("mse", lambda ys, ts: _sum((y - t) ** 2 for y, t in zip(ys, ts)) / len(ys)),
        Loss("mae", lambda ys, ts: _sum(sp.Abs(y - t) for y, t in zip(ys, ts)) / len(ys)),
        Loss(
            "bce",
            lambda ys, ts: -(ts[0] * sp.log(ys[0]) + (1 - ts[0]) * sp.log(1 - ys[0])),
            single_output=True,
            needs_unit_interval=True,
        ),
        Loss("ce", lambda ys, ts: -_sum(t * sp.log(y) for y, t in zip(ys, ts)), needs_unit_interval=True),
    ]
}


def weight_decay(lam: sp.Expr, weights: Sequence[sp.Symbol]) -> sp.Expr:
    """(λ/2) Σ w²: the term `weight_decay: λ` adds to the loss (weights only, not biases)."""
    return sp.Mul(lam / 2, sp.Add(*[w**2 for w in weights], evaluate=False), evaluate=False)


# -- registering at run time (tests, extensions) ------------------------------------------


@contextmanager
def registered(function: Function | None = None, activation: Activation | None = None) -> Iterator[None]:
    """Add a function and/or an activation to the vocabulary for the duration of a with-block."""
    saved = dict(FUNCTIONS), dict(_CLASSES), dict(ACTIVATIONS)
    _version[0] += 1
    if function is not None:
        _add(function)
    if activation is not None:
        ACTIVATIONS[activation.name] = activation
    try:
        yield
    finally:
        for table, before in zip((FUNCTIONS, _CLASSES, ACTIVATIONS), saved):
            table.clear()
            table.update(before)
        _version[0] += 1
