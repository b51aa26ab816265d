"""Backpropagation on a scalar computational graph: forward values, local derivatives, backward pass.

`backprop(spec)` returns a `Backprop`: each node's local derivatives with respect
to its own arguments (SymPy `diff` of the node's expression), and, from the output
backwards, every gradient ∂f/∂v as the sum over the nodes that use v of
upstream × local (a value used on two paths gets both contributions), kept in
three forms: the chain form with named upstream gradients, the form over node
names, and the closed form over the inputs. With `values`, every quantity also
gets its exact value. Pure: no printing, no I/O, no language.

`backprop(spec, forms=False)` is the same backward pass without the three forms
(the forms over node names and inputs grow with the number of paths through
the graph): every node's local derivatives, and for every value, in backward
order, the nodes that use it with their local derivatives. The network kind
derives through it: derive.kinds.network.backprop multiplies and sums these in
its own names (φ, ψ, θ; δ).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sympy as sp

from derive.core.calculus import Indicator
import mpmath

from derive.errors import SpecError
from derive.kinds.graph.spec import GraphSpec
from derive.numeric.precise import evaluate, finite



@dataclass(frozen=True)
class Local:
    """∂node/∂arg, a function of the node's arguments (and its gate pattern, if it has one)."""

    node: sp.Symbol
    arg: sp.Symbol
    expr: sp.Expr
    raw: sp.Expr | None = field(default=None, compare=False)  # SymPy's derivative before `tidy` (sign, Heaviside)


@dataclass
class Node:
    symbol: sp.Symbol
    expr: sp.Expr  # over its arguments (inputs and earlier nodes)
    closed: sp.Expr | None  # over the inputs only (None when derived without forms)
    args: list[sp.Symbol]
    locals: list[Local]
    gate: str | None = None
    value: sp.Expr | None = None


@dataclass
class Grad:
    """∂of/∂wrt: one contribution per node that uses wrt, summed."""

    wrt: sp.Symbol
    upstream: sp.Symbol | None  # the symbol ∂of/∂wrt stands for further down (None for the output)
    uses: list[Local]  # the local derivatives ∂v/∂wrt of the nodes v that use wrt, in order
    chain: sp.Expr | None  # Σ ∂of/∂v · ∂v/∂wrt with ∂of/∂v as a symbol (None when derived without forms)
    named: sp.Expr | None  # over nodes and inputs (None when derived without forms)
    closed: sp.Expr | None  # over inputs (None when derived without forms)
    value: sp.Expr | None = None
    terms: list = field(default_factory=list)  # per use: the local value, or (upstream value, local value)


@dataclass
class Backprop:
    spec: GraphSpec
    of: sp.Symbol
    inputs: list[sp.Symbol]
    nodes: list[Node]
    grads: dict[sp.Symbol, Grad]  # in backward order: output first, inputs last
    partials: dict[sp.Symbol, tuple[sp.Symbol, sp.Symbol]]  # upstream symbol -> (of, wrt), for the printer
    values: dict[sp.Symbol, sp.Expr] | None

    @property
    def derivatives(self) -> list[Grad]:
        symbols = self.spec.symbols
        return [self.grads[symbols[name]] for name in self.spec.wrt]


def backprop(spec: GraphSpec, forms: bool = True) -> Backprop:
    """The backward pass of spec; forms=False leaves out the named and closed forms (and values)."""
    symbols = spec.symbols
    inputs = [symbols[x] for x in spec.inputs]
    nodes = _nodes(spec, symbols, forms)
    values = _forward_values(spec, nodes, symbols) if forms else None
    of = symbols[spec.output]
    partials: dict[sp.Symbol, tuple[sp.Symbol, sp.Symbol]] = {}
    grads = _backward(of, nodes, inputs, partials, forms)
    if values is not None:
        _grad_values(grads, nodes, values)
    return Backprop(spec, of, inputs, nodes, grads, partials, values)


# -- forward ------------------------------------------------------------------------


def _nodes(spec: GraphSpec, symbols: dict, forms: bool = True) -> list[Node]:
    closed: dict[sp.Symbol, sp.Expr] = {}
    known = set(symbols.values())
    out = []
    for n in spec.nodes:
        sym = symbols[n.name]
        args = _arguments(n, known)
        locals_ = [_local(sym, a, raw) for a, raw in zip(args, derivatives(n.expr, args))]
        if forms:  # the graph kind's lecture; the network kind (forms=False) names its quantities itself
            locals_ = [own_name(loc, n.expr) for loc in locals_]
        closed[sym] = n.expr.xreplace(closed) if forms else None
        out.append(Node(sym, n.expr, closed[sym], args, locals_, gate_of(n.expr, args, locals_)))
    return out


def derivatives(expr: sp.Expr, args: list[sp.Symbol]) -> list[sp.Expr]:
    """[sympy.diff(expr, a) for a in args], with the terms of a sum that do not contain a skipped instead of
    differentiated (a network's z_j = b_j + Σ_k W_jk h_k has as many terms as arguments: quadratic otherwise)."""
    if not expr.is_Add:
        return [sp.diff(expr, a) for a in args]
    having: dict[sp.Symbol, list[sp.Expr]] = {}
    for term in expr.args:
        for s in term.free_symbols:
            having.setdefault(s, []).append(term)
    return [sp.Add(*[_term_derivative(t, a) for t in having.get(a, ())]) for a in args]


def _term_derivative(term: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """sympy.diff(term, x); θ h in θ is h without the product rule's work."""
    if term == x:
        return sp.S.One
    if term.is_Mul and x in term.args and sum(1 for f in term.args if x in f.free_symbols) == 1:
        others = [f for f in term.args if f != x]
        return others[0] if len(others) == 1 else sp.Mul(*others)
    return sp.diff(term, x)


def _local(node: sp.Symbol, arg: sp.Symbol, raw: sp.Expr) -> Local:
    # a common factor taken out of a sum, as lecturers write it: 2(f_3 − y), not 2 f_3 − 2 y
    return Local(node, arg, raw if raw.is_Atom else tidy(sp.factor_terms(raw)), raw)


def own_name(local: Local, expr: sp.Expr) -> Local:
    """∂f_1/∂A_0 = x (1 − f_1²), not x (1 − tanh²(A_0 x + b_0)): where the node's own expression reappears as a
    part of its derivative (tanh′ = 1 − tanh², σ′ = σ(1 − σ)), it is written with the node's name, as a lecturer
    writes it. A derivative that is the expression itself (exp′ = exp) stays as Prince and CS231n write it."""
    if local.expr == expr or not local.expr.has(expr):
        return local
    return Local(local.node, local.arg, local.expr.xreplace({expr: local.node}), local.raw)


def _arguments(node, known: set) -> list[sp.Symbol]:
    """The node's arguments in the order its expression first writes them (q * z: q, then z)."""
    args = node.expr.free_symbols & known
    where: dict[str, int] = {}  # first_use depends on a name's base only (theta_11, theta_21: theta)
    for base in {s.name.split("_")[0] for s in args}:
        where[base] = first_use(node.text, base)
    return sorted(args, key=lambda s: (where[s.name.split("_")[0]], s.name))


def first_use(text: str, name: str) -> int:
    """Where name (or its base, for x_1 written x_{1}) first appears in an expression's text."""
    base = name.split("_")[0]
    m = re.search(rf"(?<![A-Za-z0-9]){re.escape(base)}(?![A-Za-z])", text)
    return m.start() if m else len(text)


def _forward_values(spec: GraphSpec, nodes: list[Node], symbols: dict) -> dict[sp.Symbol, sp.Expr] | None:
    if spec.values is None:
        return None
    values = {symbols[x]: v for x, v in spec.values.items()}
    for node, node_spec in zip(nodes, spec.nodes):
        node.value = values[node.symbol] = exact(node.expr.xreplace(values))
        problem = _problem(node.value)
        if problem:
            raise SpecError(f"at the given values {node.symbol.name} = {node_spec.text} is {problem}; "
                            "choose values inside the domain of every node", node_spec.location, f"nodes.{node.symbol.name}")
    return values


def _problem(value: sp.Expr) -> str | None:
    """Why an exact value cannot be shown as a number, or None (evaluated with bounds, never by evalf)."""
    if value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        return "undefined (a division by zero)"
    number = evaluate(value, {})
    if finite(number):
        return None
    if isinstance(number, mpmath.mpc):
        return "not a real number"
    return "too large to print or check (more than 1e50 in absolute value)"


def exact(value: sp.Expr) -> sp.Expr:
    """A number in a short exact form (Max(-2, 3) -> 3, I[3 > 0] -> 1), found in bounded time."""
    value = sp.sympify(value).doit()
    if value.is_Rational:
        return value
    if value.is_Float:
        return sp.nsimplify(value)
    # cheap rewrites only: sympy.simplify can take minutes (trigsimp factoring tanh values)
    candidates = [sp.together(value), sp.factor_terms(value), value]
    return min(candidates, key=sp.count_ops)


# -- gates --------------------------------------------------------------------------


def gate_of(expr: sp.Expr, args: list[sp.Symbol], locals_: list[Local]) -> str | None:
    """The CS231n gate pattern of a node, from the class of its expression (None for other nodes)."""
    if expr.is_Add and len(args) >= 2 and set(expr.args) == set(args):
        return "add"
    if expr.is_Mul and len(args) == 2 and set(expr.args) == set(args):
        return "mul"
    if isinstance(expr, (sp.Max, sp.Min)) and len(expr.args) == 2 and set(expr.args) == set(args):
        return "max" if isinstance(expr, sp.Max) else "min"
    return None


# -- backward -----------------------------------------------------------------------


def upstream_symbol(of: sp.Symbol, wrt: sp.Symbol) -> sp.Symbol:
    """The symbol that stands for ∂of/∂wrt in later formulas (printed as a fraction)."""
    return sp.Symbol(f"d{of.name}_d{wrt.name}", real=True)


def _backward(of, nodes: list[Node], inputs: list[sp.Symbol], partials: dict, forms: bool = True) -> dict[sp.Symbol, Grad]:
    by_symbol = {n.symbol: n for n in nodes}
    grads: dict[sp.Symbol, Grad] = {}
    closed = {n.symbol: n.closed for n in nodes}
    used_by: dict[sp.Symbol, list[Local]] = {}  # arg -> the local derivatives of the nodes using it, in node order
    for n in nodes:
        for loc in n.locals:
            used_by.setdefault(loc.arg, []).append(loc)
    one = sp.S.One
    grads[of] = Grad(of, None, [], one, one, one)
    order = [n.symbol for n in reversed(nodes) if n.symbol != of] + inputs
    for v in order:
        uses = [loc for loc in used_by.get(v, ()) if loc.node in grads]
        if forms:
            chain = sp.Add(*[_times(_upstream(grads, loc.node, of, partials), loc.expr) for loc in uses])
            named = sp.Add(*[_times(grads[loc.node].named, loc.expr) for loc in uses])
            grads[v] = Grad(v, None, uses, chain, named, tidy(named.xreplace(closed)))
        else:
            grads[v] = Grad(v, None, uses, None, None, None)
        if v in by_symbol:
            grads[v].upstream = upstream_symbol(of, v)
    return grads


def _upstream(grads: dict, node: sp.Symbol, of: sp.Symbol, partials: dict) -> sp.Expr:
    grad = grads[node]
    if grad.upstream is None:  # the output itself: ∂f/∂f = 1
        return sp.S.One
    partials[grad.upstream] = (of, node)
    return grad.upstream


def _times(upstream: sp.Expr, local: sp.Expr) -> sp.Expr:
    return local if upstream == 1 else sp.Mul(upstream, local)


def _grad_values(grads: dict[sp.Symbol, Grad], nodes: list[Node], values: dict) -> None:
    """Exact values of every gradient, and each contribution as (upstream value)·(local value)."""
    for grad in grads.values():
        grad.value = exact(grad.named.xreplace(values))
        problem = _problem(grad.value)
        if problem:
            raise SpecError(f"at the given values the gradient with respect to {grad.wrt.name} is {problem}; "
                            "choose other values")
        grad.terms = [_term(grads[loc.node], loc, values) for loc in grad.uses]


def _term(upstream: Grad, loc: Local, values: dict) -> sp.Expr:
    local = exact(loc.expr.xreplace(values))
    if upstream.upstream is None:
        return local
    return (exact(upstream.named.xreplace(values)), local)


# -- tidying ------------------------------------------------------------------------


def tidy(expr: sp.Expr) -> sp.Expr:
    """SymPy's Heaviside and sign as the project's indicators: H(x − y) → I[x > y], sign(x) → I[x>0] − I[x<0];
    the derivative of a step (DiracDelta, from sign or H) is 0 away from its kink, where derive evaluates."""
    expr = expr.replace(sp.DiracDelta, lambda *args: sp.S.Zero)
    return expr.replace(sp.Heaviside, _heaviside).replace(sp.sign, lambda z: Indicator(z > 0) - Indicator(z < 0))


def _heaviside(z, *_):
    if z.is_Add and len(z.args) == 2:
        pos = [t for t in z.args if not t.could_extract_minus_sign()]
        neg = [t for t in z.args if t.could_extract_minus_sign()]
        if len(pos) == 1 and len(neg) == 1:
            return Indicator(sp.Gt(pos[0], -neg[0]))
    return Indicator(sp.Gt(z, 0))
