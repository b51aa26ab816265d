"""CSV files a lecturer opens in a spreadsheet: the gradebook and the roster.

A cell that starts like a formula (`=`, `+`, `-`, `@`, tab, carriage return) would be run by the
spreadsheet; it is written with a leading apostrophe (`cell`), which spreadsheets show as text, and
read back without it (`uncell`), so a roster survives the round trip.
"""

from __future__ import annotations

import csv
import io

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_START) else value


def uncell(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


def write(header: list[str], rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([cell(c) for c in row] for row in rows)
    return out.getvalue()


def gradebook(rows, keys: list[str], roster: list[str]) -> str:
    """The columns of `derive check --format csv` (file, student, one per question, score, total) from
    stored submissions; the file is the submission's number; roster students without a submission
    get a row with score 0."""
    for row in rows:
        keys = keys + [v["key"] for v in row.verdicts if v["key"] not in keys]
    lines = []
    for row in rows:
        cells = {v["key"]: v["verdict"] for v in row.verdicts}
        lines.append([f"submission {row.id}", row.student, *(cells.get(k, "") for k in keys), row.score, row.total])
    seen = {row.student for row in rows}
    lines += [["", student, *("" for _ in keys), 0, ""] for student in roster if student not in seen]
    return write(["file", "student", *keys, "score", "total"], lines)
