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
    sentences = re.findall(r"(?:At \$z = 0\$ the derivative is not defined|For [^\n;]* the derivative is not "
                           r"defined at \$z = 0\$)[^\n]*", lectures[stem, "en"])
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


# -- 3. counts in words, percentages as the language writes them --------------------------------


def _points(stem: str) -> int:
    """How many random points the verification used, from the contract's JSON."""
    import json

    result = derive_spec(ROOT / "specs" / f"{stem}.yaml", Options())
    return json.loads(render(result, "json", "en", Options()))["verification"]["points"]


@pytest.mark.parametrize("stem", ["rnn-3-steps", "conv1d", "conv2d", "layernorm", "attention-3-tokens"])
def test_layer_kinds_count_their_points_in_words(stem, lectures):
    from derive.render.i18n import count_in_words

    n = _points(stem)
    assert 1 <= n <= 10  # a small count: the lecturer writes it as a word
    for lang in LANGS:
        text = lectures[stem, lang]
        word = count_in_words(n, lang)
        assert re.search(rf"\b{word}\b", text), (stem, lang)
        assert not re.search(r"(at|в|w) \d+ (random|случайных|losowych)", text), (stem, lang)


def test_one_softmax_row_counts_its_entries_in_words(lectures):
    from derive.render.i18n import count_in_words

    tokens = _spec("attention-3-tokens")["tokens"]
    assert f"of {count_in_words(tokens, 'en')} entries, where" in lectures["attention-3-tokens", "en"]
    assert f"из {count_in_words(tokens, 'ru')} элементов" in lectures["attention-3-tokens", "ru"]


def test_the_vector_view_counts_its_batch_in_words(cli):
    result = cli(ROOT / "specs" / "sigmoid-layer.yaml", "--view", "vector")
    assert result.exit_code == 0, result.output
    assert re.search(r"on a batch of (two|three|four|five|six|seven|eight|nine|ten) examples", result.stdout)
    assert not re.search(r"batch of \d+ examples", result.stdout)


@pytest.mark.parametrize("lang", LANGS)
def test_the_quiz_writes_the_tolerance_as_the_language_writes_a_percentage(lang, cli, tmp_path):
    from babel.numbers import format_percent  # CLDR's pattern, not derive's

    result = cli("quiz", ROOT / "specs" / "graph-add-mul.yaml", "--lang", lang, "-o", tmp_path)
    assert result.exit_code == 0, result.output
    sheet = (tmp_path / "graph-add-mul.md").read_text(encoding="utf-8")
    tolerance = _spec("graph-add-mul").get("tolerance", 0.005)
    assert format_percent(tolerance, "#,##0.##%" if lang != "ru" else "#,##0.##\xa0%", locale=lang) in sheet
    assert "0.5 %" not in sheet


# -- 4. the check report: each thing said once, lists and labels as sentences -------------------


def _check(cli, tmp_path, spec, answers: dict, *args):
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump({"student": "S", "answers": answers}, allow_unicode=True), encoding="utf-8")
    return cli("check", spec, path, *args)


def test_a_refused_key_is_called_not_graded_once(cli, tmp_path):
    spec = ROOT / "specs" / "two-layer-relu.yaml"
    for lang, label in (("en", "not graded"), ("ru", None), ("pl", None)):
        out = _check(cli, tmp_path, spec, {"theta_99": "x", "phi_1": "g_1"}, "--lang", lang).stdout
        line = next(l for l in out.splitlines() if "theta_99" in l)
        if label:
            assert line.count(label) == 1, line
        assert not re.search(r"This answer was not graded|Этот ответ не проверялся|nie została sprawdzona", line)


def test_a_long_list_of_questions_ends_with_how_many_more(cli, tmp_path):
    spec = ROOT / "specs" / "two-layer-relu.yaml"
    data = _check(cli, tmp_path, spec, {"nonsense": "x"}, "--format", "json")
    import json

    from derive.grading.check import Engine

    keys = Engine(str(spec)).grader(None)[0].keys()  # every name a key may give
    feedback = json.loads(data.stdout)["refused"][0]["feedback"]
    assert "…" not in feedback
    listed = feedback.split(": ", 1)[1].split(" and ")[0].split(", ")
    assert len(keys) > len(listed) and listed == keys[:len(listed)]
    assert feedback.endswith(f" and {len(keys) - len(listed)} more."), feedback


def test_the_class_summary_labels_are_sentences(cli, tmp_path):
    spec = ROOT / "specs" / "two-layer-relu.yaml"
    paths = []
    for i, answers in enumerate(({"phi_1": "g_1 +"}, {"phi_1": "sinh(g_1) * 17"})):
        p = tmp_path / f"s{i}.yaml"
        p.write_text(yaml.safe_dump({"student": f"S{i}", "answers": answers}), encoding="utf-8")
        paths.append(p)
    for lang in LANGS:
        out = cli("check", spec, *paths, "--lang", lang).stdout
        summary = out[out.index(":\n", out.rindex("\n\n")):] if "\n\n" in out else out
        labels = re.findall(r"\d+ × (.+)", summary)
        assert labels, out
        for label in labels:
            assert label[0].isupper() and label.rstrip()[-1] in ".?!", (lang, label)


@pytest.mark.parametrize(("answer", "label"), [("phi_2 I[u_2 > 0] hh_2", "Unknown name: hh_2"),
                                                ("phi_2 I[u_2 > 0] hh_2 qq_7", "Unknown names: hh_2, qq_7"),
                                                ("foo", "Unknown name: foo."), ("foo + bar", "Unknown names: foo, bar.")])
def test_unknown_names_agree_in_number(answer, label, cli, tmp_path):
    out = _check(cli, tmp_path, ROOT / "specs" / "two-layer-relu.yaml", {"psi_22": answer}).stdout
    assert label in out and "name(s)" not in out
    ru = _check(cli, tmp_path, ROOT / "specs" / "two-layer-relu.yaml", {"psi_22": answer}, "--lang", "ru").stdout
    assert ("Неизвестное имя:" in ru) == label.startswith("Unknown name:"), ru


# -- 5. slides: a frame holds whole steps -----------------------------------------------------------

FRAME = re.compile(r"\\begin\{frame\}(?:\[[^\]]*\])?\{[^}]*\}(?:\{[^\n]*\})?\n(.*?)\\end\{frame\}", re.S)  # {title}{subtitle}
DISPLAY = re.compile(r"\\begin\{equation\*\}.*?\\end\{equation\*\}", re.S)


def _slides(stem: str, lang: str) -> list[str]:
    from derive.render.document import latex

    result = derive_spec(ROOT / "specs" / f"{stem}.yaml", Options(document="slides"))
    return FRAME.findall(latex(result, lang, Options(document="slides")))


def _prose(frame: str) -> str:
    """The frame's text without its displays and list markup."""
    text = DISPLAY.sub("", frame)
    text = re.sub(r"\\(begin|end)\{itemize\}|\\item", "", text)
    return " ".join(text.split())


@pytest.mark.parametrize("lang", LANGS)
def test_mlp_slides_hold_whole_steps(lang):
    frames = _slides("mlp-backprop", lang)
    assert len(frames) <= 35, len(frames)
    for body in frames:
        prose = _prose(body)
        if not DISPLAY.search(body):  # a frame of prose alone is not one lead-in sentence
            sentences = [s for s in re.split(r"(?<=[.:!?])\s+(?=[A-ZА-ЯЁŁŚŻ\\$])", prose) if s]
            assert not (len(sentences) == 1 and prose.rstrip("}").endswith(":")), prose[:120]
        last = DISPLAY.split(body)[-1].strip()  # what follows the frame's last display
        assert not _prose(last).rstrip("}").endswith(":"), f"a lead-in parted from its formula: {last[-120:]}"
        assert not re.match(r"\s*\\begin\{equation\*\}", body), f"a frame opens with a bare formula: {body[:120]}"


@pytest.mark.parametrize("lang", LANGS)
def test_a_sub_step_title_opens_its_frame(lang):
    """The bias step's title (the last item of the weights' list in the Markdown) is on the frame of its derivation."""
    for body in _slides("mlp-backprop", lang):
        tail = DISPLAY.split(body)[-1].strip()  # a frame does not end with a title whose derivation is on the next
        assert not re.search(r"\\item \\textbf\{[^\n]*\}\s*\\end\{itemize\}\s*$", tail), tail[-160:]


def test_markdown_carries_no_slide_marks(lectures):
    from derive.render.tex import KEEP

    assert not [stem for (stem, _lang), text in lectures.items() if KEEP in text]


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_spec_makes_slides(spec):
    """The frame splitter handles every spec's blocks (figures, lists, lead-ins), in frames of whole steps."""
    from derive.render.document import latex

    source = latex(derive_spec(spec, Options(document="slides")), "en", Options(document="slides"))
    frames = FRAME.findall(source)
    assert frames and all(body.strip() for body in frames)


# -- 6. formulas in the order and grouping lecturers write them ------------------------------------


def test_bce_gradient_is_collected_over_its_denominators(lectures):
    """∂J/∂a of BCE: one fraction per denominator, equal to the derivative of the loss (checked here with
    SymPy from the loss's definition, not from derive's rows)."""
    text = lectures["mlp-backprop", "en"]
    line = next(l for l in text.splitlines() if l.startswith(r"\frac{\partial J}{\partial a_{j}^{[L]}} = \frac{1}{m} \left(\frac{")
                and "1 - a_{j}^{[L]}" in l)
    first = line.split(" = ")[1]
    assert first.count(r"{1 - a_{j}^{[L]}}") == 1, first  # (1 − y)/(1 − a), not 1/(1 − a) − y/(1 − a)
    A, Y, M = sp.symbols("a y m", positive=True)
    loss = -(Y * sp.log(A) + (1 - Y) * sp.log(1 - A)) / M
    assert sp.simplify(sp.diff(loss, A) - ((1 - Y) / (1 - A) - Y / A) / M) == 0
    assert r"\frac{1 - y_{j}}{1 - a_{j}^{[L]}} - \frac{y_{j}}{a_{j}^{[L]}}" in first


def test_batch_norm_variance_derivative_keeps_its_constant_apart(lectures):
    text = lectures["mlp-backprop", "en"]
    line = next(l for l in text.splitlines() if l.startswith(r"\frac{\partial \sigma^2_{B,k}}{\partial z_{k}^{(i)}} ="))
    Z, MU, BB = sp.symbols("z mu B", positive=True)
    zs = sp.symbols("z1:4")
    var = sum((zz - sum(zs) / 3) ** 2 for zz in zs) / 3  # B = 3: ∂σ²/∂z_1 = (2/B)(z_1 − μ)
    assert sp.simplify(sp.diff(var, zs[0]) - sp.Rational(2, 3) * (zs[0] - sum(zs) / 3)) == 0
    assert line.split(" = ")[1].startswith(r"\frac{2}{B} \left(z_{k}^{(i)} - \mu_{B,k}\right)"), line


def test_no_title_points_to_a_lecture_the_reader_may_not_have():
    for spec in SPECS:
        titles = (_spec(spec.stem).get("title") or {}).values()
        assert not [t for t in titles if re.search(r"as in the .* lecture|как в лекции|jak w wykładzie", t)], spec.stem


def test_numbers_are_substituted_in_the_order_the_formula_is_written(lectures):
    """Mazur's z_1 = W11 i1 + W12 i2 + b: the numbers follow the terms as printed (the spec's values)."""
    values = _spec("mazur-2-2-2")["values"]
    names = {r"W^{[1]}_{11}": "W1_11", r"W^{[1]}_{12}": "W1_12", r"W^{[1]}_{21}": "W1_21", r"W^{[1]}_{22}": "W1_22",
             "i_1": "i_1", "i_2": "i_2", r"b^{[1]}": "b1"}
    text = lectures["mazur-2-2-2", "en"]
    for unit in ("z_1", "z_2"):
        line = next(l for l in text.splitlines() if l.startswith(f"{unit} = W"))
        formula, plugged = line.split(" = ")[1:3]
        expected = [" \\cdot ".join(f"{values[names[f]]:g}" for f in term.split(" ")) for term in formula.split(" + ")]
        assert plugged.split(" + ") == expected, line


def test_two_units_on_their_kinks_agree_in_number(cli, tmp_path):
    """z_1 = z_2 = 0 (both pre-activations on their kinks): the plural sentence, in every language."""
    spec = tmp_path / "kinks.yaml"
    spec.write_text("kind: network\nlayers:\n  - {units: 2, activation: relu, params: theta, pre: z, post: h}\n"
                    "  - {units: 1, activation: identity, params: phi}\nloss: half_sse\n"
                    "values: {x: 2, t: 1, theta_01: -1, theta_11: 0.5, theta_02: 2, theta_12: -1, phi_0: 0, phi_1: 1, "
                    "phi_2: 1}\n", encoding="utf-8")  # z_1 = −1 + 0.5·2 = 0, z_2 = 2 − 2 = 0
    text = cli(spec).stdout
    assert "At these values $z_1 = z_2 = 0$ sit exactly on the kinks of their activations" in text
    assert "sits exactly" not in text
    assert "в точки излома" in cli(spec, "--lang", "ru").stdout


@pytest.mark.parametrize("stem", ["composition-check", "graph-sin-cos-exp"])
def test_a_common_factor_is_taken_out_of_a_local_derivative(stem, lectures):
    """d/df (f − y)² = 2(f − y) as a lecturer writes it (SymPy's expanded 2f − 2y is the same number)."""
    text = lectures[stem, "en"]
    assert not re.search(r"= 2 f_3 - 2 y", text)
    assert re.search(r"\\frac\{\\partial [lL]\}\{\\partial f_3\} = 2 \\left\(f_3 - y\\right\)", text)
    F, Y = sp.symbols("f y")
    assert sp.expand(sp.diff((F - Y) ** 2, F) - 2 * (F - Y)) == 0


def test_long_results_are_given_in_the_forward_pass_quantities(lectures):
    """composition-check's results over the inputs nest tanh three deep (unreadable on a line): section 4
    gives them in f_1, f_2 as section 3 does; a short graph (sigmoid-neuron) keeps them over the inputs."""
    for stem, short in (("composition-check", False), ("graph-sin-cos-exp", False), ("sigmoid-neuron", True)):
        text = lectures[stem, "en"]
        result = text[text.index("## 4) Result"):]  # graph numbers its steps in the house style, 1) (seed 000)
        rows = re.findall(r"^\\frac\{\\partial \w\}\{\\partial [^}]+\} = [^\n]*", result, re.M)
        assert rows, stem
        assert ("in terms of the inputs" in result) == short, stem
        assert all(len(row) < 260 for row in rows), (stem, max(rows, key=len))
