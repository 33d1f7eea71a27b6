"""Per-person work in partitions of persons, sized by the run's memory budget.

The repair of crossing sequences, the placement of imputed crossings from register evidence and
the residence rule look at one person's crossings at a time, but run as polars frames over many
persons at once (set-based, fast). A country's crossings with their attributes do not fit in
memory at once (13.8 million crossings of 1 million persons took over 24 GB), so the persons are
split by a hash of `person_key` into as many partitions as the budget requires, and each
partition goes through the same functions. Statistics pooled over everyone (typical stays,
delays) are tallied over all partitions first (`reglink.rules.pooled`), so the figures do not
depend on the number of partitions.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from reglink.config import Budget

# Peak bytes of Python memory per crossing in the repair/evidence/rule steps, with the dozen
# attribute columns the tables carry: measured 1.6 KB at 100,000 persons (one partition of
# 1.35 M crossings), with a margin for the allocators' slack (docs/operations.md, "Resources")
BYTES_PER_CROSSING = 2000


@dataclass(frozen=True)
class Partitions:
    """`n` partitions of persons by a hash of the person key (DuckDB's `hash`, stable)."""

    n: int = 1

    @classmethod
    def plan(cls, rows: int, budget: Budget | None, bytes_per_row: int = BYTES_PER_CROSSING,
             at_least: int = 1) -> "Partitions":
        """Enough partitions that one partition's rows fit the budget's share for frames."""
        if budget is None:
            return cls(max(1, at_least))
        return cls(max(at_least, math.ceil(rows * bytes_per_row / max(budget.frame_bytes, 1)), 1))

    def where(self, i: int, column: str = "person_key") -> str:
        """SQL condition selecting partition i (TRUE with one partition)."""
        if self.n == 1:
            return "TRUE"
        return f"hash({column}) % {self.n} = {i}"

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.n))
