"""Register-based migration: immigration and emigration from population-register spells, with
permits and asylum cases as evidence of presence, when no border register is delivered (or
`tables: flows_source: registers`).

Many countries measure migration from registrations and deregistrations rather than border
crossings (UN Secretary-General's report on migration statistics, 2020: flows aligned with the
resident population). The residence rule is the same; only the evidence of presence differs:

1. **Presence spells** per person: each population-register record (registration to
   deregistration, or open to `observed_until`), each permit other than a visitor visa (valid
   from-to) and each asylum case (application to a negative decision, or open).
2. **Unrecorded emigration**: a foreign national whose permits have all expired, with no
   renewal, no naturalisation and no later record in any register (no sign of life) for at
   least W − N days after the expiry, is taken to have left when the last permit expired: their
   open registration is closed there. Citizens who leave without deregistering leave no trace in
   these registers and are not found (docs/methods.md section 12 measures the loss).
3. **Stays**: the spells merged into islands of presence (gaps of at most `gap_days` bridged).
   A stay that starts after the person's earliest record is an **immigration** at its start when
   it lasts at least N days (cumulative: N days within the window of W days; continuous: N days);
   a stay still open at `observed_until` and shorter is provisional: a migration when a
   registration or a permit valid for N days from the start shows the intention, else temporary.
4. A stay of a resident (one that qualified, or that was already there when the registers
   begin) that ends before `observed_until` is an **emigration** on its end date when the person
   is then away long enough (no new stay within W − N days; provisional while that is not yet
   observed, decided by a deregistration for emigration or an expired permit), and not a death.

Dates: an immigration is dated at the first evidence of presence (a permit's start, usually
some weeks before arrival, or the registration, usually some weeks after); an emigration at the
deregistration (which lags the departure) or the permit expiry.
"""
from __future__ import annotations

import datetime as dt

import duckdb

from reglink.tables.settings import TableSettings
from reglink.tables.sql import add_days, columns, days_between

GAP_DAYS = 30
START = "DATE '1900-01-01'"


def use_registers(con: duckdb.DuckDBPyConnection, settings: TableSettings,
                  restricted: str = "restricted") -> bool:
    """Whether flows come from the registers: by config, or (`auto`) when no border crossing
    is delivered and a population register is."""
    if settings.flows_source == "registers":
        return True
    if settings.flows_source == "crossings":
        return False
    has_border = bool(columns(con, f"{restricted}.std_border_crossings")) and con.execute(
        f"SELECT count(*) FROM {restricted}.std_border_crossings").fetchall()[0][0] > 0
    return not has_border and bool(columns(con, f"{restricted}.std_population_register"))


def _col(cols: list[str], name: str, cast: str) -> str:
    return f"CAST(s.{name} AS {cast})" if name in cols else f"CAST(NULL AS {cast})"


def spells_sql(restricted: str, reg_cols: list[str], permit_cols: list[str],
               asylum_cols: list[str], until: dt.date) -> str:
    """Presence spells: person_key, kind (register / permit / asylum), s (first day present),
    e (first day no longer present; observed_until + 1 when open), end_reason, country (previous
    country at a registration, next country at a deregistration), intent (a registration, or a
    permit of at least a year)."""
    u1 = f"DATE '{(until + dt.timedelta(days=1)).isoformat()}'"
    parts = []
    link = ("JOIN person_links l ON l.source = '{src}' "
            "AND CAST(l.record_id AS VARCHAR) = CAST(s.record_id AS VARCHAR)")
    if reg_cols:
        dereg = _col(reg_cols, "deregistration_date", "DATE")
        parts.append(f"""
          SELECT l.person_key, 'register' AS kind,
                 COALESCE({_col(reg_cols, 'registration_date', 'DATE')}, {START}) AS s,
                 least(COALESCE({dereg}, {u1}), {u1}) AS e,
                 CASE WHEN {dereg} IS NULL OR {dereg} > {u1} THEN 'OPEN'
                      ELSE COALESCE({_col(reg_cols, 'deregistration_reason', 'VARCHAR')}, 'OTHER') END AS end_reason,
                 {_col(reg_cols, 'registration_reason', 'VARCHAR')} AS start_reason,
                 {_col(reg_cols, 'previous_country', 'VARCHAR')} AS previous_country,
                 {_col(reg_cols, 'next_country', 'VARCHAR')} AS next_country,
                 CAST(NULL AS BIGINT) AS valid_days, CAST(s.record_id AS VARCHAR) AS record_id
          FROM {restricted}.std_population_register s {link.format(src='population_register')}""")
    if permit_cols and "valid_from" in permit_cols:
        vto = _col(permit_cols, "valid_to", "DATE")
        parts.append(f"""
          SELECT l.person_key, 'permit' AS kind, CAST(s.valid_from AS DATE) AS s,
                 least(COALESCE({add_days(vto, 1)}, {u1}), {u1}) AS e,
                 CASE WHEN {vto} IS NULL OR {vto} >= {u1} THEN 'OPEN' ELSE 'EXPIRED' END AS end_reason,
                 upper(CAST(s.permit_kind AS VARCHAR)) AS start_reason,
                 CAST(NULL AS VARCHAR) AS previous_country, CAST(NULL AS VARCHAR) AS next_country,
                 CAST(COALESCE({days_between('CAST(s.valid_from AS DATE)', vto)} + 1, 100000) AS BIGINT)
                   AS valid_days, CAST(s.record_id AS VARCHAR) AS record_id
          FROM {restricted}.std_permits s {link.format(src='permits')}
          WHERE s.valid_from IS NOT NULL AND upper(CAST(s.permit_kind AS VARCHAR)) <> 'VISA'""")
    if asylum_cols and "application_date" in asylum_cols:
        dec = _col(asylum_cols, "decision", "VARCHAR")
        ddate = _col(asylum_cols, "decision_date", "DATE")
        parts.append(f"""
          SELECT l.person_key, 'asylum' AS kind, CAST(s.application_date AS DATE) AS s,
                 CASE WHEN {dec} IN ('REJECTED', 'WITHDRAWN') AND {ddate} IS NOT NULL
                      THEN least({add_days(ddate, 1)}, {u1}) ELSE {u1} END AS e,
                 CASE WHEN {dec} IN ('REJECTED', 'WITHDRAWN') AND {ddate} IS NOT NULL
                      THEN 'REJECTED' ELSE 'OPEN' END AS end_reason,
                 'ASYLUM' AS start_reason, CAST(NULL AS VARCHAR) AS previous_country,
                 CAST(NULL AS VARCHAR) AS next_country, CAST(NULL AS BIGINT) AS valid_days,
                 CAST(s.record_id AS VARCHAR) AS record_id
          FROM {restricted}.std_asylum_register s {link.format(src='asylum_register')}
          WHERE s.application_date IS NOT NULL""")
    if not parts:
        return ("SELECT CAST(NULL AS VARCHAR) AS person_key, '' AS kind, CAST(NULL AS DATE) AS s, "
                "CAST(NULL AS DATE) AS e, '' AS end_reason, '' AS start_reason, "
                "CAST(NULL AS VARCHAR) AS previous_country, CAST(NULL AS VARCHAR) AS next_country, "
                "CAST(NULL AS BIGINT) AS valid_days, CAST(NULL AS VARCHAR) AS record_id WHERE FALSE")
    return "\nUNION ALL\n".join(parts)


def unrecorded_exits_sql(spells: str, until: dt.date, quiet_days: int, home: str) -> str:
    """Persons presumed gone: foreign nationals (not citizens of `home` now) holding permits
    that have all expired at least `quiet_days` before `observed_until`, with no later record
    of any kind (no renewal, registration, deregistration or asylum case starting after the
    expiry): person_key, left (the day after the last permit expired)."""
    u = f"DATE '{until.isoformat()}'"
    return f"""
      WITH last AS (
        SELECT s.person_key, max(s.e) AS left_on
        FROM {spells} s JOIN persons p ON p.person_key = s.person_key
        WHERE s.kind = 'permit' AND NOT COALESCE(p.is_citizen, FALSE)
          AND p.naturalisation_date IS NULL AND COALESCE(p.death_date, DATE '9999-12-31') > {u}
        GROUP BY s.person_key
        HAVING bool_and(s.end_reason = 'EXPIRED'))
      SELECT l.person_key, l.left_on FROM last l
      WHERE {add_days('l.left_on', quiet_days)} <= {u}
        AND NOT EXISTS (SELECT 1 FROM {spells} o WHERE o.person_key = l.person_key
                        AND (o.s >= l.left_on OR (o.kind = 'register' AND o.end_reason <> 'OPEN'
                             AND o.e >= l.left_on)))"""


def stays_sql(spells: str, exits: str, gap_days: int) -> str:
    """Islands of presence: spells (register spells still open cut at the presumed exit) merged
    when they overlap or the gap is at most `gap_days`. One row per stay: person_key, stay_no,
    s, e, end_reason (of the spell that ends last; PERMIT_EXPIRED for a presumed exit),
    registered, permit_days (longest permit), previous_country, next_country, first_any (the
    person's earliest record)."""
    return f"""
      WITH sp AS (
        SELECT sp.person_key, sp.kind, sp.s,
               CASE WHEN x.left_on IS NOT NULL AND sp.kind = 'register' AND sp.end_reason = 'OPEN'
                    THEN greatest(sp.s, x.left_on) ELSE sp.e END AS e,
               CASE WHEN x.left_on IS NOT NULL AND sp.kind = 'register' AND sp.end_reason = 'OPEN'
                    THEN 'PERMIT_EXPIRED' ELSE sp.end_reason END AS end_reason,
               sp.start_reason, sp.previous_country, sp.next_country, sp.valid_days
        FROM {spells} sp LEFT JOIN {exits} x ON x.person_key = sp.person_key
        WHERE sp.s IS NOT NULL AND sp.s < sp.e),
      ordered AS (
        SELECT sp.*, max(e) OVER (PARTITION BY person_key ORDER BY s, e
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_e
        FROM sp),
      numbered AS (
        SELECT o.*, row_number() OVER (PARTITION BY person_key, kind ORDER BY s) AS kind_rank,
               sum(CASE WHEN prev_e IS NULL OR {days_between('prev_e', 's')} > {gap_days}
                             THEN 1 ELSE 0 END)
                      OVER (PARTITION BY person_key ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS stay_no
        FROM ordered o)
      SELECT person_key, stay_no, min(s) AS s, max(e) AS e,
             -- the reason of the spell that ends last; on a tie, a death or deregistration
             -- (the register's word) before a presumed exit before a permit's expiry
             arg_max(end_reason, {days_between(START, 'e')} * 10 + CASE end_reason
                     WHEN 'DEATH' THEN 4 WHEN 'EMIGRATION' THEN 3 WHEN 'PERMIT_EXPIRED' THEN 2
                     WHEN 'OPEN' THEN 5 ELSE 0 END) AS end_reason,
             bool_or(kind = 'register' AND COALESCE(start_reason, '') <> 'BIRTH') AS registered,
             bool_or(kind = 'register' AND start_reason = 'BIRTH') AS born_here,
             bool_or(kind = 'asylum') AS asylum,
             max(valid_days) AS permit_days,
             count(*) FILTER (WHERE kind = 'permit') AS permits,
             -- the first sign of life in the country: a registration, an asylum case, a second permit
             min(s) FILTER (WHERE (kind = 'register' AND COALESCE(start_reason, '') <> 'BIRTH')
                             OR kind = 'asylum' OR (kind = 'permit' AND kind_rank >= 2)) AS first_sign,
             arg_min(previous_country, s) FILTER (WHERE previous_country IS NOT NULL) AS previous_country,
             arg_max(next_country, e) FILTER (WHERE next_country IS NOT NULL) AS next_country,
             min(min(s)) OVER (PARTITION BY person_key) AS first_any
      FROM numbered GROUP BY person_key, stay_no"""


def register_events_sql(stays: str, settings: TableSettings, until: dt.date,
                        data_start: dt.date) -> str:
    """Raw migration events from the stays (see module doc): person_key, event_type,
    event_date, provisional, rule, evidence, country_of_residence."""
    rule = settings.rule
    n, w = rule.threshold_days, rule.window_days
    horizon = w if rule.mode == "cumulative" else n
    away = (w - n) if rule.mode == "cumulative" else rule.max_absence_days
    u = f"DATE '{until.isoformat()}'"
    u1 = f"DATE '{(until + dt.timedelta(days=1)).isoformat()}'"
    ds = f"DATE '{data_start.isoformat()}'"
    length = days_between("s", "e")
    return f"""
      WITH st AS (
        SELECT t.*, lead(s) OVER (PARTITION BY person_key ORDER BY stay_no) AS next_s,
               {length} AS days,
               e >= {u1} AS open_stay
        FROM {stays} t),
      q AS (
        SELECT st.*,
               -- immigration: a stay that starts after the registers begin and after the
               -- person's first record (a birth is not one)
               s > {add_days(ds, -365)} AND NOT born_here AS arrival,
               -- a permit is permission, not presence: a stay held by permits alone counts
               -- once there is a sign of life in the country (a renewal or a second permit)
               registered OR asylum OR born_here OR permits >= 2 AS present,
               CASE WHEN days >= {n} THEN 'final_yes'
                    WHEN NOT open_stay THEN 'final_no'
                    WHEN {add_days('s', horizon - 1)} <= {u} THEN 'final_no'
                    ELSE 'open' END AS stay_state
        FROM st),
      r AS (
        SELECT q.*,
               arrival AND present AND (stay_state = 'final_yes' OR (stay_state = 'open' AND
                 (registered OR asylum OR COALESCE(permit_days, 0) >= {n}))) AS immigration,
               -- resident during the stay: it qualified, or was already there when the
               -- registers begin (registered or born before them)
               present AND (stay_state = 'final_yes' OR (stay_state = 'open' AND (registered OR asylum
                 OR COALESCE(permit_days, 0) >= {n})) OR (NOT arrival AND (registered OR born_here
                 OR COALESCE(permit_days, 0) >= {n}))) AS resident
        FROM q)
      SELECT person_key, 'IMMIGRATION' AS event_type, s AS event_date,
             stay_state = 'open' AS provisional, '{rule.name}' AS rule,
             CASE WHEN registered THEN 'registration' WHEN asylum THEN 'asylum' ELSE 'permit' END AS evidence,
             previous_country AS country_of_residence
      FROM r WHERE immigration AND s >= {ds}
      UNION ALL
      SELECT person_key, 'EMIGRATION', e, {add_days('e', n - 1)} > {u} AND next_s IS NULL,
             '{rule.name}',
             CASE WHEN end_reason = 'EMIGRATION' THEN 'deregistration'
                  WHEN end_reason = 'PERMIT_EXPIRED' THEN 'permit_expired_unrecorded'
                  ELSE 'permit_expired' END,
             next_country
      FROM r
      WHERE resident AND NOT open_stay AND e >= {ds} AND end_reason NOT IN ('DEATH', 'OPEN')
        AND (end_reason IN ('EMIGRATION', 'PERMIT_EXPIRED', 'EXPIRED', 'REJECTED'))
        AND (next_s IS NULL OR {days_between('e', 'next_s')} > {away})"""


def pending_sql(stays: str, settings: TableSettings, until: dt.date, data_start: dt.date,
                band_days: int = 30) -> str:
    """Open stays held by one permit and no sign of life yet (new arrivals not yet registered,
    or permits never used): each with the probability that a sign of life follows within a
    year, learned from the stays of earlier years that were in the same position at the same
    age (days since the permit began, in bands): person_key, event_date, probability."""
    n = settings.rule.threshold_days
    u = f"DATE '{until.isoformat()}'"
    ds = f"DATE '{data_start.isoformat()}'"
    cand = (f"s > {add_days(ds, -365)} AND NOT born_here AND NOT registered AND NOT asylum "
            f"AND COALESCE(permits, 0) < 2 AND COALESCE(permit_days, 0) >= {n}")
    return f"""
      WITH hist AS (
        SELECT s, first_sign FROM {stays}
        WHERE {cand.replace('NOT registered AND NOT asylum AND COALESCE(permits, 0) < 2 AND ', '')}
          AND s >= {ds} AND s <= {add_days(u, -730)}),
      bands AS (SELECT range AS b FROM range(13)),
      rates AS (
        SELECT b, (sum(CASE WHEN first_sign <= {add_days('s', 365)} THEN 1 ELSE 0 END) + 1.0)
                  / (count(*) + 2.0) AS p
        FROM hist CROSS JOIN bands
        WHERE first_sign IS NULL OR first_sign > {add_days('s', f'b * {band_days}')}
        GROUP BY b),
      open_ AS (
        SELECT person_key, s, least(12, CAST(floor({days_between('s', u)} / {band_days}) AS INTEGER)) AS b
        FROM {stays} WHERE e > {u} AND {cand} AND {days_between('s', u)} < 365)
      SELECT o.person_key, o.s AS event_date, COALESCE(r.p, 0.5) AS probability
      FROM open_ o LEFT JOIN rates r ON r.b = o.b"""


def build_register_events(con: duckdb.DuckDBPyConnection, settings: TableSettings,
                          restricted: str = "restricted") -> int:
    """Write `migration_events` (and `register_stays`) from the registers; its row count."""
    from reglink.tables.events import all_permits, enrich_events

    rule = settings.rule
    reg_cols = columns(con, f"{restricted}.std_population_register")
    permit_cols = columns(con, f"{restricted}.std_permits")
    asylum_cols = columns(con, f"{restricted}.std_asylum_register")
    until = settings.observed_until or _latest(con, restricted, reg_cols, permit_cols, asylum_cols)
    con.execute("CREATE OR REPLACE TEMP TABLE _rg_spells AS "
                + spells_sql(restricted, reg_cols, permit_cols, asylum_cols, until))
    away = (rule.window_days - rule.threshold_days) if rule.mode == "cumulative" else rule.max_absence_days
    con.execute("CREATE OR REPLACE TEMP TABLE _rg_exits AS "
                + unrecorded_exits_sql("_rg_spells", until, max(away, 30), settings.home_country))
    con.execute("CREATE OR REPLACE TABLE register_stays AS "
                + stays_sql("_rg_spells", "_rg_exits", GAP_DAYS) + " ORDER BY person_key, stay_no")
    start = settings.register_data_start or data_start(con)
    raw = con.sql(register_events_sql("register_stays", settings, until, start or until)).pl()
    n = enrich_events(con, raw, settings, all_permits(con, restricted), carry=("evidence",))
    con.execute("CREATE OR REPLACE TEMP TABLE _rg_pending AS "
                + pending_sql("register_stays", settings, until, start or until))
    con.execute("DROP TABLE IF EXISTS _rg_spells; DROP TABLE IF EXISTS _rg_exits")
    return n


def data_start(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The first day the registers cover as flows: the earliest deregistration or asylum
    application (registrations and permanent permits reach back to the stock the data begin
    with, so they cannot say it), else the earliest registration. A stay is an arrival when it
    starts at most a year before (a permit is granted weeks before the arrival)."""
    return con.execute("""
      SELECT COALESCE(min(e) FILTER (WHERE kind = 'register' AND end_reason NOT IN ('OPEN')),
                      min(s) FILTER (WHERE kind = 'asylum'),
                      min(s) FILTER (WHERE kind = 'register' AND s > DATE '1900-01-01'))
      FROM _rg_spells""").fetchall()[0][0]


def _latest(con: duckdb.DuckDBPyConnection, restricted: str, reg_cols: list[str],
            permit_cols: list[str], asylum_cols: list[str]) -> dt.date:
    """observed_until by default: the latest date any register holds."""
    parts = []
    if "registration_date" in reg_cols:
        parts.append(f"SELECT max(greatest(registration_date, COALESCE(deregistration_date, registration_date))) "
                     f"AS d FROM {restricted}.std_population_register")
    if "issue_date" in permit_cols:
        parts.append(f"SELECT max(issue_date) AS d FROM {restricted}.std_permits")
    if "application_date" in asylum_cols:
        parts.append(f"SELECT max(application_date) AS d FROM {restricted}.std_asylum_register")
    if not parts:
        return dt.date.today()
    d = con.execute(f"SELECT max(d) FROM ({' UNION ALL '.join(parts)})").fetchall()[0][0]
    return d or dt.date.today()
