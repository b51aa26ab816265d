"""The command line: parses options and calls the pipeline, nothing more.

`derive SPEC` renders one derivation; subcommands (`derive build`, `derive
check`) live beside it. User errors print one paragraph and exit with their
code (CONTRACT section 1); they never show a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from derive.core import safetext
from derive.errors import DeriveError
from derive.core.languages import languages

LANGS = languages()  # every folder of templates/locale (and DERIVE_LOCALES): languages are data


# Subcommands that live in their own modules, imported only when used (start-up stays cheap).
LAZY_COMMANDS = {
    "build": "derive.cli.build:command",
    "check": "derive.cli.check:command",
    "quiz": "derive.cli.quiz:command",
    "serve": "derive.cli.serve:serve",
    "roster": "derive.cli.serve:roster",
}


class DefaultGroup(click.Group):
    """A group whose first argument, when it is not a subcommand, is the SPEC of `derive SPEC`.

    Subcommands in LAZY_COMMANDS are imported when they are run or listed.
    """

    default_command = "render"

    def parse_args(self, ctx, args):
        known = set(self.commands) | set(LAZY_COMMANDS)
        if args and args[0] not in known and args[0] not in ("--help", "-h", "--version"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def list_commands(self, ctx):
        return sorted(set(self.commands) | set(LAZY_COMMANDS))

    def get_command(self, ctx, name):
        if name in self.commands or name not in LAZY_COMMANDS:
            return self.commands.get(name)
        module, attr = LAZY_COMMANDS[name].split(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            return None


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="derive")
def main() -> None:
    """Derive every backpropagation formula of a spec (a network, a computational
    graph, a lecture) with SymPy, verify each one against finite differences,
    and write the derivation.

    `derive SPEC [OPTIONS]` is short for `derive render SPEC [OPTIONS]`; run
    `derive render --help` for its options.

    \b
    Examples:
      derive specs/two-layer-relu.yaml                 Markdown, in English, to stdout
      derive specs/two-layer-relu.yaml --lang ru       the same derivation in Russian
      derive specs/two-layer-relu.yaml -o notes.pdf    a PDF (the ending of -o chooses the format)
      derive specs/two-layer-relu.yaml --format pdf --document slides    beamer slides
      derive specs/two-layer-relu.yaml --format json   the contract's JSON, for programs
      derive build specs --lang all --format pdf,md    every spec of a folder, in every language
      derive quiz specs/two-layer-relu.yaml -o quiz/   an exercise sheet and its answers template
      derive check specs/two-layer-relu.yaml quiz/two-layer-relu.answers.yaml   grade the answers
    """


@main.command("render")
@click.argument("spec", type=click.Path())
@click.option("--lang", type=click.Choice(LANGS), default="en", show_default=True, help="Language of the prose.")
@click.option("--format", "fmt", type=click.Choice(["md", "tex", "pdf", "json", "html", "ipynb"]),
              help="Default: the ending of -o (notes.pdf: pdf), else md. "
                   "md: Markdown with $$ math (KaTeX/MathJax); tex: a LaTeX document; "
                   "pdf: that document compiled with latexmk/LuaLaTeX; json: CONTRACT section 3; "
                   "html: one standalone page that renders offline; ipynb: a Jupyter notebook with numpy checks.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write here instead of stdout; its ending (.md, .tex, .pdf, .json, .html, .ipynb) chooses "
                   "the format unless --format is given (pdf: default build/<lang>/<spec>.pdf).")
@click.option("--view", type=click.Choice(["scalar", "vector"]),
              help="Override the spec's view: every scalar parameter, or matrix form (δ, Wᵀδ ⊙ f′(z)).")
@click.option("--document", type=click.Choice(["notes", "slides"]), default="notes", show_default=True,
              help="tex/pdf: lecture notes, or a beamer deck with one step per frame.")
@click.option("--no-figures", is_flag=True, help="Leave out the diagrams (SVG beside Markdown, TikZ in LaTeX).")
@click.option("--no-verification-note", is_flag=True,
              help="Leave out the closing sentence on how the formulas were checked (they still are).")
def render_command(spec: str, lang: str, fmt: str | None, output: str | None, view: str | None,
                   document: str, no_figures: bool, no_verification_note: bool) -> None:
    """Derive SPEC (a YAML spec of any kind: network, graph, mlp, composition,
    course, rnn, attention, conv, layernorm) and print the derivation.

    Every formula is checked numerically before it is printed; the
    derivation ends by saying so. `derive SPEC` is short for `derive render SPEC`.

    \b
    Examples:
      derive specs/mazur-2-2-2.yaml --lang pl -o mazur.md       Markdown, its figure beside it
      derive specs/mazur-2-2-2.yaml --lang ru -o mazur.pdf      a PDF (needs LuaLaTeX)
      derive specs/sigmoid-bce.yaml --view vector               the matrix form of a network
      derive specs/graph-add-mul.yaml --document slides -o graph.pdf   beamer slides of a graph
    """
    from derive.pipeline import Options

    options = Options(view=view, document=document, figures=not no_figures, output=output,
                      verification_note=not no_verification_note)
    run(lambda: _render_checked(spec, lang, fmt, options))


def _render_checked(spec: str, lang: str, fmt: str | None, options) -> None:
    from derive.core.safewrite import check_target
    from derive.pipeline import output_format

    refuse_folder(spec)
    if options.output:  # a folder that is missing says so first, whatever the name's ending
        check_target(options.output)
    fmt = output_format(fmt, options.output)
    check_document(options.document, [fmt])
    _render(spec, lang, fmt, options)


def refuse_folder(spec: str) -> None:
    """`derive FOLDER` is almost always meant as `derive build FOLDER`: say so, with the specs it holds."""
    from pathlib import Path

    folder = Path(spec)
    if not folder.is_dir():
        return
    specs = sorted(p.name for p in folder.glob("*.yaml"))
    inside = f" (it holds {', '.join(specs[:5])}{', …' if len(specs) > 5 else ''})" if specs else ""
    raise DeriveError(f"{spec}: is a folder{inside}; `derive SPEC` derives one spec file. "
                      f"To build every spec in the folder, run: derive build {spec}")


def check_document(document: str, formats) -> None:
    from derive.pipeline import check_document as check  # imported when run: `derive --help` stays cheap

    check(document, formats)


def _render(spec: str, lang: str, fmt: str, options) -> None:
    from derive.pipeline import check_options, derive_spec, render

    result = derive_spec(spec, options)
    check_options(result, fmt, options)
    text = render(result, fmt, lang, options)
    if text is None:  # written to a file by the renderer (pdf)
        return
    if options.output:
        _write_atomic(options.output, text)
    else:
        click.echo(text, nl=False)


def _write_atomic(path: str, text: str) -> None:
    from derive.core.safewrite import write_file

    write_file(path, text)


# Commands that are not one bounded piece of work: a server runs for as long as it is wanted and bounds
# each request itself (derive.grading.check.check_answers); derive build runs each job in a bounded child
# of its own (derive.core.bounded.map_bounded), so a folder of any size is limited per job, not as a whole
# (a wall deadline on the whole stopped a build of every spec on a busy machine).
LONG_RUNNING = {"serve", "build"}


def run(job, bounded: bool | None = None) -> None:
    """Run job in a bounded child process (derive.bounded: CPU time and memory limits); a DeriveError
    becomes its message and exit code, never a traceback. bounded=False (or a LONG_RUNNING command)
    runs it here."""
    from derive.core.bounded import supervise

    if bounded is None:
        context = click.get_current_context(silent=True)
        bounded = not (context and context.info_name in LONG_RUNNING)
    try:
        code = supervise(lambda: _guarded(job)) if bounded else _guarded(job)
    except KeyboardInterrupt:  # the children were stopped on the way out
        code = 130
    if code:
        sys.exit(code)


def _guarded(job) -> int:
    """job's exit code: 0, its DeriveError's (after printing the message), or what it exited with."""
    try:
        job()
    except DeriveError as exc:
        click.echo(f"derive: {safetext.message(exc.show())}", err=True)
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        return 130
    return 0
