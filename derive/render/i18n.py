"""Catalogs: a language's gettext catalogs, compiled in memory with Babel when first used.

Which languages exist, and how each writes numbers and quotes, is data read by derive.core.languages.
"""

from __future__ import annotations

import io
from functools import lru_cache

from derive.meta import N_
from derive.core.languages import (  # noqa: F401 (re-exported: the languages and their entries)
    DOMAIN, ENVIRONMENT, Language, _known, language, languages, locale_dir, locale_dirs, templates_root,
)


@lru_cache(maxsize=None)
def translations(lang: str):
    """The catalog of lang as gettext Translations (KeyError naming the valid languages)."""
    folder = _known(lang) / "LC_MESSAGES"
    others = sorted(p.name for p in folder.iterdir() if p.name.endswith(".po") and p.name != f"{DOMAIN}.po")
    result = _compiled(folder / f"{DOMAIN}.po", lang)
    for name in others:
        result.merge(_compiled(folder / name, lang))
    return result


def _compiled(path, lang: str):
    from babel.messages.mofile import write_mo  # Babel is imported only when prose is written
    from babel.messages.pofile import read_po
    from babel.support import Translations

    with path.open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


# -- counts in words -------------------------------------------------------------------
# (numbers themselves are written by derive.numbers.format_number, the one place for them)

COUNT_WORDS = N_("one|two|three|four|five|six|seven|eight|nine|ten (counts in words after “at”, as in “at three random points”)")


# the count as the subject ("there are seven of them", «всего их семь», „jest ich siedem”); where the word
# would agree with the noun's gender (ru два/две, pl dwa/dwie) a catalog keeps the digit
COUNT_WORDS_NOMINATIVE = N_("one|two|three|four|five|six|seven|eight|nine|ten (counts in words as the subject, as in “there are seven of them”; a digit where the word would depend on the noun's gender)")


def count_in_words(n: int, lang: str, case: str = "oblique") -> str:
    """n in words as a lecturer writes a small count («в трёх точках», „w trzech punktach”), digits above ten;
    case "nominative" for the count as the subject («всего их семь»)."""
    msgid = COUNT_WORDS_NOMINATIVE if case == "nominative" else COUNT_WORDS
    words = translations(lang).gettext(msgid).split(" (")[0].split("|")
    return words[n - 1] if 1 <= n <= len(words) else str(n)


# -- lists in a sentence ---------------------------------------------------------------

LIST_END = {"and": N_("%(items)s and %(last)s"), "or": N_("%(items)s or %(last)s")}


def join_list(items, conjunction: str = "and", lang: str = "en", math: bool = False) -> str:
    """Items as a sentence lists them: "1 and 2", "1, 2 and 3" (ru «1 и 2», pl „1 i 2”), or with "or"
    ("theta_11 or theta_01?", pl „theta_11 lub theta_01?”); math=True sets each item as inline math."""
    items = [f"${item}$" if math else str(item) for item in items]
    if len(items) < 2:
        return "".join(items)
    return translations(lang).gettext(LIST_END[conjunction]) % {"items": ", ".join(items[:-1]), "last": items[-1]}
