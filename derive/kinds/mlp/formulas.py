"""The formulas of `kind: mlp` (derive.mlp): the generic L-layer perceptron with symbolic sizes n^{[l]} (seed 004).

Every formula is derived by SymPy over layered indexed quantities
(derive.matrixnotation): the forward pass, the activations' derivatives, δ^{[L]}
for the loss/activation pairs, the δ recurrence, the gradients of W and b, the
update rule and batch normalisation with its backward pass. Matrix forms are
obtained from the index forms and checked entry by entry at concrete sizes;
every result is checked numerically (derive.mlpcheck, which reads this module)
before derive.mlp prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from derive.core.calculus import leaky_relu, relu, sigmoid
from derive.errors import VerificationFailed
from derive.render.notation import (
    Act,
    ActName,
    ActPrime,
    Assign,
    Family,
    Grad,
    Had,
    Kron,
    MatProd,
    Named,
    Prime,
    Scaled,
    Style,
    Tr,
    Whole,
    DerivOf,
    Factors,
    Hat,
    chain_order,
    collapse,
    family,
    pull_constants,
)
from derive.render.jinja import Row, d
from derive.core.yamlload import Doc, one_of

KIND = "mlp"
SECTIONS = ("forward", "activations", "losses", "backward", "update", "batchnorm")
ACTIVATION_NAMES = ("sigmoid", "tanh", "relu", "leaky_relu")
LOSS_PAIRS = ("mse_linear", "ce_softmax", "bce_sigmoid")
KEYS = ("kind", "title", "sections", "activations", "losses", "boxes")

# -- the lecture's vocabulary ------------------------------------------------------
l, L = sp.symbols("l L", integer=True, positive=True)
j, k, p, q, i = sp.symbols("j k p q i", integer=True, positive=True)
m, B = sp.symbols("m B", integer=True, positive=True)
alpha = sp.Symbol("alpha", positive=True)  # leaky ReLU's slope
eta = sp.Symbol("eta", positive=True)  # the learning rate: not α, which leaky ReLU already uses
z_ = sp.Symbol("z", real=True)
a_ = sp.Symbol("a", real=True)
J = sp.Symbol("J")

n = Family("n", Style("n"), integer=True, positive=True)
W, b, z, a = family("W"), family("b"), family("z"), family("a")
delta = family("delta")
y = family("y", layered=False)
dJda = family("dJda", "a", partial_of="J")
# one example i of a batch: a_k^{[l-1](i)}
zi, ai, deltai = family("zi", "z", example=True), family("ai", "a", example=True), family("deltai", r"\delta", example=True)


@dataclass(frozen=True)
class MlpSpec:
    file: str
    title: dict[str, str]
    sections: tuple[str, ...]
    activations: tuple[str, ...]
    losses: tuple[str, ...]
    boxes: str = "key"  # the key results framed as in seed 004, unless the spec says `boxes: none`


@dataclass
class Claim:
    """One verified statement: what, and the largest relative difference found."""

    what: str
    error: float


@dataclass
class Outcome:
    spec: MlpSpec
    parts: dict
    claims: list[Claim] = field(default_factory=list)

    @property
    def max_error(self) -> float:
        return max((c.error for c in self.claims), default=0.0)


# -- spec --------------------------------------------------------------------------


def parse(doc: Doc) -> MlpSpec:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "a spec is a YAML mapping with keys such as kind, sections")
    doc.known_keys(data, KEYS)
    return MlpSpec(
        file=doc.file,
        title=doc.title(),
        sections=_choices(doc, "sections", SECTIONS),
        activations=_choices(doc, "activations", ACTIVATION_NAMES),
        losses=_choices(doc, "losses", LOSS_PAIRS),
        boxes=doc.boxes() or "key",
    )


def _choices(doc: Doc, key: str, valid: tuple[str, ...]) -> tuple[str, ...]:
    """A list of names from `valid` (default: all of them, in their order)."""
    value = doc.data.get(key, list(valid))
    if not isinstance(value, list) or not value:
        raise doc.error((key,), f"expected a non-empty list of: {', '.join(valid)}")
    for index, name in enumerate(value):
        if name not in valid:
            raise doc.error((key, index), f"unknown {key[:-1]} {name!r}; {one_of(name, valid)}")
    if len(set(value)) != len(value):
        raise doc.error((key,), "each name may appear once")
    return tuple(value)


# -- derivation ----------------------------------------------------------------------


def z_definition(layer, unit, dummy=p) -> sp.Expr:
    """z_j^{[l]} = Σ_k W_{jk}^{[l]} a_k^{[l-1]} + b_j^{[l]} (the one definition everything derives from)."""
    return sp.Add(
        sp.Sum(sp.Mul(W[layer, unit, dummy], a[layer - 1, dummy], evaluate=False), (dummy, 1, n[layer - 1])),
        b[layer, unit],
        evaluate=False,
    )


def build_parts(spec: MlpSpec) -> dict:
    """The sections the spec asks for, each derived by SymPy (not yet checked)."""
    return {name: BUILDERS[name](spec) for name in spec.sections}


def _forward() -> dict:
    zj = z_definition(l, j, k)
    return {
        "z_vector": Row([Whole(z.label, l), sp.Add(MatProd(Whole(W.label, l), Whole(a.label, l - 1)),
                                                   Whole(b.label, l), evaluate=False)], key=True),
        "z_scalar": Row([z[l, j], zj]),
        "a_vector": Row([Whole(a.label, l), Act(l, Whole(z.label, l))], key=True),
        "a_scalar": Row([a[l, j], Act(l, z[l, j])]),
        "check": [("z", zj, sp.Add(MatProd(Whole(W.label, l), Whole(a.label, l - 1)), Whole(b.label, l)))],
    }


# -- activations ------------------------------------------------------------------------


def _sigmoid() -> dict:
    definition = 1 / (1 + sp.exp(-z_))
    raw = sp.diff(definition, z_)  # e^{-z}/(1+e^{-z})^2, straight from the definition
    through_sigma = sp.diff(sigmoid(z_), z_)  # σ(z)(1 − σ(z)), the rule stated with sigmoid
    in_a = through_sigma.subs(sigmoid(z_), a_)
    return {
        "name": "sigmoid",
        "rows": [Row([sigmoid(z_), definition]), Row([Prime(sigmoid(z_)), raw, through_sigma]),
                 Row([d(a_, z_), in_a], key=True)],
        "a": Row([a_, sigmoid(z_)]),
        "equal": [(raw, through_sigma), (through_sigma, in_a.subs(a_, sigmoid(z_)))],
        "derivative": in_a,
    }


def _tanh() -> dict:
    identity = 2 * sigmoid(2 * z_) - 1
    chain = sp.diff(identity, z_)  # 2·σ'(2z)·2 by the chain rule
    s = sp.Symbol("s")
    # σ(2z) in terms of tanh z, solved by SymPy from tanh z = 2σ(2z) − 1
    sigma_of_tanh = sp.solve(sp.Eq(sp.tanh(z_), 2 * s - 1), s)[0]
    in_tanh = sp.expand(chain.subs(sigmoid(2 * z_), sigma_of_tanh))
    in_a = in_tanh.subs(sp.tanh(z_), a_)
    # the step between: σ(2z) = (1 + tanh z)/2 and 1 − σ(2z) = (1 − tanh z)/2, so 4σ(1 − σ) = (1 + tanh)(1 − tanh)
    t = sp.tanh(z_)
    plus, minus = sp.factor(2 * sigma_of_tanh), sp.factor(2 * (1 - sigma_of_tanh))
    half = sp.Mul(plus, sp.Pow(2, -1, evaluate=False), evaluate=False)  # (1 + tanh z)/2
    product = sp.Mul(plus, minus, evaluate=False)
    return {
        "name": "tanh",
        "rows": [Row([t, identity]), Row([Prime(t), DerivOf(identity, z_), chain]),
                 Row([sigmoid(2 * z_), half]),
                 Row([Prime(t), product, in_tanh], key=True), Row([d(a_, z_), in_a])],
        "a": Row([a_, t]),
        "equal": [(t, identity), (sp.diff(t, z_), chain), (chain, in_tanh), (chain, product),
                  (sigmoid(2 * z_), sigma_of_tanh)],
        "derivative": in_a,
    }


def _kinked(fz: sp.Expr, definition: sp.Expr, piecewise: sp.Expr) -> dict:
    """The pieces of f' on each side of 0 and the one-sided difference quotients at 0."""
    pos, neg = sp.Symbol("zp", positive=True), sp.Symbol("zn", negative=True)
    slope = sp.diff(piecewise, z_)
    quotient = (piecewise.subs(z_, pos) - piecewise.subs(z_, 0)) / pos  # h > 0: the right quotient
    right = sp.limit(sp.simplify(quotient), pos, 0)
    quotient = (piecewise.subs(z_, neg) - piecewise.subs(z_, 0)) / neg
    left = sp.limit(sp.simplify(quotient), neg, 0)
    return {
        "rows": [Row([fz, definition])],
        "cases": [(sp.simplify(slope.subs(z_, pos)), z_ > 0), (sp.simplify(slope.subs(z_, neg)), z_ < 0)],
        "prime": Prime(fz),
        "zero": sp.Eq(z_, 0, evaluate=False),
        "one_sided": (right, left),
        "undefined": sp.simplify(right - left) != 0,
    }


def _relu() -> dict:
    out = _kinked(relu(z_), sp.Max(0, z_), sp.Max(0, z_).rewrite(sp.Piecewise))
    return {"name": "relu", **out, "derivative": sp.Heaviside(z_)}


def _leaky() -> dict:
    slope = sp.Symbol("alpha", positive=True)
    fz = leaky_relu(z_, slope)
    out = _kinked(fz, fz.rewrite(sp.Piecewise), fz.rewrite(sp.Piecewise))  # cases: max(z, αz) only holds for α < 1
    return {"name": "leaky_relu", **out, "derivative": out["cases"]}


ACTIVATION_BUILDERS = {"sigmoid": _sigmoid, "tanh": _tanh, "relu": _relu, "leaky_relu": _leaky}


def _activations(names) -> dict:
    return {"items": [ACTIVATION_BUILDERS[name]() for name in names], "generic": Row([ActPrime(l, z[l, j]),
            d(a[l, j], z[l, j])])}


# -- δ^{[L]} for the loss/activation pairs ------------------------------------------------


def per_m(expr: sp.Expr) -> sp.Expr:
    """(a − y)/m shown as (1/m)(a − y) when the expression is 1/m times something free of m."""
    inner = sp.expand(sp.factor_terms(sp.expand(expr * m)))
    if inner.has(m):
        return expr
    if inner.could_extract_minus_sign() and not inner.is_Add:
        return Scaled(-1 / m, -inner)
    return Scaled(1 / m, inner)


def over_common_denominators(shown: sp.Expr) -> sp.Expr:
    """(1/m)(1/(1 − a) − y/(1 − a) − y/a) shown as (1/m)((1 − y)/(1 − a) − y/a): the terms of a sum that share
    a denominator over it once, as a lecturer collects them (display only; checked equal to what it shows)."""
    scaled = isinstance(shown, Scaled)
    inner = shown.args[1] if scaled else shown
    groups: dict = {}
    for term in sp.Add.make_args(inner):
        numerator, denominator = sp.fraction(sp.together(term))
        groups.setdefault(denominator, []).append(numerator)
    if len(groups) == len(sp.Add.make_args(inner)):
        return shown
    terms = []
    for denominator, numerators in groups.items():
        numerator = sp.Add(*numerators)
        sign = -1 if not numerator.is_Add and numerator.could_extract_minus_sign() else 1
        over = sp.Mul(sign * numerator, sp.Pow(denominator, -1, evaluate=False), evaluate=False)
        terms.append(sp.Mul(-1, over, evaluate=False) if sign < 0 else over)
    grouped = sp.Add(*terms, evaluate=False)
    if sp.simplify(grouped.doit() - inner) != 0:
        raise VerificationFailed("a sum collected over common denominators differs from the sum; please report this")
    return Scaled(shown.args[0], grouped) if scaled else grouped


def constant_apart(expr: sp.Expr, *variables) -> sp.Expr:
    """2z/B − 2μ/B shown as (2/B)(z − μ): the factor free of `variables` in front of the sum (display only;
    checked equal to expr)."""
    factored = sp.factor_terms(sp.together(expr))
    constant, rest = factored.as_independent(*variables, as_Add=False)
    if constant == 1 or not rest.is_Add:
        return expr
    shown = Scaled(constant, rest)
    if sp.simplify(constant * rest - expr) != 0:
        raise VerificationFailed("a constant factor taken out of a sum changed it; please report this")
    return shown


def _output_general() -> dict:
    """δ_j^{[L]} = Σ_k ∂J/∂a_k ∂a_k/∂z_j, collapsed by SymPy for an elementwise f^{[L]}."""
    terms = sp.Sum(dJda[L, k] * sp.diff(Act(L, z[L, k]), z[L, j]), (k, 1, n[L]))
    collapsed = collapse(terms)
    return {
        "chain": Row([delta[L, j], d(J, z[L, j]), sp.Sum(sp.Mul(dJda[L, k], d(a[L, k], z[L, j]), evaluate=False),
                                                      (k, 1, n[L]))]),
        "local": Row([d(a[L, k], z[L, j]), _kron_display(sp.diff(Act(L, z[L, k]), z[L, j]))]),
        "scalar": Row([delta[L, j], chain_order(collapsed, ORDER)]),
        "vector": Row([Whole(delta.label, L), Had(Grad(J, Whole(a.label, L)), ActPrime(L, Whole(z.label, L)))],
                      key=True),
        "check": [("delta_L", collapsed, Had(Whole(dJda.label, L), ActPrime(L, Whole(z.label, L))))],
    }


ORDER = ("dJda", "delta", "deltai", "W", "ai")  # display order of factors: δ_j a_k, ∂J/∂a · f′


def _kron_display(expr: sp.Expr) -> sp.Expr:
    return expr.replace(sp.KroneckerDelta, lambda x, y_: Kron(x, y_))


def _delta_vector() -> Row:
    return Row([Whole(delta.label, L), Scaled(1 / m, Whole(a.label, L) - Whole(y.label, 0))], key=True)


def _mse_linear() -> dict:
    loss = sp.Rational(1, 2) * sp.Sum((a[L, q] - y[q]) ** 2, (q, 1, n[L])) / m
    grad = collapse(sp.diff(loss, a[L, j]))
    fprime = sp.diff(z_, z_)  # the identity's derivative
    result = sp.factor(grad * fprime)
    return {
        "name": "mse_linear", "loss_expr": loss, "activation": lambda zz: zz,
        "loss": Row([J, Scaled(1 / m, sp.Sum(Scaled(sp.Rational(1, 2), (a[L, q] - y[q]) ** 2), (q, 1, n[L])))]),
        "steps": [Row([d(J, a[L, j]), per_m(grad)]), Row([ActPrime(L, z[L, j]), fprime]),
                  Row([delta[L, j], per_m(result)])],
        "result": result,
        "vector": _delta_vector(),
        "check": [("delta_L mse", result, Scaled(1 / m, Whole(a.label, L) - Whole(y.label, 0)))],
    }


def _softmax_parts():
    total = sp.Sum(sp.exp(z[L, p]), (p, 1, n[L]))
    a_k = sp.exp(z[L, k]) / total
    S = sp.Symbol("S", positive=True)
    raw = collapse(sp.diff(a_k, z[L, j]))
    # e^{z_k} = a_k S: written back in the outputs, exactly (no Σa = 1 assumed)
    jac = sp.factor(raw.subs(total, S).subs({sp.exp(z[L, k]): a[L, k] * S, sp.exp(z[L, j]): a[L, j] * S}))
    return total, a_k, raw, jac


def _ce_softmax() -> dict:
    total, a_k, raw, jac = _softmax_parts()
    loss = -sp.Sum(y[q] * sp.log(a[L, q]), (q, 1, n[L])) / m
    grad_k = collapse(sp.diff(loss, a[L, k]))
    general = collapse(sp.Sum(sp.expand(grad_k * jac), (k, 1, n[L])))
    one_hot = sp.Sum(y[k], (k, 1, n[L]))
    result = sp.factor(general.subs(one_hot, 1))
    return {
        "name": "ce_softmax", "loss_expr": loss, "activation": None,
        "loss": Row([J, Scaled(-1 / m, sp.Sum(y[q] * sp.log(a[L, q]), (q, 1, n[L])))]),
        "softmax": Row([a[L, k], sp.exp(z[L, k]) / total]),
        "jacobian": Row([d(a[L, k], z[L, j]), _kron_display(raw), _kron_display(jac)]),
        "steps": [Row([d(J, a[L, k]), per_m(grad_k)]),
                  Row([delta[L, j], sp.Sum(sp.Mul(d(J, a[L, k]), d(a[L, k], z[L, j]), evaluate=False), (k, 1, n[L])),
                       per_m(general)]),
                  Row([delta[L, j], per_m(result)])],
        "one_hot": Row([one_hot, 1]),
        "result": result, "general": general, "jacobian_expr": jac,
        "vector": _delta_vector(),
        "check": [("delta_L ce", result, Scaled(1 / m, Whole(a.label, L) - Whole(y.label, 0)))],
    }


def _bce_sigmoid() -> dict:
    loss = -sp.Sum(y[q] * sp.log(a[L, q]) + (1 - y[q]) * sp.log(1 - a[L, q]), (q, 1, n[L])) / m
    grad = collapse(sp.diff(loss, a[L, j]))
    together = sp.factor(sp.together(grad))
    fprime = sp.diff(sigmoid(z_), z_).subs(sigmoid(z_), a[L, j])
    result = sp.factor(sp.simplify(together * fprime))
    # as the seed writes it: (a − y) / (m a (1 − a)), the sign taken into the factor (a − 1) of the denominator
    seed_form = _over_m_a_one_minus_a(together, a[L, j])
    return {
        "name": "bce_sigmoid", "loss_expr": loss, "activation": sigmoid,
        "loss": Row([J, Scaled(-1 / m, sp.Sum(sp.Add(y[q] * sp.log(a[L, q]), (1 - y[q]) * sp.log(1 - a[L, q]),
                                                     evaluate=False), (q, 1, n[L])))]),  # the definition's order
        "steps": [Row([d(J, a[L, j]), over_common_denominators(per_m(grad)), seed_form]), Row([ActPrime(L, z[L, j]), fprime]),
                  Row([delta[L, j], sp.Mul(seed_form, fprime, evaluate=False), per_m(result)])],
        "result": result, "grad": grad, "fprime": fprime,
        "vector": _delta_vector(),
        "check": [("delta_L bce", result, Scaled(1 / m, Whole(a.label, L) - Whole(y.label, 0)))],
    }


def _over_m_a_one_minus_a(expr: sp.Expr, a_j: sp.Expr) -> sp.Expr:
    """expr (a rational function) as numerator / (m · a(1 − a)), numerator from SymPy: the seed's form."""
    denominator = sp.Mul(m, a_j, 1 - a_j, evaluate=False)
    numerator = sp.factor(sp.cancel(expr * m * a_j * (1 - a_j)))
    if sp.simplify(numerator / (m * a_j * (1 - a_j)) - expr) != 0:
        raise VerificationFailed("BCE: the derivative did not take the form numerator / (m a (1 − a))")
    return sp.Mul(numerator, sp.Pow(denominator, -1, evaluate=False), evaluate=False)


LOSS_BUILDERS = {"mse_linear": _mse_linear, "ce_softmax": _ce_softmax, "bce_sigmoid": _bce_sigmoid}


def _losses(names) -> dict:
    return {"general": _output_general(), "items": [LOSS_BUILDERS[name]() for name in names]}


# -- the δ recurrence and the gradients ---------------------------------------------------


def sums_first(expr: sp.Expr) -> sp.Expr:
    """(Σ_k δ_k W_kj) · f′(z_j): the sum first, as the seed writes the recurrence (display order)."""
    factors = sp.Mul.make_args(expr)
    sums = [f for f in factors if f.has(sp.Sum)]
    return sp.Mul(*sums, *[f for f in factors if not f.has(sp.Sum)], evaluate=False)


def _backward() -> dict:
    # z_k^{[l+1]} as a function of z^{[l]}: a_p^{[l]} = f^{[l]}(z_p^{[l]})
    z_next = z_definition(l + 1, k).xreplace({a[l, p]: Act(l, z[l, p])})  # p is bound: xreplace
    local = collapse(sp.diff(z_next, z[l, j]))
    recurrence = collapse(sp.Sum(delta[l + 1, k] * local, (k, 1, n[l + 1])))
    weight_local = collapse(sp.diff(z_definition(l, j), W[l, j, k]))
    bias_local = collapse(sp.diff(z_definition(l, j), b[l, j]))
    grad_W, grad_b = delta[l, j] * weight_local, delta[l, j] * bias_local
    a_local = collapse(sp.diff(z_definition(l + 1, k), a[l, j]))
    batch_W = sp.Sum(_per_example(grad_W, i), (i, 1, m))
    batch_b = sp.Sum(_per_example(grad_b, i), (i, 1, m))
    vector_rec = Had(MatProd(Tr(Whole(W.label, l + 1)), Whole(delta.label, l + 1)), ActPrime(l, Whole(z.label, l)))
    outer = MatProd(Whole(delta.label, l), Tr(Whole(a.label, l - 1)))
    return {
        "definition": Row([delta[l, j], d(J, z[l, j])]),
        "chain": Row([delta[l, j], sp.Sum(sp.Mul(d(J, z[l + 1, k]), d(z[l + 1, k], a[l, j]), d(a[l, j], z[l, j]),
                                                 evaluate=False), (k, 1, n[l + 1]))]),
        "z_next": Row([z[l + 1, k], z_definition(l + 1, k)]),
        "locals": [Row([d(z[l + 1, k], a[l, j]), a_local]), Row([d(a[l, j], z[l, j]), ActPrime(l, z[l, j])])],
        "next_delta": Row([d(J, z[l + 1, k]), delta[l + 1, k]]),  # the definition of δ, one layer up
        "weight": W[l + 1, k, j],
        "scalar": Row([delta[l, j], sums_first(recurrence)]),
        "vector": Row([Whole(delta.label, l), vector_rec], key=True),
        "weight_chain": Row([d(J, W[l, j, k]), sp.Mul(d(J, z[l, j]), d(z[l, j], W[l, j, k]), evaluate=False)]),
        "weight_local": Row([d(z[l, j], W[l, j, k]), DerivOf(z_definition(l, j), W[l, j, k]), weight_local]),
        "weight_scalar": Row([d(J, W[l, j, k]), chain_order(grad_W, ORDER)]),
        "weight_matrix": Row([Whole(dJdW.label, l), outer], key=True),
        "bias_chain": Row([d(J, b[l, j]), sp.Mul(d(J, z[l, j]), d(z[l, j], b[l, j]), evaluate=False)]),
        "bias_local": Row([d(z[l, j], b[l, j]), DerivOf(z_definition(l, j), b[l, j]), bias_local]),
        "bias_scalar": Row([d(J, b[l, j]), grad_b]),
        "bias_vector": Row([Whole(dJdb.label, l), Whole(delta.label, l)], key=True),
        "batch_W": Row([d(J, W[l, j, k]), chain_order(batch_W, ORDER)]),
        "batch_W_matrix": Row([Whole(dJdW.label, l), sp.Sum(MatProd(Whole(deltai.label, l, i),
                                                                    Tr(Whole(ai.label, l - 1, i))), (i, 1, m))],
                              key=True),
        "batch_b": Row([Whole(dJdb.label, l), sp.Sum(Whole(deltai.label, l, i), (i, 1, m))], key=True),
        "batch_W_scalar": batch_W, "batch_b_scalar": batch_b,
        "recurrence": recurrence, "grad_W": grad_W, "grad_b": grad_b,
        "a_local": a_local,
        "check": [("delta recurrence", recurrence, vector_rec), ("dJ/dW", grad_W, outer),
                  ("dJ/db", grad_b, Whole(delta.label, l))],
    }


dJdW = family("dJdW", "W", partial_of="J")
dJdb = family("dJdb", "b", partial_of="J")


def _per_example(expr: sp.Expr, example) -> sp.Expr:
    """The same index formula for example i of the batch: a_k^{[l-1]} -> a_k^{[l-1](i)}."""
    swap = {z.label: zi, a.label: ai, delta.label: deltai}
    return expr.replace(
        lambda e: isinstance(e, sp.Indexed) and e.base.label in swap,
        lambda e: swap[e.base.label][(*e.indices, example)],
    )


def _update() -> dict:
    return {
        "scalar": [Row([Assign(W[l, j, k], W[l, j, k] - eta * d(J, W[l, j, k]))]),
                   Row([Assign(b[l, j], b[l, j] - eta * d(J, b[l, j]))])],
        "vector": [Row([Assign(Whole(W.label, l), Whole(W.label, l) - eta * Whole(dJdW.label, l))]),
                   Row([Assign(Whole(b.label, l), Whole(b.label, l) - eta * Whole(dJdb.label, l))])],
        "eta": eta,
    }


# -- batch normalisation -----------------------------------------------------------------

zb = family("zb", "z", layered=False, example=True)
zhat = family("zhat", layered=False, example=True)
ztilde = family("ztilde", r"\tilde{z}", layered=False, example=True)
dJdzt = family("dJdzt", r"\tilde{z}", layered=False, example=True, partial_of="J")
mu = family("muB", r"\mu", layered=False, sub_prefix="B,")
var = family("varB", r"\sigma^2", layered=False, sub_prefix="B,")
gamma, beta = family("gammaBN", r"\gamma", layered=False), family("betaBN", r"\beta", layered=False)
eps = sp.Symbol("epsilon", positive=True)


def bn_definitions() -> dict:
    """The forward pass of seed 004, section 5, for feature k over a batch of B examples."""
    s = sp.sqrt(var[k] + eps)
    # the sums run over p, so that i stays free for "example i" (shown with i, as the seed does)
    return {
        "mu": sp.Sum(zb[k, p], (p, 1, B)) / B,
        "var": sp.Sum((zb[k, p] - mu[k]) ** 2, (p, 1, B)) / B,
        "zhat": (zb[k, i] - mu[k]) / s,
        "out": gamma[k] * zhat[k, i] + beta[k],
        "s": s,
    }


def _batchnorm() -> dict:
    defs = bn_definitions()
    s, g = defs["s"], dJdzt
    mu_def, var_def = defs["mu"], defs["var"]
    zhat_p = defs["zhat"].subs(i, p)
    out_p = defs["out"].subs(i, p)
    d_beta = collapse(sp.Sum(g[k, p] * sp.diff(out_p, beta[k]), (p, 1, B)))
    d_gamma = collapse(sp.Sum(g[k, p] * sp.diff(out_p, gamma[k]), (p, 1, B)))
    d_zhat = g[k, p] * sp.diff(out_p, zhat[k, p])
    # no Kronecker deltas here: the chain rule's product as SymPy gives it, only constants moved out of Σ
    d_var = pull_constants(sp.Sum(d_zhat * sp.diff(zhat_p, var[k]), (p, 1, B)))
    var_mu = collapse(sp.diff(var_def, mu[k]))
    var_mu_zero = sp.simplify(sp.expand(var_mu.doit()).subs(mu[k], mu_def))
    d_mu = pull_constants(sp.Sum(d_zhat * sp.diff(zhat_p, mu[k]), (p, 1, B))) + d_var * var_mu_zero
    paths = (d_zhat.subs(p, i) * sp.diff(defs["zhat"], zb[k, i]),
             d_var * collapse(sp.diff(var_def, zb[k, i])),
             d_mu * collapse(sp.diff(mu_def, zb[k, i])))
    d_z = sp.Add(*paths)
    compact = _bn_compact(d_z, s)
    return {
        "forward": [Row([mu[k], _sum_display(mu_def, B)]), Row([var[k], _sum_display(var_def, B)]),
                    Row([zhat[k, i], defs["zhat"]])],
        "out": Row([Named(sp.Symbol("BN"), zb[k, i]), ztilde[k, i], defs["out"]], key=True),
        "eps": eps,
        "d_beta": Row([d(J, beta[k]), d_beta.xreplace({p: i})], key=True),
        "d_gamma": Row([d(J, gamma[k]), d_gamma.xreplace({p: i})], key=True),
        "d_zhat": Row([d(J, zhat[k, i]), d_zhat.subs(p, i)]),
        "d_var": Row([d(J, var[k]), _as_paper(d_var)]),
        "var_mu": Row([d(var[k], mu[k]), var_mu, var_mu_zero]),
        "d_mu": Row([d(J, mu[k]), _as_paper(d_mu)]),
        "paths": Row([d(J, zb[k, i]), sp.Add(*[sp.Mul(d(J, x), d(x, zb[k, i]), evaluate=False)
                                                for x in (zhat[k, i], var[k], mu[k])], evaluate=False)]),
        "locals": [Row([d(zhat[k, i], zb[k, i]), sp.diff(defs["zhat"], zb[k, i])]),
                   Row([d(var[k], zb[k, i]), constant_apart(collapse(sp.diff(var_def, zb[k, i])), zb[k, i], mu[k])]),
                   Row([d(mu[k], zb[k, i]), collapse(sp.diff(mu_def, zb[k, i]))])],
        "d_z_long": Row([d(J, zb[k, i]), d_z]),
        "d_z": Row([d(J, zb[k, i]), compact], key=True),
        "substitution": Row([zb[k, p] - mu[k], zhat[k, p] * s]),
        "formulas": {"d_beta": d_beta, "d_gamma": d_gamma, "d_z": d_z, "d_z_compact": compact,
                     "d_var": _as_paper(d_var), "d_mu": _as_paper(d_mu)},
    }


def _as_paper(product: sp.Expr) -> Factors:
    """∂J/∂σ², ∂J/∂μ factor by factor as Ioffe & Szegedy (2015) write them: −½ γ Σ_p ∂J/∂z̃_p (z_p − μ)
    (σ² + ε)^{−3/2}; inside Σ the upstream gradient leads (chain_order). The product is SymPy's, unchanged."""
    def upstream_first(body, *limits):
        return sp.Sum(chain_order(body, (dJdzt.label.name,)), *limits)

    return Factors(product.replace(sp.Sum, upstream_first))


def _sum_display(definition: sp.Expr, size) -> sp.Expr:
    """(1/B) Σ_i … as the seed writes it (the summation index shown as i)."""
    return Scaled(1 / size, (definition * size).xreplace({p: i}))


def _bn_compact(d_z: sp.Expr, s: sp.Expr) -> sp.Expr:
    """∂J/∂z_i written with ẑ: z_p − μ = ẑ_p √(σ² + ε), then the common factor γ/(B√(σ²+ε)) taken out."""
    in_zhat = d_z.replace(lambda e: isinstance(e, sp.Indexed) and e.base.label == zb.label,
                          lambda e: mu[k] + s * zhat[e.indices])
    prefactor = gamma[k] / (B * s)
    inner = sp.expand(sp.simplify(in_zhat / prefactor))
    if inner.has(s) or inner.has(gamma[k]):
        raise VerificationFailed("batch norm: the backward formula did not take the expected form")
    return Scaled(prefactor, pull_constants(inner))


# -- presentation -------------------------------------------------------------------------


def notation() -> dict:
    """The symbols the prose mentions ($m$, $n^{[l]}$, $W^{[l]}$, …), printed by the same printer."""
    return {
        "m": m, "L": L, "l": l, "j": j, "k": k, "i": i, "B": B, "alpha": alpha, "eta": eta, "J": J, "z": z_, "a": a_,
        "n_l": n[l], "n_prev": n[l - 1], "n_next": n[l + 1], "x": Whole(a.label, 0), "x_in": sp.Symbol("x"),
        "W_l": Whole(W.label, l), "b_l": Whole(b.label, l), "z_l": Whole(z.label, l), "a_l": Whole(a.label, l),
        "a_prev": Whole(a.label, l - 1), "x_row": Row([sp.Symbol("x"), Whole(a.label, 0)]), "y": Whole(y.label, 0), "yhat": Whole(a.label, L),
        "y_hat": Hat(sp.Symbol("y")), "delta_l": Whole(delta.label, l), "delta_next": Whole(delta.label, l + 1),
        "W_next": Whole(W.label, l + 1), "W_jk": W[l, j, k], "a_k_prev": a[l - 1, k], "b_j": b[l, j],
        "z_j": z[l, j], "a_j": a[l, j], "delta_j": delta[l, j], "f_prime": ActPrime(L, Whole(z.label, L)),
        "grad_a": Grad(J, Whole(a.label, L)), "n0": n[0], "f_of_z": Act(l, Whole(z.label, l)),
        "f_name": ActName(l), "z_jL": z[L, j],
        "gamma": gamma[k], "beta": beta[k], "eps": eps, "z_ki": zb[k, i], "zt_ki": ztilde[k, i],
        "mu": mu[k], "var": var[k], "zhat": zhat[k, i], "dzt": dJdzt[k, i], "kron": Kron(j, k),
        "one_over_m": 1 / m, "delta_Li": Whole(deltai.label, L, i),
    }


BUILDERS = {
    "forward": lambda spec: _forward(),
    "activations": lambda spec: _activations(spec.activations),
    "losses": lambda spec: _losses(spec.losses),
    "backward": lambda spec: _backward(),
    "update": lambda spec: _update(),
    "batchnorm": lambda spec: _batchnorm(),
}
