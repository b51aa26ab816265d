"""Helpers of the derive serve tests: a folder of assignments, a roster, the app in-process, the
server as a real process (`derive serve`), and a fresh database on the real PostgreSQL that
.ci/run starts (DERIVE_TEST_POSTGRES_URL; missing under CI=true is a failure, not a skip)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest

from conftest import IN_CI, ROOT

ADMIN = "lecturer-secret-token-0123456789"
STUDENTS = {
    "Anna Ivanova": "anna-token-aaaaaaaaaaaaaaaa",
    "Jan Kowalski": "jan-token-bbbbbbbbbbbbbbbbbb",
    "=HYPERLINK(\"http://x\")": "evil-token-cccccccccccccccc",
}
ASSIGNMENTS = ("two-layer-relu", "sigmoid-bce")


def assignments(folder) -> str:
    """A folder with the example specs two-layer-relu and sigmoid-bce (and one kind the checker refuses)."""
    folder.mkdir(exist_ok=True)
    for name in (*ASSIGNMENTS, "graph-add-mul"):
        shutil.copy(ROOT / "specs" / f"{name}.yaml", folder / f"{name}.yaml")
    return str(folder)


def roster_file(path) -> str:
    lines = ["student,token"] + [f'"{name.replace(chr(34), chr(34) * 2)}",{token}' for name, token in STUDENTS.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def settings(tmp_path, db: str | None = None, **overrides):
    from derive.web.app import Settings

    return Settings(folder=assignments(tmp_path / "specs"), db=db or f"sqlite:///{tmp_path / 'derive.db'}",
                    roster={token: name for name, token in STUDENTS.items()}, admin_token=ADMIN,
                    workers=1, **overrides)


@contextlib.contextmanager
def client(config):
    """The app in-process (lifespan run: database migrated, workers forked) and an httpx TestClient."""
    from starlette.testclient import TestClient

    from derive.web.app import create_app

    with TestClient(create_app(config)) as test_client:
        yield test_client


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(folder: str, db: str, *options, roster: str | None = None, workers: int = 1):
    """`derive serve` as a real process on a free port of 127.0.0.1; yields its base URL."""
    port = free_port()
    args = [sys.executable, "-m", "derive", "serve", folder, "--port", str(port), "--db", db,
            "--workers", str(workers), *options] + (["--roster", roster] if roster else [])
    env = {**os.environ, "DERIVE_ADMIN_TOKEN": ADMIN}
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait(url: str, process, seconds: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"derive serve exited with {process.returncode}: {process.stderr.read()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("derive serve did not answer /healthz within a minute")


def postgres_server_url() -> str:
    """The PostgreSQL that .ci/run started; without it the test skips locally and fails in CI."""
    url = os.environ.get("DERIVE_TEST_POSTGRES_URL")
    if not url:
        message = "DERIVE_TEST_POSTGRES_URL is not set (.ci/run starts PostgreSQL and sets it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return url


@contextlib.contextmanager
def fresh_database():
    """A new, empty database on the test PostgreSQL server (dropped afterwards); yields its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(postgres_server_url())
    name = f"derive_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
