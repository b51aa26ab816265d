"""LaTeX from a derivation's Markdown: the Markdown is the canonical document, LaTeX its typesetting.

Every kind renders Markdown (templates/md/<kind>.md.j2); this module parses
that Markdown with markdown-it-py and turns its structure into LaTeX, so no
kind needs a LaTeX template of its own. `blocks(markdown, …)` gives a list of
`Block`s (a title, headings, paragraphs, display equations, figures, …); the
document builders arrange them as lecture notes (`notes`), a beamer deck
(`slides`: one step per frame) or the chapters of a book (`course`), inside
templates/tex/document.tex.j2.

Safety: every piece of text is escaped for LaTeX; math passes through only if
`texmath.check` accepts it (otherwise it is printed literally, as text), so a
spec's title can neither run nor read anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from derive.render import texmath

FRAME_LINES = 17  # what a 16:9 frame at 11pt holds, in lines of text (a display counts as 2–4)
FRAME_SHRINK = 1.35  # a step up to this many frames' worth stays whole on one frame (shrunk to fit)
LINE_CHARS = 78  # characters of prose per line on a frame
LONE_START = 0.25  # a frame begun with less than this share of it does not close before a bold title's steps
KEEP = "<!-- keep with previous -->"  # in Markdown: this paragraph belongs with the step before it
ALONE = "<!-- a step of its own -->"  # in Markdown: what follows opens a step of its own (a remark on all the cases)
LONG_WIDTH = 60  # characters as printed (_width) after which a sum is broken at a top-level + or −
LINE_WIDTH = 40  # … into lines of a little more than this each

_ESCAPES = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "%": r"\%", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
    "`": r"\textasciigrave{}", '"': r"\textquotedbl{}",
    "\u00a0": "~", "\u202f": r"\,",  # CLDR's no-break spaces (28 ноября 2026 г.), which fonts may lack
    "\u201c": "``", "\u201d": "''",  # English quotes as TeX sets them (a Polish „…” closes with '' too)
}
# TeX ligatures of the fonts (-- – , --- —, ,, „, << «, >> », '' ”, `` “, !` ¡, ?` ¿): a zero kern between
# the two characters keeps a user's text literal (an empty group does not: LuaTeX forms ligatures after it).
_LIGATURE_RE = re.compile(r"(?<=[-,'`<>!?])(?=[-,'`<>])")
_ESCAPE_RE = re.compile("|".join(re.escape(c) for c in _ESCAPES))
PDF_TITLE = 100  # characters of the PDF's title metadata (hyperref's cost grows with its square)
_ENUMERATOR = re.compile(r"^\s*\d+[.)]\s+")


_STRAIGHT_QUOTES = re.compile(r'"([^"\n]+)"')


def escape(text: str) -> str:
    """Plain text as LaTeX that prints it literally (no specials, no ligatures such as -- ,, << ''); a pair
    of straight double quotes becomes ``…'' (English quotes as TeX sets them)."""
    text = _STRAIGHT_QUOTES.sub("\u201c\\1\u201d", text)
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], _LIGATURE_RE.sub("\x00", text)).replace("\x00", r"\kern0pt{}")


def tie_dashes(tex: str) -> str:
    """A spaced dash (Russian «x — y», Polish „x — y”) tied to the word before it by a no-break space, so that
    no line starts with the dash (Russian typesetting rule; Polish sets its dash the same way)."""
    return tex.replace(" \u2014", "~\u2014")


@dataclass
class Block:
    """One piece of the document: kind is title | heading | para | math | figure | rule | raw."""

    kind: str
    tex: str
    level: int = 0  # headings: their level; a raw list: 1 if its (only) item leads in to what follows
    plain: str = ""  # headings: the text for PDF bookmarks
    alone: bool = False  # slides: this block opens a step of its own, under no bold title (ALONE in the Markdown)


@dataclass
class Converter:
    """Markdown tokens -> Blocks. Collects the hex colours the preamble must define.

    numbered: display equations get numbers and labels (`label_prefix`) and
    later equations that use an earlier one's left-hand side refer to it.
    figures: image source -> TikZ picture (a figure of the kind).
    """

    numbered: bool = False
    label_prefix: str = "eq"
    figures: dict = field(default_factory=dict)
    colours: set = field(default_factory=set)
    _defined: dict = field(default_factory=dict)  # left-hand side -> label
    _count: int = 0

    # -- block level -------------------------------------------------------------
    def blocks(self, markdown: str) -> list[Block]:
        tokens = _parser().parse(markdown)
        out: list[Block] = []
        i = 0
        while i < len(tokens):
            i = self._block(tokens, i, out)
        return out

    def _block(self, tokens, i, out) -> int:
        tok = tokens[i]
        handler = getattr(self, f"_b_{tok.type}", None)
        if handler is None:
            return i + 1
        return handler(tokens, i, out)

    def _b_heading_open(self, tokens, i, out):
        level = int(tokens[i].tag[1])
        inline = tokens[i + 1]
        children = list(inline.children or [])
        if children and children[0].type == "text":
            children[0] = _replace(children[0], _ENUMERATOR.sub("", children[0].content))
        tex = self.inline(children, heading=True)
        plain = "".join(c.content for c in children)  # unescaped text, math source: the PDF's bookmark
        out.append(Block("title" if level == 1 else "heading", tex, level, plain))
        return i + 3

    def _b_paragraph_open(self, tokens, i, out):
        inline = tokens[i + 1]
        children = inline.children or []
        if len(children) == 1 and children[0].type == "image" and children[0].attrs.get("src") in self.figures:
            out.append(Block("figure", self.figures[children[0].attrs["src"]]))
        else:
            out.append(Block("para", self.inline(children)))
        return i + 3

    def _b_math_block(self, tokens, i, out):
        out.append(Block("math", self.display(tokens[i].content)))
        return i + 1

    _b_math_block_label = _b_math_block

    def _b_hr(self, tokens, i, out):
        out.append(Block("rule", ""))
        return i + 1

    def _b_fence(self, tokens, i, out):
        lines = [escape(line).replace(" ", "\\ ") or "~" for line in tokens[i].content.rstrip("\n").split("\n")]
        out.append(Block("raw", "\\begin{flushleft}\\ttfamily\n" + "\\\\\n".join(lines) + "\n\\end{flushleft}"))
        return i + 1

    _b_code_block = _b_fence

    def _b_html_block(self, tokens, i, out):
        content = tokens[i].content.strip()
        out.append(Block("keep", "") if content == KEEP else Block("alone", "") if content == ALONE
                   else Block("para", escape(content)))
        return i + 1

    def _b_bullet_list_open(self, tokens, i, out):
        return self._list(tokens, i, out, "itemize")

    def _b_ordered_list_open(self, tokens, i, out):
        return self._list(tokens, i, out, "enumerate")

    def _list(self, tokens, i, out, env):
        end = _closing(tokens, i)
        items, j = [], i + 1
        while j < end:
            if tokens[j].type == "list_item_open":
                close = _closing(tokens, j)
                inner: list[Block] = []
                k = j + 1
                while k < close:
                    k = self._block(tokens, k, inner)
                items.append("\\item " + "\n\n".join(_body(b) for b in inner))
                j = close + 1
            else:
                j += 1
        opens = len(items) > 1 and _title_only(items[-1])  # "… · The biases b.": that item opens the next step
        if opens:
            out.append(Block("raw", f"\\begin{{{env}}}\n" + "\n".join(items[:-1]) + f"\n\\end{{{env}}}"))
            items = items[-1:]
        out.append(Block("raw", f"\\begin{{{env}}}\n" + "\n".join(items) + f"\n\\end{{{env}}}", level=int(opens)))
        return end + 1

    def _b_blockquote_open(self, tokens, i, out):
        end = _closing(tokens, i)
        inner: list[Block] = []
        k = i + 1
        while k < end:
            k = self._block(tokens, k, inner)
        out.append(Block("raw", "\\begin{quote}\n" + "\n\n".join(_body(b) for b in inner) + "\n\\end{quote}"))
        return end + 1

    def _b_table_open(self, tokens, i, out):
        end = _closing(tokens, i)
        rows, row, header_rows = [], [], 0
        for tok in tokens[i:end]:
            if tok.type == "tr_close":
                rows.append(" & ".join(row) + r" \\")
                row = []
            elif tok.type == "inline":
                row.append(self.inline(tok.children or []))
            elif tok.type == "thead_close":
                header_rows = len(rows)
        columns = max((r.count(" & ") + 1 for r in rows), default=1)
        if header_rows:
            rows.insert(header_rows, r"\hline")
        body = "\n".join(rows)
        out.append(Block("raw", f"\\begin{{center}}\\begin{{tabular}}{{{'l' * columns}}}\n{body}\n\\end{{tabular}}\\end{{center}}"))
        return end + 1

    # -- inline --------------------------------------------------------------------
    def inline(self, children, heading: bool = False) -> str:
        out = []
        for tok in children:
            handler = getattr(self, f"_i_{tok.type}", None)
            out.append(handler(tok, heading) if handler else escape(tok.content))
        return "".join(out)

    def _i_text(self, tok, heading):
        return tie_dashes(escape(tok.content))

    def _i_math_inline(self, tok, heading):
        tex = tok.content.strip()
        if texmath.check(tex) is not None:
            return escape(f"${tok.content}$")
        tex = self._colours(tex)
        return rf"\texorpdfstring{{${tex}$}}{{{escape(_plain_math(tex))}}}" if heading else f"${tex}$"

    def _i_math_inline_double(self, tok, heading):
        return self._i_math_inline(tok, heading)

    def _i_softbreak(self, tok, heading):
        return "\n"

    def _i_hardbreak(self, tok, heading):
        return "\\\\\n"

    def _i_code_inline(self, tok, heading):
        return rf"\texttt{{{escape(tok.content)}}}"

    def _i_em_open(self, tok, heading):
        return r"\emph{"

    def _i_strong_open(self, tok, heading):
        return r"\textbf{"

    def _i_em_close(self, tok, heading):
        return "}"

    _i_strong_close = _i_em_close

    def _i_link_open(self, tok, heading):
        return ""

    def _i_link_close(self, tok, heading):
        return ""

    def _i_image(self, tok, heading):
        return escape(tok.content or "")

    def _i_html_inline(self, tok, heading):
        return escape(tok.content)

    # -- display math ------------------------------------------------------------------
    def _colours(self, tex: str) -> str:
        tex, needed = texmath.colours(tex)
        self.colours |= needed
        return tex

    def display(self, source: str) -> str:
        """A $$ block as an equation: refused math becomes literal text; long lines are split in LaTeX."""
        tex = source.strip()
        reason = texmath.check(tex)
        if reason is not None:
            return "\\begin{flushleft}\\ttfamily " + escape(f"$${tex}$$") + "\\end{flushleft}"
        tex = self._colours(tex)
        boxed = _boxed(tex)
        rows = _rows(boxed if boxed is not None else tex)
        label = None
        if self.numbered:
            self._count += 1
            label = f"{self.label_prefix}:{self._count}"
            rows = [self._with_references(r) for r in rows]
        one = r",\qquad ".join(_join(r) for r in rows)
        if any(mark in tex for mark in ("&", "\\\\", r"\tag")):  # laid out (or tagged) by its author
            body = tex
        elif boxed is not None:  # a key result: boxed on one line, or boxed around the split lines
            body = rf"\deriveeq{{\boxed{{{one}}}}}{{{_split(rows)}}}[boxed]"
        else:
            body = rf"\deriveeq{{{one}}}{{{_split(rows)}}}"
        if label is None:
            return f"\\begin{{equation*}}\n{body}\n\\end{{equation*}}"
        for r in rows:
            lhs = r[0][1].strip()
            if len(r) > 1 and any(word in lhs for word in (r"\frac", r"\partial", r"\delta", r"\nabla")):
                self._defined.setdefault(lhs, label)
        return f"\\begin{{equation}}\\label{{{label}}}\n{body}\n\\end{{equation}}"

    def _with_references(self, row: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Mark the '=' where an earlier equation's left-hand side is substituted: \\overset{(n)}{=}."""
        row = list(row)
        for lhs, label in self._defined.items():
            uses = [k for k, (_rel, part) in enumerate(row) if k > 0 and lhs in part]
            if not uses:
                continue
            k = uses[0] + 1 if uses[0] + 1 < len(row) else uses[0]
            rel, part = row[k]
            if rel == "=":
                row[k] = (rf"\overset{{\eqref{{{label}}}}}{{=}}", part)
        return row


# -- top-level structure of a formula ------------------------------------------------------

_WORD = re.compile(r"\\([A-Za-z]+|.)")


def _top_level(tex: str):
    """(index, char) of characters outside braces, \\left…\\right and environments."""
    depth, i = 0, 0
    while i < len(tex):
        c = tex[i]
        if c == "\\":
            m = _WORD.match(tex, i)
            word = m.group(1)
            depth += {"left": 1, "begin": 1, "right": -1, "end": -1}.get(word, 0)
            i = m.end()
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif depth == 0:
            yield i, c
        i += 1


def _rows(tex: str) -> list[list[tuple[str, str]]]:
    """Split `a = b,\\qquad c = d` into rows of (relation before, part): [[("", a), ("=", b)], …]."""
    rows, row, start = [], [], 0
    sep = r",\qquad"
    for i, c in _top_level(tex):
        if c == "=" and i >= start:
            row.append(("=" if row else "", tex[start:i].strip()))
            start = i + 1
        elif c == "," and tex.startswith(sep, i) and i >= start:
            row.append(("=" if row else "", tex[start:i].strip()))
            rows.append(row)
            row, start = [], i + len(sep)
    row.append(("=" if row else "", tex[start:].strip()))
    rows.append(row)
    return rows


def _boxed(tex: str) -> str | None:
    """The inside of a formula that is wholly \\boxed{…}, else None."""
    if not tex.startswith("\\boxed{") or not tex.endswith("}"):
        return None
    inner = tex[len("\\boxed{") : -1]
    depth = 0
    for c in inner:
        depth += {"{": 1, "}": -1}.get(c, 0)
        if depth < 0:
            return None
    return inner if depth == 0 else None


def _join(row) -> str:
    return " ".join(f"{rel} {part}" if rel else part for rel, part in row).strip()


def _split(rows) -> str:
    """The aligned body: one line per part, aligned at '='; long sums broken at top-level + and −."""
    lines: list[list[str]] = []  # [line, separator after it]
    for row in rows:
        (_rel, first), rest = row[0], row[1:]
        if not rest:
            lines.append([f"{first} &", r" \\"])
        for k, (rel, part) in enumerate(rest):
            pieces = _break_sum(part)
            lines.append([f"{first + ' ' if k == 0 else ''}&{rel} {pieces[0]}", r" \\"])
            lines += [[rf"&\quad {p}", r" \\"] for p in pieces[1:]]
        lines[-1][1] = r" \\[0.6ex]"
    lines[-1][1] = ""
    return "\n".join(line + sep for line, sep in lines)


def _break_sum(part: str) -> list[str]:
    """A long sum in lines of several terms each (a line holds about LINE_WIDTH characters as printed, so
    nine terms ∂L/∂y_{1,1,1} x_{1,0,0} go three to a line, not one)."""
    if _width(part) <= LONG_WIDTH:
        return [part]
    cuts = [i for i, c in _top_level(part) if c in "+-" and i > 0 and part[:i].strip()[-1:] not in "+-=(,{^_"]
    pieces, start = [], 0
    for i in cuts:
        if _width(part[start:i]) > LINE_WIDTH and len(part) - i > 10:
            pieces.append(part[start:i].strip())
            start = i
    pieces.append(part[start:].strip())
    return pieces


_SILENT = re.compile(r"\\(left|right|frac|dfrac|operatorname|mathrm|mathbf|boldsymbol|quad|qquad|,)(?![A-Za-z])")


def _width(tex: str) -> int:
    """Roughly how many characters wide tex is when set: a command such as \\partial is one character,
    braces, spaces, \\left and \\frac take none (a fraction is counted as its two lines side by side)."""
    tex = _SILENT.sub("", tex)
    return len(re.sub(r"[{}\s_^]", "", re.sub(r"\\[A-Za-z]+", "·", tex)))


def _plain_math(tex: str) -> str:
    """Math as text for PDF bookmarks: \\phi -> φ, W^{[1]} -> W^[1]; other commands lose their backslash."""
    return re.sub(r"\\([A-Za-z]+)", lambda m: _greek(m[1]), tex).replace("{", "").replace("}", "")


_PLAIN_COMMANDS = {"partial": "∂", "cdot": "·", "odot": "⊙", "top": "ᵀ", "nabla": "∇", "sum": "Σ"}
_FONT_COMMANDS = {"mathrm", "mathbf", "mathit", "boldsymbol", "bm", "operatorname", "text", "left", "right"}


def _greek(name: str) -> str:
    """A command as plain text: Greek letters as letters, a few symbols, font commands dropped."""
    import unicodedata

    if name in _FONT_COMMANDS:
        return ""
    if name in _PLAIN_COMMANDS:
        return _PLAIN_COMMANDS[name]
    base = name.removeprefix("var").replace("lambda", "lamda").replace("Lambda", "Lamda")
    case = "CAPITAL" if base[:1].isupper() else "SMALL"
    try:
        return unicodedata.lookup(f"GREEK {case} LETTER {base.upper()}")
    except KeyError:
        return name


# -- tokens ----------------------------------------------------------------------------------


def _parser():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    return MarkdownIt("commonmark").enable("table").use(dollarmath_plugin, allow_space=True, double_inline=True)


def _closing(tokens, i) -> int:
    """Index of the token that closes tokens[i] (same nesting level)."""
    level = tokens[i].level
    close = tokens[i].type.replace("_open", "_close")
    for j in range(i + 1, len(tokens)):
        if tokens[j].type == close and tokens[j].level == level:
            return j
    return len(tokens) - 1


def _replace(token, content: str):
    token = token.copy()
    token.content = content
    return token


def _body(block: Block) -> str:
    if block.kind == "heading":
        return rf"\paragraph{{{block.tex}}}"
    return block.tex


# -- documents ---------------------------------------------------------------------------------


def notes_body(blocks: list[Block], section: str = "section") -> str:
    """Lecture notes: h2 -> \\section (or the given command), h3 -> one level down; rules become space."""
    levels = ["chapter", "section", "subsection", "subsubsection", "paragraph"]
    top = levels.index(section)
    out: list[str] = []
    previous = None
    for b in blocks:
        if b.kind in ("title", "keep", "alone"):
            continue
        if b.kind == "math" and previous in ("math", "para") and out:
            out[-1] += "\n" + b.tex  # a display belongs to its paragraph: no blank line (no extra space)
        elif b.kind == "heading":
            command = levels[min(top + b.level - 2, len(levels) - 1)]
            out.append(rf"\{command}{{{b.tex}}}")
        elif b.kind == "rule":
            out.append(r"\medskip")
        elif b.kind == "figure":
            out.append(figure(b.tex))
        else:
            out.append(b.tex)
        previous = b.kind
    return "\n\n".join(out)


def figure(tikz: str) -> str:
    return "\\begin{center}\n\\derivefit{%\n" + tikz + "}\n\\end{center}"


def slides_body(blocks: list[Block], title: str, section: str = "section", gloss: str = "", closing: str = "") -> str:
    """A beamer deck: steps packed into frames, titled by section; a step is never split.

    A step is a paragraph with the equations that follow it (a paragraph that goes on a
    sentence, starting in lower case, or one marked KEEP in the Markdown, stays with the step
    before it). Steps of one section share a frame while they fit (FRAME_LINES, estimated);
    a step a little too long for one frame is shrunk to fit, a much longer one goes on over
    frames between its equations. A figure has a frame of its own. Each section of the
    derivation also opens a beamer `\\section` (a course passes section="subsection"): the
    deck's PDF outline. The steps under one bold title (an activation, a case of the loss) share
    a frame when they fit on one together. Frame titles leave out the glossary's English gloss,
    "(ang. forward pass)" (`gloss`: the language entry's form of it), which the notes' headings keep. What follows
    the derivation's closing rule (---, the verification note) has frames of its own, titled `closing`, so that it
    is not read as part of the last section.
    """
    frames, last = [], title
    for heading, units in _sections(blocks, title, closing):
        if heading != last:
            frames.append(f"\\{section}{{{heading}}}")
            last = heading
        frames += [_frame(_without_gloss(heading, gloss), body, weight, sub) for body, weight, sub in _packed(units)]
    return "\n\n".join(frames)


def _without_gloss(heading: str, gloss: str) -> str:
    """"Przejście w przód (ang. forward pass)" -> "Przejście w przód": the gloss once, in the notes. `gloss` is
    the language entry's form of it, "(ang. …)" or "(…)", with … for the English term."""
    if "…" not in gloss:
        return heading
    before, after = (re.escape(part.strip()) for part in gloss.split("…", 1))
    pattern = r"\s*" + before + r"\s*[A-Za-z][A-Za-z \-]*" + after + r"\s*$"
    return re.sub(pattern, "", heading).strip() or heading


def _sections(blocks: list[Block], title: str, closing: str = "") -> list[tuple[str, list[list[Block]]]]:
    """(heading, steps) in order; each step a list of blocks (prose first, then its equations). With `closing`, a
    rule opens a section of that title (dropped if a heading follows the rule at once)."""
    sections: list[tuple[str, list[list[Block]]]] = [(title, [])]
    glue = fresh = False
    for b in blocks:
        if b.kind == "rule" and closing:
            sections.append((closing, []))
            continue
        if b.kind in ("title", "rule"):
            continue
        units = sections[-1][1]
        if b.kind == "heading":
            sections.append((b.tex, []))
        elif b.kind == "keep":
            glue = True
        elif b.kind == "alone":
            fresh = True
            continue
        elif fresh:
            units.append([Block(b.kind, b.tex, b.level, b.plain, alone=True)])
        elif b.kind == "figure":
            units.append([b])
            units.append([])  # nothing joins a figure's frame
        elif b.kind == "raw" and b.level:  # a list item that opens the next step ("The biases b.")
            units.append([b])
        elif b.kind == "math" or (units and (glue or _continues(b) or _only_leads_in(units[-1]))):
            if not units:
                units.append([])
            units[-1].append(Block(b.kind, b.tex, 1, b.plain) if glue and b.kind == "para" else b)
        else:
            units.append([b])
        glue = glue and b.kind == "keep"
        fresh = False
    return [(heading, [u for u in units if u]) for heading, units in sections if any(units)]


def _title_only(tex: str) -> bool:
    """A bold title alone (\\textbf{…}, as an item or a paragraph): the head of the step that follows."""
    text = re.sub(r"^\\item\s*", "", tex.strip())
    return text.startswith(r"\textbf{") and _first_argument(text, r"\textbf{") == text[8:-1]


def _leads_in(tex: str) -> bool:
    """Prose that introduces what follows: it ends with a colon, or it is a bold title alone."""
    text = re.sub(r"^\\item\s*", "", tex.strip())
    return text.endswith(":") or text.endswith(":}") or _title_only(tex)


def _only_leads_in(unit: list[Block]) -> bool:
    """A step so far without a formula, whose last paragraph leads in: what follows belongs to it."""
    return bool(unit) and all(b.kind in ("para", "raw") for b in unit) and _leads_in(unit[-1].tex)


def _continues(block: Block) -> bool:
    """A paragraph that goes on the sentence before its formula (it starts in lower case), or a list."""
    text = re.sub(r"^(\\[a-z]+\{)+", "", block.tex.lstrip())
    return (block.kind == "para" and text[:1].islower()) or block.kind == "raw"  # a list explains what precedes


def _weight(block: Block) -> float:
    """Estimated lines on a frame."""
    if block.kind == "math":
        if r"\vdots" in block.tex and len(block.tex) < 60:
            return 1.0
        one_line = _first_argument(block.tex, r"\deriveeq{") or block.tex
        tall = 0.7 if any(word in one_line for word in (r"\frac", r"\sum", r"\boxed")) else 0.0
        rows = one_line.count("\\\\")  # rows of cases, matrices and aligned blocks
        return 2.0 + tall + 1.1 * rows + len(one_line) // 220
    if block.kind == "figure":
        return FRAME_LINES
    text = re.sub(r"\$[^$]*\$", "xxxxxx", block.tex)
    text = re.sub(r"\\[A-Za-z]+", "", text)
    return 0.4 + -(-len(text) // LINE_CHARS) * 1.0


def _first_argument(tex: str, command: str) -> str | None:
    """The braced argument right after `command` (which ends with its opening brace), if present."""
    start = tex.find(command)
    if start < 0:
        return None
    depth, i = 1, start + len(command)
    for j in range(i, len(tex)):
        depth += {"{": 1, "}": -1}.get(tex[j], 0)
        if depth == 0:
            return tex[i:j]
    return None


def _opens_group(unit: list[Block]) -> bool:
    """A step under a bold title of its own (an activation, a case of the loss): the steps after it, up to
    the next such title, belong to it."""
    text = re.sub(r"^\\item\s*", "", unit[0].tex.strip())
    return unit[0].kind in ("para", "raw") and text.startswith(r"\textbf{")


def _groups(units: list[list[Block]]) -> list[list[list[Block]]]:
    groups: list[list[list[Block]]] = []
    for unit in units:
        if groups and not _opens_group(unit) and _opens_group(groups[-1][0]) and unit[0].kind != "figure" \
                and not unit[0].alone:  # a step marked ALONE (a remark on all the cases) is not the last case's
            groups[-1].append(unit)
        else:
            groups.append([unit])
    return groups


def _packed(units: list[list[Block]]) -> list[tuple[list[str], float, str]]:
    """Frames (bodies, estimated lines, subtitle) from the steps of one section, greedily, steps whole; the
    steps under one bold title together on one frame when they fit on one. A frame that goes on with a
    bold title's steps has that title as its subtitle (the case it belongs to)."""
    frames: list[tuple[list[str], float, str]] = []
    body, weight, subtitle = [], 0.0, ""

    def close():
        nonlocal body, weight, subtitle
        if body:
            frames.append((body, weight, subtitle))
        body, weight, subtitle = [], 0.0, ""

    for group in _groups(units):
        w = sum(_weight(b) for unit in group for b in unit)
        if len(group) > 1 and w <= FRAME_LINES * FRAME_SHRINK:
            lone = weight < FRAME_LINES * LONE_START and weight + w <= FRAME_LINES * FRAME_SHRINK  # a sentence or two
            if body and weight + w > FRAME_LINES and not lone:
                close()
            body, weight = body + [_body_tex(b) for unit in group for b in unit], weight + w
            continue
        title = _group_title(group) if len(group) > 1 else ""
        for n, unit in enumerate(group):
            w = sum(_weight(b) for b in unit)
            if body and weight + w > FRAME_LINES:
                close()
                subtitle = title if n else ""
            if w <= FRAME_LINES * FRAME_SHRINK or len(unit) < 3:
                body, weight = body + [_body_tex(b) for b in unit], weight + w
                if unit[0].kind == "figure":
                    close()
                continue
            for piece in _between_equations(unit):  # too long for one frame even shrunk: break between equations
                close()
                subtitle = title if (n or piece is not unit) else ""
                body, weight = [_body_tex(b) for b in piece], sum(_weight(b) for b in piece)
    close()
    return frames


def _group_title(group: list[list[Block]]) -> str:
    """The bold title a group of steps opens with, without its closing colon or full stop."""
    text = re.sub(r"^\\item\s*", "", group[0][0].tex.strip())
    return (_first_argument(text, r"\textbf{") or "").strip().rstrip(":.").strip()


def _between_equations(unit: list[Block]) -> list[list[Block]]:
    pieces, piece, weight = [], [], 0.0
    for b in unit:
        w = _weight(b)
        if piece and weight + w > FRAME_LINES and _opens_piece(b, piece[-1]):
            pieces.append(piece)
            piece, weight = [], 0.0
        piece.append(b)
        weight += w
    return pieces + [piece]


def _opens_piece(block: Block, before: Block) -> bool:
    """Where a step too long for one frame may go on to the next: before a paragraph that starts a
    sentence (after a formula), or before a formula whose paragraph does not lead in to it."""
    if block.kind == "para":  # (level 1: a paragraph KEEP holds with the step before it)
        return before.kind == "math" and not _continues(block) and not block.level
    return block.kind == "math" and before.kind == "math"


def _body_tex(block: Block) -> str:
    return figure(block.tex) if block.kind == "figure" else block.tex


def _frame(heading: str, body: list[str], weight: float, subtitle: str = "") -> str:
    """A frame; `shrink` scales its content down only if it does not fit (the estimate can be off)."""
    sub = f"{{{subtitle}}}" if subtitle else ""
    return f"\\begin{{frame}}[shrink]{{{heading}}}{sub}\n" + "\n\n".join(body) + "\n\\end{frame}"


def title_of(blocks: list[Block]) -> Block | None:
    return next((b for b in blocks if b.kind == "title"), None)


def language(lang: str) -> str:
    """LaTeX babel's name of lang (its language entry, derive.i18n)."""
    from derive.render.i18n import language as entry

    return entry(lang).babel


def babel_languages() -> list[str]:
    from derive.render.i18n import language as entry, languages

    return sorted({entry(lang).babel for lang in languages()})


def _shortened(text: str, most: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= most else text[: most - 1] + "…"


@lru_cache(maxsize=1)
def _document_environment():
    """Jinja for document.tex.j2 (its own delimiters keep LaTeX's braces readable); one per process, so the
    template is compiled once (a changed template file is still read again: Jinja checks its time stamp)."""
    import jinja2

    from derive.render.i18n import templates_root

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_root() / "tex")),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        block_start_string="<%", block_end_string="%>", variable_start_string="<<", variable_end_string=">>",
        comment_start_string="<#", comment_end_string="#>",
    )


def document(kind: str, lang: str, *, title: str, body: str, colours: set, toc: bool = False,
             numbered: bool = False, plain_title: str = "", author: str = "", date: str = "") -> str:
    """The whole LaTeX document (kind: notes | slides | course) from templates/tex/document.tex.j2."""
    from derive.render.pdf import FORMAT_MARK

    env = _document_environment()
    colour_defs = sorted((name, name.removeprefix("derive-")) for name in colours)
    text = "\n".join((title, body, author, date))
    return env.get_template("document.tex.j2").render(
        kind=kind, language=language(lang), languages=babel_languages(), title=title,
        plain_title=escape(_shortened(plain_title, PDF_TITLE)), body=body, colours=colour_defs, toc=toc, numbered=numbered,
        author=author, date=date, families=families(kind, text), tikz=bool(_TIKZ.search(text)),
        format_mark=FORMAT_MARK,
    )


# What a document's text asks of the preamble: each font family and TikZ is loaded only when something
# uses it (LuaLaTeX spends about 0.05 s loading a family, 0.06 s loading TikZ, in every document).
_TIKZ = re.compile(r"\\(?:begin\{tikzpicture\}|tikz|usetikzlibrary|pgf)")
_FAMILIES = {
    "sans": re.compile(r"\\(?:textsf|sffamily|mathsf)(?![A-Za-z])"),
    "mono": re.compile(r"\\(?:texttt|ttfamily|mathtt|verb|url|nolinkurl)(?![A-Za-z])"),
}


def families(kind: str, text: str) -> set[str]:
    """The font families besides the main (serif) one that a document sets: sans on slides (beamer's main
    family) or where the text switches to it, monospace where the text does."""
    used = {name for name, pattern in _FAMILIES.items() if pattern.search(text)}
    return used | ({"sans"} if kind == "slides" else set())
