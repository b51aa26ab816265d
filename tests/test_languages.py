"""Languages are data: a language is a folder of catalogs plus language.toml (derive.i18n), no code."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from conftest import ROOT, run_process
from derive.render.i18n import Language, language, languages

LOCALE = ROOT / "templates" / "locale"


def test_the_shipped_languages_are_their_folders():
    assert languages() == ("en", "pl", "ru")
    assert [language(code).babel for code in ("en", "pl", "ru")] == ["english", "polish", "russian"]


@pytest.mark.parametrize("code,number,quoted", [("en", "0.3589", "“J”"), ("ru", "0,3589", "«J»"), ("pl", "0,3589", "„J”")])
def test_number_format_and_quotes_come_from_the_entry(code, number, quoted):
    entry = language(code)
    assert entry.number("0.3589") == number and entry.quote("J") == quoted


def _german(tmp_path):
    """A fourth language from fixture catalogs: English's, with two lines translated."""
    folder = tmp_path / "locale" / "de"
    shutil.copytree(LOCALE / "en" / "LC_MESSAGES", folder / "LC_MESSAGES")
    po = folder / "LC_MESSAGES" / "derive.po"
    text = po.read_text(encoding="utf-8").replace("Language: en", "Language: de")
    text = text.replace('msgid "The loss:"\nmsgstr ""', 'msgid "The loss:"\nmsgstr "Die Verlustfunktion:"')
    assert "Die Verlustfunktion:" in text
    po.write_text(text, encoding="utf-8")
    (folder / "language.toml").write_text('name = "Deutsch"\nlatex_babel = "ngerman"\ndecimal_separator = ","\n'
                                          'quotes = ["„", "“"]\n', encoding="utf-8")
    return tmp_path / "locale"


def test_a_language_is_added_from_catalogs_without_code(tmp_path, monkeypatch):
    monkeypatch.setenv("DERIVE_LOCALES", str(_german(tmp_path)))
    spec = ROOT / "specs" / "sigmoid-bce.yaml"
    md = run_process(spec, "--lang", "de")
    assert md.returncode == 0, md.stderr
    assert "Die Verlustfunktion:" in md.stdout
    tex = run_process(spec, "--lang", "de", "--format", "tex")
    assert tex.returncode == 0 and "main=ngerman]{babel}" in tex.stdout and "russian" in tex.stdout


def test_without_the_folder_the_language_is_unknown(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DERIVE_LOCALES"}
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "derive", str(ROOT / "specs" / "two-layer-relu.yaml"), "--lang", "de"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert run.returncode == 2 and "de" in run.stderr and "Traceback" not in run.stderr


def test_an_entry_is_a_value():
    assert Language("xx", "X", "english").number("1.5") == "1.5"


def test_the_decimal_sign_has_one_source_the_language_entry(tmp_path, monkeypatch):
    """language.toml's decimal_separator is what every number formatter prints, even against CLDR
    (which gives German a comma): the lecture's numbers, a check's feedback, a percentage."""
    locale = _german(tmp_path)
    toml = locale / "de" / "language.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('decimal_separator = ","', 'decimal_separator = "."'),
                    encoding="utf-8")
    monkeypatch.setenv("DERIVE_LOCALES", str(locale))
    md = run_process(ROOT / "specs" / "sigmoid-bce.yaml", "--lang", "de")
    assert md.returncode == 0, md.stderr
    assert re.search(r"\$[0-9]\.[0-9]+ \\times 10\^\{-[0-9]+\}\$", md.stdout)  # the note's error: × beside a point
    assert not re.search(r"[0-9]\{,\}[0-9]", md.stdout)
    rnn = run_process(ROOT / "specs" / "rnn-3-steps.yaml", "--lang", "de")
    assert rnn.returncode == 0 and not re.search(r"[0-9]\{,\}[0-9]", rnn.stdout)
    code = ("from derive.render.numbers import decimal_sign, format_number, format_percent\n"
            "from derive.grading.check import Words\n"
            "print(decimal_sign('de'), format_number(0.25, 'de'), format_percent(0.005, 'de'), "
            "Words('de').number('0.5'), format_number(0.25, 'ru'), format_percent(0.005, 'pl'), sep='|')")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().split("|") == [".", "0.25", "0.5\u00a0%", "0.5", "0,25", "0,5%"]
