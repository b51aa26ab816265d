"""The kind interface: what every kind of spec (network, graph, mlp, …) offers the pipeline.

A kind is a module that satisfies `Kind` (parse, derive, context,
printer_settings, to_json) and whose outcome satisfies `Outcome` (it carries
its validated `Spec`: file and title). What a kind offers beyond that is
stated once, as data, in its `KindEntry` (a figure, command-line options, the
files it reads, documents of its own), so no caller probes a module for
attributes. Kind modules are imported only when used.
"""

from __future__ import annotations

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
    return importlib.import_module(path)


@dataclass(frozen=True)
class KindEntry:
    """One kind: its module and the optional parts of the interface it offers."""

    name: str
    path: str  # the module, e.g. derive.network
    figure: bool = False  # figure(outcome): a diagram beside the Markdown (SVG) and in LaTeX (TikZ)
    options: bool = False  # apply_options(spec, options): command-line options such as --view
    inputs: bool = False  # inputs(doc): further files the spec reads (a course's chapters)
    documents: bool = False  # markdown_document / latex_document: writes its own documents (a course)

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
        KindEntry("network", "derive.network", figure=True, options=True),
        KindEntry("graph", "derive.graph", figure=True),
        KindEntry("mlp", "derive.mlp"),
        KindEntry("composition", "derive.composition"),
        KindEntry("course", "derive.course", inputs=True, documents=True),
        KindEntry("rnn", "derive.layers.rnn", figure=True),
        KindEntry("attention", "derive.layers.attention", figure=True),
        KindEntry("conv", "derive.layers.conv", figure=True),
        KindEntry("layernorm", "derive.layers.layernorm"),
    ]
}
