"""The SymPy model of a network spec: named symbols and forward definitions.

Each unit has a pre-activation symbol (z_1), a post-activation symbol (h_1)
and its incoming parameters paired with their sources (bias: the number 1).
Names follow CONTRACT section 2: size-1 quantities drop the index, one-unit
layers drop the target index of their parameters (φ_0, φ_1, φ_2), and a
family whose indices reach two digits separates them (theta_10_3).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from derive.core.functions import ACTIVATIONS, LOSSES, Activation, weight_decay
from derive.kinds.network.spec import LayerSpec, NetworkSpec


@dataclass
class Unit:
    pre: sp.Symbol | None
    post: sp.Symbol
    incoming: list[tuple[sp.Symbol, sp.Expr]]  # (parameter, source); the bias's source is 1
    skip: sp.Expr | None = None  # a residual layer's input added to the output: h_j = f(z_j) + x_j


@dataclass
class Layer:
    number: int  # 1-based
    spec: LayerSpec
    activation: Activation
    alpha: sp.Expr | None
    units: list[Unit]

    @property
    def params(self) -> list[sp.Symbol]:
        """Each parameter once (a shared bias enters every unit)."""
        return list(dict.fromkeys(p for unit in self.units for p, _ in unit.incoming))


@dataclass
class Network:
    spec: NetworkSpec
    inputs: list[sp.Symbol]
    targets: list[sp.Symbol]
    constants: list[sp.Symbol]  # symbolic constants such as α
    layers: list[Layer]
    of: sp.Symbol  # what is differentiated: the output or the loss
    loss: sp.Expr | None
    forward: list[tuple[sp.Symbol, sp.Expr]] = field(default_factory=list)
    decay: sp.Expr | None = None  # the weight-decay term (λ/2) Σ w² of the loss, which depends on weights directly

    @property
    def weights(self) -> list[sp.Symbol]:
        """The parameters that multiply a source (not the biases): what weight decay acts on."""
        return [p for layer in self.layers for unit in layer.units for p, src in unit.incoming if src != 1]

    @property
    def params(self) -> list[sp.Symbol]:
        return [p for layer in self.layers for p in layer.params]

    @property
    def outputs(self) -> list[sp.Symbol]:
        return [unit.post for unit in self.layers[-1].units]

    @property
    def definitions(self) -> dict[sp.Symbol, sp.Expr]:
        return dict(self.forward)


def quantity(name: str, size: int) -> list[sp.Symbol]:
    """x -> [x]; (x, 3) -> [x_1, x_2, x_3]."""
    return [sp.Symbol(name)] if size == 1 else [sp.Symbol(f"{name}_{i}") for i in range(1, size + 1)]


def param_name(family: str, source: int, target: int, n_sources: int, n_targets: int, target_first: bool) -> str:
    """theta_01 (source, target); W_21 (target, source); one target unit drops its index.

    n_sources is the largest source index (the bias is source 0).
    """
    if n_targets == 1:
        return f"{family}_{source}"
    first, second = (target, source) if target_first else (source, target)
    wide = max(n_sources, n_targets) >= 10
    return f"{family}_{first}_{second}" if wide else f"{family}_{first}{second}"


def build(spec: NetworkSpec) -> Network:
    inputs = quantity(spec.input, spec.input_size)
    sources: list[sp.Expr] = list(inputs)
    layers, forward, constants = [], [], []
    for number, lspec in enumerate(spec.layers, start=1):
        layer = _layer(spec, number, lspec, sources)
        if isinstance(lspec.alpha, str):
            constants.append(sp.Symbol(lspec.alpha))
        forward += _forward(layer)
        layers.append(layer)
        sources = [unit.post for unit in layer.units]
    targets = quantity(spec.target, len(sources)) if spec.target else []
    loss_expr = LOSSES[spec.loss].apply(sources, targets) if spec.loss != "none" else None
    of = sp.Symbol(spec.of)
    net = Network(spec, inputs, targets, [], layers, of, loss_expr, forward)
    if spec.weight_decay is not None:
        lam = constant(spec.weight_decay)
        constants += [lam] if lam.is_Symbol else []
        net.decay = weight_decay(lam, net.weights)
        net.loss = sp.Add(loss_expr, net.decay, evaluate=False)
    if net.loss is not None:
        forward.append((of, net.loss))
    net.constants = sorted(set(constants), key=str)
    return net


def constant(value: float | str) -> sp.Expr:
    """A spec's constant (α, λ): a symbol by name, or a number (exact when whole: elu's default α = 1)."""
    if isinstance(value, str):
        return sp.Symbol(value)
    return sp.Integer(int(value)) if float(value).is_integer() else sp.Float(value)


def _layer(spec: NetworkSpec, number: int, lspec: LayerSpec, sources: list[sp.Expr]) -> Layer:
    pres = quantity(lspec.pre, lspec.units) if lspec.pre else [None] * lspec.units
    posts = quantity(lspec.post, lspec.units)
    target_first = spec.index == "target-source"
    n_src = len(sources)
    units = []
    for j, (pre, post) in enumerate(zip(pres, posts), start=1):
        incoming = [(sp.Symbol(_bias_name(lspec, j, n_src, target_first)), sp.S.One)]
        for k, source in enumerate(sources, start=1):
            name = param_name(lspec.params, k, j, n_src, lspec.units, target_first)
            incoming.append((sp.Symbol(name), source))
        units.append(Unit(pre, post, incoming, sources[j - 1] if lspec.residual else None))
    default = ACTIVATIONS[lspec.activation].alpha  # a layer made in code (a quiz variant) may leave α unset
    alpha = constant(lspec.alpha) if lspec.alpha is not None else (constant(default) if default is not None else None)
    return Layer(number, lspec, ACTIVATIONS[lspec.activation], alpha, units)


def _bias_name(lspec: LayerSpec, j: int, n_src: int, target_first: bool) -> str:
    """b_j (target-source) or θ_0j (source-target); a shared bias drops the unit index: b, θ_0."""
    if lspec.bias_shared:
        return lspec.bias if target_first else f"{lspec.params}_0"
    if target_first:
        return lspec.bias if lspec.units == 1 else f"{lspec.bias}_{j}"
    return param_name(lspec.params, 0, j, n_src, lspec.units, False)


def linear(unit: Unit) -> sp.Expr:
    """θ_0j + Σ_i θ_ij x_i, in the textbook's order (bias first)."""
    terms = [p if src == 1 else sp.Mul(p, src, evaluate=False) for p, src in unit.incoming]
    return sp.Add(*terms, evaluate=False)


def _forward(layer: Layer) -> list[tuple[sp.Symbol, sp.Expr]]:
    """Pre-activations of the whole layer first, then activations (as seed 000 groups them)."""
    if layer.units[0].pre is None:
        return [(u.post, with_skip(u, linear(u))) for u in layer.units]
    pres = [(u.pre, linear(u)) for u in layer.units]
    if layer.activation.name == "softmax":
        zs = [u.pre for u in layer.units]
        total = sp.Add(*[sp.exp(z) for z in zs], evaluate=False)
        posts = [(u.post, sp.Mul(sp.exp(u.pre), sp.Pow(total, -1, evaluate=False), evaluate=False)) for u in layer.units]
    else:
        posts = [(u.post, with_skip(u, layer.activation.apply(u.pre, layer.alpha))) for u in layer.units]
    return pres + posts


def with_skip(unit: Unit, value: sp.Expr) -> sp.Expr:
    """f(z_j), plus the input x_j when the layer is residual (its identity path)."""
    return value if unit.skip is None else sp.Add(value, unit.skip, evaluate=False)
