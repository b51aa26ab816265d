"""Time `derive check SPEC <N files> --format csv` as a whole process (goal: 300 files < 30 s on 2 cores).

    python benchmarks/check_class.py [--count 300] [--spec specs/two-layer-relu.yaml] [--jobs N]

Generates the class with make_answers.py (seed 0) into a temporary folder,
runs the command as a user would, and prints the wall time and the verdict counts.
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_answers import write_class  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--spec", default="specs/two-layer-relu.yaml")
    parser.add_argument("--jobs", type=int)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = write_class(args.spec, args.count, Path(folder))
        command = [sys.executable, "-m", "derive", "check", args.spec, *map(str, paths), "--format", "csv"]
        command += ["--jobs", str(args.jobs)] if args.jobs else []
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    counts = Counter(v for row in rows for k, v in row.items() if k not in ("file", "student", "score", "total"))
    print(f"{len(rows)} files, {sum(counts.values())} answers, exit {proc.returncode}: {elapsed:.2f} s")
    print(", ".join(f"{k} {n}" for k, n in counts.most_common()))


if __name__ == "__main__":
    main()
