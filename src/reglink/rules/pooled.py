"""Statistics pooled over every person, computed exactly from parts.

The repairs impute a lost crossing with typical lengths: the person's own, else everyone's
(the median visitor stay, the median resident trip, the register's reporting delay...). When
persons are processed in partitions (a country does not fit in memory at once), "everyone's"
must still mean every person, not the partition's. Each statistic here is a median of whole
days (integers), so a partition contributes its value counts, the counts add up, and the
median of the sum is exactly the median over all persons -- the same figure as one pass over
everything, whatever the partitioning.

A `Tally` holds value counts per statistic (and optional group); `median` and `total` read it.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl

TALLY_SCHEMA = {"stat": pl.String, "group": pl.String, "value": pl.Int64, "n": pl.Int64}


def tally(stat: str, values: pl.DataFrame, value: str, group: str | None = None) -> pl.DataFrame:
    """Value counts of integer column `value` (per `group` column, if given) as tally rows."""
    g = pl.col(group).cast(pl.String) if group else pl.lit(None, pl.String)
    return (values.select(g.alias("group"), pl.col(value).cast(pl.Int64).alias("value"))
            .drop_nulls("value").group_by("group", "value").agg(pl.len().cast(pl.Int64).alias("n"))
            .select(pl.lit(stat).alias("stat"), "group", "value", "n"))


def combine(parts: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Add up the tallies of several partitions."""
    frames = [p for p in parts if p is not None and p.height]
    if not frames:
        return pl.DataFrame(schema=TALLY_SCHEMA)
    return (pl.concat([f.cast(TALLY_SCHEMA) for f in frames])
            .group_by("stat", "group", "value").agg(pl.col("n").sum()).sort("stat", "group", "value"))


def _median_sorted(values: Sequence[int], counts: Sequence[int]) -> float | None:
    """The median of a multiset given as sorted values and their counts (polars' rule: the mean
    of the two middle values when the count is even)."""
    total = sum(counts)
    if total == 0:
        return None
    lo_rank, hi_rank = (total - 1) // 2, total // 2  # 0-based ranks of the middle value(s)
    lo = hi = None
    seen = 0
    for v, c in zip(values, counts):
        if lo is None and seen + c > lo_rank:
            lo = v
        if seen + c > hi_rank:
            hi = v
            break
        seen += c
    return (lo + hi) / 2 if lo != hi else float(lo)


def median(t: pl.DataFrame, stat: str, group: str | None = None) -> float | None:
    """The exact median of `stat` (in `group`) over everything tallied; None without values."""
    rows = t.filter((pl.col("stat") == stat)
                    & (pl.col("group").is_null() if group is None else pl.col("group") == group))
    rows = rows.group_by("value").agg(pl.col("n").sum()).sort("value")
    return _median_sorted(rows["value"].to_list(), rows["n"].to_list())


def count(t: pl.DataFrame, stat: str, group: str | None = None) -> int:
    """How many values of `stat` (in `group`) were tallied."""
    rows = t.filter((pl.col("stat") == stat)
                    & (pl.col("group").is_null() if group is None else pl.col("group") == group))
    return int(rows["n"].sum()) if rows.height else 0


def total(t: pl.DataFrame, stat: str, group: str | None = None) -> int:
    """The sum of the values of `stat` (in `group`)."""
    rows = t.filter((pl.col("stat") == stat)
                    & (pl.col("group").is_null() if group is None else pl.col("group") == group))
    return int((rows["value"] * rows["n"]).sum()) if rows.height else 0


def groups(t: pl.DataFrame, stat: str) -> list[str]:
    """The groups `stat` was tallied in."""
    return sorted(g for g in t.filter(pl.col("stat") == stat)["group"].unique().to_list() if g is not None)
