"""The network's presenter of the graph engine's backward pass: φ, ψ, θ grouped by layer and unit.

`derive(network)` compiles the network to the computational graph `kind: graph`
uses (derive.kinds.network.graph), runs that kind's backward pass
(derive.kinds.graph.backprop, without its forms over node names) and returns a
`Derivation` read from it: for each layer from the output backwards, the
backward quantities ∂J/∂h_j it needs (named when they are not a single factor,
reused by every parameter below), and ∂J/∂θ_ij = ∂J/∂h_j · ∂h_j/∂θ_ij for every
parameter. Every local derivative (∂J/∂y, f'(z) written with h = f(z), ∂z/∂θ,
the weight-decay term λ w) is the engine's; this module only decides what to
name, groups, orders the factors as seed 000 writes them (upstream first) and
simplifies the output layer's δ. Work and output grow linearly with the number
of parameters. Pure: no I/O, no printing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from derive.core.calculus import in_softmax_outputs, tidy_sign
from derive.kinds.graph.backprop import backprop as graph_backprop
from derive.kinds.network.graph import compile_network, renamed
from derive.kinds.network.model import Layer, Network, Unit

EXPAND_LIMIT = 16  # leaves: a named quantity this small is also shown substituted
SIMPLIFY_UNITS = 10  # output layers up to this width get their δ simplified


@dataclass
class Grad:
    """A named backward quantity ∂of/∂node, e.g. dy_dh_1 = φ_1 I[u_1>0] ψ_11 + …"""

    symbol: sp.Symbol
    of: sp.Symbol
    node: sp.Symbol
    expr: sp.Expr
    simplified: sp.Expr | None = None
    one_hot: sp.Expr | None = None  # the simplified form when the targets sum to 1
    highway: sp.Expr | None = None  # a residual layer's identity term ∂of/∂h_j (its "gradient highway")


@dataclass
class ParamGrad:
    """∂of/∂param = upstream · local + direct, with upstream = ∂of/∂node and local = ∂node/∂param.

    direct: the derivative of a term of `of` that uses the parameter itself (weight
    decay's λ w), or None.
    """

    param: sp.Symbol
    node: sp.Symbol
    upstream: sp.Expr
    local: sp.Expr
    value: sp.Expr
    expanded: sp.Expr | None = None
    direct: sp.Expr | None = None


@dataclass
class UnitGroup:
    unit: Unit
    derivatives: list[ParamGrad]


@dataclass
class Section:
    layer: Layer
    grads: list[Grad]
    groups: list[UnitGroup]
    shared: list[ParamGrad] = field(default_factory=list)  # a bias shared by the layer's units: the sum over them


@dataclass
class Derivation:
    network: Network
    sections: list[Section]  # the output layer first
    loss_grads: list[Grad] = field(default_factory=list)
    backward: list[Grad] = field(default_factory=list)  # in evaluation order
    derivatives: list[ParamGrad] = field(default_factory=list)  # in parameter order
    locals: "Locals | None" = field(default=None, repr=False)  # the engine's local derivatives it was read from

    @property
    def partials(self) -> dict[sp.Symbol, tuple[sp.Symbol, sp.Symbol]]:
        """Backward symbol -> (of, node), for printing ∂of/∂node."""
        return {g.symbol: (g.of, g.node) for g in self.backward}


def chain(*factors: sp.Expr) -> sp.Expr:
    """The product of factors in the given order, kept unevaluated; numbers go in front."""
    coeff, flat = sp.S.One, []
    for f in factors:
        for part in f.args if f.is_Mul else (f,):
            if part.is_Number:
                coeff *= part
            else:
                flat.append(part)
    if coeff == 0:
        return sp.S.Zero
    if coeff != 1:
        flat.insert(0, coeff)
    if not flat:
        return sp.S.One
    return flat[0] if len(flat) == 1 else sp.Mul(*flat, evaluate=False)


def total(terms: list[sp.Expr]) -> sp.Expr:
    """The sum of terms in the given order, kept unevaluated."""
    terms = [t for t in terms if t != 0]
    if not terms:
        return sp.S.Zero
    return terms[0] if len(terms) == 1 else sp.Add(*terms, evaluate=False)


def plus(expr: sp.Expr | None, direct: sp.Expr | None) -> sp.Expr | None:
    """expr + direct, in that order, kept unevaluated; expr alone without a direct term."""
    if expr is None or direct is None:
        return expr
    return sp.Add(expr, direct, evaluate=False)


def leaves(expr: sp.Expr, limit: int = EXPAND_LIMIT) -> int:
    """The number of leaves of expr, counting stops a little past limit."""
    count = 0
    for node in sp.preorder_traversal(expr):
        count += not node.args
        if count > limit:
            break
    return count


def is_factor(expr: sp.Expr) -> bool:
    """Small enough to write inline instead of naming: a symbol, a number, or a product of two of them."""
    if expr.is_Atom:
        return True
    return expr.is_Mul and len(expr.args) <= 2 and all(a.is_Atom for a in expr.args)


class _Backward:
    """The state of one backward sweep: upstream gradients at each node, named quantities."""

    def __init__(self, network: Network):
        self.net = network
        self.of = network.of
        self.locals = Locals.of(network)
        self.upstream: dict[sp.Symbol, sp.Expr] = {}
        self.named: dict[sp.Symbol, Grad] = {}
        self.order: list[Grad] = []
        self.small: dict[sp.Symbol, bool] = {}

    def local(self, node: sp.Symbol, arg: sp.Expr) -> sp.Expr | None:
        return self.locals.local(node, arg)

    def activation_local(self, unit: Unit) -> sp.Expr:
        return self.locals.activation(unit)

    def linear_local(self, unit: Unit, source: sp.Expr) -> sp.Expr:
        return self.locals.linear(unit, source)

    def name(self, node: sp.Symbol, expr: sp.Expr, **extra) -> tuple[sp.Expr, Grad | None]:
        """Name expr as ∂of/∂node unless it is a single factor; returns what to use downstream."""
        if is_factor(expr) and not extra:
            return expr, None
        grad = Grad(sp.Symbol(f"d{self.of}_d{node}"), self.of, node, expr, **extra)
        self.named[grad.symbol] = grad
        self.order.append(grad)
        return grad.symbol, grad

    def definition(self, expr: sp.Expr) -> sp.Expr:
        """A named quantity's own expression (one level), for the expanded display."""
        grad = self.named.get(expr)
        return grad.simplified if grad and grad.simplified is not None else (grad.expr if grad else expr)

    def seed(self) -> list[Grad]:
        """∂of/∂y_j: 1 for the output itself, or the loss derivative by SymPy."""
        net = self.net
        if net.loss is None:
            self.upstream[net.outputs[0]] = sp.S.One
            return []
        grads = []
        for y in net.outputs:
            use, grad = self.name(y, self.local(self.of, y))  # ∂J/∂y: y's one use is the loss
            self.upstream[y] = use
            grads += [grad] if grad else []
        return grads

    def section(self, layer: Layer, is_output: bool) -> Section:
        grads = [self.named[s] for u in layer.units if (s := self.upstream[u.post]) in self.named]
        if is_output:
            grads = []
        deltas, delta_grads = self.deltas(layer, is_output)
        groups = [UnitGroup(u, [self.param(u, d, p) for p, _ in u.incoming]) for u, d in zip(layer.units, deltas)]
        if layer.number > 1:
            self.propagate(layer, deltas)
        return Section(layer, grads + delta_grads, groups)

    def deltas(self, layer: Layer, is_output: bool) -> tuple[list[tuple[sp.Expr, sp.Expr | None]], list[Grad]]:
        """Per unit: (∂of/∂pre named, or None) and, when not named, f'(pre) to multiply in."""
        units = layer.units
        if units[0].pre is None:
            return [(None, sp.S.One) for _ in units], []
        if layer.activation.name == "softmax":
            return self.softmax_deltas(layer)
        local = [self.activation_local(u) for u in units]
        if is_output and self.net.loss is not None and len(units) <= SIMPLIFY_UNITS:
            full = [chain(self.definition(self.upstream[u.post]), f) for u, f in zip(units, local)]
            simple = [sp.factor(sp.simplify(f)) for f in full]
            if all(sp.count_ops(s) < sp.count_ops(f) for s, f in zip(simple, full)):
                named = [self.name(u.pre, chain(self.upstream[u.post], f), simplified=s) for u, f, s in zip(units, local, simple)]
                return [(use, None) for use, _ in named], [g for _, g in named]
        return [(None, f) for f in local], []

    def softmax_deltas(self, layer: Layer):
        units = layer.units
        zs, ys = [u.pre for u in units], [u.post for u in units]
        jac = [[in_softmax_outputs(self.local(yk, zj), zs, ys) for zj in zs] for yk in ys]
        out, grads = [], []
        for j, u in enumerate(units):
            expr = total([chain(self.upstream[ys[k]], jac[k][j]) for k in range(len(units))])
            full = sp.Add(*[self.definition(self.upstream[ys[k]]) * jac[k][j] for k in range(len(units))])
            simple = tidy_sign(sp.collect(sp.expand(full), ys[j]))
            one_hot = self.one_hot(simple)
            use, grad = self.name(u.pre, expr, simplified=simple, one_hot=one_hot)
            out.append((use, None))
            grads.append(grad)
        return out, grads

    def one_hot(self, expr: sp.Expr) -> sp.Expr | None:
        """expr when the targets sum to 1 (one-hot), if that makes it simpler."""
        ts = self.net.targets
        if not ts:
            return None
        reduced = sp.simplify(expr.subs(sp.Add(*ts), 1))
        return reduced if sp.count_ops(reduced) < sp.count_ops(expr) else None

    def param(self, unit: Unit, delta: tuple, param: sp.Symbol) -> ParamGrad:
        named, fprime = delta
        source = self.linear_local(unit, param)  # ∂z_j/∂θ_ij = h_i (1 for a bias)
        if named is not None:
            node, upstream, local = unit.pre, named, source
            expanded = self._expanded(named, local)
        else:
            node, upstream, local = unit.post, self.upstream[unit.post], chain(fprime, source)
            expanded = self._expanded(upstream, local)
        direct = self.direct(param)
        value, expanded = plus(chain(upstream, local), direct), plus(expanded, direct)
        return ParamGrad(param, node, upstream, local, value, expanded, direct)

    def direct(self, param: sp.Symbol) -> sp.Expr | None:
        """The engine's ∂J/∂param through the loss's terms in param itself (weight decay: λ w); None if there are none.

        Without a loss, of is the output node, whose parameters are the output layer's own (not direct terms)."""
        return None if self.net.loss is None else self.local(self.of, param)

    def _expanded(self, upstream: sp.Expr, local: sp.Expr) -> sp.Expr | None:
        grad = self.named.get(upstream)
        if grad is None or not self._expandable(grad):
            return None
        return chain(grad.simplified if grad.simplified is not None else grad.expr, local)

    def _expandable(self, grad: Grad) -> bool:
        """Small enough to show substituted; decided once per quantity, not once per parameter."""
        if grad.symbol not in self.small:
            definition = grad.simplified if grad.simplified is not None else grad.expr
            self.small[grad.symbol] = leaves(definition) <= EXPAND_LIMIT
        return self.small[grad.symbol]

    def propagate(self, layer: Layer, deltas: list) -> None:
        """∂of/∂(each source of this layer) = Σ_j ∂of/∂pre_j · θ_ij (+ ∂of/∂h_i through a residual skip)."""
        sources = [src for _, src in layer.units[0].incoming if src != 1]
        for src in sources:
            terms = []
            for unit, (named, fprime) in zip(layer.units, deltas):
                weight = self.linear_local(unit, src)  # ∂z_j/∂h_i = θ_ij
                terms.append(chain(named, weight) if named is not None else chain(self.upstream[unit.post], fprime, weight))
            highway = self.highway(layer, src)
            if highway is None:
                self.upstream[src], _ = self.name(src, total(terms))
            else:
                self.upstream[src], _ = self.name(src, total([highway, *terms]), highway=highway)

    def highway(self, layer: Layer, src: sp.Expr) -> sp.Expr | None:
        """∂of/∂h_i of the unit whose skip carries src unchanged (∂h_i/∂src = 1), or None."""
        unit = next((u for u in layer.units if u.skip is not None and u.skip == src), None)
        return None if unit is None else self.upstream[unit.post]


@dataclass
class Locals:
    """The graph engine's backward pass on the compiled network, over the network's own symbols.

    uses: value -> {node using it: ∂node/∂value}, the derivatives as SymPy gives them
    (sign(y − t) for |y − t|'), not rewritten with indicators as the graph kind prints them.
    """

    uses: dict[sp.Symbol, dict[sp.Symbol, sp.Expr]]
    definitions: dict[sp.Symbol, sp.Expr]

    @classmethod
    def of(cls, network: Network) -> "Locals":
        engine = graph_backprop(compile_network(network, texts=False), forms=False)
        own = {s.name: s for s in [*network.inputs, *network.params, *network.targets, *network.constants,
                                   *(s for s, _ in network.forward)]}
        back = {real: own[name] for name, real in engine.spec.symbols.items()}
        loss = engine.of if network.loss is not None else None
        uses = {back[v]: {back[loc.node]: _renamed(loc.raw, back, loc.node == loss) for loc in g.uses}
                for v, g in engine.grads.items()}
        return cls(uses, network.definitions)

    def local(self, node: sp.Symbol, arg: sp.Expr) -> sp.Expr | None:
        """The engine's ∂node/∂arg, or None if node does not use arg."""
        return self.uses.get(arg, {}).get(node)

    def activation(self, unit: Unit) -> sp.Expr:
        """f'(z_j) as the engine derives ∂h_j/∂z_j, written with h_j = f(z_j) where it appears (σ' = h(1 − h)).

        A residual unit's h_j = f(z_j) + x_j is not f(z_j): its f'(z_j) stays in z_j.
        """
        local = self.local(unit.post, unit.pre)
        if unit.skip is not None:
            return local
        return local.subs(self.definitions[unit.post], unit.post)

    def linear(self, unit: Unit, source: sp.Expr) -> sp.Expr:
        """The engine's ∂(θ_0j + Σ θ_ij h_i)/∂source: the node is z_j, or h_j itself in a layer without
        pre-activations; there a residual unit's h_j also adds its input, whose 1 is the highway (not this)."""
        node = unit.pre if unit.pre is not None else unit.post
        local = self.local(node, source)
        if unit.pre is None and unit.skip is not None and unit.skip == source:
            local = local - 1
        return local


def _renamed(expr: sp.Expr, back: dict, canonical: bool) -> sp.Expr:
    """expr over the engine's real symbols -> over the network's: the loss's derivatives in SymPy's canonical
    order of terms; a unit's in the order its derivative wrote them (leaky ReLU': I[z>0] + α I[z≤0])."""
    if canonical:
        return expr.xreplace(back)
    return renamed(expr, back)


def derive(network: Network) -> Derivation:
    sweep = _Backward(network)
    loss_grads = sweep.seed()
    layers = network.layers
    sections = [_with_shared(sweep.section(layer, layer is layers[-1])) for layer in reversed(layers)]
    by_param = {d.param: d for s in sections for g in s.groups for d in g.derivatives}
    by_param |= {d.param: d for s in sections for d in s.shared}
    return Derivation(
        network,
        sections,
        loss_grads=loss_grads,
        backward=sweep.order,
        derivatives=[by_param[p] for p in network.params],
        locals=sweep.locals,
    )


def _with_shared(section: Section) -> Section:
    """A parameter entering several units (a shared bias) gets the sum of its per-unit terms.

    The per-unit terms stay in their groups (their local derivatives are shown
    there); the sum is the parameter's derivative.
    """
    parts: dict[sp.Symbol, list[ParamGrad]] = {}
    for group in section.groups:
        for p in group.derivatives:
            parts.setdefault(p.param, []).append(p)
    section.shared = [_summed(ps) for ps in parts.values() if len(ps) > 1]
    return section


def _summed(parts: list[ParamGrad]) -> ParamGrad:
    first = parts[0]
    expanded = total([p.expanded for p in parts]) if all(p.expanded is not None for p in parts) else None
    return ParamGrad(first.param, first.node, first.upstream, first.local,
                     total([p.value for p in parts]), expanded)
