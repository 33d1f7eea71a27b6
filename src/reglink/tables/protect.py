"""Publication copies `pub_<table>` with small-cell protection, kept apart from the originals.

Counts of few persons can disclose an individual (seed 002: privacy and confidentiality). Two
methods, set by `small_cell` in the config:
- `suppress`: a row whose `persons` is between 1 and threshold−1 has every count column set to
  NULL and `suppressed = TRUE` (zeros are not disclosive and stay);
- `round`: every count column is rounded to the nearest multiple of `base` (halves up), so 0
  stays 0 and 1-2 become 0 with base 5; `accounting` rounds every term and recomputes nothing,
  so its identity can be off by the rounding (the residual column is rounded too).
- `none`: a plain copy (for internal use only).
No secondary suppression is done: a suppressed cell may be derived from totals and other cells.
The unprotected tables remain for internal use; only `pub_*` (and parquet/publication/) should
leave the office.
"""
from __future__ import annotations

from typing import Any

import duckdb

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
        con.execute(f"CREATE OR REPLACE TABLE pub_{table} AS "
                    + protect_sql(table, cols, key, counts, method, threshold, base))
        out[f"pub_{table}"] = con.execute(f"SELECT count(*) FROM pub_{table}").fetchall()[0][0]
    return out
