"""The defects a native English lecturer found outside the catalogs (docs/review-en, issue 15).

Each expectation is computed from the spec or from a textbook definition, never copied from
derive's own output: the value of f' at a kink is the one-sided derivative of the activation's
definition, a count is spelt by the language's count words, and so on.
"""

from __future__ import annotations

import re

import pytest
import sympy as sp
import yaml

from conftest import LANGS, ROOT, SPECS
from derive.pipeline import Options, derive_spec, render


@pytest.fixture(scope="module")
def lectures() -> dict:
    """(spec stem, lang) -> the Markdown of every example spec in every language."""
    out = {}
    for spec in SPECS:
        result = derive_spec(spec, Options())
        for lang in LANGS:
            out[spec.stem, lang] = render(result, "md", lang, Options())
    return out


def _spec(stem: str) -> dict:
    return yaml.safe_load((ROOT / "specs" / f"{stem}.yaml").read_text(encoding="utf-8"))


# -- 1. what backpropagation uses at a kink -------------------------------------------------

Z, ALPHA = sp.Symbol("z", real=True), sp.Symbol("alpha", real=True)
# The textbook definitions (not derive's): f' at 0 as backpropagation takes it is the slope on the
# left, the side the printed indicator I[z <= 0] puts z = 0 on.
DEFINITIONS = {
    "relu": sp.Piecewise((Z, Z > 0), (0, True)),
    "leaky_relu": sp.Piecewise((Z, Z > 0), (ALPHA * Z, True)),
    "elu": sp.Piecewise((Z, Z > 0), (ALPHA * (sp.exp(Z) - 1), True)),
}


def _slope_on_the_left(name: str) -> sp.Expr:
    return sp.diff(DEFINITIONS[name].args[1][0], Z).subs(Z, 0)


@pytest.mark.parametrize("stem", ["two-layer-relu", "leaky-relu", "gelu-mae-decay"])
def test_the_value_at_the_kink_is_what_the_printed_derivative_gives(stem, lectures):
    kinked = list(dict.fromkeys(layer["activation"] for layer in _spec(stem)["layers"]
                                if layer["activation"] in DEFINITIONS))  # each activation is described once
    sentences = re.findall(r"At \$z = 0\$ the derivative is not defined;[^\n]*", lectures[stem, "en"])
    assert len(sentences) == len(kinked), sentences
    for name, sentence in zip(kinked, sentences):
        value = _slope_on_the_left(name)
        assert f"there, ${sp.latex(value)}$," in sentence, (name, sentence)
    if any(_slope_on_the_left(name) != 0 for name in kinked):
        assert "uses the value 0" not in lectures[stem, "en"]
    for lang in ("ru", "pl"):  # the translations carry the value too
        assert lectures[stem, lang].count(f"${sp.latex(_slope_on_the_left(kinked[0]))}$") >= 1


# -- 2. "away from the kinks" only where there are kinks --------------------------------------

KINKED_FUNCTIONS = ("relu", "leaky_relu", "elu", "abs", "max", "min", "step")


def _has_kinks(stem: str) -> bool:
    """From the spec's text: an activation or a graph node using a function with a kink."""
    text = (ROOT / "specs" / f"{stem}.yaml").read_text(encoding="utf-8")
    body = "\n".join(line.split("#")[0] for line in text.splitlines())
    return any(re.search(rf"\b{name}\b", body) for name in KINKED_FUNCTIONS)


@pytest.mark.parametrize("stem", ["sigmoid-bce", "softmax-ce", "sigmoid-neuron", "composition-check",
                                  "graph-add-mul", "two-layer-relu", "leaky-relu"])
def test_away_from_the_kinks_only_when_there_are_kinks(stem, lectures):
    words = {"en": "away from the kinks", "ru": "вдали от точек излома", "pl": "z dala od punktów załamania"}
    for lang in LANGS:
        text = lectures[stem, lang]
        assert (words[lang] in text) == _has_kinks(stem), (stem, lang)
        assert re.search({"en": "Checked", "ru": "Проверка", "pl": "Sprawdzenie"}[lang], text)
