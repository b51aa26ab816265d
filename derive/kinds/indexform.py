"""The index-form backward engine: graphs with vectors and matrices, and layers with shared weights.

One engine for every derivation in index notation: the index-form graph
(`kind: graph` with `shapes:`, derive.kinds.graph.index) and the layer kinds
(recurrence, attention, convolution, normalisation, derive.kinds.layers).
What they share is here: the chain rule over the users of an element
(`chain_rule`), the local derivatives as fractions (`Local`), the
sums over Kronecker deltas carried out (`sum_out`), and the positions of an
array at concrete sizes (`positions`).

The layer kinds describe a model as a list of quantities: inputs and
parameters (arrays with concrete sizes), and nodes, each defined by its
element in index form, e.g.
a_{t,i} = Σ_k W_{i,k} h_{t-1,k} + Σ_k U_{i,k} x_{t,k} + b_i, over size symbols
(T, n) that stand for the spec's concrete sizes. `backward` derives, with
SymPy, the gradient of the loss with respect to every element of every
quantity: ∂L/∂q_{p,r} = Σ_users Σ_{user's indices} ∂L/∂u_{…} ∂u_{…}/∂q_{p,r},
the local derivative by SymPy (Kronecker deltas), and the sums over the deltas
carried out (`sum_out`). Entries outside an index range are zero (zero padding
of a convolution, ∂L/∂a_{T+1} = 0 after the last step), so the carried-out
sums need no guards. The index-form graph builds its elements from the
spec's matrix expressions and uses the same chain rule and the same sums.

`verify` (the numeric check of the layer kinds) instantiates every general
formula at the concrete sizes, element by element, and compares it with
central finite differences of the loss, in which the element is nudged and
everything after it recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from derive.numeric.harness import FLOAT, STEP, Check as _Check, central_difference


def index(name: str) -> sp.Symbol:
    return sp.Symbol(name, integer=True)


def size(name: str) -> sp.Symbol:
    return sp.Symbol(name, integer=True, positive=True)


@dataclass
class Quantity:
    """An array (or the scalar loss): its role, its axes' ranges, and for a node its element's definition."""

    name: str
    role: str  # input | param | target | node | loss
    ranges: tuple = ()  # per axis (low, high): numbers or size symbols
    indices: tuple = ()  # a node's own index symbols, one per axis
    definition: sp.Expr | None = None  # a node's element at `indices`
    given: tuple = ()  # positions supplied from outside although the node defines the rest (h_0 of an RNN)
    grad_name: str | None = None  # the name of ∂L/∂q (default d<L>_d<name>): δ for a pre-activation
    wrt: tuple = ()  # index symbols of the element its gradient is written at (default: the model's)
    defined: tuple = ()  # the ranges its definition holds on, where narrower than `ranges` (t = 1..T, not 0..T)
    label: sp.Symbol | None = None  # a label that prints differently from its name (W^{Q} for WQ)

    @property
    def shape(self) -> tuple:
        """The sizes of the axes (n for an axis from 1 to n; N for one from 0 to N − 1)."""
        return tuple(sp.sympify(high) - low + 1 for low, high in self.ranges)

    @property
    def span(self) -> tuple:
        return self.defined or self.ranges

    @property
    def base(self):
        if self.ranges:
            return sp.IndexedBase(self.label or sp.Symbol(self.name))
        return self.label or sp.Symbol(self.name, real=True)

    def element(self, idx) -> sp.Expr:
        return self.base[tuple(idx)] if self.ranges else self.base


@dataclass
class Gradient:
    """∂L/∂q at the generic element `indices`: the chain rule as written, and with the sums carried out."""

    quantity: Quantity
    base: sp.Basic  # IndexedBase (or Symbol) that names ∂L/∂q
    indices: tuple
    chain: sp.Expr  # Σ ∂L/∂u ∂u/∂q, with the local derivatives as fractions
    local: sp.Expr  # Σ ∂L/∂u · (SymPy's local derivative, deltas not yet summed)
    done: sp.Expr  # the sums over the Kronecker deltas carried out
    users: list[str]

    def element(self, idx=None) -> sp.Expr:
        idx = self.indices if idx is None else idx
        return self.base[tuple(idx)] if self.quantity.ranges else self.base


@dataclass
class Model:
    quantities: dict[str, Quantity]
    loss: str
    sizes: dict[sp.Symbol, int]  # size symbol -> concrete size
    wrt_indices: tuple = ()  # index symbols for the element a gradient is taken at (p, r, …)
    folds: list = field(default_factory=list)  # (pattern -> replacement) callables applied to carried-out forms
    gradients: dict[str, Gradient] = field(default_factory=dict)

    @property
    def nodes(self) -> list[Quantity]:
        return [q for q in self.quantities.values() if q.role in ("node", "loss")]

    @property
    def params(self) -> list[Quantity]:
        return [q for q in self.quantities.values() if q.role == "param"]

    def users(self, name: str) -> list[Quantity]:
        q = self.quantities[name]
        return [n for n in self.nodes if n is not q and uses(n.definition, q.base)]

    @property
    def partials(self) -> dict:
        """IndexedBase label -> (L, q), so ∂L/∂q_{i,j} prints as a fraction."""
        of = sp.Symbol(self.loss)
        return {g.base.label if g.quantity.ranges else g.base: (of, g.quantity.label or sp.Symbol(g.quantity.name))
                for g in self.gradients.values() if g.quantity.grad_name is None}


class Local(sp.Function):
    """∂a/∂b between two elements (or vectors), kept as a fraction (the chain rule as written).

    Its name decides where SymPy puts it in a product (after an Indexed upstream gradient ∂L/∂y_{f,i},
    before the graph's Upstream ∂f/∂q_k), which is the order the lectures print."""

    def _derive_latex(self, printer, exp=None) -> str:
        a, b = self.args
        return rf"\frac{{\partial {printer._print(a)}}}{{\partial {printer._print(b)}}}"


def chain_rule(users: list, wrt: sp.Expr, upstream, element, limits, local) -> tuple[sp.Expr, sp.Expr]:
    """∂L/∂wrt as the chain rule writes it: for each user u, Σ over u's own indices of upstream(u) times
    ∂u/∂wrt, once as a fraction (Local(element(u), wrt)) and once with local(u), the local
    derivative itself. limits(u) gives the (index, low, high) of u's indices; upstream(u) is ∂L/∂u at
    u's element (1 for L itself)."""
    fractions, products = [], []
    for u in users:
        up = upstream(u)
        fraction, product = up * Local(element(u), wrt), up * local(u)
        for limit in limits(u):
            fraction, product = sp.Sum(fraction, limit), sp.Sum(product, limit)
        fractions.append(fraction)
        products.append(product)
    return sp.Add(*fractions), sp.Add(*products)


def uses(expr: sp.Expr | None, base) -> bool:
    """Whether expr reads the array (IndexedBase) or the scalar (Symbol) `base`."""
    if expr is None:
        return False
    if isinstance(base, sp.IndexedBase):
        return any(ix.base.label == base.label for ix in expr.atoms(sp.Indexed))
    return base in expr.free_symbols


# -- the backward pass, in index form ----------------------------------------------------------------


def backward(model: Model, order: list[str]) -> None:
    """∂L/∂q for each name in order (the loss's users first), each from its users' gradients."""
    of = model.quantities[model.loss]
    for name in order:
        q = model.quantities[name]
        idx = q.wrt or tuple(model.wrt_indices[: len(q.ranges)])
        wrt = q.element(idx)
        users = model.users(name)
        chain, local = chain_rule(
            users, wrt,
            upstream=lambda u: sp.S.One if u is of else (_grad_base(model, u)[tuple(u.indices)] if u.ranges
                                                        else _grad_base(model, u)),
            element=lambda u: u.base if u is of else u.element(u.indices),
            limits=lambda u: [(ix, lo, hi) for ix, (lo, hi) in zip(u.indices, u.span)],
            local=lambda u: sp.diff(u.definition, wrt))
        done = chain_order(readable_indices(tidy(fold(model, sum_out(local)))))
        model.gradients[name] = Gradient(q, _grad_base(model, q), idx, chain, local, done, [u.name for u in users])


def _grad_base(model: Model, q: Quantity):
    label = q.grad_name or f"d{model.loss}_d{q.name}"
    return sp.IndexedBase(label) if q.ranges else sp.Symbol(label, real=True)


def readable_indices(expr: sp.Expr) -> sp.Expr:
    """δ_{s+1,i}, not δ_{1+s,i}: a number added to an index is written after it (kept unevaluated, for display;
    substituting numbers for the indices evaluates it again)."""
    def reorder(e: sp.Indexed) -> sp.Indexed:
        return sp.Indexed(e.base, *[number_last(i) for i in e.indices])

    return expr.replace(lambda e: isinstance(e, sp.Indexed) and any(i.is_Add for i in e.indices), reorder)


def chain_order(expr: sp.Expr) -> sp.Expr:
    """In every product the upstream gradient first (∂L/∂S_{p,j} K_{j,r}, δ_{t,p} h_{t-1,r}), as the chain rule
    reads; display only (the product is kept unevaluated; numbers substituted evaluate it again)."""
    def reorder(e: sp.Mul) -> sp.Expr:
        upstream = [f for f in e.args if _is_gradient(f)]
        if not upstream or list(e.args[: len(upstream)]) == upstream:
            return e
        return sp.Mul(*upstream, *[f for f in e.args if f not in upstream], evaluate=False)

    return expr.replace(lambda e: e.is_Mul and any(_is_gradient(f) for f in e.args), reorder)


def number_last(index: sp.Expr) -> sp.Expr:
    if not index.is_Add:
        return index
    numbers = [a for a in index.args if a.is_Number]
    return sp.Add(*[a for a in index.args if not a.is_Number], *numbers, evaluate=False) if numbers else index


def tidy(expr: sp.Expr) -> sp.Expr:
    """A sum without Σ with its common factor taken out: ∂L/∂h (1 − h²), not ∂L/∂h − ∂L/∂h h²."""
    if not expr.is_Add:
        return expr
    common = sp.factor_terms(expr)
    if sp.count_ops(common) > sp.count_ops(expr) or not common.is_Mul:
        return expr
    upstream = [f for f in common.args if _is_gradient(f)]
    sums = [f for f in common.args if f.is_Add and f not in upstream]
    rest = [f for f in common.args if f not in upstream and f not in sums]
    return sp.Mul(*upstream, *rest, *sums, evaluate=False)


def _is_gradient(factor: sp.Expr) -> bool:
    """An upstream gradient (∂L/∂h_{s,p}, δ_{s,p}): written first, in chain-rule order."""
    return isinstance(factor, sp.Indexed) and str(factor.base.label).startswith(("d", "delta"))


def fold(model: Model, expr: sp.Expr) -> sp.Expr:
    for rule in model.folds:
        expr = rule(expr)
    return expr


# -- sums over Kronecker deltas --------------------------------------------------------------------


def sum_out(expr: sp.Expr) -> sp.Expr:
    """Every Σ whose index meets a Kronecker delta is carried out (index = the delta's solution).

    Entries out of range are zero by convention, so no guard is kept (δ_{T+1} = 0,
    a kernel index outside 0…F−1): the summand carries an element of the array
    the index ran over. A Σ without a delta on its index stays a sum, with the
    factors that do not depend on its index taken out of it. Whatever this
    gives is instantiated at the concrete sizes and compared with finite
    differences (`verify`), so a boundary the convention would get wrong is
    caught before printing.
    """
    if isinstance(expr, sp.Sum):
        inner = sum_out(expr.function)
        for limit in expr.limits:
            inner = _sum_limit(inner, limit)
        return inner
    if expr.is_Add or expr.is_Mul:
        return expr.func(*[sum_out(a) for a in expr.args])
    return expr


def _sum_limit(expr: sp.Expr, limit) -> sp.Expr:
    ix = limit[0]
    terms = sp.Add.make_args(sp.expand(expr, power_base=False, power_exp=False, log=False, multinomial=False))
    return sp.Add(*[_sum_term(t, limit) for t in terms])


def _sum_term(term: sp.Expr, limit) -> sp.Expr:
    ix = limit[0]
    if ix not in term.free_symbols:
        return term * (limit[2] - limit[1] + 1)
    for delta in term.atoms(sp.KroneckerDelta):
        if ix in delta.free_symbols:
            solution = sp.solve(sp.Eq(*delta.args), ix)
            if len(solution) == 1:
                return term.xreplace({delta: sp.S.One}).xreplace({ix: solution[0]})
    outside, inside = [], []
    for factor in sp.Mul.make_args(term):
        (inside if ix in factor.free_symbols else outside).append(factor)
    return sp.Mul(*outside) * sp.Sum(sp.Mul(*inside), limit)


def pull_out(e: sp.Sum) -> sp.Expr:
    """Σ_j c f(j) -> c Σ_j f(j) for the factors c that do not depend on the summation indices."""
    indices = {limit[0] for limit in e.limits}
    outside, inside = [], []
    for factor in sp.Mul.make_args(e.function):
        (inside if factor.free_symbols & indices else outside).append(factor)
    return sp.Mul(*outside) * sp.Sum(sp.Mul(*inside), *e.limits) if outside else e


# -- concrete instances --------------------------------------------------------------------------


def positions(ranges: tuple, sizes: dict) -> list[tuple]:
    """Every index tuple of an array with these ranges at the concrete sizes."""
    spans = [range(int(sp.sympify(lo).xreplace(sizes)), int(sp.sympify(hi).xreplace(sizes)) + 1) for lo, hi in ranges]
    out = [()]
    for span in spans:
        out = [p + (k,) for p in out for k in span]
    return out


def in_range(q: Quantity, pos: tuple, sizes: dict) -> bool:
    return all(int(sp.sympify(lo).xreplace(sizes)) <= k <= int(sp.sympify(hi).xreplace(sizes))
               for k, (lo, hi) in zip(pos, q.ranges))


class Concrete:
    """The model at its concrete sizes: each element's formula, evaluated lazily in floating point."""

    def __init__(self, model: Model):
        self.model, self.sizes = model, model.sizes
        self.by_label = {}
        for q in model.quantities.values():
            self.by_label[q.base.label if q.ranges else q.base] = ("q", q)
        for g in model.gradients.values():
            self.by_label[g.base.label if g.quantity.ranges else g.base] = ("g", g)
        self.compiled: dict = {}
        self.atom_of: dict = {}

    def formula(self, expr: sp.Expr, at: dict) -> sp.Expr:
        """expr with its free indices set (at) and the sizes numbers: an expression over concrete elements."""
        subs = {**{k: sp.Integer(v) for k, v in self.sizes.items()}, **{k: sp.Integer(v) for k, v in at.items()}}
        out = expand_sums(expr.xreplace(subs))
        outside = {a: sp.S.Zero for a in out.atoms(sp.Indexed) if not self.exists(a)}
        return out.xreplace(outside) if outside else out

    def exists(self, atom: sp.Indexed) -> bool:
        """An element inside its array's ranges (outside: zero by convention, e.g. padding)."""
        kind, obj = self.by_label[atom.base.label]
        q = obj if kind == "q" else obj.quantity
        return in_range(q, tuple(int(k) for k in atom.indices), self.sizes)

    def definition(self, atom) -> tuple[sp.Expr | None, bool]:
        """(the formula of an element, is it in range); None for an element given from outside."""
        label = atom.base.label if isinstance(atom, sp.Indexed) else atom
        kind, obj = self.by_label[label]
        pos = tuple(int(k) for k in atom.indices) if isinstance(atom, sp.Indexed) else ()
        q = obj if kind == "q" else obj.quantity
        if not in_range(q, pos, self.sizes):
            return None, False
        if kind == "g":
            return self.formula(obj.done, dict(zip(obj.indices, pos))), True
        if q.role in ("node", "loss") and pos not in q.given:
            return self.formula(q.definition, dict(zip(q.indices, pos))), True
        return None, True

    def atoms(self, expr: sp.Expr) -> list:
        """The elements a concrete formula reads: indexed elements, and scalar quantities (the loss)."""
        scalars = {s for s in expr.free_symbols if s in self.by_label and not self._ranged(s)}
        return sorted(expr.atoms(sp.Indexed) | scalars, key=str)

    def _ranged(self, label) -> bool:
        kind, obj = self.by_label[label]
        return bool((obj if kind == "q" else obj.quantity).ranges)

    def compile(self, name: str):
        """(function, in range, argument names) of the element called name, lambdified once."""
        if name not in self.compiled:
            expr, ok = self.definition(self.atom_of[name])
            if expr is None:
                self.compiled[name] = (None, ok, [])
            else:
                atoms = self.atoms(expr)
                names = [self.name(a) for a in atoms]
                fn = sp.lambdify(atoms, expr, modules=[NUMERIC, "math"])
                self.compiled[name] = (fn, True, names)
        return self.compiled[name]

    def name(self, atom) -> str:
        """The element's key in a dict of values (its name; SymPy objects compare slowly)."""
        text = key(atom)
        self.atom_of.setdefault(text, atom)
        return text

    def evaluate(self, values: dict, atom):
        """The value of one element (an atom or its key): given in values, zero out of range, else its
        formula, recursively. Values are keyed by `key(atom)`."""
        name = atom if isinstance(atom, str) else self.name(atom)
        if name in values:
            return values[name]
        fn, ok, args = self.compile(name)
        if not ok:
            return 0.0
        if fn is None:
            raise KeyError(f"no value for {name}")
        values[name] = fn(*[self.evaluate(values, a) for a in args])
        return values[name]


def key(atom) -> str:
    """h[2, 1] -> 'h[2,1]', L -> 'L': the name under which an element's value is kept."""
    if isinstance(atom, sp.Indexed):
        return f"{atom.base.label.name}[{','.join(str(int(i)) for i in atom.indices)}]"
    return atom.name


def parse_key(text: str) -> tuple[str, tuple[int, ...]]:
    label, _, rest = text.partition("[")
    return label, tuple(int(x) for x in rest.rstrip("]").split(",")) if rest else ()


def expand_sums(expr: sp.Expr) -> sp.Expr:
    """Σ with numeric limits written out term by term (much faster than SymPy's Sum.doit on these forms)."""
    if isinstance(expr, sp.Sum):
        out = expand_sums(expr.function)
        for ix, lo, hi in expr.limits:
            out = sp.Add(*[out.xreplace({ix: sp.Integer(n)}) for n in range(int(lo), int(hi) + 1)])
        return out
    if not expr.args or not expr.has(sp.Sum):
        return expr
    return expr.func(*[expand_sums(a) for a in expr.args])


NUMERIC = {"KroneckerDelta": lambda a, b: 1.0 if a == b else 0.0}


def elements(q: Quantity, sizes: dict) -> list:
    return [q.element(p) for p in positions(q.ranges, sizes)] if q.ranges else [q.base]


# -- verification (the one numeric check of these kinds) -----------------------------------------


@dataclass
class Check(_Check):
    """The harness's Check (float64 differences: its FLOAT tolerance), with the concrete sizes it was done at."""

    tolerance: float = FLOAT
    sizes: dict = field(default_factory=dict)


def random_point(model: Model, rng: np.random.Generator) -> dict:
    values = {}
    for q in model.quantities.values():
        if q.role in ("input", "param", "target"):
            for e in elements(q, model.sizes):
                values[key(e)] = float(rng.uniform(-1.0, 1.0))
        if q.role == "constant":  # a small positive constant such as ε
            values[key(q.base)] = float(rng.uniform(0.05, 0.3))
        for pos in q.given:
            values[key(q.element(pos))] = float(rng.uniform(-1.0, 1.0))
    return values


def verify(model: Model, points: int = 3, seed: int = 0, extra=None) -> Check:
    """Every gradient formula at every concrete element against central differences of the loss.

    extra(concrete, values, check) may compare further shown forms (matrix forms) at the same points.
    """
    concrete, rng = Concrete(model), np.random.default_rng(seed)
    check = Check(points=points, sizes={str(k): v for k, v in model.sizes.items()})
    loss = model.quantities[model.loss].base
    for _ in range(points):
        given = random_point(model, rng)
        values = dict(given)
        for name, g in model.gradients.items():
            for e in elements(g.quantity, model.sizes):
                analytic = concrete.evaluate(values, gradient_of(g, e))
                check.compare(f"d{model.loss}/d{e}", analytic, _difference(concrete, given, e, loss))
        if extra is not None:
            extra(concrete, values, check)
    return check


def example(model: Model, name: str):
    """∂L/∂q at q's first element, at the concrete sizes (a row for the lecture): Σ written out, and the
    entries outside their ranges (padding) dropped as zeros."""
    from derive.render.jinja import Row

    g = model.gradients[name]
    first = positions(g.quantity.ranges, model.sizes)[0]
    return Row([g.base[first], Concrete(model).formula(g.done, dict(zip(g.indices, first)))])


def gradient_of(g: Gradient, element):
    """∂L/∂(element) as an element of g: dL_dW[1, 2] for W[1, 2]."""
    return g.base[element.indices] if isinstance(element, sp.Indexed) else g.base


def _difference(concrete: Concrete, given: dict, element, loss) -> float:
    """Central difference of the loss when element is nudged (a node: held at its nudged value)."""
    base = concrete.evaluate(dict(given), element)

    def at(x):
        values = dict(given)
        values[key(element)] = x
        return concrete.evaluate(values, loss)

    return central_difference(at, base)


def value_program(concrete: Concrete, values: dict, atoms: list) -> list:
    """(element, formula) in an order that evaluates top to bottom: each element after the ones it uses."""
    done, out = set(values), []

    def visit(atom):
        if key(atom) in done:
            return
        expr, ok = concrete.definition(atom)
        done.add(key(atom))
        if expr is None:
            return
        for a in concrete.atoms(expr):
            visit(a)
        out.append((atom, expr))

    for atom in atoms:
        visit(atom)
    return out
