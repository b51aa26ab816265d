"""`kind: rnn`: an Elman network (tanh) unrolled over T steps, and backpropagation through time.

Forward, for t = 1..T from a given h_0: a_t = W h_{t-1} + U x_t + b,
h_t = tanh(a_t), y_t = V h_t + c, and the loss L = Σ_t ½‖y_t − τ_t‖². The
engine derives, in index form, ∂L/∂y_t, ∂L/∂h_t (through y_t and through
a_{t+1}: the recurrence of δ_t = ∂L/∂a_t backwards through time), and every
parameter's gradient, a sum over the steps because the weights are shared.
The Jacobian ∂h_t/∂h_{t-1} = diag(1 − h_t²) W is derived too, and with tanh′ ≤ 1
(a maximum found by SymPy) the bound ‖∂h_T/∂h_k‖₂ ≤ ‖W‖₂^{T−k} that explains
why the gradient through many steps vanishes or may explode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from derive.render.jinja import Row
from derive.render.numbers import decimal_sign, times_sign
from derive.core.yamlload import Doc
from derive.kinds import indexform as engine
from . import common
from derive.kinds.indexform import Quantity, index, size
from . import notation
from .notation import Diag, Had, Leq, MatProd, Norm, T_, Vec

KIND = "rnn"
KEYS = ("kind", "title", "steps", "input", "hidden", "output", "target", "example_W", "boxes")
MAX_STEPS, MAX_SIZE = 8, 6

t, s, i, j, k, l, p, r = (index(c) for c in "tsijklpr")


@dataclass(frozen=True)
class RnnSpec:
    file: str
    title: dict
    steps: int
    n_x: int
    n_h: int
    n_y: int
    example_W: list | None
    boxes: str = "key"  # the key results are framed, unless the spec says `boxes: none`


def parse(doc: Doc) -> RnnSpec:
    read = common.Reader(doc, KEYS)
    spec = RnnSpec(doc.file, doc.title(), read.int("steps", 3, 1, MAX_STEPS), read.int("input", 2, 1, MAX_SIZE),
                   read.int("hidden", 2, 1, MAX_SIZE), read.int("output", 1, 1, MAX_SIZE), None)
    return RnnSpec(**{**spec.__dict__, "example_W": read.matrix("example_W", spec.n_h, spec.n_h),
                      "boxes": doc.boxes() or "key"})


SIZES = {name: size(name) for name in ("T", "n_x", "n_h", "n_y")}


def build(spec: RnnSpec) -> engine.Model:
    T, nx, nh, ny = SIZES.values()
    W, U, b, V, c = (sp.IndexedBase(n) for n in "WUbVc")
    x, h, a, y, tau = (sp.IndexedBase(n) for n in ("x", "h", "a", "y", "tau"))
    q = {
        "x": Quantity("x", "input", ((1, T), (1, nx))),
        "tau": Quantity("tau", "target", ((1, T), (1, ny))),
        "W": Quantity("W", "param", ((1, nh), (1, nh)), wrt=(p, r)),
        "U": Quantity("U", "param", ((1, nh), (1, nx)), wrt=(p, r)),
        "b": Quantity("b", "param", ((1, nh),), wrt=(p,)),
        "V": Quantity("V", "param", ((1, ny), (1, nh)), wrt=(p, r)),
        "c": Quantity("c", "param", ((1, ny),), wrt=(p,)),
        "a": Quantity("a", "node", ((1, T), (1, nh)), (t, i),
                      sp.Sum(W[i, k] * h[t - 1, k], (k, 1, nh)) + sp.Sum(U[i, k] * x[t, k], (k, 1, nx)) + b[i],
                      grad_name="delta", wrt=(s, p)),
        "h": Quantity("h", "node", ((0, T), (1, nh)), (t, i), sp.tanh(a[t, i]),
                      given=tuple((0, u) for u in range(1, spec.n_h + 1)), wrt=(s, p), defined=((1, T), (1, nh))),
        "y": Quantity("y", "node", ((1, T), (1, ny)), (t, j), sp.Sum(V[j, k] * h[t, k], (k, 1, nh)) + c[j],
                      wrt=(s, p)),
        "L": Quantity("L", "loss", (), (), sp.Sum(sp.Rational(1, 2) * (y[t, j] - tau[t, j]) ** 2, (j, 1, ny), (t, 1, T))),
    }
    sizes = dict(zip(SIZES.values(), (spec.steps, spec.n_x, spec.n_h, spec.n_y)))
    model = engine.Model(q, "L", sizes, folds=[_fold_tanh])
    engine.backward(model, ["y", "h", "a", "W", "U", "b", "V", "c"])
    return model


def _fold_tanh(expr: sp.Expr) -> sp.Expr:
    """tanh(a_{t,i}) -> h_{t,i}: the activation written by its name, as the lecture uses it."""
    h = sp.IndexedBase("h")
    return expr.replace(lambda e: isinstance(e, sp.tanh) and isinstance(e.args[0], sp.Indexed)
                        and e.args[0].base.label == sp.Symbol("a"), lambda e: h[e.args[0].indices])


# -- what the lecture adds: the Jacobian through one step, its norm, the bound -------------------------


def step_jacobian(model: engine.Model) -> sp.Expr:
    """∂h_{t,i}/∂h_{t-1,l} = ∂h_{t,i}/∂a_{t,i} · ∂a_{t,i}/∂h_{t-1,l}, each by SymPy."""
    qa, qh = model.quantities["a"], model.quantities["h"]
    outer = _fold_tanh(sp.diff(qh.definition, qa.element((t, i))))
    inner = engine.sum_out(sp.diff(qa.definition, qh.element((t - 1, l))))
    return outer * inner


def number(x: float, lang: str) -> str:
    """x with 3 significant digits as LaTeX math, in the language's format (0{,}605 in ru and pl)."""
    mantissa, exponent = f"{x:.2e}".split("e")
    exponent = int(exponent)
    text = f"{x:.3g}" if -4 <= exponent < 4 else mantissa
    sign = decimal_sign(lang)  # the language entry's (language.toml)
    text = text.replace(".", "{" + sign + "}") if sign != "." else text
    return text if -4 <= exponent < 4 else rf"{text} {times_sign(lang)} 10^{{{exponent}}}"


JACOBIAN = MatProd(Diag(1 - Vec("h", t) ** 2), sp.Symbol("W"))  # shown beside the index form it is checked against


def tanh_prime_max() -> sp.Expr:
    """max_z tanh′(z), found by SymPy (at the stationary point z = 0)."""
    z = sp.Symbol("z", real=True)
    return sp.maximum(sp.diff(sp.tanh(z), z), z)


def bound_table(example_W: list | None, steps: int, lang: str) -> dict | None:
    """‖W‖₂ of the spec's example matrix (numpy's SVD) and the bound ‖W‖₂ⁿ after n steps, as numbers of lang."""
    if example_W is None:
        return None
    sigma = float(np.linalg.norm(np.array(example_W), 2))
    spans = sorted({1, steps, 10, 50})
    rows = [rf"\lVert W \rVert_2^{{{n}}} \approx {number(sigma ** n, lang)}" for n in spans]
    matrix = r" \\ ".join(" & ".join(number(x, lang) for x in row) for row in example_W)
    return {"W_tex": rf"\begin{{bmatrix}} {matrix} \end{{bmatrix}}", "sigma_tex": number(sigma, lang),
            "rows_tex": r",\qquad ".join(rows), "vanishes": sigma < 1}


def arrays_of(model: engine.Model, concrete: engine.Concrete, values: dict):
    """arrays(name, sub) for notation.numeric: h_t, delta_t, e_t = ∂L/∂y_t as columns; W, ∂L/∂W as matrices."""
    labels = {"e": "dL_dy", "delta": "delta"}

    def arrays(name: str, sub):
        label = labels.get(name, name)
        base = sp.IndexedBase(label)
        if sub is None:
            q = model.quantities.get(name) or model.gradients[name[len("dL_d"):]].quantity
            if len(q.ranges) == 1:  # a bias: a column
                n = model.sizes.get(q.ranges[0][1], q.ranges[0][1])
                return np.array([[concrete.evaluate(values, base[u])] for u in range(1, n + 1)])
            rows, cols = (model.sizes.get(hi, hi) for _, hi in q.ranges)
            return np.array([[concrete.evaluate(values, base[a, b]) for b in range(1, cols + 1)]
                             for a in range(1, rows + 1)])
        q = model.quantities[{"e": "y", "delta": "a"}.get(name, name)]
        n = model.sizes.get(q.ranges[1][1], q.ranges[1][1])
        return np.array([[concrete.evaluate(values, base[sub, u])] for u in range(1, n + 1)])

    return arrays


def _checks(model: engine.Model, jac: sp.Expr, bound: sp.Expr, matrix_forms: list):
    """Shown forms against what they summarise: the step Jacobian against differences of h_t in h_{t-1},
    its spectral norm against the bound, each matrix form against the index form's numbers, and the
    products of Jacobians against differences of h_T in h_k."""
    T, nh = model.sizes[SIZES["T"]], model.sizes[SIZES["n_h"]]
    h = sp.IndexedBase("h")

    def extra(concrete: engine.Concrete, values: dict, check: engine.Check) -> None:
        arrays = arrays_of(model, concrete, values)
        steps = {}
        for tt in range(1, T + 1):
            J = steps[tt] = np.zeros((nh, nh))
            for ii in range(1, nh + 1):
                for kk in range(1, nh + 1):
                    formula = concrete.formula(jac, {t: tt, i: ii, l: kk})
                    atoms = {a: concrete.evaluate(values, a) for a in formula.atoms(sp.Indexed)}
                    J[ii - 1, kk - 1] = float(formula.xreplace(atoms))
                    check.compare(f"dh_{tt}{ii}/dh_{tt - 1}{kk}", J[ii - 1, kk - 1],
                                  _step_difference(concrete, values, h[tt, ii], h[tt - 1, kk]))
            W = arrays("W", None)
            for g, w in zip(np.ravel(notation.numeric(JACOBIAN, arrays, {t: tt})), np.ravel(J)):
                check.compare(f"dh_{tt}/dh_{tt - 1} (matrix form)", float(g), float(w))
            norm, limit = np.linalg.norm(J, 2), float(bound) * np.linalg.norm(W, 2)
            check.record(f"||dh_{tt}/dh_{tt - 1}|| <= ||W||", max(0.0, norm - limit), norm, limit)
            for lhs, rhs, per_step in matrix_forms:
                if per_step or tt == 1:
                    want, got = notation.numeric(lhs, arrays, {t: tt}), notation.numeric(rhs, arrays, {t: tt})
                    for w, g in zip(np.ravel(want), np.ravel(got)):
                        check.compare(f"{lhs} (matrix form, t = {tt})", float(g), float(w))
        _check_products(concrete, values, steps, arrays("W", None), check)

    return extra


def _check_products(concrete: engine.Concrete, values: dict, steps: dict, W: np.ndarray, check) -> None:
    """∂h_T/∂h_k = J_T J_{T-1} … J_{k+1} (the product shown) against differences of h_T in h_k, and its bound."""
    h, T, nh = sp.IndexedBase("h"), max(steps), len(W)
    for kk in range(T):
        product = np.eye(nh)
        for tt in range(T, kk, -1):
            product = product @ steps[tt]
        for ii in range(1, nh + 1):
            for ll in range(1, nh + 1):
                check.compare(f"dh_{T}{ii}/dh_{kk}{ll} (product)", float(product[ii - 1, ll - 1]),
                              _step_difference(concrete, values, h[T, ii], h[kk, ll]))
        norm, limit = np.linalg.norm(product, 2), np.linalg.norm(W, 2) ** (T - kk)
        check.record(f"||dh_{T}/dh_{kk}|| <= ||W||^{T - kk}", max(0.0, norm - limit * (1 + 1e-12)), norm, limit)


def _step_difference(concrete: engine.Concrete, values: dict, out, wrt) -> float:
    step = int(wrt.indices[0])
    kept = {name: v for name, v in values.items() if not _after(name, step)}
    base = concrete.evaluate(dict(values), wrt)

    def at(x):
        nudged = dict(kept)
        nudged[engine.key(wrt)] = x
        return concrete.evaluate(nudged, out)

    return engine.central_difference(at, base)


def _after(name: str, step: int) -> bool:
    """Values computed from h at `step` (nodes at later steps, and every gradient): recomputed when it is nudged."""
    label, idx = engine.parse_key(name)
    if label in ("a", "h", "y"):
        return idx[0] > step
    return label not in ("x", "tau", "W", "U", "b", "V", "c")


def matrix_forms() -> list[tuple]:
    """(lhs, rhs, per step) of the matrix forms the lecture shows; each is checked against the index forms."""
    W, V = sp.Symbol("W"), sp.Symbol("V")
    h = Vec("h", t)
    return [
        (Vec("delta", t), Had(MatProd(T_(V), Vec("e", t)) + MatProd(T_(W), Vec("delta", engine.number_last(t + 1))), 1 - h ** 2), True),
        (sp.Symbol("dL_dW"), sp.Sum(MatProd(Vec("delta", t), T_(Vec("h", t - 1))), (t, 1, SIZES["T"])), False),
        (sp.Symbol("dL_dU"), sp.Sum(MatProd(Vec("delta", t), T_(Vec("x", t))), (t, 1, SIZES["T"])), False),
        (sp.Symbol("dL_dV"), sp.Sum(MatProd(Vec("e", t), T_(h)), (t, 1, SIZES["T"])), False),
    ]


# -- the kind interface ------------------------------------------------------------------------------


def derive(spec: RnnSpec) -> common.Outcome:
    model = build(spec)
    jac = step_jacobian(model)
    bound = tanh_prime_max()
    forms = [(lhs, rhs.xreplace(model.sizes), step) for lhs, rhs, step in forward_forms() + matrix_forms()]
    check = common.verified(spec, model, extra=_checks(model, jac, bound, forms))
    return common.Outcome(spec, model, check, {"jacobian": jac, "tanh_max": bound})


def printer_settings(outcome: common.Outcome) -> dict:
    matrices = {sp.Symbol(f"dL_d{n}"): (sp.Symbol("L"), sp.Symbol(n)) for n in "WUV"}
    return {"partials": {**outcome.model.partials, **matrices}, "terms": "bias-last"}


def context(outcome: common.Outcome, lang: str) -> dict:
    model, spec = outcome.model, outcome.spec
    qs, g = model.quantities, model.gradients
    T = SIZES["T"]
    jac = outcome.extra["jacobian"]
    h, W = sp.IndexedBase("h"), sp.Symbol("W")
    return {
        "title": spec.title.get(lang),
        "boxes": spec.boxes,
        "sizes": [Row([sym, sp.Integer(v)]) for sym, v in model.sizes.items()],
        "forward": [Row([qs[n].element(qs[n].indices), qs[n].definition]) for n in ("a", "h", "y")],
        "forward_matrix": [Row([lhs, rhs]) for lhs, rhs, _ in forward_forms()],
        "loss": Row([sp.Symbol("L"), qs["L"].definition]),
        "dy": Row([g["y"].element(), g["y"].done]),
        "dh": Row([g["h"].element(), g["h"].chain, g["h"].done]),
        "delta": Row([g["a"].element(), g["a"].done], key=True),
        "matrix": [Row([lhs, rhs], key=True) for lhs, rhs, _ in matrix_forms()],
        "params": [Row([g[n].element(), g[n].chain, g[n].done], key=True) for n in ("W", "U", "b", "V", "c")],
        "unrolled": Row([g["W"].element(), _unrolled(g["W"].done, model.sizes[T])]),
        "jacobian": Row([engine.Local(h[t, i], h[t - 1, l]), jac]),
        "jacobian_matrix": Row([engine.Local(Vec("h", t), Vec("h", t - 1)), JACOBIAN]),
        "tanh_max": outcome.extra["tanh_max"],
        "norm_step": Leq(Norm(engine.Local(Vec("h", t), Vec("h", t - 1))),
                         MatProd(Norm(Diag(1 - Vec("h", t) ** 2)), Norm(W)), Norm(W)),
        "norm_chain": Leq(Norm(engine.Local(Vec("h", T), Vec("h", k))), Norm(W) ** (T - k)),
        "product": Row([engine.Local(Vec("h", T), Vec("h", k)),
                        sp.Product(MatProd(Diag(1 - Vec("h", t) ** 2), W), (t, engine.number_last(k + 1), T))]),
        "example": bound_table(spec.example_W, spec.steps, lang),
        "steps": spec.steps,
        "check": outcome.check,
    }


def forward_forms() -> list[tuple]:
    """The forward pass in matrix form, checked step by step against the index form's numbers."""
    W, U, V = (sp.Symbol(n) for n in "WUV")
    return [(Vec("a", t), MatProd(W, Vec("h", t - 1)) + MatProd(U, Vec("x", t)) + Vec("b"), True),
            (Vec("h", t), sp.tanh(Vec("a", t)), True),
            (Vec("y", t), MatProd(V, Vec("h", t)) + Vec("c"), True)]


def _unrolled(expr: sp.Expr, steps: int) -> sp.Expr:
    """Σ_{t=1}^{T} … written out for the spec's T: one term per step."""
    return expr.xreplace({SIZES["T"]: sp.Integer(steps)}).doit()


def to_json(outcome: common.Outcome) -> dict:
    return common.to_json(KIND, outcome)


# -- figure: the network unrolled in time ----------------------------------------------------------


def figure(outcome: common.Outcome, lang: str = "en"):
    """One column per step: y_t above h_t above x_t; W carries h_{t-1} to h_t, U and V go up (shared by all steps)."""
    from derive.render.diagram import Edge, Figure, Layered, Node, name_label

    steps = outcome.spec.steps
    columns = [[Node(name_label("h_0"))]]
    edges = []
    for t_ in range(1, steps + 1):
        columns.append([Node(name_label(f"y_{t_}")), Node(name_label(f"h_{t_}")), Node(name_label(f"x_{t_}"))])
        source = (t_ - 1, 0 if t_ == 1 else 1)
        edges += [Edge(source, (t_, 1), above=name_label("W")), Edge((t_, 2), (t_, 1), above=name_label("U")),
                  Edge((t_, 1), (t_, 0), above=name_label("V"))]
    return Figure(Layered(columns, edges), "L")
