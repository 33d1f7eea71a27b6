"""Cross-source coherence: do the registers tell the same story about the same persons?

Three checks the toolkit's integration questions (6.20-6.23) and the Bangkok conclusions
(para 9-10) call for, each with a count, the number of records it could be checked on, and
a few pseudonymised examples (person_key and the date only):

- population-register immigrants without an arrival crossing;
- emigrants by the residence rule still registered as resident (missing de-registration);
- permits never used (the holder never arrived while the permit was valid).

And the registration / de-registration lag that fills Annex 1's "rules for registration /
de-registration" column from behaviour rather than from the law.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from reglink.quality.stores import Stores, q

ARRIVAL_BEFORE_DAYS = 365  # an arrival up to a year before registration explains it
ARRIVAL_AFTER_DAYS = 30  # ... or shortly after (pre-registration)
DEREG_GRACE_DAYS = 90  # a de-registration up to 90 days before the emigration still counts
PERMIT_LEAD_DAYS = 90  # an entry up to 90 days before a permit starts counts as using it
EXAMPLES = 5
LAG_BINS = (-10**6, 0, 30, 90, 180, 365)
LAG_LABELS = ("before the crossing", "0-29 days", "30-89 days", "90-179 days",
              "180-364 days", "365 days or more")


@dataclass
class Check:
    """One coherence check: its counts, and examples (person_key, date)."""

    key: str
    check: str
    sources: tuple[str, ...]
    checked: int
    found: int
    not_linked: int
    definition: str
    examples: pl.DataFrame

    @property
    def share(self) -> float | None:
        return self.found / self.checked if self.checked else None

    def row(self) -> dict:
        return {"check": self.check, "records_checked": self.checked, "found": self.found,
                "share": self.share, "records_not_linked": self.not_linked,
                "definition": self.definition}


def _stage_records(st: Stores, source: str, columns: tuple[str, ...], name: str) -> bool:
    """Copy a register's record_id + person_key + the named (non-identifying) columns into a
    temporary warehouse view, so the checks can join with crossings and events there."""
    cols = st.columns("restricted", f"std_{source}")
    if not cols or not st.has("warehouse", "person_links") or st.warehouse is None:
        return False
    keep = [c for c in columns if c in cols]
    sel = ", ".join(["CAST(record_id AS VARCHAR) AS record_id"] +
                    [f"{q(c)}" for c in keep] +
                    [f"NULL AS {q(c)}" for c in columns if c not in cols])
    df = st.sql("restricted", f"SELECT {sel} FROM {q('std_' + source)}")
    st.warehouse.register(f"_{name}_raw", df)
    st.warehouse.execute(f"""CREATE OR REPLACE TEMP VIEW {name} AS
        SELECT r.*, l.person_key FROM _{name}_raw r
        LEFT JOIN (SELECT CAST(record_id AS VARCHAR) AS record_id, person_key FROM person_links
                   WHERE source = '{source}') l USING (record_id)""")
    return True


def _crossings_view(st: Stores) -> bool:
    cols = st.columns("warehouse", "crossings")
    if not cols or st.warehouse is None:
        return False
    pk = "person_key"
    st.warehouse.execute(f"""CREATE OR REPLACE TEMP VIEW _q_cross AS
        SELECT {q(pk)} AS person_key, CAST(direction AS VARCHAR) AS direction,
               CAST(crossing_date AS DATE) AS crossing_date FROM crossings""")
    return True


def _coverage_span(st: Stores, ref: dt.date | None = None) -> tuple[dt.date, dt.date] | None:
    """First crossing date to the reference date (observed_until): the days the border data
    cover, so a check is only made where a crossing could have been seen."""
    r = st.sql("warehouse", "SELECT min(crossing_date) AS a, max(crossing_date) AS b FROM _q_cross")
    a, b = r["a"][0], r["b"][0]
    if a is None:
        return None
    return a, max(b, ref) if ref else b


def _check(st: Stores, key: str, sources: tuple[str, ...], name: str, definition: str,
           flagged_sql: str) -> Check:
    """Run a check given SQL yielding (person_key, on_date, checked bool, found bool)."""
    st.warehouse.execute(f"CREATE OR REPLACE TEMP VIEW _q_flag AS {flagged_sql}")
    c = st.sql("warehouse", """SELECT count(*) FILTER (WHERE checked) AS checked,
        count(*) FILTER (WHERE checked AND found) AS found,
        count(*) FILTER (WHERE person_key IS NULL) AS not_linked FROM _q_flag""").row(0, named=True)
    ex = st.sql("warehouse", f"""SELECT DISTINCT person_key, on_date FROM _q_flag
        WHERE checked AND found ORDER BY person_key, on_date LIMIT {EXAMPLES}""")
    return Check(key, name, sources, c["checked"], c["found"], c["not_linked"], definition, ex)


def coherence_checks(st: Stores, rule_name: str, ref: dt.date) -> list[Check]:
    """All checks whose inputs exist; an absent register or stage simply drops its check."""
    if not _crossings_view(st):
        return []
    span = _coverage_span(st, ref)
    if span is None:
        return []
    start, end = span
    checks: list[Check] = []
    if _stage_records(st, "population_register", ("registration_date", "registration_reason",
                      "deregistration_date", "deregistration_reason"), "_q_pop"):
        checks.append(_check(
            st, "immigrants_without_arrival", ("population_register", "border_crossings"),
            "population-register immigrants without an arrival crossing",
            f"Population-register records with registration reason IMMIGRATION, registered "
            f"between {start + dt.timedelta(days=ARRIVAL_BEFORE_DAYS)} and {end} (so a year of "
            f"border data precedes them), whose person has no ENTRY crossing from "
            f"{ARRIVAL_BEFORE_DAYS} days before to {ARRIVAL_AFTER_DAYS} days after registration.",
            f"""SELECT p.person_key, CAST(p.registration_date AS DATE) AS on_date,
                p.person_key IS NOT NULL AS checked,
                NOT EXISTS (SELECT 1 FROM _q_cross c WHERE c.person_key = p.person_key
                    AND c.direction = 'ENTRY'
                    AND c.crossing_date BETWEEN CAST(p.registration_date AS DATE) - INTERVAL {ARRIVAL_BEFORE_DAYS} DAY
                                            AND CAST(p.registration_date AS DATE) + INTERVAL {ARRIVAL_AFTER_DAYS} DAY) AS found
            FROM _q_pop p WHERE p.registration_reason = 'IMMIGRATION'
              AND CAST(p.registration_date AS DATE) BETWEEN DATE '{start}' + INTERVAL {ARRIVAL_BEFORE_DAYS} DAY
                                                       AND DATE '{end}'"""))
        if st.has("warehouse", "migration_events"):
            checks.append(_check(
                st, "missing_deregistration", ("population_register", "border_crossings"),
                "emigrants by the rule still registered as resident",
                f"Emigration events under the {rule_name} rule of persons who have a "
                f"population-register record, none de-registered from {DEREG_GRACE_DAYS} days "
                f"before the emigration onward, and who have no later immigration event: a "
                f"missing de-registration.",
                f"""WITH ev AS (SELECT person_key, CAST(event_date AS DATE) AS event_date, event_type
                        FROM migration_events WHERE CAST(rule AS VARCHAR) = '{rule_name}'
                           OR (SELECT count(DISTINCT rule) FROM migration_events) = 1),
                    inpop AS (SELECT DISTINCT person_key FROM _q_pop WHERE person_key IS NOT NULL)
                SELECT e.person_key, e.event_date AS on_date, TRUE AS checked,
                    NOT EXISTS (SELECT 1 FROM _q_pop p WHERE p.person_key = e.person_key
                        AND CAST(p.deregistration_date AS DATE) >= e.event_date - INTERVAL {DEREG_GRACE_DAYS} DAY)
                    AND NOT EXISTS (SELECT 1 FROM ev i WHERE i.person_key = e.person_key
                        AND i.event_type = 'IMMIGRATION' AND i.event_date > e.event_date) AS found
                FROM ev e JOIN inpop USING (person_key) WHERE e.event_type = 'EMIGRATION'"""))
    if _stage_records(st, "permits", ("valid_from", "valid_to", "permit_kind"), "_q_perm"):
        checks.append(_check(
            st, "permits_never_used", ("permits", "border_crossings"), "permits never used",
            f"Permits starting between {start + dt.timedelta(days=PERMIT_LEAD_DAYS)} and {end} "
            f"whose holder was not in the country when the permit started (their last crossing "
            f"before it was not an ENTRY, or they had none) and made no ENTRY crossing from "
            f"{PERMIT_LEAD_DAYS} days before the start to the end of validity (or {ref}).",
            f"""SELECT p.person_key, CAST(p.valid_from AS DATE) AS on_date,
                p.person_key IS NOT NULL AS checked,
                NOT EXISTS (SELECT 1 FROM _q_cross c WHERE c.person_key = p.person_key
                    AND c.direction = 'ENTRY'
                    AND c.crossing_date BETWEEN CAST(p.valid_from AS DATE) - INTERVAL {PERMIT_LEAD_DAYS} DAY
                        AND coalesce(CAST(p.valid_to AS DATE), DATE '{ref}'))
                AND coalesce((SELECT arg_max(c.direction, c.crossing_date) FROM _q_cross c
                    WHERE c.person_key = p.person_key
                      AND c.crossing_date < CAST(p.valid_from AS DATE) - INTERVAL {PERMIT_LEAD_DAYS} DAY), 'NONE')
                    <> 'ENTRY' AS found
            FROM _q_perm p
            WHERE CAST(p.valid_from AS DATE) BETWEEN DATE '{start}' + INTERVAL {PERMIT_LEAD_DAYS} DAY
                                                 AND DATE '{end}'"""))
    return checks


def registration_lags(st: Stores, ref: dt.date | None = None) -> pl.DataFrame | None:
    """Days from the arrival (departure) crossing to the population-register (de-)registration,
    for IMMIGRATION registrations and EMIGRATION de-registrations dated at least a year into
    the border data, binned; 'no crossing found' when no crossing of the person lies within a
    year before or 30 days after. median_days is over all lags of the kind."""
    if not (_crossings_view(st) and _stage_records(
            st, "population_register", ("registration_date", "registration_reason",
                                        "deregistration_date", "deregistration_reason"), "_q_pop")):
        return None
    span = _coverage_span(st, ref)
    if span is None:
        return None
    lo, hi = span[0] + dt.timedelta(days=365), span[1]
    cases = " ".join(f"WHEN lag < {hi} THEN '{lab}'" for hi, lab in zip(LAG_BINS[1:], LAG_LABELS))
    df = st.sql("warehouse", f"""
        WITH ev AS (
            SELECT 'registration after arrival' AS kind, person_key,
                   CAST(registration_date AS DATE) AS d, 'ENTRY' AS dir
            FROM _q_pop WHERE registration_reason = 'IMMIGRATION' AND person_key IS NOT NULL
            UNION ALL
            SELECT 'de-registration after departure', person_key,
                   CAST(deregistration_date AS DATE), 'EXIT'
            FROM _q_pop WHERE deregistration_reason = 'EMIGRATION' AND person_key IS NOT NULL),
        lagged AS (
            SELECT kind, d - (SELECT max(c.crossing_date) FROM _q_cross c
                WHERE c.person_key = ev.person_key AND c.direction = ev.dir
                  AND c.crossing_date BETWEEN ev.d - INTERVAL 365 DAY AND ev.d + INTERVAL 30 DAY) AS lag
            FROM ev WHERE d BETWEEN DATE '{lo}' AND DATE '{hi}'),
        med AS (SELECT *, median(lag) OVER (PARTITION BY kind) AS median_days FROM lagged)
        SELECT kind, CASE WHEN lag IS NULL THEN 'no crossing found' {cases}
                          ELSE '{LAG_LABELS[-1]}' END AS lag_band,
               count(*) AS records, any_value(median_days) AS median_days
        FROM med GROUP BY ALL""")
    order = {lab: i for i, lab in enumerate(LAG_LABELS + ("no crossing found",))}
    return (df.with_columns(pl.col("lag_band").replace_strict(order, return_dtype=pl.Int64)
                            .alias("_o"), pl.col("records").cast(pl.Int64),
                            pl.col("median_days").cast(pl.Float64))
            .sort(["kind", "_o"]).drop("_o"))
