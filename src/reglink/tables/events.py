"""`migration_events`: the residence rule applied to each person's repaired crossings, with the
person's attributes at the event (docs/reference.md#warehouse-tables; UN Secretary-General report (2020) annex I).

- The events are the crossings `classify_crossings` marks as migrations (see crossings.py for
  the initial status seeded from the population register and the permit evidence).
- Attributes are taken at the event date: age in completed years, citizenship and is_citizen
  after naturalisation, the four subpopulations (UN Secretary-General report 2020 para 32), previous and next country of
  residence, and the reason (the purpose of the permit held at arrival, else the travel reason).
"""
from __future__ import annotations

import duckdb
import polars as pl

from reglink.tables.persons import citizen_at, citizenship_at, subpopulation
from reglink.tables.settings import TableSettings
from reglink.tables.runner import DuckDBRunner, Runner
from reglink.tables.sql import DUCKDB, Dialect, columns

CARRIED = ("crossing_record_id", "travel_reason", "country_of_residence", "origin_destination")
EVENT_COLUMNS = [
    "person_key", "event_type", "event_date", "provisional", "rule", "crossing_record_id", "sex",
    "age_at_event", "age_group", "citizenship", "country_of_birth", "is_citizen", "is_native_born",
    "subpopulation", "previous_country_of_residence", "next_country_of_residence", "reason",
    "reason_source", "is_returning_citizen", "is_returning_native_born", "event_year",
    "event_quarter", "event_month",
]


def enrich_sql(settings: TableSettings, permits: bool, carry: tuple[str, ...] = (),
               dialect: Dialect = DUCKDB) -> str:
    """SELECT adding attributes at the event date to the raw events in `_events_raw`; `carry`:
    further columns of `_events_raw` passed through (the provisional model's probabilities)."""
    home = settings.home_country
    d = "e.event_date"
    days_between, add_days, text = dialect.days_between, dialect.add_days, dialect.text
    age_full = dialect.full_years("b.birth_date", d)
    age_part = (f"(EXTRACT(YEAR FROM {d}) - b.birth_year - CASE WHEN EXTRACT(MONTH FROM {d}) * 100 + "
                f"EXTRACT(DAY FROM {d}) < COALESCE(b.birth_month, 7) * 100 + CASE WHEN b.birth_month "
                f"IS NULL THEN 1 ELSE 15 END THEN 1 ELSE 0 END)")
    age = (f"CAST(CASE WHEN b.birth_date IS NOT NULL THEN {age_full} "
           f"WHEN b.birth_year IS NOT NULL THEN {age_part} END AS INTEGER)")
    permit_join = ""
    permit_reason = text("NULL")
    if permits:
        la = settings.permit_reason_lookahead_days
        permit_join = f"""
      LEFT JOIN (SELECT ev_key, reason FROM (
          SELECT e.ev_key, COALESCE(pm.purpose, pm.permit_kind) AS reason,
                 row_number() OVER (PARTITION BY e.ev_key ORDER BY
                    abs({days_between('e.event_date', 'pm.valid_from')}), pm.valid_from) AS rn
          FROM _events_raw e JOIN _permits pm ON pm.person_key = e.person_key
          WHERE e.event_type = 'IMMIGRATION' AND pm.valid_from <= {add_days('e.event_date', la)}
            AND (pm.valid_to IS NULL OR pm.valid_to >= e.event_date)) x WHERE rn = 1) pr
        ON pr.ev_key = e.ev_key"""
        permit_reason = "pr.reason"
    cit = citizen_at("p", d, home)
    native = "p.is_native_born"
    return f"""
      WITH ev AS (
        SELECT e.person_key, e.event_type, CAST(e.event_date AS DATE) AS event_date,
               CAST(e.provisional AS BOOLEAN) AS provisional, {text('e.rule')} AS rule,
               {text('e.crossing_record_id')} AS crossing_record_id,
               COALESCE(p.sex, 'UNKNOWN') AS sex, {age} AS age_at_event,
               {citizenship_at('p', d)} AS citizenship, COALESCE(p.country_of_birth, 'UNKNOWN') AS country_of_birth,
               {cit} AS is_citizen, {native} AS is_native_born,
               CASE WHEN e.event_type = 'IMMIGRATION'
                    THEN COALESCE(CASE WHEN e.country_of_residence <> '{home}' THEN e.country_of_residence END,
                                  CASE WHEN e.origin_destination <> '{home}' THEN e.origin_destination END,
                                  CASE WHEN p.registration_reason = 'IMMIGRATION' THEN p.previous_country END)
                    ELSE '{home}' END AS previous_country_of_residence,
               CASE WHEN e.event_type = 'EMIGRATION'
                    THEN COALESCE(CASE WHEN e.country_of_residence <> '{home}' THEN e.country_of_residence END,
                                  CASE WHEN p.deregistration_reason = 'EMIGRATION' THEN p.next_country END,
                                  CASE WHEN e.origin_destination <> '{home}' THEN e.origin_destination END)
                    ELSE '{home}' END AS next_country_of_residence,
               {permit_reason} AS permit_reason, e.travel_reason{''.join(f", e.{c}" for c in carry)}
        FROM _events_raw e
        LEFT JOIN persons p ON p.person_key = e.person_key
        LEFT JOIN _person_birth b ON b.person_key = e.person_key
        {permit_join})
      SELECT person_key, event_type, event_date, provisional, rule, crossing_record_id, sex,
             age_at_event, {settings.age_group_sql('age_at_event')} AS age_group,
             citizenship, country_of_birth, is_citizen, is_native_born,
             {subpopulation('is_native_born', 'is_citizen')} AS subpopulation,
             previous_country_of_residence, next_country_of_residence,
             COALESCE(permit_reason, travel_reason) AS reason,
             CASE WHEN permit_reason IS NOT NULL THEN 'permit'
                  WHEN travel_reason IS NOT NULL THEN 'travel_record' END AS reason_source,
             event_type = 'IMMIGRATION' AND COALESCE(is_citizen, FALSE) AS is_returning_citizen,
             event_type = 'IMMIGRATION' AND COALESCE(is_native_born, FALSE) AS is_returning_native_born,
             CAST(EXTRACT(YEAR FROM event_date) AS INTEGER) AS event_year,
             CAST(EXTRACT(QUARTER FROM event_date) AS INTEGER) AS event_quarter,
             CAST(EXTRACT(MONTH FROM event_date) AS INTEGER) AS event_month{''.join(f", {c}" for c in carry)}
      FROM ev"""


def enrich_events(con: duckdb.DuckDBPyConnection, raw_events: pl.DataFrame, settings: TableSettings,
                  permits: pl.DataFrame | None = None, carry: tuple[str, ...] = (),
                  run: Runner | None = None) -> int:
    """Write `migration_events` from the engine's events plus `persons`, `crossings`, permits.
    `run`: the engine the enrichment SQL runs on (DuckDB)."""
    run = run or DuckDBRunner(con)
    raw = raw_events.with_row_index("ev_key")
    if "person_id" in raw.columns and "person_key" not in raw.columns:
        raw = raw.rename({"person_id": "person_key"})
    raw = raw.with_columns([pl.lit(None, pl.String).alias(c) for c in CARRIED if c not in raw.columns])
    con.register("_ev_in", raw)
    con.execute("CREATE OR REPLACE TEMP TABLE _events_raw AS SELECT * FROM _ev_in")
    con.unregister("_ev_in")
    has_permits = permits is not None and len(permits) > 0
    if has_permits:
        con.register("_pm_in", permits)
        con.execute("CREATE OR REPLACE TEMP TABLE _permits AS SELECT * FROM _pm_in")
        con.unregister("_pm_in")
    sql = enrich_sql(settings, has_permits, carry, run.dialect)
    return run.table("migration_events", sql, "person_key, event_date, event_type")


def all_permits_sql(con: duckdb.DuckDBPyConnection, restricted: str,
                    where: str = "TRUE") -> str | None:
    """SELECT of every linked permit of the persons `where` selects (on `l.person_key`), or
    None without a permit register."""
    cols = columns(con, f"{restricted}.std_permits")
    if not cols:
        return None
    purpose = "s.purpose" if "purpose" in cols else "CAST(NULL AS VARCHAR)"
    valid_to = "s.valid_to" if "valid_to" in cols else "CAST(NULL AS DATE)"
    return f"""
      SELECT l.person_key, CAST(s.valid_from AS DATE) AS valid_from, CAST({valid_to} AS DATE) AS valid_to,
             CAST(s.permit_kind AS VARCHAR) AS permit_kind, CAST({purpose} AS VARCHAR) AS purpose
      FROM {restricted}.std_permits s JOIN person_links l
        ON l.source = 'permits' AND CAST(l.record_id AS VARCHAR) = CAST(s.record_id AS VARCHAR)
      WHERE {where}"""


def all_permits(con: duckdb.DuckDBPyConnection, restricted: str,
                where: str = "TRUE") -> pl.DataFrame | None:
    """Every linked permit (for the reason of an immigration) of the persons `where` selects
    (on `l.person_key`), or None without a permit register."""
    sql = all_permits_sql(con, restricted, where)
    return None if sql is None else con.sql(sql).pl()


def build_events(con: duckdb.DuckDBPyConnection, settings: TableSettings,
                 restricted: str = "restricted", run: Runner | None = None) -> int:
    """`migration_events` = the classified crossings that are migrations, with attributes."""
    cols = columns(con, "crossings")
    if "is_migration" in cols:
        raw = con.sql(f"""
          SELECT person_key, event_type, crossing_date AS event_date, provisional, rule,
                 {', '.join(c for c in CARRIED if c in cols)}
          FROM crossings WHERE is_migration""").pl()
    else:  # no crossings at all
        raw = pl.DataFrame(schema={"person_key": pl.String, "event_type": pl.String,
                                   "event_date": pl.Date, "provisional": pl.Boolean,
                                   "rule": pl.String})
    return enrich_events(con, raw, settings, all_permits(con, restricted), run=run)
