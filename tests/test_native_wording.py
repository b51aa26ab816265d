"""What the final native reviews (en, pl) found outside the catalogs: a false statement about a kink,
lists written as a program prints them ("layers 1, 2"), suggestions joined by commas, counts in digits.

The expectations come from independent sources: the activations' textbook definitions differentiated by
finite differences here, the specs' YAML, and the grammar of each language (its word for "and" / "or").
"""

from __future__ import annotations

import math
from functools import cache

import pytest
import yaml
from click.testing import CliRunner

from conftest import ROOT
from derive.cli import main
from derive.pipeline import Options, derive_spec, render

LANGS = ["en", "ru", "pl"]
AND = {"en": "and", "ru": "и", "pl": "i"}
OR = {"en": "or", "ru": "или", "pl": "lub"}


@cache
def lecture(stem: str, lang: str) -> str:
    return render(derive_spec(ROOT / "specs" / f"{stem}.yaml", Options()), "md", lang, Options())


def spec(stem: str) -> dict:
    return yaml.safe_load((ROOT / "specs" / f"{stem}.yaml").read_text(encoding="utf-8"))


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


# -- 1. the kink of ELU and leaky ReLU exists only for α ≠ 1 ------------------------------------------

# the textbook definitions, written here (not derive's): f(z) for z > 0 and for z <= 0
TEXTBOOK = {
    "leaky_relu": lambda z, a: z if z > 0 else a * z,
    "elu": lambda z, a: z if z > 0 else a * (math.exp(z) - 1),
}


def _one_sided_derivatives(f, alpha: float, h: float = 1e-6) -> tuple[float, float]:
    return (f(h, alpha) - f(0.0, alpha)) / h, (f(0.0, alpha) - f(-h, alpha)) / h


@pytest.mark.parametrize("name", sorted(TEXTBOOK))
def test_the_reference_kink_vanishes_at_alpha_one(name):
    right, left = _one_sided_derivatives(TEXTBOOK[name], 1.0)
    assert right == pytest.approx(left, abs=1e-5)  # differentiable at 0 when α = 1
    right, left = _one_sided_derivatives(TEXTBOOK[name], 0.5)
    assert abs(right - left) > 0.1  # a real kink otherwise


KINK_WORDS = {"en": "not defined", "ru": "не определена", "pl": "nie jest określona"}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("stem", ["leaky-relu", "gelu-mae-decay"])
def test_a_symbolic_alpha_kink_is_stated_with_its_condition(stem, lang):
    kinked = [layer for layer in spec(stem)["layers"] if layer["activation"] in TEXTBOOK]
    assert kinked and all(isinstance(layer["alpha"], str) for layer in kinked)  # α stays a symbol
    notes = [p for p in paragraphs(lecture(stem, lang)) if KINK_WORDS[lang] in p and "z = 0" in p]
    assert len(notes) == len(kinked), notes
    for note in notes:  # the reference above: the kink is there exactly when α ≠ 1
        assert r"$\alpha \neq 1$" in note, note


@pytest.mark.parametrize("lang", LANGS)
def test_relu_kink_is_stated_without_a_condition(lang):
    notes = [p for p in paragraphs(lecture("two-layer-relu", lang)) if KINK_WORDS[lang] in p]
    assert len(notes) == 1 and r"\neq" not in notes[0]


# -- 2. lists in sentences: "layers 1 and 2" -------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_layers_sharing_an_activation_are_listed_with_and(lang):
    layers = spec("two-layer-relu")["layers"]
    same = [n for n, layer in enumerate(layers, start=1) if layer["activation"] == layers[0]["activation"]]
    assert len(same) == 2
    text = lecture("two-layer-relu", lang)
    assert f"{same[0]} {AND[lang]} {same[1]}:" in text
    assert f"{same[0]}, {same[1]}" not in text


@pytest.mark.parametrize("lang", LANGS)
def test_residual_layers_share_one_paragraph(lang):
    residual = [n for n, layer in enumerate(spec("residual-mlp")["layers"], start=1) if layer.get("residual")]
    assert len(residual) == 2
    text = lecture("residual-mlp", lang)
    about = [p for p in paragraphs(text) if "ResNet" in p]
    assert len(about) == 1, about
    assert f"{residual[0]} {AND[lang]} {residual[1]}" in about[0]
    assert about[0].count("= f(") == 2  # both sums named, h = f(z) + x and g = f(u) + h


@pytest.mark.parametrize("lang", LANGS)
def test_section_headings_list_the_families_with_and(lang):
    layers = spec("residual-mlp")["layers"]
    headings = [line for line in lecture("residual-mlp", lang).splitlines() if line.startswith("## ")]
    assert len(headings) == len(layers)
    for line in headings:  # each layer's weights and bias: "$U$ and $\beta$"
        assert f"$ {AND[lang]} $" in line and "$, $" not in line, line


def test_three_items_take_commas_then_and():
    from derive.render.i18n import join_list

    assert join_list(["3", "4", "2"], "and", "pl") == "3, 4 i 2"
    assert join_list(["a", "b", "c"], "or", "ru") == "a, b или c"
    assert join_list(["a"], "or", "ru") == "a"
    assert join_list(["x", "y"], "and", "en", math=True) == "$x$ and $y$"


# -- 3. "did you mean a or b?" ----------------------------------------------------------------------


def _check(tmp_path, answers: dict, lang: str) -> str:
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump({"student": "A", "answers": answers}, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(ROOT / "specs" / "two-layer-relu.yaml"), str(path),
                                       "--lang", lang])
    return result.output


@pytest.mark.parametrize("lang", LANGS)
def test_suggested_names_are_joined_with_or(tmp_path, lang):
    # theta_1 is close to several names of the spec (theta_11, theta_12, …): the suggestions end in "or"
    out = _check(tmp_path, {"phi_1": "theta_1 x"}, lang)
    line = next(line for line in out.splitlines() if "theta_1" in line and "?" in line)
    suggestions = line.rsplit("?", 1)[0]
    assert f" {OR[lang]} " in suggestions, line


@pytest.mark.parametrize("lang", LANGS)
def test_suggested_keys_are_joined_with_or(tmp_path, lang):
    out = _check(tmp_path, {"theta1": "x"}, lang)
    line = next(line for line in out.splitlines() if "theta1" in line and "?" in line)
    assert f" {OR[lang]} " in line, line
