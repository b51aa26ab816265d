"""A network as the computational graph that `kind: graph` derives: one node per forward definition.

`compile_network(network)` gives the `GraphSpec` whose nodes are the network's
pre-activations, activations and loss (their expressions unchanged, over real
symbols of the same names), whose inputs are the network's inputs,
parameters, targets and constants, and whose `wrt` are the parameters. The
graph engine (derive.kinds.graph.backprop) differentiates it; the network's
presenter (derive.kinds.network.backprop) names and groups what it derives:
one engine, one model.
"""

from __future__ import annotations

import sympy as sp

from derive.errors import Location
from derive.kinds.graph.spec import GraphSpec, NodeSpec, symbols_for
from derive.kinds.network.model import Network
from derive.render.printing import ascii


def compile_network(net: Network, texts: bool = True) -> GraphSpec:
    """texts=False leaves each node's text empty: the network's presenter never prints the graph, and printing
    every z_j = b_j + Σ W_jk h_k of a wide network is a good part of the work (the graph engine then orders a
    node's arguments by name instead of by first appearance, which changes nothing the network reads)."""
    leaves = [*net.inputs, *net.params, *net.targets, *net.constants]
    used = set().union(*(expr.free_symbols for _, expr in net.forward))
    inputs = [s.name for s in leaves if s in used]
    names = [s.name for s, _ in net.forward]
    symbols = symbols_for([*inputs, *names], {})
    own = {s.name: s for s in [*leaves, *(s for s, _ in net.forward)]}
    real = {own[name]: symbol for name, symbol in symbols.items()}
    where = Location(net.spec.file)
    nodes = tuple(NodeSpec(s.name, ascii(expr) if texts else "", renamed(expr, real), where) for s, expr in net.forward)
    spec = GraphSpec(file=net.spec.file, title=dict(net.spec.title), nodes=nodes, inputs=tuple(inputs),
                     output=str(net.of), values=None, wrt=tuple(str(p) for p in net.params))
    spec.__dict__["symbols"] = symbols  # the cached property, already made (the same symbols_for call)
    return spec


def renamed(expr: sp.Expr, names: dict) -> sp.Expr:
    """expr with the symbols in names replaced, its sums and products keeping their order of terms.

    (xreplace would evaluate them again: slower on a wide layer, and it puts SymPy's canonical order
    in place of the order a formula was written in, θ_0 + θ_1 x, or I[z>0] + α I[z≤0].)
    """
    if expr in names:
        return names[expr]
    if not expr.args:
        return expr
    args = tuple(renamed(a, names) for a in expr.args)
    if all(new is old for new, old in zip(args, expr.args)):
        return expr
    if expr.is_Add or expr.is_Mul:
        return expr._new_rawargs(*args)  # these very terms, in this order, not evaluated again
    if expr.is_Pow:
        return sp.Pow(*args, evaluate=False)
    return expr.func(*args)


LAYER_SIZES = (sp.Symbol("n", integer=True, positive=True), sp.Symbol("p", integer=True, positive=True))
NEXT = "rest"  # the node that stands for everything after z (a name no layer vector has: it is never printed)


def compile_layer(weights: str, inputs: str, bias: str, pre: str, sizes: tuple = LAYER_SIZES) -> GraphSpec:
    """A layer's z = W x + b as the index-form graph `kind: graph` derives when it has `shapes:` (seed 001's
    linear layer): W an n×p matrix, x and b vectors, for any sizes n and p.

    z is followed by one node `rest` = z, the rest of the network: it makes z a node with a user, so the
    engine writes each gradient as the chain rule over z's components, Σ_k ∂rest/∂z_k ∂z_k/∂W_{i,j}
    with ∂rest/∂z_k the gradient reaching z_k from after it, which the presenter names δ_k."""
    n, p = sizes
    shapes = {weights: (n, p), inputs: (p,), bias: (n,)}  # the nodes' shapes follow, as in a spec
    symbols = symbols_for([weights, inputs, bias, pre, NEXT], shapes)
    where = Location("")
    nodes = (NodeSpec(pre, f"{weights} {inputs} + {bias}", symbols[weights] * symbols[inputs] + symbols[bias], where),
             NodeSpec(NEXT, pre, symbols[pre], where))
    spec = GraphSpec(file="", title={}, nodes=nodes, inputs=(weights, inputs, bias), output=NEXT, values=None,
                     wrt=(weights, bias, inputs), shapes=shapes)
    spec.__dict__["symbols"] = symbols
    return spec
