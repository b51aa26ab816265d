"""Sentences that agree with what they describe: one output or several, which layer an activation
belongs to, no reference to notes the reader does not have.

The expectations come from the specs themselves (how many outputs, which layer has which
activation), read here from the YAML, not from derive.
"""

from __future__ import annotations

from functools import cache

import pytest
import yaml

from conftest import ROOT
from derive.pipeline import Options, derive_spec, render
from derive.render.i18n import translations


@cache
def lecture(stem: str, lang: str) -> str:
    return render(derive_spec(ROOT / "specs" / f"{stem}.yaml", Options()), "md", lang, Options())


def spec(stem: str) -> dict:
    return yaml.safe_load((ROOT / "specs" / f"{stem}.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("lang", ["en", "ru", "pl"])
@pytest.mark.parametrize("stem", ["gelu-mae-decay", "softmax-ce"])
def test_the_loss_derivatives_agree_with_the_number_of_outputs(stem, lang):
    _ = translations(lang).gettext
    outputs = spec(stem)["layers"][-1]["units"]
    text = lecture(stem, lang)
    one = [_("Its derivative with respect to the output:"), _("The derivative of the loss with respect to the output:")]
    many = [_("Its derivatives with respect to the outputs:"),
            _("The derivatives of the loss with respect to the outputs:")]
    found = (any(m in text for m in one), any(m in text for m in many))
    assert found == (outputs == 1, outputs > 1), (outputs, lang)


@pytest.mark.parametrize("lang", ["en", "ru", "pl"])
def test_each_activation_names_its_layer(lang):
    _ = translations(lang).gettext
    layers = spec("gelu-mae-decay")["layers"]
    text = lecture("gelu-mae-decay", lang)
    assert _("The activation:") not in text
    for number, layer in enumerate(layers, start=1):  # three layers, three different activations
        assert text.count(_("The activation of layer %(n)s:") % {"n": number}) == 1, (number, layer["activation"])


# what a standalone reader does not have: another lecture ("see the lecture on the multilayer perceptron")
OTHER_LECTURE = {"en": "lecture", "ru": "лекци", "pl": "wykład"}


@pytest.mark.parametrize("lang", ["en", "ru", "pl"])
@pytest.mark.parametrize("stem", ["layernorm", "mlp-check"])
def test_a_lecture_stands_alone(stem, lang):
    assert OTHER_LECTURE[lang] not in lecture(stem, lang).lower()


def test_the_rnn_title_says_backpropagation_of_the_error():
    # «обратное распространение ошибки» is the Russian term (docs/glossary.md), in titles too
    glossary = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    assert "обратное распространение ошибки" in glossary
    assert "обратное распространение ошибки во времени" in spec("rnn-3-steps")["title"]["ru"]


@pytest.mark.parametrize("lang", ["en", "ru", "pl"])
def test_the_matrix_D_is_defined_before_the_formulas_that_follow_it(lang):
    # seed 002: D = ∂LOSS/∂W, D_{i,j} = ∂LOSS/∂W_{i,j}; a "where D = …" after a formula without D reads wrong
    text = lecture("sigmoid-layer", lang)
    definition = next(line for line in text.splitlines() if "$D = " in line and "D_{i,j}" in line)
    matrix_form = text.index(r"\frac{\partial \mathrm{LOSS}}{\partial W} = ")
    assert text.index(definition) < matrix_form, definition
    assert not definition[0].islower(), definition  # a sentence of its own, not a "where …" tail


@pytest.mark.parametrize("stem", ["leaky-relu", "sigmoid-bce", "gelu-mae-decay", "two-layer-relu"])
def test_every_activation_derivative_is_written_with_d(stem):
    # an activation is a function of one variable (α a constant): d f/d z for every one, and da/dz after dσ/dz
    import re

    text = lecture(stem, "en")
    section = text[: text.index("## 1)")]  # the notation part, before the derivatives of the network
    one_variable = re.findall(r"\\frac\{(d|\\partial) [^{}]*(?:\{[^{}]*\}[^{}]*)*\}\{(?:d|\\partial) z\}", section)
    assert one_variable and set(one_variable) == {"d"}, one_variable
