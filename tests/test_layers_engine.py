"""derive.kinds.layers.engine: Kronecker sums carried out, numeric limits written out, element keys, display indices.

Expected values are SymPy's own results for the same sums done the long way
(Sum.doit at concrete sizes), or one-line strings.
"""

from __future__ import annotations

import sympy as sp

from derive.kinds.layers import engine

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
