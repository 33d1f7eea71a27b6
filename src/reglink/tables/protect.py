"""Publication copies `pub_<table>` with small-cell protection, kept apart from the originals.

Counts of few persons can disclose an individual (UN data infrastructure framework 2019: privacy and confidentiality). Two
methods, set by `small_cell` in the config:
- `suppress`: a row whose `persons` is between 1 and threshold−1 has every count column set to
  NULL and `suppressed = TRUE` (zeros are not disclosive and stay);
- `round`: every count column is rounded to the nearest multiple of `base` (halves up), so 0
  stays 0 and 1-2 become 0 with base 5; `accounting` rounds every term and recomputes nothing,
  so its identity can be off by the rounding (the residual column is rounded too).
- `none`: a plain copy (for internal use only).
With `suppress`, secondary suppression follows (reglink.tables.disclosure): further cells are
hidden until no suppressed cell can be worked out from the table's totals, margins, accounting
identity or formulas.
The unprotected tables remain for internal use; only `pub_*` (and parquet/publication/) should
leave the office.
"""
from __future__ import annotations

from typing import Any

import duckdb
import polars as pl

from reglink.tables import disclosure
from reglink.tables.sql import columns

# table -> (the column that decides suppression, the count columns to protect)
PROTECTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "flows": ("persons", ("persons", "events", "provisional_events")),
    "stocks": ("persons", ("persons",)),
    "temporary_mobility": ("persons", ("persons", "stays", "person_days", "open_stays")),
    "asylum_flows": ("persons", ("persons", "events")),
    "accounting": ("", ("stock_start", "immigration", "emigration", "births", "deaths",
                        "citizenship_acquired", "citizenship_lost", "stock_end", "residual")),
    "toolkit_table_3_1": ("persons", ("persons",)),
    "toolkit_table_3_2": ("persons", ("persons",)),
    "toolkit_table_3_3": ("persons", ("persons",)),
    "toolkit_table_3_4": ("persons", ("persons",)),
    "toolkit_table_3_5": ("persons", ("persons",)),
    "toolkit_table_3_1_grid": ("", ("native_born", "foreign_born", "total")),
    "toolkit_table_3_2_grid": ("", ("native_born", "foreign_born", "total")),
    "toolkit_table_3_3_grid": ("", ("native_born", "foreign_born", "total")),
    "toolkit_table_3_4_grid": ("", ("native_born", "foreign_born", "total")),
    "toolkit_table_3_5_grid": ("", ("native_born", "foreign_born", "total")),
}


# columns that describe the same cell as a row's counts without being counted in its additive
# relations: hidden with the row (suppress) or rounded with it (round). flows' provisional
# estimates carry the persons of the cell (persons_final equals persons in a final period), so
# a suppressed row that kept them would publish the very count it hides.
WITH_ROW: dict[str, tuple[str, ...]] = {
    "flows": ("persons_final", "persons_expected", "persons_provisional_estimate",
              "ci_low", "ci_high"),
}


def protect_sql(table: str, cols: list[str], key: str, counts: tuple[str, ...], method: str,
                threshold: int, base: int) -> str:
    """SELECT producing the protected copy of `table`."""
    out = []
    if method == "suppress" and key:
        small = f"({key} > 0 AND {key} < {int(threshold)})"
        for c in cols:
            out.append(f"CASE WHEN {small} THEN NULL ELSE {c} END AS {c}" if c in counts else c)
        out.append(f"{small} AS suppressed")
    elif method == "suppress":  # accounting, toolkit grids: every column is a count of persons
        for c in cols:
            if c in counts and c != "residual":
                out.append(f"CASE WHEN {c} > 0 AND {c} < {int(threshold)} THEN NULL ELSE {c} END AS {c}")
            else:
                out.append(c)
        small = " OR ".join(f"({c} > 0 AND {c} < {int(threshold)})" for c in counts if c != "residual")
        out.append(f"({small}) AS suppressed")
    elif method == "round":
        b = int(base)
        for c in cols:
            out.append(f"CAST(floor(({c} + {b / 2}) / {b}) * {b} AS BIGINT) AS {c}" if c in counts else c)
        out.append("FALSE AS suppressed")
    else:
        out = list(cols) + ["FALSE AS suppressed"]
    return f"SELECT {', '.join(out)} FROM {table}"


def suppress_frame(table: str, frame: pl.DataFrame, key: str, counts: tuple[str, ...],
                   threshold: int) -> pl.DataFrame:
    """The `suppress` copy of `frame`: primary cells (1..threshold-1 persons) and their
    complements hidden (NULL), `suppressed` true on every row that lost a value; the row's
    WITH_ROW columns hidden with it."""
    counts = tuple(c for c in counts if c in frame.columns)
    with_row = tuple(c for c in WITH_ROW.get(table, ()) if c in frame.columns)
    # the complements chosen must not depend on the order the rows were built in (partitions
    # of persons, threads): chosen on the rows in the order of their labels, returned in the
    # order given
    order = frame.with_row_index("_pos").sort(
        [c for c in frame.columns if c not in counts], nulls_last=True, maintain_order=True)["_pos"]
    out = _suppress_ordered(table, frame[order], key, counts, threshold)[order.arg_sort()]
    if with_row:
        out = out.with_columns(pl.when(pl.col("suppressed")).then(None).otherwise(pl.col(c)).alias(c)
                               for c in with_row)
    return out


def _suppress_ordered(table: str, frame: pl.DataFrame, key: str, counts: tuple[str, ...],
                      threshold: int) -> pl.DataFrame:
    t = int(threshold)
    if key:  # a row is the unit: its key column decides, all its counts go together
        keyv = frame[key].to_list()
        hidden = {i for i, v in enumerate(keyv) if v is not None and 0 < v < t}
        unit_of, size_of = (lambda cell: cell[0]), (lambda r: keyv[r] or 0)
    else:  # each count cell is its own unit (accounting, toolkit grids)
        vals = {(i, c): v for c in counts for i, v in enumerate(frame[c].to_list())}
        hidden = {cell for cell, v in vals.items()
                  if cell[1] != "residual" and v is not None and 0 < v < t}
        unit_of, size_of = (lambda cell: cell), (lambda cell: vals[cell] or 0)
    rels = disclosure.relations(table, frame, counts)
    hidden = disclosure.secondary_suppression(frame, rels, hidden, unit_of, size_of)
    if key:
        mask = pl.Series([i in hidden for i in range(frame.height)], dtype=pl.Boolean)
        out = frame.with_columns(
            *(pl.when(mask).then(None).otherwise(pl.col(c)).alias(c) for c in counts))
        return out.with_columns(mask.alias("suppressed"))
    rows_hit = {r for r, _ in hidden}
    out = frame.with_columns(
        pl.Series(c, [None if (i, c) in hidden else v for i, v in enumerate(frame[c].to_list())],
                  dtype=frame.schema[c]) for c in counts)
    return out.with_columns(pl.Series("suppressed", [i in rows_hit for i in range(frame.height)],
                                      dtype=pl.Boolean))


def build_publication_tables(con: duckdb.DuckDBPyConnection, small_cell: dict[str, Any]) -> dict[str, int]:
    """Write pub_<table> for every aggregate table present; table -> rows."""
    method = small_cell.get("method", "suppress")
    threshold = int(small_cell.get("threshold", 5))
    base = int(small_cell.get("base", 5))
    out = {}
    for table, (key, counts) in PROTECTED.items():
        cols = columns(con, table)
        if not cols:
            continue
        if method == "suppress":
            frame = con.sql(f'SELECT * FROM "{table}" ORDER BY ALL').pl()
            con.register("_pub_frame", suppress_frame(table, frame, key, counts, threshold))
            try:
                con.execute(f"CREATE OR REPLACE TABLE pub_{table} AS SELECT * FROM _pub_frame")
            finally:
                con.unregister("_pub_frame")
        else:
            rounded = counts + tuple(c for c in WITH_ROW.get(table, ()) if method == "round")
            con.execute(f"CREATE OR REPLACE TABLE pub_{table} AS "
                        + protect_sql(table, cols, key, rounded, method, threshold, base))
        out[f"pub_{table}"] = con.execute(f"SELECT count(*) FROM pub_{table}").fetchall()[0][0]
    return out
