"""`derive serve FOLDER` (the web checker, CONTRACT section 8) and `derive roster NAMES` (its tokens).

The roster is a CSV with the header `student,token`; `derive roster` writes one (keeping the tokens of
names already in it, so links sent earlier stay valid) and prints each student's link.
"""

from __future__ import annotations

import csv
import os
import secrets


import click

from derive.cli import run
from derive.errors import DeriveError, Location, SpecError
from derive.web import sheets

ROSTER_HEADER = ["student", "token"]
TOKEN_BYTES = 18  # 24 URL-safe characters


def read_roster(path: str) -> dict[str, str]:
    """token -> student from a CSV `student,token` (SpecError naming the line of any problem)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise SpecError(f"cannot read the roster: {exc.strerror}", Location(path)) from None
    if not rows or [c.strip() for c in rows[0]] != ROSTER_HEADER:
        raise SpecError("the first line must be the header `student,token`", Location(path, 1, 1))
    roster: dict[str, str] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != 2 or not row[0].strip() or len(row[1].strip()) < 16:
            raise SpecError("expected `name,token` with a token of at least 16 characters", Location(path, number, 1))
        student, token = sheets.uncell(row[0].strip()), row[1].strip()
        if token in roster:
            raise SpecError(f"this token is also {roster[token]!r}'s", Location(path, number, len(row[0]) + 2))
        roster[token] = student
    return roster


@click.command("serve")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--db", default="sqlite:///derive.db", show_default=True,
              help="SQLAlchemy URL of the database: sqlite:///file.db, or postgresql://user:pass@host/name "
                   "for several instances sharing one database.")
@click.option("--roster", type=click.Path(dir_okay=False), help="CSV `student,token` (see `derive roster`).")
@click.option("--show-expected", is_flag=True, help="Send the expected formula with each verdict.")
@click.option("--variants", is_flag=True, help="Each student gets their own variant of every assignment "
                                                "(as `derive quiz --seed`), fixed by their name.")
@click.option("--gradebook", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Which submission of each student the gradebook and the class summary count.")
@click.option("--workers", type=click.IntRange(0, 64), default=0, help="Checking processes (default: one per CPU).")
@click.option("--rate-limit", type=click.IntRange(0, 100000), default=30, show_default=True,
              help="Checks per student per minute (0: no limit).")
def serve(folder, host, port, db, roster, show_expected, variants, gradebook, workers, rate_limit) -> None:
    """Serve the specs in FOLDER as assignments students check their answers against in a browser.

    The lecturer's token is read from the environment variable DERIVE_ADMIN_TOKEN.

    \b
    Examples:
      DERIVE_ADMIN_TOKEN=… derive serve specs/ --roster roster.csv
      derive serve specs/ --roster roster.csv --db postgresql://derive@db/derive --host 0.0.0.0
    """
    run(lambda: _serve(folder, host, port, db, roster, show_expected, variants, gradebook, workers, rate_limit))


def _serve(folder, host, port, db, roster, show_expected, variants, gradebook, workers, rate_limit) -> None:
    import uvicorn

    from derive.web.app import Settings, create_app

    if not os.path.isdir(folder):
        raise SpecError("expected a folder of specs", Location(folder))
    settings = Settings(folder=folder, db=db, roster=read_roster(roster) if roster else {},
                        admin_token=os.environ.get("DERIVE_ADMIN_TOKEN") or None, show_expected=show_expected,
                        variants=variants, gradebook=gradebook, workers=workers, rate_limit=rate_limit)
    app = create_app(settings)
    server = app.state.server
    for reason in server.skipped:
        click.echo(f"derive serve: not served: {reason}", err=True)
    if not server.assignments:
        raise DeriveError(f"{folder}: no spec there can be checked, so there is nothing to serve")
    _check_address(host, port)
    if not settings.roster and not settings.admin_token:
        click.echo("derive serve: no --roster and no DERIVE_ADMIN_TOKEN: nobody can submit answers", err=True)
    try:
        server.start()  # the database and the workers before the server: a bad --db is reported here
    except Exception as exc:  # noqa: BLE001 - a database that cannot be reached is the user's input
        raise DeriveError(f"--db {_hidden(db)}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    click.echo(f"derive serve: http://{host}:{port}/ serves {', '.join(server.assignments)}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)


def _check_address(host: str, port: int) -> None:
    """A port in use or a host that is not this machine's is a bad option (exit 2), said before starting."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError as exc:
        raise DeriveError(f"--host {host} --port {port}: cannot listen there: {exc.strerror or exc}") from None


def _hidden(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "(the URL)"


@click.command("roster")
@click.argument("names", type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--output", default="roster.csv", show_default=True, type=click.Path(dir_okay=False),
              help="The roster CSV to write (tokens of names already in it are kept).")
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="The server's address, for the links.")
def roster(names: str, output: str, url: str) -> None:
    """Give each student in NAMES (one name a line) a secret token; write the roster CSV for
    `derive serve --roster` and print each student's link (name, tab, link).

    \b
    Example:
      derive roster class.txt -o roster.csv --url https://derive.example.edu
    """
    run(lambda: _roster(names, output, url))


def _roster(names_path: str, output: str, url: str) -> None:
    from derive.cli import _write_atomic

    names = _names(names_path)
    if not names:
        raise SpecError("no names: expected one student's name a line", Location(names_path))
    kept = {student: token for token, student in read_roster(output).items()} if os.path.exists(output) else {}
    tokens = {name: kept.get(name) or secrets.token_urlsafe(TOKEN_BYTES) for name in names}
    _write_atomic(output, _csv(tokens))
    for name, token in tokens.items():
        click.echo(f"{name}\t{url.rstrip('/')}/?token={token}")
    click.echo(f"derive roster: {len(tokens)} students written to {output}", err=True)


def _names(path: str) -> list[str]:
    """One name a line (blank lines and # comments skipped, repeats once); a name with a control
    character (a tab, an escape sequence) is refused with its line, since it would reach a terminal."""
    import unicodedata

    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as exc:
        raise SpecError(f"not UTF-8 text ({exc.reason})", Location(path)) from None
    names = []
    for number, line in enumerate(lines, start=1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        bad = next((i for i, c in enumerate(line) if unicodedata.category(c) == "Cc"), None)
        if bad is not None:
            raise SpecError("a name may not contain control characters (tabs, escapes)", Location(path, number, bad + 1))
        names.append(name)
    return list(dict.fromkeys(names))


def _csv(tokens: dict[str, str]) -> str:
    return sheets.write(ROSTER_HEADER, tokens.items())
