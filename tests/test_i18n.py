"""The prose catalogs: complete, faithful to their msgids, and used by the CLI.

Everything goes through Babel for real: msgids are extracted from the
templates with Babel's extractor (the method map of babel.cfg), catalogs are
read with `read_po`, and the derivation is rendered through the CLI.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from click.testing import CliRunner

from derive.cli import main
from derive.render.i18n import languages, translations

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "templates" / "locale"
SPEC = ROOT / "specs" / "two-layer-relu.yaml"
TRANSLATED = ("ru", "pl")  # English is the msgid itself: its msgstr stays empty

PLACEHOLDER = re.compile(r"%\((\w+)\)s")
MATH = re.compile(r"\$[^$]+\$")
FORMULA = re.compile(r"^\$\$\n(.*?)\n\$\$$", re.S | re.M)

# A network whose prose uses the loss, sigmoid and one-hot messages, which the
# ReLU spec without a loss never prints.
SOFTMAX_CE_SPEC = """\
kind: network
input: x
output: y
index: source-target
layers:
  - {units: 2, activation: sigmoid, params: theta, pre: z, post: h}
  - {units: 2, activation: softmax, params: psi}
loss: ce
"""


def _method_map():
    from babel.messages import frontend

    parse = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping
    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        return parse(f)


@pytest.fixture(scope="module")
def msgids() -> list[str]:
    """The msgids of the templates, as `pybabel extract -F babel.cfg` sees them."""
    method_map, options_map = _method_map()
    found = []
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map
    ):
        for mid in message if isinstance(message, tuple) else (message,):
            if mid and mid not in found:
                found.append(mid)
    assert found, "Babel extracted no messages from the templates (check babel.cfg)"
    return found


def _catalog(lang: str):
    """derive.po with the per-part catalogs beside it merged in, as derive.i18n merges them."""
    folder = LOCALE / lang / "LC_MESSAGES"
    with (folder / "derive.po").open("rb") as f:
        catalog = read_po(f, locale=lang, domain="derive")
    for path in sorted(folder.glob("*.po")):
        if path.name != "derive.po":
            with path.open("rb") as f:
                for message in read_po(f, locale=lang, domain="derive"):
                    if message.id:
                        catalog[message.id] = message
    return catalog


@pytest.fixture(scope="module")
def catalogs() -> dict:
    return {lang: _catalog(lang) for lang in ("en", *TRANSLATED)}


def _render(spec: Path, lang: str) -> str:
    result = CliRunner().invoke(main, [str(spec), "--lang", lang])
    assert result.exit_code == 0, result.output
    return result.output


# -- the catalogs ---------------------------------------------------------------


# The plural form each count takes, from the grammar of the language (not from any
# library's table): index 0 = "one", 1 = "few", 2 = "many" in ru and pl.
PLURAL_SAMPLES = {
    "en": {0: 1, 1: 0, 2: 1, 5: 1, 11: 1, 21: 1, 101: 1},
    "ru": {0: 2, 1: 0, 2: 1, 4: 1, 5: 2, 11: 2, 12: 2, 14: 2, 15: 2, 20: 2, 21: 0, 22: 1, 25: 2,
           100: 2, 101: 0, 111: 2, 112: 2, 122: 1, 1001: 0},
    "pl": {0: 2, 1: 0, 2: 1, 4: 1, 5: 2, 11: 2, 12: 2, 14: 2, 21: 2, 22: 1, 25: 2, 101: 2,
           102: 1, 112: 2, 122: 1},
}


def _plural_headers(lang: str) -> list[tuple[str, str]]:
    """(file name, Plural-Forms header) of every catalog of lang that states one."""
    found = []
    for path in sorted((LOCALE / lang / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as f:
            headers = dict(read_po(f, locale=lang, domain="derive").mime_headers)
        if "Plural-Forms" in headers:
            found.append((path.name, headers["Plural-Forms"]))
    return found


@pytest.mark.parametrize("lang", ["en", *TRANSLATED])
def test_catalog_headers(lang, catalogs):
    """Each catalog's plural rule picks the form the language's grammar asks for.

    The rule is evaluated as gettext evaluates it at run time (gettext.c2py); the
    expected forms are the grammar's, so the test does not depend on how a library
    happens to spell the expression."""
    import gettext

    assert dict(catalogs[lang].mime_headers)["Language"] == lang
    headers = _plural_headers(lang)
    assert headers, f"no {lang} catalog states Plural-Forms"
    for name, header in headers:
        nplurals = int(re.search(r"nplurals\s*=\s*(\d+)", header).group(1))
        rule = gettext.c2py(re.search(r"plural\s*=\s*(.+?);?\s*$", header).group(1))
        assert nplurals == max(PLURAL_SAMPLES[lang].values()) + 1, name
        got = {n: rule(n) for n in PLURAL_SAMPLES[lang]}
        assert got == PLURAL_SAMPLES[lang], f"{lang}/{name}: {header}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_msgid_is_translated(lang, msgids, catalogs):
    catalog = catalogs[lang]
    problems = []
    for mid in msgids:
        message = catalog.get(mid)
        if message is None:
            problems.append(f"missing: {mid!r}")
        elif not message.string or not str(message.string).strip():
            problems.append(f"empty: {mid!r}")
        elif message.fuzzy:
            problems.append(f"fuzzy: {mid!r}")
    assert not problems, f"{lang} catalog (run pybabel extract/update, then translate):\n" + "\n".join(problems)


@pytest.mark.parametrize("lang", ["en", *TRANSLATED])
def test_no_stale_msgids(lang, msgids, catalogs):
    stale = [m.id for m in catalogs[lang] if m.id and m.id not in msgids]
    assert not stale, f"{lang} catalog has msgids the templates no longer use: {stale}"


def test_english_is_the_msgid(msgids, catalogs):
    catalog = catalogs["en"]
    for mid in msgids:
        message = catalog.get(mid)
        assert message is not None, f"en catalog lacks {mid!r}"
        assert not message.string, f"en msgstr must stay empty (the msgid is the English): {mid!r}"


def test_template_pot_is_current(msgids):
    ids = set()
    for path in LOCALE.glob("*.pot"):  # derive.pot and the per-part templates (graph.pot, …)
        with path.open("rb") as f:
            ids |= {m.id for m in read_po(f) if m.id}
    assert sorted(ids) == sorted(msgids)


@pytest.mark.parametrize("lang", TRANSLATED)
def test_placeholders_and_math_are_kept(lang, msgids, catalogs):
    catalog = catalogs[lang]
    for mid in msgids:
        text = catalog.get(mid).string
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(mid)), (lang, mid, text)
        assert sorted(MATH.findall(text)) == sorted(MATH.findall(mid)), (lang, mid, text)
        # Jinja's newstyle gettext formats every message with %: a stray % would break rendering.
        values = {name: "X" for name in PLACEHOLDER.findall(mid)}
        assert "%" not in (text % values).replace("%%", ""), (lang, mid, text)


# -- derive.i18n ------------------------------------------------------------------


def test_languages():
    langs = languages()
    assert {"en", "pl", "ru"} <= set(langs)
    assert list(langs) == sorted(langs)


def test_translations_come_from_the_catalog(catalogs):
    message = next(m for m in catalogs["ru"] if m.id and m.string)
    assert translations("ru").gettext(message.id) == message.string
    assert translations("en").gettext(message.id) == message.id


# -- the rendered derivation ------------------------------------------------------------


def _english_fragments(msgids: list[str]) -> list[str]:
    """The literal English text of each msgid (between placeholders), longer than 3 words."""
    fragments = []
    for mid in msgids:
        for part in PLACEHOLDER.split(mid)[::2]:
            part = part.strip(" $")
            if len(part.split()) > 3:
                fragments.append(part)
    return fragments


@pytest.fixture(scope="module")
def specs(tmp_path_factory) -> list[Path]:
    other = tmp_path_factory.mktemp("specs") / "softmax-ce.yaml"
    other.write_text(SOFTMAX_CE_SPEC, encoding="utf-8")
    return [SPEC, other]


@pytest.mark.parametrize("which", [0, 1], ids=["two-layer-relu", "softmax-ce"])
@pytest.mark.parametrize("lang", TRANSLATED)
def test_rendered_prose_is_translated(lang, which, specs, msgids):
    english = _render(specs[which], "en")
    output = _render(specs[which], lang)
    fragments = _english_fragments(msgids)
    assert any(f in english for f in fragments), "the English rendering should contain English prose"
    leaked = [f for f in fragments if f in output]
    assert not leaked, f"English prose in the {lang} rendering: {leaked}"


@pytest.mark.parametrize("which", [0, 1], ids=["two-layer-relu", "softmax-ce"])
def test_formulas_are_identical_across_languages(which, specs):
    formulas = {lang: FORMULA.findall(_render(specs[which], lang)) for lang in ("en", *TRANSLATED)}
    assert formulas["en"], "no $$ blocks in the English rendering"
    for lang in TRANSLATED:
        assert formulas[lang] == formulas["en"], lang


@pytest.mark.parametrize("lang", ["en", "ru", "pl"])
def test_a_msgid_in_two_catalogs_has_one_translation(lang):
    # the catalogs of a language are merged into one Translations (render/i18n.py): where two catalogs hold the
    # same msgid, the last merged would win silently, so they must agree
    seen: dict = {}
    for po in sorted((LOCALE / lang / "LC_MESSAGES").glob("*.po")):
        with open(po, "rb") as f:
            for message in read_po(f):
                if message.id:
                    key = message.id if isinstance(message.id, str) else tuple(message.id)
                    string = message.string if isinstance(message.string, str) else tuple(message.string)
                    seen.setdefault(key, {})[po.name] = string
    disagree = {key: found for key, found in seen.items() if len(set(found.values())) > 1}
    assert disagree == {}
