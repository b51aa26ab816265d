"""`derive check SPEC ANSWERS...`: the command line of the checker (derive.grading.check)."""

from __future__ import annotations

from derive.cli import LANGS, run
import click
import os
import sys
from derive.core.safetext import csv_cell, terminal
from derive.grading.check import (
    Engine,
    Words,
    check_files,
    render_csv,
    render_json,
    render_text,
)


@click.command("check")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.argument("answers", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--lang", type=click.Choice(LANGS), default="en", show_default=True, help="Language of the feedback.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True,
              help="text: a report per student and a class summary; json: CONTRACT section 4 (a list for "
                   "several files); csv: a gradebook, one row per student.")
@click.option("--hide-expected", is_flag=True,
              help="Leave the expected formulas out of the report (for feedback handed to students).")
@click.option("--jobs", type=click.IntRange(1, 256), default=None,
              help="Worker processes for a class (default: the number of CPUs).")
def command(spec: str, answers: tuple[str, ...], lang: str, fmt: str, hide_expected: bool, jobs: int | None) -> None:
    """Grade students' derivatives: ANSWERS are YAML files (`answers: {theta_11: "…"}`) for SPEC,
    a network (parameters, intermediate ∂y/∂v, matrices in vector view, numbers in a worked
    example), a graph (formulas, numbers, `formula = number`; index notation or matrices for a
    graph with shapes:) or a layer kind (rnn, attention, conv, layernorm). `derive quiz SPEC`
    writes the answers template.

    Every answer is correct, incorrect (with a diagnosis), invalid (with the
    reason) or missing. Exit code 1 when any answer is not correct.

    \b
    Examples:
      derive check specs/two-layer-relu.yaml answers.yaml --lang ru
      derive check specs/two-layer-relu.yaml class/*.yaml --format csv > grades.csv
      derive check specs/graph-add-mul.yaml class/*.yaml --hide-expected
    """
    run(lambda: _check(spec, list(answers), lang, fmt, jobs or os.cpu_count() or 1, not hide_expected))


def _check(spec: str, files: list[str], lang: str, fmt: str, jobs: int, show: bool = True) -> None:
    from derive.errors import DeriveError

    engine = Engine(spec)
    results = check_files(engine, files, jobs)
    broken = [r for r in results if r.error]
    if len(files) == 1 and broken:
        raise _shown(broken[0].error)
    words = Words(lang)
    renderers = {"json": lambda: render_json(results, words, show), "csv": lambda: render_csv(results),
                 "text": lambda: render_text(results, words, show)}
    click.echo(renderers[fmt](), nl=False)
    for r in broken:
        click.echo(f"derive: {terminal(r.error)}", err=True)
    if broken:
        sys.exit(DeriveError.exit_code)
    if any(v.verdict != "correct" for r in results for v in r.verdicts):
        sys.exit(1)


def _shown(message: str):
    """A DeriveError (exit 2) whose message was already formatted (file:line:column: …)."""
    from derive.errors import DeriveError

    return DeriveError(message)
