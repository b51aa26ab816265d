"""The command line: parses options and calls the pipeline, nothing more.

`derive SPEC` renders one derivation; subcommands (`derive build`, `derive
check`) live beside it. User errors print one paragraph and exit with their
code (CONTRACT section 1); they never show a traceback.
"""

from __future__ import annotations

import os
import sys

import click

from .errors import DeriveError

LANGS = ("ru", "en", "pl")


class DefaultGroup(click.Group):
    """A group whose first argument, when it is not a subcommand, is the SPEC of `derive SPEC`."""

    default_command = "render"

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="derive")
def main() -> None:
    """Derive every backpropagation formula of a network spec with SymPy, verify
    each one against finite differences, and print the derivation.

    \b
    Examples:
      derive specs/two-layer-relu.yaml                 Markdown, in English, to stdout
      derive specs/two-layer-relu.yaml --lang ru       the same derivation in Russian
      derive specs/two-layer-relu.yaml --format json   the contract's JSON, for programs
      derive specs/two-layer-relu.yaml -o notes.md     write to a file

    Run `derive render --help` for the options of `derive SPEC`.
    """


@main.command("render")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--lang", type=click.Choice(LANGS), default="en", show_default=True, help="Language of the prose.")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True,
              help="md: Markdown with $$ math (KaTeX/MathJax); json: CONTRACT section 3.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout.")
@click.option("--view", type=click.Choice(["scalar", "vector"]), help="Override the spec's view.")
def render_command(spec: str, lang: str, fmt: str, output: str | None, view: str | None) -> None:
    """Derive SPEC (a YAML network spec) and print the derivation.

    Every formula is checked numerically before it is printed; the
    derivation ends by saying so.
    """
    run(lambda: _render(spec, lang, fmt, output, view))


def _render(spec: str, lang: str, fmt: str, output: str | None, view: str | None) -> None:
    from .pipeline import derive_spec, render

    if view == "vector":
        raise DeriveError("--view vector is not available yet; use the default scalar view")
    text = render(derive_spec(spec), fmt, lang)
    if output:
        _write_atomic(output, text)
    else:
        click.echo(text, nl=False)


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def run(job) -> None:
    """Run job; a DeriveError becomes its message and exit code, never a traceback."""
    try:
        job()
    except DeriveError as exc:
        click.echo(f"derive: {exc.show()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
