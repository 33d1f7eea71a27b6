"""Put each person's crossings in order, set-based (docs/reference.md#residence-rules, same-day crossings).

Crossings on one day are ordered by an explicit column when the input has one (`crossing_seq`,
written by `repair_crossings`; else `crossing_time`; else `sequence`). Without one they alternate
from the person's location before that day: an EXIT first for someone in the country, an ENTRY
first for someone out. The location before a day is found without a per-person loop:

- a day with more entries than exits must start outside (and ends inside); more exits than
  entries: starts inside, ends outside; a balanced day leaves the location unchanged;
- so the location before a balanced day is the end location of the last unbalanced day before it
  (forward fill); before the person's first unbalanced day it is the supplied initial status
  (RESIDENT = inside: the status before the first crossing), else the
  start location of the next unbalanced day (backward fill), else outside.

An order the repair inferred (`crossing_seq` with no `crossing_time`/`sequence` column) was
found before the initial status was known (the pipeline derives it from the repaired first
crossing; `repair_crossings` takes none). When a status is then supplied, the person's leading
balanced days are turned round wherever their first crossing contradicts it (`follow_initial`):
a resident's same-day return starts with the EXIT, a non-resident's visit with the ENTRY.

Everything is a global sort plus linear scans (shift, cumulative sum, fill) with person and day
boundaries as masks — no `group_by`/`over` per person, which is what keeps 20 million crossings
inside a minute on two cores.
"""
from __future__ import annotations

import polars as pl

ORDER_COLUMNS = ("crossing_seq", "crossing_time", "sequence")
DAY_BITS = 22  # composite key: person index * 2**22 + day offset (+/- 5,700 years of days)
DAY_OFFSET = 1 << 21


def order_column(columns: list[str]) -> str | None:
    """The explicit same-day order column the input carries, if any."""
    return next((c for c in ORDER_COLUMNS if c in columns), None)


def seg_ffill(value: pl.Expr, seg: str = "_pidx") -> pl.Expr:
    """Forward fill that never crosses into another segment (person): fill, then drop values
    that came from an earlier segment."""
    src = pl.when(value.is_not_null()).then(pl.col(seg)).forward_fill()
    return pl.when(src == pl.col(seg)).then(value.forward_fill())


def seg_bfill(value: pl.Expr, seg: str = "_pidx") -> pl.Expr:
    """Backward fill within a segment."""
    src = pl.when(value.is_not_null()).then(pl.col(seg)).backward_fill()
    return pl.when(src == pl.col(seg)).then(value.backward_fill())


def seg_cum_sum(value: pl.Expr, first: str = "_first") -> pl.Expr:
    """Running sum within a segment (inclusive), from a global running sum."""
    c = value.cum_sum()
    return c - pl.when(pl.col(first)).then(c - value).forward_fill()


def add_boundaries(lf: pl.LazyFrame, id_col: str) -> pl.LazyFrame:
    """On crossings sorted by person: `_first`/`_last` (person's first/last row), `_pidx`."""
    return lf.with_columns(
        (pl.col(id_col) != pl.col(id_col).shift(1)).fill_null(True).alias("_first"),
        (pl.col(id_col) != pl.col(id_col).shift(-1)).fill_null(True).alias("_last"),
    ).with_columns(pl.col("_first").cast(pl.Int64).cum_sum().alias("_pidx"))


def _sorted(lf: pl.LazyFrame, id_col: str) -> bool:
    """Already in (person, day) order? One linear pass instead of a sort."""
    i, d = pl.col(id_col), pl.col("_day")
    ok = (i > i.shift(1)) | ((i == i.shift(1)) & (d >= d.shift(1)))
    return bool(lf.select(ok.fill_null(True).all()).collect().item())


def order_crossings(lf: pl.LazyFrame, id_col: str, init_in: pl.LazyFrame | None = None) -> pl.DataFrame:
    """Add `_row` order, `_pidx` (person index 1…), `_day` (date as int), `_first`, `_last` and
    sort each person's crossings into their order. `init_in`: `id_col, _init_in` (inside).
    Collected here: the later steps scan the ordered frame several times."""
    cols = lf.collect_schema().names()
    lf = lf.with_columns(pl.col("crossing_date").cast(pl.Int32).cast(pl.Int64).alias("_day"))
    explicit = order_column(cols)
    if explicit is not None:
        df = add_boundaries(lf.sort([id_col, "_day", explicit, "_row"], nulls_last=True),
                            id_col).collect()
        if init_in is not None and explicit == "crossing_seq" and not set(ORDER_COLUMNS[1:]) & set(cols):
            df = follow_initial(df, id_col, init_in)
        return df
    lf = lf.collect().lazy()
    if not _sorted(lf, id_col):  # extracts usually arrive sorted: skip the costliest step
        lf = lf.sort([id_col, "_day"], maintain_order=True)  # ties stay in _row order
    lf = add_boundaries(lf, id_col)
    entry = (pl.col("direction") == "ENTRY").cast(pl.Int64)
    new_day = pl.col("_first") | (pl.col("_day") != pl.col("_day").shift(1))
    last_of_day = pl.col("_last") | (pl.col("_day") != pl.col("_day").shift(-1))
    lf = lf.with_columns(new_day.fill_null(True).alias("_nd"), last_of_day.fill_null(True).alias("_ld"),
                         (2 * entry - 1).alias("_sign"))
    c = pl.col("_sign").cum_sum()
    lf = lf.with_columns(c.alias("_c"))
    # net entries minus exits of the row's day, from the running sum at the day's two ends
    lf = lf.with_columns(
        (pl.when(pl.col("_ld")).then(pl.col("_c")).backward_fill()
         - pl.when(pl.col("_nd")).then(pl.col("_c") - pl.col("_sign")).forward_fill()).alias("_net"))
    start_in = pl.when(pl.col("_net") > 0).then(False).when(pl.col("_net") < 0).then(True)
    end_in = pl.when(pl.col("_net") > 0).then(True).when(pl.col("_net") < 0).then(False)
    lf = lf.with_columns(
        start_in.alias("_start_in"),
        # end location of the last unbalanced earlier day: set on a day's last row, seen from the next
        pl.when(~pl.col("_first")).then(seg_ffill(pl.when(pl.col("_ld")).then(end_in)).shift(1))
        .alias("_prev_end_in"),
        seg_bfill(pl.when(pl.col("_nd")).then(start_in)).alias("_next_start_in"),
    )
    fallbacks = [pl.col("_start_in"), pl.col("_prev_end_in"), pl.col("_next_start_in")]
    if init_in is not None:
        # the supplied status decides before the first unbalanced day (where _prev_end_in is null)
        lf = lf.join(init_in, on=id_col, how="left", maintain_order="left")
        fallbacks.insert(2, pl.col("_init_in"))
    # the day's location before its first crossing: take it from the day's first row
    loc = pl.when(pl.col("_nd")).then(pl.coalesce(*fallbacks, pl.lit(False))).forward_fill()
    first_entry = ~loc  # outside before the day → ENTRY first
    # k: how many crossings of the same direction came earlier that day
    same_dir_before = pl.when(pl.col("direction") == "ENTRY").then(
        pl.col("_cin") - pl.col("_cin_day0")).otherwise(pl.col("_cout") - pl.col("_cout_day0"))
    lf = lf.with_columns(entry.cum_sum().alias("_cin"), (1 - entry).cum_sum().alias("_cout"))
    lf = lf.with_columns(
        pl.when(pl.col("_nd")).then(pl.col("_cin") - entry).forward_fill().alias("_cin_day0"),
        pl.when(pl.col("_nd")).then(pl.col("_cout") - (1 - entry)).forward_fill().alias("_cout_day0"))
    k = same_dir_before - 1
    off = pl.when((pl.col("direction") == "ENTRY") == first_entry).then(0).otherwise(1)
    lf = lf.with_columns((2 * k + off).alias("_pos"))
    drop = ["_nd", "_ld", "_sign", "_c", "_net", "_start_in", "_prev_end_in", "_next_start_in",
            "_cin", "_cout", "_cin_day0", "_cout_day0"] + (["_init_in"] if init_in is not None else [])
    df = lf.drop(drop).collect()
    if (df["_pos"] > 0).any():  # only when some person crossed more than once on one day
        # one Int64 key (person, day, position) sorts much faster than three columns
        order_key = (pl.col("_pidx") * (1 << 32) + (pl.col("_day") + DAY_OFFSET) * (1 << 10)
                     + pl.col("_pos").clip(upper_bound=(1 << 10) - 1))
        df = df.sort(order_key, maintain_order=True).drop("_first", "_last")
        df = add_boundaries(df.lazy(), "_pidx").collect()  # same persons, rows moved
    return df.drop("_pos")


def day_net(entry: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(first row of its day, last row of its day, entries minus exits of the row's day) on
    crossings in (person, day) order, from linear scans."""
    nd = (pl.col("_first") | (pl.col("_day") != pl.col("_day").shift(1))).fill_null(True)
    ld = (pl.col("_last") | (pl.col("_day") != pl.col("_day").shift(-1))).fill_null(True)
    c = (2 * entry - 1).cum_sum()
    net = pl.when(ld).then(c).backward_fill() - pl.when(nd).then(c - (2 * entry - 1)).forward_fill()
    return nd, ld, net


def follow_initial(df: pl.DataFrame, id_col: str, init_in: pl.LazyFrame) -> pl.DataFrame:
    """Turn round each balanced day before a person's first unbalanced day when the person's
    first crossing contradicts the supplied location (inside and an ENTRY first, or outside and
    an EXIT first). A balanced day ends where it starts, so the order of every later day stands.
    `crossing_seq` is renumbered to the new order. `df`: ordered, with `_first`/`_last`/`_pidx`."""
    entry = (pl.col("direction") == "ENTRY").cast(pl.Int64)
    nd, ld, net = day_net(entry)
    idx = pl.int_range(pl.len(), dtype=pl.Int64)
    first_entry = pl.when(pl.col("_first")).then(pl.col("direction") == "ENTRY").forward_fill()
    flags = (df.lazy().select(id_col, "_first", "_last", "_day", "direction")
             .join(init_in, on=id_col, how="left", maintain_order="left")
             .with_columns(nd.alias("_nd"), ld.alias("_ld"), net.alias("_net"), idx.alias("_i"))
             .with_columns(
                 (seg_cum_sum((pl.col("_net") != 0).cast(pl.Int64)) == 0).alias("_leading"),
                 (first_entry == pl.col("_init_in")).fill_null(False).alias("_contradicts"))
             .select(pl.when(pl.col("_leading") & pl.col("_contradicts"))
                     .then(pl.when(pl.col("_nd")).then(pl.col("_i")).forward_fill()
                           + pl.when(pl.col("_ld")).then(pl.col("_i")).backward_fill() - pl.col("_i"))
                     .otherwise(pl.col("_i")).alias("_key"))
             .collect())
    key = flags["_key"]
    if key.is_sorted():  # nothing to turn round (the usual case)
        return df
    dtype = df.schema["crossing_seq"]
    out = df.with_columns(key.alias("_key")).sort("_key").drop("_key", "_first", "_last")
    out = add_boundaries(out.lazy(), "_pidx").collect()
    return out.with_columns(
        (pl.int_range(pl.len()) - pl.when(pl.col("_first")).then(pl.int_range(pl.len()))
         .forward_fill()).cast(dtype).alias("crossing_seq"))
