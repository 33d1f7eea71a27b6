"""`residence_spells` and `stocks`: who is resident, emigrant, returned or temporarily present on
a reference date (UN Secretary-General report 2020 para 25-34 and annex I; toolkit table 3.1).

Stocks are derived from the same events as the flows, so they align (UN Secretary-General report 2020 para 27-28):
a person's status changes only at a migration event, and before the first crossing it is the
initial status (population register, else the rule default). `residence_spells` keeps those
status intervals [spell_start, spell_end) per person so the stock on any date is one query:

- persons with crossings: the initial spell (from the registration date when seeded from the
  population register, open otherwise) up to the first event, then one spell per event;
- persons without crossings but in the population register: RESIDENT from registration to
  deregistration (a deregistration for EMIGRATION opens a NON_RESIDENT spell, so they count in
  the emigrant population);
- every spell ends at death.

Beside the de jure stocks, `PRESENT_POPULATION` is the de facto population: persons physically
in the country on the reference date, from the crossings (the last crossing on or before the
date is an ENTRY — the entry day counts in, the exit day out; or the first crossing comes later
and is an EXIT), plus persons never seen at the border who are registered in the population
register that day (no crossing says they left). Residents abroad on a trip are not in it;
visitors are.

Registration dates of births equal the date of birth, a direct identifier; they are coarsened
to the first of the month in the warehouse (so a birth may enter the stock up to a month early).
Persons known only from permits or asylum files (no crossing, no register row) have no spell:
the rule cannot be applied without a crossing; docs/tables.md lists this as a known gap.
"""
from __future__ import annotations

import datetime as dt

import duckdb

from reglink.tables.aggregate import breakdown_sql
from reglink.tables.persons import citizen_at, citizenship_at, subpopulation
from reglink.tables.settings import TableSettings
from reglink.tables.runner import DuckDBRunner, Runner
from reglink.tables.sql import DUCKDB, Dialect, columns

STOCK_DIMS = ["sex", "age_group", "citizenship", "country_of_birth", "subpopulation", "country"]
STOCK_SETS: list[list[str]] = [
    [], ["sex"], ["age_group"], ["sex", "age_group"], ["citizenship"], ["country_of_birth"],
    ["subpopulation"], ["subpopulation", "sex"], ["country"],
]
# the four subpopulations (UN Secretary-General report 2020 para 32): every one is a row of the
# `subpopulation` and `subpopulation+sex` breakdowns, 0 when nobody is in it, so a filter for
# the four returns four (a missing row would read as "not measured", not as zero)
SUBPOPULATIONS = ("NATIVE_BORN_CITIZEN", "NATIVE_BORN_FOREIGN_CITIZEN", "FOREIGN_BORN_CITIZEN",
                  "FOREIGN_BORN_FOREIGN_CITIZEN")
POPULATIONS = ("RESIDENT", "IMMIGRANT_POPULATION", "EMIGRANT_POPULATION", "RETURNED_MIGRANTS",
               "TEMPORARY_POPULATION", "PRESENT_POPULATION")


def residence_spells_sql() -> str:
    """`residence_spells` from initial_status, migration_events and persons (portable SQL)."""
    return """
      WITH ev AS (
        SELECT person_key, event_type, event_date,
               lead(event_date) OVER (PARTITION BY person_key ORDER BY event_date, event_type) AS next_date,
               row_number() OVER (PARTITION BY person_key ORDER BY event_date, event_type) AS k
        FROM migration_events),
      firstev AS (SELECT person_key, min(event_date) AS first_event FROM migration_events GROUP BY person_key),
      raw AS (
        SELECT i.person_key, i.initial_status AS status,
               CASE WHEN i.initial_status_source = 'population_register' THEN p.registration_date END AS spell_start,
               f.first_event AS spell_end,
               upper(i.initial_status_source) AS basis
        FROM initial_status i LEFT JOIN firstev f ON f.person_key = i.person_key
        LEFT JOIN persons p ON p.person_key = i.person_key
        UNION ALL
        SELECT person_key, CASE WHEN event_type = 'IMMIGRATION' THEN 'RESIDENT' ELSE 'NON_RESIDENT' END,
               event_date, next_date, event_type
        FROM ev
        UNION ALL
        SELECT p.person_key, 'RESIDENT', p.registration_date, p.deregistration_date, 'POPULATION_REGISTER'
        FROM persons p WHERE p.in_population_register
          AND p.person_key NOT IN (SELECT person_key FROM initial_status)
        UNION ALL
        SELECT p.person_key, 'NON_RESIDENT', p.deregistration_date, NULL, 'DEREGISTRATION_EMIGRATION'
        FROM persons p WHERE p.in_population_register AND p.deregistration_reason = 'EMIGRATION'
          AND p.deregistration_date IS NOT NULL
          AND p.person_key NOT IN (SELECT person_key FROM initial_status))
      SELECT r.person_key, r.status, r.spell_start,
             CASE WHEN p.death_date IS NOT NULL AND (r.spell_end IS NULL OR p.death_date < r.spell_end)
                  THEN p.death_date ELSE r.spell_end END AS spell_end,
             r.basis,
             CASE WHEN p.death_date IS NOT NULL AND (r.spell_end IS NULL OR p.death_date <= r.spell_end)
                  THEN 'DEATH' END AS ended_by
      FROM raw r LEFT JOIN persons p ON p.person_key = r.person_key
      WHERE p.death_date IS NULL OR r.spell_start IS NULL OR r.spell_start < p.death_date"""


def build_residence_spells(con: duckdb.DuckDBPyConnection, run: Runner | None = None) -> int:
    """Write `residence_spells` from initial_status, migration_events and persons."""
    run = run or DuckDBRunner(con)
    return run.table("residence_spells", residence_spells_sql(), "person_key, spell_start NULLS FIRST")


def default_reference_dates(con: duckdb.DuckDBPyConnection, settings: TableSettings) -> list[dt.date]:
    """31 December of every year with crossings or events, up to observed_until, and observed_until."""
    row = con.execute("""
      SELECT min(d), max(d) FROM (SELECT crossing_date AS d FROM crossings
                                  UNION ALL SELECT event_date FROM migration_events) x""").fetchall()[0]
    if row[0] is None:
        return [settings.observed_until] if settings.observed_until else []
    last = settings.observed_until or row[1]
    dates = [dt.date(y, 12, 31) for y in range(row[0].year - 1, last.year + 1) if dt.date(y, 12, 31) <= last]
    if last not in dates:
        dates.append(last)
    return dates


def _age_at(d: str, dialect: Dialect) -> str:
    return (f"CAST(CASE WHEN b.birth_date IS NOT NULL THEN {dialect.full_years('b.birth_date', d)} "
            f"WHEN b.birth_year IS NOT NULL THEN EXTRACT(YEAR FROM {d}) - b.birth_year "
            f"- CASE WHEN EXTRACT(MONTH FROM {d}) < COALESCE(b.birth_month, 7) THEN 1 ELSE 0 END END AS INTEGER)")


def stock_members_sql(settings: TableSettings, dialect: Dialect = DUCKDB) -> str:
    """One row per (reference date, population, person) with attributes on that date."""
    home = settings.home_country
    d = "r.reference_date"
    cit = citizen_at("p", d, home)
    alive = f"(p.death_date IS NULL OR p.death_date > {d})"
    born = f"(b.birth_date IS NULL OR b.birth_date <= {d})"
    in_spell = f"(s.spell_start IS NULL OR s.spell_start <= {d}) AND (s.spell_end IS NULL OR s.spell_end > {d})"
    attrs = (f"COALESCE(p.sex, 'UNKNOWN') AS sex, {settings.age_group_sql(_age_at(d, dialect))} AS age_group, "
             f"{citizenship_at('p', d)} AS citizenship, COALESCE(p.country_of_birth, 'UNKNOWN') AS country_of_birth, "
             f"{subpopulation('p.is_native_born', cit)} AS subpopulation")
    # presence on day d: the last crossing on or before d (in repaired order) is an ENTRY
    return f"""
      WITH status AS (
        SELECT r.reference_date, s.person_key, s.status, s.basis, s.spell_start
        FROM _ref_dates r JOIN residence_spells s ON {in_spell}),
      emigrated AS (
        SELECT person_key, min(spell_start) AS first_emigration FROM residence_spells
        WHERE basis IN ('EMIGRATION', 'DEREGISTRATION_EMIGRATION') GROUP BY person_key),
      last_cross AS (
        SELECT reference_date, person_key, direction FROM (
          SELECT r.reference_date, c.person_key, c.direction,
                 row_number() OVER (PARTITION BY r.reference_date, c.person_key
                                    ORDER BY c.crossing_date DESC, c._order DESC) AS rn
          FROM _ref_dates r JOIN _crossing_order c ON c.crossing_date <= r.reference_date) x
        WHERE rn = 1),
      members AS (
        SELECT reference_date, person_key, 'RESIDENT' AS population, 'ALL' AS country
        FROM status WHERE status = 'RESIDENT'
        UNION ALL
        SELECT st.reference_date, st.person_key, 'IMMIGRANT_POPULATION', 'ALL' FROM status st
        WHERE st.status = 'RESIDENT'
        UNION ALL
        SELECT st.reference_date, st.person_key, 'EMIGRANT_POPULATION',
               COALESCE(ne.next_country_of_residence,
                        CASE WHEN st.basis = 'DEREGISTRATION_EMIGRATION' THEN pe.next_country END, 'UNKNOWN')
        FROM status st
        LEFT JOIN migration_events ne ON ne.person_key = st.person_key
         AND ne.event_type = 'EMIGRATION' AND ne.event_date = st.spell_start
        LEFT JOIN persons pe ON pe.person_key = st.person_key
        WHERE st.status = 'NON_RESIDENT' AND st.basis IN ('EMIGRATION', 'DEREGISTRATION_EMIGRATION')
        UNION ALL
        SELECT st.reference_date, st.person_key, 'RETURNED_MIGRANTS', 'ALL'
        FROM status st JOIN emigrated em ON em.person_key = st.person_key
        WHERE st.status = 'RESIDENT' AND st.basis = 'IMMIGRATION' AND em.first_emigration < st.spell_start
        UNION ALL
        SELECT st.reference_date, st.person_key, 'RETURNED_MIGRANTS', 'ALL'
        FROM status st JOIN persons p0 ON p0.person_key = st.person_key
        LEFT JOIN emigrated em ON em.person_key = st.person_key
        WHERE st.status = 'RESIDENT' AND st.basis = 'IMMIGRATION' AND em.person_key IS NULL
          AND p0.deregistration_reason = 'EMIGRATION' AND p0.deregistration_date < st.spell_start
        UNION ALL
        SELECT lc.reference_date, lc.person_key, 'TEMPORARY_POPULATION', 'ALL'
        FROM last_cross lc LEFT JOIN status st
          ON st.person_key = lc.person_key AND st.reference_date = lc.reference_date
        WHERE lc.direction = 'ENTRY' AND (st.status IS NULL OR st.status = 'NON_RESIDENT')
        UNION ALL
        -- present (de facto) population: physically in the country on d, whatever the status
        SELECT reference_date, person_key, 'PRESENT_POPULATION', 'ALL' FROM last_cross
        WHERE direction = 'ENTRY'
        UNION ALL
        -- no crossing yet by d, and the first one after it is an EXIT: in the country until then
        SELECT r.reference_date, f.person_key, 'PRESENT_POPULATION', 'ALL'
        FROM _ref_dates r JOIN _crossing_order f ON f._order = 1 AND f.crossing_date > r.reference_date
        WHERE f.direction = 'EXIT'
        UNION ALL
        -- never seen at the border: registered in the population register on d
        SELECT r.reference_date, p.person_key, 'PRESENT_POPULATION', 'ALL'
        FROM _ref_dates r JOIN persons p ON p.in_population_register
         AND (p.registration_date IS NULL OR p.registration_date <= r.reference_date)
         AND (p.deregistration_date IS NULL OR p.deregistration_date > r.reference_date)
        WHERE p.person_key NOT IN (SELECT person_key FROM _crossing_order))
      SELECT m.reference_date, m.population, m.person_key, m.country, {attrs}
      FROM members m JOIN _ref_dates r ON r.reference_date = m.reference_date
      JOIN persons p ON p.person_key = m.person_key
      LEFT JOIN _person_birth b ON b.person_key = m.person_key
      WHERE {alive} AND {born}
        AND (m.population <> 'IMMIGRANT_POPULATION'
             OR p.is_native_born = FALSE OR ({cit}) = FALSE)
        AND (m.population <> 'EMIGRANT_POPULATION'
             OR p.is_native_born = TRUE OR ({cit}) = TRUE)"""


def crossing_order_sql(cols: list[str]) -> str:
    """Crossings with their order within the person's day (`cols`: the crossings' columns)."""
    # the engine's crossing_order is the repaired, same-day-resolved order
    tie = next((c for c in ("crossing_order", "crossing_seq", "crossing_time", "sequence") if c in cols), None)
    order = tie if tie else "CASE WHEN direction = 'EXIT' THEN 0 ELSE 1 END"
    return f"""SELECT person_key, crossing_date, direction,
             row_number() OVER (PARTITION BY person_key ORDER BY crossing_date, {order}) AS _order
      FROM crossings"""


def build_crossing_order(con: duckdb.DuckDBPyConnection, run: Runner | None = None) -> None:
    """TEMP `_crossing_order` (in DuckDB too: the toolkit tables read it)."""
    (run or DuckDBRunner(con)).temp("_crossing_order", crossing_order_sql(columns(con, "crossings")),
                                    shared=True)


def zero_cells_sql(cells: str) -> str:
    """The rows of the `subpopulation` and `subpopulation+sex` breakdowns that `cells` lacks,
    with persons = 0: each of the four subpopulations at every reference date and population
    (crossed with the sexes of that date and population's `sex` breakdown). Columns in the
    order of `breakdown_sql`'s; standard SQL (no DuckDB-only joins), like the other builders."""
    codes = " UNION ALL ".join(f"SELECT '{c}' AS code" for c in SUBPOPULATIONS)
    dims = ", ".join(f"g.{d}" if d in ("sex", "subpopulation") else f"'ALL' AS {d}"
                     for d in STOCK_DIMS)
    return f"""
      SELECT g.reference_date, g.population, g.breakdown, {dims}, CAST(0 AS BIGINT) AS persons
      FROM (SELECT k.reference_date, k.population, 'subpopulation' AS breakdown, 'ALL' AS sex,
                   sp.code AS subpopulation
            FROM (SELECT DISTINCT reference_date, population FROM {cells}) k
            CROSS JOIN ({codes}) sp
            UNION ALL
            SELECT k.reference_date, k.population, 'subpopulation+sex', k.sex, sp.code
            FROM (SELECT DISTINCT reference_date, population, sex FROM {cells}
                  WHERE breakdown = 'sex') k
            CROSS JOIN ({codes}) sp) g
      LEFT JOIN {cells} c ON c.reference_date = g.reference_date AND c.population = g.population
        AND c.breakdown = g.breakdown AND c.sex = g.sex AND c.subpopulation = g.subpopulation
      WHERE c.breakdown IS NULL"""


def build_stocks(con: duckdb.DuckDBPyConnection, settings: TableSettings,
                 run: Runner | None = None) -> int:
    """Write `residence_spells`, then `stocks` at the configured (or default) reference dates."""
    run = run or DuckDBRunner(con)
    build_residence_spells(con, run)
    build_crossing_order(con, run)
    dates = settings.reference_dates or default_reference_dates(con, settings)
    values = ", ".join(f"(DATE '{d.isoformat()}')" for d in dates) or "(CAST(NULL AS DATE))"
    run.temp("_ref_dates", f"SELECT * FROM (VALUES {values}) AS v(reference_date) "
             "WHERE reference_date IS NOT NULL")
    run.temp("_stock_members", stock_members_sql(settings, run.dialect))
    sql = breakdown_sql("_stock_members", ["reference_date", "population"], STOCK_DIMS, STOCK_SETS,
                        "count(DISTINCT person_key) AS persons")
    run.temp("_stock_cells", sql)
    return run.table("stocks", "SELECT * FROM (SELECT * FROM _stock_cells UNION ALL "
                     f"{zero_cells_sql('_stock_cells')}) s", "reference_date, population, breakdown")
