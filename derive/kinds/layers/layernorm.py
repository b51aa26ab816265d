"""`kind: layernorm`: layer normalisation of one example over its n features, forward and backward.

Forward: μ = (1/n) Σ_k x_k, σ² = (1/n) Σ_k (x_k − μ)², x̂_k = (x_k − μ)/√(σ² + ε),
y_k = γ_k x̂_k + β_k, and L = ½ Σ_k (y_k − t_k)². The engine derives the
gradients through the three paths from x_k (directly, through μ, through σ²);
the compact form ∂L/∂x_k = (n g_k − Σ_j g_j − x̂_k Σ_j g_j x̂_j)/(n √(σ² + ε)),
g = ∂L/∂x̂, is then obtained by SymPy from the staged one (x_j − μ = x̂_j √(σ² + ε),
and Σ_j (x_j − μ) = 0 by the definition of μ) and checked like every other form.
Batch normalisation (kind: mlp) is the same computation over the examples of
a batch for one feature; here the sums run over the features of one example.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from derive.meta import N_
from derive.render.jinja import Row
from derive.core.yamlload import Doc
from derive.kinds import indexform as engine
from . import common
from derive.kinds.indexform import Quantity, index, size
from .notation import TexName

KIND = "layernorm"
KEYS = ("kind", "title", "features", "boxes")
MAX_FEATURES = 8

k, j, p = (index(x) for x in "kjp")
N = size("n")
EPS = TexName("epsilon", positive=True)


@dataclass(frozen=True)
class LayerNormSpec:
    file: str
    title: dict
    features: int
    boxes: str = "key"  # the key results are framed, unless the spec says `boxes: none`


def parse(doc: Doc) -> LayerNormSpec:
    read = common.Reader(doc, KEYS)
    return LayerNormSpec(doc.file, doc.title(), read.int("features", 3, 2, MAX_FEATURES), doc.boxes() or "key")


def bases():
    return {name: sp.IndexedBase(TexName(name) if name in ("xhat", "gamma", "beta") else sp.Symbol(name))
            for name in ("x", "xhat", "y", "t", "gamma", "beta")}


def build(spec: LayerNormSpec) -> engine.Model:
    b = bases()
    x, xhat, y, t, gamma, beta = (b[n] for n in ("x", "xhat", "y", "t", "gamma", "beta"))
    mu, var = TexName("mu", real=True), TexName("var", real=True)
    vec = ((1, N),)
    q = {
        "x": Quantity("x", "input", vec, wrt=(p,)),
        "t": Quantity("t", "target", vec),
        "epsilon": Quantity("epsilon", "constant", label=EPS),
        "gamma": Quantity("gamma", "param", vec, wrt=(p,), label=TexName("gamma")),
        "beta": Quantity("beta", "param", vec, wrt=(p,), label=TexName("beta")),
        "mu": Quantity("mu", "node", (), (), sp.Sum(x[j], (j, 1, N)) / N, label=mu),
        "var": Quantity("var", "node", (), (), sp.Sum((x[j] - mu) ** 2, (j, 1, N)) / N, label=var),
        "xhat": Quantity("xhat", "node", vec, (k,), (x[k] - mu) / sp.sqrt(var + EPS), wrt=(p,),
                         label=TexName("xhat")),
        "y": Quantity("y", "node", vec, (k,), gamma[k] * xhat[k] + beta[k], wrt=(p,)),
        "L": Quantity("L", "loss", (), (), sp.Sum((y[k] - t[k]) ** 2 / 2, (k, 1, N))),
    }
    model = engine.Model(q, "L", {N: spec.features})
    engine.backward(model, ["y", "xhat", "var", "mu", "gamma", "beta", "x"])
    return model


def compact(model: engine.Model) -> sp.Expr:
    """∂L/∂x_p with ∂L/∂μ and ∂L/∂σ² substituted, written with x̂ and g = ∂L/∂x̂ (SymPy's algebra).

    Two facts of the forward pass are used: Σ_j x_j = n μ (the definition of μ), and
    x_j = μ + √(σ² + ε) x̂_j (the definition of x̂).
    """
    g = model.gradients
    x, xhat = bases()["x"], bases()["xhat"]
    mu, var = model.quantities["mu"].base, model.quantities["var"].base
    s = sp.sqrt(var + EPS)
    staged = g["x"].done.xreplace({g["mu"].base: g["mu"].done}).xreplace({g["var"].base: g["var"].done})
    staged = _sums(staged).replace(lambda e: isinstance(e, sp.Sum) and isinstance(e.function, sp.Indexed)
                                   and e.function.base == x, lambda e: N * mu)
    in_hat = staged.replace(lambda e: isinstance(e, sp.Indexed) and e.base == x, lambda e: mu + s * xhat[e.indices])
    prefactor = 1 / (N * s)
    inner = _sums(sp.expand(sp.simplify(_sums(in_hat) / prefactor)))
    if inner.has(mu) or inner.has(var):
        from derive.errors import VerificationFailed

        raise VerificationFailed("layer norm: the compact form of the input gradient did not come out")
    return sp.Mul(prefactor, inner, evaluate=False)


def as_paper(model: engine.Model) -> sp.Expr:
    """∂L/∂σ² as the chain rule gives it and Ba et al. (2016) and Ioffe & Szegedy (2015) write it,
    −½ Σ_k ∂L/∂x̂_k (x_k − μ) (σ² + ε)^{−3/2}: the product unexpanded, constants out of Σ, the upstream
    gradient first, printed factor by factor (notation.Factors, as batch norm's ∂J/∂σ²)."""
    from derive.render.notation import Factors, chain_order, pull_constants

    g, qs = model.gradients, model.quantities
    upstream = g["xhat"].base[k]
    local = sp.diff(qs["xhat"].definition, qs["var"].base)
    product = pull_constants(sp.Sum(upstream * local, (k, 1, N)))
    label = str(g["xhat"].base.label)
    return Factors(product.replace(sp.Sum, lambda body, *lims: sp.Sum(chain_order(body, (label,)), *lims)))


def _sums(expr: sp.Expr) -> sp.Expr:
    """Every Σ split over its terms, constants taken out, Σ_j 1 = n carried out."""
    expanded = sp.expand(expr).replace(lambda e: isinstance(e, sp.Sum), _expand_sum)
    return sp.expand(expanded.replace(lambda e: isinstance(e, sp.Sum) and not e.function.free_symbols & {lim[0] for lim in e.limits}, lambda e: e.doit()))


def _expand_sum(e: sp.Sum) -> sp.Expr:
    terms = sp.Add.make_args(sp.expand(e.function))
    return sp.Add(*[engine.pull_out(sp.Sum(t, *e.limits)) for t in terms])


def _compact_check(model: engine.Model, form: sp.Expr, paper: sp.Expr | None = None):
    def value(concrete: engine.Concrete, values: dict, expr: sp.Expr, at: dict) -> float:
        formula = concrete.formula(expr, at)
        return float(formula.xreplace({a: concrete.evaluate(values, a) for a in concrete.atoms(formula)}))

    def extra(concrete: engine.Concrete, values: dict, check: engine.Check) -> None:
        for pos in range(1, model.sizes[N] + 1):
            check.compare(f"dL/dx_{pos} (compact form)", value(concrete, values, form, {p: pos}),
                          concrete.evaluate(values, model.gradients["x"].base[pos]))
        if paper is not None:  # the printed ∂L/∂σ² against the one the engine derived
            check.compare("dL/dvar (factored form)", value(concrete, values, paper.args[0], {}),
                          concrete.evaluate(values, model.gradients["var"].base))

    return extra


# -- the kind interface ------------------------------------------------------------------------------


def derive(spec: LayerNormSpec) -> common.Outcome:
    model = build(spec)
    form, paper = compact(model), as_paper(model)
    check = common.verified(spec, model, extra=_compact_check(model, form, paper))
    return common.Outcome(spec, model, check, {"compact": form, "dvar": paper})


def printer_settings(outcome: common.Outcome) -> dict:
    return {"partials": outcome.model.partials}


def context(outcome: common.Outcome, lang: str) -> dict:
    model, spec = outcome.model, outcome.spec
    qs, g = model.quantities, model.gradients

    def row(name, key=False):
        return Row([g[name].element(), g[name].chain, g[name].done], key=key)

    return {
        "title": spec.title.get(lang),
        "boxes": spec.boxes,
        "n": spec.features,
        "forward": [Row([qs[x].element(qs[x].indices), qs[x].definition]) for x in ("mu", "var", "xhat", "y")],
        "loss": Row([sp.Symbol("L"), qs["L"].definition]),
        "dy": Row([g["y"].element(), g["y"].done]),
        "dgamma": row("gamma", key=True),
        "dbeta": row("beta", key=True),
        "dxhat": Row([g["xhat"].element(), g["xhat"].done]),
        "dvar": Row([g["var"].element(), g["var"].chain, outcome.extra["dvar"]]),
        "dmu": row("mu"),
        "dx": row("x"),
        "compact": Row([g["x"].element(), outcome.extra["compact"]], key=True),
        "check": outcome.check,
    }


def to_json(outcome: common.Outcome) -> dict:
    return common.to_json(KIND, outcome)



# -- figure: what is normalised together, layer norm beside batch norm -----------------------------

BATCH_SHOWN = 3  # examples drawn in the picture's batch (the lecture's example is the first)
FIGURE_LAYER = N_("Layer normalisation: over the features of one example")
FIGURE_BATCH = N_("Batch normalisation: over the examples of a batch")
FIGURE_EXAMPLE = N_("example %(i)s")
FIGURE_LAYER_GRADIENT = N_("%(dx)s takes every %(g)s of the same example")
FIGURE_BATCH_STATS = N_("a mean and a variance for each feature, over the batch")
FIGURE_BATCH_GRADIENT = N_("the gradient of an input takes those of the whole batch")
FIGURE_LEGEND = N_("In green, the inputs normalised together, with one mean and one variance; in red, the inputs "
                   "whose gradients are coupled through them.")  # which inputs: the paragraph after it says


def figure(outcome: common.Outcome, lang: str = "en"):
    """A batch of examples (rows) by the spec's n features (columns), twice: layer norm normalises a row (the
    lecture's example, with μ and σ² as the model defines them), batch norm a column."""
    from derive.render import grid
    from derive.render.i18n import translations
    from derive.render.printing import latex
    from derive.render.tex import escape

    model, n = outcome.model, outcome.spec.features
    _ = translations(lang).gettext
    qs = model.quantities
    x, xhat = qs["x"].base, qs["xhat"].base

    def m(expr):
        return grid.math(expr, latex(expr))

    def partial(element):
        return grid.Text(rf"$\partial L/\partial {latex(element)}$", (("∂L/∂", "", ""), *grid.runs_of(element)))

    def cells(marked):
        return [[grid.Cell(m(x[k]), *(("forward", "backward") if marked(r, k) else ("", ""))) for k in range(1, n + 1)]
                for r in range(BATCH_SHOWN)]

    names = [grid.words(_(FIGURE_EXAMPLE) % {"i": r + 1}, escape) for r in range(BATCH_SHOWN)]
    size = next(iter(model.sizes))  # n: the definitions are (1/n) Σ …, written in one line
    stats = [grid.math(sp.Eq(qs[q].base, qs[q].definition, evaluate=False),
                       rf"{latex(qs[q].base)} = \tfrac{{1}}{{{latex(size)}}} {latex(qs[q].definition * size)}"
                       ).coloured("forward") for q in ("mu", "var")]
    p, k_ = qs["x"].wrt[0], qs["xhat"].indices[0]
    coupled = grid.phrase(_(FIGURE_LAYER_GRADIENT), escape, dx=partial(x[p]), g=partial(xhat[k_])).coloured("backward")
    layer = grid.Panel(grid.words(_(FIGURE_LAYER), escape), cells(lambda r, k: r == 0), names, [*stats, coupled])
    batch = grid.Panel(grid.words(_(FIGURE_BATCH), escape), cells(lambda r, k: k == 1), [],
                       [grid.words(_(FIGURE_BATCH_STATS), escape).coloured("forward"),
                        grid.words(_(FIGURE_BATCH_GRADIENT), escape).coloured("backward")])
    return grid.GridFigure([layer, batch], [], FIGURE_LEGEND, "L")
