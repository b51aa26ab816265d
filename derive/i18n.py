"""Languages are data: one gettext catalog (.po, read with Babel) per language.

A catalog is compiled in memory when first used; adding a language means
adding `templates/locale/<lang>/LC_MESSAGES/derive.po`, no code. Further
catalogs beside it (`graph.po`, `check.po`, …: one per part of the tool, so
parts can be translated independently) are merged into the same Translations.
"""

from __future__ import annotations

import io
from functools import lru_cache
from importlib import resources
from pathlib import Path

from . import N_

DOMAIN = "derive"


def templates_root():
    """The shipped templates (derive.templates), or templates/ of a source checkout run in place."""
    try:
        return resources.files("derive.templates")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "templates"


def locale_dir():
    return templates_root() / "locale"


@lru_cache(maxsize=None)
def languages() -> tuple[str, ...]:
    """The languages that have a catalog, sorted."""
    return tuple(sorted(p.name for p in locale_dir().iterdir() if (p / "LC_MESSAGES" / f"{DOMAIN}.po").is_file()))


@lru_cache(maxsize=None)
def translations(lang: str):
    """The catalog of lang as gettext Translations (KeyError naming the valid languages)."""
    if lang not in languages():
        raise KeyError(f"unknown language {lang!r}; expected one of: {', '.join(languages())}")
    folder = locale_dir() / lang / "LC_MESSAGES"
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


# -- numbers --------------------------------------------------------------------------
# The one place that writes a number for a language: the decimal sign comes from the
# language's CLDR data (Babel), so a new language needs no code here either.

SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


@lru_cache(maxsize=None)
def decimal_sign(lang: str) -> str:
    """The decimal sign of lang (',' in ru and pl, '.' in en), from CLDR."""
    from babel.numbers import get_decimal_symbol

    try:
        return get_decimal_symbol(locale=lang)
    except Exception:  # an unknown locale: the international point
        return "."


def format_number(x: float, lang: str, digits: int = 4, math: bool = False) -> str:
    """x with `digits` significant digits as lang writes it: 0,3679 (ru, pl), 0.3679 (en).

    Very small or large numbers get a power of ten: 1,4·10⁻¹⁰ as text, or, with
    math=True, the LaTeX `1{,}4 \\cdot 10^{-10}` (the braces keep TeX from adding a
    space after the comma).
    """
    x = float(x)
    if x != 0 and not 1e-3 <= abs(x) < 1e6:
        mantissa, exponent = f"{x:.{max(0, digits - 1)}e}".split("e")
        mantissa = _decimal(mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa, lang, math)
        power = str(int(exponent))
        return rf"{mantissa} \cdot 10^{{{power}}}" if math else f"{mantissa}·10{power.translate(SUPERSCRIPT)}"
    text = f"{x:.{digits}g}"
    if "e" in text:  # 123456 at 4 digits: write it out
        text = f"{x:.0f}"
    return _decimal(text, lang, math)


def _decimal(text: str, lang: str, math: bool) -> str:
    sign = decimal_sign(lang)
    if sign == ".":
        return text
    return text.replace(".", "{" + sign + "}" if math else sign)


COUNT_WORDS = N_("one|two|three|four|five|six|seven|eight|nine|ten (counts in words after “at”, as in “at three random points”)")


def count_in_words(n: int, lang: str) -> str:
    """n in words as a lecturer writes a small count («в трёх точках», „w trzech punktach”), digits above ten."""
    words = translations(lang).gettext(COUNT_WORDS).split(" (")[0].split("|")
    return words[n - 1] if 1 <= n <= len(words) else str(n)
