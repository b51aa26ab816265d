"""Numerical and entry-wise checks of the `kind: mlp` lecture, run before anything is printed.

Each general formula of derive.mlp is made concrete by substitution (l -> 2,
n^{[1]} -> 4, …) and checked against an independent reference: matrix forms
entry by entry against the index forms (exact, SymPy), activation derivatives
and δ^{[L]} against central finite differences, the δ recurrence and the
gradients of W and b on a whole random three-layer network with a batch of
examples, batch normalisation's backward pass on a random batch. The result
is a list of Claims (what, largest relative difference).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from derive.core.calculus import sigmoid
from derive.render.notation import Act, ActPrime, Grad, Had, MatProd, Scaled, Tr, Whole
from derive.kinds.mlp import formulas as mlp
from derive.kinds.mlp.formulas import Claim, L, B, a, ai, b, delta, deltai, i, j, k, l, m, n, y, z, zi, W
from derive.numeric.harness import FLOAT as TOLERANCE, STEP, from_errors, scaled_error
from derive.render.printing import ascii, latex
from derive.render.jinja import boxed

SIZES = (2, 3, 2, 3)  # n^{[0]} … n^{[3]}: L = 3 layers, no two neighbours of equal size (a transposed W cannot pass)
EXAMPLES = 2
SEED = 0
LEAK = 0.1  # the leaky ReLU slope α where a number is needed


_rel = scaled_error


def _worst(pairs) -> float:
    return max((_rel(float(x), float(r)) for x, r in pairs), default=0.0)


def central(f, x: np.ndarray) -> np.ndarray:
    """Central differences of a scalar function f at x, one coordinate at a time."""
    out = np.empty_like(x)
    for c in range(x.size):
        e = np.zeros_like(x)
        e[c] = STEP
        out[c] = (f(x + e) - f(x - e)) / (2 * STEP)
    return out


# -- concrete instances of the general formulas -------------------------------------------


def concrete_sizes(sizes=SIZES) -> dict:
    return {n[t]: size for t, size in enumerate(sizes)}


def instantiate(expr: sp.Expr, layer: int | None = None, sizes=SIZES, extra=None, **indices) -> sp.Expr:
    """The general formula at layer l = layer (L = len(sizes) − 1), concrete sizes and indices."""
    subs = {L: len(sizes) - 1, **(extra or {})}
    if layer is not None:
        subs[l] = layer
    out = expr.subs(subs).subs(concrete_sizes(sizes))
    out = out.subs({sp.Symbol(name, integer=True, positive=True): v for name, v in indices.items()})
    return out.doit()


def to_matrix(expr: sp.Expr, layer: int, sizes=SIZES) -> sp.Matrix:
    """A matrix-form display (Whole, MatProd, Tr, Had, Scaled, …) as a concrete SymPy Matrix."""
    top = len(sizes) - 1
    expr = expr.subs({l: layer, L: top, m: m})
    return _matrix(expr, sizes, top)


def _matrix(e, sizes, top):
    if isinstance(e, Whole):
        return _whole(e, sizes, top)
    if isinstance(e, MatProd):
        out = _matrix(e.args[0], sizes, top)
        for arg in e.args[1:]:
            out = out * _matrix(arg, sizes, top)
        return out
    if isinstance(e, Tr):
        return _matrix(e.args[0], sizes, top).T
    if isinstance(e, Had):
        out = _matrix(e.args[0], sizes, top)
        for arg in e.args[1:]:
            out = out.multiply_elementwise(_matrix(arg, sizes, top))
        return out
    if isinstance(e, (Act, ActPrime)):
        layer, inner = e.args
        return _matrix(inner, sizes, top).applyfunc(lambda x: type(e)(layer, x))
    if isinstance(e, Grad):
        return _whole(Whole(mlp.dJda.label, e.args[1].args[1]), sizes, top)
    if isinstance(e, Scaled):
        return e.args[0] * _matrix(e.args[1], sizes, top)
    if isinstance(e, sp.Add):
        parts = [_matrix(x, sizes, top) for x in e.args]
        return sum(parts[1:], parts[0])
    if isinstance(e, sp.Mul):
        scalars = [x for x in e.args if not _is_matrix(x)]
        (mat,) = [x for x in e.args if _is_matrix(x)]
        return sp.Mul(*scalars) * _matrix(mat, sizes, top)
    raise TypeError(f"not a matrix form: {e}")


def _is_matrix(e) -> bool:
    return isinstance(e, (Whole, MatProd, Tr, Had, Act, ActPrime, Grad, Scaled, sp.Add, sp.Mul))


MATRICES = {"W", "dJdW"}


def _whole(e: Whole, sizes, top) -> sp.Matrix:
    label, layer, *example = e.args
    name = str(label)
    family = mlp_family(name)
    layer = int(layer) if name != "y" else top
    ex = tuple(example)
    if name in MATRICES:
        return sp.Matrix(sizes[layer], sizes[layer - 1], lambda r, c: family[(layer, r + 1, c + 1, *ex)])
    if name == "y":
        return sp.Matrix(sizes[top], 1, lambda r, c: family[r + 1])
    return sp.Matrix(sizes[layer], 1, lambda r, c: family[(layer, r + 1, *ex)])


def mlp_family(name: str):
    return {
        "W": W, "b": b, "z": z, "a": a, "delta": delta, "y": y, "dJda": mlp.dJda, "dJdW": mlp.dJdW,
        "dJdb": mlp.dJdb, "ai": ai, "zi": zi, "deltai": deltai,
    }[name]


def _index_matrix(index_expr: sp.Expr, shape: tuple[int, int], layer: int, sizes=SIZES) -> sp.Matrix:
    rows, cols = shape
    if cols == 1:
        return sp.Matrix(rows, 1, lambda r, c: instantiate(index_expr, layer, sizes, j=r + 1))
    return sp.Matrix(rows, cols, lambda r, c: instantiate(index_expr, layer, sizes, j=r + 1, k=c + 1))


def matrix_agrees(index_expr: sp.Expr, display: sp.Expr, layer: int = 2) -> bool:
    """Entry (j[, k]) of the matrix form equals the index form, exactly, at concrete sizes.

    A form whose shapes do not fit (a transpose in the wrong place) does not agree.
    """
    try:
        matrix = to_matrix(display, layer)
    except sp.ShapeError:
        return False
    expected = _index_matrix(index_expr, matrix.shape, layer)
    return all(sp.expand(x - e) == 0 for x, e in zip(matrix, expected))


# -- the checks --------------------------------------------------------------------------


def check(outcome) -> list[Claim]:
    rng = np.random.default_rng(SEED)
    claims = []
    for name, part in outcome.parts.items():
        claims += _matrix_claims(part)
        claims += CHECKS[name](part, rng)
    return claims


def _matrix_claims(part) -> list[Claim]:
    out = []
    items = [part] + list(part.get("items", [])) + ([part["general"]] if "general" in part else [])
    for item in items:
        for what, index_expr, display in item.get("check", []):
            out.append(Claim(f"{what}: matrix form = index form entry by entry", 0.0 if matrix_agrees(
                index_expr, display) else 1.0))
    return out


def _nothing(part, rng) -> list[Claim]:
    """Sections made of definitions only: their matrix forms are checked by _matrix_claims."""
    return []


def _activation_claims(part, rng) -> list[Claim]:
    zs = rng.uniform(-2.0, 2.0, 5)
    zs = zs[np.abs(zs) > 0.05]
    claims = []
    for item in part["items"]:
        claims += ACTIVATION_CHECKS[item["name"]](item, zs)
    return claims


def _numeric(expr, zz) -> float:
    return float(sp.N(expr.subs({mlp.z_: zz, mlp.alpha: LEAK})))


def _smooth(item, zs) -> list[Claim]:
    f = item["a"].parts[1]
    derivative = item["derivative"].subs(mlp.a_, f)
    claims = [Claim(f"{item['name']}: {ascii(x)} = {ascii(e)}",
                    _worst((_numeric(x, v), _numeric(e, v)) for v in zs)) for x, e in item["equal"]]
    fd = [(_numeric(derivative, v), (_numeric(f, v + STEP) - _numeric(f, v - STEP)) / (2 * STEP)) for v in zs]
    return claims + [Claim(f"{item['name']}: derivative vs finite differences", _worst(fd))]


def _kinked(item, zs) -> list[Claim]:
    f = item["rows"][0].parts[0]
    pairs = []
    for value, cond in item["cases"]:
        side = [v for v in zs if bool(cond.subs(mlp.z_, v))] or [1.0 if bool(cond.subs(mlp.z_, 1)) else -1.0]
        for v in side:
            pairs.append((_numeric(value, v), (_numeric(f, v + STEP) - _numeric(f, v - STEP)) / (2 * STEP)))
    return [Claim(f"{item['name']}: derivative on each side of 0 vs finite differences", _worst(pairs))]


ACTIVATION_CHECKS = {"sigmoid": _smooth, "tanh": _smooth, "relu": _kinked, "leaky_relu": _kinked}


def _loss_claims(part, rng) -> list[Claim]:
    claims = [claim for item in part["items"] for claim in _delta_L(item, rng)]
    for item in part["items"]:
        claims += EXTRA_LOSS_CHECKS.get(item["name"], lambda item, rng: [])(item, rng)
    return claims


def _softmax_numeric(zs):
    e = np.exp(zs - zs.max())
    return e / e.sum()


def _ce_extra(item, rng, size: int = 3, batch: float = 4) -> list[Claim]:
    """The softmax Jacobian, and δ_j before Σ y = 1 is used (y not normalised), vs finite differences."""
    zs = rng.uniform(-1.5, 1.5, size)
    probs = _softmax_numeric(zs)
    sizes = (size,) * 2
    pairs = []
    for r in range(size):
        numeric = central(lambda v: _softmax_numeric(v)[r], zs)
        for c in range(size):
            expr = instantiate(item["jacobian_expr"], None, sizes, j=c + 1, k=r + 1)
            pairs.append((float(expr.subs({a[1, x + 1]: probs[x] for x in range(size)})), numeric[c]))
    ys = rng.uniform(0.1, 0.9, size)  # deliberately not summing to 1
    J = lambda v: -float(ys @ np.log(_softmax_numeric(v))) / batch
    numeric = central(J, zs)
    general = []
    for r in range(size):
        expr = instantiate(item["general"], None, sizes, extra={m: batch}, j=r + 1)
        values = {a[1, x + 1]: probs[x] for x in range(size)} | {y[x + 1]: ys[x] for x in range(size)}
        general.append((float(expr.xreplace(values)), numeric[r]))
    return [Claim("softmax Jacobian vs finite differences", _worst(pairs)),
            Claim("ce_softmax: delta before the one-hot step vs finite differences", _worst(general))]


def _bce_extra(item, rng) -> list[Claim]:
    """∂J/∂a as derived and in the combined form shown beside it, at random points."""
    collected, together = item["steps"][0].parts[1:3]
    collected = collected.args[0] * collected.args[1] if isinstance(collected, Scaled) else collected
    pairs = []
    for A, Y in rng.uniform(0.05, 0.95, (4, 2)):
        values = {a[L, j]: A, y[j]: Y, m: 3}
        exact = float(item["grad"].subs(values))
        pairs += [(exact, float(together.subs(values))), (exact, float(collected.doit().subs(values)))]
    return [Claim("bce_sigmoid: the two forms of dJ/da agree", _worst(pairs))]


EXTRA_LOSS_CHECKS = {"ce_softmax": _ce_extra, "bce_sigmoid": _bce_extra}


def _delta_L(item, rng, size: int = 3, batch: float = 4) -> list[Claim]:
    """δ_j^{[L]} = (a_j − y_j)/m against finite differences of J(z^{[L]}) for one random point."""
    zs = rng.uniform(-1.5, 1.5, size)
    ys = np.eye(size)[rng.integers(size)] if item["name"] == "ce_softmax" else rng.uniform(0.05, 0.95, size)
    sizes = (size,) * 2
    loss = instantiate(item["loss_expr"], None, sizes).subs(m, batch)
    zsym = [z[1, r + 1] for r in range(size)]
    outputs = _outputs(item, zsym)
    values = {y[r + 1]: ys[r] for r in range(size)}
    J = sp.lambdify([zsym], loss.subs({a[1, r + 1]: outputs[r] for r in range(size)}).subs(values)
                    .rewrite(sp.exp), "numpy")
    fd = central(lambda v: J(v), zs)
    a_vals = [float(sp.N(o.subs(dict(zip(zsym, zs))))) for o in outputs]
    result = [float(instantiate(item["result"], None, sizes, j=r + 1).subs(m, batch).subs(values)
                    .subs({a[1, r + 1]: a_vals[r]})) for r in range(size)]
    return [Claim(f"{item['name']}: delta^[L] = (a - y)/m vs finite differences", _worst(zip(result, fd)))]


def _outputs(item, zsym):
    if item["activation"] is None:  # softmax
        total = sum(sp.exp(v) for v in zsym)
        return [sp.exp(v) / total for v in zsym]
    return [item["activation"](v) for v in zsym]


# -- the whole network: δ recurrence and gradients against finite differences ---------------


HIDDEN = {1: sp.tanh, 2: sigmoid}


@lru_cache(maxsize=None)
def _rule(layer: int) -> sp.Expr:
    return mlp._tanh()["derivative"] if HIDDEN[layer] is sp.tanh else mlp._sigmoid()["derivative"]


def _act_prime(layer: int):
    """The derivative of the check network's activation of `layer`, from the lecture's derivations."""
    return lambda arg: _rule(layer).subs(mlp.a_, HIDDEN[layer](arg))


class Network:
    """A random 3-layer network (tanh, σ, softmax + CE) with a batch of EXAMPLES examples."""

    def __init__(self, rng):
        top = len(SIZES) - 1
        self.params = [W[t, r, c] for t in range(1, top + 1) for r in range(1, SIZES[t] + 1)
                       for c in range(1, SIZES[t - 1] + 1)]
        self.params += [b[t, r] for t in range(1, top + 1) for r in range(1, SIZES[t] + 1)]
        self.theta = rng.uniform(-1.0, 1.0, len(self.params))
        self.x = rng.uniform(-2.0, 2.0, (SIZES[0], EXAMPLES))
        self.y = np.eye(SIZES[top])[:, rng.integers(SIZES[top], size=EXAMPLES)]
        self.top = top
        self.outputs, self.pre = self._forward()
        self.loss = self._loss()
        plain = sp.symbols(f"t0:{len(self.params)}")  # lambdify is slow on Indexed arguments
        self.J = sp.lambdify([plain], self.loss.xreplace(dict(zip(self.params, plain))).rewrite(sp.exp), "numpy")

    def _forward(self):
        outputs, pre = {}, {}
        for e in range(1, EXAMPLES + 1):
            acts = {a[0, r + 1]: float(self.x[r, e - 1]) for r in range(SIZES[0])}
            for t in range(1, self.top + 1):
                zt = [instantiate(mlp.z_definition(l, j, sp.Symbol("p", integer=True, positive=True)), t,
                                  j=r + 1).xreplace(acts) for r in range(SIZES[t])]
                pre.update({(t, r + 1, e): zt[r] for r in range(SIZES[t])})
                at = self._activate(t, zt)
                acts = {a[t, r + 1]: at[r] for r in range(SIZES[t])}
            outputs[e] = [acts[a[self.top, r + 1]] for r in range(SIZES[self.top])]
        return outputs, pre

    def _activate(self, t, zt):
        if t < self.top:
            return [HIDDEN[t](v) for v in zt]
        total = sum(sp.exp(v) for v in zt)
        return [sp.exp(v) / total for v in zt]

    def _loss(self):
        ce = -sum(self.y[r, e - 1] * sp.log(self.outputs[e][r]) for e in self.outputs for r in range(SIZES[self.top]))
        return ce / EXAMPLES

    def values(self) -> dict:
        """Numeric z^{(i)}, a^{(i)} of every layer and example at θ (for the derived formulas)."""
        at = dict(zip(self.params, self.theta))
        vals = {p_: float(v) for p_, v in at.items()}
        for (t, r, e), expr in self.pre.items():
            vals[zi[t, r, e]] = float(sp.N(expr.xreplace(at)))
        for e in self.outputs:
            for t in range(1, self.top):
                for r in range(1, SIZES[t] + 1):
                    vals[ai[t, r, e]] = float(sp.N(HIDDEN[t](vals[zi[t, r, e]])))
            for r in range(1, SIZES[self.top] + 1):
                vals[ai[self.top, r, e]] = float(sp.N(self.outputs[e][r - 1].xreplace(at)))
            for r in range(1, SIZES[0] + 1):
                vals[ai[0, r, e]] = float(self.x[r - 1, e - 1])
        return vals


def _evaluate(expr, vals) -> float:
    expr = expr.replace(ActPrime, lambda lay, arg: _act_prime(int(lay))(arg))
    return float(sp.N(expr.xreplace(vals)))


def _backward_claims(part, rng) -> list[Claim]:
    net = Network(rng)
    vals = net.values()
    top = net.top
    ce = mlp._ce_softmax()["result"]
    for e in range(1, EXAMPLES + 1):
        for r in range(1, SIZES[top] + 1):
            expr = instantiate(mlp._per_example(ce, e), None, j=r).subs(m, EXAMPLES)
            vals[deltai[top, r, e]] = float(sp.N(expr.xreplace({y[r]: net.y[r - 1, e - 1]}).xreplace(vals)))
        for t in range(top - 1, 0, -1):
            for r in range(1, SIZES[t] + 1):
                expr = instantiate(mlp._per_example(part["recurrence"], e), t, j=r)
                vals[deltai[t, r, e]] = _evaluate(expr, vals)
    analytic = []
    for p_ in net.params:
        t, *idx = p_.indices
        if p_.base == W:
            expr = instantiate(part["batch_W_scalar"], int(t), extra={m: EXAMPLES}, j=int(idx[0]), k=int(idx[1]))
        else:
            expr = instantiate(part["batch_b_scalar"], int(t), extra={m: EXAMPLES}, j=int(idx[0]))
        analytic.append(_evaluate(expr, vals))
    fd = central(net.J, net.theta)
    step = _descent_step(net, np.array(analytic))
    return [
        Claim("delta recurrence and dJ/dW, dJ/db (batch sums) vs finite differences on a 3-layer network",
              _worst(zip(analytic, fd))),
        Claim("one gradient-descent step decreases J", step),
    ]


def _descent_step(net, grad) -> float:
    """0 when θ − α∇J lowers J by about α‖∇J‖² (first order), else the relative shortfall."""
    rate = 1e-3
    before, after = net.J(net.theta), net.J(net.theta - rate * grad)
    predicted = rate * float(grad @ grad)
    return 0.0 if after < before and _rel(before - after, predicted) < 1e-2 else 1.0


# -- batch normalisation -----------------------------------------------------------------


def _batchnorm_claims(part, rng, size: int = 5) -> list[Claim]:
    defs = mlp.bn_definitions()
    kk = 1
    zs = [mlp.zb[kk, r] for r in range(1, size + 1)]
    g_vals = rng.uniform(-1.0, 1.0, size)
    gamma, beta = mlp.gamma[kk], mlp.beta[kk]
    point = np.concatenate([rng.uniform(-2.0, 2.0, size), [rng.uniform(0.5, 1.5), rng.uniform(-1, 1)]])
    epsilon = 0.1
    mu_e = defs["mu"].subs({B: size, k: kk}).doit()
    var_e = defs["var"].subs({B: size, k: kk}).doit().subs(mlp.mu[kk], mu_e)
    hat = [defs["zhat"].subs({k: kk, i: r}).subs({mlp.mu[kk]: mu_e, mlp.var[kk]: var_e, mlp.eps: epsilon})
           for r in range(1, size + 1)]
    out = [gamma * h + beta for h in hat]
    J = sum(float(g) * o for g, o in zip(g_vals, out))  # ∂J/∂z̃_i = g_i exactly
    Jf = sp.lambdify([[*zs, gamma, beta]], sp.sympify(J), "numpy")
    fd = central(Jf, point)
    at = dict(zip([*zs, gamma, beta], point))
    vals = dict(at)
    vals[mlp.mu[kk]] = float(mu_e.xreplace(at))
    vals[mlp.var[kk]] = float(var_e.xreplace(at))
    vals[mlp.eps] = epsilon
    for r in range(1, size + 1):
        vals[mlp.zhat[kk, r]] = float(sp.N(hat[r - 1].xreplace(at)))
        vals[mlp.dJdzt[kk, r]] = float(g_vals[r - 1])
    f = part["formulas"]

    def value(expr, r=None):
        e = expr.args[0] * expr.args[1] if isinstance(expr, Scaled) else expr
        e = e.subs({B: size, k: kk}).subs(i, r) if r else e.subs({B: size, k: kk})
        return float(sp.N(e.doit().xreplace(vals)))

    dz = [value(f["d_z_compact"], r) for r in range(1, size + 1)]
    dz_long = [value(f["d_z"], r) for r in range(1, size + 1)]
    statistics = [mlp.mu[kk], mlp.var[kk]]  # ∂J/∂μ and ∂J/∂σ² hold z and the other statistic fixed
    J_stats = sp.lambdify([statistics], sum(float(g) * o for g, o in zip(g_vals, out_stats(defs, kk, size))
                                          ).xreplace({gamma: at[gamma], beta: at[beta], mlp.eps: epsilon,
                                                      **{z_: at[z_] for z_ in zs}}), "numpy")
    fd_stats = central(J_stats, np.array([vals[x] for x in statistics]))
    return [
        Claim("batch norm: dJ/dmu as printed vs finite differences", _rel(value(f["d_mu"]), fd_stats[0])),
        Claim("batch norm: dJ/dsigma^2 as printed vs finite differences", _rel(value(f["d_var"]), fd_stats[1])),
        Claim("batch norm: dJ/dz (compact) vs finite differences", _worst(zip(dz, fd[:size]))),
        Claim("batch norm: dJ/dz (three paths) vs finite differences", _worst(zip(dz_long, fd[:size]))),
        Claim("batch norm: dJ/dgamma vs finite differences", _rel(value(f["d_gamma"]), fd[size])),
        Claim("batch norm: dJ/dbeta vs finite differences", _rel(value(f["d_beta"]), fd[size + 1])),
    ]


def out_stats(defs, kk, size) -> list[sp.Expr]:
    """The layer's outputs γ ẑ_r + β with μ and σ² left as symbols (the quantities ∂J/∂μ, ∂J/∂σ² differentiate by)."""
    return [mlp.gamma[kk] * defs["zhat"].subs({k: kk, i: r}) + mlp.beta[kk] for r in range(1, size + 1)]


CHECKS = {
    "forward": _nothing,
    "activations": _activation_claims,
    "losses": _loss_claims,
    "backward": _backward_claims,
    "update": _nothing,  # the descent step is checked with the network in _backward_claims
    "batchnorm": _batchnorm_claims,
}


# -- JSON --------------------------------------------------------------------------------


def to_json(outcome) -> dict:
    """The lecture's key formulas, each as {name, latex, expr}, and the checks that were run."""
    formulas = []
    for section, part in outcome.parts.items():
        for name, row in _key_rows(section, part):
            formulas.append({"section": section, "name": name, "boxed": boxed(row, outcome.spec.boxes),
                             "latex": " = ".join(latex(x, relu="ReLU") for x in row.parts)})
    return {
        "kind": "mlp",
        "sections": list(outcome.parts),
        "formulas": formulas,
        "checks": [{"what": c.what, "max_relative_error": float(c.error), "ok": bool(c.error <= TOLERANCE)}
                   for c in outcome.claims],
        "verified": bool(all(c.error <= TOLERANCE for c in outcome.claims)),
        "verification": from_errors([(c.what, c.error) for c in outcome.claims]).as_json(),
    }


def _key_rows(section, part):
    for name, value in part.items():
        if hasattr(value, "parts"):
            yield name, value
    for item in part.get("items", []):
        for index, row in enumerate(item.get("rows", []) + item.get("steps", [])):
            yield f"{item['name']}.{index}", row
        if "vector" in item:
            yield f"{item['name']}.vector", item["vector"]
    if "general" in part:
        yield from ((f"general.{k_}", v) for k_, v in part["general"].items() if hasattr(v, "parts"))
