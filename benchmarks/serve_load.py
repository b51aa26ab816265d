"""Load on `derive serve`: 20 students submitting at once, then a steady 1,000 submissions a minute.

    python benchmarks/serve_load.py [--students 20] [--burst 600] [--rate 1000] [--seconds 300]
                                    [--db URL] [--workers 0]

Starts `derive serve` as a real process on 127.0.0.1 (traffic goes nowhere else) with the seed-000
network (specs/two-layer-relu.yaml) and a roster of --students, then:

1. burst: every student submits --burst/students full answer sheets back to back (13 answers each,
   benchmarks/make_answers.py's mix: ~60 % correct in several forms, 25 % a typical mistake, 8 %
   invalid or hostile, 7 % missing); prints p50/p95/max latency of one check (one POST /api/check,
   a whole sheet graded and stored) and the throughput in checks per second;
2. steady: --rate submissions a minute spread over the students for --seconds; then counts the rows
   in the database per student against the 200 responses: nothing lost, nothing duplicated.

Prints a Markdown table. The default database is a fresh SQLite file; --db postgresql://… for a server.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SPEC = ROOT / "specs" / "two-layer-relu.yaml"
ASSIGNMENT = SPEC.stem


def sheets(count: int, seed: int = 0) -> list[dict]:
    """count answer sheets {key: text} of the seed-000 network, in make_answers.py's realistic mix."""
    from make_answers import answer

    from derive.grading.check import Engine

    grader, asked = Engine(str(SPEC)).grader(None)
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        sheet = {key: answer(rng, grader, grader.expected[key]) for key in asked}
        out.append({k: v for k, v in sheet.items() if v is not None})
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, db: str, roster: Path, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "derive", "serve", str(folder), "--port", str(port), "--db", db,
               "--roster", str(roster), "--rate-limit", "0", "--workers", str(workers)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"derive serve exited: {process.stderr.read()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("derive serve did not start")


class Student:
    def __init__(self, url: str, token: str):
        self.http = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {token}"})
        self.ok = 0
        self.failed: Counter = Counter()

    def submit(self, answers: dict) -> float:
        start = time.perf_counter()
        response = self.http.post("/api/check", json={"assignment": ASSIGNMENT, "answers": answers})
        elapsed = time.perf_counter() - start
        if response.status_code == 200:
            self.ok += 1
        else:
            self.failed[response.status_code] += 1
        return elapsed


def burst(students: list[Student], work: list[dict]) -> tuple[list[float], float]:
    """Every student submits its share back to back; (latencies, wall seconds)."""
    shares = [work[i::len(students)] for i in range(len(students))]
    start = time.perf_counter()
    with ThreadPoolExecutor(len(students)) as pool:
        results = pool.map(lambda pair: [pair[0].submit(a) for a in pair[1]], zip(students, shares))
        latencies = [t for batch in results for t in batch]
    return latencies, time.perf_counter() - start


def steady(students: list[Student], work: list[dict], per_minute: int, seconds: float) -> tuple[list[float], int]:
    """per_minute submissions a minute, each student on its own clock; (latencies, submissions sent)."""
    interval = 60.0 * len(students) / per_minute
    latencies: list[float] = []
    sent = [0]
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def run(index: int, student: Student):
        rng = random.Random(index)
        next_time = time.monotonic() + interval * index / len(students)
        while next_time < end:
            time.sleep(max(0.0, next_time - time.monotonic()))
            elapsed = student.submit(rng.choice(work))
            with lock:
                latencies.append(elapsed)
                sent[0] += 1
            next_time += interval

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(students)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, sent[0]


def stored_per_student(db: str) -> Counter:
    from sqlalchemy import create_engine, text

    engine = create_engine(db)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT student, count(*) FROM submissions GROUP BY student")).all()
    engine.dispose()
    return Counter(dict(rows))


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--burst", type=int, default=600, help="submissions in the burst phase")
    parser.add_argument("--rate", type=int, default=1000, help="submissions a minute in the steady phase")
    parser.add_argument("--seconds", type=float, default=300, help="length of the steady phase")
    parser.add_argument("--db", help="SQLAlchemy URL (default: a fresh SQLite file)")
    parser.add_argument("--workers", type=int, default=0, help="derive serve --workers (0: one per CPU)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="derive-serve-load-"))
    folder = tmp / "specs"
    folder.mkdir()
    (folder / SPEC.name).write_bytes(SPEC.read_bytes())
    tokens = {f"student-{i:02d}": os.urandom(16).hex() for i in range(args.students)}
    roster = tmp / "roster.csv"
    roster.write_text("student,token\n" + "".join(f"{n},{t}\n" for n, t in tokens.items()), encoding="utf-8")
    db = args.db or f"sqlite:///{tmp / 'derive.db'}"
    work = sheets(max(args.burst, 200))

    process, url = start_server(folder, db, roster, args.workers)
    try:
        students = [Student(url, token) for token in tokens.values()]
        for s in students[:2]:  # warm-up: each worker's first check builds its caches
            s.submit(work[0])
        latencies, wall = burst(students, work[: args.burst])
        steady_latencies, sent = steady(students, work, args.rate, args.seconds)
    finally:
        process.terminate()
        process.wait(30)
    stored = stored_per_student(db)
    answered = {name: s.ok for name, s in zip(tokens, students)}
    failed = sum((s.failed for s in students), Counter())
    lost = sum(max(0, answered[n] - stored.get(n, 0)) for n in tokens)
    extra = sum(max(0, stored.get(n, 0) - answered[n]) for n in tokens)

    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"database {db.split(':', 1)[0]}; {args.students} students; one check = one sheet of 13 answers")
    print()
    print("| phase | checks | p50 ms | p95 ms | max ms | checks/s |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| burst ({args.students} at once) | {len(latencies)} | {percentile(latencies, 50) * 1000:.0f} | "
          f"{percentile(latencies, 95) * 1000:.0f} | {max(latencies) * 1000:.0f} | {len(latencies) / wall:.1f} |")
    print(f"| steady {args.rate}/min for {args.seconds:.0f} s | {sent} | {percentile(steady_latencies, 50) * 1000:.0f} | "
          f"{percentile(steady_latencies, 95) * 1000:.0f} | {max(steady_latencies) * 1000:.0f} | "
          f"{sent / args.seconds:.1f} |")
    print()
    print(f"Answered 200: {sum(answered.values())}; other statuses: {dict(failed) or 'none'}; "
          f"stored: {sum(stored.values())}; lost: {lost}; duplicated: {extra}")


if __name__ == "__main__":
    main()
