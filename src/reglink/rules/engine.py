"""The residence-rule engine: classify every border crossing, derive migration events.

docs/reference.md#residence-rules to the letter, set-based (polars lazy), no loop per person:

1. order each person's crossings (`ordering.py`: explicit order column or alternation);
2. for every crossing decide whether it *qualifies* — whether the stay (ENTRY) or absence (EXIT)
   it opens is long enough — from days alone (`windows.py` cumulative, `islands.py` continuous).
   This does not depend on the person's status, so it is computed for all crossings at once;
   crossings the observed days cannot decide are decided provisionally from evidence of
   intention (`evidence.py`), else as *not* a migration;
3. status: after a qualifying ENTRY a person is RESIDENT, after a qualifying EXIT NON_RESIDENT,
   and a non-qualifying crossing changes nothing. So the status after a crossing is the one set
   by the last qualifying crossing up to it (a forward fill), and a crossing is a migration
   exactly when it qualifies and its direction differs from the status before it — the same
   result as walking the crossings one by one, as Stats NZ's `migrbc` does.

A crossing is `decided` (final) when its own days decide it (or its direction cannot migrate
given a final status before it) and every earlier crossing of the person is decided; otherwise
`provisional`. Final decisions never change when data after `observed_until` arrive.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from reglink.errors import Problem, ReglinkError
from reglink.rules.evidence import INTENT_REASONS, intent, normalise_evidence
from reglink.rules.islands import continuous
from reglink.rules.ordering import order_crossings, seg_cum_sum
from reglink.rules.rule import Rule, load_rule
from reglink.rules.windows import add_spells, cumulative

STATUSES = ("RESIDENT", "NON_RESIDENT")
DIRECTIONS = ("ENTRY", "EXIT")
EVENT_COLUMNS = ("event_type", "event_date", "provisional", "rule")
ADDED_COLUMNS = ("crossing_order", "status_before", "status_after", "is_migration", "event_type",
                 "provisional", "decided", "qualifies", "intent_evidence", "days_observed",
                 "days_in", "days_out", "days_counted", "rule")

Frame = pl.DataFrame | pl.LazyFrame


def _fail(file: str, message: str, row: int | None = None, column: str | None = None) -> None:
    raise ReglinkError(Problem(file, message, row=row, column=column))


def prepare_crossings(crossings: Frame, id_col: str = "person_id") -> pl.LazyFrame:
    """Check the required columns and values; dates as pl.Date, direction upper case; `_row`.

    Raises ReglinkError naming the first bad row (1-based data row) and column."""
    lf = crossings.lazy()
    cols = lf.collect_schema().names()
    for col in (id_col, "direction", "crossing_date"):
        if col not in cols:
            _fail("crossings", f"required column {col} is missing", column=col)
    clash = [c for c in ADDED_COLUMNS if c in cols and c not in ("rule",)]
    if clash:
        lf = lf.drop(clash)
    schema = lf.collect_schema()
    if schema["crossing_date"] == pl.Date and schema["direction"] == pl.String:
        # fast path: already clean (the usual case inside the pipeline) — one cheap check
        clean = lf.select((pl.col(id_col).is_not_null() & pl.col("crossing_date").is_not_null()
                           & pl.col("direction").is_in(DIRECTIONS)).fill_null(False).all()) \
            .collect().item()
        if clean:
            return lf.with_row_index("_row")
    date = pl.col("crossing_date")
    if lf.collect_schema()["crossing_date"] == pl.String:
        date = date.str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    elif lf.collect_schema()["crossing_date"] != pl.Date:
        date = date.cast(pl.Date, strict=False)
    lf = lf.with_row_index("_row").with_columns(
        date.alias("_date"),
        pl.col("direction").cast(pl.String).str.strip_chars().str.to_uppercase().alias("_dir"))
    bad = (lf.filter(pl.col(id_col).is_null() | pl.col("_date").is_null()
                     | ~pl.col("_dir").is_in(DIRECTIONS).fill_null(False))
           .select("_row", id_col, "_date", "_dir", pl.col("crossing_date").cast(pl.String),
                   pl.col("direction").cast(pl.String).alias("_raw_dir"))
           .head(1).collect())
    if bad.height:
        r = bad.row(0, named=True)
        row = r["_row"] + 1
        if r[id_col] is None:
            _fail("crossings", f"{id_col} is empty", row, id_col)
        if r["_date"] is None:
            _fail("crossings", f"crossing_date {r['crossing_date']!r} is not a date YYYY-MM-DD",
                  row, "crossing_date")
        _fail("crossings", f"direction {r['_raw_dir']!r} is not ENTRY or EXIT", row, "direction")
    return lf.with_columns(pl.col("_date").alias("crossing_date"),
                           pl.col("_dir").alias("direction")).drop("_date", "_dir")


def _initial(initial_status: Frame | None, id_dtype: pl.DataType, id_col: str) -> pl.LazyFrame | None:
    """`id_col, _init_status` from a person_id/initial_status frame (None when not supplied)."""
    if initial_status is None:
        return None
    ini = initial_status.lazy()
    cols = ini.collect_schema().names()
    for col in (id_col, "initial_status"):
        if col not in cols:
            _fail("initial_status", f"required column {col} is missing", column=col)
    ini = ini.with_row_index("_r").with_columns(
        pl.col("initial_status").cast(pl.String).str.strip_chars().str.to_uppercase().alias("_st"))
    bad = ini.filter(~pl.col("_st").is_in(STATUSES).fill_null(False)).head(1).collect()
    if bad.height:
        r = bad.row(0, named=True)
        _fail("initial_status", f"initial_status {r['initial_status']!r} is not RESIDENT or "
              "NON_RESIDENT", r["_r"] + 1, "initial_status")
    dup = ini.group_by(id_col).agg(pl.col("_st").n_unique().alias("n")).filter(pl.col("n") > 1) \
        .head(1).collect()
    if dup.height:
        _fail("initial_status", f"{id_col} {dup[id_col][0]!r} has conflicting initial statuses",
              column="initial_status")
    try:
        return ini.select(pl.col(id_col).cast(id_dtype), pl.col("_st").alias("_init_status")) \
            .unique(id_col).collect().lazy()
    except pl.exceptions.InvalidOperationError:
        _fail("initial_status", f"{id_col} values do not match the crossings' {id_col} type",
              column=id_col)


def _until(lf: pl.LazyFrame, observed_until: dt.date | str | None) -> dt.date:
    if observed_until is None:
        latest = lf.select(pl.col("crossing_date").max()).collect().item()
        if latest is None:
            return dt.date(1970, 1, 1)
        return latest
    if isinstance(observed_until, str):
        return dt.date.fromisoformat(observed_until)
    if isinstance(observed_until, dt.datetime):
        return observed_until.date()
    return observed_until


def classify_crossings(crossings: Frame, rule: Rule | str | dict, *,
                       observed_until: dt.date | str | None = None,
                       initial_status: Frame | None = None,
                       evidence: Frame | None = None,
                       id_col: str = "person_id", majority: bool | None = None) -> pl.DataFrame:
    """Every input crossing (other columns carried through), in each person's order, with:

    `crossing_order` (1-based within person), `status_before`, `status_after`, `qualifies`
    (the stay/absence it opens is long enough, or provisionally so), `is_migration`,
    `event_type` (IMMIGRATION/EMIGRATION/null), `decided` (final), `provisional` (= not decided),
    `intent_evidence` (evidence used for an undecided crossing), `days_observed` (days of the
    window/stay seen up to observed_until), `days_in`, `days_out` (cumulative: in the window),
    `days_counted` (days on the side the crossing moves to: in for ENTRY, out for EXIT; in
    continuous mode the known length of the stay/absence), `rule`.

    `majority` (continuous mode only; default: the rule's own `majority`, true unless a custom
    rule turns it off): a bridged stay (absence) must also hold more than half of its first N
    days on its own side — otherwise someone who alternates short stays and short absences (a
    weekly commuter) qualifies both ways at every crossing. See docs/methods.md section 4.
    """
    return _classify(crossings, rule, observed_until=observed_until,
                     initial_status=initial_status, evidence=evidence, id_col=id_col,
                     majority=majority).collect()


def _classify(crossings: Frame, rule: Rule | str | dict, *, observed_until, initial_status,
              evidence, id_col: str, majority: bool | None = None) -> pl.LazyFrame:
    rule = load_rule(rule)
    majority = rule.majority if majority is None else majority
    lf = prepare_crossings(crossings, id_col)
    until = _until(lf, observed_until)
    u = (until - dt.date(1970, 1, 1)).days
    u1 = u + 1
    ini = _initial(initial_status, lf.collect_schema()[id_col], id_col)
    init_in = None if ini is None else ini.select(
        id_col, (pl.col("_init_status") == "RESIDENT").alias("_init_in"))
    lf = order_crossings(lf, id_col, init_in).lazy()
    if rule.mode == "cumulative":
        lf = cumulative(lf, rule.window_days, rule.threshold_days, u1)
    else:
        lf = continuous(add_spells(lf, u1), rule.threshold_days, rule.max_absence_days, u1,
                        majority=majority)
    lf = lf.with_columns((pl.col("_yes") | pl.col("_no")).alias("_own_decided"))

    # provisional decisions for undecided crossings: evidence of intention, else not a migration
    cols = lf.collect_schema().names()
    own = (pl.col("travel_reason").cast(pl.String).str.to_uppercase().is_in(INTENT_REASONS)
           .fill_null(False)) if "travel_reason" in cols else pl.lit(False)
    if evidence is not None:
        ev = normalise_evidence(evidence, id_col)
        und = lf.filter(~pl.col("_own_decided")).select("_row", id_col, "_day", "direction")
        hits = intent(und, ev, id_col, rule.threshold_days, u).filter("_intent") \
            .select("_row").collect()["_row"]
        own = own | pl.col("_row").is_in(hits.implode())
    lf = lf.with_columns(pl.when(~pl.col("_own_decided")).then(own).alias("intent_evidence"))
    lf = lf.with_columns((pl.col("_yes") | pl.col("intent_evidence").fill_null(False))
                         .alias("qualifies"))

    # status: forward fill over qualifying crossings (see module docstring), person by person
    # through global scans: every person's first row carries a value, so fills never cross over.
    # Booleans inside (True = RESIDENT), text only at the end.
    entry = pl.col("direction") == "ENTRY"
    default = pl.when(pl.col("_first")).then(~entry).forward_fill()
    if ini is not None:
        lf = lf.join(ini.select(id_col, (pl.col("_init_status") == "RESIDENT").alias("_init_res")),
                     on=id_col, how="left", maintain_order="left")
        start = pl.coalesce(pl.col("_init_res"), default)
    else:
        start = default
    lf = lf.with_columns(start.alias("_start"), pl.when(pl.col("qualifies")).then(entry).alias("_set"))
    lf = lf.with_columns(
        pl.when(pl.col("_first")).then(pl.coalesce(pl.col("_set"), pl.col("_start")))
        .otherwise(pl.col("_set")).forward_fill().alias("_after"))
    lf = lf.with_columns(
        pl.when(pl.col("_first")).then(pl.col("_start")).otherwise(pl.col("_after").shift(1))
        .alias("_before"))
    migrating = entry != pl.col("_before")  # ENTRY by a non-resident, EXIT by a resident
    lf = lf.with_columns(
        (pl.col("qualifies") & migrating).alias("is_migration"),
        (~pl.col("_own_decided") & migrating).cast(pl.Int64).alias("_bad"))
    status = {True: "RESIDENT", False: "NON_RESIDENT"}
    lf = lf.with_columns(
        pl.col("_before").replace_strict(status, return_dtype=pl.String).alias("status_before"),
        pl.col("_after").replace_strict(status, return_dtype=pl.String).alias("status_after"),
        pl.when(pl.col("is_migration")).then(
            pl.when(entry).then(pl.lit("IMMIGRATION")).otherwise(pl.lit("EMIGRATION")))
        .alias("event_type"),
        (seg_cum_sum(pl.col("_bad")) == 0).alias("decided"),
        (pl.int_range(pl.len()) - pl.when(pl.col("_first")).then(pl.int_range(pl.len()))
         .forward_fill() + 1).cast(pl.Int32).alias("crossing_order"),
        pl.lit(rule.name).alias("rule"),
    ).with_columns((~pl.col("decided")).alias("provisional"))
    drop = [c for c in lf.collect_schema().names() if c.startswith("_")]
    return lf.drop(drop)


def derive_events(crossings: Frame, rule: Rule | str | dict, *,
                  observed_until: dt.date | str | None = None,
                  initial_status: Frame | None = None,
                  evidence: Frame | None = None,
                  id_col: str = "person_id", majority: bool | None = None) -> pl.DataFrame:
    """One row per migration event: `id_col`, `event_type`, `event_date` (the crossing date),
    `provisional`, `rule` (docs/reference.md#commands), then the crossing's other input columns."""
    lf = _classify(crossings, rule, observed_until=observed_until, initial_status=initial_status,
                   evidence=evidence, id_col=id_col, majority=majority)
    cols = lf.collect_schema().names()
    carried = [c for c in cols if c not in ADDED_COLUMNS and c not in (id_col, "crossing_date")]
    return (lf.filter(pl.col("is_migration"))
            .select(id_col, "event_type", pl.col("crossing_date").alias("event_date"),
                    "provisional", "rule", *carried)
            .collect())
