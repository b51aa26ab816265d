"""Rendering: Jinja templates (md/, tex/) with gettext catalogs, fed SymPy objects.

The context handed to templates holds SymPy objects; templates print them
only through the filters installed by `environment` (the one LaTeX printer),
and hold prose (`{% trans %}`) and layout only. Every kind of spec has a
template `<kind>.<fmt>.j2`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache, partial

import sympy as sp

from derive.render.printing import latex_name, latex_printer

ROW_WIDTH = 2  # equations per display line, as seed 000 sets them


def d(of: sp.Symbol, wrt: sp.Symbol) -> sp.Derivative:
    """∂of/∂wrt, kept as a symbol of a derivative (printed as a fraction)."""
    return sp.Derivative(of, wrt, evaluate=False)


@dataclass
class Row:
    """One displayed equation: parts joined by '='; `key` marks a key result (boxed in LaTeX)."""

    parts: list[sp.Expr]
    key: bool = False
    approx: list[sp.Expr] = field(default_factory=list)  # values after '≈' (a worked example's rounded numbers)


def boxed(row, boxes: str = "key") -> bool:
    """Whether row is framed: a key result, when the spec's `boxes:` is `key` (seed 004), never with `none`."""
    return isinstance(row, Row) and row.key and boxes == "key"


def _box(tex: str, boxes: str = "key") -> str:
    """A key result the template writes itself (cases, aligned rows), framed as the spec's `boxes:` says."""
    return rf"\boxed{{{tex}}}" if boxes == "key" else tex


def _eq(row, printer, boxes: str = "key") -> str:
    """lhs = rhs = …; a key result is boxed as in seed 004 (unless the spec says `boxes: none`)."""
    parts = row.parts if isinstance(row, Row) else row
    tex = " = ".join(printer(p) for p in parts)
    if isinstance(row, Row):
        tex += "".join(rf" \approx {printer(a)}" for a in row.approx)
    return rf"\boxed{{{tex}}}" if boxed(row, boxes) else tex


def _aligned(rows, printer) -> str:
    """Rows aligned at their first '=' in one display (None: a row of vertical dots), so that
    what the rows share lines up (seed 003's common prefixes)."""
    lines = []
    for row in rows:
        if row is None:
            lines.append(r"&\vdots")
            continue
        parts = [printer(p) for p in (row.parts if isinstance(row, Row) else row)]
        lines.append(f"{parts[0]} &= " + " = ".join(parts[1:]))
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def _eqs(rows, printer, boxes: str = "key") -> str:
    return r",\qquad ".join(_eq(r, printer, boxes) for r in rows)


def _number(x, lang: str, digits: int = 4) -> str:
    """A number in running text, as inline math in the language's format ($1{,}4 \\cdot 10^{-10}$)."""
    from derive.render.numbers import format_number

    return "$" + format_number(x, lang, digits, tex=True) + "$"


def _words(n: int, case: str = "oblique", lang: str = "en") -> str:
    """A small count in words where a lecturer writes it so (at three points; n|words("nominative"): there are
    seven of them), else digits."""
    from derive.render.i18n import count_in_words

    return count_in_words(n, lang, case)


def _listed(items, conjunction: str = "and", lang: str = "en", math: bool = False) -> str:
    """Items joined as the language lists them in a sentence (derive.render.i18n.join_list)."""
    from derive.render.i18n import join_list

    return join_list(list(items), conjunction, lang, math)


def _step(*numbers: int, mark: str = ")") -> str:
    """A step's number in a heading: 1) or 1. (the kind's `steps` mark); a sub-step 2.1, without a mark, as
    seed 004 numbers the derivatives of its activations."""
    return ".".join(str(n) for n in numbers) + (mark if len(numbers) == 1 else "")


def chunks(items: list, size: int = ROW_WIDTH) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def environment(fmt: str, lang: str, boxes: str = "key", steps: str = ")", **printer_settings) -> jinja2.Environment:
    """The one place that builds Jinja: package templates, FILTERS bound to the printer, gettext;
    `boxes` is the spec's `boxes:` (none | key), which every framed equation obeys; `steps` is the kind's
    mark after a step heading's number (derive.kinds.base.KindEntry.steps), which `step(n)` writes."""
    import jinja2  # here, not at the top: JSON output and the verifier need no templates

    from derive.render.i18n import templates_root, translations
    from derive.render.numbers import decimal_sign

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_root() / fmt)),
        bytecode_cache=_compiled(),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    printer = latex_printer(**{"decimal": decimal_sign(lang), **printer_settings})
    env.filters.update(_at_render(
        {
            "tex": printer,
            "eq": partial(_eq, printer=printer, boxes=boxes),
            "eqs": partial(_eqs, printer=printer, boxes=boxes),
            "box": partial(_box, boxes=boxes),
            "aligned": partial(_aligned, printer=printer),
            "name": latex_name,
            "sci": partial(_number, lang=lang, digits=2),  # a check's error: $1{,}4 \cdot 10^{-10}$
            "num": partial(_number, lang=lang),
            "words": partial(_words, lang=lang),
            "listed": partial(_listed, lang=lang),  # 1 and 2, $a$, $b$ and $c$; listed("or"): a or b
        }
    ))
    env.globals["step"] = partial(_step, mark=steps)
    env.globals["verification_note"] = True  # a context may turn it off (--no-verification-note)
    env.install_gettext_translations(translations(lang), newstyle=True)
    return env


def _at_render(filters: dict) -> dict:
    """The filters, each called when the template is rendered: Jinja would otherwise call a filter on a
    constant ({{ 0.5|num }}, {{ 3|words }}) while compiling and bake this environment's language into code
    that `_compiled` shares with the other languages' environments (a filter that takes the context is
    never called early)."""
    import jinja2
    import jinja2.runtime

    def late(function):
        @jinja2.pass_context
        def call(*args, **kwargs):  # from a template: (context, value, …); from Python (env.filters["tex"]): (value, …)
            if args and isinstance(args[0], jinja2.runtime.Context):
                args = args[1:]
            return function(*args, **kwargs)

        return call

    return {name: late(function) for name, function in filters.items()}


@lru_cache(maxsize=1)
def _compiled():
    """The templates compiled once per process and shared by every environment (one per language and
    printer): a template is compiled again only when its source changes (the checksum of its text), so
    `derive build`'s worker compiles a kind's template once for all the languages of a spec. Sharing is
    sound because our filters run only at render time (`_at_render`)."""
    import jinja2

    class Compiled(jinja2.BytecodeCache):
        def __init__(self) -> None:
            self.code: dict[str, tuple[str, object]] = {}

        def load_bytecode(self, bucket) -> None:
            checksum, code = self.code.get(bucket.key, (None, None))
            if checksum == bucket.checksum:
                bucket.code = code

        def dump_bytecode(self, bucket) -> None:
            self.code[bucket.key] = (bucket.checksum, bucket.code)

    return Compiled()


def render_template(kind: str, fmt: str, lang: str, context: dict, steps: str = ")", **printer_settings) -> str:
    """Render templates/<fmt>/<kind>.<fmt>.j2 in lang; the context's `boxes` (none | key, default key)
    says whether key results are framed, `steps` how step headings are numbered (1) or 1.)."""
    env = environment(fmt, lang, boxes=context.get("boxes", "key"), steps=steps, **printer_settings)
    text = env.get_template(f"{kind}.{fmt}.j2").render(context)
    return displays_apart(text) if fmt == "md" else text


def displays_apart(markdown: str) -> str:
    """Every display ($$ … $$ on lines of their own) set off from the text before it by a blank line: a display
    that follows a line of text is read as part of that paragraph (inline, in small type, by the PDF's converter
    and by some Markdown viewers)."""
    out: list[str] = []
    inside = False
    for line in markdown.split("\n"):
        if line.strip() == "$$":
            if not inside and out and out[-1].strip():
                out.append("")
            inside = not inside
        out.append(line)
    return "\n".join(out)
