"""The verification harness every kind checks its formulas with.

One tolerance policy, one result type, one failure wording, one JSON shape:

- a formula's value a and its reference b (finite differences, or another
  form of the same formula) agree when |a − b| ≤ tol · max(1, |a|, |b|):
  relative for values above 1, absolute below, so that values near 0 do not
  fail on rounding. tol depends only on the arithmetic of the reference:
  FLOAT for float64 central differences with step STEP, PRECISE for 40-digit
  ones (derive.precise);
- test points are drawn until every kink argument (relu's z, |y − t|'s
  y − t, …: derive.functions.kink_arguments) is at least KINK_MARGIN from 0;
- `Check` counts points and formulas and keeps the worst error and every
  failure; `failure_message` words the first one; `as_json` is the shape of
  `verification` in every kind's JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

FLOAT = 1e-5  # float64 central differences, step 1e-6: truncation and rounding stay far below
PRECISE = 1e-9  # 40-digit central differences (derive.precise)
STEP = 1e-6
KINK_MARGIN = 1e-3
MAX_DRAWS = 300


def scaled_error(a, b) -> float:
    """|a − b| / max(1, |a|, |b|): the quantity the tolerance bounds (arrays: the largest entry's)."""
    if hasattr(a, "shape") or hasattr(b, "shape"):
        import numpy as np

        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        return float(np.max(np.abs(a - b) / np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))))
    return float(abs(a - b) / max(1, abs(a), abs(b)))


@dataclass
class Check:
    """What verification did: how many formulas at how many points, and the worst disagreement."""

    points: int = 0
    formulas: int = 0
    max_error: float = 0.0
    failures: list[tuple[str, float, float]] = field(default_factory=list)
    tolerance: float = FLOAT

    @property
    def ok(self) -> bool:
        return not self.failures

    def compare(self, name: str, analytic, numeric) -> None:
        """One formula's value against its reference."""
        self.record(name, scaled_error(analytic, numeric), analytic, numeric)

    def record(self, name: str, error: float, analytic, numeric) -> None:
        """Count one comparison; beyond the tolerance it is a failure that keeps both values."""
        self.formulas += 1
        self.max_error = max(self.max_error, error)
        if not error <= self.tolerance:
            self.failures.append((name, float(analytic), float(numeric)))

    def record_error(self, name: str, error: float) -> None:
        """A comparison of whole arrays or matrices, known by its largest scaled error only."""
        self.record(name, error, float("nan"), float("nan"))

    def failure_message(self, file: str) -> str:
        """The one wording of a failed verification (its first failure)."""
        name, analytic, numeric = self.failures[0]
        if analytic != analytic:  # nan: only the error is known
            gives = f"disagrees with finite differences (relative difference {self.max_error:.3g})"
        else:
            gives = f"gives {analytic:.6g} but finite differences give {numeric:.6g}"
        return (f"{file}: the derived formula for {name} {gives}; nothing was printed. "
                "This is a bug in derive: please report it with the spec.")

    def as_json(self) -> dict:
        """`verification` in every kind's JSON."""
        return {"verified": self.ok, "points": self.points, "formulas": self.formulas,
                "max_relative_error": float(self.max_error), "tolerance": self.tolerance}


def away_from_kinks(draw: Callable[[], object], kinks: Callable[[object], list[float]],
                    margin: float = KINK_MARGIN, tries: int = MAX_DRAWS):
    """The first point from draw() whose kink arguments (kinks(point); None: unusable) are all ≥ margin from 0."""
    for _ in range(tries):
        point = draw()
        values = kinks(point)
        if values is not None and all(abs(v) > margin for v in values):
            return point
    raise RuntimeError("no random point away from the kinks and inside the domain was found")


def central_difference(f: Callable[[float], float], x: float, step: float = STEP) -> float:
    """(f(x + h) − f(x − h)) / 2h in float64."""
    return (f(x + step) - f(x - step)) / (2 * step)


def from_errors(errors: list[tuple[str, float]], tolerance: float = FLOAT) -> Check:
    """A Check of comparisons known by their scaled errors only (whole matrices, claims of a lecture)."""
    check = Check(points=1, tolerance=tolerance)
    for name, error in errors:
        check.record_error(name, error)
    return check
