"""Graphs with vectors and matrices (seed 001's linear layer), derived in index notation.

A node such as `q: W x` over inputs with declared shapes becomes its element
q_k = Σ_l W_{k,l} x_l (SymPy `Indexed`/`Sum`); each node's local derivatives
∂q_k/∂W_{i,j} are SymPy derivatives of that element with respect to an element
(Kronecker deltas, summed out by SymPy), and the backward pass sums upstream ×
local over the node's index: ∂f/∂W_{i,j} = Σ_k ∂f/∂q_k ∂q_k/∂W_{i,j} = ∂f/∂q_i x_j.
As in the seed, ∂f/∂q_k names the gradient reaching q_k from the output (a
vector output's components, or any scalar computed from them); the component
form ∂f_m/∂W_{i,j} follows by substituting the output's own local derivatives.
Verified numerically at a concrete size, both forms, before anything is printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy as sp

from derive.errors import SpecError
from derive.kinds.graph.backprop import first_use
from derive.kinds.indexform import Local as ElementDerivative, Quantity, chain_rule, index, positions, sum_out, uses  # noqa: F401
from derive.kinds.graph.spec import GraphSpec
from derive.kinds.graph.verify import Check as ScalarCheck
from derive.core.functions import kink_arguments
from derive.numeric.harness import away_from_kinks
from derive.numeric.precise import DPS, derivative, evaluate, finite

# index names by role, as seed 001 writes them; a name taken by a size, input or node is skipped
ROLES = {"wrt": ("i", "j"), "node": ("k", "l"), "output": ("m", "p"), "dummies": ("l", "r", "s", "t", "u", "v")}
SPARE = tuple("abcdeghopqrstuvwxyz")
CHECK_SIZES = (3, 2, 4)  # concrete sizes given to size symbols (distinct, so transposes cannot pass)


# -- display objects (printed by derive's one printer through their _derive_latex hook) ----------


class Upstream(sp.Function):
    """∂of/∂node_{indices}: the gradient reaching an element from the output (a named quantity)."""

    def _derive_latex(self, printer) -> str:
        of, node, *indices = self.args
        return rf"\frac{{\partial {printer._print(of)}}}{{\partial {_element_tex(printer, node, indices)}}}"

    def _sympystr(self, printer) -> str:
        of, node, *indices = self.args
        return f"d{of}_d{_ascii_element(node, indices)}"

    def _eval_derivative(self, s):
        return sp.S.Zero


class Ind(sp.Function):
    """1_{k=i}: the indicator of equal indices (SymPy's KroneckerDelta, printed as in seed 001)."""

    def _derive_latex(self, printer) -> str:
        a, b = (printer._print(x) for x in self.args)
        return f"1_{{{a}={b}}}"

    def _sympystr(self, printer) -> str:
        a, b = (printer._print(x) for x in self.args)
        if printer._settings.get("answer"):  # as a student types it, and as the lecture writes it
            return f"1_{{{a}={b}}}"
        return f"I({a} == {b})"


class Delta(sp.Function):
    """δ_{ki}: the Kronecker delta, for `notation: kronecker`."""

    def _derive_latex(self, printer) -> str:
        a, b = (printer._print(x) for x in self.args)
        return rf"\delta_{{{a}{b}}}"

    def _sympystr(self, printer) -> str:
        a, b = (printer._print(x) for x in self.args)
        if printer._settings.get("answer"):
            return f"delta_{{{a}{b}}}"
        return f"KroneckerDelta({a}, {b})"


class Vec(sp.Symbol):
    """A vector in matrix notation, printed \\vec{x} as seed 001 writes it."""

    def _derive_latex(self, printer) -> str:
        return rf"\vec{{{printer._print(sp.Symbol(self.name))}}}"


class InSpace(sp.Function):
    """W ∈ R^{n×n} (display only)."""

    def _derive_latex(self, printer) -> str:
        name, *sizes = self.args
        dims = r" \times ".join(printer._print(s) for s in sizes)
        return rf"{printer._print(name)} \in \mathbb{{R}}^{{{dims}}}"


def _element_tex(printer, base, indices) -> str:
    return printer._print(sp.Indexed(sp.IndexedBase(base), *indices)) if indices else printer._print(base)


def _ascii_element(base, indices) -> str:
    return f"{base}_{''.join(str(i) for i in indices)}" if indices else str(base)


# -- the model --------------------------------------------------------------------------------


@dataclass
class IndexNode:
    quantity: Quantity
    indices: tuple  # the node's own free indices (k), or (m) for the output
    element: sp.Expr  # its element over inputs and earlier nodes
    matrix: sp.Expr  # the node in matrix notation, for display
    args: list[str]
    locals: dict = field(default_factory=dict)  # arg -> (raw derivative, summed out)


@dataclass
class IndexGrad:
    wrt: Quantity
    indices: tuple
    users: list[str]
    symbolic: sp.Expr | None  # Σ_k ∂f/∂v_k ∂v_k/∂u_i (fractions)
    chain: sp.Expr | None  # Σ_k ∂f/∂v_k · (local)
    done: sp.Expr | None  # the sum carried out: ∂f/∂q_i x_j
    component: sp.Expr  # ∂f_m/∂u_i with the output's local derivatives substituted


@dataclass
class IndexDerivation:
    spec: GraphSpec
    of: sp.Symbol
    quantities: dict[str, Quantity]
    inputs: list[str]
    nodes: list[IndexNode]
    grads: dict[str, IndexGrad]  # backward order
    sizes: list[sp.Symbol]
    index_symbols: dict[str, sp.Symbol]
    partials: dict = field(default_factory=dict)

    @property
    def output(self) -> IndexNode:
        return next(n for n in self.nodes if n.quantity.name == self.spec.output)

    @property
    def derivatives(self) -> list[IndexGrad]:
        return [self.grads[name] for name in self.spec.wrt]


def derive(spec: GraphSpec) -> IndexDerivation:
    """The derivation; concrete sizes are symbols while SymPy works (so Σ stays a sum), numbers again after."""
    numbers = {int(s) for shape in spec.shapes.values() for s in shape if s.is_Integer}
    stand_in = {sp.Integer(c): sp.Symbol(f"N{c}", integer=True, positive=True) for c in numbers}
    shapes = {name: tuple(stand_in.get(s, s) for s in shape) for name, shape in spec.shapes.items()}
    d = _derive(spec, shapes)
    if stand_in:
        _restore(d, {v: k for k, v in stand_in.items()})
    return d


def _restore(d: IndexDerivation, back: dict) -> None:
    for q in d.quantities.values():
        q.ranges = tuple((low, back.get(high, high)) for low, high in q.ranges)
    for n in d.nodes:
        n.element = n.element.xreplace(back)
        n.locals = {a: tuple(e.xreplace(back) for e in pair) for a, pair in n.locals.items()}
    for g in d.grads.values():
        for attr in ("symbolic", "chain", "done", "component"):
            value = getattr(g, attr)
            if value is not None:
                setattr(g, attr, value.xreplace(back))


def _derive(spec: GraphSpec, shapes: dict) -> IndexDerivation:
    quantities = {name: _quantity(name, "input", shapes.get(name, ())) for name in spec.inputs}
    taken = set(spec.inputs) | {n.name for n in spec.nodes} | {str(s) for sh in shapes.values() for s in sh}
    roles = _roles(taken)
    dummies = roles["dummies"]
    nodes = []
    for n in spec.nodes:
        shape = _shape(n.expr, quantities, spec, n)
        own = roles["output"] if n.name == spec.output else roles["node"]
        indices = tuple(own[: len(shape)])
        element = _element(n.expr, indices, quantities, iter([x for x in dummies if x not in indices]))
        quantities[n.name] = _quantity(n.name, "node", shape)
        args = sorted((name for name in quantities if name != n.name and uses(element, quantities[name].base)),
                      key=lambda name: (first_use(n.text, name), name))
        nodes.append(IndexNode(quantities[n.name], indices, element, _matrix(n.expr, quantities), args))
    of = sp.Symbol(spec.output, real=True)
    derivation = IndexDerivation(spec, of, quantities, list(spec.inputs), nodes, {}, _sizes(spec), roles)
    for node in nodes:
        for arg in node.args:
            node.locals[arg] = _local(node, quantities[arg], roles)
    _backward(derivation)
    return derivation


def _roles(taken: set[str]) -> dict[str, list[sp.Symbol]]:
    used = set(taken)
    out = {}
    for role, names in ROLES.items():
        chosen = []
        for name in (*names, *SPARE):
            if len(chosen) == len(names):
                break
            if name not in used or (role == "dummies" and name in ROLES["node"] and name not in taken):
                chosen.append(name)
                used.add(name)
        out[role] = [index(name) for name in chosen]
    return out


def _sizes(spec: GraphSpec) -> list[sp.Symbol]:
    out = [s for shape in spec.shapes.values() for s in shape if s.is_Symbol]
    return list(dict.fromkeys(out))


def _quantity(name: str, role: str, shape: tuple) -> Quantity:
    """The engine's Quantity of an input or a node: axes from 1 to their sizes (its element is set by its node)."""
    return Quantity(name, role, tuple((1, size) for size in shape))


# -- shapes -------------------------------------------------------------------------------------


def _fail(spec: GraphSpec, node, message: str) -> SpecError:
    return SpecError(message, node.location, f"nodes.{node.name}")


def _shape(expr: sp.Expr, quantities: dict, spec: GraphSpec, node) -> tuple:
    """The shape of expr: () scalar, (n,) vector, (m, n) matrix; a SpecError if it has none."""
    if expr.is_Symbol:
        return quantities[expr.name].shape
    if expr.is_Number or not expr.free_symbols:
        return ()
    if expr.is_Add:
        shapes = {_shape(a, quantities, spec, node) for a in expr.args}
        if len(shapes) > 1:
            raise _fail(spec, node, f"cannot add terms of different shapes: {_describe(expr.args, quantities, spec, node)}")
        return shapes.pop()
    if expr.is_Mul:
        return _product_shape(expr, quantities, spec, node)
    if expr.is_Pow:
        if _shape(expr.base, quantities, spec, node) or _shape(expr.exp, quantities, spec, node):
            raise _fail(spec, node, f"powers of vectors or matrices are not supported: {expr}")
        return ()
    if isinstance(expr, sp.Function) and len(expr.args) == 1:
        return _shape(expr.args[0], quantities, spec, node)  # applied to each element
    shapes = [_shape(a, quantities, spec, node) for a in expr.args]
    if any(shapes):
        raise _fail(spec, node, f"{type(expr).__name__} of vectors or matrices is not supported; use it on scalars")
    return ()


def _product_shape(expr, quantities, spec, node) -> tuple:
    shape: tuple = ()
    for factor in expr.args:
        s = _shape(factor, quantities, spec, node)
        if not s:
            continue
        if not shape:
            shape = s
        elif len(shape) == 2 and shape[1] == s[0]:
            shape = (shape[0], *s[1:])
        else:
            raise _fail(spec, node, f"cannot multiply a {_dims(shape)} by a {_dims(s)}: the inner sizes must agree "
                                    "(a matrix times a vector, as in W x)")
    return shape


def _dims(shape: tuple) -> str:
    sizes = [_size_text(s) for s in shape]
    return "scalar" if not sizes else (f"vector of size {sizes[0]}" if len(sizes) == 1 else f"{sizes[0]}×{sizes[1]} matrix")


def _size_text(size) -> str:
    text = str(size)
    return text[1:] if text.startswith("N") and text[1:].isdigit() else text  # a concrete size's stand-in


def _describe(args, quantities, spec, node) -> str:
    return ", ".join(f"{a} ({_dims(_shape(a, quantities, spec, node))})" for a in args)


# -- elements -----------------------------------------------------------------------------------


def _element(expr: sp.Expr, indices: tuple, quantities: dict, dummies) -> sp.Expr:
    """The element of expr at indices, as an expression over input and node elements."""
    if expr.is_Symbol:
        return quantities[expr.name].element(indices)
    if expr.is_Number or not expr.free_symbols:
        return expr
    if expr.is_Add:
        return sp.Add(*[_element(a, indices, quantities, dummies) for a in expr.args])
    if expr.is_Mul:
        return _product_element(expr, indices, quantities, dummies)
    if expr.is_Pow:
        return sp.Pow(_element(expr.base, (), quantities, dummies), _element(expr.exp, (), quantities, dummies))
    return expr.func(*[_element(a, indices, quantities, dummies) for a in expr.args])


def _product_element(expr, indices, quantities, dummies) -> sp.Expr:
    """(A B x)_k = Σ_l Σ_r A_{k,l} B_{l,r} x_r: scalars multiply, arrays chain over fresh indices."""
    scalars, arrays = [], []
    for factor in expr.args:
        (arrays if _rank(factor, quantities) else scalars).append(factor)
    scalars = [_element(s, (), quantities, dummies) for s in scalars]
    if not arrays:
        return sp.Mul(*scalars)
    row, limits, terms = indices[0] if indices else None, [], []
    for n, a in enumerate(arrays):
        last = n == len(arrays) - 1
        if _rank(a, quantities) == 2:
            col = indices[1] if last and len(indices) > 1 else (None if last else next(dummies))
            if col is not None and not last:
                limits.append((col, 1, _size_of(a, quantities, 1)))
            terms.append(_element(a, (row, col) if col is not None else (row,), quantities, dummies))
            row = col
        else:
            terms.append(_element(a, (row,), quantities, dummies))
    product = sp.Mul(*scalars, *terms)
    for limit in reversed(limits):
        product = sp.Sum(product, limit)
    return product


def _rank(expr, quantities) -> int:
    if expr.is_Symbol:
        return len(quantities[expr.name].shape)
    return max((_rank(a, quantities) for a in expr.args), default=0) if not expr.is_Number else 0


def _size_of(expr, quantities, axis: int):
    if expr.is_Symbol:
        return quantities[expr.name].shape[axis]
    raise NotImplementedError("products of matrix expressions other than names")


def _matrix(expr: sp.Expr, quantities: dict) -> sp.Expr:
    """The node in matrix notation (W x⃗ + θ⃗), for display."""
    return expr.xreplace({s: display_symbol(quantities[s.name]) for s in expr.free_symbols})


def display_symbol(q: Quantity) -> sp.Symbol:
    if len(q.shape) == 1:
        return Vec(q.name, commutative=False)
    return sp.Symbol(q.name, commutative=not q.shape)


# -- derivatives ---------------------------------------------------------------------------------


def wrt_indices(q: Quantity, roles: dict) -> tuple:
    return tuple(roles["wrt"][: len(q.shape)])


def _local(node: IndexNode, arg: Quantity, roles: dict) -> tuple[sp.Expr, sp.Expr]:
    """∂v_k/∂u_{i,j}: SymPy's derivative (with Kronecker deltas), and the same with the sums carried out."""
    raw = sp.diff(node.element, arg.element(wrt_indices(arg, roles)))
    return raw, sum_out(raw)


def _limits(v: IndexNode) -> list[tuple]:
    return [(k, 1, size) for k, size in zip(v.indices, v.quantity.shape)]


def _backward(d: IndexDerivation) -> None:
    """The engine's chain rule (derive.kinds.indexform) over each quantity's users, ∂f/∂v_k named by Upstream;
    beside it the component form ∂f_m/∂u_i, the upstream components substituted."""
    out = d.output
    order = [n.quantity.name for n in reversed(d.nodes) if n is not out] + d.inputs
    components: dict[str, sp.Expr] = {}
    of = d.of

    def upstream(v: IndexNode) -> sp.Expr:  # ∂f/∂v_k; for the output itself, the gradient arriving at it
        if v is out and not v.indices:
            return sp.S.One
        return Upstream(of, v.quantity.base.label if v.quantity.shape else v.quantity.base, *v.indices)

    for name in order:
        q = d.quantities[name]
        idx = wrt_indices(q, d.index_symbols)
        users = [n for n in d.nodes if name in n.args]
        symbolic, chain = chain_rule(users, q.element(idx), upstream, element=lambda v: v.quantity.element(v.indices),
                                     limits=_limits, local=lambda v: v.locals[name][1])
        comp = []
        for v in users:
            local = v.locals[name][1]
            if v is out:
                comp.append(local)  # ∂f_m/∂u_i: the output's own local derivative, m free
                continue
            upstream_comp = components[v.quantity.name].xreplace(dict(zip(wrt_indices(v.quantity, d.index_symbols),
                                                                          v.indices)))
            term = upstream_comp * local
            for limit in _limits(v):
                term = sp.Sum(term, limit)
            comp.append(term)
        component = sum_out(sp.Add(*comp))
        components[name] = component
        only_output = all(v is out for v in users)
        d.grads[name] = IndexGrad(
            q, idx, [v.quantity.name for v in users],
            None if only_output else symbolic,
            None if only_output else chain,
            None if only_output else sum_out(chain),
            component,
        )


# -- verification at a concrete size --------------------------------------------------------------


@dataclass
class Check(ScalarCheck):
    """A scalar graph's Check, plus the concrete sizes the index forms were evaluated at."""

    sizes: dict = field(default_factory=dict)


def _positions(shape: tuple, sizes: dict) -> list[tuple]:
    return positions(tuple((1, s) for s in shape), sizes)


class _Concrete:
    """The derivation at concrete sizes: every element of every node as a formula over input elements."""

    def __init__(self, d: IndexDerivation, sizes: dict):
        self.d, self.sizes = d, sizes
        self.elements = {  # node name -> [(position, element key, formula)]
            n.quantity.name: [
                (pos, n.quantity.element(pos), n.element.xreplace({**sizes, **dict(zip(n.indices, map(sp.Integer, pos)))}))
                for pos in _positions(n.quantity.shape, sizes)
            ]
            for n in d.nodes
        }

    def keys(self, name: str) -> list:
        q = self.d.quantities[name]
        return [(pos, q.element(pos)) for pos in _positions(q.shape, self.sizes)]

    def forward(self, env: dict, nudge=None) -> dict:
        env = dict(env)
        if nudge and nudge[0] in env:
            env[nudge[0]] += nudge[1]
        for node in self.d.nodes:
            for _pos, key, formula in self.elements[node.quantity.name]:
                env[key] = evaluate(formula, env) + (nudge[1] if nudge and nudge[0] == key else 0)
        return env

    def formula(self, expr: sp.Expr, indices: dict) -> sp.Expr:
        return expr.xreplace({**self.sizes, **{k: sp.Integer(v) for k, v in indices.items()}})


def verify(d: IndexDerivation, points: int = 2, seed: int = 0) -> Check:
    """Locals, component forms and chain forms against finite differences, at concrete sizes."""
    sizes = {s: sp.Integer(CHECK_SIZES[i % len(CHECK_SIZES)]) for i, s in enumerate(d.sizes)}
    concrete, rng = _Concrete(d, sizes), np.random.default_rng(seed)
    check = Check(sizes={str(k): int(v) for k, v in sizes.items()})
    kinks = [k for elements in concrete.elements.values() for _pos, _key, f in elements for k in kink_arguments(f)]

    def draw():
        return {key: mpmath.mpf(float(rng.uniform(-2, 2))) for x in d.inputs for _pos, key in concrete.keys(x)}

    def kink_values(env):  # relu(W x + b) and the like: every kink argument away from 0 (derive.harness)
        full = concrete.forward(env)
        values = [evaluate(k, full) for k in kinks]
        return values if all(finite(v) for v in values) else None

    with mpmath.workdps(DPS):
        for _ in range(points):
            _check_point(d, concrete, away_from_kinks(draw, kink_values), rng, check)
            check.points += 1
    return check


def _check_point(d: IndexDerivation, c: _Concrete, env: dict, rng, check: Check) -> None:
    full = c.forward(env)
    out = d.output
    outputs = c.keys(out.quantity.name)
    weights = {key: mpmath.mpf(float(rng.uniform(-1, 1))) for _pos, key in outputs}

    def scalar(e):  # a scalar computed from the output: L = Σ_m c_m f_m
        return mpmath.fsum(weights[key] * e[key] for _pos, key in outputs)

    _check_locals(d, c, full, check)
    out_label = out.quantity.base.label if out.quantity.shape else out.quantity.base
    upstream = {Upstream(d.of, out_label, *map(sp.Integer, pos)): weights[key] for pos, key in outputs}  # ∂L/∂f_m
    for node in d.nodes:
        if node is out:
            continue
        for pos, key in c.keys(node.quantity.name):
            label = node.quantity.base.label if node.quantity.shape else node.quantity.base
            upstream[Upstream(d.of, label, *map(sp.Integer, pos))] = derivative(
                lambda h: scalar(c.forward(env, (key, h))), mpmath.mpf(0))
    for name, grad in d.grads.items():
        for pos, key in c.keys(name):
            wrt = dict(zip(grad.indices, pos))
            for m_pos, m_key in outputs:
                fd = derivative(lambda h: c.forward(env, (key, h))[m_key], mpmath.mpf(0))
                at = {**wrt, **dict(zip(out.indices, m_pos))}
                check.compare(f"d{m_key}/d{key}", evaluate(c.formula(grad.component, at), full), fd)
            if grad.done is None:
                continue
            fd = derivative(lambda h: scalar(c.forward(env, (key, h))), mpmath.mpf(0))
            for form in (grad.chain, grad.done):
                check.compare(f"dL/d{key} (chain form)", evaluate(c.formula(form, wrt), {**full, **upstream}), fd)


def _check_locals(d: IndexDerivation, c: _Concrete, full: dict, check: Check) -> None:
    for node in d.nodes:
        for arg, (raw, local) in node.locals.items():
            q = d.quantities[arg]
            for pos, key, formula in c.elements[node.quantity.name]:
                for wpos, wkey in c.keys(arg):
                    fd = derivative(lambda t: evaluate(formula, {**full, wkey: t}), full[wkey])
                    at = {**dict(zip(node.indices, pos)), **dict(zip(wrt_indices(q, d.index_symbols), wpos))}
                    for form in (raw, local):
                        check.compare(f"d{key}/d{wkey}", evaluate(c.formula(form, at).doit(), full), fd)
