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


class VerificationFailed(DeriveError):
    """A derived formula disagrees with finite differences: never printed, always reported."""

    exit_code = 1

    @classmethod
    def first(cls, file: str, check) -> "VerificationFailed":
        """The error for the first failure a verification `Check` (derive.harness) found."""
        return cls(check.failure_message(file))
