"""`derive quiz SPEC`: the command line of exercise sheets and Moodle quizzes (derive.grading)."""

from __future__ import annotations

from derive.cli import LANGS, run
from pathlib import Path
import click
import os
from derive.grading.quiz import (
    build_quiz,
)


@click.command("quiz")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--lang", type=click.Choice(LANGS), default="en", show_default=True, help="Language of the sheet.")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), default=None,
              help="This student's variant: the network and the questions change with the seed.")
@click.option("--format", "fmt", type=click.Choice(["md", "moodle"]),
              help="Default: moodle when -o ends in .xml, else md. md: an exercise sheet and the answers "
                   "template for derive check; moodle: a Moodle XML quiz (STACK questions for the derivatives, "
                   "numerical questions for values).")
@click.option("-o", "--output", "out", type=click.Path(), default=".", show_default=True,
              help="md: the directory for SPEC[-SEED].md and SPEC[-SEED].answers.yaml; moodle: the XML file "
                   "(or a directory for SPEC[-SEED].xml).")
def command(spec: str, lang: str, seed: int | None, fmt: str | None, out: str) -> None:
    """Write an exercise sheet for SPEC (which derivatives to find, the forward pass)
    and the answers template that `derive check SPEC TEMPLATE` grades, or a Moodle quiz.

    \b
    Examples:
      derive quiz specs/two-layer-relu.yaml --lang ru -o quiz/
      for n in 1 2 3; do derive quiz specs/two-layer-relu.yaml --seed $n -o quiz/; done
      derive quiz specs/two-layer-relu.yaml --format moodle --lang pl -o quiz.xml
    """
    run(lambda: (_moodle if quiz_format(fmt, out) == "moodle" else _quiz)(spec, lang, seed, out))


def quiz_format(fmt: str | None, out: str) -> str:
    """--format, or what -o's ending says (quiz.xml: a Moodle quiz); an -o that the format cannot write to
    (a sheet and its template into quiz.xml or notes.md, a Moodle quiz into quiz.md) is an error, not a
    folder named quiz.xml."""
    from derive.errors import DeriveError

    suffix = "" if os.path.isdir(out) else Path(out).suffix.lower()
    fmt = fmt or ("moodle" if suffix == ".xml" else "md")
    if fmt == "md" and suffix in (".xml", ".md", ".yaml", ".yml"):
        raise DeriveError(f"-o {out}: derive quiz --format md writes two files (the sheet and the answers "
                          f"template) into a folder; give a folder, e.g. -o quiz/"
                          + (", or drop --format md for a Moodle quiz" if suffix == ".xml" else ""))
    if fmt == "moodle" and suffix not in ("", ".xml"):
        raise DeriveError(f"-o {out}: a Moodle quiz is an XML file; end the name in .xml, e.g. -o quiz.xml")
    return fmt


def _quiz(spec: str, lang: str, seed: int | None, out: str) -> None:
    from derive.cli import _write_atomic
    from derive.errors import Location, SpecError

    if os.path.isfile(out):
        raise SpecError("-o: a file exists here; derive quiz --format md writes two files into a directory",
                        Location(out))
    stem, sheet, template = build_quiz(spec, lang, seed)
    os.makedirs(out, exist_ok=True)
    paths = [os.path.join(out, f"{stem}.md"), os.path.join(out, f"{stem}.answers.yaml")]
    for path, text in zip(paths, (sheet, template)):
        _write_atomic(path, text)
    click.echo("\n".join(paths))


def _moodle(spec: str, lang: str, seed: int | None, out: str) -> None:
    from derive.cli import _write_atomic
    from derive.grading.moodle import quiz_xml

    xml = quiz_xml(spec, lang, seed)
    path = out
    if os.path.isdir(out) or out.endswith(("/", os.sep)):  # -o quiz/: a folder, made when missing
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, Path(spec).stem + (f"-{seed}" if seed is not None else "") + ".xml")
    _write_atomic(path, xml)
    click.echo(path)
