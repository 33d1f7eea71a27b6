"""Continuous mode: stays (and absences) merged across short breaks — gaps and islands.

For an ENTRY on day t the stay that starts on t must last at least N days without a break; an
absence of at most A days does not break it and counts towards N (docs/reference.md#residence-rules). So
a person's presence spells (ENTRY a → next crossing b: days a … b−1) are merged into islands
whenever the absence between two spells is ≤ A days; the stay of an ENTRY on day t is the part
of its island from t to the island's end. EXITs are the mirror image: absence spells merged
across visits of ≤ A days. One window pass and one as-of join per direction, no per-person loop.

Censoring at U (`observed_until`): the person's last island may still grow when the absence (or
visit) after it has lasted ≤ A days up to U — a return by U+… could still bridge it.
"""
from __future__ import annotations

import polars as pl

from reglink.rules.windows import key, presence_at


def _islands(lf: pl.LazyFrame, direction: str, max_gap: int, u1: int) -> pl.LazyFrame:
    """Islands of spells opened by `direction`: `_k` (person, start), `_i_end`, `_i_open`."""
    spells = (
        lf.filter((pl.col("direction") == direction) & (pl.col("_next_cd") > pl.col("_cd")))
        .select("_pidx", pl.col("_cd").alias("_s"), pl.col("_next_cd").alias("_e"))
        .with_columns(pl.when(pl.col("_pidx") == pl.col("_pidx").shift(1))
                      .then(pl.col("_e").shift(1)).alias("_prev_e"))
        .with_columns((pl.col("_prev_e").is_null() | (pl.col("_s") - pl.col("_prev_e") > max_gap))
                      .cast(pl.Int64).cum_sum().alias("_isl"))
    )
    return (
        # spells are in order, so an island's first spell has its start, its last spell its end
        spells.with_columns(pl.when((pl.col("_isl") != pl.col("_isl").shift(1)).fill_null(True))
                            .then(pl.col("_s"))
                            .forward_fill().alias("_i_start"))
        .filter((pl.col("_isl") != pl.col("_isl").shift(-1)).fill_null(True))
        .rename({"_e": "_i_end"})
        .with_columns((pl.col("_pidx") != pl.col("_pidx").shift(-1)).fill_null(True).alias("_last"))
        .select(key(pl.col("_pidx"), pl.col("_i_start")).alias("_k"), "_i_end",
                pl.col("_pidx").alias("_i_pidx"),
                (pl.col("_last") & (pl.lit(u1) - pl.col("_i_end") <= max_gap)).alias("_i_open"))
        .set_sorted("_k")
    )


def continuous(lf: pl.LazyFrame, threshold: int, max_gap: int, u1: int,
               majority: bool = True) -> pl.LazyFrame:
    """Add `days_observed`, `days_counted` (known length of the stay/absence from t, breaks of
    ≤ A days included), `days_in`/`days_out` (in the stay's first N days t … t+N−1), `_yes`
    (≥ N days: final) and `_no` (the island is closed short of N, or — with `majority` — the
    person spent at least half of t … t+N−1 on the other side: see docs/methods.md)."""
    lf = presence_at(lf.with_columns(pl.min_horizontal(pl.col("_day") + threshold, pl.lit(u1))
                                     .alias("_endN")), "_endN", "_P_endN")
    lf = lf.with_columns((pl.col("_P_endN") - pl.col("_P")).alias("days_in"),
                         (pl.col("_endN") - pl.col("_cd")).clip(lower_bound=0).alias("_obsN"))
    lf = lf.with_columns((pl.col("_obsN") - pl.col("days_in")).alias("days_out"))
    lf = lf.with_columns(key(pl.col("_pidx"), pl.col("_cd")).alias("_k")).set_sorted("_k")
    parts = {}
    for direction in ("ENTRY", "EXIT"):
        isl = _islands(lf, direction, max_gap, u1)
        parts[direction] = (
            lf.select("_pidx", "_k").join_asof(isl, on="_k", strategy="backward",
                                                check_sortedness=False)
            # the composite key can reach back into the previous person's islands: drop those
            .select(pl.when(pl.col("_i_pidx") == pl.col("_pidx")).then(pl.col("_i_end"))
                    .alias(f"_end_{direction}"),
                    pl.when(pl.col("_i_pidx") == pl.col("_pidx")).then(pl.col("_i_open"))
                    .alias(f"_open_{direction}"))
        )
    lf = pl.concat([lf, parts["ENTRY"], parts["EXIT"]], how="horizontal")
    entry = pl.col("direction") == "ENTRY"
    end = pl.when(entry).then(pl.col("_end_ENTRY")).otherwise(pl.col("_end_EXIT"))
    is_open = pl.when(entry).then(pl.col("_open_ENTRY")).otherwise(pl.col("_open_EXIT"))
    beyond = pl.col("_day") >= u1
    on_side = pl.when(entry).then(pl.col("days_in")).otherwise(pl.col("days_out"))
    other_side = pl.col("_obsN") - on_side
    most = (2 * on_side > threshold) if majority else pl.lit(True)
    lost = (2 * other_side >= threshold) if majority else pl.lit(False)
    return (
        lf.with_columns((end - pl.col("_cd")).clip(lower_bound=0).fill_null(0).alias("days_counted"),
                        is_open.fill_null(False).alias("_open"),
                        (pl.lit(u1) - pl.col("_cd")).alias("days_observed"))
        .with_columns(((pl.col("days_counted") >= threshold) & most).alias("_yes"))
        .with_columns((~pl.col("_yes") & ((~pl.col("_open") & ~beyond) | lost)).alias("_no"))
        .drop("_k", "_end_ENTRY", "_end_EXIT", "_open_ENTRY", "_open_EXIT", "_open", "_endN",
              "_P_endN", "_obsN")
    )
