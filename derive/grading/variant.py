"""Per-student variants of a network spec for quizzes: `variant(spec, seed)`.

A seed picks, deterministically, a network in the spirit of the spec: each
hidden layer keeps its family of activation (derive.functions: kinked relu /
leaky_relu; squashing sigmoid / tanh; smooth rectifiers softplus / gelu /
silu), or its very activation when the spec has a title (a title such as "a
tanh network" must stay true on every sheet), and a width close to its own
(2 or 3 units for small
layers), and a subset of the parameters to ask for, at least one per layer.
The output layer, the loss, the inputs and all names stay as the spec has
them. A spec with `values:` keeps its network and gets its own numbers
instead (inputs and parameters drawn per seed, derive.worked.vary).
`derive quiz --seed N` writes N into the answers template, and
`derive check` rebuilds the same variant from the spec and N, so each
student's answers are graded against their own network.
"""

from __future__ import annotations

import dataclasses
import random

from derive.core.functions import ACTIVATIONS
from derive.kinds.network.spec import NetworkSpec

MAX_ASKED = 6
SMALL = 3  # hidden layers up to this width may vary between 2 and 3 units


def variant(spec: NetworkSpec, seed: int | None) -> NetworkSpec:
    """The spec itself without a seed; otherwise its variant number seed."""
    if seed is None:
        return spec
    if spec.worked is not None:  # a worked example keeps its network (its values name every parameter)
        from derive.kinds.network.worked import vary

        return vary(spec, seed)
    rng = random.Random(seed)
    alpha = _free_alpha(spec)
    layers = list(spec.layers)
    keep = bool(spec.title)  # the sheet prints the title: the activations it may name stay
    for i, layer in enumerate(layers[:-1]):
        layers[i] = _vary(layer, rng, alpha, keep)
    return dataclasses.replace(spec, layers=_residual_widths(spec.input_size, layers))


def _residual_widths(input_size: int, layers: list) -> tuple:
    """A residual layer adds its input to its output, so it keeps the width of its (possibly varied) input."""
    width, out = input_size, []
    for layer in layers:
        layer = dataclasses.replace(layer, units=width) if getattr(layer, "residual", False) else layer
        out.append(layer)
        width = layer.units
    return tuple(out)


def _vary(layer, rng: random.Random, alpha: str, keep_activation: bool = False):
    members = family(layer.activation)
    choice = rng.choice(members) if members else layer.activation  # drawn either way: widths stay the same per seed
    activation = layer.activation if keep_activation else choice
    units = rng.choice((2, 3)) if 2 <= layer.units <= SMALL else layer.units
    if activation == layer.activation:
        kept = layer.alpha
    elif activation == "leaky_relu":
        kept = alpha
    else:
        kept = None  # relu, sigmoid, tanh take no α
    return dataclasses.replace(layer, activation=activation, units=units, alpha=kept)


def family(activation: str) -> tuple[str, ...]:
    """The activations a variant may choose instead of this one, in the registry's order (stable seeds)."""
    tag = ACTIVATIONS[activation].family
    return tuple(name for name, a in ACTIVATIONS.items() if tag is not None and a.family == tag)


def _free_alpha(spec: NetworkSpec) -> str:
    """A name for leaky ReLU's slope that no other quantity of the spec uses."""
    used = {spec.input, spec.output, spec.target, spec.loss_name}
    for layer in spec.layers:
        used |= {layer.params, layer.bias, layer.pre, layer.post}
    return next(name for name in ("alpha", "beta", "kappa", "lambda") if name not in used)


def asked(parameters: list[str], layers: list[list[str]], seed: int | None) -> list[str]:
    """The parameters a quiz asks for, in the network's order: all without a seed."""
    if seed is None:
        return list(parameters)
    rng = random.Random(seed * 7919 + 1)
    quota = max(1, MAX_ASKED // len(layers))
    chosen = {name for names in layers for name in rng.sample(names, min(quota, len(names)))}
    return [p for p in parameters if p in chosen]


GRAPH_VALUES = (-5, 5)  # a graph's variant draws whole numbers from this range (0 left out)
GRAPH_TRIES = 400  # draws are cheap to reject (saturated, below); the derivation is made only for a kept one
SATURATION = 2  # |argument| of a squashing function (tanh, σ) a variant allows: tanh′(2) ≈ 0.07; beyond it every
# derivative through the node is ~1e-8 and an answer within 0.5 % says nothing


def graph_variant(spec, seed: int | None):
    """A scalar graph with other whole-number values (every node defined there); the spec itself without a seed
    or without values."""
    if seed is None or spec.values is None:
        return spec
    from derive.errors import SpecError
    from derive.kinds.graph.kind import derive

    for values in graph_draws(spec, seed):
        candidate = dataclasses.replace(spec, values=values)
        try:
            derive(candidate)
        except SpecError:  # a node outside its domain there (log of a negative, …): draw again
            continue
        return candidate
    return spec


def graph_draws(spec, seed: int):
    """The whole-number values a graph's variant seed tries, in order; draws that saturate a node are skipped."""
    import sympy as sp

    rng = random.Random(seed)
    for _ in range(GRAPH_TRIES):
        values = {x: sp.Integer(rng.choice([v for v in range(GRAPH_VALUES[0], GRAPH_VALUES[1] + 1) if v]))
                  for x in spec.values}
        if not _saturated(spec, values):
            yield values


def _saturated(spec, values: dict) -> bool:
    """Whether, at these values, some tanh or σ (the registry's squashing family) gets an argument beyond
    ±SATURATION: its node is then flat, and so is every derivative through it."""
    import sympy as sp

    squashing = {name for name, a in ACTIVATIONS.items() if a.family == "squashing"}
    env = {spec.symbols[x]: v for x, v in values.items() if x in spec.symbols}
    for node in spec.nodes:
        for call in node.expr.atoms(sp.Function):
            if type(call).__name__ in squashing:
                argument = sp.N(call.args[0].xreplace(env))
                if argument.is_real and abs(argument) > SATURATION:
                    return True
        env[spec.symbols[node.name]] = sp.N(node.expr.xreplace(env), 30)
    return False
