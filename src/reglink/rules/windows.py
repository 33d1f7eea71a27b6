"""Cumulative mode: days in and out of the country in each crossing's window, set-based.

Days present up to day x, P(x), is a step-linear function of a person's presence spells: an
ENTRY on day a followed by the next crossing on day b makes the person present on a … b−1
(entry day in, exit day out; same day: 0 days). With P known at every crossing (a running sum),
P at the window end t+W is one backward as-of join on a composite (person, day) key — no
pairwise self-join, O(n log n) for a commuter with thousands of crossings as for a tourist.

Days after `observed_until` (U) are unknown: every window is clipped to t … min(t+W−1, U).
"""
from __future__ import annotations

import polars as pl

from reglink.rules.ordering import DAY_BITS, DAY_OFFSET, seg_cum_sum


def key(person: pl.Expr, day: pl.Expr) -> pl.Expr:
    """One sortable Int64 for (person, day), so as-of joins need no `by` groups."""
    return person * (1 << DAY_BITS) + day + DAY_OFFSET


def add_spells(lf: pl.LazyFrame, u1: int) -> pl.LazyFrame:
    """On ordered crossings: `_cd` (day clipped to U+1), `_next_cd` (next crossing's, or U+1),
    `_P` (days present before the crossing's day, from the person's first crossing)."""
    entry = pl.col("direction") == "ENTRY"
    return (
        lf.with_columns(pl.min_horizontal(pl.col("_day"), pl.lit(u1)).alias("_cd"))
        .with_columns(pl.when(pl.col("_last")).then(u1).otherwise(pl.col("_cd").shift(-1))
                      .alias("_next_cd"))
        .with_columns(pl.when(entry).then(pl.col("_next_cd") - pl.col("_cd")).otherwise(0)
                      .alias("_in_len"))
        .with_columns((seg_cum_sum(pl.col("_in_len")) - pl.col("_in_len")).alias("_P"))
    )


def presence_at(lf: pl.LazyFrame, at: str, out: str) -> pl.LazyFrame:
    """Add column `out` = P(day in column `at`) for each row (`at` ≥ the row's `_cd`)."""
    right = (
        lf.select("_pidx", "_cd", "_P", "direction")
        .with_columns(key(pl.col("_pidx"), pl.col("_cd")).alias("_k"))
        # the last crossing of a (person, day) decides where the person is after that day
        .filter(pl.col("_k") != pl.col("_k").shift(-1).fill_null(-1))
        .select("_k", pl.col("_cd").alias("_r_cd"), pl.col("_P").alias("_r_P"),
                (pl.col("direction") == "ENTRY").alias("_r_in"))
        .set_sorted("_k")
    )
    left = lf.with_columns(key(pl.col("_pidx"), pl.col(at)).alias("_k")).set_sorted("_k")
    return (
        left.join_asof(right, on="_k", strategy="backward", check_sortedness=False)
        .with_columns((pl.col("_r_P") + pl.when(pl.col("_r_in")).then(pl.col(at) - pl.col("_r_cd"))
                       .otherwise(0)).alias(out))
        .drop("_k", "_r_cd", "_r_P", "_r_in")
    )


def cumulative(lf: pl.LazyFrame, window: int, threshold: int, u1: int) -> pl.LazyFrame:
    """Add `days_observed`, `days_in`, `days_out`, `days_counted` (days on the side the crossing
    moves to), `_yes` (≥ N days already: qualifies, final) and `_no` (> W−N days on the other
    side already: cannot qualify, final)."""
    lf = add_spells(lf, u1).with_columns(
        pl.min_horizontal(pl.col("_day") + window, pl.lit(u1)).alias("_end"))
    lf = presence_at(lf, "_end", "_P_end")
    entry = pl.col("direction") == "ENTRY"
    return (
        lf.with_columns((pl.col("_end") - pl.col("_cd")).clip(lower_bound=0).alias("days_observed"),
                        (pl.col("_P_end") - pl.col("_P")).alias("days_in"))
        .with_columns((pl.col("days_observed") - pl.col("days_in")).alias("days_out"))
        .with_columns(pl.when(entry).then(pl.col("days_in")).otherwise(pl.col("days_out"))
                      .alias("days_counted"))
        .with_columns((pl.col("days_counted") >= threshold).alias("_yes"),
                      (pl.col("days_observed") - pl.col("days_counted") > window - threshold)
                      .alias("_no"))
        .drop("_end", "_P_end")
    )
