"""Answer files (CONTRACT section 4): YAML with `student`, `answers` and, from `derive quiz`, `seed`.

`read_sheet(path)` loads the file safely (derive.yamlload: line and column of
every value) and checks its shape; `sheet.resolve(parameters)` maps each key
(`theta_11`, or its LaTeX form `\\theta_{11}`) to a parameter name. Every
problem of the file itself is a SpecError (exit 2) naming file:line:column;
problems of one answer's formula are not the file's: they are graded
`invalid` by derive.grading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import sympy as sp

from .errors import SpecError
from .mathparse import ParseError, parse_math
from .yamlload import Doc, load_file

TOP_KEYS = ("student", "answers", "seed", "spec")
MAX_SEED = 2**31
MAX_BYTES = 200_000  # a class's files are read one after another: a few kB each, 40 answers of 5000 characters at most


@dataclass
class Sheet:
    """One student's file: who, which quiz variant, and the raw answers by key as written."""

    doc: Doc
    student: str | None
    seed: int | None
    raw: dict[str, object] = field(default_factory=dict)
    spec: str | None = None  # the spec file's name, as derive quiz records it

    @property
    def file(self) -> str:
        return self.doc.file

    def check_spec(self, spec_path: str) -> None:
        """A file made by derive quiz for another spec is an error, not a page of wrong answers."""
        if self.spec and os.path.basename(self.spec) != os.path.basename(spec_path):
            raise self.doc.error(("spec",), f"this answers file is for {self.spec!r}, not for {spec_path!r}")

    def resolve(self, parameters: list[str]) -> dict[str, object]:
        """Parameter name -> raw answer; a key that is not one of parameters is an error of the file."""
        symbols = {p: sp.Symbol(p) for p in parameters}
        out: dict[str, object] = {}
        for key, value in self.raw.items():
            name = _parameter(key, symbols)
            if name is None:
                raise self.doc.error(("answers", key), f"{key!r} is not a parameter asked here; expected one of: "
                                                      f"{', '.join(parameters)}")
            if name in out:
                raise self.doc.error(("answers", key), f"{key!r} answers {name} a second time")
            out[name] = value
        return out


def _parameter(key: str, symbols: dict[str, sp.Symbol]) -> str | None:
    if key in symbols:
        return key
    try:
        expr = parse_math(key, names=symbols, max_length=100)
    except ParseError:
        return None
    return str(expr) if expr.is_Symbol else None


def read_sheet(path: str) -> Sheet:
    doc = load_file(path, MAX_BYTES, "answer files")
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "an answers file is a YAML mapping with the key `answers` (and optionally `student`)")
    doc.known_keys(data, TOP_KEYS)
    answers = data.get("answers")
    if not isinstance(answers, dict):
        raise doc.error(("answers",) if "answers" in data else (),
                        "expected `answers:` with one `parameter: \"formula\"` line per parameter")
    spec = data.get("spec")
    if spec is not None and not isinstance(spec, str):
        raise doc.error(("spec",), "expected the name of the spec file, as derive quiz writes it")
    return Sheet(doc, _student(doc), _seed(doc), dict(answers), spec)


def _student(doc: Doc) -> str | None:
    student = doc.data.get("student")
    if student is None or isinstance(student, str):
        return student or None
    if isinstance(student, (int, float)) and not isinstance(student, bool):
        return str(student)
    raise doc.error(("student",), "expected the student's name as text")


def _seed(doc: Doc) -> int | None:
    seed = doc.data.get("seed")
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
        raise SpecError(f"expected the quiz's seed, a whole number from 0 to {MAX_SEED - 1}", doc.where(("seed",)), "seed")
    return seed
