"""Repair each person's crossing sequence before a residence rule runs, and record every repair.

A rule reads a person's crossings as alternating ENTRY/EXIT. Registers break that:

| kind | what | repair |
|---|---|---|
| `AFTER_DEATH` | a crossing dated after the person's death | removed (a record-linkage or data-entry error) |
| `DUPLICATE` | the same direction twice on the same day, one after the other | the second removed |
| `MISSING_EXIT` | two ENTRYs in a row on different days | an EXIT imputed between them |
| `MISSING_ENTRY` | two EXITs in a row on different days | an ENTRY imputed between them |
| `MISSING_SAME_DAY` | a lone crossing on a day between two days with same-day returns (a commuter; at the person's first or last crossing day, the returns on the one side) | the lost return imputed right after it, the same day |
| `SAME_DAY_ORDER` | several crossings on one day, no time/sequence column | kept; the order inferred by alternation (`ordering.py`) is recorded |

The imputed date (`impute=`):
- `proportional` (default): the gap g between the two crossings is split in the person's own
  proportion of days in and out of the country over their complete spells (an ENTRY followed by
  an EXIT: in; an EXIT by an ENTRY: out): after an ENTRY the person stays g × share_in days.
  Without both a complete stay and a complete absence of their own, the pooled share of everyone
  who started on the same side (first crossing an ENTRY — mostly visitors — or an EXIT); with
  none, the midpoint. Why: a lost exit record is most often a visitor's (short stays, long
  absences) or a resident's short trip (long stays, short absences); a fixed split such as the
  midpoint turns a two-week visit followed by a return two years later into a year's stay — an
  immigration that never happened. Measured against the truth in docs/methods.md.
- `duration`: the person stays (stays away) their own median stay (absence), capped at the gap.
- `midpoint`: day a + ⌈(c−a)/2⌉ for a previous crossing on day a and the next on day c: the
  days assigned to each side are wrong by at most half the gap, with no systematic direction.
- `late` (on day c: the whole gap on the earlier side, as if the crossing never happened) and
  `early` (on day a: the whole gap on the other side) bound the effect for sensitivity checks.
Stats NZ's `migrbc` does not impute: a person whose sequence has two crossings of the same
direction in a row is rejected (error code, residence statuses left at their initial value,
no migration). reglink keeps the person and flags the imputed row (docs/methods.md).

Outputs: `repaired` — the kept input rows plus imputed rows, in each person's order, with
`crossing_seq` (0-based order within the person, which the engine follows), `imputed` (bool)
and `repair` (the kind, on imputed rows); `repair_log` — one row per repair: the person,
`kind`, `crossing_date` (of the row concerned), `imputed_date`, `direction`, `row` (1-based input
row, null for imputed rows), `record_id` (when the input has one) and `reason`. Counts
reconcile: rows in = repaired rows − imputed rows + removed rows (AFTER_DEATH, DUPLICATE).
`MISSING_SAME_DAY` needs no order column to exist: with a `crossing_time` or `sequence`
column the lone crossing is still lone, and the repair applies the same way.
"""
from __future__ import annotations

import polars as pl

from reglink.errors import Problem, ReglinkError
from reglink.rules import pooled
from reglink.rules.engine import prepare_crossings
from reglink.rules.ordering import add_boundaries, order_column, order_crossings

IMPUTE = ("duration", "proportional", "midpoint", "late", "early")
LOG_SCHEMA = {"kind": pl.String, "crossing_date": pl.Date, "imputed_date": pl.Date,
              "direction": pl.String, "row": pl.Int64, "record_id": pl.String, "reason": pl.String}


def _record_col(cols: list[str]) -> str | None:
    return next((c for c in ("record_id", "crossing_record_id") if c in cols), None)


def _log(frame: pl.LazyFrame, id_col: str, kind: str, reason: pl.Expr, rec: str | None,
         imputed_date: pl.Expr | None = None, row: bool = True) -> pl.LazyFrame:
    return frame.select(
        pl.col(id_col), pl.lit(kind).alias("kind"), pl.col("crossing_date"),
        (imputed_date if imputed_date is not None else pl.lit(None, pl.Date)).alias("imputed_date"),
        pl.col("direction"),
        ((pl.col("_row").cast(pl.Int64) + 1) if row else pl.lit(None, pl.Int64)).alias("row"),
        (pl.col(rec).cast(pl.String) if rec else pl.lit(None, pl.String)).alias("record_id"),
        reason.alias("reason"))


def _spells(df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(complete spells `_pidx, _fdir, _in, _len`, each person's `_pidx, _fdir`): a spell is a
    crossing followed by the person's next crossing in the other direction (ENTRY then EXIT: a
    stay, `_in`; EXIT then ENTRY: an absence); `_fdir` is the person's first direction."""
    first_dir = pl.when(pl.col("_first")).then(pl.col("direction")).forward_fill()
    nxt = df.select("_pidx", "direction", "_day", "_last", first_dir.alias("_fdir")).with_columns(
        pl.when(~pl.col("_last")).then(pl.col("direction").shift(-1)).alias("_ndir"),
        pl.when(~pl.col("_last")).then(pl.col("_day").shift(-1)).alias("_nday"))
    spells = nxt.filter((pl.col("_ndir") != pl.col("direction")).fill_null(False)).select(
        "_pidx", "_fdir", (pl.col("direction") == "ENTRY").alias("_in"),
        (pl.col("_nday") - pl.col("_day")).alias("_len"))
    return spells, nxt.filter(pl.col("_last")).select("_pidx", "_fdir")


def _spell_tally(df: pl.DataFrame) -> pl.DataFrame:
    """Value counts of complete stays and absences by the persons' first direction: what the
    pooled typical spells are computed from (`rules.pooled`), partition by partition."""
    spells, _ = _spells(df)
    return pooled.combine([
        pooled.tally("repair_stay", spells.filter(pl.col("_in")), "_len", "_fdir"),
        pooled.tally("repair_absence", spells.filter(~pl.col("_in")), "_len", "_fdir")])


def _pooled_spells(t: pl.DataFrame) -> pl.DataFrame:
    """`_fdir, _stay, _absence, _share` over everyone who started on the same side: the
    median stay, the median absence and the share of days in, from a spell tally."""
    rows = []
    for g in sorted(set(pooled.groups(t, "repair_stay")) | set(pooled.groups(t, "repair_absence"))):
        days_in, days_out = pooled.total(t, "repair_stay", g), pooled.total(t, "repair_absence", g)
        rows.append({"_fdir": g, "_stay": pooled.median(t, "repair_stay", g),
                     "_absence": pooled.median(t, "repair_absence", g),
                     "_share": days_in / (days_in + days_out) if days_in + days_out else None})
    return pl.DataFrame(rows, schema={"_fdir": pl.String, "_stay": pl.Float64,
                                      "_absence": pl.Float64, "_share": pl.Float64})


def _typical_spells(df: pl.DataFrame, missing: pl.DataFrame, spell_tally: pl.DataFrame) -> pl.DataFrame:
    """`_pidx, _stay, _absence, _share` for the persons with a missing crossing: the median
    length of their own complete stays (an ENTRY followed by an EXIT) and absences (an EXIT
    followed by an ENTRY). Without one of their own: the median over everyone who started on
    the same side (first crossing ENTRY: started outside — mostly visitors; EXIT: started
    inside), from `spell_tally` (every person's spells, not only this frame's)."""
    spells, firsts = _spells(df)
    medians = [pl.col("_len").filter(pl.col("_in")).median().alias("_stay"),
               pl.col("_len").filter(~pl.col("_in")).median().alias("_absence"),
               (pl.col("_len").filter(pl.col("_in")).sum() / pl.col("_len").sum())
               .fill_nan(None).alias("_share")]
    pooled_by_side = _pooled_spells(spell_tally)
    who = missing.select("_pidx").unique()
    own = spells.join(who, on="_pidx", how="semi").group_by("_pidx").agg(*medians)
    persons = (who.join(firsts, on="_pidx", how="left")
               .join(own, on="_pidx", how="left")
               .join(pooled_by_side, on="_fdir", how="left", suffix="_pool"))
    both = pl.col("_stay").is_not_null() & pl.col("_absence").is_not_null()
    return persons.select("_pidx", pl.coalesce("_stay", "_stay_pool").alias("_stay"),
                          pl.coalesce("_absence", "_absence_pool").alias("_absence"),
                          pl.coalesce(pl.when(both).then(pl.col("_share")), "_share_pool")
                          .alias("_share"))


RUN = 2  # same-day-return days needed on each side of a lone crossing


def _declared_order(df: pl.DataFrame, home: str | None) -> tuple[pl.DataFrame, pl.Series | None]:
    """Re-order a day holding exactly one ENTRY and one EXIT whose records both declare the same
    country of residence (Annex 2 topic H): someone living abroad came in and went out (ENTRY
    first), someone living at home went out and came back (EXIT first). The alternation from the
    inferred location stays for every other day. Why: for a daily cross-border commuter one lost
    record flips the inferred location, and with it the reading of every later day (section 6 of
    docs/methods.md); the declaration does not depend on the earlier records. Returns the frame
    (same rows, ordered, boundaries recomputed) and a mask of the rows whose day was ordered by
    declaration (None when nothing applies)."""
    if home is None or "country_of_residence" not in df.columns or df.height == 0:
        return df, None
    day = [pl.col("_pidx"), pl.col("_day")]
    cor = pl.col("country_of_residence").cast(pl.String)
    is_entry = (pl.col("direction") == "ENTRY").cast(pl.Int64)
    d = df.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_o"))
    d = d.with_columns(
        pl.len().over(day).alias("_n"), is_entry.sum().over(day).alias("_ne"),
        cor.n_unique().over(day).alias("_nc"), cor.null_count().over(day).alias("_nn"))
    use = (pl.col("_n") == 2) & (pl.col("_ne") == 1) & (pl.col("_nc") == 1) & (pl.col("_nn") == 0)
    d = d.with_columns(use.alias("_decl"))
    if not d["_decl"].any():
        return df, None
    abroad = cor != home
    first = (pl.col("direction") == "ENTRY") == abroad  # this row comes first on its day
    # sort key: the day's first row position, then 0/1 inside declared days, else own position
    day0 = pl.col("_o").min().over(day)
    key = pl.when(pl.col("_decl")).then(day0 * 2 + pl.when(first).then(0).otherwise(1)) \
        .otherwise(pl.col("_o") * 2)
    d = d.sort(pl.col("_pidx"), pl.col("_day"), key, maintain_order=True)
    mask = d["_decl"]
    d = d.drop("_o", "_n", "_ne", "_nc", "_nn", "_decl", "_first", "_last")
    return add_boundaries(d.lazy(), "_pidx").collect(), mask


def _lone_day_trips(df: pl.DataFrame, id_col: str, rec: str | None, home: str | None = None
                    ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """A day with a single crossing inside a run of days that each hold a same-day return (the
    RUN crossing days before and the RUN after — or only after, for the person's first crossing
    day, only before, for the last: a regular commuter) has most likely lost that day's return: without it, the alternation of every later same-day pair flips and the
    commuter looks present (or absent) every day. Impute the opposite crossing right after it,
    the same day. (An irregular pattern — day trips mixed with overnight stays — does not
    trigger it.)"""
    # one row per (person, day) — the day's last row — without a group_by: the frame is ordered
    idx = pl.int_range(pl.len(), dtype=pl.Int64)
    nd = (pl.col("_first") | (pl.col("_day") != pl.col("_day").shift(1))).fill_null(True)
    ld = (pl.col("_last") | (pl.col("_day") != pl.col("_day").shift(-1))).fill_null(True)
    ent = (pl.col("direction") == "ENTRY").cast(pl.Int64).cum_sum()
    rows = df.select("_pidx", "direction", idx.alias("_o"), nd.alias("_nd"), ld.alias("_ld"),
                     ent.alias("_ce"))
    rows = rows.with_columns(
        pl.when(pl.col("_nd")).then(pl.col("_o")).forward_fill().alias("_o0"),
        pl.when(pl.col("_nd")).then(pl.col("_ce") - (pl.col("direction") == "ENTRY").cast(pl.Int64))
        .forward_fill().alias("_ce0"))
    days = rows.filter("_ld").select(
        "_pidx", "_o", (pl.col("_o") - pl.col("_o0") + 1).alias("_n"),
        (pl.col("_ce") - pl.col("_ce0")).alias("_ne"))
    days = days.with_columns(((pl.col("_n") >= 2) & (2 * pl.col("_ne") == pl.col("_n"))).alias("_ret"))
    def side(sign: int) -> pl.Expr:
        return pl.all_horizontal([((pl.col("_pidx").shift(sign * k) == pl.col("_pidx"))
                                   & pl.col("_ret").shift(sign * k)).fill_null(False)
                                  for k in range(1, RUN + 1)])
    # the person's first (last) crossing day has no days before (after) it: the run on the
    # other side is enough (a commuter whose very first or last return was lost)
    first_day = (pl.col("_pidx").shift(1) != pl.col("_pidx")).fill_null(True)
    last_day = (pl.col("_pidx").shift(-1) != pl.col("_pidx")).fill_null(True)
    around = (side(1) | first_day) & (side(-1) | last_day) & (side(1) | side(-1))
    lone_rows = days.filter((pl.col("_n") == 1) & around)["_o"]
    if lone_rows.len() == 0:
        return df, None
    cand = df.with_columns(idx.is_in(lone_rows.implode()).alias("_lone"))
    cand = cand.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_o"))
    opposite = pl.when(pl.col("direction") == "ENTRY").then(pl.lit("EXIT")).otherwise(pl.lit("ENTRY"))
    keep_cols = (id_col, "crossing_date", "_pidx", "_day")
    lone = cand.filter("_lone").select(
        *keep_cols, pl.col("direction").alias("_orig_dir"), opposite.alias("direction"),
        (2 * pl.col("_o") + 1).alias("_key"), pl.lit(True).alias("_imputed"),
        pl.lit("MISSING_SAME_DAY").alias("_repair"), pl.col("_row"),
        *([pl.col(rec).alias("_rec")] if rec else []))
    kept = cand.select(*[c for c in df.columns if c not in ("_first", "_last")],
                       (2 * pl.col("_o")).alias("_key"), pl.lit(False).alias("_imputed"),
                       pl.lit(None, pl.String).alias("_repair"))
    out = pl.concat([kept, lone.drop("_orig_dir", "_row", *(["_rec"] if rec else []))],
                    how="diagonal_relaxed").sort("_key")
    # the later same-day pairs were ordered from the wrong location: order everything again
    out = order_crossings(out.drop("_key", "_pidx", "_day").lazy(), id_col)
    if home is not None and order_column(out.columns) is None:
        out, _ = _declared_order(out, home)
    return out, lone


def _sequences(crossings: pl.DataFrame | pl.LazyFrame, deaths: pl.DataFrame | pl.LazyFrame | None,
               id_col: str, home: str | None
               ) -> tuple[pl.DataFrame, list[pl.LazyFrame], list[str], dict, str | None]:
    """The repairs before imputation: crossings after death removed, same-day order settled,
    duplicates removed, lost same-day returns imputed. (ordered frame, logs so far, input
    columns, input schema, record-id column)."""
    lf = prepare_crossings(crossings, id_col)
    cols = lf.collect_schema().names()
    rec = _record_col(cols)
    logs: list[pl.LazyFrame] = []
    schema = lf.collect_schema()
    if deaths is not None:
        dl = deaths.lazy()
        if id_col not in dl.collect_schema().names() or "death_date" not in dl.collect_schema().names():
            raise ReglinkError(Problem("deaths", f"needs columns {id_col} and death_date"))
        dl = (dl.select(pl.col(id_col).cast(schema[id_col]),
                        pl.col("death_date").cast(pl.Date).alias("_death"))
              .drop_nulls().group_by(id_col).agg(pl.col("_death").min()))
        lf = lf.join(dl, on=id_col, how="left", maintain_order="left")
        after = pl.col("crossing_date") > pl.col("_death")
        logs.append(_log(lf.filter(after.fill_null(False)), id_col, "AFTER_DEATH",
                         pl.format("crossing after death on {}", pl.col("_death")), rec))
        lf = lf.filter(~after.fill_null(False)).drop("_death")

    explicit = order_column(cols)
    df = order_crossings(lf, id_col)
    if explicit is None:
        df, declared = _declared_order(df, home)
        if declared is None:
            declared = pl.Series("_decl", [False] * df.height)
        same_day = ((pl.col("_day") == pl.col("_day").shift(1)) & ~pl.col("_first")) | \
            ((pl.col("_day") == pl.col("_day").shift(-1)) & ~pl.col("_last"))
        logs.append(_log(df.lazy().with_columns(declared.alias("_decl")).filter(same_day.fill_null(False)),
                         id_col, "SAME_DAY_ORDER",
                         pl.when(pl.col("_decl"))
                         .then(pl.lit("several crossings on one day: order from the declared country "
                                      "of residence (abroad: ENTRY first; home: EXIT first)"))
                         .otherwise(pl.lit("several crossings on one day: order inferred by alternation "
                                           "from the person's location")), rec))

    prev_dir = pl.when(~pl.col("_first")).then(pl.col("direction").shift(1))
    prev_day = pl.when(~pl.col("_first")).then(pl.col("_day").shift(1))
    dup = (pl.col("direction") == prev_dir) & (pl.col("_day") == prev_day)
    df = df.with_columns(dup.fill_null(False).alias("_dup"))
    logs.append(_log(df.lazy().filter("_dup"), id_col, "DUPLICATE",
                     pl.lit("same direction twice on one day: the second record removed"), rec))
    df = df.filter(~pl.col("_dup")).drop("_dup", "_first", "_last")
    df = add_boundaries(df.lazy(), "_pidx").collect()
    df, lone = _lone_day_trips(df, id_col, rec, home)
    if lone is not None:
        lone_log = lone.rename({"_rec": rec}) if rec else lone
        logs.append(_log(lone_log.lazy(), id_col, "MISSING_SAME_DAY", pl.format(
            "lone {} on {} between days with a same-day return: the return ({}) was lost",
            pl.col("_orig_dir"), pl.col("crossing_date"), pl.col("direction")), rec,
            imputed_date=pl.col("crossing_date")))
    return df, logs, cols, dict(schema), rec


def spell_tally(crossings: pl.DataFrame | pl.LazyFrame, *,
                deaths: pl.DataFrame | pl.LazyFrame | None = None, id_col: str = "person_id",
                home: str | None = None) -> pl.DataFrame:
    """What a part of the persons contributes to the pooled typical spells (`rules.pooled`):
    add up the tallies of every part and pass the sum to `repair_crossings(spell_tally=...)`
    so each part imputes with everyone's typical stay and absence. Also tallies `crossing_day`
    (days since 1970 of the kept crossings): the first and last day of the data, over all parts."""
    df, *_ = _sequences(crossings, deaths, id_col, home)
    return pooled.combine([_spell_tally(df), pooled.tally("crossing_day", df, "_day")])


def repair_crossings(crossings: pl.DataFrame | pl.LazyFrame, *,
                     deaths: pl.DataFrame | pl.LazyFrame | None = None,
                     id_col: str = "person_id", impute: str = "proportional",
                     home: str | None = None,
                     spell_tally: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(repaired crossings, repair log) — see the module docstring for every kind of repair.
    `home` (the home country code): order a day with one ENTRY and one EXIT by the residence
    both records declare, when the input has no order column (`_declared_order`).
    `spell_tally`: the pooled spells of every person when `crossings` holds only some of them
    (the sum of `spell_tally()` over all parts); default: these crossings' own."""
    if impute not in IMPUTE:
        raise ValueError(f"impute must be one of {', '.join(IMPUTE)}")
    df, logs, cols, schema, rec = _sequences(crossings, deaths, id_col, home)
    prev_dir = pl.when(~pl.col("_first")).then(pl.col("direction").shift(1))
    prev_day = pl.when(~pl.col("_first")).then(pl.col("_day").shift(1))

    # two crossings of one direction in a row: impute the missing opposite crossing
    df = df.with_columns(prev_dir.alias("_pdir"), prev_day.alias("_pday"),
                         pl.int_range(pl.len(), dtype=pl.Int64).alias("_o"))
    gap = (pl.col("_day") - pl.col("_pday"))
    is_missing = (pl.col("direction") == pl.col("_pdir")).fill_null(False)
    missing = df.filter(is_missing)
    if impute in ("proportional", "duration") and missing.height:
        tally_all = spell_tally if spell_tally is not None else _spell_tally(df)
    if impute == "proportional" and missing.height:
        missing = missing.join(_typical_spells(df, missing, tally_all), on="_pidx", how="left")
        share = pl.when(pl.col("direction") == "ENTRY").then(pl.col("_share")) \
            .otherwise(1 - pl.col("_share")).fill_null(0.5)
        when = pl.col("_pday") + (gap * share + 0.5).floor().cast(pl.Int64)  # half days up
    elif impute == "duration" and missing.height:
        missing = missing.join(_typical_spells(df, missing, tally_all), on="_pidx", how="left")
        # after an ENTRY the person stays their typical stay, after an EXIT stays away their
        # typical absence — never beyond the next crossing; with no length known: the midpoint
        typical = pl.when(pl.col("direction") == "ENTRY").then(pl.col("_stay")) \
            .otherwise(pl.col("_absence")).round().cast(pl.Int64)
        when = pl.col("_pday") + pl.min_horizontal(typical.fill_null((gap + 1) // 2), gap)
    else:
        when = {"midpoint": pl.col("_pday") + (gap + 1) // 2, "late": pl.col("_day"),
                "early": pl.col("_pday"), "duration": pl.col("_pday"),
                "proportional": pl.col("_pday")}[impute]
    missing = missing.with_columns(when.alias("_iday"))
    opposite = pl.when(pl.col("direction") == "ENTRY").then(pl.lit("EXIT")).otherwise(pl.lit("ENTRY"))
    imputed = missing.select(
        pl.col(id_col), opposite.alias("direction"),
        pl.col("_iday").cast(pl.Int32).cast(pl.Date).alias("crossing_date"),
        (2 * pl.col("_o")).alias("_key"), pl.col("_pidx"),
        pl.when(pl.col("direction") == "ENTRY").then(pl.lit("MISSING_EXIT"))
        .otherwise(pl.lit("MISSING_ENTRY")).alias("repair"),
        pl.lit(True).alias("imputed"))
    logs.append(_log(
        missing.lazy().with_columns(pl.col("_pday").cast(pl.Int32).cast(pl.Date).alias("_prev_date")),
        id_col, "MISSING_EXIT", pl.format(
            "{} on {} follows {} on {}: {} imputed ({})", pl.col("direction"), pl.col("crossing_date"),
            pl.col("direction"), pl.col("_prev_date"), opposite, pl.lit(impute)), rec,
        imputed_date=pl.col("_iday").cast(pl.Int32).cast(pl.Date))
        .with_columns(pl.when(pl.col("direction") == "ENTRY").then(pl.lit("MISSING_EXIT"))
                      .otherwise(pl.lit("MISSING_ENTRY")).alias("kind"),
                      pl.when(pl.col("direction") == "ENTRY").then(pl.lit("EXIT"))
                      .otherwise(pl.lit("ENTRY")).alias("direction")))
    has_lone = "_imputed" in df.columns
    kept = df.with_columns((2 * pl.col("_o") + 1).alias("_key"),
                           (pl.col("_repair") if has_lone else pl.lit(None, pl.String)).alias("repair"),
                           (pl.col("_imputed") if has_lone else pl.lit(False)).alias("imputed"))
    out = pl.concat([kept, imputed], how="diagonal_relaxed").sort("_key")
    out = add_boundaries(out.lazy(), "_pidx").with_columns(
        (pl.int_range(pl.len()) - pl.when(pl.col("_first")).then(pl.int_range(pl.len()))
         .forward_fill()).cast(pl.Int32).alias("crossing_seq")).collect()
    keep = [c for c in cols if not c.startswith("_") and c != "crossing_seq"]
    repaired = out.select(*keep, "crossing_seq", "imputed", "repair")

    log_schema = {id_col: schema[id_col], **LOG_SCHEMA}
    log = pl.concat([lg.select(list(log_schema)).cast(log_schema) for lg in logs]).collect() \
        if logs else pl.DataFrame(schema=log_schema)
    return repaired, log.sort([id_col, "crossing_date", "kind"])
