"""The `kind: graph` spec end to end: computational graphs with numbers (seed 001, CS231n style).

The glue the pipeline calls (see pipeline.KINDS): `parse` a YAML doc into a
GraphSpec, `derive` a verified Outcome (scalar graphs: graph_backprop +
graph_verify; graphs with vectors and matrices: graph_index, in index
notation), and present it as a template context, as JSON, or as a figure.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from decimal import Decimal

import sympy as sp

from derive.meta import __version__
from derive.errors import Location, SpecError, VerificationFailed
from derive.core.functions import kink_arguments
from derive.kinds.graph.backprop import Backprop, Grad, backprop
from derive.kinds.graph.spec import GraphSpec, parse_doc as parse
from derive.kinds.graph.verify import verify
from derive.render.numbers import Num
from derive.render.printing import ascii, latex, latex_name
from derive.kinds.network.worked import Shown
from derive.render.jinja import Row, d

KIND = "graph"
RESULT_CHARS = 200  # a result over the inputs longer than this (LaTeX source) is not readable on one line
EXACT_OPS = 14  # an exact value with more operations than this is shown as a decimal only
DIGITS = 4  # significant digits of an approximate value

__all__ = ["parse", "derive", "context", "printer_settings", "to_json", "figure", "Outcome"]


@dataclass
class Outcome:
    spec: GraphSpec
    result: object  # Backprop (scalar) or graph_index.IndexDerivation
    check: object

    @property
    def indexed(self) -> bool:
        return self.spec.indexed


def derive(spec: GraphSpec) -> Outcome:
    if spec.indexed:
        from derive.kinds.graph import index as graph_index

        result = graph_index.derive(spec)
        check = _checked(graph_index.verify, result, spec)
    else:
        result = backprop(spec)
        check = _checked(verify, result, spec)
    if not check.ok:
        raise VerificationFailed.first(spec.file, check)
    return Outcome(spec, result, check)


def _checked(verifier, result, spec: GraphSpec):
    """Run the numeric check; when it cannot run, say why instead of printing unchecked formulas."""
    try:
        return verifier(result)
    except RuntimeError as exc:  # no usable point: the spec's functions overflow or leave their domain
        raise SpecError(f"the derivatives could not be checked, so nothing was printed: {exc}; "
                        "make the graph's values stay moderate (below 1e50) for inputs in [-2, 2]",
                        Location(spec.file)) from None
    except (KeyError, TypeError) as exc:  # a function without a numeric rule, a complex value: a gap in derive
        raise VerificationFailed(f"{spec.file}: the derivatives could not be checked, so nothing was printed: "
                                 f"{exc}. Please report this with the spec.") from None


def printer_settings(outcome: Outcome) -> dict:
    return {"partials": outcome.result.partials, "terms": "bias-last"}


def figure(outcome: Outcome, lang: str = "en"):
    from derive.kinds.graph.figure import GraphFigure

    return GraphFigure(outcome, lang)


# -- numbers ----------------------------------------------------------------------


def decimal(value: sp.Expr) -> sp.Expr:
    """A rational with a short decimal expansion as a decimal (0.5, not 1/2); other numbers unchanged."""
    if not value.is_Rational or value.is_Integer:
        return value
    q, twos, fives = int(value.q), 0, 0
    while q % 2 == 0:
        q, twos = q // 2, twos + 1
    while q % 5 == 0:
        q, fives = q // 5, fives + 1
    if q != 1 or max(twos, fives) > 6:
        return value
    text = str(Decimal(int(value.p)) / Decimal(int(value.q)))
    return sp.Float(text, max(1, len(text.replace("-", "").replace(".", "").lstrip("0"))))


def shown(value: sp.Expr | None, style) -> tuple[list[sp.Expr], sp.Expr | None]:
    """(exact parts to print after '=', approximate value to print after '≈') in style (a worked.Shown).

    A decimal that `digits` shows whole is exact; other numbers are rounded, after '≈'. Exact
    fractions and closed forms (e^{-1}) are shown too only when the spec says `exact: true`.
    """
    if value is None:
        return [], None
    number = style.num(value, bare=True)
    approx = Num(value, style.digits, False, style.lang, True)
    if value.is_Rational:
        if number.fraction:
            return [number], approx
        return ([], number) if number.rounded else ([number], None)
    if style.exact and sp.count_ops(value) <= EXACT_OPS:
        return [value], approx
    return [], approx


def json_number(value: sp.Expr):
    return int(value) if value.is_Integer else float(value)


class Product(sp.Expr):
    """A product of numbers shown as it is computed, (−4) · 1, never simplified (display only)."""

    def _derive_latex(self, printer) -> str:
        return r" \cdot ".join(_factor(printer, a) for a in self.args)

    def _sympystr(self, printer) -> str:
        return "*".join(f"({printer._print(a)})" for a in self.args)


def _factor(printer, arg: sp.Expr) -> str:
    tex = printer._print(arg)
    return rf"\left({tex}\right)" if arg.could_extract_minus_sign() or arg.is_Add else tex


@dataclass
class Line:
    """One displayed equation: exact parts joined by '=', then approximations, each after '≈'."""

    row: Row
    approx: list = field(default_factory=list)


def _line(style, parts: list, value: sp.Expr | None = None, approx: list | None = None) -> Line:
    exact, rounded = shown(value, style)
    out: list = []
    for p in [*parts, *exact]:
        if not out or (p != out[-1] and not (isinstance(p, Num) and p.value == out[-1])):
            out.append(p)
    return Line(Row(out), [*(approx or []), *([rounded] if rounded is not None else [])])


# -- the template context (scalar graphs) ------------------------------------------------


def context(outcome: Outcome, lang: str) -> dict:
    if outcome.indexed:
        return _index_context(outcome, lang)
    bp: Backprop = outcome.result
    spec = outcome.spec
    style = Shown(spec.digits, spec.exact, lang)
    # the results over the inputs while each fits on a line; else over the forward pass's quantities (section 3)
    over_inputs = all(len(latex(g.closed)) <= RESULT_CHARS for g in bp.derivatives)
    return {
        "title": spec.title.get(lang),
        "indexed": False,
        "of": bp.of,
        "given": Row([sp.Function(bp.of.name)(*bp.inputs), next(n.closed for n in bp.nodes if n.symbol == bp.of)]),
        "start": Row([d(bp.of, bp.of), sp.S.One]),
        "values": [Row([x, style.given(v)]) for x, v in (bp.values or {}).items() if x in bp.inputs],
        "find": [d(bp.of, g.wrt) for g in bp.derivatives],
        "forward": [_line(style, [n.symbol, n.expr], n.value) for n in bp.nodes],
        "locals": [_locals(bp, n, style) for n in bp.nodes],
        "gates": [{"gate": n.gate, "node": n.symbol, "args": n.args} for n in bp.nodes if n.gate],
        "backward": [_backward(bp, g, style) for v, g in bp.grads.items() if v != bp.of],
        "results": [_line(style, [d(bp.of, g.wrt), g.closed if over_inputs else g.named], g.value)
                    for g in bp.derivatives],
        "over_inputs": over_inputs,
        "has_values": bp.values is not None,
        "sigmoid": _sigmoid_gate(bp, style),
        "kinked": any(kink_arguments(e) for n in bp.nodes for e in (n.expr, *(l.expr for l in n.locals))),
        "check": outcome.check,
        "n_formulas": outcome.check.formulas,
        # the random points alone: the spec's point, when the formulas were checked there too, is said apart
        "random_points": outcome.check.points - int(getattr(outcome.check, "at_values", False)),
        "version": __version__,
    }


def _locals(bp: Backprop, node, style) -> dict:
    env = bp.values
    lines = [_line(style, [d(node.symbol, l.arg), l.expr], l.expr.xreplace(env) if env else None) for l in node.locals]
    return {"node": node.symbol, "args": node.args, "lines": lines, "gate": node.gate}


def _backward(bp: Backprop, grad: Grad, style) -> dict:
    of = bp.of
    symbolic = sp.Add(*[_chain_symbols(of, loc) for loc in grad.uses])
    # upstream · local with both written out (z · 1, not z: the factor 1 is the point of an addition gate)
    product = sp.Add(*[_upstream_times_local(bp, loc) for loc in grad.uses], evaluate=False)
    through_ones = all(loc.expr == 1 for loc in grad.uses)  # z · 1 says it all: no "= z" after it
    parts, approx = [d(of, grad.wrt), symbolic, product, *([] if through_ones else [grad.named])], []
    if grad.terms and (len(grad.terms) > 1 or isinstance(grad.terms[0], tuple)):
        shown_ = [_numbers(t, style) for t in grad.terms]
        numbers = sp.Add(*[n for n, _ in shown_], evaluate=False)
        (parts if all(whole for _, whole in shown_) else approx).append(numbers)
    return {
        "wrt": grad.wrt,
        "is_input": grad.wrt in bp.inputs,
        "paths": [loc.node for loc in grad.uses],
        "line": _line(style, parts, grad.value, approx),
    }


def _sigmoid_gate(bp: Backprop, style) -> dict | None:
    """Where the output is σ(s) of a node s (CS231n's sigmoid neuron): ∂f/∂s = f(1 − f) in one step,
    with the forward value of f. None when no node is the sigmoid's argument or there are no values."""
    from derive.core.calculus import sigmoid

    if bp.values is None:
        return None
    closed = {n.symbol: n.closed for n in bp.nodes}
    value = {n.symbol: n.value for n in bp.nodes}
    f = bp.of

    def sigmoid_of(x) -> bool:
        """f = σ(x)? First at the given values (cheap), and only then for all values (simplify)."""
        try:
            if abs(float(value[f]) - 1 / (1 + math.exp(-float(value[x])))) > 1e-9 * (1 + abs(float(value[f]))):
                return False
        except (TypeError, ValueError, OverflowError):
            return False
        return sp.simplify(closed[f] - 1 / (1 + sp.exp(-closed[x]))) == 0

    s = next((n.symbol for n in bp.nodes if n.symbol != f and sigmoid_of(n.symbol)), None)
    if s is None:
        return None
    grad = bp.grads[s]
    if sp.simplify(closed[f] * (1 - closed[f]) - grad.closed) != 0:  # the shortcut must be the gradient
        raise VerificationFailed(f"{bp.spec.file}: σ(1 − σ) disagrees with ∂{f}/∂{s}; please report this")
    value = next(n.value for n in bp.nodes if n.symbol == f)
    numbers = Product(*[style.num(v) for v in (value, 1 - value)])
    z = sp.Symbol("z")
    return {"s": s, "f": f, "rule": Row([sp.Derivative(sigmoid(z), z), sp.diff(sigmoid(z), z)]),
            "line": _line(style, [d(f, s), sp.Mul(f, 1 - f, evaluate=False)], grad.value, [numbers])}


def _upstream_times_local(bp: Backprop, loc) -> sp.Expr:
    upstream = bp.grads[loc.node]
    if upstream.wrt == bp.of:  # the output itself: ∂f/∂f = 1, nothing to multiply
        return loc.expr
    return Product(upstream.named, loc.expr)


def _numbers(term, style) -> tuple[sp.Expr, bool]:
    """upstream value · local value as shown, and whether every factor is shown whole (not rounded)."""
    factors = term if isinstance(term, tuple) else (term,)
    shown_ = [style.num(v) for v in factors]
    return (Product(*shown_) if len(shown_) > 1 else shown_[0]), not any(n.rounded for n in shown_)


def _chain_symbols(of: sp.Symbol, loc) -> sp.Expr:
    """∂f/∂v · ∂v/∂x as fractions (just ∂v/∂x when v is the output)."""
    local = d(loc.node, loc.arg)
    return local if loc.node == of else sp.Mul(d(of, loc.node), local, evaluate=False)


# -- JSON ---------------------------------------------------------------------------------


def to_json(outcome: Outcome) -> dict:
    if outcome.indexed:
        return _index_json(outcome)
    bp: Backprop = outcome.result
    with_values = bp.values is not None
    forward = []
    for n in bp.nodes:
        entry = {"name": n.symbol.name, "expr": ascii(n.expr)}
        if with_values:
            entry["value"] = json_number(n.value)
        forward.append(entry)
    derivatives = []
    for g in bp.derivatives:
        entry = {"wrt": g.wrt.name, "expr": ascii(g.closed), "latex": latex(g.closed)}
        if with_values:
            entry["value"] = json_number(g.value)
        entry["verified"] = bool(outcome.check.ok)  # as in every kind: checked against finite differences
        derivatives.append(entry)
    return {
        "kind": "graph",
        "of": bp.of.name,
        "inputs": [x.name for x in bp.inputs],
        "forward": forward,
        "derivatives": derivatives,
        "verification": outcome.check.as_json(),
    }


# -- graphs with vectors and matrices: index notation ---------------------------------------


def _index_context(outcome: Outcome, lang: str) -> dict:
    from derive.kinds.graph import index as gi

    d = outcome.result
    show = _Display(d, outcome.spec.notation)
    out = d.output
    q = d.quantities
    inputs = [gi.display_symbol(q[x]) for x in d.inputs]
    matrix = {gi.display_symbol(n.quantity): n.matrix for n in d.nodes}
    closed = out.matrix
    for n in reversed(d.nodes):
        closed = closed.xreplace({k: v for k, v in matrix.items() if k != gi.display_symbol(out.quantity)})
    deltas = [show(delta) for n in d.nodes for _raw, local in n.locals.values()
              for delta in sorted(local.atoms(sp.KroneckerDelta), key=str)]
    return {
        "title": outcome.spec.title.get(lang),
        "indexed": True,
        "of": d.of,
        "given": Row([sp.Function(d.of.name)(*inputs), closed]),
        "shapes": [gi.InSpace(gi.display_symbol(q[x]), *q[x].shape) for x in d.inputs if q[x].shape],
        "matrix": [Row([gi.display_symbol(n.quantity), n.matrix]) for n in d.nodes],
        "elements": [Row([n.quantity.element(n.indices), show(n.element)]) for n in d.nodes],
        "locals": [_index_locals(d, n, show) for n in d.nodes],
        "example": next(iter(sorted((u for g in d.grads.values() if g.symbolic is not None
                                     for u in g.symbolic.atoms(gi.Upstream)), key=str)), None),
        "indicator": deltas[0] if deltas else None,
        "kronecker": outcome.spec.notation == "kronecker",
        "vector_output": bool(out.indices),
        "output_element": out.quantity.element(out.indices),
        "backward": [_index_grad(d, g, show) for g in d.grads.values()],
        "results": [_index_result(d, g, show, gradients=True) for g in d.derivatives],
        "check": outcome.check,
        "sizes": [f"{latex_name(str(k))} = {v}" for k, v in outcome.check.sizes.items()],  # listed in the note
        "n_formulas": outcome.check.formulas,
        "version": __version__,
    }


def _index_locals(d, node, show) -> list[Row]:
    from derive.kinds.graph.index import ElementDerivative, wrt_indices

    rows = []
    for arg, (raw, local) in node.locals.items():
        q = d.quantities[arg]
        left = ElementDerivative(node.quantity.element(node.indices), q.element(wrt_indices(q, d.index_symbols)))
        rows.append(Row(_distinct([left, show(raw), show(local)])))
    return rows


def _index_grad(d, g, show) -> dict:
    from derive.kinds.graph.index import ElementDerivative, Upstream

    q = g.wrt
    element = q.element(g.indices)
    up = Upstream(d.of, q.base.label if q.shape else q.base, *g.indices)
    chain = Row(_distinct([up, show(g.symbolic), show(g.chain), show(g.done)])) if g.done is not None else None
    out = d.output
    component = Row([ElementDerivative(out.quantity.element(out.indices), element), show(g.component)])
    collapsed = g.chain is not None and g.chain.has(sp.Sum) and not g.done.has(sp.Sum) and g.chain.has(sp.KroneckerDelta)
    summed = [lim[0] for s in g.chain.atoms(sp.Sum) for lim in s.limits] if collapsed else []
    return {
        "wrt": element,
        "chain": chain,
        "component": component,
        "collapsed": collapsed,
        "sum_index": summed[0] if summed else None,
        "wrt_index": g.indices[0] if g.indices else None,
        "upstream": up,
    }


def _index_result(d, g, show, gradients: bool = False) -> Line:
    """A result line; with `gradients` (the lecture's section "Result") a quantity only the output uses is given as a
    gradient, ∂f/∂θ_i = ∂f/∂q_i (_twin), where the JSON and the grader keep its component form ∂f_m/∂θ_i."""
    from derive.kinds.graph.index import ElementDerivative, Upstream

    q = g.wrt
    if g.done is not None:
        return Line(Row([Upstream(d.of, q.base.label if q.shape else q.base, *g.indices), show(g.done)]))
    twin = _twin(d, g) if gradients else None
    if twin is not None:  # ∂f/∂θ_i = ∂f/∂q_i: a gradient, as the other results are, not the local ∂f_m/∂θ_i
        return Line(Row([Upstream(d.of, q.base.label if q.shape else q.base, *g.indices),
                         Upstream(d.of, twin.base.label if twin.shape else twin.base, *g.indices)]))
    out = d.output
    return Line(Row([ElementDerivative(out.quantity.element(out.indices), q.element(g.indices)), show(g.component)]))


def _twin(d, g):
    """For a quantity only the output uses (θ in f = q + θ): another such quantity whose gradient the results
    already write (∂f/∂q_i in ∂f/∂W_ij = ∂f/∂q_i x_j) and whose local derivative into the output SymPy finds
    equal to this one's, so that ∂f/∂θ_i = Σ_m ∂f/∂f_m ∂f_m/∂θ_i = ∂f/∂q_i; None if there is none."""
    from derive.kinds.graph.index import Upstream

    used = {u.args[1] for r in d.derivatives if r.done is not None for u in r.done.atoms(Upstream)}
    for t in d.grads.values():
        label = t.wrt.base.label if t.wrt.shape else t.wrt.base
        if t is g or t.done is not None or label not in used or len(t.indices) != len(g.indices):
            continue
        if sp.simplify(t.component.xreplace(dict(zip(t.indices, g.indices))) - g.component) == 0:
            return t.wrt
    return None


def _distinct(parts: list) -> list:
    out = []
    for p in parts:
        if p is not None and (not out or p != out[-1]):
            out.append(p)
    return out


def _rank(factor: sp.Expr, upstream: set) -> int:
    """Chain-rule order of factors: numbers, upstream gradients, derivatives, indicators, matrices, vectors."""
    from derive.core.calculus import Indicator
    from derive.kinds.graph.index import Delta, ElementDerivative, Ind, Upstream

    if factor.is_Number:
        return 0
    if isinstance(factor, Upstream) or factor in upstream:
        return 1
    if isinstance(factor, (ElementDerivative, sp.Derivative)):
        return 2
    if isinstance(factor, (Ind, Delta, sp.KroneckerDelta, Indicator)):
        return 3
    if isinstance(factor, sp.Indexed):
        return 6 - len(factor.indices)
    return 6


def arrange(expr: sp.Expr, upstream: set = frozenset()) -> sp.Expr:
    """Every product in chain-rule order (∂f/∂q_i x_j, as the seeds write it), kept unevaluated."""
    def order(e):
        args = sorted(e.args, key=lambda a: _rank(a, upstream))
        return sp.Mul(*args, evaluate=False) if list(args) != list(e.args) else e

    return expr.replace(lambda e: e.is_Mul, order)


class _Display:
    """Index formulas as printed: Kronecker deltas as 1_{k=i} (or δ_{ki}), the node's index first."""

    def __init__(self, d, notation: str):
        from derive.kinds.graph.index import Delta, Ind

        self.wrt = set(d.index_symbols["wrt"])
        self.cls = Delta if notation == "kronecker" else Ind

    def __call__(self, expr):
        if expr is None:
            return None
        return arrange(expr.replace(sp.KroneckerDelta, self._delta))

    def _delta(self, a, b, *_):
        if a in self.wrt and b not in self.wrt:
            a, b = b, a
        return self.cls(a, b)


def _index_json(outcome: Outcome) -> dict:
    d = outcome.result
    show = _Display(d, outcome.spec.notation)
    def names(expr):
        return arrange(_ascii_names(expr))

    forward = [{"name": ascii(names(n.quantity.element(n.indices))), "expr": ascii(names(show(n.element)))}
               for n in d.nodes]
    derivatives = []
    for g in d.derivatives:
        line = _index_result(d, g, show)
        wrt = g.wrt.element(g.indices)
        value = line.row.parts[-1]
        derivatives.append({"wrt": ascii(names(wrt)), "expr": ascii(names(value)), "latex": latex(value),
                            "verified": bool(outcome.check.ok)})
    return {"kind": "graph", "of": d.of.name, "inputs": list(d.inputs), "forward": forward, "derivatives": derivatives,
            "verification": outcome.check.as_json()}


def _ascii_names(expr: sp.Expr) -> sp.Expr:
    """W[k, l] -> W_kl: the CONTRACT's names, indices after '_'."""
    from derive.core.parse import canonical_name

    return expr.replace(lambda e: isinstance(e, sp.Indexed),
                        lambda e: sp.Symbol(canonical_name(str(e.base.label), [str(i) for i in e.indices])))
