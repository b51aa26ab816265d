"""The pipeline, top to bottom: load YAML -> parse the kind's spec -> derive (verified) -> render.

Each kind of spec (`network`, `graph`, …) is a module with the same small
interface, `derive.kind.Kind`: `parse(doc)`, `derive(spec) -> outcome`
(verified: a formula that disagrees with finite differences raises
`VerificationFailed` instead of being printed), `context(outcome, lang)`,
`printer_settings(outcome)` and `to_json(outcome)`; what else it offers is
stated in its `KindEntry`. Kind modules are imported only when used.
"""

from __future__ import annotations

import importlib
import json
import sys

from derive.kinds.base import KINDS, KindEntry, Options, Result, derive_spec, entry_of, kind_of  # noqa: F401 (the pipeline's API)

# Formats for other tools (CONTRACT section 9): format -> "module:function(result, lang, options) -> text".
OTHER_FORMATS = {
    "html": "derive.render.html:page",
    "ipynb": "derive.render.notebook:notebook",
}


def render(result: Result, fmt: str, lang: str, options: Options | None = None) -> str | None:
    """The document in fmt (md | tex | json | html | ipynb) as text; pdf is written to a file (see derive.document)."""
    if fmt == "json":
        return json.dumps(result.module.to_json(result.outcome), ensure_ascii=False, indent=2) + "\n"
    if fmt in OTHER_FORMATS:
        module, function = OTHER_FORMATS[fmt].split(":")
        return getattr(importlib.import_module(module), function)(result, lang, options)
    from derive.render import document

    if fmt == "tex":
        return document.latex(result, lang, options)
    if fmt == "pdf":
        path = document.write_pdf(result, lang, options)
        print(f"derive: wrote {path}", file=sys.stderr)
        return None
    return document.markdown_file(result, lang, options)


# What a file's ending says it holds, for `-o FILE` without --format (as pandoc reads it).
OUTPUT_SUFFIXES = {".md": "md", ".markdown": "md", ".tex": "tex", ".pdf": "pdf", ".json": "json",
                   ".html": "html", ".htm": "html", ".ipynb": "ipynb"}


def output_format(fmt: str | None, output: str | None) -> str:
    """The format to write: --format when given, else the one -o's ending names, else Markdown.

    `-o notes.pdf` writes a PDF; an ending that contradicts --format (`--format pdf -o notes.md`) is an
    error, since either way one of the two would be ignored. An ending derive does not know
    (`-o notes.txt`) leaves the choice to --format.
    """
    from pathlib import Path

    from derive.errors import DeriveError

    suffix = Path(output).suffix.lower() if output else ""
    named = OUTPUT_SUFFIXES.get(suffix)
    if fmt is None:
        return named or "md"
    if named and named != fmt:
        raise DeriveError(f"-o {output}: the file name ends in {suffix}, which is --format {named}, but --format "
                          f"{fmt} was asked; drop --format (the ending decides) or end the name in .{fmt}")
    return fmt


def check_document(document: str, formats) -> None:
    """--document slides makes a beamer deck: an option that would do nothing is an error."""
    from derive.errors import DeriveError

    other = [f for f in formats if f not in ("tex", "pdf")]
    if document == "slides" and other:
        raise DeriveError(f"--document slides makes a beamer deck, which only --format tex or pdf writes; "
                          f"drop --document slides for --format {', '.join(other)}")


def check_options(result: Result, fmt: str, options: Options) -> None:
    """Options that would do nothing for this output are errors, not silently ignored:
    --no-figures where no diagram is drawn (JSON; a kind without one), --no-verification-note in JSON
    (which states its checks as data)."""
    from derive.errors import DeriveError

    if not options.figures and fmt == "json":
        raise DeriveError("--no-figures: the JSON output has no diagrams; drop --no-figures")
    if not options.figures and not (result.entry.figure or result.entry.documents):
        raise DeriveError(f"--no-figures: a spec of kind {result.kind} has no diagram; drop --no-figures")
    if not options.verification_note and fmt == "json":
        raise DeriveError("--no-verification-note: the JSON output states its checks as data, not as a sentence; "
                          "drop --no-verification-note")
