"""`births` and `deaths`: the vital events the population register records, with the attributes
the toolkit's tables 3.4 and 3.5 classify them by.

- A **birth** is a population-register record with registration reason `BIRTH`, dated by the
  child's birth date (date of occurrence; the month's first day in the warehouse). Table 3.4
  classifies births by their *parents'* country of birth and citizenship, so the parents must be
  found: the register may carry the optional columns `mother_person_number` and
  `father_person_number` (its own numbers of the parents). They are resolved to the parents'
  person keys through the register's `person_number` and `person_links` — an exact join on the
  register's own numbers, no probabilistic linkage. The numbers stay in the restricted store; the
  warehouse gets only person keys and attributes.
- The **reference parent** is the mother when she is found, else the father: vital statistics
  classify births by the mother's characteristics, and one cell per birth keeps the 2x2 additive
  (A=E+F, C=E+G). The parent's citizenship is taken on the birth date (after naturalisation a
  citizen). Births whose parents are not found fall in cell `U`; `parent_link` says why
  (`NOT_SUPPLIED`: the extract has no parent columns; `NO_PARENT_NUMBER`: the record gives none;
  `NUMBER_NOT_FOUND`: no register record has that number; `LINKED`).
- A **death** is a person whose population-register record is closed for `DEATH`, with the
  person's own country of birth and citizenship on the day of death.
"""
from __future__ import annotations

import duckdb

from reglink.tables.persons import citizen_at, register_records_sql, subpopulation
from reglink.tables.sql import columns

PARENT_COLUMNS = ("mother_person_number", "father_person_number")
PARENT_LINKS = ("LINKED", "NUMBER_NOT_FOUND", "NO_PARENT_NUMBER", "NOT_SUPPLIED")


def parents_supplied(con: duckdb.DuckDBPyConnection, restricted: str) -> bool:
    """Whether the population-register extract carries at least one parent-number column."""
    return bool(set(PARENT_COLUMNS) & set(columns(con, f"{restricted}.std_population_register")))


def _number(expr: str) -> str:
    """A register number compared as trimmed upper-case text (a blank is no number)."""
    return f"NULLIF(upper(trim(CAST({expr} AS VARCHAR))), '')"


def parent_keys_sql(restricted: str, cols: list[str], links: str = "person_links") -> str:
    """SELECT `person_key, birth_record, mother_key, father_key, mother_number_given,
    father_number_given`: one row per person in the population register (`birth_record`: a
    record of theirs registers their birth — `persons` keeps only the latest registration). A number held by records of several persons
    (a linkage split) resolves to the smallest key, so the result is deterministic."""
    mother, father = (f"s.{c}" if c in cols else "NULL" for c in PARENT_COLUMNS)
    return f"""
      WITH reg AS (
        SELECT l.person_key, {_number('s.person_number')} AS own_no,
               {"s.registration_reason = 'BIRTH'" if 'registration_reason' in cols else 'FALSE'} AS birth_record,
               {_number(mother)} AS mother_no, {_number(father)} AS father_no
        FROM {register_records_sql(restricted, links)}),
      numbers AS (SELECT own_no, min(person_key) AS person_key FROM reg
                  WHERE own_no IS NOT NULL GROUP BY own_no),
      child AS (SELECT person_key, min(mother_no) AS mother_no, min(father_no) AS father_no,
                       bool_or(COALESCE(birth_record, FALSE)) AS birth_record
                FROM reg GROUP BY person_key)
      SELECT c.person_key, c.birth_record, m.person_key AS mother_key, f.person_key AS father_key,
             c.mother_no IS NOT NULL AS mother_number_given,
             c.father_no IS NOT NULL AS father_number_given
      FROM child c LEFT JOIN numbers m ON m.own_no = c.mother_no
      LEFT JOIN numbers f ON f.own_no = c.father_no"""


def births_sql(home: str, supplied: bool) -> str:
    """SELECT of `births` from `persons`, `_person_birth` (restricted TEMP) and `_parent_keys`."""
    d = "COALESCE(b.birth_date, p.registration_date)"
    cit = citizen_at("rp", d, home)
    supplied_sql = "TRUE" if supplied else "FALSE"
    return f"""
      SELECT p.person_key,
             CAST(COALESCE(EXTRACT(YEAR FROM b.birth_date), b.birth_year,
                           EXTRACT(YEAR FROM p.registration_date)) AS INTEGER) AS birth_year,
             CAST(COALESCE(EXTRACT(MONTH FROM b.birth_date), b.birth_month,
                           EXTRACT(MONTH FROM p.registration_date)) AS INTEGER) AS birth_month,
             p.sex, k.mother_key, k.father_key,
             CASE WHEN k.mother_key IS NOT NULL THEN 'MOTHER'
                  WHEN k.father_key IS NOT NULL THEN 'FATHER' END AS reference_parent,
             rp.country_of_birth AS parent_country_of_birth,
             CASE WHEN rp.person_key IS NULL THEN NULL
                  ELSE {home_citizenship('rp', d, home)} END AS parent_citizenship,
             rp.is_native_born AS parent_is_native_born,
             CASE WHEN rp.person_key IS NULL THEN NULL ELSE {cit} END AS parent_is_citizen,
             {subpopulation('rp.is_native_born', f'CASE WHEN rp.person_key IS NULL THEN NULL ELSE {cit} END')}
               AS subpopulation,
             CASE WHEN NOT {supplied_sql} THEN 'NOT_SUPPLIED'
                  WHEN rp.person_key IS NOT NULL THEN 'LINKED'
                  WHEN COALESCE(k.mother_number_given OR k.father_number_given, FALSE) THEN 'NUMBER_NOT_FOUND'
                  ELSE 'NO_PARENT_NUMBER' END AS parent_link
      FROM persons p
      LEFT JOIN _person_birth b ON b.person_key = p.person_key
      LEFT JOIN _parent_keys k ON k.person_key = p.person_key
      LEFT JOIN persons rp ON rp.person_key = COALESCE(k.mother_key, k.father_key)
      WHERE p.registration_reason = 'BIRTH' OR COALESCE(k.birth_record, FALSE)"""


def home_citizenship(p: str, d: str, home: str) -> str:
    """The parent's citizenship on day d (the home country's once naturalised)."""
    return (f"CASE WHEN {p}.naturalisation_date IS NOT NULL AND {p}.naturalisation_date <= {d} "
            f"THEN '{home}' WHEN {p}.naturalisation_date IS NOT NULL "
            f"THEN {p}.citizenship_before_naturalisation ELSE {p}.citizenship END")


def deaths_sql(home: str) -> str:
    """SELECT of `deaths`: persons whose register record is closed for DEATH, attributes at death."""
    d = "p.death_date"
    cit = citizen_at("p", d, home)
    return f"""
      SELECT p.person_key, p.death_date, CAST(EXTRACT(YEAR FROM p.death_date) AS INTEGER) AS death_year,
             p.sex, p.country_of_birth, p.is_native_born, {cit} AS is_citizen,
             {subpopulation('p.is_native_born', cit)} AS subpopulation
      FROM persons p WHERE p.death_date IS NOT NULL"""


def build_vital(con: duckdb.DuckDBPyConnection, home_country: str,
                restricted: str = "restricted") -> dict[str, int]:
    """Write `births` and `deaths` (needs `persons` and the TEMP `_person_birth`)."""
    cols = columns(con, f"{restricted}.std_population_register")
    supplied = parents_supplied(con, restricted)
    if cols:
        con.execute("CREATE OR REPLACE TEMP TABLE _parent_keys AS " + parent_keys_sql(restricted, cols))
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _parent_keys AS SELECT person_key, "
                    "FALSE AS birth_record, person_key AS mother_key, person_key AS father_key, FALSE AS mother_number_given, "
                    "FALSE AS father_number_given FROM persons WHERE FALSE")
    con.execute("CREATE OR REPLACE TABLE births AS " + births_sql(home_country, supplied)
                + " ORDER BY birth_year, birth_month, person_key")
    con.execute("CREATE OR REPLACE TABLE deaths AS " + deaths_sql(home_country)
                + " ORDER BY death_date, person_key")
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in ("births", "deaths")}
