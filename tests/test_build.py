"""`derive build`: every spec × language × format, up-to-date outputs skipped, errors per job.

The PDF builds share one `derive build` run (tests/latex.py `built()`); the
bookkeeping tests use Markdown, which needs no LaTeX.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import LANGS, ROOT, SPECS
from texharness import built, headings, markdown_of, pdf_outline, pdf_text, run_derive, squeeze


def test_every_spec_builds_to_pdf_and_tex_in_every_language():
    out, hostile, _marker, proc = built()
    assert proc.returncode == 0, proc.stderr
    for spec in [*SPECS, hostile]:
        for lang in LANGS:
            pdf = out / lang / f"{spec.stem}.pdf"
            assert pdf.read_bytes().startswith(b"%PDF"), pdf
            assert (out / lang / f"{spec.stem}.tex").read_text(encoding="utf-8").startswith("\\documentclass")
    assert f"{3 * 2 * (len(SPECS) + 1)} built, 0 up to date, 0 failed" in proc.stderr


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_pdf_text_has_the_languages_headings(spec, lang):
    """The headings of the rendered Markdown (catalog prose and spec titles) are readable in the PDF."""
    out, *_ = built()
    expected = headings(markdown_of(spec, lang))
    assert expected, "no headings in the Markdown"
    text = squeeze(pdf_text(out / lang / f"{spec.stem}.pdf"))
    missing = [h for h in expected if squeeze(h) not in text]
    assert not missing, f"not in the PDF text: {missing}"


@pytest.mark.parametrize("lang", LANGS)
def test_pdf_has_bookmarks_with_the_section_titles(lang):
    """A lecturer navigates the PDF by its outline: one bookmark per section, Greek letters as letters.

    Seed 000 orders the families φ, then ψ, then θ; each section heading of the Markdown
    (catalog prose) starts the bookmark.
    """
    out, *_ = built()
    outline = pdf_outline(out / lang / "two-layer-relu.pdf")
    prose = headings(markdown_of(ROOT / "specs" / "two-layer-relu.yaml", lang))[-3:]
    assert [item[-1] for item in outline] == ["φ", "ψ", "θ"], outline
    assert all(item.startswith(p.strip()) for item, p in zip(outline, prose)), (outline, prose)
    graph = pdf_outline(out / lang / "graph-add-mul.pdf")
    assert len(graph) >= 3 and all(squeeze(item) in squeeze(pdf_text(out / lang / "graph-add-mul.pdf"))
                                   for item in graph), graph


def test_second_build_does_no_work():
    out, hostile, _marker, _proc = built()
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.pdf")}
    again = run_derive("build", ROOT / "specs", hostile, "--lang", "all", "--format", "pdf,tex", "--out", out)
    assert again.returncode == 0, again.stderr
    assert "0 built" in again.stderr and "0 failed" in again.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.pdf")} == before


def _copy_specs(tmp_path: Path) -> Path:
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    return specs


def test_changed_spec_is_rebuilt_and_only_it(tmp_path):
    specs = _copy_specs(tmp_path)
    out = tmp_path / "out"
    first = run_derive("build", specs, "--lang", "en,ru", "--format", "md", "--out", out)
    assert first.returncode == 0, first.stderr
    assert (out / "ru" / "two-layer-relu.md").is_file() and (out / "en" / "two-layer-relu.svg").is_file()
    spec = specs / "leaky-relu.yaml"
    spec.write_text(spec.read_text(encoding="utf-8").replace("units: 2", "units: 3"), encoding="utf-8")
    second = run_derive("build", specs, "--lang", "en,ru", "--format", "md", "--out", out)
    assert second.returncode == 0, second.stderr
    # leaky-relu in two languages, and the course that has it as a chapter
    assert "4 built" in second.stderr, second.stderr
    assert "h_3" in (out / "en" / "leaky-relu.md").read_text(encoding="utf-8")
    cache = json.loads((out / ".derive-cache.json").read_text(encoding="utf-8"))
    assert os.path.join("en", "leaky-relu.md") in cache


def test_answer_sheets_in_a_folder_are_not_built(tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(ROOT / "specs" / "leaky-relu.yaml", specs)
    (specs / "answers.yaml").write_text("student: A\nanswers:\n  phi_1: h_1\n", encoding="utf-8")
    proc = run_derive("build", specs, "--lang", "en", "--format", "md", "--out", tmp_path / "out")
    assert proc.returncode == 0, proc.stderr
    assert "1 built" in proc.stderr and not (tmp_path / "out" / "en" / "answers.md").exists()


def test_a_failing_spec_is_reported_and_the_rest_still_built(tmp_path):
    specs = _copy_specs(tmp_path)
    (specs / "broken.yaml").write_text("kind: network\ninput: x\nlayers:\n  - {units: 1, activation: relu6}\n",
                                       encoding="utf-8")
    out = tmp_path / "out"
    proc = run_derive("build", specs, "--lang", "en", "--format", "md", "--out", out)
    assert proc.returncode == 2
    assert "broken.md" in proc.stderr and "relu6" in proc.stderr and "Traceback" not in proc.stderr
    assert (out / "en" / "two-layer-relu.md").is_file()
    assert "1 failed" in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--lang", "de"], "unknown language"),
    (["--format", "docx"], "unknown format"),
    (["--format", "PDF,md"], "did you mean --format pdf,md?"),  # capitals: the whole option as meant
    (["--lang", "RU,pl"], "did you mean --lang ru,pl?"),
])
def test_bad_options_exit_2(tmp_path, args, message):
    proc = run_derive("build", ROOT / "specs", *args, "--out", tmp_path)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_missing_source_exits_2(tmp_path):
    proc = run_derive("build", tmp_path / "nope.yaml", "--out", tmp_path)
    assert proc.returncode == 2 and "nope.yaml" in proc.stderr


def test_workers_start_with_sympy_imported_but_never_with_numpy():
    """The parent imports SymPy and the renderers before forking (each worker saves the import), but not
    NumPy: a forked copy of its BLAS thread pool can hang."""
    import subprocess
    import sys

    code = ("import sys, derive.build as b; b._preload(); "
            "print('sympy' in sys.modules, 'jinja2' in sys.modules, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "False"]


def test_a_pdf_build_asks_lualatex_for_its_identity_once_in_the_parent():
    """The preloaded preambles are keyed by LuaLaTeX's version and stock format (two commands): asked once
    before forking, so no worker runs them again; a build without PDFs does not ask."""
    import subprocess
    import sys

    code = ("import derive.build as b, derive.render.pdf as p; b._preload({!r}, pdf={}); "
            "print(p.engine_identity.cache_info().currsize)")
    for pdf, cached in ((True, "1"), (False, "0")):
        out = subprocess.run([sys.executable, "-c", code.format(["en"], pdf)], capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == cached


def test_the_course_book_starts_first_and_the_report_keeps_the_order(tmp_path):
    """The spec with the most inputs (a course: a lecture per chapter, two LaTeX passes) is given to a worker
    first, so that it does not start last while the other workers run out of work; a spec's jobs stay
    together (its worker derives it once) and the other specs keep their order."""
    from derive.build import Job, _longest_first

    names = ["deep-composition", "course", "sigmoid-bce"]
    jobs = [Job(str(ROOT / "specs" / f"{name}.yaml"), lang, "pdf", str(tmp_path / lang / f"{name}.pdf"), "notes",
                True) for name in names for lang in LANGS]
    order = [Path(j.spec).stem for j in _longest_first(jobs)]
    assert order == ["course"] * len(LANGS) + ["deep-composition"] * len(LANGS) + ["sigmoid-bce"] * len(LANGS)
    assert [j.lang for j in _longest_first(jobs)][: len(LANGS)] == list(LANGS)


def test_failures_are_reported_in_the_order_of_the_specs(tmp_path):
    """The course is built first, but its error (a chapter that does not derive) is reported where the
    course stands among the specs."""
    specs = tmp_path / "specs"
    specs.mkdir()
    bad = "kind: network\ninput: x\nlayers:\n  - {units: 1, activation: relu6}\n"
    for name in ("course", "two-layer-relu", "leaky-relu", "sigmoid-bce", "softmax-ce"):
        shutil.copy(ROOT / "specs" / f"{name}.yaml", specs)
    (specs / "a-broken.yaml").write_text(bad, encoding="utf-8")
    (specs / "leaky-relu.yaml").write_text(bad, encoding="utf-8")
    proc = run_derive("build", specs, "--lang", "en", "--format", "md", "--out", tmp_path / "out")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    reported = [Path(line.split(":")[1].strip()).stem for line in proc.stderr.splitlines()
                if line.startswith("derive build: /")]
    assert reported == ["a-broken", "course", "leaky-relu"], proc.stderr


def test_a_course_book_keeps_its_contents_for_the_next_build(tmp_path):
    """derive build keeps each book's .aux and .toc (out/.derive-latex/<lang>/<name>/), so that a rebuild
    starts from them; a lecture without references keeps nothing."""
    specs = tmp_path / "specs"
    specs.mkdir()
    for name in ("course", "two-layer-relu", "leaky-relu", "sigmoid-bce", "softmax-ce"):
        shutil.copy(ROOT / "specs" / f"{name}.yaml", specs)
    out = tmp_path / "out"
    proc = run_derive("build", specs / "course.yaml", specs / "sigmoid-bce.yaml", "--lang", "en", "--format", "pdf",
                      "--out", out)
    assert proc.returncode == 0, proc.stderr
    kept = out / ".derive-latex" / "en" / "course"
    assert "\\contentsline {chapter}" in (kept / "derivation.toc").read_text(encoding="utf-8")
    assert not (out / ".derive-latex" / "en" / "sigmoid-bce").exists()


def test_templates_are_compiled_once_and_each_environment_keeps_its_own_filters_and_globals():
    """A worker renders a spec in every language from one compiled template: each rendering still gets its
    own language's catalog and its kind's step mark, and a changed template source is compiled again."""
    import jinja2

    from derive.render.jinja import _compiled, environment

    source = {"probe.j2": "{{ step(1) }} {{ _('Forward pass') }} {{ 0.5|num }}"}

    def render(lang: str, steps: str) -> str:
        env = environment("md", lang, steps=steps)
        env.loader = jinja2.DictLoader(source)
        return env.get_template("probe.j2").render()

    english = render("en", ")")
    held = dict(_compiled().code)
    russian = render("ru", ".")
    assert _compiled().code == held  # the same code, not compiled again
    assert english.startswith("1) ") and "$0.5$" in english
    assert russian.startswith("1. ") and "$0{,}5$" in russian and russian.split()[1] != "Forward"
    assert environment("md", "pl").filters["num"](0.25) == "$0{,}25$"  # called from Python too
    source["probe.j2"] = "{{ step(2) }} changed"
    assert render("pl", ")") == "2) changed"
