"""`--format ipynb`: the derivation as a Jupyter notebook (nbformat 4) that students run and change.

Markdown cells: the derivation's Markdown (derive.document), one cell per step
(at each heading, and at each paragraph that follows formulas); the figure is
an SVG attachment of the cell that shows it. Code
cells: the contract's JSON program (forward, backward, derivatives) read back
by the answer parser and printed as numpy code by SymPy's NumPyPrinter, after
derive's own functions are rewritten into SymPy's (I[·] as Piecewise, ReLU as
Max, σ with exp) by their own rewrite rules. The last cell compares every
derivative with a central finite difference of the forward pass. Kinds whose
JSON is not such a program (mlp, composition, index-form graphs) get the
Markdown cells only; a course gets a program per chapter.
"""

from __future__ import annotations

import random
import re

import sympy as sp

from derive.meta import N_
from derive.render.codeprint import numpy_code, numpy_printer, python_name

FIGURE = "diagram.svg"
STEP = 1e-6  # central finite differences
TOLERANCE = 1e-6  # relative to the derivative, absolute below 1 (a derivative may be 0)
KINK = 1e-2  # a drawn point keeps kinked arguments (I[·], ReLU) this far from their kinks
DRAWS = 200

PROSE = {
    "check_title": N_("Checking the formulas numerically"),
    "check_intro": N_("The cells below compute the derivatives by the formulas above and compare each one "
                      "with a central finite difference of the forward pass. Change the numbers in the first "
                      "cell and run the cells again."),
    "values": N_("The point at which the formulas are checked: change these numbers and run the cells again."),
    "forward": N_("The forward pass"),
    "derivatives": N_("The derivatives, by the formulas of the derivation"),
    "check": N_("Each derivative against a central finite difference"),
    "formula": N_("formula"),  # the two columns the check cell prints
    "difference": N_("finite difference"),
    "ok": N_("All derivatives agree with finite differences (largest relative difference %(error)s)."),
    "chapter": N_("Chapter: %(title)s"),
}


def notebook(result, lang: str, options) -> str:
    """The notebook (nbformat 4 JSON text) of a derivation in lang."""
    import nbformat

    from derive.render.document import figure_of, markdown

    fig = figure_of(result, options, lang)  # its words and numbers in lang, and the legend of its colours under it
    text = markdown(result, lang, options, figure_src=f"attachment:{FIGURE}" if fig else None,
                    legend=fig.legend if fig else None)
    cells = markdown_cells(text, {FIGURE: fig.svg()} if fig else {})
    words = _words(lang)
    for title, program in programs(result):
        cells += code_section(program, words, title)
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def _words(lang: str):
    from derive.render.i18n import translations

    gettext = translations(lang).gettext
    return lambda key, **args: gettext(PROSE[key]) % args if args else gettext(PROSE[key])


# -- Markdown cells --------------------------------------------------------------------------


def markdown_cells(text: str, attachments: dict[str, str]) -> list:
    """One cell per step of the derivation, attachments (the figure) in the cells that use them."""
    import nbformat

    cells = []
    for step in steps(text):
        cell = nbformat.v4.new_markdown_cell(step)
        used = {name: svg for name, svg in attachments.items() if f"attachment:{name}" in step}
        if used:
            cell["attachments"] = {name: {"image/svg+xml": svg} for name, svg in used.items()}
        cells.append(cell)
    return cells


def steps(text: str) -> list[str]:
    """The Markdown cut into steps: a step opens at each heading, and at each paragraph of prose that
    follows formulas (the prose that introduces the next equations); horizontal rules are dropped."""
    from derive.render.html import _parser

    lines = text.splitlines()
    blocks = [(t.type, t.map) for t in _parser().parse(text) if t.level == 0 and t.map and t.nesting >= 0]
    cuts, previous = [], None
    for kind, (start, _end) in blocks:
        if kind == "heading_open" or (kind == "paragraph_open" and previous not in (None, "heading_open",
                                                                                    "paragraph_open")):
            cuts.append(start)
        previous = kind
    rules = {line for kind, (start, end) in blocks if kind == "hr" for line in range(start, end)}
    bounds = sorted({0, *cuts, len(lines)})
    parts = ["\n".join(l for i, l in enumerate(lines[a:b], a) if i not in rules).strip()
             for a, b in zip(bounds, bounds[1:])]
    return [p for p in parts if p]


# -- the program: the contract's JSON, read back ---------------------------------------------


class Program:
    """The JSON program of a derivation as SymPy: values to try, forward, backward, derivatives."""

    def __init__(self, data: dict, values: dict | None):
        from derive.core.parse import parse_math

        self.of = data["of"]
        self.inputs = data["inputs"] + data.get("targets", []) + data.get("constants", [])
        self.wrt = [d["wrt"] for d in data["derivatives"]]
        names = [*self.inputs, *data.get("parameters", []),
                 *(e["name"] for e in data["forward"]), *(e["name"] for e in data.get("backward", []))]
        self.symbols = {n: sp.Symbol(n) for n in names}
        read = lambda e: (self.symbols[e["name"]], parse_math(e["expr"], names=self.symbols))  # noqa: E731
        self.forward = [read(e) for e in data["forward"]]
        self.backward = [read(e) for e in data.get("backward", [])]
        self.derivatives = [(d["wrt"], parse_math(d["expr"], names=self.symbols)) for d in data["derivatives"]]
        self.free = list(dict.fromkeys([*self.inputs, *data.get("parameters", [])]))
        self.targets = set(data.get("targets", []))
        self.constants = set(data.get("constants", []))
        self.values = {str(k): v for k, v in (values or {}).items()}


def programs(result) -> list[tuple[str | None, Program]]:
    """(chapter title or None, Program) for each derivation of result that is a JSON program."""
    if result.kind == "course":
        return [(ch["title"], p) for ch in result.module.to_json(result.outcome)["chapters"]
                for p in [_program(ch["derivation"], None)] if p is not None]
    program = _program(result.module.to_json(result.outcome), given_values(getattr(result.outcome, "spec", None)))
    return [(None, program)] if program is not None else []


def given_values(spec) -> dict:
    """The spec's values by JSON name: a graph's `values:`, or a worked example's (spec.worked)."""
    worked = getattr(spec, "worked", None)
    values = getattr(worked, "values", None) if worked is not None else getattr(spec, "values", None)
    return {str(k): v for k, v in values.items()} if isinstance(values, dict) else {}


def given_tolerance(spec, default: float) -> float:
    """The relative tolerance numbers are graded with: the spec's `tolerance:`, or default."""
    worked = getattr(spec, "worked", None)
    tolerance = getattr(worked if worked is not None else spec, "tolerance", None)
    return float(tolerance) if tolerance else default


def _program(data: dict, values) -> Program | None:
    from derive.core.parse import ParseError

    if not isinstance(data, dict) or not {"of", "inputs", "forward", "derivatives"} <= data.keys():
        return None
    try:
        program = Program(data, values)
        for _, expr in [*program.forward, *program.backward, *program.derivatives]:
            numpy_code(expr, numpy_printer())  # a function without a numpy form leaves the check out
    except (ParseError, ValueError, NotImplementedError, KeyError, TypeError):  # e.g. index form: Σ over n
        return None
    return program


# -- numpy code ------------------------------------------------------------------------------


def code_section(program: Program, words, title: str | None) -> list:
    import nbformat

    point = choose_point(program)
    printer = numpy_printer()
    forward = _forward_cell(program, words, printer)
    derivatives = _derivatives_cell(program, words, printer)
    heading = "## " + words("check_title") + (f" — {words('chapter', title=title)}" if title else "")
    cells = [nbformat.v4.new_markdown_cell(f"{heading}\n\n{words('check_intro')}")]
    cells.append(nbformat.v4.new_code_cell(_values_cell(program, point, words, _imports(printer))))
    cells.append(nbformat.v4.new_code_cell(forward))
    cells.append(nbformat.v4.new_code_cell(derivatives))
    cells.append(nbformat.v4.new_code_cell(_check_cell(program, words)))
    return cells


def _imports(printer) -> list[str]:
    modules = {"numpy", *printer.module_imports}
    return [f"import {m}" for m in sorted(modules)]


def _values_cell(program: Program, point: dict[str, float], words, imports: list[str]) -> str:
    lines = [*imports, "", f"# {words('values')}"]
    lines += [f"{python_name(n)} = {point[n]!r}" for n in program.free]
    return "\n".join(lines)


def _forward_function(program: Program, printer) -> list[str]:
    args = ", ".join(python_name(n) for n in program.free)
    lines = [f"def forward({args}):"]
    lines += [f"    {python_name(s.name)} = {numpy_code(e, printer)}" for s, e in program.forward]
    one = "," if len(program.forward) == 1 else ""  # always a tuple: the cells unpack it and index it
    lines.append(f"    return {', '.join(python_name(s.name) for s, _ in program.forward)}{one}")
    return lines


def _forward_cell(program: Program, words, printer) -> str:
    names = ", ".join(python_name(s.name) for s, _ in program.forward)
    args = ", ".join(python_name(n) for n in program.free)
    return "\n".join([f"# {words('forward')}", *_forward_function(program, printer), "",
                      f"{names}{',' if len(program.forward) == 1 else ''} = forward({args})",
                      f"print({program.of!r}, '=', {python_name(program.of)})"])


def _derivatives_cell(program: Program, words, printer) -> str:
    lines = [f"# {words('derivatives')}"]
    lines += [f"{python_name(s.name)} = {numpy_code(e, printer)}" for s, e in program.backward]
    lines.append("derivatives = {")
    lines += [f"    {python_name(wrt)!r}: {numpy_code(e, printer)}," for wrt, e in program.derivatives]
    lines += ["}", "for name, value in derivatives.items():",
              "    print(f'd" + program.of + "/d{name} = {float(value):.6g}')"]
    return "\n".join(lines)


def _check_cell(program: Program, words) -> str:
    index = [s.name for s, _ in program.forward].index(program.of)
    args = ", ".join(f"{python_name(n)}={python_name(n)}" for n in program.free)
    return "\n".join([
        f"# {words('check')}",
        "def output(**point):",
        f"    return float(forward(**point)[{index}])",
        "",
        f"point = dict({args})",
        "worst = 0.0",
        "for name, value in derivatives.items():",
        f"    up, down = dict(point), dict(point)",
        f"    up[name] += {STEP!r}",
        f"    down[name] -= {STEP!r}",
        f"    estimate = (output(**up) - output(**down)) / {2 * STEP!r}",
        f"    error = abs(float(value) - estimate) / max(abs(estimate), 1.0)",
        "    worst = max(worst, error)",
        f"    print(f'{{name:>12}} ', {words('formula')!r}, f'{{float(value): .8f}}  ', {words('difference')!r}, "
        "f'{estimate: .8f}')",
        f"assert worst < {TOLERANCE!r}, worst",
        f"print({words('ok')!r} % {{'error': f'{{worst:.1e}}'}})",  # the message with its %(error)s
    ])


# -- the point -------------------------------------------------------------------------------


def choose_point(program: Program) -> dict[str, float]:
    """The spec's values where it has them, else round numbers away from every kink and where the
    forward pass is finite (targets in (0, 1), constants such as α in (0, 0.5), the rest in (-1, 1))."""
    from derive.numeric.evaluate import evaluate

    rng = random.Random(0)
    for _ in range(DRAWS):
        point = {n: program.values[n] if n in program.values else _draw(rng, n, program) for n in program.free}
        env = {program.symbols[n]: float(v) for n, v in point.items()}
        if _usable(program, env, evaluate):
            return {n: float(v) for n, v in point.items()}
    return {n: float(v) for n, v in point.items()}


def _draw(rng: random.Random, name: str, program: Program) -> float:
    if name in program.targets:
        return round(rng.uniform(0.05, 0.95), 2)
    if name in program.constants:
        return round(rng.uniform(0.05, 0.5), 2)
    return round(rng.uniform(-1, 1), 2)


def _usable(program: Program, env: dict, evaluate) -> bool:
    import math

    from derive.core.calculus import Indicator

    for symbol, expr in program.forward:
        value = float(evaluate(expr, env))
        if not math.isfinite(value):
            return False
        env[symbol] = value
        for node in sp.preorder_traversal(expr):
            if isinstance(node, sp.Function) and type(node).__module__.startswith("derive.") and node.args:
                if abs(float(evaluate(node.args[0], env))) < KINK:
                    return False
    for _, expr in [*program.backward, *program.derivatives]:
        for ind in expr.atoms(Indicator):
            side = ind.args[0]
            if abs(float(evaluate(side.lhs - side.rhs, env))) < KINK:
                return False
    return True
