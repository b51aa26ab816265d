"""Safe parsing of plain math and LaTeX into SymPy, for graph specs and students' answers.

A scanner normalises identifiers to the project's canonical ASCII names
(``\\theta_{0,1}`` -> ``theta_01``, ``W^{[2]}_{11}`` -> ``W2_11``) and feeds a
LALR grammar whose callbacks build SymPy objects from a whitelist of functions;
the text is never evaluated as code, and every bad input fails in linear time
with a ``ParseError`` that names its column.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from typing import Mapping, Sequence

import sympy as sp
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedInput
from lark.lexer import Lexer

from derive.core import functions
from derive.core.calculus import Indicator
from derive.core.languages import language
from derive.errors import Location, SpecError

__all__ = ["ParseError", "UnknownName", "parse_math", "canonical_name", "ALLOWED_FUNCTIONS"]


class ParseError(SpecError):
    """An expression that cannot be read; the message starts with the column of the culprit.

    `key` and `details` name the problem for callers that word it themselves (derive check
    translates them): e.g. key "unknown_function", details {"name": "sin", "allowed": "…"}.
    """

    def __init__(self, message: str, location: Location | None = None, path: str = "", *,
                 key: str | None = None, details: dict | None = None):
        super().__init__(message, location, path)
        self.column = location.column if location else None
        self.key, self.details = key, dict(details or {})


class UnknownName(ParseError):
    """Names that are not among the known ones; ``names`` lists the unknown ones."""

    def __init__(self, message: str, location: Location | None = None, path: str = "", names: Sequence[str] = ()):
        super().__init__(message, location, path)
        self.names = list(names)


# --------------------------------------------------------------------------- vocabulary

_GREEK_WORDS = frozenset(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau "
    "upsilon phi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split()
)
_LATEX_GREEK = {g: g for g in _GREEK_WORDS} | {
    "varepsilon": "epsilon", "vartheta": "theta", "varphi": "phi", "varrho": "rho",
    "varsigma": "sigma", "varpi": "pi", "varkappa": "kappa",
}
_UNICODE_GREEK = dict(
    zip(
        "αβγδεϵζηθϑικλμµνξοπϖρϱσςτυφϕχψωΓΔΘΛΞΠΣΥΦΨΩ",
        "alpha beta gamma delta epsilon epsilon zeta eta theta theta iota kappa lambda mu mu nu xi omicron "
        "pi pi rho rho sigma sigma tau upsilon phi phi chi psi omega "
        "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split(),
    )
)

# The function words, their arities and builders are the vocabulary's (derive.functions), read at
# each use so that a function registered at run time is known; these words are never variables.
class _Vocabulary:
    """word (lower case) -> function key; key -> (fewest, most, builder); primed keys relu'(z) -> f'."""

    def __contains__(self, word: str) -> bool:
        return word in functions.words()

    def __getitem__(self, word: str) -> str:
        return functions.words()[word]


class _Builders:
    def __getitem__(self, key: str):
        name, primed = key.rstrip("'"), key.endswith("'")
        f = functions.FUNCTIONS[name]
        fewest, most = f.nargs
        return (fewest, most, _derivative(f) if primed else f.build)


def _derivative(f):
    """f'(z, …): SymPy's derivative of f in its first argument (relu' = I[z > 0], σ' = σ(1 − σ))."""
    def build(*args):
        dummies = [sp.Dummy() for _ in args]
        return sp.diff(f.build(*dummies), dummies[0]).xreplace(dict(zip(dummies, args)))

    return build


class _Primed:
    def __contains__(self, key: str) -> bool:
        f = functions.FUNCTIONS.get(key)
        return f is not None and f.primed


class _LatexFunctions:
    def __contains__(self, command: str) -> bool:
        return command in functions.latex_words()


class _Allowed:
    """The function names an answer may use, for messages (sorted)."""

    def __iter__(self):
        return iter(sorted({*functions.words(), "H", "Heaviside", "sigma"} - {"heaviside"}))


_FUNCTION_WORDS = _Vocabulary()
_LATEX_FUNCTIONS = _LatexFunctions()
_APPLY = _Builders()
_PRIMED = _Primed()
ALLOWED_FUNCTIONS = _Allowed()

_SPACING = {",", ";", ":", "!", " ", "quad", "qquad", "thinspace", "medspace", "thickspace", "enspace"}
_SIZING = {"left", "right", "middle", "big", "Big", "bigg", "Bigg",
           "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr", "Biggl", "Biggr"}
_LATEX_OPERATORS = {
    "cdot": ("MUL", None), "times": ("MUL", None), "ast": ("MUL", None), "div": ("DIV", None),
    "gt": ("REL", "gt"), "lt": ("REL", "lt"), "ge": ("REL", "ge"), "geq": ("REL", "ge"),
    "geqslant": ("REL", "ge"), "le": ("REL", "le"), "leq": ("REL", "le"), "leqslant": ("REL", "le"),
}
_CHAR_OPERATORS = {
    "+": ("PLUS", None), "-": ("MINUS", None), "−": ("MINUS", None), "–": ("MINUS", None), "—": ("MINUS", None),
    "‐": ("MINUS", None), "‑": ("MINUS", None), "‒": ("MINUS", None), "·": ("MUL", None), "⋅": ("MUL", None),
    "∙": ("MUL", None), "∗": ("MUL", None), "•": ("MUL", None), "×": ("MUL", None), "/": ("DIV", None),
    "÷": ("DIV", None), "∕": ("DIV", None),
    "^": ("POW", None), ",": ("_COMMA", None), "≥": ("REL", "ge"), "≤": ("REL", "le"),
}
# characters pasted from documents: subscript and superscript digits, blackboard-bold indicators, primes
_SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉ᵢⱼₖₗₘₙ", "0123456789ijklmn"))
_SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789"))
_SUPERSCRIPT_MINUS = "⁻"
_INDICATOR_CHARS = frozenset("𝟙𝕀")
_PRIMES = frozenset("'′’ʹ")
_FULL_STOPS = frozenset(".。")
# letters that look like Latin ones (the code point is named in the message)
_CONFUSABLES = dict(zip("аеорсухкмтвнАВЕКМНОРСТХіјІЈ", "aeopcyxkmtbhABEKMHOPCTXijIJ"))
# what a backslash escape of YAML's double quotes leaves behind: '\theta' arrives as TAB + 'heta'
# (not \n: a line of a multi-line answer may well begin with u_1, which would read as \nu)
_YAML_ESCAPES = {"\t": "t", "\f": "f", "\b": "b", "\a": "a", "\v": "v", "\x1b": "e", "\r": "r"}
_ALWAYS_MANGLED = frozenset("\f\b\a\v\x1b")  # never typed on purpose; tab, CR and newline only before a command
_FONTS = {"mathrm", "text", "textrm", "textit", "operatorname", "mathit", "mathsf", "mathbb", "mathbf",
          "mathds", "mathbbm", "boldsymbol", "bm"}
_BOLD = {"mathbb", "mathbf", "mathds", "mathbbm", "boldsymbol", "bm"}
_OPENERS = {"(": "_LPAR", "[": "_LSQB", "{": "_LBRACE"}
_CLOSERS = {")": "_RPAR", "]": "_RSQB", "}": "_RBRACE"}
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_ENDS_OPERAND = {"NUMBER", "NAME", "_RPAR", "_RSQB", "_RBRACE", "_ABSCLOSE"}

SUM_UPPER = sp.Symbol("sum_upper", integer=True, positive=True)  # Σ_k's bound: the index's range where it is used
_MAX_DIGITS = 30
_MAX_EXPONENT = 1000
_MAX_BITS = 20_000  # no number built along the way may be larger (about 6000 decimal digits)
# Functions applied to functions: SymPy's automatic simplification of tanh(tanh(…)) costs about three
# times more per level (7 levels 0.15 s, 9 levels seconds). A bound on the nesting, not a clock, decides
# which answers are refused, so the verdict never depends on the machine or on what was checked before.
MAX_CALL_DEPTH = 6

_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?|\.[0-9]+")
_SCIENTIFIC = re.compile(r"[eE]([+\-−]?)([0-9]{1,6})(?![A-Za-z0-9_])")  # 4.3857e-4, as calculators show it
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_LONG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*[A-Za-z0-9](?![A-Za-z0-9_])")
_LEAKY = re.compile(r"(?i:leaky_relu)(?![A-Za-z0-9_])")
_DIGITS = re.compile(r"[0-9]+")
_INDEX = re.compile(r"[A-Za-z0-9]+")
_COMMAND = re.compile(r"\\([A-Za-z]+|.)", re.DOTALL)
_LAYER = re.compile(r"\^(?:\{\s*\[\s*(?P<a>[A-Za-z0-9]+)\s*\]\s*\}|\[\s*(?P<b>[A-Za-z0-9]+)\s*\])")
_SKIPPABLE = re.compile(
    r"(?:\s|~|\\[,;:! ]|\\(?:quad|qquad|left|right|middle|[bB]igg?[lr]?)(?![A-Za-z]))*"
)
_BRACED = r"(?:[^{}]|\{[^{}]*\})*"  # text with braces at most one level deep
_PARTIAL = re.compile(
    rf"\s*\{{\s*\\partial\s*(?P<of>{_BRACED})\}}\s*\{{\s*\\partial\s*(?P<node>{_BRACED})\}}"
)
_TRANSPOSE = re.compile(r"(?:\^\s*(?:T|\\top|\\intercal|\{\s*(?:T|\\top|\\intercal)\s*\})|\.T)(?![A-Za-z0-9_])")
_DECIMAL_COMMA = re.compile(r",([0-9]+)")
_GRADIENT_NAME = re.compile(r"d[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*_d[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*")
_PLAIN_NAME = r"(?:[A-Za-z]+|[α-ωΑ-Ω]|\\[A-Za-z]+)[0-9]*(?:_\{[A-Za-z0-9,]+\}|_[A-Za-z0-9]+|[₀-₉ᵢⱼₖₗₘₙ]+)*"
_PARTIAL_SLASH = re.compile(rf"(?:∂|\\partial)\s*(?P<of>{_PLAIN_NAME})\s*/\s*(?:∂|\\partial)\s*(?P<node>{_PLAIN_NAME})")
_LIMITS = re.compile(r"\s*\\(?:no)?limits(?![A-Za-z])")
_SIGMA_LIMITS = re.compile(r"\s*_\s*(?:(?P<a>[A-Za-z])(?![A-Za-z0-9])|\{\s*(?P<b>[A-Za-z])\s*(?:=\s*(?P<low>[A-Za-z0-9]+)\s*)?\})"
                           r"(?:\s*\^\s*(?:\{\s*[A-Za-z0-9]+\s*\}|[A-Za-z0-9]))?")
_HAS_RELATION = re.compile(r"[<>≤≥=]|\\(?:gt|lt|geq?|leq?|geqslant|leqslant)(?![A-Za-z])")


def canonical_name(base: str, indices: Sequence[str], layer: str | None = None) -> str:
    """base + layer + indices: single-character indices join with nothing, longer ones with '_'.

    canonical_name("theta", ["0", "1"]) == "theta_01"; canonical_name("theta", ["10", "3"]) ==
    "theta_10_3"; canonical_name("W", ["1", "1"], "2") == "W2_11".
    """
    base = "lamda" if base == "lambda" else base  # λ: SymPy's spelling, since lambda is a Python keyword
    name = base + (layer or "")
    if not indices:
        return name
    joiner = "" if all(len(i) == 1 for i in indices) else "_"
    return f"{name}_{joiner.join(indices)}"


# --------------------------------------------------------------------------- errors


class _Fail(Exception):
    """An error at a 0-based offset of the text; parse_math turns it into a ParseError."""

    def __init__(self, offset: int, message: str, key: str | None = None, **details):
        super().__init__(message)
        self.offset, self.message, self.key, self.details = offset, message, key, details


@dataclass(frozen=True)
class _Where:
    """Turns offsets into absolute columns (and lines, after a newline) of the input."""

    text: str
    location: Location | None

    def locate(self, offset: int) -> Location:
        file = self.location.file if self.location else "<input>"
        line = self.location.line if self.location else 1
        column = (self.location.column if self.location and self.location.column is not None else 1) + offset
        newlines = self.text.count("\n", 0, offset)
        if newlines:
            line = None if line is None else line + newlines
            column = offset - self.text.rfind("\n", 0, offset)
        return Location(file, line, column)

    def error(self, offset: int, message: str, key: str | None = None, details: dict | None = None) -> ParseError:
        where = self.locate(offset)
        return ParseError(f"column {where.column}: {message}", where, key=key, details=details)


# --------------------------------------------------------------------------- bounds


def _check_brackets(text: str, max_depth: int, where: _Where) -> dict[int, int]:
    """One linear pass: brackets balanced, matching and at most max_depth deep; offset of '(' -> of ')'."""
    stack: list[int] = []
    match: dict[int, int] = {}
    for i, c in enumerate(text):
        if c in _PAIRS:
            stack.append(i)
            if len(stack) > max_depth:
                raise _Fail(i, f"brackets nested deeper than {max_depth} levels", "too_deep", most=max_depth)
        elif c in _CLOSERS:
            if not stack:
                raise _Fail(i, f"unbalanced {_q(c)}: no bracket is open", "unbalanced", bracket=c)
            j = stack.pop()
            if _PAIRS[text[j]] != c:
                raise _Fail(i, f"{_q(c)} does not match {_q(text[j])} at column {where.locate(j).column}", "mismatch",
                            bracket=c, opening=text[j], opening_column=where.locate(j).column)
            match[j] = i
    if stack:
        raise _Fail(stack[-1], f"{_q(text[stack[-1]])} is never closed", "never_closed", bracket=text[stack[-1]])
    return match


def _unexpected_character(offset: int, c: str) -> _Fail:
    """An unexpected character, named with its code point; a letter that only looks Latin says which it looks like."""
    code = f"U+{ord(c):04X}"
    name = unicodedata.name(c, code)
    if c in _CONFUSABLES:
        return _Fail(offset, f"the character {_q(c)} ({code} {name}) looks like the Latin {_q(_CONFUSABLES[c])} but is "
                     f"not; type it on a Latin keyboard", "confusable", character=c, codepoint=code, latin=_CONFUSABLES[c])
    return _Fail(offset, f"unexpected character {_q(c)} ({code} {name})", "unexpected_character", character=c,
                 codepoint=code)


def _latex_commands() -> frozenset[str]:
    return frozenset({*_LATEX_GREEK, *_LATEX_OPERATORS, *_FONTS, *_SIZING, *functions.latex_words(), *_SPACING,
                      "frac", "dfrac", "tfrac", "partial", "vert", "lvert", "rvert", "odot", "top"})


def _yaml_mangled(text: str) -> _Fail | None:
    """LaTeX in YAML double quotes: '\\theta' arrives as a tab and 'heta', '\\frac' as a form feed and 'rac'."""
    commands = _latex_commands()
    for i, c in enumerate(text):
        letter = _YAML_ESCAPES.get(c)
        if letter is None:
            continue
        word = _WORD.match(text, i + 1)
        command = letter + (word.group() if word else "")
        if c in _ALWAYS_MANGLED or (word and command in commands):
            return _Fail(i, f"a {_CONTROL_NAMES[c]} stands where '\\{command}' was: in YAML double quotes a backslash "
                         f"starts an escape; write the formula in single quotes ('…')", "yaml_escape",
                         character=_CONTROL_NAMES[c], command=f"\\{command}")
    return None


_CONTROL_NAMES = {"\t": "tab", "\f": "form feed", "\b": "backspace", "\a": "bell character", "\v": "vertical tab",
                  "\x1b": "escape character", "\r": "carriage return", "\n": "line break"}


def _bits(number: sp.Rational) -> int:
    return max(abs(number.p).bit_length(), abs(number.q).bit_length())


def _checked(value: sp.Expr, offset: int) -> sp.Expr:
    if value.is_Rational and _bits(value) > _MAX_BITS:
        raise _Fail(offset, f"a number with more than {_MAX_BITS * 3 // 10} digits", "huge_number", most=_MAX_BITS * 3 // 10)
    return value


def _deeper_than(expr: sp.Basic, cap: int) -> bool:
    """Whether the expression tree is more than cap levels deep (iterative, so never a RecursionError)."""
    stack = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > cap:
            return True
        stack.extend((arg, depth + 1) for arg in node.args)
    return False


# --------------------------------------------------------------------------- scanner


class _Tok(Token):
    """A token that carries the SymPy object (or option) it stands for."""

    __slots__ = ("obj",)


class _Scanner:
    """Turns the text into tokens, normalising names and deciding what '|', '1[', 'e^' and 'σ(' mean."""

    def __init__(self, text: str, names: Mapping[str, sp.Expr] | None, max_depth: int, match: dict[int, int]):
        self.text, self.names, self.max_depth, self.match = text, names, max_depth, match
        # names that stand for matrices (derive check's matrix answers) switch on transposes; elsewhere
        # x^T is x to the power T
        self.matrices = names is not None and any(isinstance(v, sp.MatrixBase) for v in names.values())
        self.pos, self.prev = 0, None
        self.stack: list[tuple[str, int]] = []  # open brackets and '|', for deciding what '|' means
        self.unknown: list[tuple[str, int]] = []
        self.single: set[int] = set()  # offsets where \frac12 takes a one-character argument
        self.calls: set[int] = set()  # offsets of brackets that open a function's arguments

    def tokens(self):
        n = len(self.text)
        while True:
            self.pos = self._skip_space(self.pos)
            if self.pos >= n:
                break
            yield from self._next()
        if self.stack:
            raise _Fail(self.stack[-1][1], "'|' is never closed", "never_closed", bracket="|")

    # --- helpers

    def _skip_space(self, pos: int) -> int:
        while pos < len(self.text) and (self.text[pos].isspace() or self.text[pos] == "~"):
            pos += 1
        return pos

    def _peek(self, pos: int) -> str:
        """The next meaningful character from pos, skipping spaces and \\left, \\big, \\, …"""
        pos = _SKIPPABLE.match(self.text, pos).end()
        return self.text[pos] if pos < len(self.text) else ""

    def _tok(self, kind: str, start: int, end: int, obj=None) -> _Tok:
        tok = _Tok(kind, self.text[start:end], start, 1, start + 1, 1, end + 1, end)
        tok.obj = obj
        self.prev, self.pos = kind, end
        return tok

    def _known(self, name: str) -> bool:
        return self.names is not None and name in self.names

    def _cond_group(self, pos: int) -> bool:
        """Whether pos starts `_{…}` holding a comparison (the subscript of an indicator)."""
        text = self.text
        if not (pos + 1 < len(text) and text[pos] == "_" and text[pos + 1] == "{"):
            return False
        return bool(_HAS_RELATION.search(text, pos + 2, self.match[pos + 1]))

    def _push(self, kind: str, pos: int) -> None:
        if self.prev == "FUNC":  # a call's argument list: max(0,5) has two arguments, not 0.5
            self.calls.add(pos)
        self.stack.append((kind, pos))
        if len(self.stack) > self.max_depth:
            raise _Fail(pos, f"brackets nested deeper than {self.max_depth} levels", "too_deep", most=self.max_depth)

    # --- dispatch

    def _next(self) -> list[_Tok]:
        text, pos = self.text, self.pos
        c = text[pos]
        if pos in self.single:
            return [self._single_char(pos)]
        if "0" <= c <= "9" or (c == "." and pos + 1 < len(text) and "0" <= text[pos + 1] <= "9"):
            return [self._number(pos)]
        if c.isascii() and c.isalpha():
            return self._plain_word(pos)
        if c in "Σ∑" and (self._peek(self._limits(pos + 1)) == "_" or text[pos + 1:pos + 2] in "ᵢⱼₖₗₘₙ"):
            return [self._sigma(pos, pos + 1)]
        if c in _UNICODE_GREEK:
            return self._identifier(_UNICODE_GREEK[c], pos, pos + 1, greek=True)
        if c == "\\":
            return self._command(pos)
        if c in _INDICATOR_CHARS:  # 𝟙[u > 0], 𝕀(u > 0), 𝟙_{u>0}
            return [self._tok("IND", pos, pos + 1)]
        if c in _SUPERSCRIPTS or c == _SUPERSCRIPT_MINUS:
            return self._superscript(pos)
        if c == "∂":
            return [self._partial_slash(pos)]
        if c in _FULL_STOPS and not text[pos + 1:].strip():  # a sentence's full stop after the formula
            self.pos = len(text)
            return []
        if c == "|":
            return [self._bar(pos, pos + 1)]
        if c in _OPENERS:
            self._push(c, pos)
            return [self._tok(_OPENERS[c], pos, pos + 1)]
        if c in _CLOSERS:
            if self.stack[-1][0] == "|":
                raise _Fail(self.stack[-1][1], "'|' is never closed", "never_closed", bracket="|")
            self.stack.pop()
            return [self._tok(_CLOSERS[c], pos, pos + 1)]
        return [self._operator(pos, c)]

    def _operator(self, pos: int, c: str) -> _Tok:
        text = self.text
        if self.matrices and (c == "^" or c == "."):  # W^T, x^{\top}, W.T: a transpose (matrix answers only)
            transpose = _TRANSPOSE.match(text, pos) if self.prev in _ENDS_OPERAND else None
            if transpose and (c == "." or not self._known("T")):
                return self._tok("TRANSPOSE", pos, transpose.end())
        if c == "ᵀ" and self.matrices and self.prev in _ENDS_OPERAND:
            return self._tok("TRANSPOSE", pos, pos + 1)
        if c == "@":
            return self._tok("MATMUL", pos, pos + 1)
        if c in "⊙∘":
            return self._tok("HAD", pos, pos + 1)
        if c == "*":
            if text.startswith("**", pos):
                return self._tok("POW", pos, pos + 2, self.max_depth)
            return self._tok("MUL", pos, pos + 1)
        if c in "<>":
            strict = not text.startswith("=", pos + 1)
            kind = ("gt" if c == ">" else "lt") if strict else ("ge" if c == ">" else "le")
            return self._tok("REL", pos, pos + (1 if strict else 2), kind)
        if c in _CHAR_OPERATORS:
            kind, obj = _CHAR_OPERATORS[c]
            return self._tok(kind, pos, pos + 1, self.max_depth if kind == "POW" else obj)
        if c == "_":
            if self.prev == "IND":
                return self._tok("_SUB", pos, pos + 1)
            raise _Fail(pos, "'_' must follow a name (as in x_1) or an indicator (as in 1_{u>0})", "underscore")
        if c == ".":
            raise _Fail(pos, "'.' is only allowed inside a number", "dot")
        if c == "=":
            if self.stack and self.stack[-1][0] != "|":  # 1_{k=i}, I[m = i]: equal indices (index answers)
                return self._tok("REL", pos, pos + (2 if text.startswith("==", pos) else 1), "eq")
            raise _Fail(pos, "'=' is not allowed: write an expression, not an equation", "equation")
        raise _unexpected_character(pos, c)

    def _bar(self, start: int, end: int) -> _Tok:
        if self.stack and self.stack[-1][0] == "|" and self.prev in _ENDS_OPERAND:
            self.stack.pop()
            return self._tok("_ABSCLOSE", start, end)
        self._push("|", start)
        return self._tok("_ABSOPEN", start, end)

    # --- numbers

    def _number(self, pos: int) -> _Tok:
        text = self.text
        m = _NUMBER.match(text, pos)
        literal, end = m.group(), m.end()
        comma = _DECIMAL_COMMA.match(text, end)
        if comma and "." not in literal and not (self.stack and self.stack[-1][1] in self.calls):
            literal, end = f"{literal}.{comma.group(1)}", comma.end()  # 0,5: a decimal comma (ru, pl), not in max(0,5)
        if end < len(text) and text[end] == "." and text[end + 1:].strip():
            raise _Fail(end, "'.' is only allowed inside a number", "dot")
        digits = literal.replace(".", "")
        if len(digits) > _MAX_DIGITS:
            raise _Fail(pos, f"a number with {len(digits)} digits; at most {_MAX_DIGITS} are allowed", "digits",
                        digits=len(digits), most=_MAX_DIGITS)
        if literal == "1" and (text.startswith(("[", "\\{"), end) or self._cond_group(end)):
            return self._tok("IND", pos, end)
        whole, _, fraction = literal.partition(".")
        value = sp.Rational(int(digits), 10 ** len(fraction)) if fraction else sp.Integer(int(whole))
        scientific = _SCIENTIFIC.match(text, end)
        if scientific:
            value, end = value * self._ten_to(scientific, text[pos:end]), scientific.end()
        return self._tok("NUMBER", pos, end, value)

    def _ten_to(self, m: re.Match, mantissa: str) -> sp.Rational:
        """10^k of `4.3857e-4` (the calculator's notation, e or E with a whole exponent); refused when the letter
        is a name here (the loss E): 4.3857E-4 could then be the product 4.3857·E − 4 as well."""
        sign, digits = ("-" if m.group(1) in ("-", "−") else ""), m.group(2)
        if self._known(m.group()[0]):
            raise _Fail(m.start(), f"'{mantissa}{m.group()}' could be a number in scientific notation or a product "
                        f"with {m.group()[0]}: write the number as {mantissa}*10^{sign}{digits}, or the product with a "
                        f"space or '*' before {m.group()[0]}", "scientific_name", written=f"{mantissa}{m.group()}",
                        name=m.group()[0], power=f"{mantissa}*10^{sign}{digits}")
        exponent = int(sign + digits)
        if abs(exponent) > _MAX_EXPONENT:
            raise _Fail(m.start(), f"the exponent {exponent} is too large: at most {_MAX_EXPONENT} in absolute value",
                        "exponent", exponent=exponent, most=_MAX_EXPONENT)
        return sp.Integer(10) ** exponent

    def _single_char(self, pos: int) -> _Tok:
        c = self.text[pos]
        if c.isdigit():
            return self._tok("NUMBER", pos, pos + 1, sp.Integer(int(c)))
        return self._name_token(c, pos, pos + 1)

    # --- names

    def _plain_word(self, pos: int) -> list[_Tok]:
        m = _LEAKY.match(self.text, pos)
        if m:
            return [self._function("leaky_relu", pos, m.end())]
        m = _LONG_NAME.match(self.text, pos)
        if m and "_" in m.group() and (self._known(m.group()) or _GRADIENT_NAME.fullmatch(m.group())):
            # a known name whose parts would otherwise read as indices (dy_dh_1, not dy_d · h_1)
            return [self._name_token(m.group(), pos, m.end())]
        m = _WORD.match(self.text, pos)
        return self._word(m.group(), pos, m.end(), greek=m.group() in _GREEK_WORDS)

    def _word(self, word: str, start: int, end: int, greek: bool = False) -> list[_Tok]:
        """A whole word: a reserved function, the indicator I, or the base of an identifier."""
        key = word.lower()
        if key == "sum" and self.text.startswith("_", end):  # sum_k W_ki x_k: a sum over an index
            return [self._sigma(start, end)]
        if key in _FUNCTION_WORDS:
            if end < len(self.text) and self.text[end] == "_":
                raise _Fail(start, f"{_q(word)} is a function, not a variable; write {word}(…)")
            return [self._function(_FUNCTION_WORDS[key], start, end)]
        if word == "I" and not self._known("I") and (self._peek(end) in ("[", "(") or self._cond_group(end)
                                                     or self.text.startswith("\\{", _SKIPPABLE.match(self.text, end).end())):
            return [self._tok("IND", start, end)]
        return self._identifier(word, start, end, greek)

    def _function(self, key: str, start: int, end: int) -> _Tok:
        """A function token; a prime right after it (relu'(z)) makes it the function's derivative."""
        if key in _PRIMED and self.text[end:end + 1] in _PRIMES:
            return self._tok("FUNC", start, end + 1, key + "'")
        return self._tok("FUNC", start, end, key)

    def _identifier(self, base: str, start: int, end: int, greek: bool) -> list[_Tok]:
        digits = _DIGITS.match(self.text, end) if greek else None
        if digits and self._known(base + digits.group()):  # δ2 for the name delta2 (a layer's δ)
            base, end = base + digits.group(), digits.end()
        indices, layer, after = self._suffix(end)
        if not indices and layer is None:
            special = self._special(base, start, after, greek)
            if special is not None:
                return [special]
        return [self._name_token(canonical_name(base, indices, layer), start, after)]

    def _special(self, base: str, start: int, end: int, greek: bool) -> _Tok | None:
        """σ( is the sigmoid, H( the Heaviside step, e^ Euler's number; other words before '(' are checked."""
        after = self._peek(end)
        if base == "sigma" and (after == "(" or self.text[end:end + 1] in _PRIMES):
            return self._function("sigmoid", start, end)
        if base == "H" and after == "(" and not self._known("H"):
            return self._tok("FUNC", start, end, "heaviside")
        if base == "a" and after == "[" and self.names is not None and not self._known("a"):
            return self._tok("BRFUNC", start, end, "relu")  # a[z]: the ReLU in seed 000's notation
        if base == "e" and after == "^":
            if not self._known("e"):
                return self._tok("E", start, end)
            # a quantity named e (CS231n's neuron: e = exp(m)): e^{-z} is meant as exp(−z) as often as a power of it
            raise _Fail(start, "e is a name here, so e^… could be the exponential or a power of e: write exp(…) for "
                        "the exponential, or (e)^… for a power of e", "euler_name")
        if after == "(" and not self._may_multiply(base, greek):
            raise _Fail(start, f"unknown function {_q(base)}; allowed functions: {', '.join(ALLOWED_FUNCTIONS)}",
                        "unknown_function", name=base, allowed=", ".join(ALLOWED_FUNCTIONS))
        return None

    def _may_multiply(self, base: str, greek: bool) -> bool:
        """Whether `base(…)` is a product: a known variable, or (without names) a letter or a Greek name."""
        if self.names is not None:
            return base in self.names or base == "pi"
        return len(base) == 1 or greek

    def _suffix(self, pos: int) -> tuple[list[str], str | None, int]:
        """Indices (`_1`, `_i`, `_{0,1}`, repeated) and a layer (`^{[2]}`), in either order."""
        text, indices, layer = self.text, [], None
        while pos < len(text):
            if text[pos] == "_":
                found, pos = self._index(pos)
                indices.extend(found)
            elif text[pos] == "^" and layer is None and (m := _LAYER.match(text, pos)):
                layer, pos = m.group("a") or m.group("b"), m.end()
            elif text[pos] in _SUBSCRIPTS:  # φ₁₂: Unicode subscripts are one index, like _{12}
                end = pos
                while end < len(text) and text[end] in _SUBSCRIPTS:
                    end += 1
                indices.append("".join(_SUBSCRIPTS[c] for c in text[pos:end]))
                pos = end
            else:
                break
        return indices, layer, pos

    def _index(self, pos: int) -> tuple[list[str], int]:
        text, q = self.text, pos + 1
        c = text[q] if q < len(text) else ""
        if "0" <= c <= "9":
            m = _DIGITS.match(text, q)
            return [m.group()], m.end()
        if c.isascii() and c.isalpha():
            return [c], q + 1
        if c == "{":
            close = self.match[q]
            parts = [part.strip() for part in text[q + 1 : close].split(",")]
            if not all(_INDEX.fullmatch(part) for part in parts):
                raise _Fail(q, "expected indices of letters and digits inside _{…}, as in _{01} or _{i,j}")
            return parts, close + 1
        raise _Fail(pos, "expected an index after '_', as in x_1, x_i or x_{01}")

    def _name_token(self, name: str, start: int, end: int) -> _Tok:
        if self.names is not None and name in self.names:
            value = _as_expr(self.names[name], name)
        elif name == "pi":
            value = sp.pi
        else:
            if self.names is not None:
                self.unknown.append((name, start))
            value = sp.Symbol(name)
        return self._tok("NAME", start, end, value)

    # --- LaTeX

    def _command(self, pos: int) -> list[_Tok]:
        m = _COMMAND.match(self.text, pos)
        if not m:
            raise _Fail(pos, "'\\' at the end of the input")
        name, end = m.group(1), m.end()
        if name in ("{", "}"):  # \{z > 0\}: set braces, as in \mathbb{1}\{z > 0\}
            return self._escaped_brace(name, pos, end)
        if name in _SPACING or name in _SIZING:
            if name in _SIZING and self.text.startswith(".", end):  # \left. and \right.
                end += 1
            self.pos = end
            return []
        if name == "sum" or (name == "Sigma" and self._peek(self._limits(end)) == "_"):
            return [self._sigma(pos, end)]
        if name in _LATEX_GREEK:
            return self._identifier(_LATEX_GREEK[name], pos, end, greek=True)
        if name in ("odot", "circ"):
            return [self._tok("HAD", pos, end)]
        if name in _LATEX_OPERATORS:
            kind, obj = _LATEX_OPERATORS[name]
            return [self._tok(kind, pos, end, obj)]
        if name in ("frac", "dfrac", "tfrac"):
            partial = _PARTIAL.match(self.text, end)
            if partial and self.names is not None:
                return [self._partial(partial, pos)]
            self._frac_arguments(end)
            return [self._tok("FRAC", pos, end)]
        if name == "partial":
            return [self._partial_slash(pos)]
        if name in ("vert", "lvert", "rvert"):
            return [self._bar(pos, end)]
        if name in _FONTS:
            return self._font(name, pos, end)
        if name in _LATEX_FUNCTIONS:
            return self._word(name, pos, end)
        raise _Fail(pos, f"unknown LaTeX command \\{name}", "unknown_command", command=f"\\{name}")

    def _limits(self, pos: int) -> int:
        """After \\limits (\\sum\\limits_{k}), or pos."""
        m = _LIMITS.match(self.text, pos)
        return m.end() if m else pos

    def _sigma(self, start: int, end: int) -> _Tok:
        """Σ_k, \\sum_{k=1}^{n}, sum_k, Σₖ: a sum over an index of the answer's names (index-form answers only).
        The bounds are the index's range where it is used; written ones are read over."""
        after = self._limits(end)
        pasted = _SUBSCRIPTS.get(self.text[after:after + 1], "0")
        if pasted.isalpha():  # Σₖ, as pasted
            index, end = pasted, after + 1
        else:
            m = _SIGMA_LIMITS.match(self.text, after)
            if m is None:
                raise _Fail(end, "expected the index of the sum after '_', as in \\sum_k or \\sum_{k=1}^{n}",
                            "sum_index")
            index, end = m["a"] or m["b"], m.end()
            if m["low"] not in (None, "1"):  # \sum_{k=2}^{n} leaves x_1 out: it was read as the whole sum
                raise _Fail(after + m.start("low") - m.start(), f"this sum over {index} starts at {m['low']}, not at "
                            f"1: every element of the index's range belongs to it (write sum_{index} or Σ_{index})",
                            "sum_start", index=index, start=m["low"])
        symbol = self.names.get(index) if self.names is not None else None
        if not (isinstance(symbol, sp.Symbol) and symbol.is_integer):
            raise _Fail(start, "a sum over an index is only allowed in answers in index notation, such as "
                        "\\sum_k W_{k,i} x_k", "sum_index")
        return self._tok("SUM", start, end, symbol)

    def _partial(self, m: re.Match, start: int) -> _Tok:
        """\\frac{\\partial y}{\\partial h_1}: the named backward quantity dy_dh_1."""
        parts = []
        for group in ("of", "node"):
            try:
                symbol = parse_math(m.group(group), max_length=100, max_depth=3)
            except ParseError:
                symbol = None
            if not isinstance(symbol, sp.Symbol):
                raise _Fail(m.start(group), "expected a name after \\partial, as in \\frac{\\partial y}{\\partial h_1}")
            parts.append(symbol.name)
        return self._name_token(f"d{parts[0]}_d{parts[1]}", start, m.end())

    def _partial_slash(self, start: int) -> _Tok:
        """∂y/∂h_1 (or \\partial y / \\partial h_1), as pasted from a document: the named quantity dy_dh_1."""
        m = _PARTIAL_SLASH.match(self.text, start)
        if m is None:
            raise _Fail(start, "expected a derivative written as ∂y/∂h_1", "partial")
        return self._partial(m, start)

    def _superscript(self, pos: int) -> list[_Tok]:
        """x², (y − t)², e⁻¹: a power written with superscript digits."""
        if self.prev not in _ENDS_OPERAND:
            raise _unexpected_character(pos, self.text[pos])
        text = self.text
        end = pos + (text[pos] == _SUPERSCRIPT_MINUS)
        digits_end = end
        while digits_end < len(text) and text[digits_end] in _SUPERSCRIPTS:
            digits_end += 1
        if digits_end == end:
            raise _unexpected_character(pos, text[pos])
        value = sp.Integer(int("".join(_SUPERSCRIPTS[c] for c in text[end:digits_end])))
        tokens = [self._tok("POW", pos, pos, self.max_depth)]
        if end > pos:
            tokens.append(self._tok("MINUS", pos, end))
        tokens.append(self._tok("NUMBER", end, digits_end, value))
        return tokens

    def _escaped_brace(self, brace: str, start: int, end: int) -> list[_Tok]:
        if brace == "{":
            self._push("{", start)
            return [self._tok("_LBRACE", start, end)]
        if not self.stack or self.stack[-1][0] != "{":
            raise _Fail(start, "'\\}' does not close a '\\{'")
        self.stack.pop()
        return [self._tok("_RBRACE", start, end)]

    def _frac_arguments(self, pos: int) -> None:
        """\\frac12 and \\frac{a}b: an argument without braces is one character."""
        text = self.text
        p = self._skip_space(pos)
        if p < len(text) and text[p].isascii() and text[p].isalnum():
            self.single.add(p)
            p = self._skip_space(p + 1)
        elif p < len(text) and text[p] == "{":
            p = self._skip_space(self.match[p] + 1)
        else:
            return
        if p < len(text) and text[p].isascii() and text[p].isalnum():
            self.single.add(p)

    def _font(self, command: str, start: int, end: int) -> list[_Tok]:
        """\\mathbb{1} and \\mathbf{1} are indicators; \\mathrm{LOSS}, \\text{relu}, \\boldsymbol{\\theta} names."""
        brace = self._skip_space(end)
        if brace >= len(self.text) or self.text[brace] != "{":
            raise _Fail(end, f"expected '{{' after \\{command}")
        close = self.match[brace]
        content = self.text[brace + 1 : close].strip().replace("\\_", "_")
        if command in _BOLD and content in ("1", "I"):
            return [self._tok("IND", start, close + 1)]
        greek = re.fullmatch(r"\\([A-Za-z]+)", content)
        if greek and greek.group(1) in _LATEX_GREEK:
            return self._identifier(_LATEX_GREEK[greek.group(1)], start, close + 1, greek=True)
        if _WORD.fullmatch(content) or content.lower() in _FUNCTION_WORDS:
            return self._word(content, start, close + 1, greek=content in _GREEK_WORDS)
        raise _Fail(brace + 1, f"expected a name inside \\{command}{{…}}")


def _as_expr(value, name: str) -> sp.Expr:
    if isinstance(value, sp.Basic):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return sp.Integer(value)
    if isinstance(value, float):
        return sp.Float(value)
    raise TypeError(f"names[{name!r}] must be a SymPy expression, not {type(value).__name__}")


class _ScannerLexer(Lexer):
    """Lark's hook: the 'text' handed to Lark.parse is a _Scanner."""

    def __init__(self, lexer_conf):
        pass

    def lex(self, scanner: _Scanner):
        return _unambiguous_division(scanner.tokens(), scanner)


# what may follow a divisor directly, as a factor of juxtaposition: 1/2x, (y - t)/y(1 - y), a/2b
_JUXTAPOSED = {"NAME", "NUMBER", "FUNC", "BRFUNC", "IND", "E", "FRAC", "_LPAR", "_LSQB", "_LBRACE", "_ABSOPEN"}
_GROUP_OPEN, _GROUP_CLOSE = {"_LPAR", "_LBRACE", "_LSQB"}, {"_RPAR", "_RBRACE", "_RSQB"}


def _unambiguous_division(tokens, scanner: _Scanner):
    """The tokens, refusing a divisor that a factor follows without a space: `1/2x` is x/2 to some readers and
    1/(2x) to others, and `(y - t)/y(1 - y)` is usually meant as (y − t)/(y(1 − y)). Either reading grades the
    other one's answer wrongly, so the student is asked for brackets, or a space or `*` (`1/2 x`, `1/2*x` are
    x/2). The divisor is a number or a name, with a power (`1/x^2y`), or a bracket."""
    state, depth, slash, end = "", 0, 0, 0
    for tok in tokens:
        kind = tok.type
        if state == "group":  # inside the divisor's (…) or the exponent's {…}
            depth += (kind in _GROUP_OPEN) - (kind in _GROUP_CLOSE)
            state, end = ("after", tok.end_pos) if depth == 0 else ("group", end)
        elif state == "after" and kind in _JUXTAPOSED and tok.start_pos == end:
            raise _ambiguous(scanner, slash, end, tok)
        elif state == "after" and kind == "POW":
            state = "exponent"
        elif state in ("divisor", "exponent") and kind in ("NUMBER", "NAME"):
            state, end = "after", tok.end_pos
        elif (state == "divisor" and kind == "_LPAR") or (state == "exponent" and kind in ("_LPAR", "_LBRACE")):
            state, depth = "group", 1
        elif not (state == "exponent" and kind == "MINUS"):
            state = ""
        if kind == "DIV":
            state, slash = "divisor", tok.start_pos
        yield tok


def _ambiguous(scanner: _Scanner, slash: int, end: int, tok: _Tok) -> _Fail:
    """The failure for `/2x`: what was written, and the two ways to say what is meant."""
    text = scanner.text
    stop = scanner.match.get(tok.start_pos, tok.end_pos - 1) + 1 if tok.type in _GROUP_OPEN else tok.end_pos
    divisor, factor = text[slash + 1:end].strip(), text[tok.start_pos:stop]
    written = f"/{divisor}{factor}"
    return _Fail(tok.start_pos, f"'{written}' can be read in two ways: write '/({divisor}{factor})' if all of it is "
                 f"the denominator, or a space or '*' before '{factor}' if only '{divisor}' is",
                 "ambiguous_division", ambiguous=written, bracketed=f"/({divisor}{factor})", denominator=divisor,
                 next_factor=factor)


# --------------------------------------------------------------------------- grammar

_GRAMMAR = r"""
%declare SUM NUMBER NAME FUNC BRFUNC IND E FRAC PLUS MINUS MUL DIV POW REL TRANSPOSE MATMUL HAD
%declare _LPAR _RPAR _LSQB _RSQB _LBRACE _RBRACE _ABSOPEN _ABSCLOSE _COMMA _SUB

start: expr

?expr: sum
     | sum REL sum                      -> relation

// flat lists, so that a thousand terms are one Add, not a thousand
?sum: term ((PLUS | MINUS) term)*
?term: signed (MUL signed | DIV signed | MATMUL signed | HAD signed | power)*    // a bare `power` is juxtaposition
     | SUM term                         -> sigma      // Σ_k …: over the rest of the product
     | MINUS SUM term                   -> neg_sigma

?signed: power
       | MINUS signed                   -> neg
       | PLUS signed                    -> pos

?power: primary
      | primary POW signed              -> pow
      | E POW signed                    -> exp_e
      | FUNC bare_atom                  -> call_bare
      | FUNC bare_atom POW bare_exponent -> call_bare_power
      | FUNC POW bare_exponent _LPAR args _RPAR -> call_powered      // tanh^2(z), \\tanh^{2}(z): tanh(z)^2
      | FUNC POW bare_exponent bare_atom -> call_powered_bare

?primary: NUMBER                        -> number
        | NAME                          -> name
        | primary TRANSPOSE             -> transpose
        | _LPAR expr _RPAR
        | brace
        | _LSQB expr _RSQB              -> bracket
        | _ABSOPEN expr _ABSCLOSE       -> absolute
        | FUNC _LPAR args _RPAR         -> call
        | FUNC _LBRACE args _RBRACE     -> call
        | BRFUNC _LSQB expr _RSQB       -> call_bare
        | FUNC _LSQB expr _RSQB brace   -> root
        | FRAC fraction_part fraction_part -> frac
        | IND _LSQB expr _RSQB          -> indicator
        | IND _LPAR expr _RPAR          -> indicator
        | IND _SUB brace                -> indicator
        | IND brace                     -> indicator

?brace: _LBRACE expr _RBRACE
args: expr (_COMMA expr)*

// \log x, \sqrt{x}, \log x^2 (the log of x^2): an argument without parentheses
?bare_atom: NUMBER                      -> number
          | NAME                        -> name
?bare_exponent: bare_atom
              | brace
              | MINUS bare_atom         -> neg
?fraction_part: brace
              | NUMBER                  -> number
              | NAME                    -> name
"""


@dataclass(frozen=True)
class _Cond:
    """A comparison: only an indicator may hold one."""

    relation: sp.Basic
    offset: int


def _call_depth(expr) -> int:
    """How deeply function applications nest in expr (x: 0, tanh(x): 1, tanh(2*tanh(x)): 2)."""
    if not isinstance(expr, sp.Basic) or not expr.args:
        return 0
    inner = max(_call_depth(a) for a in expr.args)
    return inner + 1 if isinstance(expr, sp.Function) else inner


def _value(x):
    if isinstance(x, _Cond):
        raise _Fail(x.offset, "a comparison is only allowed inside I[…]", "comparison")
    return x


def _mask(x):
    """A comparison multiplied by something is numpy's boolean mask, an indicator: (W2.T @ delta2) * (z1 > 0)."""
    return _indicator(x.relation) if isinstance(x, _Cond) else x


def _reciprocal(x: sp.Expr, offset: int) -> sp.Expr:
    if _is_matrix(x):
        raise _Fail(offset, "division by a matrix or vector is not defined; for an elementwise quotient write "
                    "the reciprocal of each entry differently", "matrix_division")
    if x == 0:
        raise _Fail(offset, "division by zero", "division_by_zero")
    return sp.Pow(x, -1)


def _check_power(base: sp.Expr, exponent: sp.Expr, op: _Tok) -> None:
    """Refuse exponents over 1000, numbers over _MAX_BITS and towers deeper than max_depth (op.obj)."""
    if exponent.is_Number:
        if abs(exponent) > _MAX_EXPONENT:
            raise _Fail(op.start_pos, f"the exponent {exponent} is too large: at most {_MAX_EXPONENT} in absolute value",
                        "exponent", exponent=exponent, most=_MAX_EXPONENT)
        if base.is_Rational and base != 0 and _bits(base) * abs(exponent) > _MAX_BITS:
            raise _Fail(op.start_pos, f"the power would be a number with more than {_MAX_BITS * 3 // 10} digits",
                        "huge_number", most=_MAX_BITS * 3 // 10)
        if base == 0 and exponent.is_negative:
            raise _Fail(op.start_pos, "division by zero (0 to a negative power)")
    if _deeper_than(exponent, op.obj) or _deeper_than(base, op.obj):
        raise _Fail(op.start_pos, f"powers nested deeper than {op.obj} levels", "too_deep", most=op.obj)


# --------------------------------------------------------------------------- vectors and matrices
# Names may stand for explicit matrices (derive check's matrix answers): juxtaposition and '@' are the
# matrix product, '⊙' and '*' between equal shapes elementwise, a scalar added to a matrix is added to
# every entry, functions apply entry by entry, 'ᵀ' / '^T' / '.T' transpose.


@dataclass(frozen=True)
class _Relations:
    """A comparison of a vector with a number: one relation per entry (rows of lists)."""

    rows: list


def _indicator(relation):
    if isinstance(relation, _Relations):
        return sp.ImmutableMatrix([[Indicator(r) for r in row] for row in relation.rows])
    return Indicator(relation)


def _is_matrix(x) -> bool:
    return isinstance(x, sp.MatrixBase)


def _shape(x) -> str:
    return "×".join(map(str, x.shape)) if _is_matrix(x) else "1×1"


def _matrix_sum(terms: list, offset: int):
    shapes = {t.shape for t in terms if _is_matrix(t)}
    if len(shapes) > 1:
        a, b = sorted(shapes)[:2]
        raise _Fail(offset, f"cannot add matrices of shapes {a[0]}×{a[1]} and {b[0]}×{b[1]}", "shapes_add",
                    left=f"{a[0]}×{a[1]}", right=f"{b[0]}×{b[1]}")
    (shape,) = shapes
    total = sp.zeros(*shape)
    for t in terms:
        total += t if _is_matrix(t) else sp.ones(*shape) * t
    return sp.ImmutableMatrix(total)


def _matrix_term(factors: list, ops: list):
    result = factors[0]
    for (op, offset), x in zip(ops, factors[1:]):
        result = _times(result, x, op, offset)
    return sp.ImmutableMatrix(result) if _is_matrix(result) else result


def _times(a, b, op: str, offset: int):
    if not (_is_matrix(a) and _is_matrix(b)):
        if op in ("MATMUL",) and not (_is_matrix(a) or _is_matrix(b)):
            raise _Fail(offset, "'@' multiplies matrices; here there is none", "matmul_scalar")
        return a * b
    if op == "MUL" and a.shape[0] == 1 < a.shape[1] and b.shape[1] == 1 < b.shape[0]:
        # x.T * delta: the matrix product is a number (n = m), numpy's broadcasting the m×n matrix delta x^T
        raise _Fail(offset, f"'*' between a {_shape(a)} row and a {_shape(b)} column is a number as a matrix product "
                    f"but a matrix in numpy (broadcasting): write '@' (or nothing) for the product, or the outer "
                    f"product as a column times a row (delta @ x.T)", "row_times_column", left=_shape(a),
                    right=_shape(b))
    elementwise = op == "HAD" or (op in ("MUL",) and a.shape == b.shape and a.shape[1] == 1)
    if elementwise or (op == "MUL" and a.shape == b.shape and a.shape[1] != a.shape[0]):
        if a.shape != b.shape:
            raise _Fail(offset, f"an element-wise product needs equal shapes, not {_shape(a)} and {_shape(b)}",
                        "shapes_had", left=_shape(a), right=_shape(b))
        return a.multiply_elementwise(b)
    if a.shape[1] != b.shape[0]:
        raise _Fail(offset, f"cannot multiply a {_shape(a)} matrix by a {_shape(b)} one: the inner sizes differ",
                    "shapes_product", left=_shape(a), right=_shape(b))
    return a * b


def _elementwise(build, values: list, func):
    shapes = {v.shape for v in values if _is_matrix(v)}
    if len(shapes) > 1:
        raise _Fail(func.start_pos, f"{func.value} of matrices of different shapes", "shapes_add",
                    left=_shape(values[0]), right=_shape(values[-1]))
    (shape,) = shapes
    rows, cols = shape
    entries = [[build(*[v[i, j] if _is_matrix(v) else v for v in values]) for j in range(cols)] for i in range(rows)]
    return sp.ImmutableMatrix(entries)


_RELATIONS = {"gt": sp.Gt, "ge": sp.Ge, "lt": sp.Lt, "le": sp.Le, "eq": sp.Eq}
_MIRROR = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge", "eq": "eq"}


def _compare(kind: str, left: sp.Expr, right: sp.Expr) -> sp.Basic:
    """The comparison with a number on the right and '<' turned into '>' otherwise: I[0 < u] == I[u > 0]."""
    if not right.is_Number and (left.is_Number or kind in ("lt", "le")):
        kind, left, right = _MIRROR[kind], right, left
    return _RELATIONS[kind](left, right)


@v_args(inline=True)
class _Build(Transformer):
    """One method per construct; runs inside the LALR parser (no tree, no recursion)."""

    def start(self, x):
        return _value(x)

    def relation(self, left, op, right):
        left, right = _value(left), _value(right)
        try:
            if _is_matrix(left) and not _is_matrix(right):  # z1 > 0 for a vector: one comparison per entry
                rows = [[_compare(op.obj, left[i, j], right) for j in range(left.cols)] for i in range(left.rows)]
                return _Cond(_Relations(rows), op.start_pos)
            return _Cond(_compare(op.obj, left, right), op.start_pos)
        except TypeError as exc:
            raise _Fail(op.start_pos, f"cannot compare: {exc}") from None

    def sum(self, first, *rest):
        terms = [_value(first)]
        for op, term in zip(rest[::2], rest[1::2]):
            terms.append(-_value(term) if op.type == "MINUS" else _value(term))
        if any(_is_matrix(t) for t in terms):
            return _matrix_sum(terms, rest[0].start_pos if rest else 0)
        return sp.Add(*terms)

    def term(self, first, *rest):
        factors, items, offset = [_mask(first)], iter(rest), 0
        ops = []
        for item in items:
            if isinstance(item, Token):
                offset, operand = item.start_pos, next(items)
                operand = _value(operand) if item.type == "DIV" else _mask(operand)
                factors.append(_reciprocal(operand, offset) if item.type == "DIV" else operand)
                ops.append((item.type, offset))
            else:
                factors.append(_mask(item))
                ops.append(("JUXTAPOSE", offset))
        if any(_is_matrix(f) for f in factors) or any(op == "HAD" for op, _ in ops):
            return _matrix_term(factors, ops)
        if any(op == "MATMUL" for op, _ in ops):
            raise _Fail(next(o for op, o in ops if op == "MATMUL"), "'@' multiplies matrices; here there is none",
                        "matmul_scalar")
        return _checked(sp.Mul(*factors), offset)

    def sigma(self, tok, body):
        body = _value(body)
        if _is_matrix(body):
            raise _Fail(tok.start_pos, "a sum over an index needs elements, not matrices", "sum_index")
        return sp.Sum(body, (tok.obj, 1, SUM_UPPER))

    def neg_sigma(self, op, tok, body):
        return -self.sigma(tok, body)

    def transpose(self, x, op):
        x = _value(x)
        return x.T if _is_matrix(x) else x  # a scalar is its own transpose

    def neg(self, op, x):
        return -_value(x)

    def pos(self, op, x):
        return _value(x)

    def pow(self, base, op, exponent):
        base, exponent = _value(base), _value(exponent)
        if _is_matrix(base) or _is_matrix(exponent):
            raise _Fail(op.start_pos, "a power of a matrix or vector is not defined here; for an elementwise "
                        "square write y ⊙ y", "matrix_power")
        _check_power(base, exponent, op)
        return sp.Pow(base, exponent)

    def exp_e(self, e, op, exponent):
        exponent = _value(exponent)
        _check_power(sp.E, exponent, op)
        return sp.exp(exponent)

    def number(self, tok):
        return tok.obj

    def name(self, tok):
        return tok.obj

    def bracket(self, x):
        return _indicator(x.relation) if isinstance(x, _Cond) else x

    def absolute(self, x):
        return sp.Abs(_value(x))

    def args(self, *xs):
        return list(xs)

    def call(self, func, args):
        fewest, most, build = _APPLY[func.obj]
        if len(args) < fewest or (most is not None and len(args) > most):
            wanted = f"{fewest}" if fewest == most else f"at least {fewest}"
            raise _Fail(func.start_pos, f"{func.value} takes {wanted} argument{'s' if fewest > 1 else ''}, not {len(args)}")
        values = [_value(a) for a in args]
        if 1 + max((_call_depth(v) for v in values), default=0) > MAX_CALL_DEPTH:
            raise _Fail(func.start_pos, f"functions nested more than {MAX_CALL_DEPTH} deep", "functions_nested",
                        most=MAX_CALL_DEPTH)
        if any(_is_matrix(v) for v in values):  # elementwise: relu(z1), sigma'(z2), I[z1 > 0]
            return _elementwise(build, values, func)
        try:
            return _checked(build(*values), func.start_pos)
        except (TypeError, ValueError) as exc:
            raise _Fail(func.start_pos, f"cannot apply {func.value}: {exc}") from None

    def call_bare(self, func, x):
        return self.call(func, [x])

    def call_bare_power(self, func, base, op, exponent):
        return self.call(func, [self.pow(base, op, exponent)])

    def call_powered(self, func, op, exponent, args):
        """tanh^2(z) = tanh(z)^2, as textbooks write 1 − tanh²(z); only a whole power ≥ 1 (sin^{-1} is arcsin)."""
        power = _value(exponent)
        if not (isinstance(power, sp.Integer) and power >= 1):
            raise _Fail(op.start_pos, f"a power written on a function's name must be a whole number from 1 on, as "
                        f"in {func.value}^2(z) = {func.value}(z)^2; write the power after the brackets")
        return self.pow(self.call(func, args), op, power)

    def call_powered_bare(self, func, op, exponent, x):
        return self.call_powered(func, op, exponent, [x])

    def root(self, func, n, x):
        if func.obj != "sqrt":
            raise _Fail(func.start_pos, "only \\sqrt takes an index in brackets, as in \\sqrt[3]{x}")
        n, x = _value(n), _value(x)
        if n == 0:
            raise _Fail(func.start_pos, "a root of index 0")
        return _checked(sp.root(x, n), func.start_pos)

    def frac(self, tok, numerator, denominator):
        return _checked(_value(numerator) * _reciprocal(_value(denominator), tok.start_pos), tok.start_pos)

    def indicator(self, tok, cond):
        if not isinstance(cond, _Cond):
            raise _Fail(tok.start_pos, "an indicator needs a comparison inside, as in I[u > 0]", "no_comparison")
        return _indicator(cond.relation)


@cache
def _parser() -> Lark:
    return Lark(_GRAMMAR, parser="lalr", lexer=_ScannerLexer, transformer=_Build(), strict=True)


# --------------------------------------------------------------------------- syntax errors

_OPERAND_TERMINALS = {"NUMBER", "NAME", "FUNC", "BRFUNC", "IND", "E", "FRAC", "_LPAR", "_LSQB", "_LBRACE", "_ABSOPEN", "MINUS", "PLUS"}
_SINGLE = [("_LPAR", "("), ("_LSQB", "["), ("_LBRACE", "{"), ("_SUB", "_"), ("NUMBER", "a number"),
           ("NAME", "a name"), ("POW", "^")]
_CLOSING = [("_RPAR", ")"), ("_RSQB", "]"), ("_RBRACE", "}"), ("_ABSCLOSE", "|"), ("_COMMA", ","),
            ("$END", "the end of the expression")]


def one_of(items: list[str], joiner: str = "or") -> str:
    """'a, b or c' (joiner: the word for 'or', for callers that translate)."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {joiner} {items[-1]}"


def expected_items(expected: set[str]) -> list[str]:
    """What the parser would have accepted, as words ('a number', EXPECTED_WORDS) and characters ('(');
    whoever words the message quotes the characters as its language does."""
    if expected & {"MUL", "DIV", "POW"}:
        items = ["an operator"]
    elif {"NUMBER", "FUNC"} <= expected:
        items = ["a number", "a name", "(", "a function"]
    else:
        items = [words for terminal, words in _SINGLE if terminal in expected]
    items += [words for terminal, words in _CLOSING if terminal in expected]
    return items or ["something else"]


# the words expected_items uses (the other items are characters)
EXPECTED_WORDS = ("an operator", "a number", "a name", "a function", "the end of the expression", "something else")


def _english(items: list[str]) -> list[str]:
    return [item if item in EXPECTED_WORDS else _q(item) for item in items]


def _q(text: str) -> str:
    """text quoted as English quotes it (locale/en/language.toml): the parser's own messages are English;
    feedback in other languages is worded, and quoted, by derive.grading.check.Words."""
    return language("en").quote(text)


def _syntax_error(error: UnexpectedInput, text: str) -> _Fail:
    token = getattr(error, "token", None)
    items = expected_items(set(getattr(error, "expected", None) or ()))
    if token is None or token.type == "$END":
        return _Fail(len(text), f"unexpected end of the expression; expected {one_of(_english(items))}", "unexpected_end",
                     expected=items)
    return _Fail(token.start_pos, f"unexpected {_q(token.value)}; expected {one_of(_english(items))}", "unexpected",
                 token=token.value, expected=items)


# --------------------------------------------------------------------------- entry point


def parse_math(
    text: str,
    names: Mapping[str, sp.Expr] | None = None,
    *,
    max_length: int = 5000,
    max_depth: int = 100,
    location: Location | None = None,
) -> sp.Expr:
    """Read plain math or LaTeX into a SymPy expression, never evaluating the text as code.

    names maps canonical names to the objects they stand for; every other name is
    then an UnknownName. Without names, each identifier is ``sympy.Symbol(name)``.
    """
    if not isinstance(text, str):
        raise ParseError(f"expected an expression as text, not {type(text).__name__}", location)
    where = _Where(text, location)
    try:
        if len(text) > max_length:
            raise _Fail(max_length, f"the expression is {len(text)} characters long; at most {max_length} are allowed",
                        "too_long", length=len(text), most=max_length)
        if not text.strip():
            raise _Fail(0, "expected an expression, found nothing", "empty")
        mangled = _yaml_mangled(text)
        if mangled is not None:
            raise mangled
        scanner = _Scanner(text, names, max_depth, _check_brackets(text, max_depth, where))
        try:
            result = _parser().parse(scanner)
        except UnexpectedInput as error:
            raise _syntax_error(error, text) from None
        except RecursionError:
            raise _Fail(0, "the expression is nested too deeply", "too_deep", most=max_depth) from None
    except _Fail as fail:
        raise where.error(fail.offset, fail.message, fail.key, fail.details) from None
    if scanner.unknown:
        raise _unknown_names(scanner.unknown, names or {}, where)
    return result


def _unknown_names(unknown: list[tuple[str, int]], names: Mapping[str, sp.Expr], where: _Where) -> UnknownName:
    seen: dict[str, int] = {}
    for name, offset in unknown:
        seen.setdefault(name, offset)
    listed = ", ".join(f"{_q(name)} (column {where.locate(offset).column})" for name, offset in seen.items())
    known = ", ".join(sorted(names)) or "(none)"
    plural = "s" if len(seen) > 1 else ""
    return UnknownName(
        f"unknown name{plural} {listed}; known names: {known}", where.locate(unknown[0][1]), names=list(seen)
    )
