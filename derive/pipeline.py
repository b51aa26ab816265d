"""The pipeline, top to bottom: load YAML -> parse the kind's spec -> derive (verified) -> render.

Each kind of spec (`network`, `graph`, …) is a module with the same small
interface: `parse(doc)`, `derive(spec) -> outcome` (verified: a formula that
disagrees with finite differences raises `VerificationFailed` instead of being
printed), `context(outcome, lang)`, `printer_settings(outcome)` and
`to_json(outcome)`. Kind modules are imported only when used.
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .yamlload import Doc, load_file

KINDS = {
    "network": "derive.network",
    "graph": "derive.graph",
    "mlp": "derive.mlp",
    "composition": "derive.composition",
    "course": "derive.course",
}
TEXT_FORMATS = ("md",)


@dataclass
class Options:
    """What the command line asks beyond the spec; a kind uses what concerns it."""

    view: str | None = None  # network: override the spec's view (scalar | vector)
    document: str = "notes"  # tex/pdf: notes | slides
    figures: bool = True  # diagrams beside Markdown (SVG) and in LaTeX (TikZ)
    output: str | None = None  # where -o asked the result to go
    verification_note: bool = True  # end the lecture with the sentence saying how it was checked


@dataclass
class Result:
    kind: str
    module: Any
    outcome: Any

    @property
    def spec(self):
        return self.outcome.spec


def kind_of(doc: Doc):
    """The kind module for doc's `kind:` (default network), or a SpecError listing the kinds."""
    kind = doc.data.get("kind", "network") if isinstance(doc.data, dict) else "network"
    if kind not in KINDS:
        raise doc.error(("kind",), f"unknown kind {kind!r}; expected one of: {', '.join(KINDS)}")
    return kind, importlib.import_module(KINDS[kind])


def derive_spec(path: str | Path, options: Options | None = None) -> Result:
    doc = load_file(path)
    kind, module = kind_of(doc)
    spec = module.parse(doc)
    if options is not None and hasattr(module, "apply_options"):
        spec = module.apply_options(spec, options)
    elif options is not None and options.view:  # an option that would do nothing is an error
        from .errors import Location, SpecError

        raise SpecError(f"--view {options.view} applies to network specs only; this spec is of kind {kind}",
                        Location(str(path)))
    return Result(kind, module, module.derive(spec))


def render(result: Result, fmt: str, lang: str, options: Options | None = None) -> str | None:
    """The document in fmt (md | tex | json) as text; pdf is written to a file (see derive.document)."""
    if fmt == "json":
        return json.dumps(result.module.to_json(result.outcome), ensure_ascii=False, indent=2) + "\n"
    from . import document

    if fmt == "tex":
        return document.latex(result, lang, options)
    if fmt == "pdf":
        path = document.write_pdf(result, lang, options)
        print(f"derive: wrote {path}", file=sys.stderr)
        return None
    return document.markdown_file(result, lang, options)
