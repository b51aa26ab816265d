"""Grading answers for a graph in index notation (`kind: graph` with `shapes:`, seed 001's linear layer).

Two kinds of key (CONTRACT section 6):

- the JSON's `derivatives[].wrt`, an element in index form (`W_ij`, `x_i`,
  `theta_i`), and the other quantities of the graph (`q_i`): answered
  element-wise, as the derivation writes them: `∂f/∂q_i x_j`,
  `\\sum_k \\frac{\\partial f}{\\partial q_k} W_{k,i}`, `1_{m=i}` (or `δ_{mi}`,
  `I[m = i]`). Σ's bound is the index's range where it is used.
- `df_dW`, `df_dx`, … (∂f/∂W as a matrix of W's shape): answered in matrix
  notation, `df_dq x^T`, `W^T df_dq` (numpy: `np.outer`-free `df_dq @ x.T`).

As in the derivation, ∂f/∂q_k is the gradient that reaches q_k from the output
(for a vector output f, of any scalar L computed from f). Both kinds are graded
at concrete sizes (the verification's: a symbolic n is 3, the next size 2, then 4,
so a transpose cannot pass), for every value of the free indices, at test
points where the inputs are random, ∂L/∂f_m is a random vector, and every
∂L/∂q_k follows from it by the chain rule.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from derive.errors import DeriveError
from derive.grading.grader import (
    INPUT_FAR,
    INPUT_RANGE,
    MIN_POINTS,
    POINTS,
    Finding,
    FormulaGrader,
    Verdict,
    _set,
    agreement,
    spread,
    value_findings,
)
from derive.kinds.graph.index import CHECK_SIZES, Upstream, _Concrete
from derive.kinds.indexform import sum_out
from derive.core.functions import kink_arguments
from derive.core.parse import SUM_UPPER, canonical_name
from derive.numeric.evaluate import Unsupported, evaluate
from derive.render.printing import answer_text, latex

POOL = 2000  # candidate test points
KINK_MARGIN = 1e-3
MAX_SUMS = 6  # summation indices in one answer (each multiplies the terms written out by a size)
INDEX_LETTERS = "ijklmnpqrstuvabcdegh"  # index names an answer may use (those not taken by a quantity or size)


class IndexMismatch(Exception):
    """An answer whose indices do not fit (a free index, an index beyond its range): a finding."""

    def __init__(self, finding: Finding):
        super().__init__(finding.code)
        self.finding = finding


class IndexSum(sp.Function):
    """Σ_k shown as an answer is typed (sum_k (…)): the expected element in the answer grammar's own syntax."""

    def _sympystr(self, printer) -> str:
        body, *indices = self.args
        return "".join(f"sum_{i} " for i in indices) + f"({printer._print(body)})"


@dataclass
class _Target:
    key: str
    free: tuple  # the free index symbols of the expected element (W_ij: i, j; component forms add m)
    ranges: tuple  # their concrete sizes
    expected: sp.Expr | None  # index form (None for a matrix key)
    values: np.ndarray  # (assignments, points) or (rows, cols, points)
    ascii: str
    latex: str
    matrix: bool = False
    quantity: str = ""
    mistakes: list = field(default_factory=list)
    # the same gradient in the other convention the lecture writes: componentwise (∂f_m/∂W_ij, the output's
    # indices free) where the expected element is over the upstream gradients (∂f/∂W_ij), and the other way
    # round; (free, ranges, values), or None for a scalar output, where the two are one
    other: tuple | None = None


class IndexGraphGrader(FormulaGrader):
    """Grades element-wise (index) and matrix answers for one derived graph with shapes (graph.Outcome)."""

    def __init__(self, outcome, seed: int = 0):
        super().__init__()
        d = self.d = outcome.result
        self.spec = outcome.spec
        self.of = d.of.name
        self.sizes = {s: sp.Integer(CHECK_SIZES[i % len(CHECK_SIZES)]) for i, s in enumerate(d.sizes)}
        self.concrete = _Concrete(d, self.sizes)
        self.shapes = {name: tuple(int(sp.sympify(s).xreplace(self.sizes)) for s in q.shape)
                       for name, q in d.quantities.items()}
        self.up = {name: (sp.IndexedBase(f"d{self.of}_d{name}") if q.shape else sp.Symbol(f"d{self.of}_d{name}", real=True))
                   for name, q in d.quantities.items()}
        self.up_shape = {self.up[name].label if q.shape else self.up[name]: self.shapes[name]
                         for name, q in d.quantities.items()}
        taken = {*d.quantities, *(str(s) for s in d.sizes), self.of, "delta", "I", "e"}
        self.letters = {c: sp.Symbol(c, integer=True) for c in INDEX_LETTERS if c not in taken}
        for role in d.index_symbols.values():
            for s in role:
                self.letters.setdefault(s.name, s)
        self.names = self._index_names()
        self._names_for: dict[str, dict] = {}
        self.matrix_names = self._matrix_names()
        self.env, self.points = self._points(seed)
        self.targets: dict[str, _Target] = {}
        order = [*self.spec.wrt, *(n for n in d.grads if n not in self.spec.wrt)]
        for name in order:
            g = d.grads[name]
            self.targets[self._element_key(name, g.indices)] = self._index_target(name, g)
        for name in order:
            if d.quantities[name].shape:
                self.targets[f"d{self.of}_d{name}"] = self._matrix_target(name)
        self.asked = [self._element_key(n, d.grads[n].indices) for n in self.spec.wrt]
        for target in self.targets.values():  # built before a class's worker processes fork, not in each
            self.matrix_mistakes(target) if target.matrix else self.mistakes(target)

    # -- names an answer may use

    def _element_key(self, name: str, indices) -> str:
        return canonical_name(name, [str(i) for i in indices]) if indices else name

    def _index_names(self) -> dict:
        """W_ki -> W[k, i], x_2 -> x[2], df_dq_k -> (∂f/∂q)[k], delta_ki -> δ_ki, the index letters themselves."""
        names: dict = dict(self.letters)
        top = max([n for shape in self.shapes.values() for n in shape] or [1])
        indices = [*self.letters.values(), *(sp.Integer(v) for v in range(1, top + 1))]
        bases = [(name, q.base) for name, q in self.d.quantities.items()]
        bases += [(f"d{self.of}_d{name}", self.up[name]) for name in self.d.quantities]
        for name, base in bases:
            rank = len(self.shapes[name.rsplit("_d", 1)[-1]] if name.startswith(f"d{self.of}_d") else self.shapes[name])
            if rank == 0:
                names[name] = base
                continue
            for combo in itertools.product(indices, repeat=rank):
                names[canonical_name(name, [str(i) for i in combo])] = base[combo]
        for a, b in itertools.product(self.letters.values(), repeat=2):
            names[f"delta_{a}{b}"] = sp.KroneckerDelta(a, b)
        return names

    def _matrix_names(self) -> dict:
        """W -> the matrix of its concrete elements, x a column; df_dq the column of ∂L/∂q_k."""
        names = {}
        for name, q in self.d.quantities.items():
            names[name] = self._as_matrix(name, lambda pos, n=name: self._symbol(n, pos))
            names[f"d{self.of}_d{name}"] = self._as_matrix(name, lambda pos, n=name: self._symbol(f"d{self.of}_d{n}", pos))
        return names

    def _as_matrix(self, name: str, entry):
        shape = self.shapes[name]
        if not shape:
            return entry(())
        rows, cols = (shape[0], 1) if len(shape) == 1 else shape
        return sp.ImmutableMatrix([[entry((r + 1,) if len(shape) == 1 else (r + 1, c + 1)) for c in range(cols)]
                                   for r in range(rows)])

    @staticmethod
    def _symbol(label: str, pos: tuple) -> sp.Symbol:
        return sp.Symbol(canonical_name(label, [str(p) for p in pos]) if pos else label, real=True)

    # -- concrete values

    def concrete_expr(self, expr: sp.Expr, at: dict) -> sp.Expr:
        """expr at the index values at (sums written out, elements as concrete symbols); IndexMismatch if the
        indices do not fit."""
        expr = expr.xreplace({**self.sizes, **{s: sp.Integer(v) for s, v in at.items()}})
        expr = expr.replace(lambda e: isinstance(e, Upstream), self._upstream)
        for _ in range(8):
            sums = [s for s in expr.atoms(sp.Sum) if not s.atoms(sp.Sum) - {s}]
            if not sums:
                break
            expr = expr.xreplace({s: self._written_out(s) for s in sums})
        free = expr.free_symbols & set(self.letters.values())
        if free:
            index = sorted(free, key=str)[0]
            raise IndexMismatch(Finding.of("index_free", index=str(index)))
        return expr.replace(lambda e: isinstance(e, sp.Indexed), self._element)

    def _upstream(self, e: Upstream) -> sp.Expr:
        of, label, *indices = e.args
        base = self.up[str(label)]
        return base[tuple(indices)] if indices else base

    def _written_out(self, s: sp.Sum) -> sp.Expr:
        body = s.function
        for index, low, high in reversed(s.limits):
            top = self._range(body, index) if high == SUM_UPPER or not high.is_Integer else int(high)
            low = 1 if not low.is_Integer else int(low)
            body = sp.Add(*[body.xreplace({index: sp.Integer(v)}) for v in range(low, top + 1)])
        return body

    def _range(self, body: sp.Expr, index: sp.Symbol) -> int:
        sizes = set()
        for e in body.atoms(sp.Indexed):
            shape = self._shape_of(e.base.label)
            for axis, i in enumerate(e.indices):
                if i == index and axis < len(shape):
                    sizes.add(shape[axis])
        if len(sizes) != 1:
            raise IndexMismatch(Finding.of("index_range", index=str(index)))
        return sizes.pop()

    def _shape_of(self, label) -> tuple:
        label = str(label)
        if label in self.shapes:
            return self.shapes[label]
        return self.shapes[label.rsplit("_d", 1)[-1]]

    def _element(self, e: sp.Indexed) -> sp.Symbol:
        shape = self._shape_of(e.base.label)
        if any(not i.is_Integer or not 1 <= int(i) <= n for i, n in zip(e.indices, shape)) or len(e.indices) != len(shape):
            raise IndexMismatch(Finding.of("index_range", index=answer_text(e)))
        return self._symbol(str(e.base.label), tuple(int(i) for i in e.indices))

    def _points(self, seed: int) -> tuple[dict, int]:
        """Inputs at random points (away from kinks), the forward pass, and ∂L/∂v of every element for a
        random ∂L/∂f (1 for a scalar output)."""
        rng = np.random.default_rng(seed)
        d, env = self.d, {}
        for x in d.inputs:
            for pos, _key in self.concrete.keys(x):
                env[self._symbol(x, pos)] = spread(rng, POOL, INPUT_RANGE, INPUT_FAR)
        usable = np.ones(POOL, dtype=bool)
        for node in d.nodes:
            for pos, _key, formula in self.concrete.elements[node.quantity.name]:
                concrete = self.concrete_expr(formula, {})
                for k in kink_arguments(concrete):
                    usable &= np.abs(np.broadcast_to(evaluate(k, env), (POOL,))) > KINK_MARGIN
                env[self._symbol(node.quantity.name, pos)] = np.broadcast_to(evaluate(concrete, env), (POOL,)).astype(float)
        out = d.output
        weights = {}
        for pos, _key in self.concrete.keys(out.quantity.name):
            weights[pos] = rng.uniform(-2, 2, POOL) if pos else np.ones(POOL)
            env[self._symbol(f"d{self.of}_d{out.quantity.name}", pos)] = weights[pos]
        for name, g in d.grads.items():
            wrt, m = g.indices, out.indices
            for pos, _key in self.concrete.keys(name):
                total = np.zeros(POOL)
                for m_pos, weight in weights.items():
                    part = self.concrete_expr(g.component, {**dict(zip(wrt, pos)), **dict(zip(m, m_pos))})
                    total = total + weight * np.broadcast_to(evaluate(part, env), (POOL,))
                env[self._symbol(f"d{self.of}_d{name}", pos)] = total
        for values in env.values():
            usable &= np.isfinite(values)
        keep = np.flatnonzero(usable)[:POINTS]
        if len(keep) < MIN_POINTS:
            raise DeriveError(f"{self.spec.file}: only {len(keep)} random test points away from the kinks were "
                              f"found; at least {MIN_POINTS} are needed to grade answers")
        return {s: v[keep] for s, v in env.items()}, len(keep)

    # -- targets

    def _assignments(self, target_free: tuple, ranges: tuple) -> list[dict]:
        return [dict(zip(target_free, combo)) for combo in itertools.product(*(range(1, n + 1) for n in ranges))]

    def index_values(self, expr: sp.Expr, free: tuple, ranges: tuple) -> np.ndarray:
        """expr at every value of the free indices and every test point, (assignments, points): the sums written
        out once, then each element (W_ki) gathered into an array over the assignments and evaluated once."""
        assignments = self._assignments(free, ranges)
        if sum(len(s.limits) for s in expr.atoms(sp.Sum)) > MAX_SUMS:  # Σ_k Σ_l … multiplies the terms
            raise Unsupported(f"sums over more than {MAX_SUMS} indices")
        expr = expr.xreplace(self.sizes).replace(lambda e: isinstance(e, Upstream), self._upstream)
        for _ in range(8):
            sums = [s for s in expr.atoms(sp.Sum) if not s.atoms(sp.Sum) - {s}]
            if not sums:
                break
            expr = expr.xreplace({s: self._written_out(s) for s in sums})
        letters = set(self.letters.values())
        stray = (expr.free_symbols & letters) - set(free)
        if stray:
            raise IndexMismatch(Finding.of("index_free", index=str(sorted(stray, key=str)[0])))
        env, swap = dict(self.env), {}

        def column(values) -> np.ndarray:
            return np.array(values, dtype=float).reshape(len(assignments), -1)

        # equal indices (1_{k=i}, δ_ki) and comparisons of indices: 0 or 1 for each assignment
        for atom in [a for a in expr.atoms(sp.KroneckerDelta, sp.Function) if a.free_symbols and
                     a.free_symbols <= letters]:
            dummy = swap[atom] = sp.Dummy()
            try:
                env[dummy] = column([float(atom.xreplace({s: sp.Integer(v) for s, v in at.items()}))
                                     for at in assignments])
            except TypeError:
                raise Unsupported(f"{type(atom).__name__} of indices") from None
        expr = expr.xreplace(swap)
        swap = {}
        for atom in expr.atoms(sp.Indexed):
            dummy = swap[atom] = sp.Dummy()
            rows = []
            for at in assignments:
                element = self._element(atom.xreplace({s: sp.Integer(v) for s, v in at.items()}))
                rows.append(np.broadcast_to(self.env[element], (self.points,)))
            env[dummy] = np.array(rows)
        for s in expr.free_symbols & letters:  # an index used as a number
            dummy = swap[s] = sp.Dummy()
            env[dummy] = column([at[s] for at in assignments])
        values = evaluate(expr.xreplace(swap), env)
        return np.broadcast_to(np.asarray(values, dtype=float), (len(assignments), self.points)).astype(float)

    def _index_target(self, name: str, g) -> _Target:
        out = self.d.output
        if g.done is not None:
            expected, free = g.done, tuple(g.indices)
        else:
            expected, free = g.component, (*g.indices, *out.indices)
        ranges = tuple(self.shapes[name][a] for a in range(len(g.indices))) + \
            (tuple(self.shapes[out.quantity.name]) if g.done is None else ())
        text, tex = self._shown(expected)
        expected = expected.replace(lambda e: isinstance(e, Upstream), self._upstream)
        values = self.index_values(expected, free, ranges)
        return _Target(self._element_key(name, g.indices), free, ranges, expected, values, text, tex, quantity=name,
                       other=self._other_convention(name, g))

    def _other_convention(self, name: str, g) -> tuple | None:
        """(free, ranges, values) of name's gradient in the convention its key's expected element is not in:
        the componentwise ∂f_m/∂v (the output's indices free) beside ∂f/∂v over the upstream gradients, or
        ∂f/∂v for a random scalar of f (what the upstream form equals) beside the componentwise one."""
        out = self.d.output
        if not out.indices:
            return None
        wrt = tuple(g.indices)
        ranges = tuple(self.shapes[name][a] for a in range(len(wrt)))
        if g.done is not None:
            free, ranges = (*wrt, *out.indices), ranges + tuple(self.shapes[out.quantity.name])
            return free, ranges, self.index_values(g.component, free, ranges)
        values = np.array([np.broadcast_to(self.env[self._symbol(f"d{self.of}_d{name}", tuple(at[i] for i in wrt))],
                                           (self.points,)) for at in self._assignments(wrt, ranges)], dtype=float)
        return wrt, ranges, values

    def _in_other_convention(self, target: _Target, answer: sp.Expr) -> np.ndarray | None:
        """The answer's values in the other convention where its indices fit it (None where they do not)."""
        if target.other is None:
            return None
        free, ranges, _values = target.other
        try:
            return self.index_values(answer, free, ranges)
        except (IndexMismatch, Unsupported):
            return None

    def _shown(self, expr: sp.Expr) -> tuple[str, str]:
        """The expected element as the JSON writes it (expr, latex): ∂f/∂q_i x_j, 1_{m=i}."""
        from derive.kinds.graph.kind import _Display, _ascii_names, arrange

        shown = _Display(self.d, self.spec.notation)(expr)
        text = arrange(_ascii_names(shown)).replace(sp.Sum, lambda body, *limits: IndexSum(body, *(lim[0] for lim in limits)))
        return answer_text(text), latex(shown)

    def _matrix_target(self, name: str) -> _Target:
        entries = self._as_matrix(name, lambda pos: self._symbol(f"d{self.of}_d{name}", pos))
        values = self.matrix_values(entries)
        form = matrix_form(self, name)
        key = f"d{self.of}_d{name}"
        return _Target(key, (), (), None, values, form[0], form[1], matrix=True, quantity=name)

    def matrix_values(self, m) -> np.ndarray:
        m = m if isinstance(m, sp.MatrixBase) else sp.ImmutableMatrix([[m]])
        return np.array([[np.broadcast_to(evaluate(m[i, j], self.env), (self.points,)).astype(float)
                          for j in range(m.cols)] for i in range(m.rows)])

    def keys(self) -> list[str]:
        return list(self.targets)

    def names_for(self, key: str) -> dict:
        """The names an answer for key may use: all but the gradient asked itself (∂f/∂q for q's key)."""
        if key not in self._names_for:
            target = self.targets[key]
            own = f"d{self.of}_d{target.quantity}"
            if target.matrix:
                self._names_for[key] = {n: v for n, v in self.matrix_names.items() if n != own}
            else:
                self._names_for[key] = {n: v for n, v in self.names.items()
                                        if n != own and not (isinstance(v, sp.Indexed) and str(v.base.label) == own)}
        return self._names_for[key]

    def withheld(self, key: str) -> set[str]:
        return set(self.matrix_names if self.targets[key].matrix else self.names) - set(self.names_for(key))

    # -- grading

    def target(self, key: str) -> _Target:
        return self.targets[key]

    def grade_formula(self, verdict: Verdict, target: _Target, answer: sp.Expr) -> Verdict:
        if target.matrix:
            return self._grade_matrix(verdict, target, answer)
        if isinstance(answer, sp.MatrixBase):
            return _set(verdict, "invalid", Finding.of("unsupported", what="a matrix"))
        try:
            values = self.index_values(answer, target.free, target.ranges)
        except IndexMismatch as exc:
            finding = exc.finding
            if finding.code == "index_free":  # perhaps written in the other convention (∂f_m/∂W_ij, m free)
                other = self._in_other_convention(target, answer)
                if other is not None:
                    return self._graded_in_other_convention(verdict, target, answer, other)
                finding = Finding.of("index_free", index=dict(finding.args)["index"], key=target.key,
                                     indices=", ".join(str(i) for i in target.free) or "—")
            return _set(verdict, "incorrect", finding)
        except Unsupported as exc:
            return _set(verdict, "invalid", Finding.of("unsupported", what=str(exc)))
        if np.all(agreement(values, target.values)):
            return _set(verdict, "correct", Finding.of("correct_index", points=self.points,
                                                       entries=values.shape[0]))
        other = self._in_other_convention(target, answer)  # ∂f/∂θ_i = ∂f/∂f_i for ∂f_m/∂θ_i
        if other is not None and np.all(agreement(other, target.other[2])):
            return _set(verdict, "correct", Finding.of("correct_index", points=self.points, entries=other.shape[0]))
        for finding, wrong in self.mistakes(target):
            if np.all(agreement(values, wrong)):
                return _set(verdict, "incorrect", finding)
        return _set(verdict, "incorrect", *value_findings(answer, values, target.values, self.points))

    def _graded_in_other_convention(self, verdict: Verdict, target: _Target, answer, other) -> Verdict:
        """An answer whose indices fit only the other convention: right or wrong by its values there."""
        if np.all(agreement(other, target.other[2])):
            return _set(verdict, "correct", Finding.of("correct_index", points=self.points, entries=other.shape[0]))
        return _set(verdict, "incorrect", *value_findings(answer, other, target.other[2], self.points))

    def _grade_matrix(self, verdict: Verdict, target: _Target, answer) -> Verdict:
        from derive.grading.matrix import matrix_findings

        try:
            values = self.matrix_values(answer)
        except Unsupported as exc:
            return _set(verdict, "invalid", Finding.of("unsupported", what=str(exc)))
        kind, findings = matrix_findings(values, target.values, target.key, self.points,
                                         lambda: self.matrix_mistakes(target))
        return _set(verdict, kind, *findings)

    def matrix_mistakes(self, target: _Target) -> list[tuple[Finding, np.ndarray]]:
        """The index form's typical mistakes as matrices, where the index key asks the same gradient (∂L/∂W_ij
        over the upstream gradients): W df_dq for W^T df_dq is W_ik written for W_ki."""
        g = self.d.grads[target.quantity]
        if g.done is None:
            return []
        index = self.targets[self._element_key(target.quantity, g.indices)]
        shape = target.values.shape
        return [(f, v.reshape(shape)) for f, v in self.mistakes(index) if f.code != "transposed_parameter"]

    def mistakes(self, target: _Target) -> list[tuple[Finding, np.ndarray]]:
        """Typical wrong index forms, as values: the sign, the wrt indices swapped (W_ji for W_ij), a matrix's
        indices transposed inside (W_ik for W_ki), the upstream gradient left out, a path left out; built once."""
        if target.mistakes:
            return target.mistakes
        out = []
        for finding, expr in self._wrong_forms(target):
            try:
                values = self.index_values(expr, target.free, target.ranges)
            except (IndexMismatch, Unsupported):
                continue
            if not np.all(agreement(values, target.values)):
                out.append((finding, values))
        target.mistakes = out or [(Finding.of("sign"), -target.values)]
        return target.mistakes

    def _wrong_forms(self, target: _Target):
        x = target.expected
        yield Finding.of("sign"), -x
        wrt = self.d.grads[target.quantity].indices
        if len(wrt) == 2:
            i, j = wrt
            other = self._element_key(target.quantity, (j, i))
            yield Finding.of("transposed_parameter", param=target.key, other=other), x.xreplace({i: j, j: i})
        for e in sorted(x.atoms(sp.Indexed), key=str):
            if len(e.indices) == 2 and e.indices[0] != e.indices[1] and str(e.base.label) in self.d.quantities:
                swapped = e.base[e.indices[1], e.indices[0]]
                yield (Finding.of("transposed_indices", wrong=answer_text(_named(swapped)), right=answer_text(_named(e))),
                       x.xreplace({e: swapped}))
        from derive.core.calculus import Indicator

        for ind in sorted(x.atoms(Indicator), key=str):  # ReLU' = I[z_m > 0] left out (not an equality of indices)
            if not isinstance(ind.args[0], sp.Eq):
                yield Finding.of("missing_indicator", factor=answer_text(_ascii_element_names(ind))), x.xreplace({ind: sp.S.One})
        ups = sorted([e for e in x.atoms(sp.Indexed) if e.base in self.up.values()] +
                     [e for e in x.free_symbols if e in self.up.values()], key=str)
        if ups:
            label = str(ups[0].base.label if isinstance(ups[0], sp.Indexed) else ups[0])
            yield Finding.of("missing_upstream", node=label[len(self.of) + 3:]), x.xreplace({u: sp.S.One for u in ups})
        g = self.d.grads[target.quantity]
        terms = sp.Add.make_args(g.chain) if g.chain is not None else ()
        if len(terms) > 1:
            for term in terms:
                user = next((str(u.args[1]) for u in term.atoms(Upstream)), self.of)
                rest = sum_out(g.chain - term).replace(lambda e: isinstance(e, Upstream), self._upstream)
                yield Finding.of("missing_path", node=user), rest


def _ascii_element_names(expr: sp.Expr) -> sp.Expr:
    return expr.xreplace({e: _named(e) for e in expr.atoms(sp.Indexed)})


def _named(e: sp.Indexed) -> sp.Symbol:
    return sp.Symbol(canonical_name(str(e.base.label), [str(i) for i in e.indices]))


# -- the expected matrix form, as a lecturer writes it ----------------------------------------


def matrix_form(grader: IndexGraphGrader, name: str) -> tuple[str, str]:
    """∂f/∂W as a matrix formula (df_dq x^T, W^T df_dq, df_dq ⊙ I(z > 0)), from the index form of its
    entries; the index form itself ("entry (i, j): …") where the pattern is not one of these."""
    g = grader.d.grads[name]
    done = g.done
    if done is None:  # used by the output only: ∂L/∂u_i = Σ_m ∂L/∂f_m ∂f_m/∂u_i (the output's own local derivative)
        out = grader.d.output
        done = g.component
        if out.indices:
            arriving = Upstream(grader.d.of, out.quantity.base.label, *out.indices)
            done = sum_out(sp.Sum(arriving * done, *[(m, 1, s) for m, s in zip(out.indices, out.quantity.shape)]))
    terms = [_matrix_term(grader, t, g.indices) for t in sp.Add.make_args(sp.expand(done))]
    if all(t is not None for t in terms):
        text = " + ".join(t[0] for t in terms)
        return text, " + ".join(t[1] for t in terms)
    expected = g.done if g.done is not None else g.component
    text, tex = grader._shown(expected)
    indices = ", ".join(str(i) for i in g.indices)
    return f"[{text}]_({indices})", rf"\left[{tex}\right]_{{{indices}}}"


def _matrix_term(grader: IndexGraphGrader, term: sp.Expr, wrt: tuple) -> tuple[str, str] | None:
    """One term of an index form as a matrix product: Σ_k A_ki v_k -> A^T v, u_i v_j -> u v^T, u_i -> u."""
    limits = []
    while isinstance(term, sp.Sum):
        limits += [lim[0] for lim in term.limits]
        term = term.function
    factors, elementwise = [], []
    for f in sp.Mul.make_args(term.replace(lambda e: isinstance(e, Upstream), grader._upstream)):
        if isinstance(f, sp.Indexed):
            factors.append(f)
        elif f.atoms(sp.Indexed) and all(e.indices == wrt for e in f.atoms(sp.Indexed)) and len(wrt) == 1:
            elementwise.append(f.xreplace({e: sp.Symbol(str(e.base.label)) for e in f.atoms(sp.Indexed)}))
        else:
            return None
    if len(limits) > 1:
        return None

    def vec(e):
        return str(e.base.label)

    if not limits and len(wrt) == 1 and factors and all(f.indices == wrt for f in factors):
        # u_i v_i I(z_i > 0): an elementwise product of vectors, u ⊙ v ⊙ I(z > 0)
        return (" ⊙ ".join([*(vec(f) for f in factors), *(answer_text(f) for f in elementwise)]),
                r" \odot ".join([*(_tex_name(vec(f), grader.of) for f in factors), *(latex(f) for f in elementwise)]))
    if elementwise:
        return None
    if not limits and len(wrt) == 2 and len(factors) == 2:
        a, b = factors
        if a.indices == (wrt[1],):
            a, b = b, a
        if a.indices == (wrt[0],) and b.indices == (wrt[1],):
            return (f"{vec(a)} {vec(b)}^T", f"{_tex_name(vec(a), grader.of)} {_tex_name(vec(b), grader.of)}^{{T}}")
    if len(limits) == 1 and len(wrt) == 1 and len(factors) == 2:
        k, (i,) = limits[0], wrt
        matrix = next((f for f in factors if len(f.indices) == 2), None)
        vector = next((f for f in factors if len(f.indices) == 1), None)
        if matrix is not None and vector is not None and vector.indices == (k,):
            if matrix.indices == (k, i):
                return (f"{vec(matrix)}^T {vec(vector)}",
                        f"{_tex_name(vec(matrix), grader.of)}^{{T}} {_tex_name(vec(vector), grader.of)}")
            if matrix.indices == (i, k):
                return (f"{vec(matrix)} {vec(vector)}", f"{_tex_name(vec(matrix), grader.of)} {_tex_name(vec(vector), grader.of)}")
    return None


def _tex_name(name: str, of: str) -> str:
    prefix = f"d{of}_d"
    if name.startswith(prefix):
        return rf"\frac{{\partial {of}}}{{\partial {latex(sp.Symbol(name[len(prefix):]))}}}"
    return latex(sp.Symbol(name))
