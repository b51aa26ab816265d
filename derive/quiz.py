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
from pathlib import Path

import click

from . import N_
from .cli import LANGS, run


PROSE = {
    "title": N_("Exercise: backpropagation"),
    "variant": N_("Variant %(seed)s."),
    "network": N_("The network (forward pass):"),
    "activation": N_("The activation:"),
    "loss": N_("The loss:"),
    "task": N_("Find the derivatives:"),
    "values": N_("The values:"),
    "task_values": N_("Find the derivatives at these values, each as a number (within %(allowed)s) or as a formula:"),
    "how": N_("Write each answer as a formula in quotes in the answers file %(file)s: plain math "
              "(`*` or a space for a product, `^` for a power, `I[z > 0]` for an indicator, `max`, `relu`, "
              "`sigmoid`, `tanh`, `exp`, `log`) or LaTeX. You may use these names:"),
    "check": N_("Check the answers with:"),
    "comment_head": N_("derive quiz: the answers template for %(spec)s."),
    "comment_fill": N_("Write each derivative as a formula in quotes, for example with I[z > 0] for an indicator."),
    "comment_fill_values": N_("Write each derivative as a number or as a formula, in quotes."),
    "comment_check": N_("Check with:"),
}


def build_quiz(spec_path: str, lang: str, seed: int | None) -> tuple[str, str, str]:
    """(file stem, the sheet's Markdown, the answers template YAML) for the spec's variant seed."""
    from .check import Engine, Words

    engine = Engine(spec_path)
    grader, asked = engine.grader(seed)
    stem = Path(spec_path).stem + (f"-{seed}" if seed is not None else "")
    prose = Words(lang)

    def words(key: str, **args) -> str:
        return prose(PROSE[key], **args)

    answers_file = f"{stem}.answers.yaml"
    command_line = f"derive check {spec_path} {answers_file}"
    fill = "comment_fill_values" if engine.outcome(seed).numbers is not None else "comment_fill"
    template = _template(os.path.basename(spec_path), seed, asked, words, command_line, fill)
    sheet = _sheet(engine.outcome(seed), grader, asked, seed, lang, words, answers_file, command_line)
    return stem, sheet, template


def _sheet(outcome, grader, asked: list[str], seed, lang: str, words, answers_file: str, command_line: str) -> str:
    from .render import d, environment

    derivation = outcome.derivation
    net = derivation.network
    full = _symbolic_context(outcome, lang)
    env = environment("md", lang, partials=derivation.partials)
    params = {str(p): p for p in net.params}
    ctx = {
        "title": words("title"),
        "subtitle": full["title"],
        "variant": words("variant", seed=seed) if seed is not None else None,
        "forward": full["forward"],
        "activations": [a for a in full["activations"] if a["definition"] is not None],
        "loss": full["loss"]["definition"] if full["loss"] else None,
        "tasks": [d(net.of, params[name]) for name in asked],
        "names": ", ".join(f"`{n}`" for n, s in grader.names.items() if s not in grader.backward),
        "check": command_line,
        "words": {key: words(key) for key in ("network", "activation", "loss", "task", "check", "values")},
        "how": words("how", file=f"`{answers_file}`"),
        "given": _given(outcome, lang),
    }
    if ctx["given"]:
        from .numbers import format_percent

        ctx["words"]["task"] = words("task_values", allowed=format_percent(outcome.spec.worked.tolerance, lang))
    return env.get_template("quiz.md.j2").render(ctx)


def _symbolic_context(outcome, lang: str) -> dict:
    """The network's formulas without numbers: a quiz gives the values, the student computes the rest."""
    from .network import _scalar_context, context

    return _scalar_context(outcome, lang, numbers=False) if outcome.numbers is not None else context(outcome, lang)


def _given(outcome, lang: str) -> list:
    """The given values' display rows (inputs, targets, each layer's parameters) of a worked example."""
    if outcome.numbers is None:
        return []
    from .network import _worked_context
    from .worked import Shown

    worked = outcome.spec.worked
    return [row for group in _worked_context(outcome, Shown(worked.digits, worked.exact, lang))["given"] for row in group]


def _template(spec_name: str, seed, asked: list[str], words, command_line: str, fill: str = "comment_fill") -> str:
    """The answers file to fill in: YAML, with the spec and seed recorded and one empty answer per parameter."""
    lines = [
        f"# {words('comment_head', spec=spec_name)}",
        f"# {words(fill)}",
        f"# {words('comment_check')} {command_line}",
        f"spec: {_quoted(spec_name)}",
    ]
    if seed is not None:
        lines.append(f"seed: {seed}")
    lines += ['student: ""', "answers:"] + [f'  {name}: ""' for name in asked]
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar


@click.command("quiz")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--lang", type=click.Choice(LANGS), default="en", show_default=True, help="Language of the sheet.")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=None,
              help="This student's variant: the network and the questions change with the seed.")
@click.option("-o", "--output", "out", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Directory for SPEC[-SEED].md and SPEC[-SEED].answers.yaml.")
def command(spec: str, lang: str, seed: int | None, out: str) -> None:
    """Write an exercise sheet for SPEC (which derivatives to find, the forward pass)
    and the answers template that `derive check SPEC TEMPLATE` grades.

    \b
    Examples:
      derive quiz specs/two-layer-relu.yaml --lang ru -o quiz/
      for n in 1 2 3; do derive quiz specs/two-layer-relu.yaml --seed $n -o quiz/; done
    """
    run(lambda: _quiz(spec, lang, seed, out))


def _quiz(spec: str, lang: str, seed: int | None, out: str) -> None:
    from .cli import _write_atomic

    stem, sheet, template = build_quiz(spec, lang, seed)
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, f"{stem}.md"), os.path.join(out, f"{stem}.answers.yaml")]
    for path, text in zip(paths, (sheet, template)):
        _write_atomic(path, text)
    click.echo("\n".join(paths))
