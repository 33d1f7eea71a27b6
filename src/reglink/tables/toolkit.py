"""The UN toolkit's tables 3.1-3.3 (seed 000, section III), filled from the warehouse.

Each table is the questionnaire's 2x2 of native/foreign-born x national/foreign citizens with
its cell letters: A) native-born (A=E+F), B) foreign-born (B=G+H), C) national citizens (C=E+G),
D) foreign citizens (D=F+H), E) native-born citizens, F) native-born foreign citizens,
G) foreign-born citizens, H) foreign-born foreign citizens; table 3.1 also I) and J), the
naturalised citizens among the native-born and foreign-born. One row per cell, in the seed's
order, with the formula, definition and source the questionnaire asks for. Persons whose
country of birth or citizenship is unknown fit no cell; they are reported in cell `U` so the
total still adds up (the questionnaire has no such cell; it is ours).

- 3.1 resident population at the end of the reference year (31 December);
- 3.2 immigrants: persons with an immigration in the reference year (attributes at the event);
- 3.3 emigrants: persons with an emigration in the reference year (attributes at the event).
"""
from __future__ import annotations

import datetime as dt

import duckdb

from reglink.tables.settings import TableSettings

SUBS = {"E": "NATIVE_BORN_CITIZEN", "F": "NATIVE_BORN_FOREIGN_CITIZEN",
        "G": "FOREIGN_BORN_CITIZEN", "H": "FOREIGN_BORN_FOREIGN_CITIZEN", "U": "UNKNOWN"}
LABELS = {
    "A": ("Total number of NATIVE-BORN persons", "A=E+F"),
    "B": ("Total number of FOREIGN-BORN persons", "B=G+H"),
    "C": ("Total number of NATIONAL CITIZENS", "C=E+G"),
    "D": ("Total number of FOREIGN CITIZENS", "D=F+H"),
    "E": ("Number of native-born citizens", ""),
    "F": ("Number of native-born foreign citizens", ""),
    "G": ("Number of foreign-born citizens", ""),
    "H": ("Number of foreign-born foreign citizens", ""),
    "I": ("Number of native-born citizens who have been naturalised", ""),
    "J": ("Number of foreign-born citizens who have been naturalised", ""),
    "U": ("Persons with unknown country of birth or citizenship (reglink)", ""),
    "T": ("Total (A+B+U)", "T=A+B+U"),
}
DEFINITIONS = {
    "3_1": ("Resident population on 31 December of the reference year: persons whose status under "
            "residence rule {rule} is RESIDENT (seed 004 annex I, resident population), by country of "
            "birth and citizenship on that date."),
    "3_2": ("Immigrants: persons with at least one immigration (rule {rule}, seed 004 annex I) in the "
            "reference year, by country of birth and citizenship at the immigration."),
    "3_3": ("Emigrants: persons with at least one emigration (rule {rule}, seed 004 annex I) in the "
            "reference year, by country of birth and citizenship at the emigration."),
}
SOURCE = ("reglink: border crossings linked with the population register, permits and asylum "
          "register; warehouse tables {table}")


def reference_year(con: duckdb.DuckDBPyConnection, settings: TableSettings) -> int | None:
    """Configured, else the last year whose 31 December windows are fully observed, else the
    last year with data."""
    if settings.reference_year:
        return int(settings.reference_year)
    row = con.execute("SELECT min(crossing_date), max(crossing_date) FROM crossings").fetchall()[0]
    if row[0] is None:
        return settings.observed_until.year if settings.observed_until else None
    until = settings.observed_until or row[1]
    w = settings.rule.window_days if settings.rule.mode == "cumulative" else settings.rule.threshold_days
    last_full = until - dt.timedelta(days=w - 1)
    year = last_full.year if (last_full.month, last_full.day) == (12, 31) else last_full.year - 1
    return year if year >= row[0].year else until.year


def _cells_sql(members: str, extra_i_j: bool) -> str:
    """From `members(person_key, subpopulation, naturalised)` the lettered cells."""
    agg = ", ".join(f"count(DISTINCT CASE WHEN subpopulation = '{s}' THEN person_key END) AS {c}"
                    for c, s in SUBS.items())
    agg += (", count(DISTINCT CASE WHEN naturalised AND subpopulation = 'NATIVE_BORN_CITIZEN' "
            "THEN person_key END) AS I, count(DISTINCT CASE WHEN naturalised AND subpopulation = "
            "'FOREIGN_BORN_CITIZEN' THEN person_key END) AS J")
    rows = [("A", "E + F"), ("B", "G + H"), ("C", "E + G"), ("D", "F + H"), ("E", "E"), ("F", "F"),
            ("G", "G"), ("H", "H")]
    if extra_i_j:
        rows += [("I", "I"), ("J", "J")]
    rows += [("U", "U"), ("T", "E + F + G + H + U")]
    selects = [f"SELECT {k} AS ord, '{cell}' AS cell, '{LABELS[cell][0]}' AS label, "
               f"'{LABELS[cell][1]}' AS formula, {expr} AS persons FROM c"
               for k, (cell, expr) in enumerate(rows)]
    return f"WITH c AS (SELECT {agg} FROM ({members}) m) " + " UNION ALL ".join(selects)


def build_toolkit_tables(con: duckdb.DuckDBPyConnection, settings: TableSettings) -> dict[str, int]:
    """Write toolkit_table_3_1, _3_2, _3_3 for the reference year (needs stocks' _stock_members)."""
    year = reference_year(con, settings)
    out: dict[str, int] = {}
    members = {
        "3_1": ("SELECT m.person_key, m.subpopulation, p.naturalisation_date IS NOT NULL "
                "AND p.naturalisation_date <= m.reference_date AS naturalised "
                "FROM _toolkit_residents m JOIN persons p ON p.person_key = m.person_key", True, "stocks"),
        "3_2": (f"SELECT person_key, subpopulation, FALSE AS naturalised FROM migration_events "
                f"WHERE event_type = 'IMMIGRATION' AND event_year = {year or 0}", False,
                "migration_events, flows"),
        "3_3": (f"SELECT person_key, subpopulation, FALSE AS naturalised FROM migration_events "
                f"WHERE event_type = 'EMIGRATION' AND event_year = {year or 0}", False,
                "migration_events, flows"),
    }
    # residents on 31 December of the reference year, with the same definition as `stocks`
    from reglink.tables.stocks import stock_members_sql

    ref = dt.date(year, 12, 31) if year else dt.date(1900, 12, 31)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _ref_dates AS SELECT DATE '{ref.isoformat()}' AS reference_date")
    con.execute("CREATE OR REPLACE TEMP TABLE _toolkit_residents AS SELECT * FROM ("
                + stock_members_sql(settings) + ") s WHERE population = 'RESIDENT'")
    for key, (sql, ij, tables) in members.items():
        definition = DEFINITIONS[key].format(rule=settings.rule.name).replace("'", "''")
        source = SOURCE.format(table=tables).replace("'", "''")
        con.execute(f"""CREATE OR REPLACE TABLE toolkit_table_{key} AS
          SELECT CAST({year if year else 'NULL'} AS INTEGER) AS reference_year, cell, label, formula,
                 persons, '{definition}' AS definition, '{source}' AS source
          FROM ({_cells_sql(sql, ij)}) t ORDER BY ord""")
        out[f"toolkit_table_{key}"] = con.execute(f"SELECT count(*) FROM toolkit_table_{key}").fetchall()[0][0]
        con.execute(f"CREATE OR REPLACE TABLE toolkit_table_{key}_grid AS " + grid_sql(f"toolkit_table_{key}", ij))
        out[f"toolkit_table_{key}_grid"] = con.execute(
            f"SELECT count(*) FROM toolkit_table_{key}_grid").fetchall()[0][0]
    return out


def grid_sql(table: str, naturalised_row: bool) -> str:
    """The questionnaire's grid: rows C (citizens), [I/J naturalised], D (foreign citizens) and the
    totals A/B; columns native-born, foreign-born, total. Persons of unknown birthplace or
    citizenship (cell U) are left out of the grid, as the questionnaire has no place for them."""
    cell = "max(CASE WHEN cell = '{c}' THEN persons END)"
    e, f, g, h, i, j = (cell.format(c=c) for c in "EFGHIJ")
    rows = [(1, "C) Total number of NATIONAL CITIZENS (C=E+G)", e, g)]
    if naturalised_row:
        rows.append((2, "of which naturalised (I, J)", i, j))
    rows += [(3, "D) Total number of FOREIGN CITIZENS (D=F+H)", f, h),
             (4, "Total (A=E+F native-born, B=G+H foreign-born)", f"{e} + {f}", f"{g} + {h}")]
    parts = [f"SELECT max(reference_year) AS reference_year, {k} AS row_order, '{label}' AS row_label, "
             f"{nb} AS native_born, {fb} AS foreign_born, {nb} + {fb} AS total FROM {table}"
             for k, label, nb, fb in rows]
    return "SELECT * FROM (" + " UNION ALL ".join(parts) + ") g ORDER BY row_order"
