"""The preamble preloaded in a LuaLaTeX format (derive build): the same PDF as without it, made once, remade
when what it was made of changes, and never the reason a document fails."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from texharness import latex_of, pdf_outline, require_latex, run_derive
from derive.render import pdf as pdfmod
from derive.render.pdf import FORMAT_MARK, compile_pdf


def _pages(pdf: Path, folder: Path) -> list[bytes]:
    """Every page of pdf as a grey image (what a reader sees), in order."""
    prefix = folder / pdf.stem
    subprocess.run(["pdftoppm", "-r", "60", "-gray", str(pdf), str(prefix)], check=True)
    return [p.read_bytes() for p in sorted(folder.glob(f"{pdf.stem}-*.pgm"))]


def _fonts(pdf: Path) -> list[str]:
    """pdffonts' table: name (with its subset tag), type, encoding, embedded, subset, unicode."""
    out = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    return [" ".join(line.split()[:6]) for line in out.splitlines()[2:]]


def _layout(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _same_pdf(a: Path, b: Path, folder: Path) -> None:
    assert _layout(a) == _layout(b)
    assert _fonts(a) == _fonts(b)
    assert pdf_outline(a) == pdf_outline(b)
    pages_a, pages_b = _pages(a, folder / "a"), _pages(b, folder / "b")
    assert len(pages_a) == len(pages_b) > 0
    assert [i for i, (x, y) in enumerate(zip(pages_a, pages_b), start=1) if x != y] == []


def _runs(monkeypatch) -> list[list[str]]:
    """The LuaLaTeX command lines compile_pdf runs."""
    seen: list[list[str]] = []
    real = pdfmod._run
    monkeypatch.setattr(pdfmod, "_run", lambda command, *a, **k: seen.append(command) or real(command, *a, **k))
    return seen


@pytest.mark.parametrize("spec, lang", [("sigmoid-bce", "ru"), ("course", "pl")])
def test_a_document_typeset_from_the_format_is_the_one_typeset_whole(tmp_path, spec, lang, monkeypatch):
    """The same text, fonts (down to their subset tags), outline and page images. The course book is a book
    with running heads in capitals (expl3's case tables, which the format must carry over) and contents."""
    require_latex()
    source = latex_of(ROOT / "specs" / f"{spec}.yaml", lang)
    assert FORMAT_MARK in source
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    whole = compile_pdf(source, tmp_path / "whole.pdf")
    runs = _runs(monkeypatch)
    preloaded = compile_pdf(source, tmp_path / "preloaded.pdf", formats=tmp_path / "formats")
    assert any(arg.startswith("--fmt=") for command in runs for arg in command), runs  # it was used
    assert not list((tmp_path / "formats").glob("*.failed"))
    _same_pdf(whole, preloaded, tmp_path)


def test_the_format_is_made_once_and_remade_when_a_file_it_read_changes(tmp_path, monkeypatch):
    require_latex()
    source = latex_of(ROOT / "specs" / "graph-add-mul.yaml", "en")
    formats = tmp_path / "formats"
    runs = _runs(monkeypatch)
    compile_pdf(source, tmp_path / "one.pdf", formats=formats)
    compile_pdf(source, tmp_path / "two.pdf", formats=formats)
    made = [c for c in runs if "-ini" in c]
    assert len(made) == 1 and len(runs) == 3, runs
    (manifest,) = formats.glob("*.files.json")
    files = json.loads(manifest.read_text(encoding="utf-8"))
    assert any(path.endswith("/hyperref.sty") for path in files)  # what the format was made of
    assert any(path.endswith("/lualatex.fmt") for path in files)
    first = next(iter(files))
    files[first][0] += 1  # as if TeX Live had updated that file
    manifest.write_text(json.dumps(files), encoding="utf-8")
    runs.clear()
    compile_pdf(source, tmp_path / "three.pdf", formats=formats)
    assert len([c for c in runs if "-ini" in c]) == 1


def test_a_broken_format_costs_time_not_the_document(tmp_path, monkeypatch):
    """A format that LuaLaTeX cannot load: the document is typeset whole, the same as ever."""
    require_latex()
    source = latex_of(ROOT / "specs" / "graph-add-mul.yaml", "en")
    formats = tmp_path / "formats"
    compile_pdf(source, tmp_path / "good.pdf", formats=formats)
    (fmt,) = formats.glob("*.fmt")
    fmt.write_bytes(b"not a format")  # same size and time are not checked for the format itself: its files are
    runs = _runs(monkeypatch)
    again = compile_pdf(source, tmp_path / "again.pdf", formats=formats)
    assert len(runs) == 2 and any(a.startswith("--fmt=") for a in runs[0]) and not any(
        a.startswith("--fmt=") for a in runs[1])
    assert _layout(again) == _layout(tmp_path / "good.pdf")
    runs.clear()  # set aside: the next document is typeset whole, without making the format and failing again
    compile_pdf(source, tmp_path / "third.pdf", formats=formats)
    assert len(runs) == 1 and not any(a.startswith("--fmt=") or a == "-ini" for a in runs[0])


def test_a_preamble_that_cannot_be_dumped_is_typeset_whole_and_not_tried_again(tmp_path, monkeypatch):
    require_latex()
    source = ("\\documentclass{article}\n\\usepackage{derive-no-such-package}\n" + FORMAT_MARK +
              "\n\\begin{document}\nX\n\\end{document}\n")
    runs = _runs(monkeypatch)
    with pytest.raises(pdfmod.LatexFailed):
        compile_pdf(source, tmp_path / "x.pdf", formats=tmp_path / "formats")
    assert len([c for c in runs if "-ini" in c]) == 1 and list((tmp_path / "formats").glob("*.failed"))
    runs.clear()
    with pytest.raises(pdfmod.LatexFailed):
        compile_pdf(source, tmp_path / "x.pdf", formats=tmp_path / "formats")
    assert len(runs) == 1 and "-ini" not in runs[0]


def test_slides_and_documents_without_the_mark_are_typeset_whole(tmp_path, monkeypatch):
    require_latex()
    slides = latex_of(ROOT / "specs" / "graph-add-mul.yaml", "en", kind="slides")
    assert FORMAT_MARK not in slides
    runs = _runs(monkeypatch)
    compile_pdf(slides, tmp_path / "slides.pdf", formats=tmp_path / "formats")
    assert len(runs) == 1 and not any(a.startswith("--fmt=") for a in runs[0])


def test_derive_build_keeps_its_formats_beside_the_kept_latex(tmp_path):
    require_latex()
    spec = tmp_path / "specs"
    spec.mkdir()
    (spec / "graph-add-mul.yaml").write_bytes((ROOT / "specs" / "graph-add-mul.yaml").read_bytes())
    proc = run_derive("build", spec, "--lang", "en,ru", "--format", "pdf", "--out", tmp_path / "out", "--jobs", "2")
    assert proc.returncode == 0, proc.stderr
    formats = list((tmp_path / "out" / ".derive-latex" / "_formats").glob("*.fmt"))
    assert len(formats) == 1  # one preamble for both languages: babel and the fonts come after the mark
    assert (tmp_path / "out" / "en" / "graph-add-mul.pdf").is_file()
