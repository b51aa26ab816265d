"""Rendering: Jinja templates (md/, tex/) with gettext catalogs, fed SymPy objects.

The context handed to templates holds SymPy objects; templates print them
only through the filters installed by `environment` (the one LaTeX printer),
and hold prose (`{% trans %}`) and layout only. Every kind of spec has a
template `<kind>.<fmt>.j2`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import sympy as sp

from .printing import latex_name, latex_printer

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


def _eq(row, printer) -> str:
    """lhs = rhs = …; a key result is boxed as in seed 004."""
    parts = row.parts if isinstance(row, Row) else row
    tex = " = ".join(printer(p) for p in parts)
    if isinstance(row, Row):
        tex += "".join(rf" \approx {printer(a)}" for a in row.approx)
    return rf"\boxed{{{tex}}}" if isinstance(row, Row) and row.key else tex


def _eqs(rows, printer) -> str:
    return r",\qquad ".join(_eq(r, printer) for r in rows)


def chunks(items: list, size: int = ROW_WIDTH) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def environment(fmt: str, lang: str, **printer_settings) -> jinja2.Environment:
    """The one place that builds Jinja: package templates, FILTERS bound to the printer, gettext."""
    import jinja2  # here, not at the top: JSON output and the verifier need no templates

    from .i18n import templates_root, translations

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_root() / fmt)),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    printer = latex_printer(**printer_settings)
    env.filters.update(
        {
            "tex": printer,
            "eq": partial(_eq, printer=printer),
            "eqs": partial(_eqs, printer=printer),
            "name": latex_name,
            "sci": lambda x: f"{x:.1e}",
        }
    )
    env.install_gettext_translations(translations(lang), newstyle=True)
    return env


def render_template(kind: str, fmt: str, lang: str, context: dict, **printer_settings) -> str:
    """Render templates/<fmt>/<kind>.<fmt>.j2 in lang."""
    env = environment(fmt, lang, **printer_settings)
    return env.get_template(f"{kind}.{fmt}.j2").render(context)
