"""`kind: course`: chapters from other specs, titles per language, clear errors for bad courses."""

from __future__ import annotations

import pytest
import yaml

from conftest import ROOT

COURSE = ROOT / "specs" / "course.yaml"


@pytest.mark.parametrize("lang", ["ru", "en", "pl"])
def test_markdown_is_the_chapters_under_the_course_title(cli, lang):
    course = yaml.safe_load(COURSE.read_text(encoding="utf-8"))
    result = cli(COURSE, "--lang", lang)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"# {course['title'][lang]}"
    chapters = [line for line in lines if line.startswith("## ")]
    assert len(chapters) == len(course["chapters"])
    assert chapters[0] == f"## {course['chapters'][0]['title'][lang]}"
    # a chapter without its own title keeps its spec's title
    spec = yaml.safe_load((ROOT / "specs" / course["chapters"][1]).read_text(encoding="utf-8"))
    assert chapters[1] == f"## {spec['title'][lang]}"
    assert any(line.startswith("### ") for line in lines)  # the chapters' sections, one level down


@pytest.mark.parametrize("text, message", [
    ("kind: course\ntitle: X\nchapters:\n  - nope.yaml\n", "no such spec file"),
    ("kind: course\nchapters: 5\n", "expected a list of chapter specs"),
    ("kind: course\nchapters:\n  - {spec: x.yaml, pages: 3}\n", "unknown key 'pages'"),
    ("kind: course\ntitle: X\nchapters:\n  - self.yaml\n", "not another course"),
])
def test_bad_course_exits_2_with_the_place(cli, tmp_path, text, message):
    path = tmp_path / "self.yaml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "x.yaml").write_text("kind: network\n", encoding="utf-8")
    result = cli(path)
    assert result.exit_code == 2
    assert message in result.stderr and str(path) in result.stderr


def test_json_has_each_chapters_derivation(cli):
    import json

    data = json.loads(cli(COURSE, "--format", "json").stdout)
    assert data["kind"] == "course"
    assert [c["derivation"]["kind"] for c in data["chapters"]] == ["network"] * 4


def test_course_slides_are_one_deck_with_a_title_frame_per_chapter():
    from texharness import latex_of

    course = yaml.safe_load(COURSE.read_text(encoding="utf-8"))
    source = latex_of(COURSE, "en", kind="slides")
    assert "{beamer}" in source and "\\tableofcontents" not in source
    assert source.count("\\section{") == len(course["chapters"])
    assert source.count("\\begin{frame}") > 4 * len(course["chapters"])
