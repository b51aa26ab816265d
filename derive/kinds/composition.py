"""`kind: composition`: the chain-rule structure of a deep composition y = (f_K ∘ … ∘ f_1)(x) (seed 003).

Layer i computes f_i = σ(A_{i−1} f_{i−1} + b_{i−1}) from f_0 = x, with parameters
θ_{i−1} = {A_{i−1}, b_{i−1}}; the loss is L(θ) = ‖y − f_K‖². SymPy builds every
product ∂L/∂θ_j by the chain rule over non-commutative Jacobian factors (the
order of a matrix product is kept): ∂L/∂f_K, then ∂L/∂f_{i} = ∂L/∂f_{i+1} ·
∂f_{i+1}/∂f_i, then ∂L/∂θ_{i−1} = ∂L/∂f_i · ∂f_i/∂θ_{i−1}. Layer-input
Jacobians print in one colour, parameter Jacobians in another, and the
factors a row does not share with the row above are framed (what is new;
the prefix is computed once and reused). Before printing, every product is
evaluated on a random concrete network and compared with finite differences.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from derive.meta import __version__
from derive.errors import VerificationFailed
from derive.numeric.harness import FLOAT as TOLERANCE, STEP, from_errors, scaled_error
from derive.core.functions import ACTIVATIONS as ACTIVATION_ENTRIES
from derive.numeric.evaluate import evaluate as evaluate_numpy, namespace
from derive.render.notation import MatProd, Tr
from derive.render.jinja import Row
from derive.core.yamlload import Doc, one_of

KIND = "composition"
KEYS = ("kind", "title", "K", "rows", "colors", "check")
CHECK_KEYS = ("K", "widths", "activation", "seed")
# Colours both KaTeX (CSS names) and LaTeX's xcolor (base names, no package options) know,
# with the same meaning; olive (#808000 in both) is the seed's yellow made readable on white.
COLORS = ("red", "olive", "blue", "teal", "purple", "orange", "brown", "magenta", "violet", "black", "gray",
          "darkgray", "green", "cyan", "lime", "pink", "yellow")
ACTIVATIONS = ("tanh", "sigmoid", "identity")  # the ones this lecture narrates; the rules are derive.functions
MAX_K = 12

Ksym = sp.Symbol("K", integer=True, positive=True)
i_sym = sp.Symbol("i", integer=True, nonnegative=True)


# -- display factors (non-commutative: a matrix product keeps its order) ------------------


def _sub(printer, index) -> str:
    """K-1 rather than SymPy's -1 + K."""
    const, rest = index.as_coeff_Add() if index.is_Add else (sp.S.Zero, index)
    if rest == 0:
        return str(const)
    return printer._print(rest) + (f"{int(const):+d}" if const else "")


class Factor(sp.Function):
    """A Jacobian factor; subclasses say how it prints. Not commutative."""

    is_commutative = False

    def _colored(self, printer, tex: str) -> str:
        """The colour is the factor's last argument (a Symbol such as `red`), so it travels with it."""
        return rf"{{\color{{{self.args[-1]}}} {tex}}}"


class GradL(Factor):
    """∂L/∂f_K."""

    nargs = 1

    def _derive_latex(self, printer) -> str:
        return rf"\frac{{\partial L}}{{\partial \boldsymbol f_{{{_sub(printer, self.args[0])}}}}}"


class JacIn(Factor):
    """∂f_i/∂f_{i−1}: a layer's output with respect to its input (red in the seed); args (i, colour)."""

    nargs = 2

    def _derive_latex(self, printer) -> str:
        i = self.args[0]
        tex = rf"\frac{{\partial \boldsymbol f_{{{_sub(printer, i)}}}}}{{\partial \boldsymbol f_{{{_sub(printer, i - 1)}}}}}"
        return self._colored(printer, tex)


class JacPar(Factor):
    """∂f_i/∂θ_{i−1}: a layer's output with respect to its parameters (yellow in the seed); args (i, colour)."""

    nargs = 2

    def _derive_latex(self, printer) -> str:
        i = self.args[0]
        tex = (rf"\frac{{\partial \boldsymbol f_{{{_sub(printer, i)}}}}}"
               rf"{{\partial \boldsymbol\theta_{{{_sub(printer, i - 1)}}}}}")
        return self._colored(printer, tex)


class Gap(Factor):
    """⋯: the input Jacobians from f_{upper} down to f_{lower} (display of the general row)."""

    nargs = 2

    def _derive_latex(self, printer) -> str:
        return r"\cdots"


class Framed(Factor):
    """The factors a row does not share with the row above, framed as in the seed."""

    def _derive_latex(self, printer) -> str:
        return r"\boxed{" + " ".join(printer._print(a) for a in self.args) + "}"


class DThetaL(Factor):
    """∂L/∂θ_j."""

    nargs = 1

    def _derive_latex(self, printer) -> str:
        return rf"\frac{{\partial L}}{{\partial \boldsymbol\theta_{{{_sub(printer, self.args[0])}}}}}"


class Bold(sp.Function):
    """A bold vector name with an index: f_K, θ_j (display only)."""

    nargs = 2

    def _derive_latex(self, printer) -> str:
        name, index = self.args
        return rf"\boldsymbol {name}_{{{_sub(printer, index)}}}"


class Norm2(sp.Function):
    """‖v‖² (display only)."""

    nargs = 1

    def _derive_latex(self, printer) -> str:
        return rf"\left\| {printer._print(self.args[0])} \right\|^2"


class Compose(sp.Function):
    """(f_K ∘ ⋯ ∘ f_1)(x) (display only)."""

    nargs = 2

    def _derive_latex(self, printer) -> str:
        K, x = self.args
        return rf"\left(f_{{{_sub(printer, K)}}} \circ \dots \circ f_1\right)({printer._print(x)})"


class Activation(sp.Function):
    """σ(…), the activation applied to a vector (display only)."""

    nargs = 1

    def _derive_latex(self, printer) -> str:
        return rf"\sigma\left({printer._print(self.args[0])}\right)"


class SetOf(sp.Function):
    """{A, b} (display only)."""

    def _derive_latex(self, printer) -> str:
        return r"\left\{ " + ", ".join(printer._print(a) for a in self.args) + r" \right\}"


class BoldName(sp.Function):
    nargs = 1

    def _derive_latex(self, printer) -> str:
        return rf"\boldsymbol {self.args[0]}"


class BoldHat(sp.Function):
    """ŷ: the network's output, named apart from the observations y that the loss compares it with."""

    nargs = 1

    def _derive_latex(self, printer) -> str:
        return rf"\hat{{\boldsymbol {self.args[0]}}}"


# -- spec -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompositionSpec:
    file: str
    title: dict[str, str]
    K: int | None  # None: symbolic K
    rows: int
    colors: dict[str, str]
    check_K: int
    widths: tuple[int, ...]
    activation: str
    seed: int


def parse(doc: Doc) -> CompositionSpec:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "a spec is a YAML mapping with keys such as kind, K, rows")
    doc.known_keys(data, KEYS)
    K = _K(doc)
    rows = _int(doc, ("rows",), data.get("rows", 3), 1, MAX_K)
    check = data.get("check", {})
    if not isinstance(check, dict):
        raise doc.error(("check",), f"expected a mapping with keys: {', '.join(CHECK_KEYS)}")
    doc.known_keys(check, CHECK_KEYS, ("check",))
    check_K = K or _int(doc, ("check", "K"), check.get("K", max(4, rows + 1)), 2, MAX_K)
    if K is None and check_K <= rows:
        raise doc.error(("check", "K"), f"the numeric check needs K greater than rows ({rows}); got {check_K}")
    widths = _widths(doc, check.get("widths"), check_K)
    activation = check.get("activation", "tanh")
    if activation not in ACTIVATIONS:
        raise doc.error(("check", "activation"), f"unknown activation {activation!r}; "
                                                 f"{one_of(activation, ACTIVATIONS)}")
    return CompositionSpec(
        file=doc.file, title=doc.title(), K=K, rows=min(rows, K) if K else rows, colors=_colors(doc),
        check_K=check_K, widths=widths, activation=activation,
        seed=_int(doc, ("check", "seed"), check.get("seed", 0), 0, 2**31),
    )


def _K(doc) -> int | None:
    value = doc.data.get("K", "K")
    if value == "K":
        return None
    return _int(doc, ("K",), value, 2, MAX_K, also="or the letter K (symbolic)")


def _int(doc, path, value, lo, hi, also="") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise doc.error(path, f"expected a whole number from {lo} to {hi}{' ' + also if also else ''}")
    return value


def _widths(doc, value, K) -> tuple[int, ...]:
    if value is None:
        return tuple(3 if t % 2 == 0 else 4 for t in range(K)) + (2,)  # neighbours differ: order matters
    if not isinstance(value, list) or len(value) != K + 1:
        raise doc.error(("check", "widths"), f"expected a list of {K + 1} sizes (f_0 … f_{K})")
    for index, w in enumerate(value):
        _int(doc, ("check", "widths", index), w, 1, 16)
    return tuple(value)


def _colors(doc) -> dict[str, str]:
    value = doc.data.get("colors", {})
    if not isinstance(value, dict):
        raise doc.error(("colors",), "expected a mapping {input: red, params: olive}")
    doc.known_keys(value, ("input", "params"), ("colors",))
    out = {"input": "red", "params": "olive"} | value
    for key, color in out.items():
        if color not in COLORS:
            raise doc.error(("colors", key), f"unknown colour {color!r}; {one_of(color, COLORS)}")
    return out


# -- derivation ---------------------------------------------------------------------------------


@dataclass
class ChainRow:
    """∂L/∂θ_j as a product of factors; `shared` of them are shared with the row above."""

    theta: sp.Expr
    factors: list[sp.Expr]
    shared: int

    @property
    def product(self) -> sp.Expr:
        return sp.Mul(*self.factors)

    @property
    def display(self) -> sp.Expr:
        head, new = self.factors[: self.shared], self.factors[self.shared :]
        if not head or not new:
            return sp.Mul(*self.factors)
        return sp.Mul(*head, Framed(*new))


@dataclass
class Outcome:
    spec: CompositionSpec
    rows: list[ChainRow]
    general: ChainRow | None
    loss: dict
    checks: list[tuple[str, float]] = field(default_factory=list)

    @property
    def max_error(self) -> float:
        return max((e for _, e in self.checks), default=0.0)


def upstream(K, layer, colors) -> sp.Expr:
    """∂L/∂f_layer by the chain rule: ∂L/∂f_K ∂f_K/∂f_{K−1} ⋯ ∂f_{layer+1}/∂f_layer (order kept)."""
    out = GradL(K)
    for t in range(int(sp.simplify(K - layer))):
        out = out * JacIn(K - t, sp.Symbol(colors["input"]))
    return out


def chain(K, j, colors) -> list[sp.Expr]:
    """The factors of ∂L/∂θ_j = ∂L/∂f_{j+1} · ∂f_{j+1}/∂θ_j."""
    return list(sp.Mul.make_args(upstream(K, j + 1, colors) * JacPar(j + 1, sp.Symbol(colors["params"]))))


def derive(spec: CompositionSpec) -> Outcome:
    K = spec.K or Ksym
    rows, previous = [], None
    for r in range(1, spec.rows + 1):
        factors = chain(K, K - r, spec.colors)
        rows.append(ChainRow(K - r, factors, _shared(previous, factors)))
        previous = factors
    general = _general(K, spec.colors) if spec.K is None else None
    outcome = Outcome(spec, rows, general, _loss())
    outcome.checks = check(outcome)
    verification = from_errors(outcome.checks)
    if not verification.ok:
        raise VerificationFailed.first(spec.file, verification)
    return outcome


def _shared(previous, factors) -> int:
    if previous is None:
        return 0
    n = 0
    while n < min(len(previous), len(factors)) and previous[n] == factors[n]:
        n += 1
    return n


def _general(K, colors) -> ChainRow:
    """∂L/∂θ_i for a general i: the chain of chain(K, i) with the middle input Jacobians elided."""
    red, yellow = sp.Symbol(colors["input"]), sp.Symbol(colors["params"])
    factors = [GradL(K), JacIn(K, red), Gap(K - 1, i_sym + 3), JacIn(i_sym + 2, red), JacPar(i_sym + 1, yellow)]
    return ChainRow(i_sym, factors, 3)


def _loss() -> dict:
    """L = ‖y − f_K‖² and ∂L/∂f_K = −2(y − f_K)ᵀ, the latter checked entry by entry at a concrete size."""
    y, fK = BoldName(sp.Symbol("y")), Bold(sp.Symbol("f"), Ksym)
    size = 3
    ys, fs = sp.symbols(f"y1:{size + 1}"), sp.symbols(f"f1:{size + 1}")
    L = sum((yy - ff) ** 2 for yy, ff in zip(ys, fs))
    gradient = [sp.diff(L, ff) for ff in fs]
    recognised = sp.Integer(-2) * sp.Matrix(ys).T + 2 * sp.Matrix(fs).T  # −2 (y − f)ᵀ as a row vector
    if any(sp.expand(g - r) != 0 for g, r in zip(gradient, recognised)):
        raise VerificationFailed("composition: the loss gradient was not recognised")
    return {
        "definition": Row([sp.Symbol("L"), Norm2(y - fK)]),
        "gradient": Row([GradL(Ksym), -2 * Tr(y - fK)]),
        "y": y, "fK": fK,
    }


# -- numeric check ----------------------------------------------------------------------------------

def _numpy_activation(name: str):
    """The layer activation at numpy arrays, from its vocabulary entry (derive.functions)."""
    z = sp.Dummy("z")
    fz = ACTIVATION_ENTRIES[name].apply(z)
    return lambda values: evaluate_numpy(fz, {z: values})


def _sympy_activation(name: str):
    return lambda z: ACTIVATION_ENTRIES[name].apply(z)


class Instance:
    """A random concrete network f_i = σ(A_{i−1} f_{i−1} + b_{i−1}) with Jacobians computed by SymPy."""

    def __init__(self, spec: CompositionSpec):
        rng = np.random.default_rng(spec.seed)
        self.K, self.w, self.act = spec.check_K, spec.widths, spec.activation
        self.A = [rng.uniform(-1, 1, (self.w[t + 1], self.w[t])) for t in range(self.K)]
        self.b = [rng.uniform(-1, 1, self.w[t + 1]) for t in range(self.K)]
        self.x, self.y = rng.uniform(-1, 1, self.w[0]), rng.uniform(-1, 1, self.w[-1])
        self.f = self._forward(self.A, self.b)

    def _forward(self, A, b) -> list[np.ndarray]:
        sigma = _numpy_activation(self.act)
        out = [self.x]
        for t in range(self.K):
            out.append(sigma(A[t] @ out[-1] + b[t]))
        return out

    def loss(self, A, b) -> float:
        return float(np.sum((self.y - self._forward(A, b)[-1]) ** 2))

    def jacobians(self, layer: int):
        """∂f_layer/∂f_{layer−1} and ∂f_layer/∂θ_{layer−1} (θ = A row by row, then b), by SymPy."""
        n_in, n_out = self.w[layer - 1], self.w[layer]
        u = sp.Matrix(sp.symbols(f"u0:{n_in}"))
        A = sp.Matrix(n_out, n_in, sp.symbols(f"A0:{n_out * n_in}"))
        b = sp.Matrix(sp.symbols(f"c0:{n_out}"))
        f = (A * u + b).applyfunc(_sympy_activation(self.act))
        theta = list(A) + list(b)
        values = [*self.f[layer - 1], *self.A[layer - 1].ravel(), *self.b[layer - 1]]
        names = {k: v for k, v in namespace().items() if k != "__builtins__"}
        jacobians = sp.lambdify([list(u) + theta], [f.jacobian(u), f.jacobian(sp.Matrix(theta))], [names, "numpy"])
        return tuple(np.array(M, dtype=float) for M in jacobians(values))

    def grad_f(self) -> np.ndarray:
        """∂L/∂f_K as a row vector, from the recognised −2(y − f_K)ᵀ."""
        return (-2 * (self.y - self.f[-1]))[None, :]

    def finite_differences(self, j: int) -> np.ndarray:
        """∂L/∂θ_j by central differences of the numpy forward pass (θ_j = A_j row by row, then b_j)."""
        out = []
        for which, shape in (("A", self.A[j].shape), ("b", self.b[j].shape)):
            for idx in np.ndindex(*shape):
                plus = ([a.copy() for a in self.A], [c.copy() for c in self.b])
                minus = ([a.copy() for a in self.A], [c.copy() for c in self.b])
                target = 0 if which == "A" else 1
                plus[target][j][idx] += STEP
                minus[target][j][idx] -= STEP
                out.append((self.loss(*plus) - self.loss(*minus)) / (2 * STEP))
        return np.array(out)[None, :]


def evaluate(factors, inst: Instance, K: int, i: int | None = None) -> np.ndarray:
    """The product of `factors` at the instance (K and i substituted), multiplied in the printed order."""
    cache = {}

    def jac(layer):
        if layer not in cache:
            cache[layer] = inst.jacobians(layer)
        return cache[layer]

    out = None
    for factor in factors:
        args = [int(a.subs({Ksym: K, i_sym: i if i is not None else 0})) for a in factor.args if not a.is_Symbol
                or a in (Ksym, i_sym)]
        if isinstance(factor, GradL):
            mats = [inst.grad_f()]
        elif isinstance(factor, JacIn):
            mats = [jac(args[0])[0]]
        elif isinstance(factor, JacPar):
            mats = [jac(args[0])[1]]
        elif isinstance(factor, Gap):
            upper, lower = args
            mats = [jac(t)[0] for t in range(upper, lower - 1, -1)]
        else:
            raise TypeError(f"unknown factor {factor}")
        for M in mats:
            out = M if out is None else out @ M
    return out


def _disagreement(factors, inst: Instance, K: int, j: int, i: int | None = None) -> float:
    """Relative difference between the product and finite differences; inf when the shapes do not fit."""
    try:
        value = evaluate(factors, inst, K, i)
    except ValueError:  # a matrix product in the wrong order
        return float("inf")
    return scaled_error(value, inst.finite_differences(j))


def check(outcome: Outcome) -> list[tuple[str, float]]:
    spec, inst = outcome.spec, Instance(outcome.spec)
    K = inst.K
    out = []
    for r in range(1, min(spec.rows, K) + 1):
        factors = outcome.rows[r - 1].factors  # the very factors that are printed, at K = check K
        out.append((f"dL/dtheta_{K - r}", _disagreement(factors, inst, K, K - r)))
    if outcome.general is not None:
        for i in range(0, K - 2):
            out.append((f"dL/dtheta_{i} (general row, i = {i})", _disagreement(outcome.general.factors, inst, K, i, i)))
    return out


# -- presentation --------------------------------------------------------------------------------


def printer_settings(outcome: Outcome) -> dict:
    return {}


def context(outcome: Outcome, lang: str) -> dict:
    spec = outcome.spec
    K = spec.K or Ksym
    x, y = BoldName(sp.Symbol("x")), BoldName(sp.Symbol("y"))
    f = lambda index: Bold(sp.Symbol("f"), index)
    A, b, theta = Bold(sp.Symbol("A"), i_sym - 1), Bold(sp.Symbol("b"), i_sym - 1), Bold(sp.Symbol(r"\theta"), i_sym - 1)
    return {
        "title": spec.title.get(lang),
        "K": K, "symbolic": spec.K is None,
        "composition": Row([BoldHat(sp.Symbol("y")), Compose(K, x)]),
        "layer": [Row([f(0), x]), Row([f(i_sym), Activation(sp.Add(MatProd(A, f(i_sym - 1)), b, evaluate=False))]),
                  Row([theta, SetOf(A, b)])],
        "rows": [Row([DThetaL(r.theta), r.display]) for r in outcome.rows],
        "general": Row([DThetaL(outcome.general.theta), outcome.general.display]) if outcome.general else None,
        "loss": outcome.loss,
        "x": BoldName(sp.Symbol("x")), "y": BoldName(sp.Symbol("y")), "yhat": BoldHat(sp.Symbol("y")),
        "f0": Bold(sp.Symbol("f"), 0), "fK": Bold(sp.Symbol("f"), K), "f1": Bold(sp.Symbol("f"), 1),
        "fi": Bold(sp.Symbol("f"), i_sym), "fi1": Bold(sp.Symbol("f"), i_sym - 1),
        "A": Bold(sp.Symbol("A"), i_sym - 1), "b": Bold(sp.Symbol("b"), i_sym - 1),
        "theta": Bold(sp.Symbol(r"\theta"), i_sym - 1), "thetaj": Bold(sp.Symbol(r"\theta"), i_sym),
        "red": JacIn(i_sym, sp.Symbol(spec.colors["input"])),
        "yellow": JacPar(i_sym, sp.Symbol(spec.colors["params"])),
        "colors": spec.colors,
        "check": {"K": spec.check_K, "widths": spec.widths, "activation": spec.activation,
                  "n": len(outcome.checks), "err": outcome.max_error, **_checked_rows(outcome)},
        "version": __version__,
    }


def _checked_rows(outcome: Outcome) -> dict:
    """What the note counts, as check() compared it: each explicit row's θ at the check's K, and the values
    of i the general row was multiplied out for (so "6 products" is 3 rows and i = 0, 1, 2, as computed)."""
    K = outcome.spec.check_K
    explicit = [Bold(sp.Symbol(r"\theta"), sp.Integer(K - r)) for r in range(1, min(outcome.spec.rows, K) + 1)]
    general = [sp.Eq(i_sym, i, evaluate=False) for i in range(0, K - 2)] if outcome.general is not None else []
    assert len(explicit) + len(general) == len(outcome.checks), (explicit, general, outcome.checks)
    return {"explicit": explicit, "general_at": general}


def to_json(outcome: Outcome) -> dict:
    from derive.render.printing import latex

    colors = outcome.spec.colors

    def row(r: ChainRow) -> dict:
        return {
            "wrt": f"theta_{r.theta}".replace(" ", ""),
            "factors": [type(f).__name__ + "(" + ", ".join(str(a) for a in f.args) + ")" for f in r.factors],
            "shared_with_previous": r.shared,
            "latex": latex(r.display),
        }

    return {
        "kind": "composition",
        "K": outcome.spec.K if outcome.spec.K else "K",
        "colors": colors,
        "rows": [row(r) for r in outcome.rows] + ([row(outcome.general)] if outcome.general else []),
        "checks": [{"what": w, "max_relative_error": float(e), "ok": bool(e <= TOLERANCE)}
                   for w, e in outcome.checks],
        "verified": bool(all(e <= TOLERANCE for _, e in outcome.checks)),
        "verification": from_errors(outcome.checks).as_json(),
    }
