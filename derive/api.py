"""The Python API (CONTRACT section 9): derivations and grading from a notebook or a script.

`derive(path, lang="en", **options)` derives and verifies a spec once and
returns a `Derivation` whose methods render it (`markdown()`, `latex()`,
`json()`, `html()`, `notebook()`, `pdf(path)`); Jupyter shows it through
`_repr_markdown_()`. `check(path, answers, lang="en")` grades a dict of
answers exactly as `derive check --format json` grades one answers file.
Both raise `derive.errors.DeriveError` (with `.exit_code` and `.show()`) on
bad input, as the command line does.
"""

from __future__ import annotations

import json as _json
import os
import tempfile
from pathlib import Path

OPTIONS = ("view", "document", "figures")


class Derivation:
    """One verified derivation of a spec in one language; each method renders it in a format."""

    def __init__(self, result, lang: str, options):
        self.result, self.lang, self.options = result, lang, options

    def markdown(self) -> str:
        """The Markdown derivation (`$$ … $$` math), as `derive SPEC` prints it."""
        from .pipeline import render

        return render(self.result, "md", self.lang, self.options)

    def latex(self) -> str:
        """The LaTeX document (notes, or slides with document="slides")."""
        from .pipeline import render

        return render(self.result, "tex", self.lang, self.options)

    def json(self) -> dict:
        """The contract's JSON object (section 3) as a dict."""
        from .pipeline import render

        return _json.loads(render(self.result, "json", self.lang, self.options))

    def html(self) -> str:
        """A standalone HTML page whose formulas render offline (see derive.html)."""
        from .pipeline import render

        return render(self.result, "html", self.lang, self.options)

    def notebook(self) -> str:
        """A Jupyter notebook (nbformat 4 JSON text): the steps, and numpy cells that re-check them."""
        from .pipeline import render

        return render(self.result, "ipynb", self.lang, self.options)

    def pdf(self, path: str | os.PathLike) -> Path:
        """Compile the LaTeX document to path with LuaLaTeX; returns the path."""
        from .document import write_pdf

        return write_pdf(self.result, self.lang, self.options, Path(path))

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def __repr__(self) -> str:
        return f"<derive.Derivation of {self.result.spec.file!r} ({self.result.kind}, {self.lang})>"


def derive(path: str | os.PathLike, lang: str = "en", **options) -> Derivation:
    """Derive and verify the spec at path; options: view ("scalar" | "vector"),
    document ("notes" | "slides"), figures (bool)."""
    from .pipeline import Options, derive_spec

    _check_lang(lang)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"derive(): unknown option(s) {', '.join(unknown)}; expected some of: {', '.join(OPTIONS)}")
    opts = Options(**options)
    return Derivation(derive_spec(str(path), opts), lang, opts)


def check(path: str | os.PathLike, answers: dict, lang: str = "en", student: str | None = None,
          seed: int | None = None) -> dict:
    """Grade answers ({key: formula}) for the spec at path: the JSON object of one file of
    `derive check --format json` (student, score, total, answers[key, verdict, feedback, expected_latex])."""
    from .check import Engine, Words, to_json

    _check_lang(lang)
    if not isinstance(answers, dict):
        raise TypeError("check(): answers must be a dict {parameter: formula}")
    engine = Engine(str(path))
    result = _check_sheet(engine, {"student": student, "seed": seed, "answers": answers})
    return to_json(result, Words(lang))


def _check_sheet(engine, sheet: dict):
    """Grade one answers sheet through the very path `derive check` takes: an answers file.

    The dict is written as YAML to a private temporary file, so the API and the
    command line share every rule of reading, resolving and grading answers."""
    import yaml

    from .check import _shown

    data = {k: v for k, v in sheet.items() if v is not None}
    with tempfile.TemporaryDirectory(prefix="derive-") as folder:
        path = os.path.join(folder, "answers.yaml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(data, f, allow_unicode=True, sort_keys=False)
        result = engine.check_file(path)
    if result.error:
        raise _shown(result.error.replace(path, "answers"))
    return result


def _check_lang(lang: str) -> None:
    from .errors import DeriveError
    from .i18n import languages

    if lang not in languages():
        raise DeriveError(f"unknown language {lang!r}; expected one of: {', '.join(languages())}")
