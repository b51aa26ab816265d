"""The `kind: network` spec end to end: validate, build, differentiate, verify, present.

This module is the glue the pipeline calls for networks (see pipeline.KINDS):
`parse` a YAML doc, `derive` a verified Outcome, and present it as a template
context or as CONTRACT JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp

from . import __version__
from .backprop import Derivation, ParamGrad, derive as backprop
from .errors import Location, SpecError, VerificationFailed
from .calculus import Indicator
from .functions import definition_of, kink_arguments, real_diff, weight_decay
from .model import build
from .printing import ascii, latex_printer
from .render import Row, chunks, d
from .spec import VECTOR_NEEDS, NetworkSpec, parse_doc as parse
from .verify import Check, verify

KIND = "network"


@dataclass
class Outcome:
    spec: NetworkSpec
    derivation: Derivation
    check: Check
    vector: object | None = None  # vector.VectorView when view: vector
    vector_check: Check | None = None


def apply_options(spec: NetworkSpec, options) -> NetworkSpec:
    """--view overrides the spec's view (checked like the spec's own)."""
    if not options.view or options.view == spec.view:
        return spec
    if options.view == "vector" and spec.index != "target-source":
        raise SpecError(f"--view vector: {VECTOR_NEEDS}", Location(spec.file))
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
    outcome = Outcome(spec, derivation, check)
    if spec.view == "vector":
        from .vector import check_vector_view, vector_view

        outcome.vector = vector_view(derivation)
        outcome.vector_check = check_vector_view(outcome.vector, derivation)
        if not outcome.vector_check.ok:
            raise VerificationFailed.first(spec.file, outcome.vector_check)
    return outcome


def printer_settings(outcome: Outcome) -> dict:
    # W x + b where the weights are W_{jk} (seeds 002, 004); θ_0 + θ_1 x where the bias is θ_{0j} (seed 000)
    terms = "bias-last" if outcome.spec.index == "target-source" else "given"
    if outcome.vector is not None:
        return {"partials": {**outcome.derivation.partials, **outcome.vector.partials},
                "notation": outcome.spec.notation, "terms": terms}
    return {"partials": outcome.derivation.partials, "terms": terms}


def context(outcome: Outcome, lang: str) -> dict:
    if outcome.vector is not None:
        return _vector_context(outcome, lang)
    return _scalar_context(outcome, lang)


def _vector_context(outcome: Outcome, lang: str) -> dict:
    view, spec = outcome.vector, outcome.spec
    return {
        "view": "vector",
        "title": spec.title.get(lang),
        "of": view.network.of,
        "numpy": spec.notation == "numpy",
        "parameters": [Row([symbol, matrix]) for symbol, matrix in view.parameters],
        "chain_rule": _chain_rule(),
        "loss": Row([view.network.of, view.network.loss]) if view.network.loss is not None else None,
        "forward": [_step(s) for s in view.forward],
        "backward": [_step(s, box=spec.notation == "math") for s in view.backward],
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


def _step(step, box: bool = False) -> dict:
    """A matrix step for the template: its equation (written out when small) and its index forms."""
    parts = [step.lhs, *step.rhs] + ([step.expanded] if step.expanded is not None else [])
    return {
        "reason": step.reason,
        "layer": step.layer,
        "row": Row(parts, key=step.boxed and box),
        "because": [Row(parts) for parts in step.because],
        "defines": [Row(parts) for parts in step.defines],
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


def _scalar_context(outcome: Outcome, lang: str) -> dict:
    derivation, check = outcome.derivation, outcome.check
    net = derivation.network
    spec = net.spec
    return {
        "view": "scalar",
        "title": spec.title.get(lang),
        "of": net.of,
        "output": net.outputs,
        "forward": _forward_rows(derivation),
        "activations": _activation_rows(derivation),
        "loss": _loss(derivation),
        "sections": [_section(derivation, s) for s in derivation.sections],
        "check": check,
        "n_derivatives": len(derivation.derivatives),
        "version": __version__,
    }


def _forward_rows(derivation: Derivation) -> list[list[Row]]:
    net = derivation.network
    rows, defs = [], net.definitions
    for layer in net.layers:
        for symbols in ([u.pre for u in layer.units if u.pre is not None], [u.post for u in layer.units]):
            rows += chunks([Row([s, defs[s]]) for s in symbols])
    return rows


def _activation_rows(derivation: Derivation) -> list[dict]:
    """Each activation used: its definition and its derivative, both by SymPy."""
    z = sp.Symbol("z")
    seen, out = set(), []
    for layer in derivation.network.layers:
        act = layer.activation
        if act.name in seen or act.name in ("identity", "softmax"):
            continue
        seen.add(act.name)
        fz = act.apply(z, layer.alpha)
        out.append(
            {
                "name": act.name,
                "definition": Row([fz, _rewritten(fz)]) if _rewritten(fz) != fz else None,
                "derivative": Row([d(fz, z), act.derivative(z, fz, layer.alpha)]),
                "in_terms_of_a": _in_terms_of_a(act, z, layer.alpha),
                "kinks": act.kinks and _jumps(act.derivative(z, fz, layer.alpha), z),
            }
        )
    return out


def _jumps(derivative: sp.Expr, z: sp.Symbol) -> bool:
    """Whether f' has different values on the two sides of z = 0 (ELU with α = 1 has none)."""
    sides = [{Indicator(z > 0): right, Indicator(z <= 0): 1 - right, Indicator(z < 0): 1 - right,
              Indicator(z >= 0): right} for right in (sp.S.One, sp.S.Zero)]
    right, left = (sp.sympify(derivative).xreplace(side).subs(z, 0) for side in sides)
    return sp.simplify(right - left) != 0


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
            "decay": _decay_row(net), "kink": _loss_kink(net)}


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
    return real_diff(derivation.network.loss, y)


def _section(derivation: Derivation, section) -> dict:
    layer = section.layer
    spec = layer.spec
    families = [spec.params] + ([spec.bias] if spec.bias else [])
    named = {g.symbol for g in derivation.backward}
    derivs = [p for g in section.groups for p in g.derivatives]
    uses_named = any(p.upstream in named for p in derivs)
    of = derivation.network.of
    return {
        "number": layer.number,
        "families": families,
        "grads": [_grad_row(g) for g in section.grads],
        "one_hot": [Row([d(g.of, g.node), g.one_hot]) for g in section.grads if g.one_hot is not None],
        "grad_nodes": [g.node for g in section.grads],
        "uses_named": uses_named,
        "locals": [
            [Row([d(p.node, p.param), p.local]) for p in g.derivatives] for g in section.groups
        ] if uses_named else [],
        "local_nodes": sorted({p.node for p in derivs}, key=str),
        "groups": [
            {"node": g.unit.pre or g.unit.post, "rows": [_total_row(derivation, of, p) for p in g.derivatives]}
            for g in section.groups
        ],
        "grouped": not uses_named and len(section.groups) > 1,
    }


def _grad_row(grad) -> Row:
    parts = [d(grad.of, grad.node), grad.expr]
    if grad.simplified is not None:
        parts.append(grad.simplified)
    return Row(parts)


def _total_row(derivation: Derivation, of: sp.Symbol, p: ParamGrad) -> Row:
    parts = [d(of, p.param), p.value]
    if p.expanded is not None:
        parts.append(p.expanded)
    definition = derivation.network.definitions.get(p.value) if p.value.is_Symbol else None
    if definition is not None and definition.is_Function:
        parts.append(definition)
    return Row(parts, key=True)  # the result a student needs: boxed


# -- figure: the network as layers of neurons, parameter names on the edges ---------------


def figure(outcome: Outcome):
    """Inputs (and a bias unit 1) on the left, one column per layer, the loss last if there is one."""
    from .diagram import Edge, Figure, Layered, Node, name_label, number_label

    net = outcome.derivation.network
    columns: list[list] = [list(net.inputs)]
    for layer in net.layers:
        columns.append([u.post for u in layer.units])
    position: dict = {}
    layers: list[list[Node]] = []
    for i, column in enumerate(columns):
        nodes = [Node(number_label("1"), "box")] if i < len(net.layers) else []
        for symbol in column:
            position[(i, symbol)] = (i, len(nodes))
            nodes.append(Node(name_label(str(symbol))))
        layers.append(nodes)
    edges = []
    for i, layer in enumerate(net.layers):
        for unit in layer.units:
            target = position[(i + 1, unit.post)]
            for param, source in unit.incoming:
                start = (i, 0) if source == 1 else position[(i, source)]
                edges.append(Edge(start, target, above=name_label(str(param))))
    if net.loss is not None:
        layers.append([Node(name_label(str(net.of)))])
        end = len(columns)
        edges += [Edge(position[(end - 1, y)], (end, 0)) for y in net.outputs]
    return Figure(Layered(layers, edges), str(net.of))


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
    return out


def _vector_json(outcome: Outcome) -> list[dict]:
    """The matrix-form steps (view: vector), each checked against the scalar derivatives."""
    view, tex = outcome.vector, latex_printer(**printer_settings(outcome))
    return [
        {"step": step.reason, "layer": step.layer, "name": str(step.lhs),
         "expr": ascii(step.rhs[0]), "latex": tex(step.rhs[0]),
         "verified": outcome.vector_check.ok}
        for step in view.forward + view.backward + view.batch
    ]
