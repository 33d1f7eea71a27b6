"""`flows`: immigration and emigration by period and breakdown (UN Secretary-General report 2020 annex I; UN toolkit (2021) 4.1
questions A, B, C, L, M, Q).

Counted from `migration_events`: `persons` is the number of distinct persons with such an event
in the period and cell (a person who immigrates twice in a year counts once), `events` the number
of events. Returning citizens and returning native-born (annex I) are the immigrations of persons
who hold the home citizenship, or were born in the home country, at the event date: by the rule,
an immigration means they resided abroad before it.
"""
from __future__ import annotations

import duckdb

from reglink.tables.aggregate import breakdown_sql
from reglink.tables.runner import DuckDBRunner, Runner
from reglink.tables.sql import DUCKDB, Dialect

FLOW_DIMS = ["sex", "age_group", "citizenship", "country_of_birth", "subpopulation", "country",
             "reason"]
FLOW_SETS: list[list[str]] = [
    [], ["sex"], ["age_group"], ["sex", "age_group"], ["citizenship"], ["country_of_birth"],
    ["citizenship", "country_of_birth"], ["subpopulation"], ["country"], ["reason"],
    # last, so the breakdowns before it keep their order: men and women of each citizenship
    # (UN Secretary-General report 2020 annex I asks for flows by sex and by citizenship)
    ["sex", "citizenship"],
]


def period_sql(period_type: str, dialect: Dialect = DUCKDB) -> tuple[str, str, str]:
    """(period label, period start, period end) expressions over events `e` for a period type."""
    d = dialect
    y = d.text("e.event_year")
    if period_type == "year":
        return y, d.make_date("e.event_year", "1", "1"), d.make_date("e.event_year", "12", "31")
    if period_type == "quarter":
        start = d.make_date("e.event_year", "(e.event_quarter - 1) * 3 + 1", "1")
        end = d.month_end("e.event_year", "e.event_quarter * 3")
        return f"{y} || '-Q' || {d.text('e.event_quarter')}", start, end
    if period_type == "month":
        start = d.make_date("e.event_year", "e.event_month", "1")
        end = d.month_end("e.event_year", "e.event_month")
        return f"{y} || '-' || lpad({d.text('e.event_month')}, 2, '0')", start, end
    raise ValueError(f"tables.flow_periods: unknown period {period_type!r} (month, quarter, year)")


def flow_members_sql(periods: list[str], source: str = "migration_events", extra: str = "",
                     dialect: Dialect = DUCKDB) -> str:
    """One row per (period, flow type, event): immigrations, emigrations, returning subsets.
    `source`: a table with migration_events' columns; `extra`: more select items over it (`e`)."""
    parts = []
    for pt in periods:
        label, start, end = period_sql(pt, dialect)
        base = (f"SELECT '{pt}' AS period_type, {label} AS period, {start} AS period_start, "
                f"{end} AS period_end, e.person_key, e.provisional, e.sex, e.age_group, e.citizenship, "
                f"e.country_of_birth, e.subpopulation, COALESCE(e.reason, 'UNKNOWN') AS reason, "
                f"COALESCE(CASE WHEN e.event_type = 'IMMIGRATION' THEN e.previous_country_of_residence "
                f"ELSE e.next_country_of_residence END, 'UNKNOWN') AS country{extra}")
        parts.append(f"{base}, e.event_type AS event_type FROM {source} e")
        parts.append(f"{base}, 'RETURNING_CITIZEN' AS event_type FROM {source} e "
                     f"WHERE e.is_returning_citizen")
        parts.append(f"{base}, 'RETURNING_NATIVE_BORN' AS event_type FROM {source} e "
                     f"WHERE e.is_returning_native_born")
    return "\nUNION ALL\n".join(parts)


def build_flows(con: duckdb.DuckDBPyConnection, periods: list[str] | None = None,
                run: Runner | None = None) -> int:
    """Write `flows` from `migration_events`; its row count. `run`: the engine (DuckDB)."""
    run = run or DuckDBRunner(con)
    periods = periods or ["month", "quarter", "year"]
    run.temp("_flow_members", flow_members_sql(periods, dialect=run.dialect))
    measures = ("count(DISTINCT person_key) AS persons, count(*) AS events, "
                "CAST(sum(CASE WHEN provisional THEN 1 ELSE 0 END) AS BIGINT) AS provisional_events")
    sql = breakdown_sql("_flow_members",
                        ["period_type", "period", "period_start", "period_end", "event_type"],
                        FLOW_DIMS, FLOW_SETS, measures)
    return run.table("flows", sql, "period_type, period, event_type, breakdown")
