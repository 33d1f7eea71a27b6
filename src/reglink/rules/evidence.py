"""Evidence of intention for crossings the observed days cannot yet decide (censoring).

docs/reference.md#residence-rules: an undecided crossing is decided provisionally "from the days observed
plus evidence of intention (a permit valid for at least N days from the crossing, travel reason
SETTLE or RETURN_HOME)". The framework's definitions accept intention in place of duration
(UN Secretary-General report 2020 Annex I: "... or intends to live for at least ...").

Accepted evidence (either or both):
- the crossings' own `travel_reason` column: SETTLE or RETURN_HOME on the crossing (an entry
  to settle or to come home; an exit to settle abroad or go home abroad);
- an `evidence` frame with the person id and:
  `evidence_type` (optional, default `PERMIT`): `PERMIT` or `TRAVEL_REASON`;
  `evidence_date` or `valid_from`: the permit's start / the crossing date of a travel reason;
  `valid_to` (permits); `travel_reason` (optional, TRAVEL_REASON rows; default: counts);
  `direction` (optional, TRAVEL_REASON rows).
  A PERMIT supports an ENTRY on day t when it was known by U (start ≤ U), starts no later than
  t+N−1 and is valid until at least t+N−1 (N days from the crossing, both ends counted).
  A TRAVEL_REASON row supports the person's crossing(s) on its date.
"""
from __future__ import annotations

import polars as pl

from reglink.errors import Problem, ReglinkError

INTENT_REASONS = ("SETTLE", "RETURN_HOME")


def normalise_evidence(evidence: pl.DataFrame | pl.LazyFrame, id_col: str) -> pl.LazyFrame:
    """Evidence in one shape: id, `_ev_type`, `_ev_start` (int day), `_ev_to` (int day or null),
    `_ev_ok` (bool), `_ev_dir` (str or null)."""
    ev = evidence.lazy()
    cols = ev.collect_schema().names()
    if id_col not in cols:
        raise ReglinkError(Problem("evidence", f"column {id_col} is missing", column=id_col))
    start = next((c for c in ("evidence_date", "valid_from") if c in cols), None)
    if start is None:
        raise ReglinkError(Problem("evidence", "needs evidence_date or valid_from",
                                   column="evidence_date"))
    etype = pl.col("evidence_type").cast(pl.String).str.to_uppercase() if "evidence_type" in cols \
        else pl.lit("PERMIT")
    to = pl.col("valid_to").cast(pl.Date).cast(pl.Int32).cast(pl.Int64) if "valid_to" in cols \
        else pl.lit(None, pl.Int64)
    ok = pl.col("travel_reason").cast(pl.String).str.to_uppercase().is_in(INTENT_REASONS) \
        if "travel_reason" in cols else pl.lit(True)
    direction = pl.col("direction").cast(pl.String) if "direction" in cols else pl.lit(None, pl.String)
    return ev.select(
        pl.col(id_col), etype.alias("_ev_type"),
        pl.col(start).cast(pl.Date).cast(pl.Int32).cast(pl.Int64).alias("_ev_start"),
        to.alias("_ev_to"), ok.fill_null(False).alias("_ev_ok"), direction.alias("_ev_dir"),
    ).filter(pl.col("_ev_start").is_not_null())


def intent(undecided: pl.LazyFrame, evidence: pl.LazyFrame | None, id_col: str,
           threshold: int, until: int) -> pl.LazyFrame:
    """`_row, _intent` for the undecided crossings (`_row, id, _day, direction`) from the
    evidence frame (the crossings' own travel_reason is read by the engine directly)."""
    base = undecided.select("_row", pl.lit(False).alias("_intent"))
    if evidence is None:
        return base
    need = pl.col("_day") + (threshold - 1)
    permit = ((pl.col("_ev_type") == "PERMIT") & (pl.col("direction") == "ENTRY")
              & (pl.col("_ev_start") <= until) & (pl.col("_ev_start") <= need)
              & (pl.col("_ev_to") >= need))
    travel = ((pl.col("_ev_type") == "TRAVEL_REASON") & pl.col("_ev_ok")
              & (pl.col("_ev_start") == pl.col("_day"))
              & (pl.col("_ev_dir").is_null() | (pl.col("_ev_dir") == pl.col("direction"))))
    hits = (
        undecided.select("_row", id_col, "_day", "direction")
        .join(evidence, on=id_col, how="inner")
        .filter(permit.fill_null(False) | travel.fill_null(False))
        .select("_row", pl.lit(True).alias("_hit")).unique("_row")
    )
    return (base.join(hits, on="_row", how="left")
            .select("_row", (pl.col("_intent") | pl.col("_hit").fill_null(False)).alias("_intent")))
