"""KaTeX test harness: extract math from Markdown and render it with real KaTeX.

Used from tests as::

    from katex import katex_errors, extract_math, require_katex

KaTeX itself is the npm package installed by ``bash .ci/install-katex`` into
``.ci/node`` (or wherever ``DERIVE_KATEX_DIR`` points); rendering happens in a
single ``node tests/katex_render.js`` process per ``katex_errors`` call.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parent
RENDER_JS = TESTS_DIR / "katex_render.js"
INSTALL_CMD = "bash .ci/install-katex"


def katex_dir() -> Path:
    env = os.environ.get("DERIVE_KATEX_DIR")
    if env:
        return Path(env)
    return REPO / ".ci" / "node" / "node_modules" / "katex"


# --------------------------------------------------------------------------
# availability


@functools.lru_cache(maxsize=None)
def _katex_problem(node: str | None, kdir: str) -> str | None:
    """Why KaTeX can't be used (None if it can).  Cached per (node, dir)."""
    if node is None:
        return "node is not on PATH"
    if not (Path(kdir) / "package.json").is_file():
        return f"KaTeX is not installed in {kdir}"
    try:
        proc = subprocess.run(
            [node, str(RENDER_JS)],
            input='["x"]',
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
            env={**os.environ, "DERIVE_KATEX_DIR": kdir},
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run node: {e}"
    if proc.returncode != 0 or proc.stdout.strip() != "[null]":
        return f"KaTeX smoke test failed: {proc.stderr.strip() or proc.stdout.strip()}"
    return None


def require_katex() -> None:
    """Return if node + KaTeX work; else fail on CI (CI=true), skip locally."""
    problem = _katex_problem(shutil.which("node"), str(katex_dir()))
    if problem is None:
        return
    msg = f"{problem}; install with: {INSTALL_CMD}"
    if os.environ.get("CI") == "true":
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


# --------------------------------------------------------------------------
# rendering


def katex_errors(
    formulas: list[str], *, display: bool = True, timeout: float = 600
) -> list[tuple[str, str]]:
    """Render every formula with KaTeX; return ``(formula, error)`` for failures.

    All formulas go through one node process (duplicates are rendered once).
    ``display`` selects KaTeX displayMode (``$$…$$`` vs ``$…$``); the result
    is in input order and repeats a failing formula as often as it occurs.
    Calls :func:`require_katex` first, so it skips/fails like it.
    """
    formulas = list(formulas)
    if not formulas:
        return []
    require_katex()
    unique = list(dict.fromkeys(formulas))
    payload = json.dumps([{"tex": f, "display": display} for f in unique])
    proc = subprocess.run(
        [shutil.which("node") or "node", str(RENDER_JS)],
        input=payload,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
        env={**os.environ, "DERIVE_KATEX_DIR": str(katex_dir())},
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"katex_render.js exited with {proc.returncode}: {proc.stderr.strip()}"
        )
    results = json.loads(proc.stdout)
    if len(results) != len(unique):
        raise RuntimeError(
            f"katex_render.js returned {len(results)} results for {len(unique)} formulas"
        )
    error_of = dict(zip(unique, results))
    return [(f, error_of[f]) for f in formulas if error_of[f] is not None]


# --------------------------------------------------------------------------
# extraction

# A fence opener: optional indentation / blockquote markers, then ``` or ~~~.
_FENCE_OPEN = re.compile(r"^(?P<prefix>[ \t>]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def _split_code_fences(markdown: str) -> list[str]:
    """Return the chunks of ``markdown`` that are outside fenced code blocks.

    Fences may be indented or inside blockquotes/list items (we are lenient:
    any leading spaces, tabs or ``>``).  An unclosed fence runs to the end.
    Indented (4-space) code blocks are *not* recognised: derive output nests
    math in list items, where indentation doesn't mean code.
    """
    chunks: list[str] = []
    current: list[str] = []
    fence: str | None = None  # the opening fence while inside a code block
    for line in markdown.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if fence is None:
            m = _FENCE_OPEN.match(body)
            if m and not (m["fence"][0] == "`" and "`" in m["info"]):
                fence = m["fence"]
                chunks.append("".join(current))
                current = []
            else:
                current.append(line)
        else:
            stripped = body.lstrip(" \t>")
            if (
                stripped.startswith(fence[0] * len(fence))
                and stripped.rstrip() == fence[0] * len(stripped.rstrip())
            ):
                fence = None
    chunks.append("".join(current))
    return chunks


_BLANK_LINE = re.compile(r"\n[ \t>]*\n")


def _backtick_run(text: str, i: int) -> int:
    j = i
    while j < len(text) and text[j] == "`":
        j += 1
    return j - i


def _find_code_span_end(text: str, i: int, n: int) -> int | None:
    """Index just past the backtick run of length ``n`` closing the span at ``i``."""
    j = i + n
    limit = _BLANK_LINE.search(text, j)
    stop = limit.start() if limit else len(text)
    while j < stop:
        if text[j] == "`":
            m = _backtick_run(text, j)
            if m == n:
                return j + m
            j += m
        else:
            j += 1
    return None


def _find_display_end(text: str, i: int) -> int | None:
    """Index of the ``$$`` closing display math whose content starts at ``i``."""
    j = i
    while j < len(text) - 1:
        c = text[j]
        if c == "\\":
            j += 2
        elif c == "$" and text[j + 1] == "$":
            return j
        else:
            j += 1
    return None


def _find_inline_end(text: str, i: int) -> int | None:
    """Index of the ``$`` closing inline math whose content starts at ``i``.

    Pandoc's rule: the content must not start with whitespace (checked by the
    caller), the closing ``$`` must follow a non-space character and must not
    be followed by a digit; inline math does not cross a blank line.
    """
    limit = _BLANK_LINE.search(text, i)
    stop = limit.start() if limit else len(text)
    j = i
    while j < stop:
        c = text[j]
        if c == "\\":
            j += 2
        elif c == "$":
            if j + 1 < len(text) and text[j + 1] == "$":
                return None  # `$a$$` is ambiguous; not inline math
            if not text[j - 1].isspace() and not (
                j + 1 < len(text) and text[j + 1].isdigit()
            ):
                return j
            j += 1
        else:
            j += 1
    return None


def _extract_from_chunk(text: str, out: list[tuple[str, bool]]) -> None:
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2  # escaped char, e.g. \$ (a literal dollar) or \`
        elif c == "`":
            run = _backtick_run(text, i)
            end = _find_code_span_end(text, i, run)
            i = end if end is not None else i + run
        elif c == "$" and i + 1 < n and text[i + 1] == "$":
            end = _find_display_end(text, i + 2)
            if end is None:
                i += 2
                continue
            out.append((text[i + 2 : end].strip(), True))
            i = end + 2
        elif c == "$":
            if i + 1 < n and not text[i + 1].isspace():
                end = _find_inline_end(text, i + 1)
                if end is not None:
                    out.append((text[i + 1 : end].strip(), False))
                    i = end + 1
                    continue
            i += 1
        else:
            i += 1


def extract_math_with_mode(markdown: str) -> list[tuple[str, bool]]:
    """All math in ``markdown`` as ``(tex, is_display)`` in document order.

    Finds ``$$…$$`` display blocks (may span lines) and inline ``$…$``; skips
    escaped ``\\$``, code spans and fenced code blocks.  Inline ``$`` follows
    pandoc's rules, so prices like "$5 and $10" are not math.
    """
    out: list[tuple[str, bool]] = []
    for chunk in _split_code_fences(markdown.replace("\r\n", "\n")):
        _extract_from_chunk(chunk, out)
    return out


def extract_math(markdown: str) -> list[str]:
    """All math in ``markdown`` (display and inline) in document order, stripped."""
    return [tex for tex, _ in extract_math_with_mode(markdown)]
