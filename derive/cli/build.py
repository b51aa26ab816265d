"""`derive build`: the command line of batch builds (derive.build)."""

from __future__ import annotations

from pathlib import Path
import click
from derive.build import (
    _build,
)


@click.command("build")
@click.argument("sources", nargs=-1, required=True)
@click.option("--lang", "langs", default="all", show_default=True,
              help="Comma-separated languages (ru,en,pl) or 'all'.")
@click.option("--format", "formats", default="pdf", show_default=True,
              help="Comma-separated formats: pdf, tex, md, json, html, ipynb.")
@click.option("--out", default="build", show_default=True, type=click.Path(file_okay=False),
              help="Output folder: <out>/<lang>/<spec>.<ext>.")
@click.option("--document", type=click.Choice(["notes", "slides"]), default="notes", show_default=True,
              help="tex/pdf: lecture notes, or a beamer deck (written as <spec>.slides.<ext>).")
@click.option("--no-figures", is_flag=True, help="Leave out the diagrams.")
@click.option("--no-verification-note", is_flag=True,
              help="Leave out the closing sentence on how the formulas were checked (they still are).")
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Worker processes (default: the number of cores).")
@click.option("--force", is_flag=True, help="Rebuild even what is up to date.")
def command(sources, langs, formats, out, document, no_figures, no_verification_note, jobs, force) -> None:
    """Build every spec in SOURCES (spec files or folders of them) in every language and format.

    \b
    Example:
      derive build specs --lang all --format pdf,md --out build/
    """
    from derive.cli import run

    run(lambda: _build(sources, langs, formats, Path(out), document, not no_figures, jobs, force,
                       note=not no_verification_note))
