"""What the residence rule reads from the stores, in one place: the tables stage (which builds
`crossings` and `migration_events`) and the rule-sensitivity report (which reruns the rule on
the stored crossings under every preset) both call these, so the report recomputes from the
very inputs the warehouse was built with.

The rule engine (`reglink.rules.engine`) takes three inputs besides the crossings:
- the **initial status**, the status before a person's first crossing, derived in one SQL pass
  (`initial_status_sql`, the order of sources below) and stored as the warehouse table
  `initial_status`; the engine is given the seeded rows only (`seeded_initial_status_sql`): a
  `rule_default` row says no more than the engine's own default;
- the **evidence of intention**: linked permits valid at least `min_days` days
  (`permit_evidence_sql`; `tables.permit_evidence_min_days`, else the rule's N: `evidence_days`);
- **observed_until**, the configured end of observation or the data's last day.

Initial status (docs/reference.md#residence-rules, pipeline), the status before the first crossing:
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

The SQL here is DuckDB's; the stores are read where the data live, only the rows of one
partition of persons (`where`) come back as frames.
"""
from __future__ import annotations

import duckdb
import polars as pl

from reglink import store
from reglink.rules.rule import Rule

# What the engine reads from a stored crossing: the id, direction, date, the same-day order and
# the travel reason (evidence of intention); the classification columns are its output.
ENGINE_INPUT = ("person_key", "crossing_record_id", "direction", "crossing_date", "travel_reason",
                "crossing_seq", "crossing_time", "sequence")


def _days_between(start: str, end: str) -> str:
    return f"date_diff('day', {start}, {end})"


def evidence_days(rule: Rule, permit_evidence_min_days: int | None) -> int:
    """Minimum permit validity that counts as evidence of intention to stay: the configured
    `tables.permit_evidence_min_days`, else (unset or 0) the rule's threshold N."""
    return permit_evidence_min_days or rule.threshold_days


def initial_status_sql(crossings: str = "_repaired", home_country: str = "NZL",
                       order_col: str | None = None, returning_resident: bool = True,
                       min_absence_days: int | None = None, registrations: str | None = None) -> str:
    """SELECT of `initial_status` from the repaired crossings, `persons` and `person_links` (see
    module doc); `returning_resident=False` drops the cases added with the register-evidence
    repair (a declared home residence on a first ENTRY; a visit's reason on a first EXIT).
    `min_absence_days` (the rule's N): a first ENTRY at least that many days after the first day
    of the border data means the person was abroad that long -- NON_RESIDENT, whatever the
    population register says (`absent_before_first_entry`). `registrations`: a SELECT of every
    registration spell (`person_key, registration_date, deregistration_date`, one row per
    register record); then "registered at the first crossing" is any spell covering it, not the
    `persons` table's latest registration alone (a returning emigrant's re-registration there
    hides the registration they held when the data start)."""
    order = f"{order_col}, " if order_col else ""
    absent = ("FALSE" if min_absence_days is None else
              f"first_direction = 'ENTRY' AND first_reason IN ('RETURN_HOME', 'SETTLE') AND "
              f"{_days_between('data_start', 'first_crossing_date')} >= {int(min_absence_days)}")
    returning = "" if returning_resident else " AND FALSE"
    if registrations is None:
        registered = ("COALESCE(p.in_population_register, FALSE)\n"
                      "                   AND (p.registration_date IS NULL OR p.registration_date <= f.first_crossing_date)\n"
                      "                   AND (p.deregistration_date IS NULL OR p.deregistration_date >= f.first_crossing_date)")
        new_registration = "COALESCE(p.registration_date > f.first_crossing_date, FALSE)"
        spells = ""
    else:
        registered = "COALESCE(rg.covers, FALSE)"
        new_registration = "COALESCE(rg.later, FALSE)"
        spells = f"""
          LEFT JOIN (
            SELECT f2.person_key,
                   bool_or((r.registration_date IS NULL OR r.registration_date <= f2.first_crossing_date)
                           AND (r.deregistration_date IS NULL OR r.deregistration_date >= f2.first_crossing_date)) AS covers,
                   bool_or(r.registration_date > f2.first_crossing_date) AS later
            FROM firsts f2 JOIN ({registrations}) r ON r.person_key = f2.person_key
            GROUP BY f2.person_key) rg ON rg.person_key = f.person_key"""
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
                 {registered} AS registered,
                 -- registered after the first crossing: an arrival to live, not a return from a trip
                 {new_registration} AS new_registration,
                 a.person_key IS NOT NULL AS asylum_case
          FROM firsts f CROSS JOIN starts LEFT JOIN persons p ON p.person_key = f.person_key{spells}
          LEFT JOIN (SELECT DISTINCT person_key FROM person_links WHERE source = 'asylum_register') a
            ON a.person_key = f.person_key) f) s"""


# The initial status the engine is given: every seeded row; `rule_default` is the engine's own
SEEDED_INITIAL_STATUS = ("SELECT person_key, initial_status FROM initial_status "
                         "WHERE initial_status_source <> 'rule_default'")


def seeded_initial_status_sql(where: str = "TRUE") -> str:
    """SELECT person_key, initial_status of the seeded rows of the persons `where` selects."""
    return f"{SEEDED_INITIAL_STATUS} AND {where}"


def permit_evidence_sql(con: duckdb.DuckDBPyConnection, restricted: str | None, min_days: int,
                        where: str = "TRUE") -> str | None:
    """SELECT of the linked permits valid for at least `min_days` days (evidence of intention)
    of the persons `where` selects (on `l.person_key`): `std_permits` of the restricted store
    (attached as `restricted`, or the connection's own with None) joined to `person_links`.
    None without a permit register."""
    cols = store.columns(con, "std_permits", restricted)
    if not cols or "valid_to" not in cols:
        return None
    permits = f"{restricted}.std_permits" if restricted else "std_permits"
    return f"""
      SELECT l.person_key, 'PERMIT' AS evidence_type, CAST(s.valid_from AS DATE) AS valid_from,
             CAST(s.valid_to AS DATE) AS valid_to
      FROM {permits} s JOIN person_links l
        ON l.source = 'permits' AND CAST(l.record_id AS VARCHAR) = CAST(s.record_id AS VARCHAR)
      WHERE s.valid_to IS NOT NULL AND s.valid_from IS NOT NULL AND {where}
        AND {_days_between('s.valid_from', 's.valid_to')} + 1 >= {int(min_days)}"""


def permit_evidence(con: duckdb.DuckDBPyConnection, restricted: str | None, min_days: int,
                    where: str = "TRUE") -> pl.DataFrame | None:
    """Permits valid for at least `min_days` days (evidence of intention): person_key,
    evidence_type, valid_from, valid_to, of the persons `where` selects (on `l.person_key`).
    None without a permit register."""
    sql = permit_evidence_sql(con, restricted, min_days, where)
    return None if sql is None else con.sql(sql).pl()


def stored_crossings_sql(columns: list[str], where: str = "TRUE") -> str:
    """SELECT of the warehouse `crossings` the engine reads (`ENGINE_INPUT` of `columns`, the
    table's columns), with a person_key, in the stored order, of the persons `where` selects."""
    keep = [c for c in ENGINE_INPUT if c in columns]
    order = " ORDER BY person_key, crossing_order" if "crossing_order" in columns else ""
    return (f"SELECT {', '.join(keep)} FROM crossings "
            f"WHERE person_key IS NOT NULL AND {where}{order}")
