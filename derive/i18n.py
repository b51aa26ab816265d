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
