"""The few SQL expressions that differ between engines, in one place.

Table builders write standard SQL (window functions, CASE, GROUPING SETS, EXTRACT); only date
arithmetic is spelled differently in DuckDB and Spark SQL, so it goes through these helpers.
Set `DIALECT = "spark"` to emit the Spark spelling.
"""
from __future__ import annotations

import duckdb

DIALECT = "duckdb"


def days_between(start: str, end: str) -> str:
    """Whole days from `start` to `end` (end - start)."""
    if DIALECT == "spark":
        return f"datediff({end}, {start})"
    return f"date_diff('day', {start}, {end})"


def add_days(date: str, days: str | int) -> str:
    if DIALECT == "spark":
        return f"date_add({date}, {days})"
    return f"CAST({date} + CAST({days} AS INTEGER) AS DATE)"


def make_date(year: str, month: str, day: str) -> str:
    return f"make_date({year}, {month}, {day})"


def full_years(birth: str, at: str) -> str:
    """Age in completed years at date `at` for a birth date `birth` (both DATE)."""
    return (
        f"(EXTRACT(YEAR FROM {at}) - EXTRACT(YEAR FROM {birth}) - CASE WHEN "
        f"EXTRACT(MONTH FROM {at}) * 100 + EXTRACT(DAY FROM {at}) < "
        f"EXTRACT(MONTH FROM {birth}) * 100 + EXTRACT(DAY FROM {birth}) THEN 1 ELSE 0 END)"
    )


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """Column names of `catalog.table` or `table` as a query would resolve it (the connection's
    search path: the build schema before `main` while the tables are built); empty when the
    table does not exist."""
    try:
        cur = con.execute(f"SELECT * FROM {table} LIMIT 0")
    except duckdb.CatalogException:
        return []
    return [d[0] for d in cur.description]


def exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(columns(con, table))


def col_or_null(cols: list[str], name: str, alias: str | None = None, cast: str | None = None) -> str:
    """`name` if the table has it, else a typed NULL, so optional canonical columns may be absent."""
    alias = alias or name
    expr = name if name in cols else "NULL"
    if cast:
        expr = f"CAST({expr} AS {cast})"
    return f"{expr} AS {alias}"
