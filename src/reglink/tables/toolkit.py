"""The UN toolkit's tables 3.1-3.3 (UN toolkit 2021, section III), filled from the warehouse.

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
- 3.4 births in the reference year by the reference parent's (mother, else father) country of
  birth and citizenship at the birth (`vital.py`: parents found by the register's own numbers);
- 3.5 deaths in the reference year by the person's country of birth and citizenship at death.

Every table carries `notes`: what cell U holds, and for 3.4 how many births have a parent found
— or that the register delivered no parent numbers, so that every birth is in U.
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
# the questionnaire's own wording for births and deaths (the cells and formulas are the same)
LABELS_34 = {
    "A": ("Total number of BIRTHS TO NATIVE-BORN PARENTS", "A=E+F"),
    "B": ("Total number of BIRTHS TO FOREIGN-BORN PARENTS", "B=G+H"),
    "C": ("Total number of births to NATIONAL CITIZEN parents", "C=E+G"),
    "D": ("Total number of births to FOREIGN CITIZEN parents", "D=F+H"),
    "E": ("Number of births to native-born and citizen parents", ""),
    "F": ("Number of births to foreign citizen and native-born parents", ""),
    "G": ("Number of births to foreign-born and citizen parents", ""),
    "H": ("Number of births to foreign-citizen and foreign-born parents", ""),
    "U": ("Births whose parent is not found or whose country of birth or citizenship is unknown "
          "(reglink)", ""),
    "T": ("Total births (A+B+U)", "T=A+B+U"),
}
LABELS_35 = {
    "A": ("Total number of deaths of NATIVE-BORN persons", "A=E+F"),
    "B": ("Total number of deaths of FOREIGN-BORN persons", "B=G+H"),
    "C": ("Total number of deaths of NATIONAL CITIZENS", "C=E+G"),
    "D": ("Total number of deaths of FOREIGN CITIZENS", "D=F+H"),
    "E": ("Number of deaths of native-born citizens", ""),
    "F": ("Number of deaths of native-born foreign citizens", ""),
    "G": ("Number of deaths of foreign-born citizens", ""),
    "H": ("Number of deaths of foreign-born foreign citizens", ""),
    "U": ("Deaths of persons with unknown country of birth or citizenship (reglink)", ""),
    "T": ("Total deaths (A+B+U)", "T=A+B+U"),
}
GRID_LABELS = {
    "3_4": ("C) Total number of births to NATIONAL CITIZEN parents (C=E+G)",
            "D) Total number of births to FOREIGN CITIZEN parents (D=F+H)",
            "Total (A=E+F births to native-born parents, B=G+H to foreign-born parents)"),
    "3_5": ("C) Total number of deaths of NATIONAL CITIZENS (C=E+G)",
            "D) Total number of deaths of FOREIGN CITIZENS (D=F+H)",
            "Total (A=E+F deaths of native-born, B=G+H of foreign-born persons)"),
}
UNKNOWN_NOTE = ("Cell U (not in the questionnaire): persons whose country of birth or citizenship "
                "is unknown; the grid leaves them out.")
DEFINITIONS = {
    "3_1": ("Resident population on 31 December of the reference year: persons whose status under "
            "residence rule {rule} is RESIDENT (UN Secretary-General report 2020 annex I, resident population), by country of "
            "birth and citizenship on that date."),
    "3_2": ("Immigrants: persons with at least one immigration (rule {rule}, UN Secretary-General report (2020) annex I) in the "
            "reference year, by country of birth and citizenship at the immigration."),
    "3_3": ("Emigrants: persons with at least one emigration (rule {rule}, UN Secretary-General report (2020) annex I) in the "
            "reference year, by country of birth and citizenship at the emigration."),
    "3_4": ("Births: live births registered in the population register (registration reason BIRTH) "
            "with a date of birth in the reference year, by the country of birth and citizenship "
            "of the mother, or of the father when the mother is not found, at the birth."),
    "3_5": ("Deaths: persons whose population-register record is closed for DEATH in the "
            "reference year, by their country of birth and citizenship at death."),
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


def _cells_sql(members: str, extra_i_j: bool, labels: dict[str, tuple[str, str]] = LABELS) -> str:
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
    selects = [f"SELECT {k} AS ord, '{cell}' AS cell, '{labels[cell][0]}' AS label, "
               f"'{labels[cell][1]}' AS formula, {expr} AS persons FROM c"
               for k, (cell, expr) in enumerate(rows)]
    return f"WITH c AS (SELECT {agg} FROM ({members}) m) " + " UNION ALL ".join(selects)


def births_note(con: duckdb.DuckDBPyConnection, year: int | None) -> str:
    """What table 3.4 can say about the parents: found for how many births, or why not."""
    rows = dict(con.execute(f"SELECT parent_link, count(*) FROM births WHERE birth_year = {year or 0} "
                            "GROUP BY parent_link").fetchall())
    total = sum(rows.values())
    if total == 0:
        return "No birth registered in the population register in the reference year."
    if rows.get("NOT_SUPPLIED"):
        return ("PARENTS ABSENT: the population register extract has no mother_person_number or "
                "father_person_number column, so no birth can be classified by its parents: all "
                f"{total:,} births are in cell U.")
    found = rows.get("LINKED", 0)
    return (f"Parents found for {found:,} of {total:,} births ({found / total:.0%}) through the "
            f"register's own numbers (mother, else father); {rows.get('NO_PARENT_NUMBER', 0):,} "
            f"records give no parent number and {rows.get('NUMBER_NOT_FOUND', 0):,} give a number "
            "no register record holds: those births are in cell U.")


def build_toolkit_tables(con: duckdb.DuckDBPyConnection, settings: TableSettings) -> dict[str, int]:
    """Write toolkit_table_3_1 … _3_5 for the reference year (needs stocks' _stock_members and
    the `births`/`deaths` tables of `vital.py`)."""
    year = reference_year(con, settings)
    out: dict[str, int] = {}
    # key -> (members, naturalised rows I/J, source tables, cell labels, notes)
    members = {
        "3_1": ("SELECT m.person_key, m.subpopulation, p.naturalisation_date IS NOT NULL "
                "AND p.naturalisation_date <= m.reference_date AS naturalised "
                "FROM _toolkit_residents m JOIN persons p ON p.person_key = m.person_key", True, "stocks",
                LABELS, UNKNOWN_NOTE),
        "3_2": (f"SELECT person_key, subpopulation, FALSE AS naturalised FROM migration_events "
                f"WHERE event_type = 'IMMIGRATION' AND event_year = {year or 0}", False,
                "migration_events, flows", LABELS, UNKNOWN_NOTE),
        "3_3": (f"SELECT person_key, subpopulation, FALSE AS naturalised FROM migration_events "
                f"WHERE event_type = 'EMIGRATION' AND event_year = {year or 0}", False,
                "migration_events, flows", LABELS, UNKNOWN_NOTE),
        "3_4": (f"SELECT person_key, subpopulation, FALSE AS naturalised FROM births "
                f"WHERE birth_year = {year or 0}", False, "births, persons", LABELS_34,
                births_note(con, year)),
        "3_5": (f"SELECT person_key, subpopulation, FALSE AS naturalised FROM deaths "
                f"WHERE death_year = {year or 0}", False, "deaths, persons", LABELS_35, UNKNOWN_NOTE),
    }
    # residents on 31 December of the reference year, with the same definition as `stocks`
    from reglink.tables.stocks import stock_members_sql

    ref = dt.date(year, 12, 31) if year else dt.date(1900, 12, 31)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _ref_dates AS SELECT DATE '{ref.isoformat()}' AS reference_date")
    con.execute("CREATE OR REPLACE TEMP TABLE _toolkit_residents AS SELECT * FROM ("
                + stock_members_sql(settings) + ") s WHERE population = 'RESIDENT'")
    for key, (sql, ij, tables, labels, notes) in members.items():
        definition = DEFINITIONS[key].format(rule=settings.rule.name).replace("'", "''")
        source = SOURCE.format(table=tables).replace("'", "''")
        notes = notes.replace("'", "''")
        con.execute(f"""CREATE OR REPLACE TABLE toolkit_table_{key} AS
          SELECT CAST({year if year else 'NULL'} AS INTEGER) AS reference_year, cell, label, formula,
                 persons, '{definition}' AS definition, '{source}' AS source, '{notes}' AS notes
          FROM ({_cells_sql(sql, ij, labels)}) t ORDER BY ord""")
        out[f"toolkit_table_{key}"] = con.execute(f"SELECT count(*) FROM toolkit_table_{key}").fetchall()[0][0]
        con.execute(f"CREATE OR REPLACE TABLE toolkit_table_{key}_grid AS "
                    + grid_sql(f"toolkit_table_{key}", ij, GRID_LABELS.get(key)))
        out[f"toolkit_table_{key}_grid"] = con.execute(
            f"SELECT count(*) FROM toolkit_table_{key}_grid").fetchall()[0][0]
    return out


def grid_sql(table: str, naturalised_row: bool, labels: tuple[str, str, str] | None = None) -> str:
    """The questionnaire's grid: rows C (citizens), [I/J naturalised], D (foreign citizens) and the
    totals A/B; columns native-born, foreign-born, total. Persons of unknown birthplace or
    citizenship (cell U) are left out of the grid, as the questionnaire has no place for them."""
    cell = "max(CASE WHEN cell = '{c}' THEN persons END)"
    e, f, g, h, i, j = (cell.format(c=c) for c in "EFGHIJ")
    c_label, d_label, total_label = labels or (
        "C) Total number of NATIONAL CITIZENS (C=E+G)", "D) Total number of FOREIGN CITIZENS (D=F+H)",
        "Total (A=E+F native-born, B=G+H foreign-born)")
    rows = [(1, c_label, e, g)]
    if naturalised_row:
        rows.append((2, "of which naturalised (I, J)", i, j))
    rows += [(3, d_label, f, h), (4, total_label, f"{e} + {f}", f"{g} + {h}")]
    parts = [f"SELECT max(reference_year) AS reference_year, {k} AS row_order, '{label}' AS row_label, "
             f"{nb} AS native_born, {fb} AS foreign_born, {nb} + {fb} AS total FROM {table}"
             for k, label, nb, fb in rows]
    return "SELECT * FROM (" + " UNION ALL ".join(parts) + ") g ORDER BY row_order"
