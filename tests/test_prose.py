"""The lecture as a lecturer hands it out: numbers in the language's format, no tool names,
counts in words, the verification note that can be turned off.

References are the languages' own conventions (CLDR's decimal sign via Babel, the
grammar of counts), not derive's tables.
"""

from __future__ import annotations

import re

import pytest

from conftest import LANGS, ROOT
from derive.render.i18n import count_in_words
from derive.render.numbers import decimal_sign, format_number
from derive.pipeline import Options, derive_spec, render


# -- numbers ----------------------------------------------------------------------------


def test_decimal_sign_is_the_languages():
    from babel.numbers import format_decimal

    for lang in LANGS:
        assert format_decimal(0.5, locale=lang)[1] == decimal_sign(lang)
    assert (decimal_sign("ru"), decimal_sign("pl"), decimal_sign("en")) == (",", ",", ".")


@pytest.mark.parametrize(("x", "lang", "text"), [
    (0.36787944, "ru", "0,3679"), (0.36787944, "pl", "0,3679"), (0.36787944, "en", "0.3679"),
    (-0.53444, "ru", "-0,5344"), (3.0, "ru", "3"), (1.4e-10, "ru", "1,4·10^-10"), (1.4e-10, "en", "1.4·10^-10"),
])
def test_format_number_text(x, lang, text):
    assert format_number(x, lang, 4 if abs(x) > 1e-3 else 2) == text


def test_format_number_math_has_no_space_after_the_comma():
    assert format_number(0.36787944, "ru", tex=True) == "0{,}3679"
    assert format_number(1.4e-10, "pl", 2, tex=True) == r"1{,}4 \cdot 10^{-10}"
    assert format_number(1.4e-10, "en", 2, tex=True) == r"1.4 \times 10^{-10}"  # docs/glossary.md: × where the decimal sign is a point


def test_decimal_comma_in_formulas_and_prose(lectures):
    ru, pl, en = (lectures["sigmoid-neuron", lang] for lang in ("ru", "pl", "en"))
    assert r"\approx 0{,}3679" in ru and r"\approx 0{,}3679" in pl and r"\approx 0.3679" in en
    for text in (ru, pl):
        assert not re.search(r"\d\.\d", text), "a decimal point in a ru/pl lecture"
        assert not re.search(r"\d\.?\de-\d", text), "1.4e-10 style numbers in a lecture"


def test_counts_in_words():
    assert [count_in_words(3, lang) for lang in LANGS] == ["трёх", "three", "trzech"]
    assert count_in_words(12, "ru") == "12"


def test_verification_note_reads_naturally(lectures):
    assert "в трёх случайных точках" in lectures["two-layer-relu", "ru"]
    assert "w trzech losowych punktach" in lectures["two-layer-relu", "pl"]
    assert "at three random points" in lectures["two-layer-relu", "en"]
    assert "$K = 5$" in lectures["deep-composition", "en"]
    assert "$n = 3$" in lectures["linear-layer", "en"]
    # five layers: the input width and five output widths, not six "layer widths"
    assert "input width 3, widths of the layers' outputs 4, 3, 4, 3 and 2" in lectures["deep-composition", "en"]


# -- no tool names ------------------------------------------------------------------------------


TOOLS = re.compile(r"sympy|katex|mathjax|lualatex|python", re.I)  # numpy only as the name of a notation


@pytest.mark.parametrize("lang", LANGS)
def test_the_lecture_never_names_its_tools(lang, lectures):
    named = {stem: TOOLS.findall(text) for (stem, language), text in lectures.items() if language == lang}
    assert not {stem: found for stem, found in named.items() if found}


def test_verification_note_can_be_turned_off(cli):
    spec = ROOT / "specs" / "two-layer-relu.yaml"
    with_note = cli(spec, "--lang", "ru")
    without = cli(spec, "--lang", "ru", "--no-verification-note")
    assert with_note.exit_code == without.exit_code == 0
    assert "Проверка:" in with_note.stdout and "Проверка:" not in without.stdout
    assert without.stdout.rstrip().endswith("$$")  # no dangling rule either
    assert with_note.stdout.startswith(without.stdout.rstrip())


def test_build_takes_the_verification_note_option(tmp_path, cli):
    spec = ROOT / "specs" / "graph-add-mul.yaml"
    result = cli("build", spec, "--lang", "pl", "--format", "md", "--out", tmp_path, "--no-verification-note")
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "pl" / "graph-add-mul.md").read_text(encoding="utf-8")
    assert "Sprawdzenie" not in text and "$$" in text


# -- slides -------------------------------------------------------------------------------------

FRAME = re.compile(r"\\begin\{frame\}(?:\[[^\]]*\])?\{[^}]*\}(?:\{[^\n]*\})?\n(.*?)\\end\{frame\}", re.S)  # {title}{subtitle}


def _frames(spec: str, lang: str) -> list[str]:
    from derive.render.document import latex

    result = derive_spec(ROOT / "specs" / f"{spec}.yaml", Options(document="slides"))
    return FRAME.findall(latex(result, lang, Options(document="slides")))


@pytest.mark.parametrize("lang", LANGS)
def test_mlp_lecture_fits_in_35_frames_each_step_whole(lang):
    frames = _frames("mlp-backprop", lang)
    assert 20 <= len(frames) <= 35, len(frames)
    for body in frames:  # no frame opens in the middle of a sentence
        first = body.lstrip()
        assert not re.match(r"[a-zа-яёąćęłńóśźż]", first), first[:80]


def test_seed003_rows_and_colour_legend_share_a_frame():
    frames = _frames("deep-composition", "ru")
    rows = [f for f in frames if r"\vdots" in f]
    assert len(rows) == 1
    assert r"\begin{aligned}" in rows[0] and rows[0].count("&=") == 4  # aligned at '='
    assert "красным" in rows[0] and "оливковым" in rows[0]  # the legend beside the rows


def test_options_that_do_nothing_are_errors(cli, tmp_path):
    spec = ROOT / "specs" / "two-layer-relu.yaml"
    for args in ([spec, "--document", "slides", "--format", "md"],
                 [ROOT / "specs" / "mlp-backprop.yaml", "--view", "vector"],
                 ["build", spec, "--document", "slides", "--format", "md", "--out", tmp_path],
                 [ROOT / "specs" / "mlp-backprop.yaml", "--no-figures"],  # the lecture has no diagram
                 [ROOT / "specs" / "deep-composition.yaml", "--no-figures", "--format", "tex"],
                 [spec, "--format", "json", "--no-figures"],  # JSON has no diagrams
                 [spec, "--format", "json", "--no-verification-note"]):  # JSON's checks are data
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output and "derive:" in result.stderr
    for args in ([spec, "--no-figures"], [ROOT / "specs" / "course.yaml", "--no-figures"],  # these have diagrams
                 [spec, "--no-verification-note"]):
        assert cli(*args).exit_code == 0, args


@pytest.mark.parametrize(("lang", "date"), [("ru", r"28 ноября 2026\,г."), ("pl", "28 listopada 2026"),
                                            ("en", "November 28, 2026")])
def test_course_title_page_has_author_and_date(lang, date):
    from derive.render.document import latex

    result = derive_spec(ROOT / "specs" / "course.yaml", Options())
    source = latex(result, lang, Options())
    titlepage = source[source.index(r"\begin{titlepage}"):source.index(r"\end{titlepage}")]
    assert date in titlepage
    assert {"ru": "А. Лектор", "en": "A. Lecturer", "pl": "A. Wykładowca"}[lang] in titlepage


def test_course_chapters_get_their_figures():
    import yaml
    from derive.render.document import latex

    course = ROOT / "specs" / "course.yaml"
    chapters = yaml.safe_load(course.read_text(encoding="utf-8"))["chapters"]
    source = latex(derive_spec(course, Options()), "ru", Options())
    assert source.count(r"\begin{tikzpicture}") == len(chapters)
