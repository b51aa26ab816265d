"""A derivation's documents: its canonical Markdown (with its figure) and the LaTeX and PDF made from it.

Markdown comes from the kind's template; LaTeX is rendered from that
Markdown's structure (derive.tex), so every kind gets LaTeX, slides and PDF
without templates of its own. A kind may offer `figure(outcome)` (an object
with `svg()` and `tikz()`, or None): beside a Markdown file it becomes
`<stem>.svg`, in LaTeX the TikZ picture. A kind may also take over whole
documents with `markdown_document(outcome, lang, options)` and
`latex_document(outcome, lang, options)` (the course book does).
"""

from __future__ import annotations

import re
from pathlib import Path

from derive.meta import N_
from derive.render import tex
from derive.core.yamlload import typesettable

FIGURE_SRC = "derive-figure"  # the image source the LaTeX route replaces with the TikZ picture
_MD_SPECIALS = re.compile(r"([\\`*_\[\]<>$&~|!#])")


def md_escape(text: str) -> str:
    """User text (a title) as Markdown that shows it literally: specials backslash-escaped, one line."""
    return _MD_SPECIALS.sub(r"\\\1", " ".join(text.split()))


DIAGRAM = N_("Diagram")
CLOSING = N_("Verification")  # the title of the slides after the closing rule: the verification note


def _gettext(lang: str):
    from derive.render.i18n import translations

    return translations(lang).gettext


def figure_of(result, options, lang: str = "en"):
    """The kind's figure of this outcome, if it has one and figures are wanted (in lang, if it has numbers)."""
    if options is not None and not options.figures:
        return None
    return result.entry.figure_of(result.outcome, lang)


def closing_title(lang: str) -> str:
    """The title of the slides that hold what follows a lecture's closing rule (its verification note)."""
    return _gettext(lang)(CLOSING)


def markdown(result, lang: str, options=None, figure_src: str | None = None, legend: str | None = None,
             for_tex: bool = False) -> str:
    """The kind's Markdown in lang; with figure_src, a reference to the figure after the title
    (and, with legend, the msgid of the sentence that explains its colours, under it). The marks
    that keep a paragraph with its step on a slide (tex.KEEP) are only for the LaTeX converter
    (for_tex): the Markdown a lecturer reads or edits does not carry them."""
    own = result.entry.markdown_document(result.outcome, lang, options)
    if own is not None:
        return own if for_tex else _without_keep_marks(own)
    from derive.render.jinja import render_template

    context = dict(result.module.context(result.outcome, lang))
    if isinstance(context.get("title"), str):
        context["title"] = md_escape(context["title"])
    context["verification_note"] = options is None or options.verification_note
    text = render_template(result.kind, "md", lang, context, steps=result.entry.steps,
                           **result.module.printer_settings(result.outcome))
    text = text if for_tex else _without_keep_marks(text)
    return with_figure(text, lang, figure_src, legend) if figure_src else text


def _without_keep_marks(text: str) -> str:
    """The Markdown without its KEEP and ALONE lines (and the blank line each leaves)."""
    for mark in (tex.KEEP, tex.ALONE):
        text = text.replace(f"\n{mark}\n\n", "\n").replace(f"\n{mark}\n", "\n")
    return text


def with_figure(text: str, lang: str, src: str, legend: str | None = None) -> str:
    """text with `![Diagram](src)` after its first heading (or at the top), and the legend under it."""
    image = f"![{md_escape(_gettext(lang)(DIAGRAM))}]({src})\n\n"
    if legend:
        image += _gettext(lang)(legend) + "\n\n"
    m = re.search(r"^# .*\n\n?", text, re.M)
    at = m.end() if m else 0
    return text[:at] + image + text[at:]


def markdown_file(result, lang: str, options) -> str:
    """Markdown for -o PATH: the figure is written beside it as <stem>.svg and referenced."""
    fig = figure_of(result, options, lang) if options is not None and options.output else None
    if fig is None and options is not None and options.output and options.figures and result.kind == "course":
        return _course_markdown_file(result, lang, options)
    if fig is None:
        return markdown(result, lang, options)
    svg = Path(options.output).with_suffix(".svg")
    _write_atomic(svg, fig.svg())
    return markdown(result, lang, options, figure_src=svg.name, legend=fig.legend)


def _course_markdown_file(result, lang: str, options) -> str:
    """A course's Markdown for -o PATH: each chapter's figure beside it as <stem>-<n>.svg, referenced under
    the chapter's title, as the PDF draws it (and the single-spec Markdown its one figure)."""
    figures: dict = {}
    text = result.module.markdown_document(result.outcome, lang, options, figures=figures)
    out = Path(options.output)
    for src, fig in figures.items():
        name = f"{out.stem}-{src.rsplit('-', 1)[1]}.svg"
        _write_atomic(out.with_name(name), fig.svg())
        text = text.replace(f"]({src})", f"]({name})")
    return text


def latex(result, lang: str, options) -> str:
    """The LaTeX document (notes or slides) of a derivation, from its Markdown."""
    limit = getattr(result.module, "check_typesettable", None)
    if limit is not None:  # what LaTeX cannot typeset is refused with a clear message, before it runs
        limit(result.outcome)
    own = result.entry.latex_document(result.outcome, lang, options)
    if own is not None:
        return own
    fig = figure_of(result, options, lang)
    converter = tex.Converter(figures={FIGURE_SRC: fig.tikz()} if fig else {})
    blocks = converter.blocks(markdown(result, lang, options, figure_src=FIGURE_SRC if fig else None,
                                       legend=fig.legend if fig else None, for_tex=True))
    title = tex.title_of(blocks)
    fallback = Path(result.outcome.spec.file).stem  # every Outcome carries its Spec (derive.kind)
    fallback = "".join(c if typesettable(c) else "?" for c in fallback)  # a file name may hold anything
    title_tex, plain = (title.tex, title.plain) if title else (tex.escape(fallback), fallback)
    slides = options is not None and options.document == "slides"
    from derive.render.i18n import language

    body = (tex.slides_body(blocks, title_tex, gloss=language(lang).gloss, closing=tex.escape(closing_title(lang)))
            if slides else tex.notes_body(blocks))
    return tex.document("slides" if slides else "notes", lang, title=title_tex, plain_title=plain,
                        body=body, colours=converter.colours)


def default_pdf_path(result, lang: str, options) -> Path:
    stem = Path(result.outcome.spec.file).stem
    suffix = ".slides" if options is not None and options.document == "slides" else ""
    return Path("build") / lang / f"{stem}{suffix}.pdf"


def write_pdf(result, lang: str, options, target: str | Path | None = None, keep: str | Path | None = None,
              formats: str | Path | None = None) -> Path:
    """Compile the LaTeX document to target (default build/<lang>/<spec>.pdf); returns the path. `keep`:
    a folder for LaTeX's .aux and .toc between builds, `formats` one for preloaded preambles
    (derive/render/pdf.py, compile_pdf)."""
    from derive.render.pdf import compile_pdf, require_latex

    require_latex()
    chosen = target or (options.output if options is not None and options.output else None)
    explicit = target is None and chosen is not None  # -o names a file: its folder must exist
    target = Path(chosen) if chosen else default_pdf_path(result, lang, options)
    return compile_pdf(latex(result, lang, options), target, make_folder=not explicit, keep=keep,
                       formats=formats)


def _write_atomic(path: Path, text: str) -> None:
    from derive.core.safewrite import write_file

    write_file(path, text, make_folder=True)  # beside the Markdown, whose folder was checked or made
