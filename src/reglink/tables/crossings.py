"""`crossings`, `crossing_repairs` and `initial_status`: each person's border crossings, repaired
and classified by the residence rule.

The border register is the backbone of the flows (seed 000, Annex 2). Before a residence rule
can run, a person's sequence must alternate ENTRY/EXIT; the rule engine's `repair_crossings`
imputes the missing crossing (two entries in a row), drops crossings after death and orders
same-day crossings, logging every change (`crossing_repairs`). The repaired crossings are then
classified once by `classify_crossings` (status before/after, qualifies, days counted, event
type, provisional) and kept whole in `crossings`: `migration_events` is the subset that is a
migration, so the two never disagree and a statistician can see why a crossing was or was not one.

Initial status (CONTRACTS.md section 2, pipeline), the status before the first crossing:
1. `population_register`: RESIDENT for a person registered (no registration date, or on or
   before the first crossing) and not deregistered before it -- unless the first crossing
   declares a foreign country of residence and is an ENTRY, or an EXIT with a visit's travel
   reason (HOLIDAY, BUSINESS, FAMILY, HEALTH, TRANSIT: a visitor from abroad going home; an
   emigrant leaving declares another reason) (2);
2. `declared_residence`: NON_RESIDENT when the first crossing declares a foreign country of
   residence (Annex 2 topic H): an ENTRY by someone living abroad (even if registered:
   registers over-cover emigrants who never deregistered), or an EXIT by someone not
   registered (commuters, visitors present when the data start). On the synthetic world this
   corrects 53 of 2,000 persons' initial status;
   Also `declared_residence`: RESIDENT when the first crossing is an ENTRY declaring the home
   country as residence with a trip's travel reason (HOLIDAY, BUSINESS, FAMILY, HEALTH: a resident back
   from a trip: residents missing from the register) -- unless the person registers in the
   population register after that crossing (an arrival to live) or has an asylum case;
3. `rule_default`: nothing supplied, the engine's default (NON_RESIDENT before a first ENTRY,
   RESIDENT before a first EXIT).
Before all of these, `absent_before_first_entry`: NON_RESIDENT when the first crossing is an
ENTRY declaring RETURN_HOME or SETTLE at least N days (the rule's threshold) after the first day
of the border data: the person was abroad at least that long, so under the rule they had
already left, whatever a never-closed registration says (a native of the diaspora coming home).
A return from a holiday after a year without crossings is not taken: a resident's lost exit is
the likelier reading.
"""
from __future__ import annotations

import duckdb
import polars as pl

from reglink.tables.settings import TableSettings
from reglink.tables.sql import col_or_null, columns, days_between

CROSSING_COLUMNS = ("direction", "crossing_date", "travel_reason", "origin_destination",
                    "country_of_residence", "transport_mode", "border_point", "occupation")
ORDER_COLUMNS = ("crossing_seq", "crossing_time", "sequence")


def raw_crossings(con: duckdb.DuckDBPyConnection, restricted: str = "restricted",
                  links: str = "person_links") -> pl.DataFrame:
    """Linked border crossings with the statistical columns only (no names, DOB, documents)."""
    table = f"{restricted}.std_border_crossings"
    cols = columns(con, table)
    if not cols:
        return pl.DataFrame(schema={
            "person_key": pl.String, "crossing_record_id": pl.String, "direction": pl.String,
            "crossing_date": pl.Date, **{c: pl.String for c in CROSSING_COLUMNS[2:]},
            "citizenship_declared": pl.String})
    select = [col_or_null(cols, c, cast="DATE" if c == "crossing_date" else "VARCHAR")
              for c in CROSSING_COLUMNS]
    select += [c for c in ORDER_COLUMNS if c in cols]
    select.append(col_or_null(cols, "citizenship", "citizenship_declared", "VARCHAR"))
    return con.sql(
        f"SELECT l.person_key, CAST(s.record_id AS VARCHAR) AS crossing_record_id, {', '.join(select)} "
        f"FROM {table} s JOIN {links} l ON l.source = 'border_crossings' "
        f"AND CAST(l.record_id AS VARCHAR) = CAST(s.record_id AS VARCHAR) "
        f"ORDER BY l.person_key, crossing_date, crossing_record_id"
    ).pl()


def repair(crossings: pl.DataFrame, deaths: pl.DataFrame | None = None,
           home: str | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rule engine's repair, keyed by person_key: (repaired crossings, repair log). With
    `home`, same-day ENTRY/EXIT pairs are ordered by the declared residence."""
    from reglink.rules.repair import repair_crossings

    return repair_crossings(crossings, deaths=deaths, id_col="person_key", home=home)


def repair_with_evidence(con: duckdb.DuckDBPyConnection, repaired: pl.DataFrame, log: pl.DataFrame,
                         settings: TableSettings, restricted: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Move imputed crossings, and impute visitors' lost last exits and residents' lost last
    returns, from the linked permits, population register and asylum register
    (`evidence_repair.py`)."""
    from reglink.tables.events import all_permits
    from reglink.tables.evidence_repair import place_with_evidence

    persons = con.sql("SELECT person_key, in_population_register, registration_date, "
                      "deregistration_date, deregistration_reason, is_citizen FROM persons").pl()
    asylum = None
    if columns(con, f"{restricted}.std_asylum_register"):
        asylum = con.sql("SELECT DISTINCT person_key FROM person_links "
                         "WHERE source = 'asylum_register'").pl()
    return place_with_evidence(repaired, log, home=settings.home_country, until=settings.observed_until,
                               permits=all_permits(con, restricted), persons=persons, asylum=asylum,
                               visitor_max_stay_days=settings.visitor_max_stay_days,
                               resident_trip_repair=settings.resident_trip_repair,
                               resident_max_trip_days=settings.resident_max_trip_days)


def initial_status_sql(crossings: str = "_repaired", home_country: str = "NZL",
                       order_col: str | None = None, returning_resident: bool = True,
                       min_absence_days: int | None = None) -> str:
    """SELECT of `initial_status` from the repaired crossings, `persons` and `person_links` (see
    module doc); `returning_resident=False` drops the cases added with the register-evidence
    repair (a declared home residence on a first ENTRY; a visit's reason on a first EXIT).
    `min_absence_days` (the rule's N): a first ENTRY at least that many days after the first day
    of the border data means the person was abroad that long -- NON_RESIDENT, whatever the
    population register says (`absent_before_first_entry`)."""
    order = f"{order_col}, " if order_col else ""
    absent = ("FALSE" if min_absence_days is None else
              f"first_direction = 'ENTRY' AND first_reason IN ('RETURN_HOME', 'SETTLE') AND "
              f"{days_between('data_start', 'first_crossing_date')} >= {int(min_absence_days)}")
    returning = "" if returning_resident else " AND FALSE"
    # a registered person leaving first, declaring residence abroad and a visit's reason: a
    # visitor from abroad (the register's stale record of an emigrant) going home
    visit_exit = ("" if not returning_resident else
                  " OR COALESCE(first_reason IN ('HOLIDAY', 'BUSINESS', 'FAMILY', 'HEALTH', 'TRANSIT'), FALSE)")
    return f"""
      WITH firsts AS (
        SELECT person_key, crossing_date AS first_crossing_date, direction AS first_direction,
               country_of_residence AS declared_residence, travel_reason AS first_reason FROM (
          SELECT person_key, crossing_date, direction, country_of_residence, travel_reason,
                 row_number() OVER (PARTITION BY person_key ORDER BY crossing_date, {order}
                                    CASE WHEN direction = 'EXIT' THEN 0 ELSE 1 END) AS rn
          FROM {crossings}) f WHERE rn = 1),
      starts AS (SELECT min(crossing_date) AS data_start FROM {crossings})
      SELECT person_key, first_crossing_date, first_direction,
             CASE WHEN absent THEN 'NON_RESIDENT'
                  WHEN seeded OR returning_resident OR (NOT declared_foreign AND first_direction = 'EXIT')
                  THEN 'RESIDENT' ELSE 'NON_RESIDENT' END AS initial_status,
             CASE WHEN absent AND registered THEN 'absent_before_first_entry'
                  WHEN seeded THEN 'population_register'
                  WHEN declared_foreign OR returning_resident THEN 'declared_residence'
                  ELSE 'rule_default' END AS initial_status_source
      FROM (
        SELECT f.*, COALESCE({absent}, FALSE) AS absent,
               registered AND NOT (declared_foreign AND (first_direction = 'ENTRY'{visit_exit}))
                 AS seeded,
               -- an ENTRY declaring the home country as residence, not to settle or return home
               -- for good: a resident coming back from a trip
               first_direction = 'ENTRY' AND COALESCE(declared_residence = '{home_country}', FALSE)
                 AND COALESCE(first_reason IN ('HOLIDAY', 'BUSINESS', 'FAMILY', 'HEALTH'), FALSE)
                 AND NOT new_registration AND NOT asylum_case{returning} AS returning_resident
        FROM (
          SELECT f.*, starts.data_start,
                 COALESCE(f.declared_residence <> '{home_country}', FALSE) AS declared_foreign,
                 COALESCE(p.in_population_register, FALSE)
                   AND (p.registration_date IS NULL OR p.registration_date <= f.first_crossing_date)
                   AND (p.deregistration_date IS NULL OR p.deregistration_date >= f.first_crossing_date)
                   AS registered,
                 -- registered after the first crossing: an arrival to live, not a return from a trip
                 COALESCE(p.registration_date > f.first_crossing_date, FALSE) AS new_registration,
                 a.person_key IS NOT NULL AS asylum_case
          FROM firsts f CROSS JOIN starts LEFT JOIN persons p ON p.person_key = f.person_key
          LEFT JOIN (SELECT DISTINCT person_key FROM person_links WHERE source = 'asylum_register') a
            ON a.person_key = f.person_key) f) s"""


def permit_evidence(con: duckdb.DuckDBPyConnection, restricted: str, min_days: int) -> pl.DataFrame | None:
    """Permits valid for at least `min_days` days (evidence of intention): person_key,
    valid_from, valid_to. None without a permit register."""
    cols = columns(con, f"{restricted}.std_permits")
    if not cols or "valid_to" not in cols:
        return None
    return con.sql(f"""
      SELECT l.person_key, 'PERMIT' AS evidence_type, CAST(s.valid_from AS DATE) AS valid_from,
             CAST(s.valid_to AS DATE) AS valid_to
      FROM {restricted}.std_permits s JOIN person_links l
        ON l.source = 'permits' AND CAST(l.record_id AS VARCHAR) = CAST(s.record_id AS VARCHAR)
      WHERE s.valid_to IS NOT NULL AND s.valid_from IS NOT NULL
        AND {days_between('s.valid_from', 's.valid_to')} + 1 >= {int(min_days)}""").pl()


def classify(crossings: pl.DataFrame, settings: TableSettings, initial: pl.DataFrame | None,
             evidence: pl.DataFrame | None) -> pl.DataFrame:
    """The rule engine's classification of every crossing, keyed by person_key."""
    from reglink.rules.engine import classify_crossings

    return classify_crossings(crossings, settings.rule, observed_until=settings.observed_until,
                              initial_status=initial, evidence=evidence, id_col="person_key")


def _write(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame, temp: bool = False) -> None:
    con.register("_w", frame)
    try:
        con.execute(f"CREATE OR REPLACE {'TEMP ' if temp else ''}TABLE {name} AS SELECT * FROM _w")
    finally:
        con.unregister("_w")


def build_crossings(con: duckdb.DuckDBPyConnection, settings: TableSettings,
                    restricted: str = "restricted") -> dict[str, int]:
    """Write `crossing_repairs`, `initial_status` and the classified `crossings` (needs `persons`)."""
    raw = raw_crossings(con, restricted)
    deaths = con.sql(
        "SELECT person_key, death_date FROM persons WHERE death_date IS NOT NULL").pl()
    repaired, log = repair(raw, deaths if len(deaths) else None,
                           settings.home_country if settings.evidence_repair else None)
    if settings.evidence_repair:
        repaired, log = repair_with_evidence(con, repaired, log, settings, restricted)
    _write(con, "crossing_repairs", log)
    _write(con, "_repaired", repaired, temp=True)
    con.execute("CREATE OR REPLACE TABLE initial_status AS "
                + initial_status_sql("_repaired", settings.home_country,
                                     next((c for c in ORDER_COLUMNS if c in repaired.columns), None),
                                     settings.evidence_repair,
                                     settings.rule.threshold_days if settings.evidence_repair else None))
    initial = con.sql("SELECT person_key, initial_status FROM initial_status "
                      "WHERE initial_status_source <> 'rule_default'").pl()
    evidence = permit_evidence(con, restricted, settings.evidence_days)
    classified = classify(repaired, settings, initial if len(initial) else None, evidence)
    _write(con, "crossings", classified.sort(
        ["person_key", "crossing_order"] if "crossing_order" in classified.columns else ["person_key"]))
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("crossings", "crossing_repairs", "initial_status")}
