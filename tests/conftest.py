"""Shared helpers: the example specs, running the CLI in-process and as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
SEEDS = Path(__file__).resolve().parent / "seeds"
LANGS = ("ru", "en", "pl")
IN_CI = os.environ.get("CI") == "true"

# CI's verdict must not depend on luck: there every property test draws the same examples on every run
# (a failure found while developing is still found at random and kept in .hypothesis/).
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if IN_CI:
    _hypothesis_settings.load_profile("ci")


def network_specs():
    import yaml

    return [p for p in SPECS if yaml.safe_load(p.read_text(encoding="utf-8")).get("kind", "network") == "network"]


@pytest.fixture
def cli():
    """Run `derive ARGS` in-process; returns click's Result (exit_code, stdout, stderr)."""
    from derive.cli import main

    def invoke(*args):
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    return invoke


WORK_REPORT = r"""
import atexit, gc, json, sys, runpy
def report():
    watched = {name: name in sys.modules for name in WATCH}
    print(json.dumps({"modules": watched, "frozen": gc.get_freeze_count(), "enabled": gc.isenabled()}),
          file=sys.stderr)
atexit.register(report)
sys.argv = ["derive", *ARGS]
runpy.run_module("derive", run_name="__main__")
"""


def work_imports(watch: list[str], *args) -> dict:
    """What a fresh `derive ARGS` process, doing the work in itself (DERIVE_UNBOUNDED, where atexit sees it),
    had imported of `watch` at its end ({"modules": {name: bool}}), and its collector's state ("frozen",
    "enabled")."""
    code = WORK_REPORT.replace("WATCH", repr(list(watch))).replace("ARGS", repr([str(a) for a in args]))
    env = {**os.environ, "DERIVE_UNBOUNDED": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stderr.strip().splitlines()[-1])


def run_process(*args, cwd=ROOT, timeout=120):
    """Run `python -m derive ARGS` as a real process (exit codes, stderr, no traceback)."""
    return subprocess.run(
        [sys.executable, "-m", "derive", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=timeout,
    )


@pytest.fixture(scope="session")
def lectures() -> dict:
    """(spec stem, lang) -> the Markdown of every example spec in every language (made once a session)."""
    from derive.pipeline import Options, derive_spec, render

    out = {}
    for spec in SPECS:
        result = derive_spec(spec, Options())
        for lang in LANGS:
            out[spec.stem, lang] = render(result, "md", lang, Options())
    return out
