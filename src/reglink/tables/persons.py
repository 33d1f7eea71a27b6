"""`persons`: one row per linked person, attributes consolidated across the person's records.

Why a precedence: the registers disagree (a typo in one, an old citizenship in another). The
population register is the best maintained source of personal data for residents (UN toolkit 2021,
6.17 B), permits are checked by an office at issue, asylum files next, and border records are
self-declared at a counter. So each attribute comes from the highest-precedence source that has
it; within that source the most frequent value wins (ties: the most recent record, then the
smallest code). Citizenship changes over a life, so for it recency comes before frequency.

The date of birth never leaves the restricted store: it is consolidated into a TEMP table
(`_person_birth`, dropped with the connection) used to compute ages; `persons` keeps only
`birth_year`. A registration for BIRTH is dated on the day of birth, so its date is coarsened to
the first of the month in `persons` (a birth may enter a stock up to a month early).
"""
from __future__ import annotations

import duckdb

from reglink.schemas import REGISTERS
from reglink.tables.sql import col_or_null, columns

# each register's rank (1 = trusted most) and the date that makes its records recent
PRECEDENCE = {n: r.precedence for n, r in sorted(REGISTERS.items(), key=lambda kv: kv[1].precedence)}
RECORD_DATE = {n: r.record_date for n, r in REGISTERS.items()}


def register_records_sql(restricted: str, links: str = "person_links") -> str:
    """FROM clause: every population-register record (`s`) with the person it was linked to
    (`l.person_key`). A person can hold several: a returning emigrant registered again, the
    register's own duplicates."""
    return (f"{restricted}.std_population_register s JOIN {links} l "
            "ON l.source = 'population_register' "
            "AND CAST(l.record_id AS VARCHAR) = CAST(s.record_id AS VARCHAR)")


def birth_month_sql(date: str, reason: str) -> str:
    """A registration's date, a birth registration's dated to the first of its month (a
    register keys births when it learns of them; the month is what persons carry)."""
    return (f"CASE WHEN {reason} = 'BIRTH' AND {date} IS NOT NULL "
            f"THEN make_date(CAST(EXTRACT(YEAR FROM {date}) AS INTEGER), "
            f"CAST(EXTRACT(MONTH FROM {date}) AS INTEGER), 1) ELSE {date} END")


def available_sources(con: duckdb.DuckDBPyConnection, restricted: str) -> list[str]:
    """The std_<source> tables present in the restricted store (any may be missing)."""
    return [s for s in PRECEDENCE if columns(con, f"{restricted}.std_{s}")]


def build_person_records(con: duckdb.DuckDBPyConnection, restricted: str = "restricted",
                         links: str = "person_links") -> int:
    """TEMP table `_records`: every linked record's person attributes, with its source precedence.

    Records without a row in person_links are left out and counted in `_unlinked` (linkage is
    expected to give every record a key, singletons included)."""
    parts = []
    for src in available_sources(con, restricted):
        cols = columns(con, f"{restricted}.std_{src}")
        parts.append(
            f"SELECT l.person_key, '{src}' AS source, {PRECEDENCE[src]} AS precedence, "
            f"CAST(s.record_id AS VARCHAR) AS record_id, "
            f"{col_or_null(cols, 'sex', 'sex', 'VARCHAR')}, "
            f"{col_or_null(cols, 'country_of_birth', 'country_of_birth', 'VARCHAR')}, "
            f"{col_or_null(cols, 'citizenship', 'citizenship', 'VARCHAR')}, "
            f"{col_or_null(cols, 'date_of_birth', 'birth_date', 'DATE')}, "
            f"{col_or_null(cols, 'dob_year', 'birth_y', 'INTEGER')}, "
            f"{col_or_null(cols, 'dob_month', 'birth_m', 'INTEGER')}, "
            f"{col_or_null(cols, RECORD_DATE[src], 'record_date', 'DATE')} "
            f"FROM {restricted}.std_{src} s JOIN {links} l "
            f"ON l.source = '{src}' AND CAST(l.record_id AS VARCHAR) = CAST(s.record_id AS VARCHAR)"
        )
    if not parts:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _records AS SELECT CAST(NULL AS VARCHAR) AS person_key, "
            "'' AS source, 0 AS precedence, '' AS record_id, CAST(NULL AS VARCHAR) AS sex, "
            "CAST(NULL AS VARCHAR) AS country_of_birth, CAST(NULL AS VARCHAR) AS citizenship, "
            "CAST(NULL AS DATE) AS birth_date, CAST(NULL AS INTEGER) AS birth_y, "
            "CAST(NULL AS INTEGER) AS birth_m, CAST(NULL AS DATE) AS record_date WHERE 1 = 0")
    else:
        # person_key keeps the type person_links gives it
        con.execute("CREATE OR REPLACE TEMP TABLE _records AS " + " UNION ALL ".join(parts))
    return con.execute("SELECT count(*) FROM _records").fetchall()[0][0]


def _pick(attr: str, recency_first: bool = False, where: str = "TRUE") -> str:
    """SQL: per person, the value of `attr` by source precedence, then frequency (or recency)."""
    order = "precedence, last_seen DESC, n DESC, value" if recency_first else \
        "precedence, n DESC, last_seen DESC, value"
    return f"""
      SELECT person_key, value AS {attr} FROM (
        SELECT person_key, value, row_number() OVER (PARTITION BY person_key ORDER BY {order}) AS rn
        FROM (SELECT person_key, precedence, {attr} AS value, count(*) AS n,
                     max(record_date) AS last_seen
              FROM _records WHERE {attr} IS NOT NULL AND {where} GROUP BY person_key, precedence, {attr}) v
      ) r WHERE rn = 1"""


def build_person_birth(con: duckdb.DuckDBPyConnection) -> None:
    """TEMP `_person_birth`: consolidated full birth date (or year/month) per person; restricted."""
    con.execute(f"""
      CREATE OR REPLACE TEMP TABLE _person_birth AS
      SELECT k.person_key, d.birth_date,
             COALESCE(CAST(EXTRACT(YEAR FROM d.birth_date) AS INTEGER), y.birth_y) AS birth_year,
             COALESCE(CAST(EXTRACT(MONTH FROM d.birth_date) AS INTEGER), m.birth_m) AS birth_month
      FROM (SELECT DISTINCT person_key FROM _records) k
      LEFT JOIN ({_pick('birth_date')}) d ON d.person_key = k.person_key
      LEFT JOIN ({_pick('birth_y')}) y ON y.person_key = k.person_key
      LEFT JOIN ({_pick('birth_m')}) m ON m.person_key = k.person_key
    """)


def persons_sql(home_country: str, restricted: str, has_register: bool, register_cols: list[str]) -> str:
    """The SELECT producing `persons` from `_records`, `_person_birth` and the population register."""
    reg = ""
    reg_cols = ("CAST(NULL AS BOOLEAN) AS in_population_register, CAST(NULL AS DATE) AS registration_date, "
                "CAST(NULL AS VARCHAR) AS registration_reason, CAST(NULL AS VARCHAR) AS previous_country, "
                "CAST(NULL AS DATE) AS deregistration_date, CAST(NULL AS VARCHAR) AS deregistration_reason, "
                "CAST(NULL AS VARCHAR) AS next_country, CAST(NULL AS VARCHAR) AS region, "
                "CAST(NULL AS DATE) AS naturalisation_date, CAST(NULL AS DATE) AS death_date")
    if has_register:
        c = register_cols
        reg = f"""
      LEFT JOIN (
        SELECT person_key,
               {birth_month_sql('registration_date', 'registration_reason')} AS registration_date,
               registration_reason, previous_country,
               deregistration_date, deregistration_reason, next_country, region
        FROM (SELECT l.person_key,
                     {col_or_null(c, 'registration_date', cast='DATE')},
                     {col_or_null(c, 'registration_reason', cast='VARCHAR')},
                     {col_or_null(c, 'previous_country', cast='VARCHAR')},
                     {col_or_null(c, 'deregistration_date', cast='DATE')},
                     {col_or_null(c, 'deregistration_reason', cast='VARCHAR')},
                     {col_or_null(c, 'next_country', cast='VARCHAR')},
                     {col_or_null(c, 'region', cast='VARCHAR')},
                     row_number() OVER (PARTITION BY l.person_key ORDER BY
                        {'registration_date' if 'registration_date' in c else 'NULL'} DESC NULLS LAST,
                        CAST(s.record_id AS VARCHAR)) AS rn
              FROM {register_records_sql(restricted)}) x
        WHERE rn = 1) reg ON reg.person_key = k.person_key
      LEFT JOIN (
        SELECT l.person_key,
               min({'s.naturalisation_date' if 'naturalisation_date' in c else 'CAST(NULL AS DATE)'}) AS naturalisation_date,
               max(CASE WHEN {"s.deregistration_reason = 'DEATH'" if 'deregistration_reason' in c else 'FALSE'}
                        THEN {'s.deregistration_date' if 'deregistration_date' in c else 'CAST(NULL AS DATE)'} END) AS death_date
        FROM {register_records_sql(restricted)}
        GROUP BY l.person_key) nat ON nat.person_key = k.person_key"""
        reg_cols = ("reg.person_key IS NOT NULL AS in_population_register, reg.registration_date, "
                    "reg.registration_reason, reg.previous_country, reg.deregistration_date, "
                    "reg.deregistration_reason, reg.next_country, reg.region, "
                    "CAST(nat.naturalisation_date AS DATE) AS naturalisation_date, "
                    "CAST(nat.death_date AS DATE) AS death_date")
    home = home_country
    return f"""
      WITH k AS (SELECT person_key, count(*) AS records,
                        CAST(sum(CASE WHEN source = 'border_crossings' THEN 1 ELSE 0 END) AS BIGINT) AS border_records,
                        CAST(sum(CASE WHEN source = 'permits' THEN 1 ELSE 0 END) AS BIGINT) AS permit_records,
                        CAST(sum(CASE WHEN source = 'population_register' THEN 1 ELSE 0 END) AS BIGINT) AS register_records,
                        CAST(sum(CASE WHEN source = 'asylum_register' THEN 1 ELSE 0 END) AS BIGINT) AS asylum_records
                 FROM _records GROUP BY person_key),
           foreign_cit AS ({_pick('citizenship', where=f"citizenship <> '{home}'")}),
           base AS (
        SELECT k.person_key, sx.sex, b.birth_year, cob.country_of_birth, cit.citizenship AS citizenship_recorded,
               fc.citizenship AS foreign_citizenship, {reg_cols},
               k.records, k.border_records, k.permit_records, k.register_records, k.asylum_records
        FROM k
        LEFT JOIN ({_pick('sex')}) sx ON sx.person_key = k.person_key
        LEFT JOIN ({_pick('country_of_birth')}) cob ON cob.person_key = k.person_key
        LEFT JOIN ({_pick('citizenship', recency_first=True)}) cit ON cit.person_key = k.person_key
        LEFT JOIN foreign_cit fc ON fc.person_key = k.person_key
        LEFT JOIN _person_birth b ON b.person_key = k.person_key
        {reg})
      SELECT person_key, sex, birth_year, country_of_birth,
             CASE WHEN naturalisation_date IS NOT NULL THEN '{home}' ELSE citizenship_recorded END AS citizenship,
             CASE WHEN naturalisation_date IS NOT NULL THEN foreign_citizenship END AS citizenship_before_naturalisation,
             naturalisation_date,
             CASE WHEN country_of_birth IS NULL THEN NULL ELSE country_of_birth = '{home}' END AS is_native_born,
             CASE WHEN naturalisation_date IS NOT NULL THEN TRUE
                  WHEN citizenship_recorded IS NULL THEN NULL
                  ELSE citizenship_recorded = '{home}' END AS is_citizen,
             death_date, in_population_register, registration_date, registration_reason, previous_country,
             deregistration_date, deregistration_reason, next_country, region,
             records, border_records, permit_records, register_records, asylum_records
      FROM base"""


def build_persons(con: duckdb.DuckDBPyConnection, home_country: str, restricted: str = "restricted") -> int:
    """Create TEMP `_records`, `_person_birth` and the warehouse table `persons`; its row count."""
    build_person_records(con, restricted)
    build_person_birth(con)
    reg_cols = columns(con, f"{restricted}.std_population_register")
    con.execute("CREATE OR REPLACE TABLE persons AS "
                + persons_sql(home_country, restricted, bool(reg_cols), reg_cols))
    return con.execute("SELECT count(*) FROM persons").fetchall()[0][0]


# Expressions on a `persons` row `p` at a date expression `d` (used by events, stocks, accounting).
def citizen_at(p: str, d: str, home: str) -> str:
    """Whether the person held the home citizenship on day d (naturalised on or before d)."""
    return (f"CASE WHEN {p}.naturalisation_date IS NOT NULL THEN {p}.naturalisation_date <= {d} "
            f"WHEN {p}.citizenship IS NULL THEN NULL ELSE {p}.citizenship = '{home}' END")


def citizenship_at(p: str, d: str) -> str:
    """Citizenship on day d: the earlier foreign one before naturalisation, else the current one."""
    return (f"CASE WHEN {p}.naturalisation_date IS NOT NULL AND {d} < {p}.naturalisation_date "
            f"THEN COALESCE({p}.citizenship_before_naturalisation, 'UNKNOWN') "
            f"ELSE COALESCE({p}.citizenship, 'UNKNOWN') END")


def subpopulation(native: str, citizen: str) -> str:
    """The four subpopulations of UN Secretary-General report (2020) para 32 (toolkit table 3.1 cells E, F, G, H)."""
    return (f"CASE WHEN {native} IS NULL OR {citizen} IS NULL THEN 'UNKNOWN' "
            f"WHEN {native} AND {citizen} THEN 'NATIVE_BORN_CITIZEN' "
            f"WHEN {native} THEN 'NATIVE_BORN_FOREIGN_CITIZEN' "
            f"WHEN {citizen} THEN 'FOREIGN_BORN_CITIZEN' "
            f"ELSE 'FOREIGN_BORN_FOREIGN_CITIZEN' END")
