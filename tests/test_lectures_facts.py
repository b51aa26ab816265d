"""The statements the native reviewers (en, ru, pl) found false, misleading or incomplete, each held to what
the engine computed or to an independent reference.

References: NumPy convolutions written out here and finite differences of the loss (the input's gradient of
a padded convolution), finite differences of a softmax (its Jacobian), the harness's own precision constant
(the note must name the arithmetic the check used), the composition check's own list of comparisons, and
the order in which a reader meets a symbol (defined before it is used).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml

from conftest import ROOT

LANGS = ("en", "ru", "pl")


def spec(stem: str) -> dict:
    return yaml.safe_load((ROOT / "specs" / f"{stem}.yaml").read_text(encoding="utf-8"))


def note(text: str) -> str:
    """The verification note: the last paragraph that starts the check."""
    starts = ("Checked", "Проверка", "Sprawdzenie")
    found = [p.strip() for p in text.split("\n\n") if p.strip().startswith(starts)]
    assert found, "no verification note"
    return found[-1]


# -- 1. conv: the input's gradient is the full convolution cropped by P ------------------------------------


def _conv_forward(x, w, b, S, P):
    """y[f, i(, j)] = b_f + Σ_c Σ_u w[f, c, u] x[c, S i + u − P] (CS231n), by loops over the padded input."""
    dims = x.ndim - 1
    xp = np.pad(x, [(0, 0)] + [(P, P)] * dims)
    F = w.shape[-1]
    out = (xp.shape[-1] - F) // S + 1
    y = np.zeros((w.shape[0],) + (out,) * dims)
    for idx in np.ndindex(*y.shape):
        f, pos = idx[0], idx[1:]
        window = xp[(slice(None),) + tuple(slice(S * p, S * p + F) for p in pos)]
        y[idx] = b[f] + np.sum(w[f] * window)
    return y


def _full_cropped(g, w, S, P, N):
    """The claim: spread g out by S − 1 zeros, take its full convolution with the flipped kernel, crop P."""
    K, C, F = w.shape[0], w.shape[1], w.shape[-1]
    dims = g.ndim - 1
    spread = np.zeros((K,) + ((g.shape[-1] - 1) * S + 1,) * dims)
    spread[(slice(None),) + (slice(None, None, S),) * dims] = g
    full = np.zeros((C,) + ((spread.shape[-1] + F - 1),) * dims)
    for idx in np.ndindex(*spread.shape):
        f, pos = idx[0], idx[1:]
        for c in range(C):
            region = (c,) + tuple(slice(p, p + F) for p in pos)
            full[region] += spread[idx] * w[f, c]  # a full convolution: every kernel entry lands on p + u
    assert full.shape[-1] == N + 2 * P
    return full[(slice(None),) + (slice(P, P + N),) * dims]


@pytest.mark.parametrize("stem", ["conv1d", "conv2d"])
def test_the_input_gradient_is_the_full_convolution_cropped_by_the_padding(lectures, stem):
    s = spec(stem)
    dims, C, N, K, F, S, P = (s[k] for k in ("dims", "channels", "size", "filters", "kernel", "stride", "padding"))
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(C,) + (N,) * dims), rng.normal(size=(K, C) + (F,) * dims), rng.normal(size=K)
    y = _conv_forward(x, w, b, S, P)
    t = rng.normal(size=y.shape)

    def loss(xx):
        return 0.5 * np.sum((_conv_forward(xx, w, b, S, P) - t) ** 2)

    fd = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = 1e-6
        fd[idx] = (loss(x + e) - loss(x - e)) / 2e-6
    assert np.allclose(_full_cropped(y - t, w, S, P, N), fd, atol=1e-6)
    assert P > 0  # the specs pad: a bare "full convolution" would be false for them
    size = "N" if dims == 1 else "H"
    for lang in LANGS:
        text = lectures[stem, lang]
        assert f"{size} + 2 P = {N + 2 * P}" in text, lang
        assert f"$P = {P}$" in text.split("## 3)")[1], lang
    en = lectures[stem, "en"]
    assert "With stride 1 this is a full convolution" not in en
    assert "The input: a full convolution" not in en
    assert "cut off on every side" in en
    assert ("“same” convolution" in en) == (S == 1 and 2 * P == F - 1)


# -- 2. mlp-backprop: the batch, the index k, J of one example ------------------------------------------


def test_mlp_backprop_says_what_the_averages_need_and_what_k_numbers(lectures):
    en = lectures["mlp-backprop", "en"]
    assert "the sums become averages" not in en
    assert "these sums divided by $m$" in en
    assert "the index $k$ those of the previous layer" not in en
    assert "layer $l + 1$ in the recurrence for the errors" in en
    # J with its 1/m and no sum over the examples is said to be one example's contribution, before it is shown
    one = en.index("is written for one example")
    assert one < en.index(r"J = \frac{1}{m} \sum_{q=1}")
    for lang in ("ru", "pl"):
        text = lectures["mlp-backprop", lang]
        assert "$l + 1$" in text.split("\n\n")[1] and "$m$" in text


# -- 3. mazur-2-2-2: σ before it is used, a named as h or o, the frozen biases -----------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_mazur_defines_sigma_before_the_forward_pass_uses_it(lectures, lang):
    text = lectures["mazur-2-2-2", lang]
    assert text.index(r"\sigma(z) = \frac{1}{1 + e^{- z}}") < text.index(r"\sigma(z_1)")
    assert "$a$" in text and "$h$" in text.split(r"\frac{d a}{d z}")[0].split("\n\n")[-2]


def test_mazur_says_only_the_weights_move(lectures):
    en = lectures["mazur-2-2-2", "en"]
    assert "Each parameter moves against its derivative" not in en
    assert "Each weight moves against its derivative" in en
    assert "Only the weights are updated: the biases $b^{[1]}$ and $b^{[2]}$ are frozen" in en
    assert "(here $a$ stands for $h$ or $o$)" in en


# -- 4. deep-composition: ŷ apart from y, the count that was computed ----------------------------------------


def test_deep_composition_names_the_output_apart_and_counts_what_it_checked(lectures):
    from derive.kinds import composition
    from derive.pipeline import Options, derive_spec

    en = lectures["deep-composition", "en"]
    first = en.split("$$")[1].strip()
    assert first.startswith(r"\hat{\boldsymbol y} = "), first
    assert r"L = \left\| \boldsymbol y - \boldsymbol f_{K} \right\|^2" in en
    outcome = derive_spec(ROOT / "specs" / "deep-composition.yaml", Options()).outcome
    checks = composition.check(outcome)
    n = len(checks)
    text = note(en)
    assert f"{n} products in all" in text
    shown = len(re.findall(r"\\theta_\{\d\}", text)) + len(re.findall(r"\$i = \d\$", text))
    assert shown == n, text
    assert "previous layer" not in en and "for the layer nearer the output" in en
    assert r"\boldsymbol \theta_{i}" in en and r"\theta_{j}" not in en


# -- 5. verification notes: the precision, of what, where ---------------------------------------------------


@pytest.mark.parametrize("stem", ["graph-add-mul", "graph-sin-cos-exp", "sigmoid-neuron", "composition-check",
                                  "linear-layer"])
def test_high_precision_notes_name_their_arithmetic(lectures, stem):
    from derive.numeric.precise import DPS

    en, ru, pl = (note(lectures[stem, lang]) for lang in LANGS)
    assert f"{DPS}-digit arithmetic" in en, en
    assert f"{DPS} значащими цифрами" in ru and f"arytmetyce {DPS}-cyfrowej" in pl
    if stem != "linear-layer":  # these have values: checked at the given point, the formulas at random points
        assert "random points" in en and "at the given point" in en, en


def test_no_note_differences_a_pass(lectures):
    for (stem, lang), text in lectures.items():
        if lang == "en" and "Checked" in text:
            assert "differences of the forward pass" not in text, stem
        if lang == "pl":
            assert "różnicowymi przejścia w przód" not in text, stem


@pytest.mark.parametrize("stem", ["conv1d", "conv2d", "layernorm", "attention-3-tokens", "rnn-3-steps"])
def test_russian_layer_notes_use_the_glossary_count(lectures, stem):
    text = note(lectures[stem, "ru"])
    assert "всего сравнений —" in text and "(сравнений —" not in text
    assert "и совпадает с центральными" not in text


# -- 6. the multiplication gate --------------------------------------------------------------------------


@pytest.mark.parametrize("stem", ["graph-add-mul", "sigmoid-neuron"])
def test_the_multiplication_gate_does_not_swap_its_inputs(lectures, stem):
    en = lectures[stem, "en"]
    assert "swaps its inputs" not in en
    assert "each input receives the upstream gradient times the other input's value" in en
    assert "меняются местами" not in lectures[stem, "ru"] and "zamienia" not in lectures[stem, "pl"]


# -- 7. the softmax Jacobian, and what the one-hot form applies to ------------------------------------------


@pytest.mark.parametrize("stem", ["softmax-ce", "course"])
def test_the_softmax_jacobian_is_stated_and_true(lectures, stem):
    row = r"\frac{\partial y_{k}}{\partial z_{j}} = y_{k} \left(1_{k=j} - y_{j}\right)"
    for lang in LANGS:
        assert row in lectures[stem, lang], lang
    z = np.array([0.3, -1.1, 0.8])

    def softmax(v):
        e = np.exp(v - v.max())
        return e / e.sum()

    y = softmax(z)
    for j in range(3):
        e = np.zeros(3)
        e[j] = 1e-6
        fd = (softmax(z + e) - softmax(z - e)) / 2e-6
        assert np.allclose(fd, y * ((np.arange(3) == j) - y[j]), atol=1e-8)
    en = lectures[stem, "en"]
    assert "keep the general form" in en


# -- 8. gelu-mae-decay: σ defined, φ for the weights only, one example's absolute error ---------------------


@pytest.mark.parametrize("lang", LANGS)
def test_gelu_lecture_defines_sigma_and_keeps_phi_for_the_weights(lectures, lang):
    text = lectures["gelu-mae-decay", lang]
    definition = r"\sigma(z) = \frac{1}{1 + e^{- z}}"
    assert definition in text and text.index(definition) < text.index(r"\sigma(v)")
    assert r"\varphi" not in text and r"\phi_0" in text
    assert {"en": "mean absolute", "ru": "средняя абсолютная", "pl": "średni błąd"}[lang] not in text
    if lang == "ru":
        assert "не дифференцируем" not in text and "недифференцируем" in text


# -- 9. one-sided derivatives, not limits -------------------------------------------------------------------


def test_no_lecture_speaks_of_one_sided_limits(lectures):
    wrong = {"en": "one-sided limits", "ru": "односторонние пределы", "pl": "granice jednostronne"}
    right = {"en": "one-sided derivatives", "ru": "односторонние производные", "pl": "pochodne jednostronne"}
    for (stem, lang), text in lectures.items():
        assert wrong[lang] not in text, (stem, lang)
    for lang in LANGS:
        assert right[lang] in lectures["leaky-relu", lang]


# -- 10. rnn: δ before it is used; no undefined n; no overstatement -----------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_rnn_defines_delta_before_using_it(lectures, lang):
    text = lectures["rnn-3-steps", lang]
    assert text.index(r"\delta_{s,p} = \partial L/\partial a_{s,p}") < text.index(r"\delta_{s + 1")
    assert "$n$" not in text
    assert r"\lVert W \rVert_2^{T-k}" in text


def test_rnn_does_not_overstate(lectures):
    assert "cannot learn" not in lectures["rnn-3-steps", "en"]
    assert "с трудом выучивает" in lectures["rnn-3-steps", "ru"]
    assert "nie może nauczyć" not in lectures["rnn-3-steps", "pl"]
    assert "It starts at the last step" not in lectures["rnn-3-steps", "en"]


# -- 11. residual: ∂J/∂g before the sums that begin with it; the forward pass's own names ---------------------


@pytest.mark.parametrize("lang", LANGS)
def test_residual_gives_the_highway_gradient_first(lectures, lang):
    text = lectures["residual-mlp", lang]
    assert text.index(r"\frac{\partial J}{\partial g_1} = ") < text.index(r"\frac{\partial J}{\partial h_1} = ")
    assert "f(z)" not in text and "f(u)" not in text
    assert r"h = a[z] + x" in text and r"g = \tanh(u) + h" in text


# -- 12. attention: the row vectors in bold, apart from the row index p ----------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_attention_writes_the_row_vectors_in_bold(lectures, lang):
    text = lectures["attention-3-tokens", lang]
    assert r"$p = \operatorname{softmax}(s)$" not in text
    assert r"$\mathbf{p} = \operatorname{softmax}(\mathbf{s})$" in text
