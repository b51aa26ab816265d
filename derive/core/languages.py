"""Languages are data: a language is its folder `locale/<lang>/`, no code.

The folder holds the gettext catalogs `LC_MESSAGES/derive.po` (plural rule in
its header) and the parts' catalogs beside it (`graph.po`, `check.po`, …,
merged into the same Translations, compiled in memory with Babel when first
used), and `language.toml`: the language's LaTeX babel name, decimal
separator and quotation marks. Folders are looked up in the shipped
templates/locale and in the folders listed in the environment variable
DERIVE_LOCALES (os.pathsep-separated), so a language can be added without
touching the installed package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path


DOMAIN = "derive"
ENVIRONMENT = "DERIVE_LOCALES"


@dataclass(frozen=True)
class Language:
    """How derive writes in one language, beside what its catalogs translate."""

    code: str
    name: str  # the language's own name for itself
    babel: str  # LaTeX babel's name (russian, polish, english)
    decimal: str = "."  # 0,5 in ru and pl
    quotes: tuple[str, str] = ("\u201c", "\u201d")
    gloss: str = ""  # how a heading glosses a term in English: "(ang. …)" for "(ang. forward pass)"

    def number(self, text: str) -> str:
        """A number as printed ('0.3589') in the language's format ('0,3589')."""
        return text.replace(".", self.decimal)

    def quote(self, text: str) -> str:
        return f"{self.quotes[0]}{text}{self.quotes[1]}"


def templates_root():
    """The shipped templates (derive.templates), or templates/ of a source checkout run in place."""
    try:
        return resources.files("derive.templates")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "templates"


def locale_dir():
    return templates_root() / "locale"


def locale_dirs() -> list:
    """Where language folders are looked up: the shipped ones, then DERIVE_LOCALES."""
    extra = [Path(p) for p in os.environ.get(ENVIRONMENT, "").split(os.pathsep) if p]
    return [locale_dir(), *extra]


@lru_cache(maxsize=None)
def _folders() -> dict[str, object]:
    """lang -> its folder (the first one found), for every folder with a derive.po and a language.toml."""
    found: dict[str, object] = {}
    for root in locale_dirs():
        if not root.is_dir():
            continue
        for folder in root.iterdir():
            if (folder / "LC_MESSAGES" / f"{DOMAIN}.po").is_file() and (folder / "language.toml").is_file():
                found.setdefault(folder.name, folder)
    return found


def languages() -> tuple[str, ...]:
    """The languages that have a catalog and a language entry, sorted."""
    return tuple(sorted(_folders()))


def _known(lang: str):
    if lang not in _folders():
        raise KeyError(f"unknown language {lang!r}; expected one of: {', '.join(languages())}")
    return _folders()[lang]


@lru_cache(maxsize=None)
def language(lang: str) -> Language:
    """The language entry of lang (its language.toml)."""
    import tomllib

    data = tomllib.loads((_known(lang) / "language.toml").read_text(encoding="utf-8"))
    return Language(lang, data["name"], data["latex_babel"], data.get("decimal_separator", "."),
                    tuple(data.get("quotes", ("\u201c", "\u201d"))), data.get("gloss", ""))
