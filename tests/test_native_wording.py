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
    # both sums named with the forward pass's own activations, h = a[z] + x and g = tanh(u) + h (no undefined f)
    assert "= f(" not in about[0] and r"h = a[z] + x" in about[0] and r"g = \tanh(u) + h" in about[0]


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


# -- 4. small counts in words ------------------------------------------------------------------------

# the count of features as a lecturer writes it after "for" («для трёх признаков», „dla trzech cech”)
THREE_OBLIQUE = {"en": "three", "ru": "трёх", "pl": "trzech"}


@pytest.mark.parametrize("lang", LANGS)
def test_the_layernorm_note_writes_its_small_count_in_words(lang):
    features = spec("layernorm")["features"]
    assert features == 3
    note = next(p for p in paragraphs(lecture("layernorm", lang)) if "%" not in p and "10^{" in p)
    assert f" {THREE_OBLIQUE[lang]} " in note and f" {features} " not in note, note


@pytest.mark.parametrize("lang", ["ru", "pl"])
def test_a_subject_count_is_nominative_and_keeps_a_gendered_digit(lang):
    from derive.render.i18n import count_in_words

    # the subject («всего их семь», „jest ich siedem”), not the oblique form («семи», „siedmiu”)
    assert count_in_words(7, lang, "nominative") == {"ru": "семь", "pl": "siedem"}[lang]
    assert count_in_words(7, lang) == {"ru": "семи", "pl": "siedmiu"}[lang]
    assert count_in_words(2, lang, "nominative") == "2"  # два/две, dwa/dwie: the noun decides
    assert count_in_words(12, lang, "nominative") == "12"


# -- 5. every boxed result has its sentence ----------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("stem", ["conv1d", "conv2d"])
def test_the_bias_gradient_of_a_convolution_is_introduced(stem, lang):
    parts = paragraphs(lecture(stem, lang))
    at = next(i for i, p in enumerate(parts) if p.startswith("$$") and r"\partial b_{k}} =" in p)
    before = parts[at - 1]
    assert not before.startswith("$$") and before.endswith(":") and "$b_{k}$" in before, before


# -- 6. wording --------------------------------------------------------------------------------------


def test_the_loss_derivative_names_the_loss_after_the_decay_and_kink_notes():
    assert "weight_decay" in spec("gelu-mae-decay")  # the paragraphs in between: decay and the |·| kink
    text = lecture("gelu-mae-decay", "en")
    assert "The derivative of the loss with respect to the output:" in text
    assert "Its derivative with respect to the output:" not in text


def test_the_mlp_lecture_wording():
    text = lecture("mlp-backprop", "en")
    assert "one-sided derivatives are" in text and "difference quotients" not in text
    assert "an affine function of the activations" in text and "linear map" not in text
    assert "rewritten in terms of the sigmoid itself" in text and "then written with" not in text
    # the identity solved is named, as printed in the row above it
    assert r"Solving the identity $\tanh(z) = 2 \sigma(2 z) - 1$ for $\sigma(2 z)$" in text  # one is shown: not "the first"
    assert "$$\n" + r"\tanh(z) = 2 \sigma(2 z) - 1" + "\n$$" in text


@pytest.mark.parametrize("lang", LANGS)
def test_a_gate_sentence_names_the_node_and_has_one_colon(lang):
    from derive.render.i18n import translations

    text = lecture("graph-add-mul", lang)
    node = translations(lang).gettext("The node $%(node)s$ is a multiplication gate: its local derivative with "
                                      "respect to one input is the value of the other input, so each input receives "
                                      "the upstream gradient times the other input's value. The gradient sent to "
                                      "$%(a)s$ is the upstream gradient times $%(b)s$, and the gradient sent to "
                                      "$%(b)s$ is the upstream gradient times $%(a)s$.").split("$")[0]
    gates = [p for p in paragraphs(text) if p.startswith(node)]
    assert gates, node
    for p in gates:
        for sentence in p.split(". "):
            assert sentence.count(":") <= 1, sentence


def test_one_size_is_a_size():
    for stem in ("linear-layer",):  # the one spec in index notation: W, x and theta share the size n
        shapes = spec(stem).get("shapes", {})
        sizes = {s for shape in shapes.values() for s in shape if isinstance(s, str)}
        note = next(p for p in paragraphs(lecture(stem, "en")) if p.startswith("Checked:"))
        assert ("with the size " in note) == (len(sizes) == 1) and ("with the sizes " in note) == (len(sizes) > 1)
        assert ", the largest" not in note


def test_two_sizes_are_listed_with_and(tmp_path):
    path = tmp_path / "two-sizes.yaml"
    path.write_text("kind: graph\nshapes: {W: [n, p], x: [p]}\nnodes:\n  f: W x\noutput: f\n", encoding="utf-8")
    text = render(derive_spec(path, Options()), "md", "pl", Options())
    note = next(p for p in paragraphs(text) if p.startswith("Sprawdzenie"))
    assert "$n = 3$ i $p = 2$" in note or "$p = 2$ i $n = 3$" in note, note


@pytest.mark.parametrize("stem", ["mlp-check", "sigmoid-layer"])
def test_the_n_of_a_sum_is_said(stem):
    import re

    parts = paragraphs(lecture(stem, "en"))
    sums = [i for i, p in enumerate(parts) if p.startswith("$$") and r"\sum_{k=1}^{n}" in p]
    assert sums
    said = set()
    for i in sums:
        # the layer k runs over: that of z_k (or f_k), or of δ_k in a δ written by index
        layer = re.search(r"(?:z|\\delta)(?:\^\{\[(\d+)\]\})?_\{k\}|f_\{k\}", parts[i])
        after = next(p for p in parts[i + 1:] if not p.startswith("$$"))
        match = re.match(r"where \$n\$ is the number of units of layer (\d+) \(the length of", after)
        key = layer.group(1) if layer and layer.group(1) else "1"
        if match:
            assert match.group(1) == key
            said.add(key)
        else:
            assert key in said, (parts[i], after)  # said once for the layer, above
    units = [layer["units"] for layer in spec(stem)["layers"]]
    assert said and all(1 <= int(k) <= len(units) for k in said)


@pytest.mark.parametrize("lang", LANGS)
def test_the_notebook_names_no_tool_in_its_prose(tmp_path, lang):
    import json

    result = CliRunner().invoke(main, [str(ROOT / "specs" / "two-layer-relu.yaml"), "--format", "ipynb",
                                       "--lang", lang])
    assert result.exit_code == 0, result.output
    cells = json.loads(result.output)["cells"]
    prose = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert "numpy" not in prose.lower()
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "relative error" not in code and {"en": "relative difference", "ru": "относительное расхождение",
                                             "pl": "różnica względna"}[lang] in code


# -- 7. slides: a step stays whole on its frame ------------------------------------------------------

FRAME = r"\\begin\{frame\}\[shrink\]\{(.*?)\}(?:\{(.*?)\})?\n(.*?)\\end\{frame\}"
# paragraphs that go on from the formula before them: they never open a frame
BACK_REFERENCES = ["Its derivative:", "In vector form:", "In terms of the activation $%(a)s$:",
                   "In terms of the activation $%(a)s$ itself, as it is used below:",
                   "Here, by definition,",
                   "Solving the identity $%(identity)s$ for $%(target)s$ and substituting back:"]


@cache
def slides(stem: str, lang: str) -> list[tuple[str, str, str]]:
    import re

    result = CliRunner().invoke(main, [str(ROOT / "specs" / f"{stem}.yaml"), "--document", "slides",
                                       "--format", "tex", "--lang", lang])
    assert result.exit_code == 0, result.output
    return re.findall(FRAME, result.output, re.S)


def _plain(block: str) -> str:
    import re

    return re.sub(r"^(\\item\s*|\\begin\{itemize\}\s*|\\[a-z]+\{)+", "", block.strip())


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("stem", ["mlp-backprop", "two-layer-relu"])
def test_no_frame_ends_with_a_lead_in_or_a_heading(stem, lang):
    for title, _sub, body in slides(stem, lang):
        last = [b for b in body.strip().split("\n\n") if b.strip()][-1].strip()
        assert not last.rstrip("}").endswith(":"), (title, last)  # "The loss:" with its formula
        assert not (last.startswith(r"\textbf{") and last.endswith("}") and "\n" not in last), (title, last)
        assert not last.startswith((r"\section", r"\subsection")), (title, last)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("stem", ["mlp-backprop", "two-layer-relu"])
def test_no_frame_starts_with_a_continuation(stem, lang):
    from derive.render.i18n import translations

    _ = translations(lang).gettext
    openers = [_(m).split("$")[0].split("%(")[0].strip() for m in BACK_REFERENCES]
    assert all(openers)
    for title, _sub, body in slides(stem, lang):
        first = _plain(body.strip().split("\n\n")[0])
        if body.lstrip().startswith((r"\begin{center}", r"\begin{equation")):
            continue  # a figure's frame; a step too long for one frame goes on between its equations
        assert not first[:1].islower(), (title, first[:80])  # a sentence going on from the frame before
        assert not any(first.startswith(o) for o in openers), (title, first[:80])


@pytest.mark.parametrize("lang", LANGS)
def test_the_mlp_deck_is_short_and_its_titles_carry_no_gloss(lang):
    import re

    from derive.core.languages import language

    frames = slides("mlp-backprop", lang)
    assert len(frames) <= 35
    # the headings gloss their terms in English: „Przejście w przód (ang. forward pass)”, «Прямой проход
    # (forward pass)»; the notes keep the gloss, the frame titles leave it out
    gloss = {"en": None, "ru": "(forward pass)", "pl": "(ang. forward pass)"}[lang]
    assert "…" in language(lang).gloss or gloss is None
    if gloss:
        notes = CliRunner().invoke(main, [str(ROOT / "specs" / "mlp-backprop.yaml"), "--format", "tex",
                                          "--lang", lang]).output
        assert gloss in notes
        titles = [title for title, _sub, _body in frames]
        assert titles and not any(gloss in title for title in titles), titles
        opening = gloss.split("forward")[0]  # "(ang. " or "(": every glossed heading of the notes
        glossed = re.findall(r"\\section\{[^}\n]*(" + re.escape(opening) + r"[A-Za-z ]+\))\}", notes)
        assert len(glossed) >= 2 and not any(g in title for g in glossed for title in titles), glossed


def test_a_case_split_over_frames_names_its_case():
    frames = slides("mlp-backprop", "en")
    cases = ("The loss:", "For a one-hot target")  # steps of the cross-entropy case
    opened = [(title, sub) for title, sub, body in frames if _plain(body.strip().split("\n\n")[0]).startswith(cases)]
    assert all(sub == "Cross-entropy with softmax" for _title, sub in opened), opened


@pytest.mark.parametrize("lang", LANGS)
def test_an_ambiguous_key_names_its_readings_with_or(lang):
    import sympy as sp

    from derive.grading.answers import _key
    from derive.grading.check import REFUSED, Words

    names = {"W_12": sp.Symbol("W_12"), "W1_2": sp.Symbol("W1_2")}  # both squeeze to W12
    name, (code, args) = _key("W12", names)
    assert name is None and code == "key_ambiguous"
    text = Words(lang)(REFUSED[code], **args)
    assert f"W_12 {OR[lang]} W1_2" in text, text


@pytest.mark.parametrize("lang", ["en", "ru", "pl"])
def test_an_introducing_sentence_is_not_repeated_word_for_word(cli, lang):
    # linear-layer said «Покомпонентно, после подстановки локальных производных самого выхода:» before W and
    # again before x (the Russian reviewer's finding); the second time it says "Likewise, componentwise:"
    result = cli(ROOT / "specs" / "linear-layer.yaml", "--lang", lang)
    assert result.exit_code == 0
    intros = [line for line in result.stdout.splitlines() if line.endswith(":") and not line.startswith(("$", "#", "\\"))]
    repeated = {line for line in intros if intros.count(line) > 1}
    assert not repeated, repeated


# -- the fifth native review (s5-style) ----------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("stem", ["mlp-check", "sigmoid-layer"])
def test_matrix_steps_read_as_one_sentence(stem, lang):
    parts = paragraphs(lecture(stem, lang))
    # no lead-in that ends with a colon and is followed by more prose instead of its formula
    for here, after in zip(parts, parts[1:]):
        if not here.startswith(("$$", "#", "*", "---")) and here.endswith(":"):
            assert after.startswith("$$"), (here, after)
    text = "\n".join(parts)
    # "Since … therefore" over three paragraphs (a pleonasm in Polish, „ponieważ … więc”)
    words = {"en": ["Because", "therefore, in matrix form"], "ru": ["Поскольку", "то в матричной форме"],
             "pl": ["Ponieważ", "więc w postaci macierzowej"]}[lang]
    assert not [w for w in words if w in text]
    # the derivative of the loss, said so
    assert {"en": "the derivative of the loss with respect to the output layer's pre-activation",
            "ru": "производная функции потерь по преактивации выходного слоя",
            "pl": "pochodna funkcji straty względem preaktywacji warstwy wyjściowej"}[lang] in text
    # the columns of Δ are what the lecture defined, not "errors" it never introduced
    assert {"en": "errors of the individual", "ru": "ошибки отдельных", "pl": "błędy poszczególnych"}[lang] not in text


def test_polish_single_words():
    bce = lecture("sigmoid-bce", "pl")  # z^{[2]} is one number: one derivative
    assert "Najpierw wyznaczmy pochodną cząstkową $J$ względem $z^{[2]}$ (obliczamy ją raz" in bce
    assert "pochodne cząstkowe $J$ względem $z^{[2]}$" not in bce
    mlp = lecture("mlp-backprop", "pl")
    assert "ze wzoru na pochodną ilorazu" in mlp and "z reguły pochodnej ilorazu" not in mlp
    assert "Z tej tożsamości" in mlp and "Z pierwszej tożsamości" not in mlp
    two = lecture("two-layer-relu", "pl")  # two nodes: the plural stays
    assert "pochodne cząstkowe $y$ względem $h_1$ i $h_2$" in two


def test_russian_single_words():
    mlp = lecture("mlp-backprop", "ru")
    assert "принят на веру" not in mlp and "антиградиент" not in mlp
    assert "против градиента" in mlp  # the one name of the direction, said once


@pytest.mark.parametrize("lang", LANGS)
def test_mlp_check_defines_its_hidden_activation_and_derives_delta_by_index(lang):
    text = lecture("mlp-check", lang)
    # ReLU, from the spec's activation entry, before δ^{[1]} uses its derivative I[z > 0]
    definition = "$$\n" + r"a[z] = \max\left(0, z\right)" + "\n$$"
    derivative = "$$\n" + r"\frac{d a[z]}{d z} = I[z>0]" + "\n$$"
    index_form = r"\delta^{[1]}_{j} = \left(\sum_{k=1}^{n} \delta^{[2]}_{k} W^{[2]}_{k,j}\right) \, I[z^{[1]}_{j}>0]"
    assert text.index(definition) < text.index(derivative) < text.index(index_form) < text.index(r"\boxed{\delta^{[1]} =")
    joins = {"en": "is the weight that joins unit $j$ of layer 1 to unit $k$ of layer 2",
             "ru": "— вес связи нейрона $j$ слоя 1 с нейроном $k$ слоя 2",
             "pl": "to waga połączenia neuronu $j$ warstwy 1 z neuronem $k$ warstwy 2"}[lang]
    assert f"$W^{{[2]}}_{{k,j}}$ {joins}" in text
