"""Errors that reach the user as one clear line each (file, row, column), never a traceback."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Problem:
    """One problem in an input: where it is and what is wrong."""

    file: str
    message: str
    row: int | None = None  # 1-based data row (the header is row 0)
    column: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f": row {self.row}"
        if self.column is not None:
            where += f": column {self.column}"
        return f"{where}: {self.message}"


class ReglinkError(Exception):
    """A data problem (exit code 1). Carries one or more Problems, printed one per line."""

    def __init__(self, *problems: Problem | str) -> None:
        self.problems = [p if isinstance(p, Problem) else Problem("reglink", p) for p in problems]
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(Exception):
    """Wrong usage (exit code 2): an unknown source, a bad option value."""
