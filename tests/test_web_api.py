"""derive serve, the API end to end on SQLite (CONTRACT section 8), in-process through httpx.

References: the verdicts and feedback are those of `derive check --format json` on the same answers
(the CLI run in-process), and the correct answers are seed 000's formulas, typed as a student would.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
import yaml

from conftest import ROOT
from webharness import ADMIN, STUDENTS, bearer, client, roster_file, settings

ANNA, JAN, EVIL = STUDENTS.values()
# Seed 000: dy/dphi_1 = g_1, dy/dpsi_11 = phi_1 I[u_1>0] h_1, dy/dtheta_11 = (phi_1 I[u_1>0] psi_11 + phi_2 I[u_2>0] psi_12) I[z_1>0] x
SEED_ANSWERS = {
    "phi_1": "g_1",
    "psi_11": r"\phi_1 \mathbb{I}[u_1>0]\, h_1",
    "theta_11": "(phi_1*I[u_1>0]*psi_11 + phi_2*I[u_2>0]*psi_12)*I[z_1>0]*x",
}
NO_INDICATOR = {"theta_11": "(phi_1*I[u_1>0]*psi_11 + phi_2*I[u_2>0]*psi_12)*x"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    with client(settings(tmp_path_factory.mktemp("api"))) as test_client:
        yield test_client


def check(app, token, answers, assignment="two-layer-relu", **extra):
    body = {"assignment": assignment, "answers": answers, **extra}
    return app.post("/api/check", json=body, headers=bearer(token))


def cli_json(cli, tmp_path, answers, lang="en", student="Anna Ivanova") -> dict:
    sheet = tmp_path / "answers.yaml"
    sheet.write_text(yaml.safe_dump({"student": student, "answers": answers}, allow_unicode=True), encoding="utf-8")
    result = cli("check", ROOT / "specs" / "two-layer-relu.yaml", sheet, "--format", "json", "--lang", lang)
    return json.loads(result.stdout)


def without_expected(data: dict) -> dict:
    return {**data, "answers": [{k: v for k, v in a.items() if k != "expected_latex"} for a in data["answers"]]}


def test_healthz(app):
    response = app.get("/healthz")
    assert response.status_code == 200 and response.json()["ok"] is True


@pytest.mark.parametrize("lang", ["en", "ru", "pl"])
def test_check_is_derive_check_without_expected_formulas(app, cli, tmp_path, lang):
    answers = {**SEED_ANSWERS, "phi_2": "g_1"}
    response = check(app, ANNA, answers, lang=lang)
    assert response.status_code == 200
    data = response.json()
    assert data == without_expected(cli_json(cli, tmp_path, answers, lang))
    verdicts = {a["key"]: a["verdict"] for a in data["answers"]}
    assert [verdicts[k] for k in SEED_ANSWERS] == ["correct"] * 3
    assert verdicts["phi_2"] == "incorrect" and verdicts["theta_01"] == "missing"
    assert all("expected_latex" not in a for a in data["answers"])


def test_feedback_names_the_mistake_in_the_browsers_language(app, cli, tmp_path):
    response = app.post("/api/check", json={"assignment": "two-layer-relu", "answers": NO_INDICATOR},
                        headers={**bearer(ANNA), "Accept-Language": "pl-PL,pl;q=0.9,en;q=0.5"})
    theta = next(a for a in response.json()["answers"] if a["key"] == "theta_11")
    expected = next(a for a in cli_json(cli, tmp_path, NO_INDICATOR, "pl")["answers"] if a["key"] == "theta_11")
    assert theta["verdict"] == "incorrect" and theta["feedback"] == expected["feedback"]
    assert "I[z_1 > 0]" in theta["feedback"]
    query = app.post("/api/check?lang=ru", json={"assignment": "two-layer-relu", "answers": NO_INDICATOR},
                     headers={**bearer(ANNA), "Accept-Language": "pl"})
    assert query.json()["answers"][0]["feedback"] == cli_json(cli, tmp_path, NO_INDICATOR, "ru")["answers"][0]["feedback"]


def test_every_submission_is_stored(app):
    from derive.web import storage

    db = app.app.state.server.db
    before = storage.count(db, "sigmoid-bce")
    for _ in range(3):
        assert check(app, JAN, {}, assignment="sigmoid-bce").status_code == 200
    assert storage.count(db, "sigmoid-bce") == before + 3
    row = storage.chosen(db, "sigmoid-bce", "last")[0]
    assert row.student == "Jan Kowalski" and row.created_at is not None and row.total == len(row.verdicts)


def test_hostile_answers_are_invalid_and_the_rest_is_graded(app):
    answers = {"phi_1": "(" * 3000, "phi_2": "exp(exp(exp(exp(x))))^99999999", "phi_0": "__import__('os')",
               "psi_11": "x" * 6000, "theta_11": SEED_ANSWERS["theta_11"]}
    response = check(app, ANNA, answers)
    assert response.status_code == 200
    verdicts = {a["key"]: a["verdict"] for a in response.json()["answers"]}
    assert verdicts["theta_11"] == "correct"
    assert {verdicts[k] for k in ("phi_1", "phi_2", "phi_0", "psi_11")} == {"invalid"}


def test_validate_previews_without_storing(app):
    from derive.web import storage

    db = app.app.state.server.db
    before = storage.count(db)
    ok = app.post("/api/validate", json={"assignment": "two-layer-relu", "key": "phi_1", "answer": r"\frac{g_1}{2}"},
                  headers=bearer(ANNA))
    assert ok.json() == {"ok": True, "latex": r"\frac{g_1}{2}"}
    unbalanced = app.post("/api/validate", json={"assignment": "two-layer-relu", "key": "phi_1", "answer": "(g_1 + 1",
                                                 "lang": "en"}, headers=bearer(ANNA)).json()
    assert unbalanced["ok"] is False and "Column 1" in unbalanced["message"] and "never closed" in unbalanced["message"]
    unknown = app.post("/api/validate?lang=ru", json={"assignment": "two-layer-relu", "key": "phi_1",
                                                      "answer": "hh_2"}, headers=bearer(ANNA)).json()
    assert unknown["ok"] is False and "hh_2" in unknown["message"] and "h_2" in unknown["message"]
    assert "Неизвестное имя" in unknown["message"]  # one name, in the singular
    assert storage.count(db) == before


@pytest.mark.parametrize("request_args, status", [
    ({"headers": {}}, 401),
    ({"headers": bearer("forged-token-zzzzzzzzzzzz")}, 401),
    ({"headers": {"Authorization": f"Basic {ANNA}"}}, 401),
    ({"headers": bearer(ANNA), "content": b"{not json"}, 422),
    ({"headers": bearer(ANNA), "content": b"[1, 2]"}, 422),
    ({"headers": bearer(ANNA), "content": b"[" * 60_000}, 422),
    ({"headers": bearer(ANNA), "content": b"\xff\xfe{}"}, 422),
    ({"headers": bearer(ANNA), "json": {"assignment": "two-layer-relu", "answers": ["g_1"]}}, 422),
    ({"headers": bearer(ANNA), "json": {"assignment": "two-layer-relu", "answers": {"omega": "1"}}}, 422),
    ({"headers": bearer(ANNA), "json": {"assignment": "two-layer-relu", "answers": {"phi_1": {"a": 1}}}}, 422),
    ({"headers": bearer(ANNA), "json": {"assignment": "no-such-thing", "answers": {}}}, 404),
    ({"headers": bearer(ANNA), "json": {"assignment": "mlp-backprop", "answers": {}}}, 404),
    ({"headers": bearer(ANNA), "json": {"assignment": "two-layer-relu", "answers": {"phi_1": "g" * 70_000}}}, 413),
])
def test_bad_requests_get_the_contracts_status_and_a_json_error(app, request_args, status):
    from derive.web import storage

    before = storage.count(app.app.state.server.db)
    response = app.post("/api/check", **request_args)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    assert isinstance(response.json()["error"], str) and response.json()["error"]
    assert storage.count(app.app.state.server.db) == before


def test_a_body_without_length_is_still_limited(app):
    def chunks():
        for _ in range(100):
            yield b" " * 1024

    response = app.post("/api/check", content=chunks(), headers=bearer(ANNA))
    assert response.status_code == 413 and "error" in response.json()


def test_unknown_route_is_a_json_404(app):
    response = app.get("/api/nothing")
    assert response.status_code == 404 and "error" in response.json()


def test_gradebook_is_the_lecturers(app):
    assert app.get("/api/gradebook.csv?assignment=two-layer-relu", headers=bearer(ANNA)).status_code == 403
    assert app.get("/api/gradebook.csv?assignment=two-layer-relu").status_code == 401
    assert app.get("/api/gradebook.csv?assignment=nothing", headers=bearer(ADMIN)).status_code == 404
    assert app.get("/lecturer", params={"token": ANNA}).status_code == 403
    assert app.get("/lecturer").status_code == 401


def test_gradebook_best_or_last_with_derive_checks_columns(tmp_path, cli):
    with client(settings(tmp_path)) as app:
        assert check(app, ANNA, SEED_ANSWERS).status_code == 200  # 3 correct
        assert check(app, ANNA, {"phi_1": "g_1"}).status_code == 200  # later, 1 correct
        assert check(app, EVIL, {"phi_1": "g_2"}).status_code == 200
        assert check(app, ADMIN, SEED_ANSWERS).status_code == 200  # the lecturer's own try: not a student
        best = _rows(app.get("/api/gradebook.csv?assignment=two-layer-relu", headers=bearer(ADMIN)))
        last = _rows(app.get("/api/gradebook.csv", params={"assignment": "two-layer-relu", "policy": "last",
                                                           "token": ADMIN}))
    header = _cli_csv_header(cli, tmp_path)
    assert best[0] == header and last[0] == header
    by_student = {row[1]: dict(zip(header, row)) for row in best[1:]}
    assert by_student["Anna Ivanova"]["score"] == "3" and by_student["Anna Ivanova"]["theta_11"] == "correct"
    assert {row[1]: row[-2] for row in last[1:]}["Anna Ivanova"] == "1"
    assert by_student["Jan Kowalski"]["score"] == "0"  # on the roster, never submitted
    assert "'=HYPERLINK(\"http://x\")" in by_student and "@lecturer" not in by_student


def _rows(response) -> list[list[str]]:
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.text)))


def _cli_csv_header(cli, tmp_path) -> list[str]:
    sheet = tmp_path / "one.yaml"
    sheet.write_text("answers: {phi_1: g_1}\n", encoding="utf-8")
    result = cli("check", ROOT / "specs" / "two-layer-relu.yaml", sheet, "--format", "csv")
    return next(csv.reader(io.StringIO(result.stdout)))


def test_lecturers_page_shows_derive_checks_class_summary(tmp_path, cli):
    with client(settings(tmp_path)) as app:
        check(app, ANNA, NO_INDICATOR)
        check(app, JAN, NO_INDICATOR)
        page = app.get("/lecturer", params={"token": ADMIN, "lang": "ru"})
    assert page.status_code == 200
    sheets = []
    for n, name in enumerate(("Anna Ivanova", "Jan Kowalski")):
        sheet = tmp_path / f"s{n}.yaml"
        sheet.write_text(yaml.safe_dump({"student": name, "answers": NO_INDICATOR}), encoding="utf-8")
        sheets.append(sheet)
    text = cli("check", ROOT / "specs" / "two-layer-relu.yaml", *sheets, "--lang", "ru").stdout
    import html

    summary = text[text.index("Самые частые"):].strip()
    assert html.escape(summary, quote=True) in page.text


def test_rate_limit_per_token_counts_stored_submissions(tmp_path):
    from derive.web import storage

    with client(settings(tmp_path, rate_limit=2)) as app:
        assert [check(app, ANNA, {}).status_code for _ in range(3)] == [200, 200, 429]
        assert check(app, JAN, {}).status_code == 200  # another student has their own allowance
        assert "error" in check(app, ANNA, {}).json()
        assert storage.count(app.app.state.server.db) == 3


def test_show_expected_sends_the_expected_formula(tmp_path, cli):
    with client(settings(tmp_path, show_expected=True)) as app:
        data = check(app, ANNA, SEED_ANSWERS).json()
    assert data == cli_json(cli, tmp_path, SEED_ANSWERS)


def test_variants_grade_each_student_against_their_own_network(tmp_path, cli):
    """The asked names and verdicts are those of `derive quiz --seed` / `derive check` for the student's seed."""
    from derive.web.checker import variant_seed

    with client(settings(tmp_path, variants=True)) as app:
        results = {token: check(app, token, {}).json() for token in (ANNA, JAN)}
        page = app.get("/a/two-layer-relu", params={"token": ANNA})
    for name, token in (("Anna Ivanova", ANNA), ("Jan Kowalski", JAN)):
        seed = variant_seed("two-layer-relu", name)
        out = tmp_path / f"quiz-{seed}"
        cli("quiz", ROOT / "specs" / "two-layer-relu.yaml", "--seed", seed, "-o", out)
        template = yaml.safe_load((out / f"two-layer-relu-{seed}.answers.yaml").read_text(encoding="utf-8"))
        assert [a["key"] for a in results[token]["answers"]] == list(template["answers"])
    assert f"{variant_seed('two-layer-relu', 'Anna Ivanova')}" in page.text


def test_a_restart_keeps_every_submission(tmp_path):
    with client(settings(tmp_path)) as app:
        check(app, ANNA, SEED_ANSWERS)
    with client(settings(tmp_path)) as app:  # a new server process on the same database
        rows = _rows(app.get("/api/gradebook.csv?assignment=two-layer-relu", headers=bearer(ADMIN)))
    assert {row[1]: row[-2] for row in rows[1:]}["Anna Ivanova"] == "3"


def test_exercise_page_is_self_contained(app):
    page = app.get("/a/two-layer-relu", params={"token": ANNA, "lang": "pl"})
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "Wyznacz pochodne:" in page.text and 'lang="pl"' in page.text
    assert page.text.count('class="answer"') == 13
    assert "http://" not in page.text.replace("http://x", "") and "https://" not in page.text
    for asset in ("/katex/katex.min.js", "/katex/katex.min.css", "/katex/fonts/KaTeX_Main-Regular.woff2",
                  "/static/app.js", "/static/style.css"):
        assert app.get(asset).status_code == 200, asset
    assert app.get("/a/two-layer-relu", params={"token": "forged-token-zzzzzzzzz"}).status_code == 401
    assert app.get("/a/nothing", params={"token": ANNA}).status_code == 404


def test_the_page_starts_from_the_students_last_answers(tmp_path):
    with client(settings(tmp_path)) as app:
        check(app, ANNA, {"phi_1": "g_1 <script>", "phi_2": "g_2"})
        check(app, ANNA, {"phi_1": 'g_1 "x"'})
        mine = app.get("/a/two-layer-relu", params={"token": ANNA}).text
        theirs = app.get("/a/two-layer-relu", params={"token": JAN}).text
    assert 'id="a-phi_1"' in mine and 'value="g_1 &#34;x&#34;"' in mine and 'value="g_2"' not in mine
    assert "Submitted: 2; best result: 1 of 13." in mine and "Submitted:" not in theirs
    assert "g_1 &#34;x&#34;" not in theirs and 'value=""' in theirs


def test_a_graph_assignment_shows_its_nodes_and_values(tmp_path):
    import shutil

    folder = tmp_path / "specs"
    folder.mkdir()
    shutil.copy(ROOT / "specs" / "graph-add-mul.yaml", folder)
    from derive.web.app import Settings

    config = Settings(folder=str(folder), db=f"sqlite:///{tmp_path / 'g.db'}", admin_token=ADMIN, workers=1)
    with client(config) as app:
        page = app.get("/a/graph-add-mul", params={"token": ADMIN, "lang": "ru"})
        result = check(app, ADMIN, {"x": "-4"}, assignment="graph-add-mul").json()
    assert page.status_code == 200 and "f = q z" in page.text and "x = -2" in page.text
    assert page.text.count('class="answer"') == 3 and r"\frac{\partial f}{\partial x}" in page.text
    assert {a["key"]: a["verdict"] for a in result["answers"]}["x"] == "correct"  # df/dx = z = -4


def test_index_lists_the_assignments_the_checker_grades(tmp_path):
    title = yaml.safe_load((ROOT / "specs" / "two-layer-relu.yaml").read_text(encoding="utf-8"))["title"]["ru"]
    with client(settings(tmp_path)) as app:
        check(app, ANNA, SEED_ANSWERS)
        page = app.get("/", params={"token": ANNA, "lang": "ru"}).text
        other = app.get("/", params={"token": JAN, "lang": "ru"}).text
        anonymous = app.get("/").text
    assert "two-layer-relu" in page and "sigmoid-bce" in page and "mlp-backprop" not in page
    assert title in page and "Верно: 3 из 13" in page and "Верно:" not in other
    assert "token=" not in anonymous and "Open the link your lecturer gave you" in anonymous


# -- the command line ------------------------------------------------------------


def test_roster_writes_tokens_and_keeps_them(tmp_path, cli):
    names = tmp_path / "names.txt"
    names.write_text("Anna Ivanova\n\n# a comment\nJan Kowalski\nAnna Ivanova\n", encoding="utf-8")
    out = tmp_path / "roster.csv"
    first = cli("roster", names, "-o", out, "--url", "https://derive.example.edu/")
    assert first.exit_code == 0
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["student", "token"] and [r[0] for r in rows[1:]] == ["Anna Ivanova", "Jan Kowalski"]
    assert len({r[1] for r in rows[1:]}) == 2 and all(len(r[1]) >= 24 for r in rows[1:])
    assert f"Anna Ivanova\thttps://derive.example.edu/?token={rows[1][1]}" in first.stdout
    names.write_text("Anna Ivanova\nJan Kowalski\nOla Nowak\n", encoding="utf-8")
    cli("roster", names, "-o", out)
    again = list(csv.reader(out.open(encoding="utf-8")))
    assert again[1:3] == rows[1:3] and again[3][0] == "Ola Nowak"


def test_bad_roster_and_folder_are_exit_2_without_traceback(tmp_path):
    from conftest import run_process

    bad = tmp_path / "roster.csv"
    bad.write_text("name,secret\nAnna,short\n", encoding="utf-8")
    result = run_process("serve", ROOT / "specs", "--roster", bad)
    assert result.returncode == 2 and f"{bad}:1:1" in result.stderr and "Traceback" not in result.stderr
    result = run_process("serve", tmp_path / "missing")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    result = run_process("serve", ROOT / "specs", "--db", "postgresql://nobody:secret@127.0.0.1:1/none")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "secret" not in result.stderr
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_process("serve", ROOT / "specs", "--port", port, "--db", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.returncode == 2 and f"--port {port}" in result.stderr and "Traceback" not in result.stderr


def test_roster_names_that_look_like_formulas_survive_a_spreadsheet(tmp_path, cli):
    from derive.cli.serve import read_roster

    names = tmp_path / "names.txt"
    names.write_text('=HYPERLINK("http://x")\n-Ann\nJan\n', encoding="utf-8")
    out = tmp_path / "roster.csv"
    assert cli("roster", names, "-o", out).exit_code == 0
    cells = [row[0] for row in csv.reader(out.open(encoding="utf-8"))][1:]
    assert cells == ['\'=HYPERLINK("http://x")', "'-Ann", "Jan"]
    assert sorted(read_roster(str(out)).values()) == sorted(['=HYPERLINK("http://x")', "-Ann", "Jan"])


def test_roster_refuses_names_with_control_characters(tmp_path):
    from conftest import run_process

    names = tmp_path / "names.txt"
    names.write_text("Anna\nJan\x1b[31mRed\n", encoding="utf-8")
    result = run_process("roster", names, "-o", tmp_path / "roster.csv")
    assert result.returncode == 2 and f"{names}:2:4" in result.stderr and "\x1b" not in result.stderr
    assert not (tmp_path / "roster.csv").exists()


def test_roster_file_is_read(tmp_path):
    from derive.cli.serve import read_roster

    assert read_roster(roster_file(tmp_path / "r.csv")) == {t: n for n, t in STUDENTS.items()}


def test_a_dead_checking_process_is_replaced():
    """A worker that dies (a crash in the checker, say) costs its request a 500, not the server."""
    import asyncio
    import os

    from derive.web.app import Failure, Pool, _ready

    pool = Pool({}, 1)
    try:
        with pytest.raises(Failure) as failure:
            asyncio.run(pool.run(os._exit, 3))
        assert failure.value.status == 500
        assert asyncio.run(pool.run(_ready)) != os.getpid()
    finally:
        pool.close()


def _hog() -> int:
    return len(bytearray(4 * 2**30))


def test_a_checking_process_cannot_take_all_the_memory():
    import asyncio

    from derive.web.app import Pool, _ready

    pool = Pool({}, 1)
    try:
        with pytest.raises(MemoryError):
            asyncio.run(pool.run(_hog))
        assert asyncio.run(pool.run(_ready))
    finally:
        pool.close()


def test_a_hung_checking_process_is_stopped(monkeypatch):
    import asyncio
    import os
    import time

    from derive.web import app as web
    from derive.web.app import Failure, Pool, _ready

    monkeypatch.setattr(web, "JOB_DEADLINE", 0.5)
    pool = Pool({}, 1)
    try:
        with pytest.raises(Failure) as failure:
            asyncio.run(pool.run(time.sleep, 30))
        assert failure.value.status == 503
        assert asyncio.run(pool.run(_ready)) != os.getpid()
    finally:
        pool.close()


def test_vendored_katex_is_the_npm_package_unchanged():
    """derive/katex holds KaTeX 0.16.47's files byte for byte (the copy .ci/install-katex fetches from npm)."""
    import os

    from conftest import IN_CI

    npm = ROOT / ".ci" / "node" / "node_modules" / "katex"
    if not npm.is_dir():
        if IN_CI:
            pytest.fail("no KaTeX npm package in .ci/node (bash .ci/install-katex)")
        pytest.skip("no KaTeX npm package in .ci/node (bash .ci/install-katex)")
    assert json.loads((npm / "package.json").read_text())["version"] == "0.16.47"
    vendored = ROOT / "derive" / "katex"
    files = sorted(p.relative_to(vendored) for p in vendored.rglob("*") if p.is_file())
    assert len([f for f in files if f.suffix == ".woff2"]) == 20
    for name in files:
        source = npm / "LICENSE" if str(name) == "LICENSE" else npm / "dist" / name
        assert source.read_bytes() == (vendored / name).read_bytes(), name
    assert os.path.exists(vendored / "contrib" / "auto-render.min.js")


def test_the_migrations_make_the_schema_the_code_uses(tmp_path):
    """alembic's own comparison finds nothing between the migrated database and the table the code declares."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from derive.web import storage

    engine = storage.connect(f"sqlite:///{tmp_path / 'schema.db'}")
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), storage.Base.metadata)
    engine.dispose()
    assert differences == []


def test_a_kind_without_a_network_still_gets_one_input_per_asked_name():
    """The page's question falls back to the asked names when the outcome is not a network's."""
    from derive.web import checker

    engine = checker.load(str(ROOT / "specs"))[0]["two-layer-relu"]

    class OtherKind:
        def grader(self, seed):
            return engine.grader(seed)

        def outcome(self, seed):
            return object()

    question = checker.question(OtherKind(), None, "en")
    assert [t["key"] for t in question["tasks"]] == checker.asked(engine, None)
    assert question["tasks"][0]["latex"] == r"\theta_{01}" and question["forward"] == []


@pytest.mark.parametrize("spec", ["mlp-check", "mazur-2-2-2", "rnn-3-steps", "graph-sin-cos-exp", "two-layer-relu"])
def test_the_page_sets_the_exercise_derive_quiz_prints(spec):
    """Every kind the checker grades gets its whole question on the page: the forward pass, the given values
    and one label per input, each the very formula of `derive quiz`'s sheet (a matrix-form network once got an
    empty question and inputs labelled dJ_dW2)."""
    import re

    from derive.grading.check import Engine
    from derive.grading.quiz import build_quiz
    from derive.web import checker

    path = str(ROOT / "specs" / f"{spec}.yaml")
    engine = Engine(path)
    question = checker.question(engine, None, "pl")
    _, sheet, _ = build_quiz(path, "pl", None)
    blocks = re.findall(r"\$\$\n(.*?)\n\$\$", sheet, re.S)
    tasks = re.findall(r"^\d+\. \$(.*)\$$", sheet, re.M)
    assert [t["key"] for t in question["tasks"]] == checker.asked(engine, None)
    assert [t["latex"] for t in question["tasks"]] == tasks
    shown = [e for row in question["forward"] for e in row] + question["values"] + question["activations"] \
        + [e for row in question["given"] for e in row] + ([question["loss"]] if question["loss"] else [])
    assert shown and all(any(equation in block for block in blocks) for equation in shown)
    assert len(question["forward"]) >= 2


@pytest.mark.parametrize("path", ["/a/", "/a/two-layer-relu/x", "/nowhere"])
def test_a_mistyped_link_is_a_page_in_the_students_language(app, path):
    """A link cut short or mistyped is a 404 page in the asked language, not the API's English JSON."""
    response = app.get(f"{path}?token={ANNA}&lang=ru")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    assert "Такой страницы здесь нет" in response.text and '{"error"' not in response.text
    api = app.get("/api/nowhere", headers=bearer(ANNA))
    assert api.status_code == 404 and api.json() == {"error": "Not Found"}


def test_a_huge_unknown_name_is_quoted_cut_short(app, cli, tmp_path):
    """3000 letters, or forty unknown names, in one answer: the feedback quotes a few, each cut short, as
    `derive check` does (the same grader)."""
    answers = {"psi_01": "x" * 3000, "psi_02": " + ".join(f"q{i}" for i in range(40))}
    body = check(app, JAN, answers, lang="pl").json()
    said = {a["key"]: a["feedback"] for a in body["answers"]}
    assert said["psi_01"].startswith("Nieznana nazwa: " + "x" * 24 + "….") and len(said["psi_01"]) < 120
    assert said["psi_02"].startswith("Nieznane nazwy: q0, q1, q2, q3, q4, q5, ….")
    assert without_expected(cli_json(cli, tmp_path, answers, lang="pl", student="Jan Kowalski"))["answers"] == body["answers"]


@pytest.mark.parametrize("lang, typed, shown", [("ru", "2,28", "2{,}28"), ("pl", "-17,06", "-17{,}06"),
                                                ("en", "0.5", "0.5"), ("ru", "1/3", r"\frac{1}{3}")])
def test_a_number_answer_reads_back_as_the_decimal_it_was_written_as(tmp_path, lang, typed, shown):
    """A student types 2,28 for a graph's derivative at its values: the preview reads it back as 2,28 in the
    page's format, not as the exact fraction 57/25 that the checker compares (which looks like a misreading)."""
    config = settings(tmp_path)
    import shutil

    shutil.copy(ROOT / "specs" / "graph-sin-cos-exp.yaml", config.folder)
    with client(config) as app:
        body = {"assignment": "graph-sin-cos-exp", "key": "beta_0", "answer": typed, "lang": lang}
        response = app.post("/api/validate", json=body, headers=bearer(ANNA))
    assert response.json() == {"ok": True, "latex": shown}


def test_a_matrix_answers_preview_writes_the_names_as_the_question_does(tmp_path):
    """In a matrix-form network δ^{[2]} stands for ∂J/∂z^{[2]}: the preview of "delta2 a^T" writes it so, as
    the question's printer does, never as the internal name dJ_dz2 the student has not seen."""
    import shutil

    config = settings(tmp_path)
    shutil.copy(ROOT / "specs" / "mlp-check.yaml", config.folder)
    with client(config) as app:
        body = {"assignment": "mlp-check", "key": "dJ_dW2", "answer": "delta2 a^T", "lang": "en"}
        latex = app.post("/api/validate", json=body, headers=bearer(ANNA)).json()["latex"]
    assert "dJ" not in latex and r"\frac{\partial J}{\partial z^{[2]}}" in latex and "a_1" in latex


def test_a_matrix_form_exercise_says_how_to_write_matrices(tmp_path):
    """A network in matrix form is answered with ^T, ⊙ and matrix products: its page says how to write them
    (in the page's language), a scalar network's page does not; and what the hint says is what the checker reads."""
    import shutil

    from derive.grading.check import Engine

    config = settings(tmp_path)
    shutil.copy(ROOT / "specs" / "mlp-check.yaml", config.folder)
    with client(config) as app:
        matrix = app.get(f"/a/mlp-check?token={ANNA}&lang=ru").text
        scalar = app.get(f"/a/two-layer-relu?token={ANNA}&lang=ru").text
    assert "произведение Адамара" in matrix and "A.T @ B" in matrix
    assert "произведение Адамара" not in scalar
    grader, _ = Engine(str(ROOT / "specs" / "mlp-check.yaml")).grader(None)
    for written in ("(W2^T delta2) ⊙ I[z1>0]", r"(W2^T @ delta2) \odot I[z1>0]", "(W2.T @ delta2) * I[z1>0]"):
        assert grader.check("delta1", written).verdict == "correct", written


@pytest.mark.parametrize("spec, key", [("graph-sin-cos-exp", "beta_0"), ("mlp-check", "delta1"), ("two-layer-relu", "psi_11")])
def test_the_preview_never_disagrees_with_the_check(tmp_path, spec, key):
    """Whatever a student types, the live preview reads it as the check does: an answer the preview calls
    unreadable is `invalid` with the very same message, and one it reads is never `invalid`. (A typo in a
    graph's name once cost a 500 with English text; `formula = number` was refused by the preview alone.)"""
    import shutil

    config = settings(tmp_path)
    shutil.copy(ROOT / "specs" / f"{spec}.yaml", config.folder)
    typed = ["bta_0", "W3 delta2", "hh_1", "((", "2*omega_1 = 2,28", "dl_df_0", "2,28", "g_1 + ", "x" * 300,
             "(W2^T delta2) ⊙ I[z1>0]", "phi_1*I[u_1>0]*h_1", r"\input{/etc/passwd}", "beta_0 = x"]
    with client(config) as app:
        for text in typed:
            preview = app.post("/api/validate", headers=bearer(ANNA),
                               json={"assignment": spec, "key": key, "answer": text, "lang": "pl"})
            assert preview.status_code == 200, (text, preview.text)
            verdict = next(a for a in check(app, ANNA, {key: text}, spec, lang="pl").json()["answers"] if a["key"] == key)
            if preview.json()["ok"]:
                assert verdict["verdict"] != "invalid", (text, verdict)
            else:
                assert verdict["verdict"] == "invalid" and verdict["feedback"] == preview.json()["message"], text


def test_a_one_entry_matrix_answer_is_praised_like_a_scalar_one(tmp_path):
    """δ^[2] of a one-output network has one entry: "Верно: все элементы (их 1) совпадают…" is not Russian;
    it gets the scalar answer's sentence, and a matrix of three entries keeps its own."""
    import shutil

    config = settings(tmp_path)
    shutil.copy(ROOT / "specs" / "mlp-check.yaml", config.folder)
    with client(config) as app:
        body = check(app, ANNA, {"delta2": "y - t", "dJ_dW2": "delta2 a^T"}, "mlp-check", lang="ru").json()
    said = {a["key"]: (a["verdict"], a["feedback"]) for a in body["answers"]}
    assert said["delta2"][0] == "correct" and "их 1)" not in said["delta2"][1]
    assert said["delta2"][1] == "Верно: ответ совпадает с ожидаемой производной во всех контрольных точках (их 240)."
    assert said["dJ_dW2"] == ("correct", "Верно: все элементы (их 3) совпадают с ожидаемыми во всех контрольных "
                                         "точках (их 240).")


def test_how_to_write_answers_comes_before_the_first_answer(app):
    """The notation (and the names one may use) is said before the inputs, where a student starts typing,
    not under the thirteenth input, a few screens down on a phone."""
    page = app.get(f"/a/two-layer-relu?token={ANNA}&lang=pl").text
    hint, first = page.index('class="hint"'), page.index("<input ")
    assert hint < first and "I[z &gt; 0]" in page[hint:first] and "theta_01" in page[hint:first]
