"""LaTeX and PDF output: safe with hostile titles, every formula valid LaTeX, clear errors, slides, books."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import LANGS, ROOT, SEEDS, SPECS
from texharness import built, headings, latex_of, markdown_of, pdf_outline, pdf_text, require_latex, run_derive, squeeze
from derive.render import tex
from derive.render import texmath
from derive.render.pdf import LatexFailed, compile_pdf

HOSTILE_CHARACTERS = r"\input{/etc/passwd} \write18{touch"


# -- hostile text -------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_hostile_title_prints_literally_and_runs_nothing(lang):
    out, hostile, marker, proc = built()
    assert proc.returncode == 0, proc.stderr
    text = pdf_text(out / lang / "hostile.pdf")
    title = yaml.safe_load(hostile.read_text(encoding="utf-8"))["title"]
    assert squeeze(title) in squeeze(text)  # every character, % $ & _ # { } ~ ^ \ included
    assert not marker.exists(), "\\write18 ran a command"
    passwd = Path("/etc/passwd").read_text(encoding="utf-8").splitlines()[0]
    assert passwd.split(":")[0] + ":x:" not in text and squeeze(passwd) not in squeeze(text)


def test_latex_itself_may_not_read_files_outside_its_folder(tmp_path):
    """Defence in depth: even a document that asks for /etc/passwd does not get it (openin_any=p)."""
    require_latex()
    document = "\\documentclass{article}\\begin{document}X\\input{/etc/passwd}Y\\end{document}\n"
    with pytest.raises(LatexFailed) as caught:
        compile_pdf(document, tmp_path / "x.pdf")
    assert "root:" not in caught.value.show() and not (tmp_path / "x.pdf").exists()


def test_escape_prints_every_special_character_literally():
    assert tex.escape(r"% $ & _ # { } ~ ^ \ ") == (
        r"\% \$ \& \_ \# \{ \} \textasciitilde{} \textasciicircum{} \textbackslash{} "
    )


@pytest.mark.parametrize("math", [
    r"\input{/etc/passwd}", r"\write18{ls}", r"\immediate\write18{ls}", r"\def\x{1}", r"\csname input\endcsname",
    r"^^5cinput{/etc/passwd}", r"x % comment", r"\directlua{os.exit(1)}", r"\begin{filecontents}", r"\catcode`\^=7",
    r"\openin1=/etc/passwd", r"\usepackage{x}", r"\(x\)",
])
def test_dangerous_math_is_refused(math):
    assert texmath.check(math) is not None


def test_refused_math_in_markdown_prints_as_text():
    blocks = tex.Converter().blocks("Title $\\input{/etc/passwd}$\n\n$$\n\\write18{ls}\n$$\n")
    body = "\n".join(b.tex for b in blocks)
    assert "\\input" not in body.replace(r"\textbackslash{}input", "")
    assert r"\textbackslash{}write18" in body


def test_colours_map_to_xcolor():
    mapped, needed = texmath.colours(r"{\color{red} a} {\color{#1f77b4} b} \textcolor{darkorange}{c} {\color{x} d}")
    assert mapped == r"{\color{red} a} {\color{derive-1F77B4} b} \textcolor{DarkOrange}{c} {\color{black} d}"
    assert needed == {"derive-1F77B4"}


# -- every formula is valid LaTeX ----------------------------------------------------------------


def _seed_math() -> list[str]:
    """The display math of the seed lecture notes that KaTeX renders: what lecturers write."""
    from katex import extract_math, katex_errors

    formulas = []
    for seed in sorted(SEEDS.glob("*.txt")):
        formulas += [f for f in extract_math(seed.read_text(encoding="utf-8")) if f]
    formulas = list(dict.fromkeys(formulas))
    bad = {f for f, _ in katex_errors(formulas)}
    return [f for f in formulas if f not in bad]


def test_seed_math_passes_the_whitelist_and_compiles(tmp_path):
    """Independent reference: the seeds' own formulas (\\boxed, \\operatorname, \\textstyle, I[·], …)."""
    require_latex()
    formulas = _seed_math()
    assert len(formulas) > 50
    refused = [(f, texmath.check(f)) for f in formulas if texmath.check(f) is not None]
    assert not refused, refused[:5]
    typical = [r"\operatorname{ReLU}(z)", r"\boxed{\delta = y - t}", r"\textstyle\sum_k y_k", r"I[z_1>0]",
               r"\mathbb{1}[z>0]", r"{\color{red} \phi_1} {\color{#ff8800} x}", r"W^{[2]}_{11}"]
    converter = tex.Converter()
    body = "\n".join(converter.display(f) for f in formulas + typical)
    document = tex.document("notes", "en", title="Seeds", body=body, colours=converter.colours, plain_title="Seeds")
    compile_pdf(document, tmp_path / "seeds.pdf")  # LatexFailed (with the error lines) if any formula is not LaTeX


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_tex_output_is_a_whole_document_with_no_refused_math(spec):
    for lang in LANGS:
        text = latex_of(spec, lang)
        assert text.startswith("\\documentclass") and text.rstrip().endswith("\\end{document}")
        assert r"\ttfamily \$\$" not in text and r"\$\textbackslash{}" not in text  # no formula printed as text


def test_tex_format_on_the_command_line(cli):
    result = cli(ROOT / "specs" / "leaky-relu.yaml", "--format", "tex", "--lang", "ru")
    assert result.exit_code == 0 and "\\begin{document}" in result.stdout and "russian" in result.stdout


# -- errors ---------------------------------------------------------------------------------------


def test_missing_latex_exits_3_with_the_install_command(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no latexmk, no lualatex
    proc = run_derive(ROOT / "specs" / "two-layer-relu.yaml", "--format", "pdf", "-o", tmp_path / "x.pdf", env=env)
    assert proc.returncode == 3
    assert "apt-get install" in proc.stderr and "latexmk" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.pdf").exists()
    build = run_derive("build", ROOT / "specs", "--format", "pdf", "--out", tmp_path / "b", env=env)
    assert build.returncode == 3 and "apt-get install" in build.stderr


def test_latex_error_shows_the_log_lines_not_the_log(tmp_path):
    require_latex()
    document = "\\documentclass{article}\n\\begin{document}\nfine\n\\derivenosuchcommand\n\\end{document}\n"
    with pytest.raises(LatexFailed) as caught:
        compile_pdf(document, tmp_path / "bad.pdf")
    message = caught.value.show()
    assert "Undefined control sequence" in message and "derivenosuchcommand" in message
    assert len(message.splitlines()) < 15
    assert caught.value.exit_code == 1 and not (tmp_path / "bad.pdf").exists()


# -- slides, books, figures -------------------------------------------------------------------------


def test_slides_have_one_frame_per_step(tmp_path):
    require_latex()
    spec = ROOT / "specs" / "two-layer-relu.yaml"
    source = latex_of(spec, "pl", kind="slides")
    assert "\\documentclass" in source and "{beamer}" in source
    frames = source.count("\\begin{frame}")
    assert frames >= 8, frames
    proc = run_derive(spec, "--format", "pdf", "--document", "slides", "--lang", "pl", "-o", tmp_path / "s.pdf")
    assert proc.returncode == 0, proc.stderr
    text = squeeze(pdf_text(tmp_path / "s.pdf"))
    for heading in headings(markdown_of(spec, "pl")):
        assert squeeze(heading) in text
    # the deck's outline: one bookmark per family, in the seed's order φ, ψ, θ, then the verification frame
    outline = pdf_outline(tmp_path / "s.pdf")
    assert [item[-1] for item in outline[:3]] == ["φ", "ψ", "θ"]
    assert len(outline) == 4 and not set("φψθ") & set(outline[3]), outline


@pytest.mark.parametrize("lang", LANGS)
def test_course_is_a_book_with_contents_chapters_and_numbered_references(lang):
    out, *_ = built()
    course = yaml.safe_load((ROOT / "specs" / "course.yaml").read_text(encoding="utf-8"))
    text = squeeze(pdf_text(out / lang / "course.pdf"))
    chapter = squeeze(course["chapters"][0]["title"][lang])
    assert text.count(chapter) >= 2  # in the table of contents and as the chapter's title
    source = (out / lang / "course.tex").read_text(encoding="utf-8")
    assert "\\tableofcontents" in source and source.count("\\chapter{") == len(course["chapters"])
    labels = set(re.findall(r"\\label\{([^}]+)\}", source))
    references = set(re.findall(r"\\eqref\{([^}]+)\}", source))
    assert references and references <= labels
    assert re.search(r"\(1\.\d+\)", pdf_text(out / lang / "course.pdf"))  # equation numbers by chapter


def test_markdown_with_output_writes_the_figure_beside_it(tmp_path):
    spec = ROOT / "specs" / "two-layer-relu.yaml"
    proc = run_derive(spec, "-o", tmp_path / "notes.md")
    assert proc.returncode == 0, proc.stderr
    assert "](notes.svg)" in (tmp_path / "notes.md").read_text(encoding="utf-8")
    svg = (tmp_path / "notes.svg").read_text(encoding="utf-8")
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg)
    circles = root.findall(".//{http://www.w3.org/2000/svg}circle")
    assert len(circles) == 1 + 2 + 2 + 1  # x, h_1 h_2, g_1 g_2, y
    assert "θ" in svg and "ψ" in svg and "φ" in svg  # parameter names on the edges
    bare = run_derive(spec, "-o", tmp_path / "bare.md", "--no-figures")
    assert bare.returncode == 0 and not (tmp_path / "bare.svg").exists()
    assert "![" not in (tmp_path / "bare.md").read_text(encoding="utf-8")


def test_latex_has_the_tikz_figure_unless_no_figures():
    spec = ROOT / "specs" / "two-layer-relu.yaml"
    assert "\\begin{tikzpicture}" in latex_of(spec) and "$\\psi_{21}$" in latex_of(spec)
    assert "\\begin{tikzpicture}" not in latex_of(spec, figures=False)


MARKDOWN_OF_A_NEW_KIND = r"""# Граф вычислений: *пример*

Вводный абзац с **жирным** словом, `кодом` и формулой $f(x) = {\color{red} w} x$.

## 1) Прямой проход

- первый пункт: $z = w x + b$
- drugi punkt, zażółć gęślą jaźń

1. one
2. two

| node | value |
|------|-------|
| $z$  | 3     |

> A quotation.

```
code & 100% $raw$
```

### Detail

$$
\boxed{\frac{\partial L}{\partial w} = {\color{#1f77b4} \delta} x}
$$

$$
\begin{aligned} a &= b \\ c &= d \end{aligned}
$$
"""


def test_markdown_structures_of_any_kind_become_latex_that_compiles(tmp_path):
    """A kind with only a Markdown template gets a PDF: lists, tables, quotes, code, emphasis, colours."""
    require_latex()
    converter = tex.Converter()
    blocks = converter.blocks(MARKDOWN_OF_A_NEW_KIND)
    title = tex.title_of(blocks)
    body = tex.notes_body(blocks)
    for command in (r"\section{Прямой проход}", r"\subsection{Detail}", r"\begin{itemize}", r"\begin{enumerate}",
                    r"\begin{tabular}", r"\begin{quote}", r"\textbf{жирным}", r"\emph{пример}"):
        assert command in body or command in title.tex, command
    document = tex.document("notes", "ru", title=title.tex, body=body, colours=converter.colours,
                            plain_title=title.plain)
    text = squeeze(pdf_text(compile_pdf(document, tmp_path / "kind.pdf")))
    for words in ("Граф вычислений", "Вводный абзац", "zażółć gęślą jaźń", "A quotation", "code & 100% $raw$"):
        assert squeeze(words) in text, words


def _printed_pages(pdf: Path) -> list[str]:
    """The text of each page of pdf, as a reader sees it."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")


def test_the_course_book_is_typeset_in_two_passes_and_its_contents_point_at_the_right_pages(tmp_path, monkeypatch):
    """An equation that moves to the next page changes nothing printed (the book has no \\pageref), so
    LaTeX is not run a third time for it; the table of contents still gives each chapter's printed page."""
    require_latex()
    from derive.render import pdf as pdfmod

    runs = []
    real_run = pdfmod._run
    monkeypatch.setattr(pdfmod, "_run", lambda *a, **k: runs.append(1) or real_run(*a, **k))
    source = latex_of(ROOT / "specs" / "course.yaml", "ru")
    assert r"\pageref" not in source and r"\tableofcontents" in source
    target = compile_pdf(source, tmp_path / "course.pdf")
    assert len(runs) == 2
    pages = _printed_pages(target)
    chapters = re.findall(r"(?m)^(\d+) (\S[^\n]*?)\s{2,}(\d+)$", "\n".join(pages[:4]))
    assert len(chapters) == 4, chapters
    for number, title, page in chapters:
        # the page that opens chapter N carries «Глава N» and, at its foot, the printed page number
        opening = [p for p in pages if re.search(rf"Глава {number}\b", p)]
        assert opening, number
        assert opening[0].strip().splitlines()[-1].strip() == page, (number, title, page)


def test_a_page_reference_still_gets_its_last_pass(tmp_path):
    r"""With \pageref in the text the page of a label is printed, so a label that moves reruns LaTeX."""
    require_latex()
    filler = "\n\n".join(["Text. " * 80] * 6)
    source = ("\\documentclass{article}\n\\begin{document}\nSee page \\pageref{late}.\n\n" + filler +
              "\n\\begin{equation}\\label{late}x=1\\end{equation}\n\\end{document}\n")
    pages = _printed_pages(compile_pdf(source, tmp_path / "p.pdf"))
    late = next(i for i, p in enumerate(pages, start=1) if re.search(r"\(1\)", p))
    assert f"See page {late}." in pages[0]


HEADING = ("Градиент, пришедший сверху, распространяется через нормализованные промежуточные представления "
           "последовательности")


def test_headings_are_ragged_right_and_never_hyphenated(tmp_path):
    """A long heading breaks between words, as a printed textbook sets it (the Russian reviewer saw
    «…пришедшим свер-ху» in a heading); body text may still be hyphenated."""
    require_latex()
    converter = tex.Converter()
    blocks = converter.blocks(f"# Заголовок\n\n## 1) {HEADING}\n\n### {HEADING}\n\nТекст.\n")
    title = tex.title_of(blocks)
    document = tex.document("notes", "ru", title=title.tex, body=tex.notes_body(blocks), colours=converter.colours,
                            plain_title=title.plain)
    lines = pdf_text(compile_pdf(document, tmp_path / "headings.pdf")).splitlines()
    words = set(HEADING.replace(",", "").split())
    broken = [line for line in lines if line.rstrip().endswith("-") and line.split() and
              not any(w in words for w in line.rstrip("-").split()[-1:])]
    heading_lines = [line for line in lines if line.strip() and set(line.replace(",", "").split()) <= words]
    assert len(heading_lines) >= 3, lines  # each heading is set over at least two lines, so it had to break
    assert not broken, broken


def _preamble(source: str) -> str:
    return source.split(r"\begin{document}")[0]


def test_the_preamble_loads_tikz_and_font_families_only_where_the_document_uses_them():
    """Each costs LuaLaTeX time in every document: TikZ with a figure, sans on slides, monospace with code."""
    spec = ROOT / "specs" / "two-layer-relu.yaml"
    notes, bare, slides = latex_of(spec), latex_of(spec, figures=False), latex_of(spec, kind="slides")
    assert r"\usepackage{tikz}" in _preamble(notes)
    assert r"\usepackage{cancel,bm,graphicx}" in _preamble(bare) and "tikz" not in _preamble(bare)
    assert r"\usepackage{cancel,bm,graphicx,tikz}" in _preamble(slides)
    for source in (notes, bare):
        assert r"\setmainfont{CMU Serif}" in source
        assert r"\setsansfont" not in source and r"\setmonofont" not in source
    assert r"\setsansfont{CMU Sans Serif}" in _preamble(slides) and r"\setmonofont" not in slides
    assert tex.families("notes", r"a \texttt{b} c") == {"mono"}
    assert tex.families("notes", r"\textsf{b}, \url{x}") == {"sans", "mono"}
    assert tex.families("notes", r"\textttx \verbatimx \textsfy") == set()  # other commands' names
    assert tex.families("slides", "x") == {"sans"}


def _words(pdf: Path) -> str:
    """Every word of pdf with its box, page by page (not the head, which holds the time of typesetting)."""
    xml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return xml[xml.index("<doc>"):]


def test_a_lecture_without_code_is_typeset_as_with_every_family_loaded(tmp_path):
    """Leaving out the families a document does not use changes nothing printed: the same words at the
    same places on the same pages; code in the text still gets CMU Typewriter."""
    require_latex()
    source = latex_of(ROOT / "specs" / "sigmoid-bce.yaml", "ru")
    every = source.replace(r"\setmainfont{CMU Serif}",
                           "\\setmainfont{CMU Serif}\n\\setsansfont{CMU Sans Serif}\n\\setmonofont{CMU Typewriter Text}")
    assert every != source
    assert _words(compile_pdf(source, tmp_path / "lean.pdf")) == _words(compile_pdf(every, tmp_path / "every.pdf"))
    converter = tex.Converter()
    blocks = converter.blocks("# Code\n\nThe file `spec.yaml` says so.\n")
    document = tex.document("notes", "en", title=tex.title_of(blocks).tex, body=tex.notes_body(blocks),
                            colours=converter.colours, plain_title="Code")
    fonts = subprocess.run(["pdffonts", str(compile_pdf(document, tmp_path / "code.pdf"))], capture_output=True,
                           text=True, check=True).stdout
    assert "CMUTypewriter" in fonts and "LMMono" not in fonts


BOOK = ("\\documentclass{book}\n\\begin{document}\n\\tableofcontents\n\\chapter{Forward}\nText.\n"
        "\\chapter{Backward}\nMore text.\n\\end{document}\n")


def _counting_runs(monkeypatch) -> list:
    from derive.render import pdf as pdfmod

    runs: list = []
    real_run = pdfmod._run
    monkeypatch.setattr(pdfmod, "_run", lambda *a, **k: runs.append(1) or real_run(*a, **k))
    return runs


def test_a_rebuilt_book_whose_contents_did_not_move_takes_one_pass(tmp_path, monkeypatch):
    """The .aux and .toc kept from the last build are where the first pass starts; when it writes the same
    .aux again, the contents it printed are already right."""
    require_latex()
    runs = _counting_runs(monkeypatch)
    keep = tmp_path / "kept"
    first = pdf_text(compile_pdf(BOOK, tmp_path / "first.pdf", keep=keep))
    assert len(runs) == 2 and (keep / "derivation.toc").is_file() and (keep / "derivation.aux").is_file()
    runs.clear()
    again = pdf_text(compile_pdf(BOOK, tmp_path / "again.pdf", keep=keep))
    assert len(runs) == 1 and again == first
    assert re.search(r"1\s+Forward\s+\d", first) and re.search(r"2\s+Backward\s+\d", first)
    runs.clear()  # a chapter added: the kept contents are out of date, so LaTeX runs again
    longer = BOOK.replace("\\end{document}", "\\chapter{Update}\nLast.\n\\end{document}")
    text = pdf_text(compile_pdf(longer, tmp_path / "longer.pdf", keep=keep))
    assert len(runs) == 2 and re.search(r"3\s+Update\s+\d", text)


def test_a_kept_aux_that_does_not_fit_is_set_aside(tmp_path, monkeypatch):
    require_latex()
    keep = tmp_path / "kept"
    keep.mkdir()
    (keep / "derivation.aux").write_text("\\relax\n\\undefinedcommandfromanotherversion\n", encoding="utf-8")
    runs = _counting_runs(monkeypatch)
    text = pdf_text(compile_pdf(BOOK, tmp_path / "book.pdf", keep=keep))
    assert re.search(r"2\s+Backward\s+\d", text) and len(runs) == 3  # the failed start, then afresh
    assert "undefinedcommand" not in (keep / "derivation.aux").read_text(encoding="utf-8")
