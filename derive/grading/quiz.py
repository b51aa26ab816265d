"""`derive quiz SPEC`: an exercise sheet (Markdown) and the answers template `derive check` reads.

The sheet gives the network's forward definitions (computed by the engine and
printed by the one printer) and lists the derivatives to find; the template
lists the same parameters. With `--seed N` the network is the spec's variant N
(derive.variant: activations and widths within the spec's spirit, and which
parameters are asked); the template records N, so `derive check SPEC FILE`
grades against that very variant. Prose comes from the check catalog.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path


from derive.meta import N_
from derive.render.document import md_escape
from derive.core.safetext import terminal


PROSE = {
    "title": N_("Exercise: backpropagation"),
    "variant": N_("Variant %(seed)s."),
    "network": N_("The network (forward pass):"),
    "activation": N_("The activation:"),
    "loss": N_("The loss:"),
    "task": N_("Find the derivatives:"),
    "task_values": N_("Find the derivatives at these values, each as a number (within %(allowed)s) or as a formula:"),
    "how": N_("Write each answer as a formula in quotes in the answers file %(file)s: plain math "
              "(`*` or a space for a product, `^` for a power, `I[z > 0]` for an indicator, `max`, `relu`, "
              "`sigmoid`, `tanh`, `exp`, `log`) or LaTeX. You may use these names:"),
    "check": N_("Check the answers with:"),
    "graph": N_("The computational graph (forward pass):"),
    "values": N_("At the values:"),
    "numbers": N_("An answer may also be a number (correct within %(tolerance)s of the exact value), or both, "
                  "as `formula = number`."),
    "comment_head": N_("derive quiz: the answers template for %(spec)s."),
    "comment_fill": N_("Write each derivative as a formula in quotes, for example with I[z > 0] for an indicator."),
    "comment_fill_values": N_("Write each derivative as a number or as a formula, in quotes."),
    "comment_check": N_("Check with:"),
    "index_how": N_("Answer each element in index notation, as the lecture writes it: a sum as \\sum_k …, equal "
                    "indices as 1_{k=i}, the gradient that reaches q_k as ∂f/∂q_k. The matrices (%(matrices)s) may "
                    "also be answered in matrix notation: W^T, x^T, ⊙."),
}


def build_quiz(spec_path: str, lang: str, seed: int | None) -> tuple[str, str, str]:
    """(file stem, the sheet's Markdown, the answers template YAML) for the spec's variant seed."""
    from derive.grading.check import Engine, Words

    engine = Engine(spec_path)
    grader, asked = engine.grader(seed)
    stem = Path(spec_path).stem + (f"-{seed}" if seed is not None else "")
    prose = Words(lang)

    def words(key: str, **args) -> str:
        return prose(PROSE[key], **args)

    answers_file = f"{stem}.answers.yaml"
    # the feedback comes back in the sheet's language only if the command asks for it (derive check defaults to en)
    command_line = terminal(f"derive check {shlex.quote(spec_path)} {shlex.quote(answers_file)} --lang {lang}")
    fill = "comment_fill_values" if getattr(engine.outcome(seed), "numbers", None) is not None else "comment_fill"
    template = _template(os.path.basename(spec_path), seed, asked, words, command_line, fill)
    env, ctx = _exercise(engine, seed, lang, words, answers_file, command_line)
    return stem, env.get_template("quiz.md.j2").render(ctx), template


def exercise(engine, seed: int | None, lang: str):
    """The sheet's context without the answers file: (the Jinja environment whose filters print its
    formulas, the context). The web page shows this very exercise; `ctx["allowed"]` are the names a
    student may use and `ctx["tasks"]` the derivatives, one per asked name, in the grader's order."""
    from derive.grading.check import Words

    prose = Words(lang)
    return _exercise(engine, seed, lang, lambda key, **args: prose(PROSE[key], **args), "", "")


def _exercise(engine, seed, lang: str, words, answers_file: str, command_line: str):
    grader, asked = engine.grader(seed)
    if engine.kind == "graph":
        make = _index_sheet if engine.outcome(seed).indexed else _graph_sheet
    else:
        make = _sheet if engine.kind == "network" else _layer_sheet
    return make(engine.outcome(seed), grader, asked, seed, lang, words, answers_file, command_line)


def _sheet(outcome, grader, asked: list[str], seed, lang: str, words, answers_file: str, command_line: str) -> str:
    import dataclasses

    import sympy as sp

    from derive.kinds.network.kind import context, printer_settings
    from derive.render.jinja import Row, d, environment

    derivation = outcome.derivation
    net = derivation.network
    full = _symbolic_context(dataclasses.replace(outcome, vector=None), lang)  # the scalar context: activations, loss
    if outcome.vector is not None:  # the forward pass in matrix form, as the lecture writes it
        full["forward"] = [[Row([step.lhs, step.rhs[0]])] for step in outcome.vector.forward]
    env = environment("md", lang, **printer_settings(outcome))
    params = {str(p): p for p in net.params}
    ctx = {
        "title": words("title"),
        "subtitle": md_escape(full["title"]) if full["title"] else full["title"],
        "variant": words("variant", seed=seed) if seed is not None else None,
        "forward": full["forward"],
        "values": [],
        "activations": [a for a in full["activations"] if a["definition"] is not None],
        "loss": full["loss"]["definition"] if full["loss"] else None,
        "tasks": [d(net.of, params[name]) if name in params else sp.Symbol(name) for name in asked],
        "names": ", ".join(f"`{n}`" for n in _names(grader)),
        "allowed": _names(grader),
        "check": command_line,
        "fence": code_fence(command_line),
        "words": {key: words(key) for key in ("network", "activation", "loss", "task", "check", "values")},
        "how": words("how", file=code_span(terminal(answers_file))),
        "given": _given(outcome, lang),
    }
    if ctx["given"]:
        from derive.render.numbers import format_percent

        ctx["words"]["task"] = words("task_values", allowed=format_percent(outcome.spec.worked.tolerance, lang))
    return env, ctx


def _names(grader) -> list[str]:
    """The names a student may use: the network's quantities (the matrices and vectors in vector view)."""
    matrix = getattr(grader, "matrix", None)
    if matrix is not None:
        return list(matrix.matrices)
    return [n for n, s in grader.names.items() if s not in grader.backward]


def _graph_sheet(outcome, grader, asked: list[str], seed, lang: str, words, answers_file: str,
                 command_line: str) -> str:
    """The sheet of a scalar graph: its nodes, the values of the inputs (this variant's), the gradients to find."""
    from derive.kinds.graph.kind import decimal
    from derive.render.jinja import Row, d, environment
    from derive.render.numbers import format_percent

    bp = outcome.result
    env = environment("md", lang, partials=bp.partials)
    how = words("how", file=code_span(terminal(answers_file)))
    allowed = [n for n, s in grader.names.items() if s not in grader.upstream]
    if bp.values is not None:
        how = f"{how} {', '.join(f'`{n}`' for n in allowed)}. " \
              f"{words('numbers', tolerance=format_percent(grader.tolerance, lang))}"
        names = ""
    else:
        names = ", ".join(f"`{n}`" for n in allowed)
    ctx = {
        "title": words("title"),
        "subtitle": md_escape(outcome.spec.title.get(lang)) if outcome.spec.title.get(lang) else None,
        "variant": words("variant", seed=seed) if seed is not None else None,
        "forward": [[Row([n.symbol, n.expr])] for n in bp.nodes],
        "values": [Row([x, decimal(v)]) for x, v in (bp.values or {}).items() if x in bp.inputs],
        "activations": [],
        "loss": None,
        "tasks": [d(bp.of, grader.names[key]) for key in asked],
        "names": names,
        "allowed": allowed,
        "check": command_line,
        "fence": code_fence(command_line),
        "words": {"network": words("graph"), **{k: words(k) for k in ("values", "task", "check")}},
        "how": how,
        "given": [],
    }
    return env, ctx


def _index_sheet(outcome, grader, asked: list[str], seed, lang: str, words, answers_file: str,
                 command_line: str) -> str:
    """The sheet of a graph in index notation: the shapes, the nodes in matrix notation and element by element,
    the elements ∂f/∂W_ij to find (the matrices ∂f/∂W may be answered too)."""
    from derive.kinds.graph import index as gi
    from derive.kinds.graph.kind import _Display, _index_result
    from derive.render.jinja import Row

    d = outcome.result
    show = _Display(d, outcome.spec.notation)
    q = d.quantities
    forward = [[Row([gi.InSpace(gi.display_symbol(q[x]), *q[x].shape)]) for x in d.inputs if q[x].shape]]
    forward += [[Row([gi.display_symbol(n.quantity), n.matrix]), Row([n.quantity.element(n.indices), show(n.element)])]
                for n in d.nodes]
    tasks = [_index_result(d, d.grads[name], show).row.parts[0] for name in outcome.spec.wrt]
    matrices = [k for k in grader.keys() if grader.targets[k].matrix]
    allowed = [*d.quantities, *(f'd{d.of}_d{n.quantity.name}' for n in d.nodes)]
    how = f"{words('how', file=code_span(terminal(answers_file)))} " \
          f"{', '.join(f'`{n}`' for n in allowed)}. " \
          f"{words('index_how', matrices=', '.join(f'`{k}`' for k in matrices))}"
    return _sheet_context(outcome.spec, seed, lang, words, forward, tasks, how, command_line, d.partials, allowed)


def _layer_sheet(outcome, grader, asked: list[str], seed, lang: str, words, answers_file: str,
                 command_line: str) -> str:
    """The sheet of a layer kind (rnn, attention, conv, layernorm): its sizes, the forward pass and the loss in
    index form, the gradients to find for concrete elements (∂L/∂W_12)."""
    from derive.render.jinja import Row, d

    model = grader.model
    forward = [[Row([sym, sp_integer(v)]) for sym, v in model.sizes.items()]]
    forward += [[Row([q.element(q.indices), q.definition])] for q in model.nodes]
    tasks = [d(sp_symbol(model.loss), sp_symbol(name)) for name in asked]
    how = f"{words('how', file=code_span(terminal(answers_file)))} " \
          f"{', '.join(f'`{n}`' for n in grader.names)}."
    return _sheet_context(outcome.spec, seed, lang, words, forward, tasks, how, command_line, model.partials,
                          list(grader.names))


def _sheet_context(spec, seed, lang: str, words, forward: list, tasks: list, how: str, command_line: str,
                   partials: dict, allowed: list[str]):
    from derive.render.jinja import environment

    env = environment("md", lang, partials=partials)
    title = spec.title.get(lang) if getattr(spec, "title", None) else None
    ctx = {
        "title": words("title"),
        "subtitle": md_escape(title) if title else None,
        "variant": words("variant", seed=seed) if seed is not None else None,
        "forward": forward,
        "values": [],
        "activations": [],
        "loss": None,
        "tasks": tasks,
        "names": "",
        "allowed": allowed,
        "check": command_line,
        "fence": code_fence(command_line),
        "words": {"network": words("network"), **{k: words(k) for k in ("values", "task", "check")}},
        "how": how,
        "given": [],
    }
    return env, ctx


def sp_symbol(name: str):
    import sympy as sp

    return sp.Symbol(name)


def sp_integer(value: int):
    import sympy as sp

    return sp.Integer(value)


def _symbolic_context(outcome, lang: str) -> dict:
    """The network's formulas without numbers: a quiz gives the values, the student computes the rest."""
    from derive.kinds.network.kind import _scalar_context, context

    return _scalar_context(outcome, lang, numbers=False) if outcome.numbers is not None else context(outcome, lang)


def _given(outcome, lang: str) -> list:
    """The given values' display rows (inputs, targets, each layer's parameters) of a worked example."""
    if outcome.numbers is None:
        return []
    from derive.kinds.network.kind import _worked_context
    from derive.kinds.network.worked import Shown

    worked = outcome.spec.worked
    return [row for group in _worked_context(outcome, Shown(worked.digits, worked.exact, lang))["given"] for row in group]


def _template(spec_name: str, seed, asked: list[str], words, command_line: str, fill: str = "comment_fill") -> str:
    """The answers file to fill in: YAML, with the spec and seed recorded and one empty answer per parameter."""
    lines = [
        f"# {words('comment_head', spec=terminal(spec_name))}",
        f"# {words(fill)}",
        f"# {words('comment_check')} {command_line}",
        f"spec: {_quoted(spec_name)}",
    ]
    if seed is not None:
        lines.append(f"seed: {seed}")
    lines += ['student: ""', "answers:"] + [f'  {name}: ""' for name in asked]
    return "\n".join(lines) + "\n"


def code_span(text: str) -> str:
    """text as a Markdown code span, whatever backticks it holds (the delimiter is longer than any run)."""
    ticks = "`" * (max((len(r) for r in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def code_fence(text: str) -> str:
    """A fence for a Markdown code block holding text: longer than any run of backticks in it."""
    return "`" * max(3, max((len(r) for r in re.findall("`+", text)), default=0) + 1)


def _quoted(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


