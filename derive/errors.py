"""User-facing errors: values that know their exit code and how to show themselves.

Exit codes (CONTRACT section 1): 1 the work was done and found something
wrong, 2 bad input, 3 a missing external tool.
"""

from __future__ import annotations

from dataclasses import dataclass


class DeriveError(Exception):
    """An error meant for the user: one paragraph, no traceback."""

    exit_code = 2

    def show(self) -> str:
        return str(self)


@dataclass
class Location:
    """Where in an input file something is: 1-based line and column."""

    file: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class SpecError(DeriveError):
    """Bad input: `file:line:column: key.path: what is wrong; what was expected`."""

    def __init__(self, message: str, location: Location | None = None, path: str = ""):
        self.message, self.location, self.path = message, location, path
        super().__init__(self.show())

    def show(self) -> str:
        where = f"{self.location}: " if self.location else ""
        what = f"{self.path}: " if self.path else ""
        return f"{where}{what}{self.message}"


class ToolMissing(DeriveError):
    """An external program is missing; says the command that installs it."""

    exit_code = 3

    def __init__(self, tool: str, install: str):
        self.tool, self.install = tool, install
        super().__init__(f"{tool} is not installed; install it with: {install}")


IMPRECISE = 1e-4  # relative disagreement below which a failed check is lost precision, not a wrong formula


def _close(a: float, b: float) -> bool:
    import math

    scale = max(abs(a), abs(b))
    return math.isfinite(a) and math.isfinite(b) and scale > 0 and abs(a - b) / scale <= IMPRECISE


def _digits(a: float, b: float) -> int:
    import math

    error = abs(a - b) / max(abs(a), abs(b))
    return max(1, int(-math.log10(error))) if error > 0 else 15


class VerificationFailed(DeriveError):
    """A derived formula disagrees with finite differences: never printed, always reported."""

    exit_code = 1

    @classmethod
    def first(cls, file: str, check) -> "DeriveError":
        """The error for the first failure a verification `Check` (derive.harness) found.

        Values that agree to IMPRECISE relative error but not to the check's
        tolerance are not a wrong formula: finite differences lose digits on huge
        or ill-conditioned values (a 40-node n·n + x chain). That is reported as
        input the check cannot handle (exit 2), not as a bug in derive.
        """
        name, analytic, numeric = check.failures[0]
        if _close(analytic, numeric):
            return DeriveError(
                f"{file}: the derived formula for {name} ({analytic:.8g}) agrees with finite differences "
                f"({numeric:.8g}) only to about {_digits(analytic, numeric)} digits, fewer than the check requires: "
                f"the values are too large or the expression too deep to verify reliably, so nothing was printed. "
                f"Make the graph or network smaller, or its values smaller."
            )
        return cls(check.failure_message(file))
