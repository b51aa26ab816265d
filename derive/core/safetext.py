"""Text from users, made safe for the channel it lands in: a terminal, a CSV cell.

Names, answers and file names come from students and are shown to lecturers.
On a terminal, control characters (ESC sequences that clear the screen or set
the window title, NUL, DEL, C1 controls), bidi overrides and lone surrogates
are shown escaped (`\\x1b`, `\\u202e`), and a newline inside a name is shown as
`\\n`, so that nobody can forge a report line. In a CSV cell a leading
`= + - @`, tab or carriage return would start a spreadsheet formula (OWASP
"CSV injection"): such a cell is prefixed with an apostrophe. Markdown and
LaTeX have their own escapes, `document.md_escape` and `tex.escape`.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls, bidi embeddings/overrides/isolates, line and paragraph separators,
# lone surrogates; tab and newline are kept where a message may span lines. The surrogates are a class
# of their own: inside one class with the others, compiling the pattern takes about 100 times longer
# (6 ms of every command's start-up each).
_UNSAFE = re.compile("[\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]|[\\ud800-\\udfff]")
_UNSAFE_IN_MESSAGE = re.compile("[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]"
                                "|[\\ud800-\\udfff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _escaped(m: re.Match) -> str:
    code = ord(m.group())
    if code == 0x0A:
        return "\\n"
    if code == 0x09:
        return "\\t"
    if code == 0x0D:
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal(text: str) -> str:
    """One line of user text (a name, an answer) safe to print: every control character shown escaped."""
    return _UNSAFE.sub(_escaped, text)


def message(text: str) -> str:
    """A message of several lines safe to print: newlines and tabs kept, other controls shown escaped."""
    return _UNSAFE_IN_MESSAGE.sub(_escaped, text)


def csv_cell(value):
    """A CSV cell that a spreadsheet shows as text: one starting like a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
