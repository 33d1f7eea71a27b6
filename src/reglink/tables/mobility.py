"""`temporary_mobility` and `asylum_flows`: movements that do not change the country of residence
(UN Secretary-General report 2020 para 36-41 and annex I; toolkit questions U, V, W, X, Y, Z, AA, AB, AC).

A *stay* is an ENTRY by a non-resident that is not an immigration, up to the next crossing (the
exit); its length is the days present, exit day out (docs/reference.md#residence-rules), so a same-day visit
has 0 days. A stay still open at `observed_until` runs to that day and is flagged `open_stays`.
`person_days` (the service-population measure, UN Secretary-General report (2020) para 39) is the sum of stay lengths; a
stay is counted in the year it starts. A *trip abroad* is the mirror: an EXIT by a resident that is
not an emigration (question AB, citizens working abroad without changing residence).

Person-year categories (a stay can fall in several):
- CROSS_BORDER_WORKER: at least `min_stays` stays in the year, each at most `max_stay_days` long,
  with a work-related travel reason (ILO 2018 via annex I: departs at daily or weekly intervals);
- SEASONAL_WORKER: work stays of `min_stay_days`..`max_stay_days` days, all of the year's work
  stays within `max_season_months` months;
- CIRCULAR_MOVER: at least `circular_min_stays` stays in the year (ECE 2016 via annex I).
"""
from __future__ import annotations

import duckdb

from reglink.tables.aggregate import breakdown_sql
from reglink.tables.persons import citizen_at, citizenship_at, subpopulation
from reglink.tables.settings import TableSettings
from reglink.tables.runner import DuckDBRunner, Runner
from reglink.tables.sql import DUCKDB, Dialect, columns

MOBILITY_DIMS = ["duration_band", "purpose", "sex", "citizenship", "country_of_birth", "subpopulation"]
MOBILITY_SETS: list[list[str]] = [
    [], ["duration_band"], ["purpose"], ["purpose", "duration_band"], ["sex"], ["citizenship"],
    ["country_of_birth"], ["subpopulation"], ["subpopulation", "duration_band"],
    ["purpose", "subpopulation", "duration_band"],
]
ASYLUM_DIMS = ["decision", "citizenship", "sex"]
ASYLUM_SETS: list[list[str]] = [[], ["decision"], ["citizenship"], ["sex"], ["citizenship", "decision"]]


def _quoted(values: list[str]) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) or "''"


def stays_sql(settings: TableSettings, dialect: Dialect = DUCKDB) -> str:
    """One row per non-resident stay or resident trip abroad, with its length and attributes."""
    days_between, add_days = dialect.days_between, dialect.add_days
    home = settings.home_country
    until = (f"DATE '{settings.observed_until.isoformat()}'" if settings.observed_until
             else "(SELECT max(crossing_date) FROM crossings)")
    d = "s.start_date"
    return f"""
      WITH seq AS (
        SELECT person_key, direction, crossing_date, status_before, is_migration, travel_reason,
               lead(crossing_date) OVER (PARTITION BY person_key ORDER BY crossing_order) AS next_date
        FROM crossings),
      s AS (
        SELECT person_key,
               CASE WHEN direction = 'ENTRY' THEN 'NON_RESIDENT_STAY' ELSE 'RESIDENT_TRIP_ABROAD' END AS mobility_type,
               crossing_date AS start_date, next_date IS NULL AS is_open,
               CAST({days_between('crossing_date', f"COALESCE(next_date, {add_days(until, 1)})")} AS BIGINT)
                 AS stay_days,
               COALESCE(travel_reason, 'UNKNOWN') AS purpose
        FROM seq
        WHERE NOT is_migration AND ((direction = 'ENTRY' AND status_before = 'NON_RESIDENT')
                                    OR (direction = 'EXIT' AND status_before = 'RESIDENT')))
      SELECT s.person_key, s.mobility_type, CAST(EXTRACT(YEAR FROM s.start_date) AS INTEGER) AS year,
             s.start_date, s.is_open, s.stay_days, s.purpose,
             {settings.band_sql('s.stay_days')} AS duration_band,
             COALESCE(p.sex, 'UNKNOWN') AS sex, {citizenship_at('p', d)} AS citizenship,
             COALESCE(p.country_of_birth, 'UNKNOWN') AS country_of_birth,
             {subpopulation('p.is_native_born', citizen_at('p', d, home))} AS subpopulation
      FROM s LEFT JOIN persons p ON p.person_key = s.person_key"""


def categories_sql(settings: TableSettings, dialect: Dialect = DUCKDB) -> str:
    """Person-year categories over `_stays` (NON_RESIDENT_STAY only)."""
    days_between, add_days = dialect.days_between, dialect.add_days
    cb = settings.cross_border_worker
    se = settings.seasonal_worker
    months_days = int(round(float(se.get("max_season_months", 9)) * 30.44))
    return f"""
      SELECT person_key, year,
             sum(CASE WHEN purpose IN ({_quoted(cb['reasons'])}) AND stay_days <= {int(cb['max_stay_days'])}
                      THEN 1 ELSE 0 END) >= {int(cb['min_stays'])} AS cross_border_worker,
             sum(CASE WHEN purpose IN ({_quoted(se['reasons'])}) AND stay_days >= {int(se['min_stay_days'])}
                       AND stay_days <= {int(se['max_stay_days'])} THEN 1 ELSE 0 END) >= 1
               AND {days_between(
                   f"min(CASE WHEN purpose IN ({_quoted(se['reasons'])}) THEN start_date END)",
                   f"max(CASE WHEN purpose IN ({_quoted(se['reasons'])}) THEN {add_days('start_date', 'stay_days')} END)")}
                   <= {months_days} AS seasonal_worker,
             count(*) >= {int(settings.circular_min_stays)} AS circular_mover
      FROM _stays WHERE mobility_type = 'NON_RESIDENT_STAY' GROUP BY person_key, year"""


def build_mobility(con: duckdb.DuckDBPyConnection, settings: TableSettings,
                   run: Runner | None = None) -> dict[str, int]:
    """Write `temporary_stays` (one row per stay, no identifiers) and `temporary_mobility`."""
    run = run or DuckDBRunner(con)
    out = {"temporary_stays": run.table("temporary_stays", stays_sql(settings, run.dialect),
                                        "person_key, start_date")}
    run.temp("_stays", "SELECT * FROM temporary_stays")
    run.temp("_stay_categories", categories_sql(settings, run.dialect))
    run.temp("_mobility_members", """
      SELECT s.*, 'ALL' AS category FROM _stays s
      UNION ALL SELECT s.*, 'CROSS_BORDER_WORKER' FROM _stays s JOIN _stay_categories c
        ON c.person_key = s.person_key AND c.year = s.year WHERE c.cross_border_worker
      UNION ALL SELECT s.*, 'SEASONAL_WORKER' FROM _stays s JOIN _stay_categories c
        ON c.person_key = s.person_key AND c.year = s.year WHERE c.seasonal_worker
      UNION ALL SELECT s.*, 'CIRCULAR_MOVER' FROM _stays s JOIN _stay_categories c
        ON c.person_key = s.person_key AND c.year = s.year WHERE c.circular_mover""")
    measures = ("count(DISTINCT person_key) AS persons, count(*) AS stays, CAST(sum(stay_days) AS BIGINT) AS person_days, "
                "CAST(sum(CASE WHEN is_open THEN 1 ELSE 0 END) AS BIGINT) AS open_stays")
    sql = breakdown_sql("_mobility_members", ["year", "mobility_type", "category"], MOBILITY_DIMS,
                        MOBILITY_SETS, measures)
    out["temporary_mobility"] = run.table("temporary_mobility", sql,
                                          "year, mobility_type, category, breakdown")
    return out


def asylum_members_sql(restricted: str, cols: list[str], dialect: Dialect = DUCKDB) -> str:
    """Asylum seekers arriving (applications, entries declaring ASYLUM) and departing (exits of
    persons with an application on or before the exit), per year."""
    text = dialect.text
    decision = "a.decision" if "decision" in cols else text("NULL")
    ddate = "a.decision_date" if "decision_date" in cols else "CAST(NULL AS DATE)"
    return f"""
      WITH apps AS (
        SELECT l.person_key, CAST(a.application_date AS DATE) AS application_date,
               {text(decision)} AS decision, CAST({ddate} AS DATE) AS decision_date
        FROM {restricted}.std_asylum_register a JOIN person_links l
          ON l.source = 'asylum_register' AND {text('l.record_id')} = {text('a.record_id')}),
      m AS (
        SELECT person_key, 'APPLICATION' AS flow, application_date AS flow_date,
               COALESCE(decision, 'PENDING') AS decision FROM apps
        UNION ALL
        SELECT person_key, 'DECISION', decision_date, decision FROM apps
        WHERE decision_date IS NOT NULL AND decision IS NOT NULL AND decision <> 'PENDING'
        UNION ALL
        SELECT c.person_key, 'DEPARTURE', c.crossing_date,
               CASE WHEN a.decision_date IS NOT NULL AND a.decision_date <= c.crossing_date
                    THEN COALESCE(a.decision, 'PENDING') ELSE 'PENDING' END
        FROM crossings c JOIN (
            SELECT person_key, application_date, decision, decision_date, row_number() OVER (
                PARTITION BY person_key ORDER BY application_date DESC) AS rn FROM apps) a
          ON a.person_key = c.person_key AND a.rn = 1 AND a.application_date <= c.crossing_date
        WHERE c.direction = 'EXIT'
        UNION ALL
        SELECT person_key, 'ENTRY_DECLARING_ASYLUM', crossing_date, 'ALL' FROM crossings
        WHERE direction = 'ENTRY' AND travel_reason = 'ASYLUM')
      SELECT m.person_key, m.flow, CAST(EXTRACT(YEAR FROM m.flow_date) AS INTEGER) AS year, m.decision,
             COALESCE(p.citizenship_before_naturalisation, p.citizenship, 'UNKNOWN') AS citizenship,
             COALESCE(p.sex, 'UNKNOWN') AS sex
      FROM m LEFT JOIN persons p ON p.person_key = m.person_key WHERE m.flow_date IS NOT NULL"""


def build_asylum_flows(con: duckdb.DuckDBPyConnection, settings: TableSettings,
                       restricted: str = "restricted", run: Runner | None = None) -> int:
    """Write `asylum_flows` (empty, with its columns, when there is no asylum register)."""
    run = run or DuckDBRunner(con)
    cols = columns(con, f"{restricted}.std_asylum_register")
    if cols:
        run.temp("_asylum_members", asylum_members_sql(restricted, cols, run.dialect))
    else:
        run.temp("_asylum_members", """
          SELECT person_key, 'ENTRY_DECLARING_ASYLUM' AS flow,
                 CAST(EXTRACT(YEAR FROM c.crossing_date) AS INTEGER) AS year, 'ALL' AS decision,
                 COALESCE(p.citizenship, 'UNKNOWN') AS citizenship, COALESCE(p.sex, 'UNKNOWN') AS sex
          FROM crossings c LEFT JOIN persons p USING (person_key)
          WHERE c.direction = 'ENTRY' AND c.travel_reason = 'ASYLUM'""")
    sql = breakdown_sql("_asylum_members", ["year", "flow"], ASYLUM_DIMS, ASYLUM_SETS,
                        "count(DISTINCT person_key) AS persons, count(*) AS events")
    return run.table("asylum_flows", sql, "year, flow, breakdown")
