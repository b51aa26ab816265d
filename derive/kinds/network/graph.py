"""A network as the computational graph that `kind: graph` derives: one node per forward definition.

`compile_network(network)` gives the `GraphSpec` whose nodes are the network's
pre-activations, activations and loss (their expressions unchanged, over real
symbols of the same names), whose inputs are the network's inputs,
parameters, targets and constants, and whose `wrt` are the parameters. The
graph engine (derive.graph_backprop, verified at 40 digits by
derive.graph_verify) then derives the same gradients as the network's own
reverse accumulation (derive.backprop): two engines, one model.
"""

from __future__ import annotations

import sympy as sp

from derive.errors import Location
from derive.kinds.graph.spec import GraphSpec, NodeSpec, symbols_for
from derive.kinds.network.model import Network
from derive.render.printing import ascii


def compile_network(net: Network) -> GraphSpec:
    leaves = [*net.inputs, *net.params, *net.targets, *net.constants]
    used = set().union(*(expr.free_symbols for _, expr in net.forward))
    inputs = [str(s) for s in leaves if s in used]
    names = [str(s) for s, _ in net.forward]
    symbols = symbols_for([*inputs, *names], {})
    real = {sp.Symbol(name): symbol for name, symbol in symbols.items()}
    where = Location(net.spec.file)
    nodes = tuple(NodeSpec(str(s), ascii(expr), expr.xreplace(real), where) for s, expr in net.forward)
    return GraphSpec(file=net.spec.file, title=dict(net.spec.title), nodes=nodes, inputs=tuple(inputs),
                     output=str(net.of), values=None, wrt=tuple(str(p) for p in net.params))
