"""The matrix view of a network: δ recurrences, Wᵀδ ⊙ f′(z), δ aᵀ (seeds 002 and 004).

`vector_view(derivation)` turns a scalar derivation into per-layer matrix
formulas. Each is obtained from the scalar one by SymPy: the derivative of
the activation and of the loss are derived on component 1 and lifted to
vectors (z_1 -> z, products -> ⊙), and every matrix formula is then evaluated
with numpy on random points and checked, entry by entry, against the scalar
derivatives and against finite differences (`check_vector_view`). The index
forms behind ∂J/∂W, ∂J/∂b and ∂J/∂x (∂z_k/∂W_{i,j} = 1_{k=i} a_j, Σ_k δ_k …)
are the index-form engine's (derive.kinds.graph.index) on the layer's
z = W x + b, named here, and checked at the concrete layer's entries the same
way. Pure: no printing and no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import operator
from functools import reduce

import numpy as np
import sympy as sp

from derive.kinds.graph.index import Upstream, derive as index_derive
from derive.kinds.indexform import Local
from derive.kinds.network.backprop import Derivation
from derive.kinds.network.graph import LAYER_SIZES, compile_layer
from derive.kinds.network.model import Layer, Network
from derive.render.notation import Had, MatProd, Tr  # ⊙, A B, Aᵀ: numpy's `*`, `@`, `.T`
from derive.render.printing import ascii
from derive.numeric.evaluate import namespace
from derive.numeric.harness import scaled_error
from derive.kinds.network.verify import STEP, Check, _Verifier, run


class Total(sp.Function):
    """Σ_k v_k, the sum of a vector's components: numpy's `v.sum(axis=0)`."""

    nargs = 1


@dataclass
class Step:
    """One displayed matrix equation lhs = rhs[0] = rhs[1] …, with a reason key for the prose.

    `because` holds the component (index-form) equations the step follows from,
    each a list of parts joined by '='; `expanded` the result written out as a
    column when the layer is small.
    """

    reason: str
    lhs: sp.Expr
    rhs: list[sp.Expr]
    boxed: bool = False
    layer: int | None = None
    because: list[list[sp.Expr]] = field(default_factory=list)
    expanded: sp.Matrix | None = None
    defines: list[list[sp.Expr]] = field(default_factory=list)  # D = ∂J/∂W with D_{i,j} = ∂J/∂W_{i,j}
    sums_over: list[sp.Expr] = field(default_factory=list)  # [n, z]: the sum over k runs over the n entries of z
    joins: list[sp.Expr] = field(default_factory=list)  # [W_{k,j}, j, k]: the weight from unit j to unit k (δ's index form)


SMALL = 4  # layers up to this width are also written out entry by entry


@dataclass
class VectorView:
    network: Network
    forward: list[Step]
    backward: list[Step]  # output layer first
    batch: list[Step]
    summary: list[Step]
    parameters: list[tuple[sp.Symbol, sp.Matrix]] = field(default_factory=list)
    partials: dict[sp.Symbol, tuple[sp.Symbol, sp.Symbol]] = field(default_factory=dict)


def family(quantities: list[sp.Symbol]) -> sp.Symbol:
    """[z2_1, z2_2] -> z2; [y] -> y: the vector named after its components."""
    name = str(quantities[0])
    return sp.Symbol(name.rsplit("_", 1)[0] if len(quantities) > 1 else name)


def lift(expr: sp.Expr, components: dict[sp.Symbol, sp.Symbol], sums: dict | None = None) -> sp.Expr:
    """A component formula -> the vector formula: z_1 -> z, t_1 + … + t_n -> Σ_k t_k, products -> ⊙."""
    replaced = expr.xreplace(sums or {}).xreplace(components)
    vectors = set(components.values())
    return _hadamard(replaced, vectors)


def _hadamard(expr: sp.Expr, vectors: set) -> sp.Expr:
    if expr.is_Atom:
        return expr
    args = [_hadamard(a, vectors) for a in expr.args]
    if expr.is_Mul:
        coeff = [a for a in args if a.is_Number]
        rest = [a for a in args if not a.is_Number]
        divides = any(a.is_Pow and a.exp.is_negative for a in rest)
        if len(rest) > 1 and not divides and sum(1 for a in rest if a.free_symbols & vectors) > 1:
            return sp.Mul(*coeff, had(*rest), evaluate=False) if coeff else had(*rest)
    return expr.func(*args, evaluate=False) if expr.is_Add or expr.is_Mul else expr.func(*args)


class _Builder:
    def __init__(self, derivation: Derivation):
        self.d = derivation
        self.locals = derivation.locals  # the graph engine's local derivatives, component by component
        self.net = derivation.network
        self.of = self.net.of
        self.partials: dict[sp.Symbol, tuple[sp.Symbol, sp.Symbol]] = {}
        self.numpy = self.net.spec.notation == "numpy"
        self.index_by_layer: dict[int, dict] = {}  # index_steps, derived once per layer

    # -- names ------------------------------------------------------------------
    def vec(self, layer: Layer, role: str) -> sp.Symbol:
        return family([getattr(u, role) for u in layer.units])

    def inputs(self, number: int) -> sp.Symbol:
        if number == 1:
            return family(self.net.inputs)
        return self.vec(self.net.layers[number - 2], "post")

    def weights(self, layer: Layer) -> sp.Symbol:
        return sp.Symbol(layer.spec.params)

    def bias(self, layer: Layer) -> sp.Symbol:
        return sp.Symbol(layer.spec.bias)

    def grad(self, node: sp.Symbol) -> sp.Symbol:
        """∂of/∂node as one symbol, printed as a fraction."""
        symbol = sp.Symbol(f"d{self.of}_d{node}")
        self.partials[symbol] = (self.of, node)
        return symbol

    def delta(self, layer: Layer) -> sp.Symbol:
        """δ^{[l]} (math notation, seed 004) or ∂J/∂z^{[l]} (numpy notation, seed 002)."""
        if self.numpy:
            return self.grad(self.vec(layer, "pre"))
        return sp.Symbol(f"delta{layer.number}" if len(self.net.layers) > 1 else "delta")

    # -- steps ------------------------------------------------------------------
    def forward(self) -> list[Step]:
        steps = []
        for layer in self.net.layers:
            z, a = self.vec(layer, "pre"), self.vec(layer, "post")
            linear = sp.Add(MatProd(self.weights(layer), self.inputs(layer.number)), self.bias(layer), evaluate=False)
            defs = self.net.definitions
            steps.append(Step("linear", z, [linear], layer=layer.number,
                              expanded=self.column([defs[u.pre] for u in layer.units], layer)))
            steps.append(Step("activation", a, [self.activation(layer)], layer=layer.number,
                              expanded=self.column([defs[u.post] for u in layer.units], layer)))
        return steps

    def small(self, layer: Layer) -> bool:
        return len(layer.units) <= SMALL and len(layer.units[0].incoming) <= SMALL + 1

    def column(self, entries: list[sp.Expr], layer: Layer) -> sp.Matrix | None:
        """The entries as a column vector, for small layers of more than one unit."""
        return sp.Matrix(entries) if len(entries) > 1 and self.small(layer) else None

    def parameters(self) -> list[tuple[sp.Symbol, sp.Matrix]]:
        """W and b of each small layer written out (seed 002 starts with them)."""
        out = []
        for layer in self.net.layers:
            if not self.small(layer) or len(layer.units) == 1:
                continue
            out.append((self.bias(layer), sp.Matrix([u.incoming[0][0] for u in layer.units])))
            out.append((self.weights(layer), sp.Matrix([[p for p, src in u.incoming if src != 1] for u in layer.units])))
            if layer.number == 1 and len(self.net.inputs) > 1:
                out.append((self.inputs(1), sp.Matrix(self.net.inputs)))
        return out

    def component(self, layer: Layer, role: str, index: str) -> sp.Symbol:
        """h_i for the vector h of a layer (role pre/post), or y_i for the targets (layer None)."""
        base = self.vec(layer, role) if layer is not None else family(self.net.targets)
        return sp.Symbol(f"{base}_{index}")

    def activation(self, layer: Layer) -> sp.Expr:
        u = layer.units[0]
        if layer.activation.name == "softmax":
            return sp.Function("softmax")(self.vec(layer, "pre"))
        fz = lift(layer.activation.apply(u.pre, layer.alpha), {u.pre: self.vec(layer, "pre")})
        return sp.Add(fz, self.inputs(layer.number), evaluate=False) if layer.spec.residual else fz

    def fprime(self, layer: Layer) -> sp.Expr:
        """f′(z) of the layer: the engine's ∂a_1/∂z_1 lifted to vectors (a residual layer's stays in z: a is not f(z))."""
        u = layer.units[0]
        local = self.locals.activation(u)
        if layer.spec.residual:
            return lift(local, {u.pre: self.vec(layer, "pre")})
        return lift(local, {u.pre: self.vec(layer, "pre"), u.post: self.vec(layer, "post")})

    # -- residual layers: ∂J/∂a^{[l]} named, with the identity term of the skip connection ------------
    def residual(self) -> bool:
        return any(layer.spec.residual for layer in self.net.layers)

    def grad_post(self, layer: Layer) -> sp.Expr:
        """∂J/∂a^{[l]} as a symbol: ∂J/∂y for the output (1 without a loss), else the named step's symbol."""
        if layer is self.net.layers[-1] and self.net.loss is None:
            return sp.S.One
        return self.grad(self.vec(layer, "post"))

    def through(self, nxt: Layer) -> sp.Expr:
        """What reaches a^{[l]} from layer l+1: (W^{[l+1]})ᵀ δ^{[l+1]}, plus ∂J/∂a^{[l+1]} when l+1 is residual."""
        weights = MatProd(Tr(self.weights(nxt)), self.delta(nxt))
        return sp.Add(self.grad_post(nxt), weights, evaluate=False) if nxt.spec.residual else weights

    def sums(self) -> dict:
        ts = self.net.targets
        return {sp.Add(*ts): Total(family(ts))} if len(ts) > 1 else {}

    def components(self, layer: Layer) -> dict:
        mapping = {}
        for role in ("pre", "post"):
            mapping[getattr(layer.units[0], role)] = self.vec(layer, role)
        if self.net.targets:
            mapping[self.net.targets[0]] = family(self.net.targets)
        return mapping

    def backward(self) -> list[Step]:
        steps, layers = [], self.net.layers
        out = layers[-1]
        delta = self.delta(out)
        steps += self.output_delta(out, delta)
        for layer in reversed(layers):
            delta = self.delta(layer)
            if layer is not out and self.residual():
                nxt = layers[layer.number]
                reason = "grad_post_residual" if nxt.spec.residual else "grad_post"
                steps.append(Step(reason, self.grad_post(layer), [self.through(nxt)], layer=layer.number))
                steps.append(Step("delta_hidden", delta, [had(self.grad_post(layer), self.fprime(layer))], boxed=True,
                                  layer=layer.number))
            elif layer is not out:
                nxt = layers[layer.number]
                upstream = MatProd(Tr(self.weights(nxt)), self.delta(nxt))
                because, joins = self.delta_components(layer, nxt)
                steps.append(Step("delta_hidden", delta, [had(upstream, self.fprime(layer))], boxed=True, layer=layer.number,
                                  because=because, joins=joins))
            # index forms: shown for the output layer (the same for every layer) and for the input
            index = self.index_steps(layer) if layer is out or layer.number == 1 else {}
            shown = index if layer is out else {}
            a_prev = self.inputs(layer.number)
            steps.append(Step("grad_W", self.grad(self.weights(layer)), [MatProd(delta, Tr(a_prev))], boxed=True,
                              layer=layer.number, because=shown.get("grad_W", []),
                              defines=shown.get("grad_W_entries", []), sums_over=shown.get("sums_over", [])))
            steps.append(Step("grad_b", self.grad(self.bias(layer)), [delta], boxed=True, layer=layer.number,
                              because=shown.get("grad_b", [])))
            if layer.number == 1:
                # the index form shown is that of W x alone: not beside a residual layer's identity term
                because = [] if layer.spec.residual else index.get("grad_input", [])
                said = layer is out  # n was said at this layer's grad_W: say it again only for another layer
                steps.append(Step("grad_input", self.grad(a_prev), [self.through(layer)], layer=1, because=because,
                                  sums_over=index.get("sums_over", []) if because and not said else []))
        return steps

    def output_delta(self, out: Layer, delta: sp.Symbol) -> list[Step]:
        y = self.vec(out, "post")
        first = out.units[0]
        named = {g.node: g for g in self.d.backward}
        steps = []
        if self.net.loss is None:
            grad_y = sp.S.One
        else:
            grad_y = lift(self.locals.local(self.of, first.post), self.components(out))
            steps.append(Step("loss_grad", self.grad(y), [grad_y], layer=out.number,
                              because=self.loss_components(out),
                              expanded=self.column([self.locals.local(self.of, u.post) for u in out.units], out)))
        if out.activation.name == "softmax":
            g = named[first.pre]
            rhs = [lift(g.simplified, self.components(out), self.sums())]
            if g.one_hot is not None:
                rhs.append(lift(g.one_hot, self.components(out), self.sums()))
            steps.append(Step("delta_softmax", delta, rhs, boxed=True, layer=out.number))
            return steps
        fp = self.fprime(out)
        if fp != 1:
            steps.append(Step("local", self.grad_local(y, out), [fp], layer=out.number,
                              because=self.local_components(out),
                              expanded=self.column([self.locals.activation(u) for u in out.units], out)))
        rhs = [had(self.grad(y), self.grad_local(y, out)) if fp != 1 else self.grad(y)]
        rhs.append(had(grad_y, fp) if fp != 1 else grad_y)
        g = named.get(first.pre)
        if g is not None and g.simplified is not None:
            rhs.append(lift(g.simplified, self.components(out)))
        steps.append(Step("delta_output", delta, rhs, boxed=True, layer=out.number))
        return steps

    def index_map(self, layer: Layer, index: str) -> dict:
        """Unit 1's symbols -> the generic component i (h_1 -> h_i, y_1 -> y_i)."""
        u = layer.units[0]
        mapping = {u.pre: self.component(layer, "pre", index), u.post: self.component(layer, "post", index)}
        if self.net.targets and layer is self.net.layers[-1]:
            mapping[self.net.targets[0]] = self.component(None, "", index)
        return mapping

    def loss_components(self, out: Layer) -> list[list[sp.Expr]]:
        """∂J/∂y_i = …: the loss differentiated by one output component, written for any i."""
        if len(out.units) < 2:
            return []
        y_i = self.component(out, "post", "i")
        mapping = self.index_map(out, "i")
        value = self.locals.local(self.of, out.units[0].post).xreplace(self.sums_i(mapping)).xreplace(mapping)
        return [[self.partial(self.of, y_i), value]]

    def sums_i(self, mapping: dict) -> dict:
        ts = self.net.targets
        return {sp.Add(*ts): Total(family(ts))} if len(ts) > 1 else {}

    def local_components(self, out: Layer) -> list[list[sp.Expr]]:
        """∂y_i/∂z_i = f′(z_i) = the same in terms of y_i (σ(z)(1−σ(z)) = y(1−y))."""
        u = out.units[0]
        index = "i" if len(out.units) > 1 else None
        mapping = self.index_map(out, "i") if index else {}
        z, a = u.pre.xreplace(mapping), u.post.xreplace(mapping)
        raw = self.locals.local(u.post, u.pre).xreplace(mapping)
        in_a = self.locals.activation(u).xreplace(mapping)
        parts = [self.partial(a, z), raw] + ([in_a] if in_a != raw else [])
        return [parts]

    def partial(self, of: sp.Symbol, node: sp.Symbol) -> sp.Symbol:
        symbol = sp.Symbol(f"d{of}_d{node}")
        self.partials[symbol] = (of, node)
        return symbol

    def index_steps(self, layer: Layer) -> dict[str, list[list[sp.Expr]]]:
        """∂z_k/∂W_{i,j} = 1_{k=i} a_j and the sums over k that follow, as the index-form engine derives them.

        The layer's z = W x + b is compiled to an index-form graph (derive.kinds.network.graph.compile_layer)
        and derived by the engine of `kind: graph` with `shapes:`; this names its results: the gradient
        reaching z_k (the engine's ∂rest/∂z_k) is δ_k, its fractions ∂z_k/∂W_{i,j} are Derivatives, and
        an input vector's index is j (the engine writes i for the first index of any quantity). Derived once
        per layer: the hidden δ's index form reads the next layer's, which the output layer's steps showed."""
        if layer.number not in self.index_by_layer:
            self.index_by_layer[layer.number] = self._index_steps(layer)
        return self.index_by_layer[layer.number]

    def _index_steps(self, layer: Layer) -> dict[str, list[list[sp.Expr]]]:
        x_name, z_name = str(self.inputs(layer.number)), str(self.vec(layer, "pre"))
        spec = compile_layer(str(self.weights(layer)), x_name, str(self.bias(layer)), z_name)
        d = index_derive(spec)
        z_node = next(node for node in d.nodes if node.quantity.name == z_name)
        (k,) = z_node.indices
        i, j = d.index_symbols["wrt"][:2]
        z, dz = z_node.quantity.base, sp.IndexedBase(self.delta(layer))
        named = _Naming(z_node.quantity.base.label, dz)
        out = {}
        for reason, name, target in (("grad_W", str(self.weights(layer)), self.weights(layer)),
                                     ("grad_b", str(self.bias(layer)), self.bias(layer)),
                                     ("grad_input", x_name, self.inputs(layer.number))):
            grad = d.grads[name]
            indices = {i: j} if name == x_name else {}  # ∂z_k/∂x_j: the input's index is j
            wrt = grad.wrt.element(grad.indices).xreplace(indices)
            local = named(z_node.locals[name][1]).xreplace(indices)
            of_entry = sp.Indexed(sp.IndexedBase(self.partial(self.of, target)), *wrt.indices)
            cases = [sp.Piecewise((local.subs(k, i), sp.Eq(k, i, evaluate=False)), (0, True))] if local.has(sp.KroneckerDelta) else []
            out[reason] = [[sp.Derivative(z[k], wrt), local, *cases],
                           [of_entry, named(grad.symbolic).xreplace(indices), named(grad.done).xreplace(indices)]]
            sums = [limits for total in named(grad.symbolic).atoms(sp.Sum) for limits in total.limits]
            if sums and "sums_over" not in out:  # what the sum's upper limit is: the sentence after the sums says it
                out["sums_over"] = [sums[0][2] - sums[0][1] + 1, self.vec(layer, "pre")]
            if reason == "grad_W":  # the matrix D of the derivatives, entry by entry (seed 002)
                D = sp.IndexedBase("D")
                out["grad_W_entries"] = [[D.label, self.grad(target)], [D[i, j], of_entry]]
        return out

    def delta_components(self, layer: Layer, nxt: Layer) -> tuple[list[list[sp.Expr]], list[sp.Expr]]:
        """δ^{[l]}_j = Σ_k δ^{[l+1]}_k W^{[l+1]}_{k,j} f′(z^{[l]}_j): the index-form engine's ∂J/∂a_j of the next
        layer (derive.kinds.graph) times the activation's derivative at unit j (the engine's, unit 1's renamed);
        with [W_{k,j}, j, k] for the sentence that says which units the weight joins."""
        shown = self.index_steps(nxt).get("grad_input")
        if not shown:
            return [], []
        upstream = shown[1][-1]  # Σ_k δ_k W_{k,j}
        (j,) = shown[1][0].indices
        weights = [w for w in upstream.atoms(sp.Indexed) if len(w.indices) == 2]
        if len(weights) != 1:
            return [], []
        u = layer.units[0]
        entry = {u.pre: sp.IndexedBase(str(self.vec(layer, "pre")))[j],
                 u.post: sp.IndexedBase(str(self.vec(layer, "post")))[j]}
        local = self.locals.activation(u).xreplace(entry)
        if local.free_symbols - {j, entry[u.pre].base.label, entry[u.post].base.label} - set().union(
                *(e.free_symbols for e in entry.values())):
            return [], []  # a derivative with another unit's symbols in it (softmax): no one-unit form
        row = [sp.IndexedBase(self.delta(layer))[j], sp.Mul(upstream, local, evaluate=False)]  # Σ first, as summed
        (w,) = weights
        return [row], [w, w.indices[1], w.indices[0]]

    def grad_local(self, y: sp.Symbol, layer: Layer) -> sp.Symbol:
        symbol = sp.Symbol(f"d{y}_d{self.vec(layer, 'pre')}")
        self.partials[symbol] = (y, self.vec(layer, "pre"))
        return symbol

    def batch(self) -> list[Step]:
        """Averages over a batch of m examples stacked as columns (Δ^{[l]}, A^{[l-1]})."""
        steps, m = [], sp.Symbol("m")
        for layer in reversed(self.net.layers):
            Delta, A = _batch_symbols(self.net, layer)
            mean = MatProd(sp.Pow(m, -1), Delta, Tr(A))
            steps.append(Step("batch_W", self.grad(self.weights(layer)), [mean], layer=layer.number))
        return steps


class _Naming:
    """The index-form engine's display objects in the matrix view's names: the gradient reaching z_k
    (Upstream ∂rest/∂z_k) as δ_k (or ∂J/∂z_k), and a fraction ∂z_k/∂W_{i,j} (Local) as a Derivative."""

    def __init__(self, z, delta: sp.IndexedBase):
        self.z, self.delta = z, delta

    def __call__(self, expr: sp.Expr) -> sp.Expr:
        expr = expr.replace(lambda e: isinstance(e, Upstream) and e.args[1] == self.z,
                            lambda e: self.delta[tuple(e.args[2:])])
        return expr.replace(lambda e: isinstance(e, Local), lambda e: sp.Derivative(*e.args))


def had(*factors: sp.Expr) -> sp.Expr:
    """u ⊙ v ⊙ …, flattened, without factors of 1."""
    flat = []
    for f in factors:
        flat.extend(f.args if isinstance(f, Had) else [f])
    flat = [f for f in flat if f != 1]
    if not flat:
        return sp.S.One
    return flat[0] if len(flat) == 1 else Had(*flat)


def vector_view(derivation: Derivation) -> VectorView:
    builder = _Builder(derivation)
    forward, backward = builder.forward(), builder.backward()
    summary = backward if builder.numpy else [s for s in backward if s.boxed or s.reason == "grad_input"]
    return VectorView(derivation.network, forward, backward, builder.batch(), summary,
                      parameters=builder.parameters(), partials=builder.partials)


# -- numerical agreement with the scalar view ---------------------------------------

# the matrix view's own operations; the functions are the vocabulary's (derive.functions)
MATRIX_OPS = {
    "Had": lambda *xs: reduce(operator.mul, xs),
    "MatProd": lambda *xs: reduce(lambda a, b: a * b if np.ndim(a) == 0 or np.ndim(b) == 0 else a @ b, xs),
    "Tr": lambda a: a.T,
    "Total": lambda v: v.sum(axis=0),
    "softmax": lambda z: np.exp(z) / np.exp(z).sum(axis=0),
}


def numpy_names() -> dict:
    """Names for evaluating the matrix view's printed formulas: the vocabulary plus the matrix operations."""
    return namespace() | MATRIX_OPS


def check_vector_view(view: VectorView, derivation: Derivation, examples: int = 3, seed: int = 1) -> Check:
    """Evaluate every matrix formula on `examples` stacked columns and compare with the scalar view.

    References: the scalar derivatives (∂J/∂b_j = δ_j, ∂J/∂W_jk, summed over the
    examples where the matrix product sums), the scalar forward values, and
    central differences over the inputs for ∂J/∂x.
    """
    return _VectorCheck(view, derivation, np.random.default_rng(seed), examples).run()


class _VectorCheck:
    def __init__(self, view, derivation, rng, m):
        self.view, self.d, self.net, self.rng, self.m = view, derivation, derivation.network, rng, m
        self.check = Check(points=m)
        self.names = numpy_names()

    def run(self) -> Check:
        scalar = self.scalar_values()
        env = self.vector_env(scalar)
        refs = self.references(scalar)
        with np.errstate(all="ignore"):
            for step in self.view.forward + self.view.backward + self.view.batch:
                values = [self.evaluate(e, env) for e in step.rhs]
                reference = refs.get(step.reason, {}).get(step.layer)
                for k, value in enumerate(values):
                    target = reference if reference is not None else values[0]
                    self.compare(f"{step.reason}[{step.layer}] form {k + 1}", value, target)
                env[str(step.lhs)] = values[0]
                if step.reason.startswith("delta"):
                    env[str(_batch_symbols(self.net, self.net.layers[step.layer - 1])[0])] = values[0]
            for step in self.view.backward:
                if step.because and step.reason in ("grad_W", "grad_b", "grad_input"):
                    self.index_forms(step, scalar, env)
                if step.because and step.reason == "delta_hidden":
                    self.delta_form(step, env)
        return self.check

    # -- the index forms (∂z_k/∂W_{i,j} = 1_{k=i} a_j, ∂J/∂W_{i,j} = δ_i a_j) at every concrete entry ----------
    def index_forms(self, step: Step, scalar: dict, env: dict) -> None:
        """The index-form engine's equations of a step, at every entry of the concrete layer: the local
        ∂z_k/∂W_{i,j} against the scalar engine's ∂z_k/∂w, and ∂J/∂W_{i,j} (Σ_k δ_k ∂z_k/∂W_{i,j} with that
        local, and the sum carried out) against the scalar derivatives, or finite differences for the input."""
        local, total = step.because
        layer = self.net.layers[step.layer - 1]
        sizes = {LAYER_SIZES[0]: len(layer.units), LAYER_SIZES[1]: len(layer.units[0].incoming) - 1}
        wrt = local[0].args[1][0]  # Derivative(z_k, W_{i,j}) -> W_{i,j}
        k = local[0].args[0].indices[0]
        reason = step.reason
        forms = [_IndexForm(f, sizes, env) for f in local[1:]]
        totals = [_IndexForm(f.xreplace({local[0]: local[1]}), sizes, env) for f in total[1:]]
        n, p = sizes[LAYER_SIZES[0]], sizes[LAYER_SIZES[1]]
        shape = (n, p) if reason == "grad_W" else (n,) if reason == "grad_b" else (p,)
        for position in self.some(list(np.ndindex(*shape))):
            at = dict(zip(wrt.indices, (q + 1 for q in position)))
            source = self.source(layer, reason, position)
            rows = set(self.some(list(range(n)))) | ({position[0]} if reason != "grad_input" else set())  # k = i too
            for z in sorted(rows):
                self.index_local(f"{reason}[{step.layer}]", forms, {**at, k: z + 1}, layer.units[z], source, scalar)
            reference = self.index_reference(reason, position, scalar, source)
            for number, form in enumerate(totals, 1):
                self.compare(f"{reason}[{step.layer}] index form {number} at {at}", form(at), reference)

    def delta_form(self, step: Step, env: dict) -> None:
        """δ^{[l]}_j = Σ_k δ^{[l+1]}_k W^{[l+1]}_{k,j} f′(z^{[l]}_j) at every unit j, against the matrix form's δ^{[l]}
        (itself checked against the scalar derivatives above)."""
        ((lhs, form),) = step.because
        layer, nxt = self.net.layers[step.layer - 1], self.net.layers[step.layer]
        sizes = {LAYER_SIZES[0]: len(nxt.units), LAYER_SIZES[1]: len(layer.units)}
        value = _IndexForm(form, sizes, env)
        (j,) = lhs.indices
        matrix = np.asarray(env[str(step.lhs)], dtype=float)
        for unit in range(len(layer.units)):
            self.compare(f"delta_hidden[{step.layer}] index form at {j} = {unit + 1}", value({j: unit + 1}), matrix[unit])

    def index_local(self, name: str, forms: list, at: dict, unit, source, scalar: dict) -> None:
        """∂z_k/∂u at one entry (k, i, j) in each shown form, against the scalar engine's ∂z_k/∂u (0 if z_k
        does not read u)."""
        reference = self.d.locals.local(unit.pre, source)
        reference = self.scalar_value(0 if reference is None else reference, scalar)
        for number, form in enumerate(forms, 1):
            self.compare(f"{name} index form: local {number} at {at}", form(at), reference)

    def some(self, items: list) -> list:
        """All of them in a small layer; in a wide one INDEX_ENTRIES drawn at random (the form is one for all)."""
        if len(items) <= INDEX_ENTRIES:
            return items
        return [items[k] for k in sorted(self.rng.choice(len(items), INDEX_ENTRIES, replace=False))]

    def source(self, layer: Layer, reason: str, position: tuple) -> sp.Symbol:
        """The scalar the entry stands for: the weight W_{i,j}, the bias b_i, or the input x_j."""
        if reason == "grad_W":
            i, j = position
            return [p for p, src in layer.units[i].incoming if src != 1][j]
        if reason == "grad_b":
            return layer.units[position[0]].incoming[0][0]
        return [src for _p, src in layer.units[0].incoming if src != 1][position[0]]

    def index_reference(self, reason: str, position: tuple, scalar: dict, source) -> np.ndarray:
        """∂J/∂ of the entry, example by example: the scalar derivative, or finite differences for an input."""
        if reason == "grad_input":
            return scalar["__fd_inputs__"][position[0]]
        return scalar["__derivs__"][str(source)]

    def scalar_value(self, expr: sp.Expr, scalar: dict) -> np.ndarray:
        value = eval(ascii(sp.sympify(expr)), self.names, {k: v for k, v in scalar.items() if not k.startswith("__")})
        return np.broadcast_to(np.asarray(value, dtype=float), (self.m,))

    def scalar_values(self) -> dict:
        """The scalar program on m examples at once: inputs and targets are arrays of length m."""
        verifier = _Verifier(self.d, self.rng)
        env = verifier.draw(normalized=True)
        for x in self.net.inputs:
            env[str(x)] = self.rng.uniform(-2, 2, self.m)
        for t in self.net.targets:
            env[str(t)] = np.full(self.m, env[str(t)])
        values = run(verifier.backward, run(verifier.forward, dict(env)))
        values["__derivs__"] = {name: np.broadcast_to(eval(code, verifier.names, values), (self.m,)) for name, code in verifier.derivs}
        values["__fd_inputs__"] = self.input_differences(verifier, env)
        return values

    def input_differences(self, verifier, env) -> np.ndarray:
        rows = []
        for x in self.net.inputs:
            plus, minus = dict(env), dict(env)
            plus[str(x)] = env[str(x)] + STEP
            minus[str(x)] = env[str(x)] - STEP
            f = lambda e: np.asarray(run(verifier.forward, e)[str(self.net.of)], dtype=float)
            rows.append((f(plus) - f(minus)) / (2 * STEP))
        return np.array(rows)

    def column(self, symbols, values) -> np.ndarray:
        return np.array([np.broadcast_to(values[str(s)], (self.m,)) for s in symbols], dtype=float)

    def vector_env(self, values) -> dict:
        env = {str(family(self.net.inputs)): self.column(self.net.inputs, values)}
        if self.net.targets:
            env[str(family(self.net.targets))] = self.column(self.net.targets, values)
        for c in self.net.constants:
            env[str(c)] = values[str(c)]
        for layer in self.net.layers:
            units = layer.units
            env[str(family([u.pre for u in units]))] = self.column([u.pre for u in units], values)
            env[str(family([u.post for u in units]))] = self.column([u.post for u in units], values)
            W = [[values[str(p)] for p, src in u.incoming if src != 1] for u in units]
            env[layer.spec.params] = np.array(W, dtype=float)
            env[layer.spec.bias] = np.array([[values[str(u.incoming[0][0])]] for u in units], dtype=float)
        for layer in self.net.layers:
            env[str(_batch_symbols(self.net, layer)[1])] = env[_input_key(self.net, layer)]
        env["m"] = self.m
        return env

    def references(self, values) -> dict:
        derivs, m = values["__derivs__"], self.m
        refs: dict[str, dict] = {r: {} for r in ("linear", "activation", "delta_output", "delta_hidden", "delta_softmax", "grad_W", "grad_b", "grad_input", "batch_W")}
        for layer in self.net.layers:
            units, n = layer.units, layer.number
            refs["linear"][n] = self.column([u.pre for u in units], values)
            refs["activation"][n] = self.column([u.post for u in units], values)
            deltas = np.array([derivs[str(u.incoming[0][0])] for u in units])
            for r in ("delta_output", "delta_hidden", "delta_softmax", "grad_b"):
                refs[r][n] = deltas
            refs["grad_W"][n] = np.array([[derivs[str(p)].sum() for p, src in u.incoming if src != 1] for u in units])
            refs["batch_W"][n] = refs["grad_W"][n] / m
        refs["grad_input"][1] = values["__fd_inputs__"]
        return refs

    def evaluate(self, expr, env):
        return np.asarray(eval(ascii(expr), self.names, env), dtype=float)

    def compare(self, name, value, reference) -> None:
        value, reference = np.asarray(value, dtype=float), np.asarray(reference, dtype=float)
        if value.shape != reference.shape:
            self.check.failures.append((f"{name} (shape {value.shape} vs {reference.shape})", float("nan"), float("nan")))
            return
        error = scaled_error(value, reference) if value.size else 0.0  # the harness's policy
        first = [x.flat[0] if x.size else np.nan for x in (value, reference)]  # shown when it fails
        self.check.record(name, error, *first)


class _IndexForm:
    """An index-form expression (Σ over k = 1…n, Indexed entries) evaluated at concrete indices, example by
    example: a vector's entry v_i is row i of its matrix of examples, a matrix's W_{i,j} its entry (1-based)."""

    def __init__(self, expr: sp.Expr, sizes: dict, env: dict):
        expr = expr.xreplace({s: sp.Integer(v) for s, v in sizes.items()})
        ranks = {a.base: len(a.indices) for a in expr.atoms(sp.Indexed)}
        bases = sorted(ranks, key=str)
        labels = {b.label for b in bases}
        self.indices = sorted((x for x in expr.free_symbols if x.is_Symbol and x not in labels), key=str)  # i, j, k
        self.arrays = [_one_based(env[str(b.label)], ranks[b]) for b in bases]
        self.fn = sp.lambdify([*bases, *self.indices], expr, modules=[INDEX_OPS, _VOCABULARY, "numpy"])
        self.examples = (env["m"],)  # a form without an example's value (1_{k=i}) holds for each

    def __call__(self, at: dict) -> np.ndarray:
        try:
            value = self.fn(*self.arrays, *[at[i] for i in self.indices])
        except IndexError:  # an entry beyond its vector (a_i where i runs over the layer's units): wrong
            value = np.nan
        return np.broadcast_to(np.asarray(value, dtype=float), self.examples)


INDEX_ENTRIES = 16  # entries (and rows k) of a wide layer at which the index forms are evaluated

_VOCABULARY = namespace()  # every function of the vocabulary (sigmoid, silu, …: not NumPy's own names)

INDEX_OPS = {"KroneckerDelta": lambda a, b: 1.0 if a == b else 0.0,
             "Indicator": lambda condition: np.where(condition, 1.0, 0.0)}


def _one_based(array, rank: int) -> np.ndarray:
    """A NaN row in front (and a NaN column, for a matrix read with two indices), so that entry 1 is the
    first: an entry 0 would give NaN, and fail."""
    array = np.asarray(array, dtype=float)
    padded = np.full((array.shape[0] + 1, array.shape[1] + (rank == 2)), np.nan)
    padded[1:, (rank == 2):] = array
    return padded


def _input_key(net: Network, layer: Layer) -> str:
    """The name of the vector a layer reads: x for the first layer, a^{[l-1]} after."""
    sources = net.inputs if layer.number == 1 else [u.post for u in net.layers[layer.number - 2].units]
    return str(family(sources))


def _batch_symbols(net: Network, layer: Layer) -> tuple[sp.Symbol, sp.Symbol]:
    """Δ^{[l]} (the δ of m examples as columns) and A^{[l-1]} (the layer's inputs as columns)."""
    delta = sp.Symbol(f"Delta{layer.number}" if len(net.layers) > 1 else "Delta")
    return delta, sp.Symbol(_input_key(net, layer).upper())
