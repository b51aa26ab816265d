"""`kind: attention`: single-head scaled dot-product self-attention, forward and backward.

Forward over n tokens X (n × d): Q = X W^Q, K = X W^K, V = X W^V,
S = Q Kᵀ/√d_k, P = softmax of each row of S, O = P V, and a squared loss
L = ½ Σ (O − Y)². The engine derives every gradient in index form (SymPy's
derivative of the softmax, written back in terms of P), the softmax Jacobian
of one row is derived for the concrete n and identified with diag(p) − p pᵀ,
and the matrix forms (∂L/∂W^Q = Xᵀ ∂L/∂Q, …) are checked against the index
forms before anything is printed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.core.calculus import softmax_jacobian
from derive.render.jinja import Row
from derive.core.yamlload import Doc
from derive.kinds import indexform as engine
from . import common, notation
from derive.kinds.indexform import Quantity, index, size
from .notation import Diag, MatProd, Softmax, T_, TexName as Name, Vec

KIND = "attention"
KEYS = ("kind", "title", "tokens", "features", "head", "boxes")
MAX_TOKENS, MAX_SIZE = 6, 6

i, j, l, a, c, p, r = (index(x) for x in "ijlacpr")
SIZES = {name: size(name) for name in ("n", "d", "d_k")}


@dataclass(frozen=True)
class AttentionSpec:
    file: str
    title: dict
    tokens: int
    features: int
    head: int
    boxes: str = "key"  # the key results are framed, unless the spec says `boxes: none`


def parse(doc: Doc) -> AttentionSpec:
    read = common.Reader(doc, KEYS)
    return AttentionSpec(doc.file, doc.title(), read.int("tokens", 3, 2, MAX_TOKENS),
                         read.int("features", 2, 1, MAX_SIZE), read.int("head", 2, 1, MAX_SIZE), doc.boxes() or "key")


def base(name: str) -> sp.IndexedBase:
    return sp.IndexedBase(Name(name) if name in ("WQ", "WK", "WV") else sp.Symbol(name))


def build(spec: AttentionSpec) -> engine.Model:
    n, d, dk = SIZES.values()
    X, WQ, WK, WV, Q, K, V, S, P, O, Y = (base(x) for x in ("X", "WQ", "WK", "WV", "Q", "K", "V", "S", "P", "O", "Y"))

    def proj(out, w):
        return Quantity(out, "node", ((1, n), (1, dk)), (i, c), sp.Sum(X[i, a] * w[a, c], (a, 1, d)), wrt=(p, r))

    def param(name):
        return Quantity(name, "param", ((1, d), (1, dk)), wrt=(p, r), label=Name(name))

    q = {
        "X": Quantity("X", "input", ((1, n), (1, d))),
        "Y": Quantity("Y", "target", ((1, n), (1, dk))),
        "WQ": param("WQ"), "WK": param("WK"), "WV": param("WV"),
        "Q": proj("Q", WQ), "K": proj("K", WK), "V": proj("V", WV),
        "S": Quantity("S", "node", ((1, n), (1, n)), (i, j), sp.Sum(sp.Mul(Q[i, c], K[j, c], evaluate=False), (c, 1, dk)) / sp.sqrt(dk),
                      wrt=(p, r)),
        "P": Quantity("P", "node", ((1, n), (1, n)), (i, j), sp.exp(S[i, j]) / sp.Sum(sp.exp(S[i, l]), (l, 1, n)),
                      wrt=(p, r)),
        "O": Quantity("O", "node", ((1, n), (1, dk)), (i, c), sp.Sum(P[i, j] * V[j, c], (j, 1, n)), wrt=(p, r)),
        "L": Quantity("L", "loss", (), (), sp.Sum(sp.Rational(1, 2) * (O[i, c] - Y[i, c]) ** 2, (c, 1, dk), (i, 1, n))),
    }
    sizes = dict(zip(SIZES.values(), (spec.tokens, spec.features, spec.head)))
    model = engine.Model(q, "L", sizes, folds=[_fold_softmax])
    engine.backward(model, ["O", "P", "S", "Q", "K", "V", "WQ", "WK", "WV"])
    return model


def _fold_softmax(expr: sp.Expr) -> sp.Expr:
    """exp(S_{i,j}) / Σ_l exp(S_{i,l}) -> P_{i,j}: SymPy's derivative of the softmax written with P."""
    S, P = sp.Symbol("S"), base("P")
    Z = sp.Function("Z")
    is_norm = lambda e: isinstance(e, sp.Sum) and isinstance(e.function, sp.exp)  # noqa: E731
    out = expr.replace(is_norm, lambda e: Z(e.function.args[0].indices[0]))
    out = out.replace(lambda e: isinstance(e, sp.exp) and isinstance(e.args[0], sp.Indexed)
                      and e.args[0].base.label == S,
                      lambda e: P[e.args[0].indices] * Z(e.args[0].indices[0]))
    return sp.expand(out.replace(lambda e: isinstance(e, sp.Sum), engine.pull_out))


# -- the softmax Jacobian of one row, derived at the concrete n ---------------------------------------


def row_jacobian(n_tokens: int) -> tuple[sp.Matrix, sp.Matrix, bool]:
    """(∂p_j/∂s_k by SymPy in terms of p, diag(p) − p pᵀ, and whether SymPy finds them equal)."""
    s = [sp.Symbol(f"s_{k}") for k in range(1, n_tokens + 1)]
    pv = [sp.Symbol(f"p_{k}") for k in range(1, n_tokens + 1)]
    J = sp.Matrix(softmax_jacobian(s, pv))
    col = sp.Matrix(pv)
    identity = sp.diag(*pv) - col * col.T
    return J, identity, sp.simplify(J - identity) == sp.zeros(n_tokens, n_tokens)


# -- matrix forms, each checked against the index forms ---------------------------------------------


def forward_forms() -> list[tuple]:
    """The forward pass in matrix form (P: softmax of each row), checked against the index forms' numbers."""
    X, Q, K, V, S, P, O = (sp.Symbol(x) for x in "XQKVSPO")
    W = {x: Name(x) for x in ("WQ", "WK", "WV")}
    return [(Q, MatProd(X, W["WQ"]), False), (K, MatProd(X, W["WK"]), False), (V, MatProd(X, W["WV"]), False),
            (S, MatProd(Q, T_(K)) / sp.sqrt(SIZES["d_k"]), False), (P, Softmax(S), False), (O, MatProd(P, V), False)]


def matrix_forms() -> list[tuple]:
    """(lhs, rhs, per row): the lecture's matrix formulas."""
    X, Q, K, V, P = (sp.Symbol(x) for x in "XQKVP")
    dk = SIZES["d_k"]
    g = {x: sp.Symbol(f"dL_d{x}") for x in ("O", "P", "S", "Q", "K", "V", "WQ", "WK", "WV")}
    return [
        (g["P"], MatProd(g["O"], T_(V)), False),
        (Vec("dL_ds", i), MatProd(Diag(Vec("p", i)) - MatProd(Vec("p", i), T_(Vec("p", i))), Vec("dL_dp", i)), True),
        (g["Q"], MatProd(g["S"], K) / sp.sqrt(dk), False),
        (g["K"], MatProd(T_(g["S"]), Q) / sp.sqrt(dk), False),
        (g["V"], MatProd(T_(P), g["O"]), False),
        (g["WQ"], MatProd(T_(X), g["Q"]), False),
        (g["WK"], MatProd(T_(X), g["K"]), False),
        (g["WV"], MatProd(T_(X), g["V"]), False),
    ]


def arrays_of(model: engine.Model, concrete: engine.Concrete, values: dict):
    rows_of = {"p": "P", "dL_ds": "dL_dS", "dL_dp": "dL_dP"}

    def arrays(name: str, sub):
        label = {"WQ": "WQ", "WK": "WK", "WV": "WV"}.get(name, rows_of.get(name, name))
        grad = label.startswith("dL_d")
        q = model.quantities[label[4:] if grad else label]
        b = model.gradients[q.name].base if grad else q.base
        rows, cols = (model.sizes[hi] if hi in model.sizes else int(hi) for _, hi in q.ranges)
        M = np.array([[concrete.evaluate(values, b[x, y]) for y in range(1, cols + 1)] for x in range(1, rows + 1)])
        return M if sub is None else M[sub - 1].reshape(-1, 1)

    return arrays


def _checks(model: engine.Model, forms: list):
    n = model.sizes[SIZES["n"]]

    def extra(concrete: engine.Concrete, values: dict, check: engine.Check) -> None:
        arrays = arrays_of(model, concrete, values)
        for lhs, rhs, per_row in forms:
            for row in range(1, n + 1) if per_row else (None,):
                at = {i: row} if row else {}
                want, got = notation.numeric(lhs, arrays, at), notation.numeric(rhs.xreplace(model.sizes), arrays, at)
                for w, v in zip(np.ravel(want), np.ravel(got)):
                    check.compare(f"{lhs} (matrix form)", float(v), float(w))

    return extra


# -- the kind interface ------------------------------------------------------------------------------


def derive(spec: AttentionSpec) -> common.Outcome:
    model = build(spec)
    J, identity, same = row_jacobian(spec.tokens)
    if not same:  # SymPy's softmax Jacobian must be diag(p) − p pᵀ; anything else is a bug, never printed
        from derive.errors import VerificationFailed

        raise VerificationFailed(f"{spec.file}: the softmax Jacobian is not diag(p) - p p^T; nothing was printed")
    check = common.verified(spec, model, extra=_checks(model, forward_forms() + matrix_forms()))
    return common.Outcome(spec, model, check, {"jacobian": J, "identity": identity})


def printer_settings(outcome: common.Outcome) -> dict:
    L = sp.Symbol("L")
    whole = {sp.Symbol(f"dL_d{x}"): (L, Name(x) if x in ("WQ", "WK", "WV") else sp.Symbol(x))
             for x in ("O", "P", "S", "Q", "K", "V", "WQ", "WK", "WV")}
    rows = {sp.Symbol("dL_ds"): (L, sp.Symbol("s")), sp.Symbol("dL_dp"): (L, sp.Symbol("p"))}
    return {"partials": {**outcome.model.partials, **whole, **rows}}


def context(outcome: common.Outcome, lang: str) -> dict:
    model, spec = outcome.model, outcome.spec
    qs, g = model.quantities, model.gradients

    def grad_row(name, key=False):
        return Row([g[name].element(), g[name].chain, g[name].done], key=key)

    forms = matrix_forms()
    return {
        "title": spec.title.get(lang),
        "boxes": spec.boxes,
        "sizes": [Row([sym, sp.Integer(v)]) for sym, v in model.sizes.items()],
        "forward": [Row([qs[x].element(qs[x].indices), qs[x].definition]) for x in ("Q", "K", "V", "S", "P", "O")],
        "forward_matrix": [Row([lhs, rhs]) for lhs, rhs, _ in forward_forms()],
        "loss": Row([sp.Symbol("L"), qs["L"].definition]),
        "dO": Row([g["O"].element(), g["O"].done]),
        "dP": grad_row("P"),
        "dS": grad_row("S"),
        "jacobian": Row([engine.Local(Vec("p"), Vec("s")), outcome.extra["jacobian"],
                         Diag(Vec("p")) - MatProd(Vec("p"), T_(Vec("p")))]),
        "dQK": [grad_row("Q"), grad_row("K")],
        "dV": grad_row("V"),
        "dW": [grad_row(x, key=True) for x in ("WQ", "WK", "WV")],
        "example": engine.example(model, "WQ"),
        "matrix": [Row([lhs, rhs], key=lhs.name.startswith("dL_dW") if lhs.is_Symbol else False)
                   for lhs, rhs, _ in forms],
        "check": outcome.check,
    }


def to_json(outcome: common.Outcome) -> dict:
    return common.to_json(KIND, outcome)


# -- figure: the computation, matrix by matrix ------------------------------------------------------


def figure(outcome: common.Outcome, lang: str = "en"):
    """X → Q, K, V (by W^Q, W^K, W^V) → S → P (softmax by rows) → O → L, one node per matrix."""
    from derive.render.diagram import Edge, Figure, Label, Layered, Node, name_label

    def w(letter: str) -> Label:
        return Label(f"W^{{{letter}}}", "W", "", letter)

    columns = [[Node(name_label("X"))], [Node(name_label(x)) for x in "QKV"], [Node(name_label("S"))],
               [Node(name_label("P"))], [Node(name_label("O"))], [Node(name_label("L"))]]
    edges = [Edge((0, 0), (1, 0), above=w("Q")), Edge((0, 0), (1, 1), above=w("K")), Edge((0, 0), (1, 2), above=w("V")),
             Edge((1, 0), (2, 0)), Edge((1, 1), (2, 0), below=Label(r"/\sqrt{d_k}", "/√d", "k")),
             Edge((2, 0), (3, 0), above=Label(r"\mathrm{softmax}", "softmax")), Edge((3, 0), (4, 0)), Edge((1, 2), (4, 0)),
             Edge((4, 0), (5, 0))]
    return Figure(Layered(columns, edges), "L")
