"""The kind interface: what every kind of spec (network, graph, mlp, …) offers the pipeline.

A kind is a module that satisfies `Kind` (parse, derive, context,
printer_settings, to_json) and whose outcome satisfies `Outcome` (it carries
its validated `Spec`: file and title). What a kind offers beyond that is
stated once, as data, in its `KindEntry` (a figure, command-line options, the
files it reads, documents of its own), so no caller probes a module for
attributes. Kind modules are imported only when used.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from derive.core.startup import imports_paused
from derive.core.yamlload import Doc, load_file, one_of, shown

import importlib
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Spec(Protocol):
    file: str
    title: dict[str, str]


@runtime_checkable
class Outcome(Protocol):
    """A verified derivation: a formula that disagrees with finite differences never gets here."""

    spec: Any  # a Spec (Protocol attributes are invariant: each kind narrows it)


@runtime_checkable
class Kind(Protocol):
    def parse(self, doc) -> Spec: ...

    def derive(self, spec) -> Outcome: ...

    def context(self, outcome, lang: str) -> dict: ...

    def printer_settings(self, outcome) -> dict: ...

    def to_json(self, outcome) -> dict: ...


@cache
def _module(path: str) -> Kind:
    with imports_paused():  # the kind's module imports SymPy and NumPy: the bulk of start-up
        module = importlib.import_module(path)
    return module


@dataclass(frozen=True)
class KindEntry:
    """One kind: its module and the optional parts of the interface it offers."""

    name: str
    path: str  # the module, e.g. derive.network
    figure: bool = False  # figure(outcome): a diagram beside the Markdown (SVG) and in LaTeX (TikZ)
    options: bool = False  # apply_options(spec, options): command-line options such as --view
    inputs: bool = False  # inputs(doc): further files the spec reads (a course's chapters)
    documents: bool = False  # markdown_document / latex_document: writes its own documents (a course)
    # the mark after a step heading's number: "1)" as seed 000 numbers its steps, the house style of every
    # kind that reproduces no seed's numbering; "." where the kind's seed writes "1." (seed 004, mlp)
    steps: str = ")"

    @property
    def module(self) -> Kind:
        return _module(self.path)

    def figure_of(self, outcome: Outcome, lang: str = "en"):
        """The kind's figure, its numbers in lang's format (a worked example's values)."""
        return self.module.figure(outcome, lang) if self.figure else None

    def with_options(self, spec: Spec, options) -> Spec:
        return self.module.apply_options(spec, options) if self.options and options is not None else spec

    def inputs_of(self, doc) -> list:
        return list(self.module.inputs(doc)) if self.inputs else []

    def markdown_document(self, outcome: Outcome, lang: str, options) -> str | None:
        return self.module.markdown_document(outcome, lang, options) if self.documents else None

    def latex_document(self, outcome: Outcome, lang: str, options) -> str | None:
        return self.module.latex_document(outcome, lang, options) if self.documents else None


KINDS: dict[str, KindEntry] = {
    k.name: k
    for k in [
        KindEntry("network", "derive.kinds.network.kind", figure=True, options=True),
        KindEntry("graph", "derive.kinds.graph.kind", figure=True),
        KindEntry("mlp", "derive.kinds.mlp.kind", steps="."),
        KindEntry("composition", "derive.kinds.composition"),
        KindEntry("course", "derive.kinds.course", inputs=True, documents=True),
        KindEntry("rnn", "derive.kinds.layers.rnn", figure=True),
        KindEntry("attention", "derive.kinds.layers.attention", figure=True),
        KindEntry("conv", "derive.kinds.layers.conv", figure=True),
        KindEntry("layernorm", "derive.kinds.layers.layernorm", figure=True),
    ]
}


# -- deriving a spec file: load -> kind -> parse -> derive (the pipeline's first half; a course's chapters) --
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
        raise doc.error(("kind",), f"unknown kind {shown(kind)}; {one_of(kind, KINDS)}")
    return KINDS[kind]


def kind_of(doc: Doc):
    """(kind name, kind module) of doc."""
    entry = entry_of(doc)
    return entry.name, entry.module


def derive_spec(path: str | Path, options: Options | None = None) -> Result:
    doc = load_file(path)
    entry = entry_of(doc)
    if options is not None and options.view and not entry.options:  # an option that would do nothing
        from derive.errors import Location, SpecError

        raise SpecError(f"--view {options.view} applies to network specs only; this spec is of kind {entry.name}",
                        Location(str(path)))
    spec = entry.with_options(entry.module.parse(doc), options)
    return Result(entry.name, entry.module, entry.module.derive(spec))
