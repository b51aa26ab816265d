"""derive.kinds.indexform: Kronecker sums carried out, numeric limits written out, element keys, display indices.

Expected values are SymPy's own results for the same sums done the long way
(Sum.doit at concrete sizes), or one-line strings.
"""

from __future__ import annotations

import sympy as sp

from derive.kinds import indexform as engine

t, s, i, k, p, n, T = (sp.Symbol(x, integer=True) for x in "tsikpnT")
W, h, G, w, x = (sp.IndexedBase(x) for x in ("W", "h", "G", "w", "x"))


def test_a_delta_on_a_shifted_index_is_summed_out():
    """Σ_t Σ_i G_{t,i} ∂(Σ_k W_{i,k} h_{t−1,k})/∂h_{s,p} = Σ_i G_{s+1,i} W_{i,p} (out of range: zero)."""
    local = sp.diff(sp.Sum(W[i, k] * h[t - 1, k], (k, 1, n)), h[s, p])
    done = engine.sum_out(sp.Sum(sp.Sum(G[t, i] * local, (i, 1, n)), (t, 1, T)))
    assert done == sp.Sum(G[s + 1, i] * W[i, p], (i, 1, n))


def test_the_carried_out_sum_agrees_with_sympy_at_concrete_sizes():
    """Stride 2, padding 1: ∂(Σ_u w_u x_{2i+u−1})/∂x_m summed over i, against Sum.doit term by term."""
    u, m = sp.Symbol("u", integer=True), sp.Symbol("m", integer=True)
    y = sp.Sum(w[u] * x[2 * i + u - 1], (u, 0, 2))
    done = engine.sum_out(sp.Sum(G[i] * sp.diff(y, x[m]), (i, 0, 2)))
    for position in range(5):
        reference = sp.Sum(G[i] * sp.diff(y, x[m]), (i, 0, 2)).subs(m, position).doit()
        in_kernel = {a: 0 for a in reference.atoms(sp.Indexed) if a.base == w and not 0 <= a.indices[0] <= 2}
        ours = engine.expand_sums(done.subs(m, position))
        ours = ours.xreplace({a: 0 for a in ours.atoms(sp.Indexed) if a.base == w and not 0 <= a.indices[0] <= 2})
        assert sp.expand(ours - reference.xreplace(in_kernel)) == 0


def test_sums_with_numeric_limits_are_written_out():
    assert engine.expand_sums(sp.Sum(G[i] * x[i], (i, 1, 3))) == G[1] * x[1] + G[2] * x[2] + G[3] * x[3]


def test_element_keys_and_back():
    assert engine.key(h[2, 1]) == "h[2,1]" and engine.key(sp.Symbol("L")) == "L"
    assert engine.parse_key("h[2,1]") == ("h", (2, 1)) and engine.parse_key("L") == ("L", ())


def test_a_number_added_to_an_index_prints_after_it():
    from derive.render.printing import latex

    assert latex(engine.readable_indices(G[s + 1, i])) == "G_{s + 1,i}"
    assert engine.readable_indices(G[s + 1, i]).subs(s, 2) == G[3, i]


def test_a_matrix_product_s_local_derivative_takes_the_indicator_out_of_the_sum():
    """The index-form graph sums its deltas with the same engine: ∂(Σ_l Σ_r A_{m,l} B_{l,r} x_r)/∂A_{i,j}
    = δ_{m,i} Σ_r B_{j,r} x_r, equal to SymPy's Sum.doit at concrete sizes."""
    A, B = sp.IndexedBase("A"), sp.IndexedBase("B")
    m, j, l, r = (sp.Symbol(c, integer=True) for c in "mjlr")
    y = sp.Sum(A[m, l] * B[l, r] * x[r], (r, 1, n), (l, 1, n))
    done = engine.sum_out(sp.diff(y, A[i, j]))
    assert done == sp.KroneckerDelta(i, m) * sp.Sum(B[j, r] * x[r], (r, 1, n))
    for at in ({m: 1, i: 1, j: 2}, {m: 2, i: 1, j: 3}):
        concrete = {**at, n: 3}
        assert sp.expand(engine.expand_sums(done.xreplace(concrete)) - sp.diff(y, A[i, j]).xreplace(concrete).doit()) == 0


def test_the_graph_and_the_layers_share_one_chain_rule():
    """The same model, the layer front (engine.backward) and the graph front (a `kind: graph` with shapes):
    ∂f/∂W_{i,j} and ∂f/∂x_i come out as the same sums once the upstream gradients are named alike."""
    from derive.core.yamlload import load_text
    from derive.kinds.graph import index as graph_index
    from derive.kinds.graph import kind as graph

    outcome = graph.derive(graph.parse(load_text("kind: graph\nshapes: {W: [n, n], x: [n]}\nnodes:\n  q: W x\n  f: q + x\n")))
    d = outcome.result
    j, l, m = (sp.Symbol(c, integer=True) for c in "jlm")
    size = sp.Symbol("n", integer=True, positive=True)
    q, f = sp.IndexedBase("q"), sp.IndexedBase("f")
    quantities = {
        "W": engine.Quantity("W", "param", ((1, size), (1, size)), wrt=(i, j)),
        "x": engine.Quantity("x", "input", ((1, size),), wrt=(i,)),
        "q": engine.Quantity("q", "node", ((1, size),), (k,), sp.Sum(W[k, l] * x[l], (l, 1, size)), wrt=(i,)),
        "f": engine.Quantity("f", "node", ((1, size),), (m,), q[m] + x[m], wrt=(i,)),
        "L": engine.Quantity("L", "loss", (), (), sp.Sum(G[m] * f[m], (m, 1, size))),
    }
    model = engine.Model(quantities, "L", {size: 3})
    engine.backward(model, ["f", "q", "W", "x"])
    # name the graph's ∂f/∂q_k as the layer front names ∂L/∂q_k
    named = {up: sp.IndexedBase(f"dL_d{up.args[1]}")[up.args[2:]] for g in d.grads.values() if g.done is not None
             for up in g.done.atoms(graph_index.Upstream)}
    for name in ("W", "x"):
        ours = d.grads[name].done.xreplace(named)
        theirs = model.gradients[name].done
        assert sp.simplify(engine.expand_sums(ours.xreplace({size: 3, i: 2, j: 1}))
                           - engine.expand_sums(theirs.xreplace({size: 3, i: 2, j: 1}))) == 0, (ours, theirs)
