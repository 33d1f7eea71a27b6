"""No warehouse date may give away a date of birth.

A birth registered at birth is dated on the day of birth, and that date travels: the person's
registration date, the start of their first residence spell, a newborn's first crossing. The
warehouse holds no dates of birth, but such a copy would put one back. After every table is
built (aggregates already counted from the exact dates), each DATE column of each table that
carries `person_key` is coarsened to the first of its month wherever it equals one of that
person's recorded dates of birth. Found by the catalog, so a table added later is covered too.
"""
from __future__ import annotations

import duckdb

BIRTH_DATES = "_birth_dates"


def birth_dates_table(con: duckdb.DuckDBPyConnection) -> str:
    """TEMP table of every (person_key, birth_date) the build saw: each record's own and the
    consolidated one (restricted: dies with the connection)."""
    con.execute(f"""
      CREATE OR REPLACE TEMP TABLE {BIRTH_DATES} AS
      SELECT DISTINCT person_key, birth_date FROM (
        SELECT person_key, birth_date FROM _records
        UNION ALL SELECT person_key, birth_date FROM _person_birth)
      WHERE birth_date IS NOT NULL""")
    return BIRTH_DATES


def person_date_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(table, column) of every DATE column in a warehouse table that has `person_key`."""
    return [tuple(r) for r in con.execute("""
        SELECT c.table_name, c.column_name FROM information_schema.columns c
        JOIN information_schema.tables t USING (table_catalog, table_schema, table_name)
        WHERE c.table_catalog = current_database() AND c.table_schema = current_schema()
          AND t.table_type = 'BASE TABLE' AND c.data_type = 'DATE'
          AND EXISTS (SELECT 1 FROM information_schema.columns k
                      WHERE k.table_catalog = c.table_catalog AND k.table_schema = c.table_schema
                        AND k.table_name = c.table_name AND k.column_name = 'person_key')
        ORDER BY 1, 2""").fetchall()]


def coarsen_birth_dates(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Set to the first of its month every person date equal to that person's date of birth;
    `table.column` -> dates coarsened."""
    dob = birth_dates_table(con)
    out: dict[str, int] = {}
    for table, column in person_date_columns(con):
        n = con.execute(f"""
            UPDATE "{table}" AS t SET "{column}" = CAST(date_trunc('month', t."{column}") AS DATE)
            FROM {dob} b WHERE b.person_key = t.person_key AND b.birth_date = t."{column}"
              AND day(t."{column}") <> 1""").fetchall()[0][0]
        if n:
            out[f"{table}.{column}"] = n
    return out
