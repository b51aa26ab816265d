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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .kind import KINDS, KindEntry
from .yamlload import Doc, load_file, shown

# Formats for other tools (CONTRACT section 9): format -> "module:function(result, lang, options) -> text".
OTHER_FORMATS = {
    "html": "derive.html:page",
    "ipynb": "derive.notebook:notebook",
}


@dataclass
class Options:
    """What the command line asks beyond the spec; a kind uses what concerns it."""

    view: str | None = None  # network: override the spec's view (scalar | vector)
    document: str = "notes"  # tex/pdf: notes | slides
    figures: bool = True  # diagrams beside Markdown (SVG) and in LaTeX (TikZ)
    output: str | None = None  # where -o asked the result to go


@dataclass
class Result:
    kind: str
    module: Any  # the kind's module (derive.kind.Kind)
    outcome: Any  # its derive.kind.Outcome

    @property
    def spec(self):
        return self.outcome.spec

    @property
    def entry(self) -> KindEntry:
        return KINDS[self.kind]


def entry_of(doc: Doc) -> KindEntry:
    """The kind of doc's `kind:` (default network), or a SpecError listing the kinds."""
    kind = doc.data.get("kind", "network") if isinstance(doc.data, dict) else "network"
    if not isinstance(kind, str) or kind not in KINDS:
        raise doc.error(("kind",), f"unknown kind {shown(kind)}; expected one of: {', '.join(KINDS)}")
    return KINDS[kind]


def kind_of(doc: Doc):
    """(kind name, kind module) of doc."""
    entry = entry_of(doc)
    return entry.name, entry.module


def derive_spec(path: str | Path, options: Options | None = None) -> Result:
    doc = load_file(path)
    entry = entry_of(doc)
    spec = entry.with_options(entry.module.parse(doc), options)
    return Result(entry.name, entry.module, entry.module.derive(spec))


def render(result: Result, fmt: str, lang: str, options: Options | None = None) -> str | None:
    """The document in fmt (md | tex | json | html | ipynb) as text; pdf is written to a file (see derive.document)."""
    if fmt == "json":
        return json.dumps(result.module.to_json(result.outcome), ensure_ascii=False, indent=2) + "\n"
    if fmt in OTHER_FORMATS:
        module, function = OTHER_FORMATS[fmt].split(":")
        return getattr(importlib.import_module(module), function)(result, lang, options)
    from . import document

    if fmt == "tex":
        return document.latex(result, lang, options)
    if fmt == "pdf":
        path = document.write_pdf(result, lang, options)
        print(f"derive: wrote {path}", file=sys.stderr)
        return None
    return document.markdown_file(result, lang, options)
