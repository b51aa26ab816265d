"""One backward engine: the network kind derives through the graph kind's backward pass.

The network is compiled to the computational graph `kind: graph` uses
(derive.kinds.network.graph); the graph engine (derive.kinds.graph.backprop)
differentiates every node; the network's presenter (derive.kinds.network.backprop,
and the matrix view in derive.kinds.network.vector) names, groups and orders what
that engine derived; the matrix view's index forms (∂z_k/∂W_{i,j} = 1_{k=i} a_j) come from the
index-form engine of `kind: graph` with `shapes:` (derive.kinds.graph.index) on the layer's z = W x + b.
These tests show that the presenter has no differentiation
of its own: it calls the engine, a change in the engine's local derivatives
reaches the network's formulas, and the network package calls no differentiator
outside the places listed below (each a textbook statement, not this network's
backward pass).
"""

from __future__ import annotations

import ast

import pytest
import sympy as sp

from conftest import ROOT
from derive.kinds.graph import backprop as engine
from derive.kinds.network import backprop as presenter
from derive.kinds.network.model import build
from derive.kinds.network.spec import load_spec_text
from derive.kinds.network.verify import verify

NETWORK = ROOT / "derive" / "kinds" / "network"
# (sp.Derivative itself is notation, ∂f/∂x unevaluated; its .doit() would differentiate)
DIFFERENTIATORS = {"diff", "real_diff", "derivative", "softmax_jacobian", "jacobian", "gradient", "doit"}
# module -> the functions allowed to differentiate, and why they are not the network's backward pass
ALLOWED = {
    "kind.py": {
        "_chain_rule": "d f(g(x))/dx = f'(g(x)) g'(x) for generic f and g, checked before the matrix view states it",
        "_activation_rows": "the lecture's table of f and f' over a generic z (the vocabulary, not this network)",
        "_in_terms_of_a": "the same f' written with a generic a = f(z)",
        "_decay_row": "∂/∂w of (λ/2) w² for a generic w, the sentence before the weight-decay terms",
        "_softmax_jacobian": "the textbook ∂y_k/∂z_j = y_k(1_{k=j} − y_j), checked against the layer's own y_k "
                             "for every k and j before it is stated (the backward pass does not use it)",
    },
}


def _spec(name: str):
    return load_spec_text((ROOT / "specs" / f"{name}.yaml").read_text(encoding="utf-8"))


def _calls(tree: ast.AST):
    """(enclosing function, called name) for every call in a module."""
    def walk(node, where):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else where
            if isinstance(child, ast.Call):
                f = child.func
                name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
                if name:
                    yield where, name
            yield from walk(child, inner)
    yield from walk(tree, "<module>")


def test_the_network_package_differentiates_nothing_outside_the_listed_textbook_statements():
    found = []
    for path in sorted(NETWORK.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for where, name in _calls(tree):
            if name in DIFFERENTIATORS and where not in ALLOWED.get(path.name, {}):
                found.append(f"{path.name}:{where} calls {name}")
    assert found == []


def test_the_ast_check_sees_a_differentiation_where_there_is_one():
    """The check above is not vacuous: the code the network used to differentiate with is caught."""
    code = "def deltas(self, layer):\n    return [sp.diff(f, z) for f in fs] + [real_diff(self.net.loss, y)]\n"
    assert {name for _, name in _calls(ast.parse(code))} & DIFFERENTIATORS == {"diff", "real_diff"}


@pytest.mark.parametrize("name", ["two-layer-relu", "softmax-ce", "gelu-mae-decay", "residual-mlp", "sigmoid-layer"])
def test_the_network_derivation_calls_the_graph_engine_once_without_its_graph_forms(monkeypatch, name):
    calls = []
    real = presenter.graph_backprop

    def spy(spec, forms=True):
        calls.append(forms)
        return real(spec, forms=forms)

    monkeypatch.setattr(presenter, "graph_backprop", spy)
    derivation = presenter.derive(build(_spec(name)))
    assert calls == [False]
    assert verify(derivation).ok


def test_the_engines_local_derivatives_are_what_the_network_shows(monkeypatch):
    """Scale every local derivative the engine returns by 3: the network's formulas follow (and verification fails)."""
    net = build(_spec("two-layer-relu"))
    honest = presenter.derive(net)
    real_local = engine._local

    def tripled(node, arg, raw):
        return real_local(node, arg, 3 * raw)

    monkeypatch.setattr(engine, "_local", tripled)
    skewed = presenter.derive(build(_spec("two-layer-relu")))
    at = {s: sp.Rational(k + 2, 7) * (-1) ** k for k, s in enumerate(sorted(
        set().union(*(p.value.free_symbols for p in honest.derivatives)), key=str))}
    # the output layer's φ_1 = ∂y/∂φ_1 is one local derivative: tripled
    phi = {p.param.name: p for p in honest.derivatives}["phi_1"]
    skewed_phi = {p.param.name: p for p in skewed.derivatives}["phi_1"]
    assert skewed_phi.value.xreplace(at) == 3 * phi.value.xreplace(at)
    assert not verify(skewed).ok


def test_weight_decay_is_the_engines_direct_term_of_the_loss():
    """∂J/∂w = upstream · local + λ w: the λ w is the engine's local derivative of the loss node in w."""
    derivation = presenter.derive(build(_spec("gelu-mae-decay")))
    net = derivation.network
    weights = set(net.weights)
    for p in derivation.derivatives:
        expected = derivation.locals.local(net.of, p.param)
        assert p.direct == expected
        assert (p.direct is not None) == (p.param in weights)
    assert verify(derivation).ok


@pytest.mark.parametrize("name", ["two-layer-relu", "softmax-ce", "gelu-mae-decay", "residual-mlp", "leaky-relu"])
def test_the_engines_shortcut_through_sums_is_sympys_derivative(name):
    """derivatives() skips a sum's terms without the variable and takes θ h in θ directly: the same as sympy.diff."""
    from derive.kinds.network.graph import compile_network

    graph = compile_network(build(_spec(name)))
    known = set(graph.symbols.values())
    for node in graph.nodes:
        args = sorted(node.expr.free_symbols & known, key=str)
        assert engine.derivatives(node.expr, args) == [sp.diff(node.expr, a) for a in args], node.name


def test_the_compiled_network_keeps_each_sums_order_of_terms():
    """θ_0 + θ_1 x stays in that order over the engine's real symbols (xreplace would sort it again)."""
    from derive.kinds.network.graph import compile_network, renamed

    net = build(_spec("residual-mlp"))  # h_1 = relu(z_1) + x_1: xreplace would write x_1 + relu(z_1)
    graph = compile_network(net)
    for (symbol, expr), node in zip(net.forward, graph.nodes):
        assert [a.name if a.is_Symbol else str(a) for a in sp.Add.make_args(node.expr)] == \
               [a.name if a.is_Symbol else str(a) for a in sp.Add.make_args(expr)]
        assert all(s.is_real for s in node.expr.free_symbols)
    x = sp.Symbol("x")
    assert renamed(sp.Add(x, 2 * x, evaluate=False), {x: sp.Symbol("x", real=True)}).args[1] == 2 * sp.Symbol("x", real=True)


# -- the matrix view's index forms: the index-form engine's, on the layer compiled to an index-form graph ---------

MATRIX_SPECS = ["sigmoid-layer", "sigmoid-bce", "softmax-ce", "mlp-check"]


def _vector(name: str):
    from derive.kinds.network.vector import check_vector_view, vector_view

    derivation = presenter.derive(build(_spec(name)))
    view = vector_view(derivation)
    return view, check_vector_view(view, derivation)


def _index_rows(view) -> dict:
    """(layer, reason) -> the step's index-form rows [[∂z_k/∂u, local, …], [∂J/∂u, Σ_k …, carried out]]."""
    return {(s.layer, s.reason): s.because for s in view.backward
            if s.reason in ("grad_W", "grad_b", "grad_input") and s.because}


@pytest.mark.parametrize("name", MATRIX_SPECS)
def test_the_index_forms_come_from_the_index_engine_once_per_layer_shown(monkeypatch, name):
    from derive.kinds.network import vector

    calls = []
    real = vector.index_derive

    def spy(spec):
        calls.append(spec)
        return real(spec)

    monkeypatch.setattr(vector, "index_derive", spy)
    view, check = _vector(name)
    layers = view.network.layers
    shown = {layers[-1].number, 1}  # the output layer's index forms, and the input's of layer 1
    assert sorted(spec.nodes[0].name for spec in calls) == sorted(str(vector.family([u.pre for u in layers[n - 1].units]))
                                                                  for n in shown)
    assert all(spec.shapes for spec in calls)  # index-form graphs: vectors and a matrix
    assert check.ok, check.failures


@pytest.mark.parametrize("name", MATRIX_SPECS)
def test_the_index_forms_shown_are_sympys_derivatives_of_z_k(name):
    """The engine's forms, as the presenter names them, against SymPy differentiating z_k = Σ_l W_{k,l} x_l + b_k
    itself and summing with Sum.doit (an independent route: not the engine's elements, locals or sum_out)."""
    from derive.kinds.network.vector import _input_key

    view, _ = _vector(name)
    rows = _index_rows(view)
    assert {reason for _, reason in rows} == {"grad_W", "grad_b", "grad_input"}
    for (number, reason), (local, total) in rows.items():
        layer = view.network.layers[number - 1]
        derivative, shown = local[0], local[1]
        z_k, wrt = derivative.args[0], derivative.args[1][0]
        k, (_, _, n) = z_k.indices[0], total[1].limits[0]
        W, b, x = (sp.IndexedBase(name) for name in (layer.spec.params, layer.spec.bias, _input_key(view.network, layer)))
        l, p = sp.Dummy("l", integer=True), sp.Dummy("p", integer=True, positive=True)
        direct = sp.diff(sp.Sum(W[k, l] * x[l], (l, 1, p)) + b[k], wrt).doit()
        direct = direct.replace(lambda e: isinstance(e, sp.Piecewise), lambda e: e.args[0].expr)  # j is within 1…p
        assert direct - shown == 0, (reason, direct, shown)
        delta = next(a.base for a in total[2].atoms(sp.Indexed) if a.base not in (W, b, x))
        summed = sp.Sum(delta[k] * direct, (k, 1, n)).doit()
        summed = summed.replace(lambda e: isinstance(e, sp.Piecewise), lambda e: e.args[0].expr)  # i is within 1…n
        assert sp.simplify(summed - total[2]) == 0, (reason, summed, total[2])
        assert view.partials[total[0].base.label] == (view.network.of, sp.Symbol(str(wrt.base)))  # ∂J/∂W_{i,j}


def test_a_wrong_local_derivative_of_the_index_engine_reaches_the_matrix_view_and_fails_its_check(monkeypatch):
    """Triple the index engine's ∂z_k/∂u (its _local): the shown index forms follow, and the vector view's
    check, which evaluates them at every entry against the scalar derivatives, refuses them."""
    from derive.kinds.graph import index

    honest, check = _vector("sigmoid-layer")
    assert check.ok
    real = index._local

    def tripled(node, arg, roles):
        raw, _ = real(node, arg, roles)
        return 3 * raw, index.sum_out(3 * raw)

    monkeypatch.setattr(index, "_local", tripled)
    skewed, check = _vector("sigmoid-layer")
    for key, (local, total) in _index_rows(honest).items():
        wrong_local, wrong_total = _index_rows(skewed)[key]
        assert wrong_local[1] == 3 * local[1]
        assert sp.simplify(wrong_total[2] - 3 * total[2]) == 0
    assert not check.ok
    assert any("index form" in name for name, *_ in check.failures)
