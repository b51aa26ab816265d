"""`kind: course`: a book whose chapters are specs of any kind, with a title per language.

    kind: course
    title: {ru: "…", en: "…", pl: "…"}
    author: "A. Lecturer"                         # optional: a text, or one per language
    date: 2026-11-28                              # optional: a date (written as each language writes
                                                  # dates) or a text
    chapters:
      - two-layer-relu.yaml                       # a path, relative to this file
      - {spec: sigmoid-bce.yaml, title: {ru: "…", en: "…", pl: "…"}}

Each chapter is derived (and verified) as its own spec. The book is one
document per language: a title page, a table of contents, a chapter per spec
(titled by `title:` or by the spec's own title), equations numbered by chapter
with cross-references. Markdown output is the chapters one after another under
the course's title, their headings one level down.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from derive.core.yamlload import Doc

KIND = "course"
COURSE_KEYS = ("kind", "title", "author", "date", "chapters")
CHAPTER_KEYS = ("spec", "title")


@dataclass
class Chapter:
    path: Path
    title: dict[str, str] | None


@dataclass
class CourseSpec:
    file: str
    title: dict[str, str]
    chapters: list[Chapter]
    author: dict[str, str] | None = None
    date: object = None  # a datetime.date (YAML's 2026-11-28) or a text


def date_text(value, lang: str) -> str:
    """The title page's date as lang writes it: «28 ноября 2026 г.», „28 listopada 2026”; a text as it is."""
    import datetime

    if isinstance(value, str):
        try:
            value = datetime.date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime.date):
        from babel.dates import format_date

        return format_date(value, format="long", locale=lang)
    return "" if value is None else str(value)


@dataclass
class Outcome:
    spec: CourseSpec
    results: list  # pipeline.Result of each chapter


# -- spec --------------------------------------------------------------------------------


def parse(doc: Doc) -> CourseSpec:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "expected a mapping with kind: course, title and chapters")
    doc.known_keys(data, COURSE_KEYS)
    chapters = data.get("chapters")
    if not isinstance(chapters, list) or not chapters:
        raise doc.error(("chapters",), "expected a list of chapter specs (paths, or {spec: path, title: …})")
    title = doc.title()
    date = data.get("date")
    if date is not None and not isinstance(date, (str, __import__("datetime").date)):
        raise doc.error(("date",), "expected a date (2026-11-28) or a text")
    return CourseSpec(doc.file, title, [_chapter(doc, i, item) for i, item in enumerate(chapters)],
                      author=doc.title(("author",)) or None, date=date)


def _chapter(doc: Doc, i: int, item) -> Chapter:
    path = ("chapters", i)
    if isinstance(item, str):
        item = {"spec": item}
    if not isinstance(item, dict) or not isinstance(item.get("spec"), str):
        raise doc.error(path, "expected a spec path, or a mapping {spec: path, title: …}")
    doc.known_keys(item, CHAPTER_KEYS, path)
    return Chapter(_inside(doc, path + ("spec",), item["spec"]), doc.title(path + ("title",)))


def _inside(doc: Doc, path: tuple, name: str) -> Path:
    """The chapter's spec file, which must be a .yaml/.yml file inside the course's folder.

    A course is shared as a folder: a chapter that names an absolute path, climbs
    out with `..` or is a symlink leading out would build (and show in an error)
    a file that is not part of the course.
    """
    folder = Path(doc.file).parent
    relative = Path(name)
    if relative.is_absolute() or not name.strip():
        raise doc.error(path, "expected a path relative to the course's folder, e.g. week1/intro.yaml")
    if relative.suffix not in (".yaml", ".yml"):
        raise doc.error(path, "expected a spec file ending in .yaml or .yml")
    spec = folder / relative
    try:
        resolved, root = spec.resolve(strict=True), folder.resolve(strict=True)
    except (OSError, RuntimeError):
        raise doc.error(path, f"no such spec file: {spec}") from None
    if not resolved.is_relative_to(root):
        raise doc.error(path, "the chapter is outside the course's folder (through '..' or a link); "
                              "put its spec inside the folder")
    if not resolved.is_file():
        raise doc.error(path, f"no such spec file: {spec}")
    return spec


def inputs(doc: Doc) -> list[Path]:
    """The chapter files (for `derive build`'s up-to-date check)."""
    return [chapter.path for chapter in parse(doc).chapters]


# -- derivation --------------------------------------------------------------------------


def derive(spec: CourseSpec) -> Outcome:
    from derive.kinds.base import derive_spec, kind_of
    from derive.core.yamlload import load_file

    results = []
    for i, chapter in enumerate(spec.chapters):
        kind, _module = kind_of(load_file(chapter.path))
        if kind == KIND:
            from derive.errors import SpecError

            raise SpecError("a chapter must be a derivation spec, not another course",
                            None, f"{spec.file}: chapters[{i}]")
        results.append(derive_spec(chapter.path))
    return Outcome(spec, results)


def printer_settings(outcome: Outcome) -> dict:
    return {}


def context(outcome: Outcome, lang: str) -> dict:
    return {"title": outcome.spec.title.get(lang)}


def to_json(outcome: Outcome) -> dict:
    return {
        "kind": KIND,
        "title": outcome.spec.title,
        "chapters": [
            {"spec": str(ch.path), "title": ch.title, "derivation": r.module.to_json(r.outcome)}
            for ch, r in zip(outcome.spec.chapters, outcome.results)
        ],
    }


# -- documents ---------------------------------------------------------------------------


def _chapter_title(outcome: Outcome, i: int, lang: str) -> str | None:
    title = outcome.spec.chapters[i].title
    return title.get(lang) if title else None


def markdown_document(outcome: Outcome, lang: str, options=None, figures: dict | None = None) -> str:
    """The course title, then each chapter's Markdown with its headings one level down. Given a dict
    `figures` (an HTML page fills it), each chapter's figure is referenced under its title as
    `derive-figure-<n>` and put in the dict under that name."""
    from derive.render import document

    title = outcome.spec.title.get(lang) or Path(outcome.spec.file).stem
    parts = [f"# {document.md_escape(title)}\n"]
    for i, result in enumerate(outcome.results):
        fig = document.figure_of(result, options, lang) if figures is not None else None
        src = f"{document.FIGURE_SRC}-{i + 1}"
        if fig:
            figures[src] = fig
        text = document.markdown(result, lang, options, figure_src=src if fig else None,
                                 legend=fig.legend if fig else None)
        own = _chapter_title(outcome, i, lang)
        parts.append(_demoted(text, document.md_escape(own) if own else None))
    return "\n".join(parts)


def _demoted(markdown: str, title: str | None) -> str:
    """Headings one level down (# -> ##); the first heading replaced by title when given."""
    from derive.render.tex import _parser

    lines = markdown.split("\n")
    first = True
    for token in _parser().parse(markdown):
        if token.type != "heading_open" or token.map is None:
            continue
        n = token.map[0]
        if first and title is not None:
            lines[n] = f"## {title}"
        else:
            lines[n] = "#" + lines[n]
        first = False
    return "\n".join(lines)


def latex_document(outcome: Outcome, lang: str, options=None) -> str:
    """The book: title page, table of contents, a chapter per spec, equations numbered with references.

    With `--document slides`, one beamer deck: a title frame per chapter, then its steps."""
    from derive.render import document
    from derive.render import tex
    from derive.render.i18n import language

    slides = options is not None and options.document == "slides"  # a deck: a title frame per chapter
    chapters, colours = [], set()
    for i, result in enumerate(outcome.results, start=1):
        limit = getattr(result.module, "check_typesettable", None)
        if limit is not None:
            limit(result.outcome)
        fig = document.figure_of(result, options, lang)
        converter = tex.Converter(numbered=not slides, label_prefix=f"ch{i}",
                                  figures={document.FIGURE_SRC: fig.tikz()} if fig else {})
        blocks = converter.blocks(document.markdown(result, lang, options,
                                                    figure_src=document.FIGURE_SRC if fig else None,
                                                    legend=fig.legend if fig else None, for_tex=True))
        own = _chapter_title(outcome, i - 1, lang)
        heading = tex.title_of(blocks)
        title = tex.escape(own) if own else (heading.tex if heading else tex.escape(result.outcome.spec.file))
        if slides:
            chapters.append(rf"\section{{{title}}}" + "\n" + rf"\begin{{frame}}\centering\Large {title}\end{{frame}}"
                            + "\n\n" + tex.slides_body(blocks, title, section="subsection",
                                                  gloss=language(lang).gloss,
                                                  closing=tex.escape(document.closing_title(lang))))
        else:
            chapters.append(rf"\chapter{{{title}}}" + "\n\n" + tex.notes_body(blocks, section="section"))
        colours |= converter.colours
    title = outcome.spec.title.get(lang) or Path(outcome.spec.file).stem
    author = (outcome.spec.author or {}).get(lang, "")
    return tex.document("slides" if slides else "course", lang, title=tex.escape(title), plain_title=title,
                        body="\n\n".join(chapters), colours=colours, toc=not slides, numbered=not slides,
                        author=tex.escape(author), date=tex.escape(date_text(outcome.spec.date, lang)))
