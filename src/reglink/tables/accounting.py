"""`accounting`: the population accounting identity per subpopulation and year (UN Secretary-General report 2020 para 35;
figure III): stock at start + immigration − emigration + births − deaths + citizenship acquired
− citizenship lost = stock at end. The `residual` column is end minus that sum, shown not hidden.

All terms come from the same `residence_spells` and `migration_events` as `stocks` and `flows`,
so on consistent data the residual is 0. It is non-zero where the registers disagree with the
crossings: e.g. a person registered as resident whose entry crossing is missing is in the stock
without an immigration. Stocks are taken at the end of 31 December (start = end of the previous
year); a person's subpopulation is the one on the day of each term (naturalisation moves a
resident from a foreign-citizen cell to the matching citizen cell: `citizenship_acquired` in the
citizen cell, `citizenship_lost` in the foreign-citizen cell, net 0 in the total).
"""
from __future__ import annotations

import duckdb

from reglink.tables.persons import citizen_at, subpopulation
from reglink.tables.settings import TableSettings
from reglink.tables.runner import DuckDBRunner, Runner
from reglink.tables.sql import DUCKDB, Dialect

TERMS = ("stock_start", "immigration", "emigration", "births", "deaths", "citizenship_acquired",
         "citizenship_lost", "stock_end")


def covers(spell: str, d: str) -> str:
    """SQL predicate: RESIDENT spell `spell` covers the end of day d."""
    return (f"{spell}.status = 'RESIDENT' AND ({spell}.spell_start IS NULL OR {spell}.spell_start <= {d}) "
            f"AND ({spell}.spell_end IS NULL OR {spell}.spell_end > {d})")


def accounting_sql(settings: TableSettings, years: list[int], dialect: Dialect = DUCKDB) -> str:
    """Joins only (no correlated subqueries), so Spark SQL runs it as DuckDB does."""
    home = settings.home_country

    def sub(d: str) -> str:
        return subpopulation("p.is_native_born", citizen_at("p", d, home))

    born = "(b.birth_date IS NULL OR b.birth_date <= {d})"
    alive = "(p.death_date IS NULL OR p.death_date > {d})"
    year_values = ", ".join(f"({y})" for y in years) or "(NULL)"
    end = dialect.make_date("y.year", "12", "31")
    start = dialect.make_date("y.year - 1", "12", "31")
    nat_before = dialect.add_days("p.naturalisation_date", -1)
    return f"""
      WITH y AS (SELECT * FROM (VALUES {year_values}) AS v(year) WHERE year IS NOT NULL),
      stock AS (
        SELECT DISTINCT y.year, 'stock_start' AS term, p.person_key, {sub(start)} AS subpopulation
        FROM y CROSS JOIN persons p
        JOIN residence_spells s ON s.person_key = p.person_key AND {covers('s', start)}
        LEFT JOIN _person_birth b ON b.person_key = p.person_key
        WHERE {alive.format(d=start)} AND {born.format(d=start)}
        UNION ALL
        SELECT DISTINCT y.year, 'stock_end', p.person_key, {sub(end)}
        FROM y CROSS JOIN persons p
        JOIN residence_spells s ON s.person_key = p.person_key AND {covers('s', end)}
        LEFT JOIN _person_birth b ON b.person_key = p.person_key
        WHERE {alive.format(d=end)} AND {born.format(d=end)}),
      nat AS (
        SELECT DISTINCT y.year, p.person_key, p.is_native_born
        FROM persons p JOIN y ON y.year = EXTRACT(YEAR FROM p.naturalisation_date)
        JOIN residence_spells s1 ON s1.person_key = p.person_key AND {covers('s1', nat_before)}
        JOIN residence_spells s2 ON s2.person_key = p.person_key AND {covers('s2', 'p.naturalisation_date')}),
      vital AS (
        SELECT DISTINCT y.year, p.person_key, 'births' AS term, {sub('p.registration_date')} AS subpopulation
        FROM persons p JOIN y ON y.year = EXTRACT(YEAR FROM p.registration_date)
        JOIN residence_spells s ON s.person_key = p.person_key AND {covers('s', 'p.registration_date')}
        WHERE p.registration_reason = 'BIRTH'
        UNION ALL
        SELECT DISTINCT y.year, p.person_key, 'deaths', {sub('p.death_date')}
        FROM persons p JOIN y ON y.year = EXTRACT(YEAR FROM p.death_date)
        JOIN residence_spells s ON s.person_key = p.person_key
         AND s.status = 'RESIDENT' AND s.ended_by = 'DEATH'),
      terms AS (
        SELECT year, subpopulation, term, 1 AS n FROM stock
        UNION ALL
        SELECT e.event_year, e.subpopulation, lower(e.event_type), 1
        FROM migration_events e JOIN y ON y.year = e.event_year
        UNION ALL
        SELECT year, subpopulation, term, 1 FROM vital
        UNION ALL
        SELECT year, {subpopulation('is_native_born', 'TRUE')}, 'citizenship_acquired', 1 FROM nat
        UNION ALL
        SELECT year, {subpopulation('is_native_born', 'FALSE')}, 'citizenship_lost', 1 FROM nat),
      cells AS (
        SELECT y.year, s.subpopulation FROM y CROSS JOIN (
          SELECT 'NATIVE_BORN_CITIZEN' AS subpopulation UNION ALL SELECT 'NATIVE_BORN_FOREIGN_CITIZEN'
          UNION ALL SELECT 'FOREIGN_BORN_CITIZEN' UNION ALL SELECT 'FOREIGN_BORN_FOREIGN_CITIZEN'
          UNION ALL SELECT 'UNKNOWN') s),
      wide AS (
        SELECT c.year, c.subpopulation,
               {', '.join(f"CAST(COALESCE(sum(CASE WHEN t.term = '{k}' THEN t.n END), 0) AS BIGINT) AS {k}" for k in TERMS)}
        FROM cells c LEFT JOIN terms t ON t.year = c.year AND t.subpopulation = c.subpopulation
        GROUP BY c.year, c.subpopulation),
      withtotal AS (
        SELECT * FROM wide
        UNION ALL
        SELECT year, 'TOTAL', {', '.join(f'CAST(sum({k}) AS BIGINT)' for k in TERMS)} FROM wide GROUP BY year)
      SELECT *, stock_end - (stock_start + immigration - emigration + births - deaths
                             + citizenship_acquired - citizenship_lost) AS residual
      FROM withtotal"""


def accounting_years(con: duckdb.DuckDBPyConnection, settings: TableSettings) -> list[int]:
    """Every calendar year from the first crossing/event to observed_until (or the last one)."""
    row = con.execute("""SELECT min(d), max(d) FROM (
        SELECT crossing_date AS d FROM crossings UNION ALL SELECT event_date FROM migration_events) x""").fetchall()[0]
    if row[0] is None:
        return []
    last = settings.observed_until or row[1]
    return list(range(row[0].year, last.year + 1))


def build_accounting(con: duckdb.DuckDBPyConnection, settings: TableSettings,
                     run: Runner | None = None) -> int:
    """Write `accounting` (needs residence_spells, migration_events, persons, _person_birth)."""
    run = run or DuckDBRunner(con)
    years = accounting_years(con, settings)
    return run.table("accounting", accounting_sql(settings, years, run.dialect), "year, subpopulation")
