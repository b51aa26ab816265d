"""The Python API (CONTRACT section 9): derivations and grading from a notebook or a script.

`derive(path, lang="en", **options)` derives and verifies a spec once and
returns a `Derivation` whose methods render it (`markdown()`, `latex()`,
`json()`, `html()`, `notebook()`, `pdf(path)`); Jupyter shows it through
`_repr_markdown_()`. `check(path, answers, lang="en")` grades a dict of
answers through derive.check's one entry for answers given as data, so the
result is what `derive check --format json` prints for one answers file.
Both raise `derive.errors.DeriveError` (with `.exit_code` and `.show()`) on
bad input, as the command line does.
"""

from __future__ import annotations

import json as _json
import os
from pathlib import Path

OPTIONS = ("view", "document", "figures")


class Derivation:
    """One verified derivation of a spec in one language; each method renders it in a format."""

    def __init__(self, result, lang: str, options):
        self.result, self.lang, self.options = result, lang, options

    def markdown(self) -> str:
        """The Markdown derivation (`$$ … $$` math), as `derive SPEC` prints it."""
        from derive.pipeline import render

        return render(self.result, "md", self.lang, self.options)

    def latex(self) -> str:
        """The LaTeX document (notes, or slides with document="slides")."""
        from derive.pipeline import render

        return render(self.result, "tex", self.lang, self.options)

    def json(self) -> dict:
        """The contract's JSON object (section 3) as a dict."""
        from derive.pipeline import render

        return _json.loads(render(self.result, "json", self.lang, self.options))

    def html(self) -> str:
        """A standalone HTML page whose formulas render offline (see derive.html)."""
        from derive.pipeline import render

        return render(self.result, "html", self.lang, self.options)

    def notebook(self) -> str:
        """A Jupyter notebook (nbformat 4 JSON text): the steps, and numpy cells that re-check them."""
        from derive.pipeline import render

        return render(self.result, "ipynb", self.lang, self.options)

    def pdf(self, path: str | os.PathLike) -> Path:
        """Compile the LaTeX document to path with LuaLaTeX; returns the path."""
        from derive.render.document import write_pdf

        return write_pdf(self.result, self.lang, self.options, Path(path))

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __repr__(self) -> str:
        return f"<derive.Derivation of {self.result.spec.file!r} ({self.result.kind}, {self.lang})>"


def derive(path: str | os.PathLike, lang: str = "en", **options) -> Derivation:
    """Derive and verify the spec at path; options: view ("scalar" | "vector"),
    document ("notes" | "slides"), figures (bool)."""
    from derive.pipeline import Options, derive_spec

    _check_lang(lang)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"derive(): unknown option(s) {', '.join(unknown)}; expected some of: {', '.join(OPTIONS)}")
    opts = Options(**options)
    return Derivation(derive_spec(str(path), opts), lang, opts)


def check(path: str | os.PathLike, answers: dict, lang: str = "en", student: str | None = None,
          seed: int | None = None) -> dict:
    """Grade answers ({key: formula}) for the spec at path: the JSON object of one file of
    `derive check --format json` (student, score, total, answers[key, verdict, feedback, expected_latex],
    and "refused" for keys that name no question)."""
    from derive.grading.check import Engine, check_answer_set

    _check_lang(lang)
    if not isinstance(answers, dict):
        raise TypeError("check(): answers must be a dict {parameter: formula}")
    return check_answer_set(Engine(str(path)), answers, lang, student=student, seed=seed)


def _check_lang(lang: str) -> None:
    from derive.errors import DeriveError
    from derive.core.languages import languages

    if lang not in languages():
        raise DeriveError(f"unknown language {lang!r}; expected one of: {', '.join(languages())}")
