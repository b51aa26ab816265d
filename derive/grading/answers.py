"""Answer files (CONTRACT section 4): YAML with `student`, `answers` and, from `derive quiz`, `seed`.

`read_sheet(path)` loads the file safely (derive.yamlload: line and column of
every value) and checks its shape; `sheet.resolve(asked, keys)` maps each key
(`theta_11`, its LaTeX or Unicode form `\\theta_{11}`, `θ₁₁`, or `theta11` when
that fits one name) to a name; a key that fits none or several is refused
alone (`Refused`, with a hint), the others are still graded. Every other
problem of the file itself is a SpecError (exit 2) naming file:line:column;
problems of one answer's formula are not the file's: they are graded
`invalid` by derive.grading.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field

import sympy as sp

from derive.errors import SpecError
from derive.core.parse import ParseError, parse_math
from derive.core.yamlload import Doc, load_file

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

    def resolve(self, parameters: list[str], keys: list[str] | None = None) -> tuple[dict[str, object], list["Refused"]]:
        """Name -> raw answer, and the keys refused (each with its reason; the other keys are still graded).

        parameters are the asked names; keys (default: parameters) every name that may be answered, such as
        the intermediate quantities dy_dh_1. A key is read as written (`theta_11`), as LaTeX or Unicode
        (`\\theta_{11}`, `θ₁₁`), or without the underscores (`theta11`) when that fits one name only.
        """
        return resolve(self.raw, parameters, keys, lambda key: self.doc.where(("answers", key)))


def resolve(raw: dict, parameters: list[str], keys: list[str] | None = None,
            where=lambda key: None) -> tuple[dict[str, object], list["Refused"]]:
    """The answers by the name each key stands for, and the keys refused (see Sheet.resolve); where(key) gives
    a refused key's location in its file (None for answers that come from elsewhere, such as the web)."""
    keys = list(dict.fromkeys([*parameters, *(keys or [])]))
    symbols = {k: sp.Symbol(k) for k in keys}
    out: dict[str, object] = {}
    refused: list[Refused] = []
    for key, value in raw.items():
        name, problem = _key(str(key), symbols)
        if name is not None and name in out:
            name, problem = None, ("key_twice", {"key": str(key), "name": name})
        if name is None:
            code, args = problem
            refused.append(Refused(str(key), code, args, where(key)))
            continue
        out[name] = value
    return out, refused


@dataclass(frozen=True)
class Refused:
    """A key of the answers file that names no question (or two): code and args for derive.check's catalog."""

    key: str
    code: str
    args: dict
    location: object = None


def _key(key: str, symbols: dict[str, sp.Symbol]) -> tuple[str | None, tuple[str, dict] | None]:
    """(the name key stands for, None), or (None, (problem code, its arguments))."""
    if key in symbols:
        return key, None
    try:
        expr = parse_math(key, names=symbols, max_length=100)
        if expr.is_Symbol:
            return str(expr), None
    except ParseError:
        pass
    squeezed = _squeeze(key)
    fits = [name for name in symbols if _squeeze(name) == squeezed] if squeezed else []
    if len(fits) == 1:
        return fits[0], None
    if len(fits) > 1:
        return None, ("key_ambiguous", {"key": key, "names": "\n".join(fits)})  # "a or b": derive.check joins
    close = difflib.get_close_matches(key, list(symbols), n=3, cutoff=0.5)
    if close:
        return None, ("key_unknown_close", {"key": key, "close": "\n".join(close)})  # "a or b": derive.check joins them
    shown = list(symbols)[:12]
    if len(symbols) > len(shown):  # "… W_22 and 4 more.": the list never ends in "…."
        return None, ("key_unknown_more", {"key": key, "names": ", ".join(shown), "more": len(symbols) - len(shown)})
    return None, ("key_unknown", {"key": key, "names": ", ".join(shown)})


def _squeeze(key: str) -> str:
    """theta11, θ₁₁, theta_1_1 -> 'theta11': the letters and digits of a key, Greek spelt out."""
    try:
        expr = parse_math(key, max_length=100)
        if expr.is_Symbol:
            key = expr.name
    except ParseError:
        pass
    return "".join(c for c in key if c.isascii() and c.isalnum())


def read_sheet(path: str) -> Sheet:
    try:
        doc = load_file(path, MAX_BYTES, "answer files")
    except SpecError as exc:
        if "escape character" in exc.message:  # "\phi_1" in double quotes: YAML's own escapes
            raise SpecError(f"{exc.message}; LaTeX answers go in single quotes, as in phi_1: '\\phi_1 g_1' "
                            f"(inside double quotes YAML reads a backslash as an escape)", exc.location, exc.path) from None
        raise
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "an answers file is a YAML mapping with the key `answers` (and optionally `student`)")
    doc.known_keys(data, TOP_KEYS)
    answers = data.get("answers")
    if answers is None and "answers" in data:  # `answers:` with nothing under it: every question is missing
        answers = {}
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
