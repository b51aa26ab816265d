"""The `kind: network` spec end to end: validate, build, differentiate, verify, present.

This module is the glue the pipeline calls for networks (see pipeline.KINDS):
`parse` a YAML doc, `derive` a verified Outcome, and present it as a template
context or as CONTRACT JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp

from derive.meta import N_, __version__
from derive.kinds.network.backprop import Derivation, ParamGrad, derive as backprop
from derive.errors import Location, SpecError, VerificationFailed
from derive.core.calculus import Indicator
from derive.core.functions import WRITTEN_APART, definition_of, kink_arguments, real_diff, weight_decay
from derive.kinds.network.graph import renamed
from derive.kinds.network.model import build
from derive.render.printing import ascii, latex_printer
from derive.render.jinja import Row, chunks, d
from derive.render.notation import Scaled
from derive.kinds.network.spec import VECTOR_NEEDS, NetworkSpec, parse_doc
from derive.kinds.network.verify import Check, verify

KIND = "network"


@dataclass
class Outcome:
    spec: NetworkSpec
    derivation: Derivation
    check: Check
    vector: object | None = None  # vector.VectorView when view: vector
    vector_check: Check | None = None
    numbers: object | None = None  # worked.Numbers when the spec has values:


def parse(doc) -> NetworkSpec:
    """The validated spec, with its worked example (values:, learning_rate:, …) checked against its names."""
    from derive.kinds.network.worked import parse_worked

    spec = parse_doc(doc)
    net = build(spec) if "values" in doc.data else None  # the model's names, for a worked example only
    return replace(spec, worked=parse_worked(doc, spec, net))


def apply_options(spec: NetworkSpec, options) -> NetworkSpec:
    """--view overrides the spec's view (checked like the spec's own)."""
    if not options.view or options.view == spec.view:
        return spec
    if options.view == "vector" and spec.index != "target-source":
        raise SpecError(f"--view vector: {VECTOR_NEEDS}", Location(spec.file))
    if options.view == "vector" and (spec.worked is not None or any(layer.bias_shared for layer in spec.layers)):
        raise SpecError("--view vector: a spec with bias_shared or values: is shown in view: scalar "
                        "(the matrix view has a bias vector per layer)", Location(spec.file))
    if options.view == "vector" and spec.layers[-1].pre is None:
        raise SpecError("--view vector: the matrix view names the output layer's pre-activation; "
                        "add view: vector to the spec (or pre: to its last layer)", Location(spec.file))
    if options.view == "vector" and spec.weight_decay is not None:
        raise SpecError("--view vector: weight_decay is derived in the scalar view only", Location(spec.file))
    return replace(spec, view=options.view)


def derive(spec: NetworkSpec) -> Outcome:
    derivation = backprop(build(spec))
    check = verify(derivation)
    if not check.ok:
        raise VerificationFailed.first(spec.file, check)
    outcome = Outcome(spec, derivation, check, numbers=_numbers(spec, derivation))
    if spec.view == "vector":
        from derive.kinds.network.vector import check_vector_view, vector_view

        outcome.vector = vector_view(derivation)
        outcome.vector_check = check_vector_view(outcome.vector, derivation)
        if not outcome.vector_check.ok:
            raise VerificationFailed.first(spec.file, outcome.vector_check)
    return outcome


TYPESET_PARAMETERS = 400  # scalar view: one formula per parameter; more is hundreds of pages
TYPESET_UNITS = 64  # a layer's sums are single equations; LaTeX overflows ("Dimension too large") near 256


def check_typesettable(outcome: Outcome) -> None:
    """Refuse, before LaTeX runs, a scalar derivation too large to typeset (JSON and Markdown still work)."""
    spec = outcome.spec
    if spec.view == "vector":
        return
    count = len(outcome.derivation.network.params)
    widest = max([layer.units for layer in spec.layers] + [getattr(spec, "input_size", 1) or 1])
    if count > TYPESET_PARAMETERS or widest > TYPESET_UNITS:
        raise SpecError(f"the scalar derivation has {count:,} parameters and layers up to {widest} units wide; "
                        f"LaTeX documents are made for at most {TYPESET_PARAMETERS} parameters and "
                        f"{TYPESET_UNITS} units per layer. Use view: vector, --format md or --format json",
                        Location(spec.file))


def _numbers(spec: NetworkSpec, derivation: Derivation):
    """The verified derivation at the spec's values (None without values:)."""
    if spec.worked is None:
        return None
    from derive.kinds.network.worked import NotANumber, evaluate

    try:
        return evaluate(derivation, spec.worked)
    except NotANumber as exc:
        raise SpecError(f"values: {exc}; choose values where the network is defined", Location(spec.file)) from None


# The variable of the activations' own formulas (f(z), f'(z), da/dz): an activation is a function of one
# variable, its α a constant, so its derivative is d/dz for every one (LReLU and ELU too); a symbol of its own,
# so that no network quantity named z is printed with d.
ACTIVATION_VARIABLE = sp.Symbol("z", activation_variable=True)


def printer_settings(outcome: Outcome) -> dict:
    # W x + b where the weights are W_{jk} (seeds 002, 004); θ_0 + θ_1 x where the bias is θ_{0j} (seed 000)
    terms = "bias-last" if outcome.spec.index == "target-source" else "given"
    ordinary = frozenset({ACTIVATION_VARIABLE})
    written = _written_apart(outcome.spec)
    if outcome.vector is not None:
        return {"partials": {**outcome.derivation.partials, **outcome.vector.partials},
                "notation": outcome.spec.notation, "terms": terms, "ordinary": ordinary, "written": written}
    return {"partials": outcome.derivation.partials, "terms": terms, "ordinary": ordinary, "written": written}


def _written_apart(spec) -> dict:
    """The display functions whose letter the spec's own names take (GELU's density φ beside weights φ)."""
    names = {name for layer in spec.layers for name in (layer.params, layer.bias) if name}
    return {function: tex for function, (letters, tex) in WRITTEN_APART.items() if names & letters}


def context(outcome: Outcome, lang: str) -> dict:
    if outcome.vector is not None:
        return _vector_context(outcome, lang)
    return _scalar_context(outcome, lang)


def _vector_context(outcome: Outcome, lang: str) -> dict:
    view, spec = outcome.vector, outcome.spec
    last = len(view.network.layers)
    return {
        "view": "vector",
        # the hidden layers' activations, defined as the scalar lectures define them: δ's I[z > 0] is then no surprise
        # (the output's derivative is derived where the backward pass meets it)
        "activations": [dict(a, layers=[n for n in a["layers"] if n != last]) for a in _activation_rows(outcome.derivation)
                        if any(n != last for n in a["layers"])],
        "title": spec.title.get(lang),
        "boxes": spec.framed(),
        "of": view.network.of,
        "numpy": spec.notation == "numpy",
        "parameters": [Row([symbol, matrix]) for symbol, matrix in view.parameters],
        "chain_rule": _chain_rule(),
        "loss": Row([view.network.of, view.network.loss]) if view.network.loss is not None else None,
        "forward": [_step(s) for s in view.forward],
        "backward": [_step(s) for s in view.backward],
        "batch": [_step(s) for s in view.batch],
        "batch_names": _batch_names(view),
        "summary": [_summary_row(s) for s in view.summary],
        "examples": outcome.vector_check.points,
        "layers": len(view.network.layers),
        "check": outcome.check,
        "vector_check": outcome.vector_check,
        "n_derivatives": len(outcome.derivation.derivatives),
        "version": __version__,
    }


def _chain_rule() -> Row:
    """d f(g(x))/dx = ∂f(g(x))/∂g(x) · dg(x)/dx, the rule every matrix step uses (seed 002's preamble)."""
    x = sp.Symbol("x")
    f, g = sp.Function("f"), sp.Function("g")
    rhs = sp.Mul(sp.Derivative(f(g(x)), g(x)), sp.Derivative(g(x), x), evaluate=False)
    if sp.simplify(sp.diff(f(g(x)), x) - rhs.doit()) != 0:
        raise VerificationFailed("the chain rule as printed disagrees with differentiation; please report this")
    return Row([sp.Derivative(f(g(x)), x), rhs])


def _step(step) -> dict:
    """A matrix step for the template: its equation (written out when small) and its index forms."""
    parts = [step.lhs, *step.rhs] + ([step.expanded] if step.expanded is not None else [])
    return {
        "reason": step.reason,
        "layer": step.layer,
        "row": Row(parts, key=step.boxed),  # framed as the spec's boxes: says (context "boxes")
        "because": [Row(parts) for parts in step.because],
        "defines": [Row(parts) for parts in step.defines],
        "sums_over": step.sums_over,
        "joins": step.joins,
    }


def _summary_row(step) -> Row:
    """lhs = its first form, and its simplified form when the step has one (δ = … = y − t)."""
    parts = [step.lhs, step.rhs[0]]
    if len(step.rhs) > 2:
        parts.append(step.rhs[-1])
    return Row(parts)


def _batch_names(view) -> list[dict]:
    """Δ^{[l]} and A^{[l-1]} of each batch formula, for the sentence that defines them."""
    names = []
    for step in view.batch:
        product = step.rhs[0]
        delta, inputs = product.args[1], product.args[2].args[0]
        names.append({"delta": delta, "inputs": inputs})
    return names


def _scalar_context(outcome: Outcome, lang: str, numbers: bool = True) -> dict:
    derivation, check = outcome.derivation, outcome.check
    net = derivation.network
    spec = net.spec
    return {
        "view": "scalar",
        "title": spec.title.get(lang),
        "boxes": spec.framed(),
        "of": net.of,
        "output": net.outputs,
        "forward": _forward_rows(derivation),
        "residual": _residual_layers(net),
        "activations": _activation_rows(derivation),
        "softmax": _softmax_jacobian(derivation),
        "loss": _loss(derivation),
        "sections": [_section(derivation, s) for s in derivation.sections],
        "check": check,
        "n_derivatives": len(derivation.derivatives),
        "kinked": any(kink_arguments(e) for _, e in net.forward),  # what verify keeps its points away from
        "version": __version__,
        "worked": None,
    } if outcome.numbers is None or not numbers else _with_numbers(outcome, lang)


def _forward_rows(derivation: Derivation) -> list[list[Row]]:
    net = derivation.network
    rows, defs = [], net.definitions
    for layer in net.layers:
        for symbols in ([u.pre for u in layer.units if u.pre is not None], [u.post for u in layer.units]):
            rows += chunks([Row([s, defs[s]]) for s in symbols])
    return rows


def _activation_rows(derivation: Derivation) -> list[dict]:
    """Each activation used: its definition and its derivative, both by SymPy."""
    z = ACTIVATION_VARIABLE
    seen, out = set(), []
    for layer in derivation.network.layers:
        act = layer.activation
        if act.name in seen or act.name in ("identity", "softmax"):
            continue
        seen.add(act.name)
        through_a = any(other.activation is act and not other.spec.residual for other in derivation.network.layers)
        fz = act.apply(z, layer.alpha)
        display = _display_definitions(act, z)
        # each computed once: `written` solves for the display functions (GELU's Φ, φ) and checks the result
        derivative = act.derivative(z, fz, layer.alpha)
        written_fz, written_derivative = act.written(_rewritten(fz), z), act.written(derivative, z)
        out.append(
            {
                "name": act.name,
                "layers": [other.number for other in derivation.network.layers if other.activation is act],
                "definition": Row([fz, written_fz]) if _rewritten(fz) != fz else None,
                "derivative": Row([d(fz, z), written_derivative]),
                # a vocabulary function the derivative is written with and the lecture has not defined (softplus′ = σ)
                "defines": _used_functions(written_derivative, fz, act),
                "in_terms_of_a": _in_terms_of_a(act, z, layer.alpha) if through_a else None,
                # the lecture's own names of the activations a stands for (h, o): "a" is the generic one
                "a_names": [sp.Symbol(n) for n in dict.fromkeys(
                    other.spec.post for other in derivation.network.layers
                    if other.activation is act and not other.spec.residual)],
                "kinks": act.kinks and _jumps(derivative, z),
                "kink_unless": _kink_unless(derivative, z) if act.kinks else [],
                "at_kink": _at_zero(derivative, z),
                "display": display,  # GELU: Φ and φ, the functions its rows are written with, by their definitions
                # say what erf is, wherever it is printed (GELU: in Φ's definition)
                "erf": any(e.has(sp.erf) for e in [written_fz, *(r.parts[1] for r in display)]),
            }
        )
    return out


def _softmax_jacobian(derivation: Derivation) -> Row | None:
    """∂y_k/∂z_j = y_k(1_{k=j} − y_j) for the softmax layer, once checked by SymPy for every k and j of the
    layer's own definitions (y_k = e^{z_k}/Σ e^{z_p}) before it is printed in general form."""
    net = derivation.network
    layer = next((layer for layer in net.layers if layer.activation.name == "softmax"), None)
    if layer is None:
        return None
    defs = net.definitions
    for uk in layer.units:
        for uj in layer.units:
            own = sp.diff(defs[uk.post], uj.pre)
            claimed = defs[uk.post] * (int(uk is uj) - defs[uj.post])
            if sp.simplify(own - claimed) != 0:
                raise VerificationFailed(f"the softmax Jacobian of layer {layer.number} is not y_k(1_(k=j) − y_j)")
    k, j = sp.symbols("k j", integer=True)
    y, z = sp.IndexedBase(layer.spec.post), sp.IndexedBase(layer.spec.pre or "z")
    return Row([d(y[k], z[j]), sp.Mul(y[k], sp.KroneckerDelta(k, j) - y[j], evaluate=False)])


def _used_functions(derivative: sp.Expr, fz: sp.Expr, act) -> list[Row]:
    """σ(z) = 1/(1 + e^{−z}) for each vocabulary function in f′ other than f itself and its display functions
    (those have their own sentence): every symbol of the derivative is defined where it is first used."""
    own = {type(fz), *act.written_with}
    used = [e for e in sp.preorder_traversal(derivative) if isinstance(e, sp.Function)
            and not isinstance(e, (Indicator, sp.exp, sp.log)) and type(e) not in own and _rewritten(e) != e]
    return [Row([e, _rewritten(e)]) for e in dict.fromkeys(used)]


def _display_definitions(act, z: sp.Expr) -> list[Row]:
    """Φ(z) = ½ (1 + erf(z/√2)), φ(z) = e^{−z²/2}/√(2π): each display function the activation's rows are
    written with, by its definition in the registry, the constant factor set apart (1/√(2π), not √2/(2√π))."""
    rows = []
    for display in act.written_with:
        coeff, rest = sp.factor_terms(display.definition(z)).as_independent(z, as_Add=False)
        if coeff.is_rational is False:  # an irrational constant as 1 over a root: 1/√(2π)
            coeff = sp.Pow(sp.simplify(1 / coeff ** 2), -sp.S.Half, evaluate=False)
        rows.append(Row([display(z), Scaled(coeff, rest) if coeff != 1 else rest]))
    return rows


def _residual_layers(net) -> list[dict]:
    """Each residual layer's names, for the sentences on skip connections: post = f(pre) + input."""
    inputs = [net.spec.input] + [layer.spec.post for layer in net.layers]
    return [_residual_names(layer, inputs[layer.number - 1]) for layer in net.layers if layer.spec.residual]


def _residual_names(layer, source: str) -> dict:
    """The names of a residual layer, and its sum with the forward pass's own activation: h = a[z] + x."""
    spec = layer.spec
    post, pre, given = sp.Symbol(spec.post), sp.Symbol(spec.pre or spec.post), sp.Symbol(source)
    return {"number": layer.number, "post": post, "pre": pre, "input": given,
            "sum": Row([post, sp.Add(layer.activation.apply(pre, layer.alpha), given, evaluate=False)])}


def _highway(derivation: Derivation, section) -> dict | None:
    """The residual layer whose skip connection feeds this section's ∂J/∂h (the identity terms), if any."""
    if not any(g.highway is not None for g in section.grads):
        return None
    above = derivation.network.layers[section.layer.number]  # the layer this one feeds (numbers are 1-based)
    posts = {u.skip: u.post for u in above.units}
    of = derivation.network.of
    rows = [Row([d(of, posts[g.node]), g.highway]) for g in section.grads if g.highway is not None]
    return {**_residual_names(above, section.layer.spec.post), "rows": rows}


def _jump(derivative: sp.Expr, z: sp.Symbol) -> sp.Expr:
    """f'(0+) − f'(0−), the one-sided limits read from the printed f' (its indicators set to each side)."""
    sides = [{Indicator(z > 0): right, Indicator(z <= 0): 1 - right, Indicator(z < 0): 1 - right,
              Indicator(z >= 0): right} for right in (sp.S.One, sp.S.Zero)]
    right, left = (sp.sympify(derivative).xreplace(side).subs(z, 0) for side in sides)
    return sp.simplify(right - left)


def _jumps(derivative: sp.Expr, z: sp.Symbol) -> bool:
    """Whether f' has different values on the two sides of z = 0 (ELU with α = 1 has none)."""
    return _jump(derivative, z) != 0


def _kink_unless(derivative: sp.Expr, z: sp.Symbol) -> list[sp.Expr]:
    """The conditions α ≠ 1 under which a symbolic α makes the kink real: the values of the jump's symbols
    at which f'(0+) = f'(0−) (empty when the jump is a number, or zero whatever the symbols)."""
    jump = _jump(derivative, z)
    if jump == 0 or not jump.free_symbols:
        return []
    return [sp.Ne(s, v) for s in sorted(jump.free_symbols, key=str) for v in sp.solve(jump, s)]


def _at_zero(derivative: sp.Expr, z: sp.Symbol) -> sp.Expr:
    """The value the printed f' gives at z = 0 (the indicators decide: 0 for ReLU, α for leaky ReLU and ELU)."""
    return sp.simplify(sp.sympify(derivative).subs(z, 0))


def _in_terms_of_a(act, z: sp.Symbol, alpha) -> Row | None:
    """∂a/∂z = a(1 − a) for σ, 1 − a² for tanh: the derivative through the activation a = f(z)."""
    a = sp.Symbol("a")
    derivative = act.derivative(z, a, alpha)
    return Row([d(a, z), derivative]) if derivative.has(a) else None


def _rewritten(fz: sp.Expr) -> sp.Expr:
    if definition_of(fz) != fz:
        return definition_of(fz)
    for target in (sp.Max, sp.exp, sp.Piecewise):
        out = fz.rewrite(target)
        if out != fz:
            return out
    return fz


def _loss(derivation: Derivation) -> dict | None:
    net = derivation.network
    if net.loss is None:
        return None
    rows = [Row([d(g.of, g.node), g.expr]) for g in derivation.loss_grads]
    inline = [Row([d(net.of, y), e]) for y in net.outputs if (e := _upstream_inline(derivation, y)) is not None]
    return {"name": net.spec.loss, "definition": Row([net.of, net.loss]), "grads": rows + inline,
            "decay": _decay_row(net), "kink": _loss_kink(net), "outputs": len(net.outputs)}


def _decay_row(net) -> Row | None:
    """∂/∂w of (λ/2) w², by SymPy: the direct term every weight's derivative gets."""
    if net.decay is None:
        return None
    w = sp.Symbol("w")
    lam = net.decay.args[0] * 2
    term = weight_decay(lam, [w])
    return Row([d(term, w), real_diff(term, w)])


def _loss_kink(net) -> sp.Expr | None:
    """Where the loss (not counting the layers) has a kink, as y = t (MAE's |y − t|), or None."""
    kinks = kink_arguments(net.loss.subs({p: 0 for p in net.params}) if net.decay is not None else net.loss)
    if not kinks:
        return None
    y, t = (sp.Symbol(f"{s.name.split('_')[0]}_j") if len(net.outputs) > 1 else s
            for s in (net.outputs[0], net.targets[0]))
    return sp.Eq(y, t, evaluate=False)


def _upstream_inline(derivation: Derivation, y: sp.Symbol):
    named = {g.node for g in derivation.loss_grads}
    if y in named:
        return None
    return derivation.locals.local(derivation.network.of, y)  # the engine's ∂J/∂y


def _written_locals(derivation: Derivation, layer) -> dict:
    """f'(z_j) of each unit -> the same written with the activation's display functions (GELU: Φ(z_j) + z_j φ(z_j)
    for ½ + ½ erf(z_j/√2) + z_j e^{−z_j²/2}/√(2π)); empty for an activation without them. `Activation.written`
    keeps a form only if it equals the engine's derivative (checked by SymPy), once per layer: each other unit's
    f' is the first unit's with its own z, or it is left as it is."""
    act = layer.activation
    units = [u for u in layer.units if u.pre is not None]
    if not act.written_with or not units:
        return {}
    first = units[0]
    local = derivation.locals.activation(first)
    written = act.written(local, first.pre)
    if written == local:
        return {}
    out = {}
    for u in units:
        own = derivation.locals.activation(u)
        if renamed(local, {first.pre: u.pre}) == own:
            out[own] = renamed(written, {first.pre: u.pre})
    return out


def _section(derivation: Derivation, section) -> dict:
    layer = section.layer
    spec = layer.spec
    written = _written_locals(derivation, layer)

    def shown(expr):  # a formula of this layer's parameters as the lecture writes it
        return renamed(expr, written) if written and expr is not None else expr

    families = [spec.params] + ([spec.bias] if spec.bias else [])
    named = {g.symbol for g in derivation.backward}
    derivs = [p for g in section.groups for p in g.derivatives]
    uses_named = any(p.upstream in named for p in derivs)
    of = derivation.network.of
    shared = {p.param for p in section.shared}
    return {
        "number": layer.number,
        "families": families,
        "grads": [_grad_row(g) for g in section.grads],
        "one_hot": [Row([d(g.of, g.node), g.one_hot]) for g in section.grads if g.one_hot is not None],
        "grad_nodes": [g.node for g in section.grads],
        "highway": _highway(derivation, section),
        "uses_named": uses_named,
        "locals": [
            [Row([d(p.node, p.param), shown(p.local)]) for p in g.derivatives] for g in section.groups
        ] if uses_named else [],
        "local_nodes": sorted({p.node for p in derivs}, key=str),
        "groups": [
            {"node": g.unit.pre or g.unit.post,
             "rows": [_total_row(derivation, of, p, shown) for p in g.derivatives if p.param not in shared]}
            for g in section.groups
        ],
        "shared": [{"param": p.param, "row": _total_row(derivation, of, p, shown)} for p in section.shared],
        "grouped": not uses_named and len(section.groups) > 1,
    }


def _grad_row(grad) -> Row:
    parts = [d(grad.of, grad.node), grad.expr]
    if grad.simplified is not None:
        parts.append(grad.simplified)
    return Row(parts)


def _total_row(derivation: Derivation, of: sp.Symbol, p: ParamGrad, shown=lambda expr: expr) -> Row:
    parts = [d(of, p.param), shown(p.value)]
    if p.expanded is not None:
        parts.append(shown(p.expanded))
    definition = derivation.network.definitions.get(p.value) if p.value.is_Symbol else None
    if definition is not None and definition.is_Function:
        parts.append(definition)
    return Row(parts, key=True)  # the result a student needs: boxed


# -- a worked example: the same rows, continued with their numbers (CONTRACT section 7) -----


GIVEN_PER_LINE = 5  # given values per display line


def _with_numbers(outcome: Outcome, lang: str) -> dict:
    """The scalar context with every row's value, the given values, and the descent step."""
    from derive.kinds.network.worked import Shown

    worked, numbers = outcome.spec.worked, outcome.numbers
    shown = Shown(worked.digits, worked.exact, lang, printer_settings(outcome)["terms"])
    ctx = _scalar_context(outcome, lang, numbers=False)

    def row(r: Row) -> Row:
        return shown.row(r, _form_for_numbers(r.parts), numbers.at, value=_known(r.parts[0], numbers))

    def total(r: Row) -> Row:  # the formula and its numbers: the expanded forms make a worked row unreadable
        return row(Row(r.parts[:2], key=r.key))

    ctx["forward"] = [[row(r)] for line in ctx["forward"] for r in line]
    if ctx["loss"]:
        ctx["loss"]["definition"] = row(ctx["loss"]["definition"])
        ctx["loss"]["grads"] = [row(r) for r in ctx["loss"]["grads"]]
    for s in ctx["sections"]:
        s["grads"] = [row(r) for r in s["grads"]]
        s["locals"] = [[row(r) for r in unit] for unit in s["locals"]]
        s["groups"] = [{**g, "rows": [total(r) for r in g["rows"]]} for g in s["groups"]]
        s["shared"] = [{**g, "row": total(g["row"])} for g in s["shared"]]
    ctx["worked"] = _worked_context(outcome, shown)
    return ctx


def _form_for_numbers(parts: list) -> sp.Expr:
    """The form of a row its numbers go into, right after which they are printed: the last form when it
    simplifies the first (∂J/∂s = ∂J/∂y y(1 − y) = y − t = 0,7824 − 1, not = y − t = (−1,278) · 0,7824 · …),
    else the first."""
    first, last = parts[1], parts[-1]
    if len(parts) > 2 and isinstance(last, sp.Expr) and sp.count_ops(last) <= sp.count_ops(first):
        return last
    return first


def _known(lhs, numbers):
    """The value of a row's left-hand side when the substitution already gave it (a quantity, a gradient)."""
    if isinstance(lhs, sp.Derivative) and lhs.expr == numbers.of:
        return numbers.grads.get(lhs.variables[0])
    return numbers.at.get(lhs) if lhs.is_Symbol else None


def _worked_context(outcome: Outcome, shown) -> dict:
    """The given values (inputs, targets, each layer's parameters) and the gradient-descent step."""
    from derive.kinds.network.worked import ETA, Updated

    net, numbers = outcome.derivation.network, outcome.numbers
    given = [net.inputs, net.targets, *[layer.params for layer in net.layers], net.constants]
    out = {
        "given": [chunks([Row([s, shown.given(numbers.at[s])]) for s in group], GIVEN_PER_LINE)
                  for group in given if group],
        "on_kinks": [u.pre for layer in net.layers if layer.activation.kinks for u in layer.units
                     if numbers.at[u.pre] == 0],
        "step": None,
    }
    if numbers.learning_rate is None:
        return out
    moved = [p for p in net.params if p not in numbers.frozen]
    generic = _generic_parameter(net)
    out["step"] = {
        "loss": net.loss is not None,
        "eta": Row([ETA, shown.given(numbers.learning_rate)]),
        "rule": Row([Updated(generic), generic - ETA * d(net.of, generic)]),
        "rows": [_update_row(shown, numbers, net.of, p) for p in moved],
        "frozen": list(numbers.frozen),
        # every bias frozen and nothing else (as in Mazur's tutorial): the step moves the weights only
        "biases_frozen": bool(numbers.frozen) and set(numbers.frozen) == set(net.params) - set(net.weights),
        "before": shown.row(Row([net.of]), net.of, numbers.at),
        "after": shown.row(Row([Updated(net.of)]), net.of, {net.of: numbers.loss_after}),
    }
    return out


def _generic_parameter(net) -> sp.Symbol:
    """θ for "any parameter" in the update rule, unless the network uses θ (then w, then p)."""
    families = {layer.spec.params for layer in net.layers} | {layer.spec.bias for layer in net.layers}
    families |= {str(s) for s in [*net.inputs, *net.targets, *net.outputs, net.of]}
    return sp.Symbol(next(n for n in ("theta", "w", "p", "q") if n not in families))


def _update_row(shown, numbers, of: sp.Symbol, p: sp.Symbol) -> Row:
    """θ⁺ = θ − η ∂J/∂θ = 0,4 − 0,5 · 0,08217 ≈ 0,3589 (the gradient's value, not its formula)."""
    from derive.kinds.network.worked import ETA, Updated

    grad = d(of, p)
    rule = p - ETA * grad
    at = {p: numbers.at[p], ETA: numbers.learning_rate, grad: numbers.grads[p]}
    return shown.row(Row([Updated(p), rule]), rule, at, value=numbers.updated[p])


# -- figure: the network as layers of neurons, parameter names on the edges ---------------


def figure(outcome: Outcome, lang: str = "en"):
    """Inputs (and a bias unit 1) on the left, one column per layer, the loss last if there is one.

    In a worked example each edge also carries its weight's value and, below it in red, the
    derivative of the loss with respect to that weight; each neuron its value, in green.
    """
    from derive.render.diagram import Edge, Figure, Layered, Node, name_label, number_label

    net = outcome.derivation.network
    marks = _FigureNumbers(outcome, lang)
    columns: list[list] = [list(net.inputs)]
    for layer in net.layers:
        columns.append([u.post for u in layer.units])
    # a bias shared by a layer's units (Mazur's b^{[1]}) is one parameter with one derivative: written with
    # it over its unit 1 in a worked example, not on one of its edges as if it belonged to that edge
    shared = {i: _shared_bias(layer) if outcome.numbers is not None else None for i, layer in enumerate(net.layers)}
    position: dict = {}
    layers: list[list[Node]] = []
    for i, column in enumerate(columns):
        bias = shared.get(i)
        over = (marks.param(bias), marks.grad(bias)) if bias is not None else ()
        nodes = [Node(number_label("1"), "box", over=over)] if i < len(net.layers) else []
        for symbol in column:
            position[(i, symbol)] = (i, len(nodes))
            nodes.append(Node(name_label(str(symbol)), note=marks.value(symbol)))
        layers.append(nodes)
    edges, labelled = [], set()
    for i, layer in enumerate(net.layers):
        for unit in layer.units:
            target = position[(i + 1, unit.post)]
            for param, source in unit.incoming:
                start = (i, 0) if source == 1 else position[(i, source)]
                first = param not in labelled and param != shared[i]  # a shared bias is labelled once
                labelled.add(param)
                edges.append(Edge(start, target, above=marks.param(param) if first else None,
                                  below=marks.grad(param) if first else None))
            if unit.skip is not None:  # h_j = f(z_j) + x_j: the input carried unchanged to the sum
                edges.append(Edge(position[(i, unit.skip)], target, skip=True))
    if net.loss is not None:
        layers.append([Node(name_label(str(net.of)), note=marks.value(net.of))])
        end = len(columns)
        edges += [Edge(position[(end - 1, y)], (end, 0)) for y in net.outputs]
    skips = any(e.skip for e in edges)
    spread = 1.0 if outcome.numbers is None else WORKED_SPREAD * (SKIP_ROOM if skips else 1.0)
    legend = (SKIP_LEGEND if skips else None if outcome.numbers is None
              else SHARED_BIAS_LEGEND if any(b is not None for b in shared.values()) else WORKED_LEGEND)
    return Figure(Layered(layers, edges, spread=spread, legend=legend), str(net.of))


def _shared_bias(layer):
    """The bias parameter that all of a layer's units share (b^{[1]} for both h₁ and h₂), or None."""
    biases = {param for unit in layer.units for param, source in unit.incoming if source == 1}
    return next(iter(biases)) if len(biases) == 1 and len(layer.units) > 1 else None


WORKED_LEGEND = N_("Under each neuron, in green: its value; over each edge, its weight and, under it in red, the "
                   "derivative of the loss with respect to that weight.")
SHARED_BIAS_LEGEND = N_("Under each neuron, in green: its value; over each edge, its weight and, under it in red, the "
                        "derivative of the loss with respect to that weight. A bias shared by all units of a layer is "
                        "written over the node “1” that feeds them (in the column before the layer), with the "
                        "derivative of the loss with respect to it in red between the bias and the node.")
SKIP_LEGEND = N_("The dashed arrows are the skip connections: each input goes unchanged to the unit with the "
                 "same number, where it is added to the activation.")
WORKED_SPREAD = 1.8  # a worked example's figure has two labels per edge: more room between the nodes
SKIP_ROOM = 1.3  # … and a residual network's, its skip arcs under the rows as well: more still


class _FigureNumbers:
    """The labels of a worked example's figure (no numbers without values:)."""

    def __init__(self, outcome: Outcome, lang: str):
        self.numbers, self.worked, self.lang = outcome.numbers, outcome.spec.worked, lang

    def _text(self, value, tex: bool) -> str:
        from derive.kinds.network.worked import Shown

        shown = Shown(self.worked.digits, self.worked.exact, self.lang).num(value, bare=True)
        return shown.text(tex)

    def _number(self, value, colour: str):
        from derive.render.diagram import Label

        return Label(self._text(value, True), self._text(value, False).replace("-", "−"), colour=colour)  # a minus sign

    def value(self, symbol):
        return None if self.numbers is None else self._number(self.numbers.at[symbol], "forward")

    def grad(self, param):
        return None if self.numbers is None else self._number(self.numbers.grads[param], "backward")

    def param(self, param):
        from dataclasses import replace as with_

        from derive.render.diagram import name_label

        label = name_label(str(param))
        if self.numbers is None:
            return label
        value = self.numbers.at[param]
        return with_(label, tex=f"{label.tex} = {self._text(value, True)}",
                     tail=f" = {self._text(value, False)}".replace("-", "−"))


# -- JSON (CONTRACT section 3) ---------------------------------------------------


def to_json(outcome: Outcome) -> dict:
    derivation, check = outcome.derivation, outcome.check
    net = derivation.network
    verified = check.ok
    tex = latex_printer(partials=derivation.partials)
    out = {
        "kind": "network",
        "of": str(net.of),
        "inputs": [str(x) for x in net.inputs],
        "parameters": [str(p) for p in net.params],
        "forward": [{"name": str(s), "expr": ascii(e)} for s, e in net.forward],
        "backward": [{"name": str(g.symbol), "expr": ascii(g.expr)} for g in derivation.backward],
        "derivatives": [
            {
                "wrt": str(p.param),
                "expr": ascii(p.value),
                "latex": tex(p.value),
                "verified": verified,
            }
            for p in derivation.derivatives
        ],
    }
    if net.targets:
        out["targets"] = [str(t) for t in net.targets]
    if net.constants:
        out["constants"] = [str(c) for c in net.constants]
    if outcome.vector is not None:
        out["vector"] = _vector_json(outcome)
    out["verification"] = check.as_json()  # the same object in every kind (derive.harness)
    if outcome.numbers is not None:
        _worked_json(out, outcome)
    return out


def _worked_json(out: dict, outcome: Outcome) -> None:
    """CONTRACT section 7: "value" on every forward and backward step and derivative; the update step."""
    numbers, worked = outcome.numbers, outcome.spec.worked
    out["values"] = {name: float(v) for name, v in worked.values.items()}
    for entry in out["forward"] + out["backward"]:
        _with_value(entry, numbers.at[sp.Symbol(entry["name"])], worked.exact)
    for entry in out["derivatives"]:
        _with_value(entry, numbers.grads[sp.Symbol(entry["wrt"])], worked.exact)
    if numbers.learning_rate is not None:
        out["learning_rate"] = float(numbers.learning_rate)
        out["update"] = [{"name": str(p), "value": float(v), **({"frozen": True} if p in numbers.frozen else {})}
                         for p, v in numbers.updated.items()]
        out["loss_after"] = float(numbers.loss_after)
    out["tolerance"] = worked.tolerance


def _with_value(entry: dict, value: sp.Expr, exact: bool) -> None:
    """"value" as a JSON number; with exact: true, a fraction the number cannot hold also as text ("7/3")."""
    entry["value"] = float(value)
    if exact and value.is_Rational and not value.is_Integer:
        entry["exact"] = str(value)


def _vector_json(outcome: Outcome) -> list[dict]:
    """The matrix-form steps (view: vector), each checked against the scalar derivatives."""
    view, tex = outcome.vector, latex_printer(**printer_settings(outcome))
    return [
        {"step": step.reason, "layer": step.layer, "name": str(step.lhs),
         "expr": ascii(step.rhs[0]), "latex": tex(step.rhs[0]),
         "verified": outcome.vector_check.ok}
        for step in view.forward + view.backward + view.batch
    ]
