"""The few SQL expressions that differ between engines, in one place: a `Dialect` object.

Table builders write standard SQL (window functions, CASE, UNION ALL of GROUP BYs, EXTRACT);
only date arithmetic and the string type are spelled differently in DuckDB and Spark SQL. A
builder that runs on both engines takes a `dialect` argument (`DUCKDB` or `SPARK`) and spells
those through it; `reglink.tables.engine` runs the rendered SQL on the matching engine. The
module-level helpers are the DuckDB spelling, for the builders that run on DuckDB only.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Dialect:
    """How one engine spells the expressions the table builders need.

    `name`: `duckdb` or `spark` (sqlglot's dialect names too); `string`: the type of text in a
    CAST (Spark's VARCHAR needs a length)."""

    name: str
    string: str

    def days_between(self, start: str, end: str) -> str:
        """Whole days from `start` to `end` (end - start)."""
        if self.name == "spark":
            return f"datediff({end}, {start})"
        return f"date_diff('day', {start}, {end})"

    def add_days(self, date: str, days: str | int) -> str:
        """`date` plus `days` (an integer expression; negative goes back), a DATE."""
        if self.name == "spark":
            return f"date_add({date}, CAST({days} AS INT))"
        return f"CAST({date} + CAST({days} AS INTEGER) AS DATE)"

    def make_date(self, year: str, month: str, day: str) -> str:
        return f"make_date({year}, {month}, {day})"

    def month_end(self, year: str, month: str) -> str:
        """The last day of month `month` of `year` (both integer expressions)."""
        nxt = self.make_date(f"{year} + CASE WHEN {month} = 12 THEN 1 ELSE 0 END",
                             f"CASE WHEN {month} = 12 THEN 1 ELSE {month} + 1 END", "1")
        return self.add_days(nxt, -1)

    def text(self, expr: str) -> str:
        """`expr` cast to the engine's string type."""
        return f"CAST({expr} AS {self.string})"

    def full_years(self, birth: str, at: str) -> str:
        """Age in completed years at date `at` for a birth date `birth` (both DATE)."""
        return (
            f"(EXTRACT(YEAR FROM {at}) - EXTRACT(YEAR FROM {birth}) - CASE WHEN "
            f"EXTRACT(MONTH FROM {at}) * 100 + EXTRACT(DAY FROM {at}) < "
            f"EXTRACT(MONTH FROM {birth}) * 100 + EXTRACT(DAY FROM {birth}) THEN 1 ELSE 0 END)"
        )


DUCKDB = Dialect("duckdb", "VARCHAR")
SPARK = Dialect("spark", "STRING")
DIALECTS = {d.name: d for d in (DUCKDB, SPARK)}

# the DuckDB spelling, for the builders that run on DuckDB only
days_between = DUCKDB.days_between
add_days = DUCKDB.add_days
make_date = DUCKDB.make_date
full_years = DUCKDB.full_years


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
