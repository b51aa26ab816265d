"""Time `derive check SPEC <N files> --format csv` as a whole process (goals: 300 files < 10 s, 3,000 < 60 s on 2 cores).

    python benchmarks/check_class.py [--count 300] [--spec specs/two-layer-relu.yaml] [--jobs N] [--per-answer]

Generates the class with make_answers.py (seed 0) into a temporary folder,
runs the command as a user would, and prints the wall time and the verdict counts.
Works for network specs (scalar and vector view) and scalar graphs.
--per-answer also grades every distinct answer once in this process and prints the
largest and the 99th-percentile CPU time of one answer (goal: at most 1 s).
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
    parser.add_argument("--per-answer", action="store_true", help="also time each distinct answer (CPU)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        paths = write_class(args.spec, args.count, Path(folder))
        command = [sys.executable, "-m", "derive", "check", args.spec, *map(str, paths), "--format", "csv"]
        command += ["--jobs", str(args.jobs)] if args.jobs else []
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        per_answer = cpu_per_answer(args.spec, paths) if args.per_answer else None
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    counts = Counter(v for row in rows for k, v in row.items() if k not in ("file", "student", "score", "total"))
    print(f"{len(rows)} files, {sum(counts.values())} answers, exit {proc.returncode}: {elapsed:.2f} s")
    print(", ".join(f"{k} {n}" for k, n in counts.most_common()))
    if per_answer:
        times = sorted(per_answer)
        print(f"CPU per distinct answer ({len(times)}): max {times[-1] * 1000:.0f} ms, "
              f"99th percentile {times[int(0.99 * (len(times) - 1))] * 1000:.0f} ms")


def cpu_per_answer(spec: str, paths) -> list[float]:
    """CPU seconds of grading each distinct (key, answer) once, with a fresh memo."""
    import yaml

    from derive.grading.check import Engine

    grader, _ = Engine(spec).grader(None)
    seen, times = set(), []
    for path in paths:
        for key, text in (yaml.safe_load(Path(path).read_text(encoding="utf-8")).get("answers") or {}).items():
            if (key, str(text)) in seen:
                continue
            seen.add((key, str(text)))
            start = time.process_time()
            grader.check(key, text)
            times.append(time.process_time() - start)
    return times


if __name__ == "__main__":
    main()
