"""`crossings`, `crossing_repairs` and `initial_status`: each person's border crossings, repaired
and classified by the residence rule.

The border register is the backbone of the flows (UN toolkit 2021, Annex 2). Before a residence rule
can run, a person's sequence must alternate ENTRY/EXIT; the rule engine's `repair_crossings`
imputes the missing crossing (two entries in a row), drops crossings after death and orders
same-day crossings, logging every change (`crossing_repairs`). The repaired crossings are then
classified once by `classify_crossings` (status before/after, qualifies, days counted, event
type, provisional) and kept whole in `crossings`: `migration_events` is the subset that is a
migration, so the two never disagree and a statistician can see why a crossing was or was not one.

The initial status (the status before a person's first crossing), the permits taken as evidence
of intention and the other inputs the rule engine reads from the stores are in
`reglink.rules.inputs`, which the rule-sensitivity report reads them through too.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import polars as pl

from reglink.config import Budget
from reglink.rules.inputs import SEEDED_INITIAL_STATUS, permit_evidence, seeded_initial_status_sql
# read from here by the Spark engine's passes (reglink.engines.spark_passes)
from reglink.rules.inputs import initial_status_sql as initial_status_sql
from reglink.rules.inputs import permit_evidence_sql as permit_evidence_sql
from reglink.tables.partitions import Partitions
from reglink.tables.persons import birth_month_sql, register_records_sql
from reglink.tables.settings import TableSettings
from reglink.tables.sql import col_or_null, columns

CROSSING_COLUMNS = ("direction", "crossing_date", "travel_reason", "origin_destination",
                    "country_of_residence", "transport_mode", "border_point", "occupation")
ORDER_COLUMNS = ("crossing_seq", "crossing_time", "sequence")
EPOCH = dt.date(1970, 1, 1)
INITIAL_FOR_RULE = SEEDED_INITIAL_STATUS  # (the Spark engine's name for it)


def _linked_sql(con: duckdb.DuckDBPyConnection, restricted: str, links: str) -> str | None:
    """SELECT of the linked border crossings with the statistical columns only (no names, DOB,
    documents) and `_grow`, the crossing's position in (person, date, record) order; None
    without a border register."""
    table = f"{restricted}.std_border_crossings"
    cols = columns(con, table)
    if not cols:
        return None
    select = [col_or_null(cols, c, cast="DATE" if c == "crossing_date" else "VARCHAR")
              for c in CROSSING_COLUMNS]
    select += [c for c in ORDER_COLUMNS if c in cols]
    select.append(col_or_null(cols, "citizenship", "citizenship_declared", "VARCHAR"))
    return (
        f"SELECT l.person_key, CAST(s.record_id AS VARCHAR) AS crossing_record_id, {', '.join(select)}, "
        f"row_number() OVER (ORDER BY l.person_key, s.crossing_date, CAST(s.record_id AS VARCHAR)) AS _grow "
        f"FROM {table} s JOIN {links} l ON l.source = 'border_crossings' "
        f"AND CAST(l.record_id AS VARCHAR) = CAST(s.record_id AS VARCHAR)")


EMPTY_RAW = {"person_key": pl.String, "crossing_record_id": pl.String, "direction": pl.String,
             "crossing_date": pl.Date, **{c: pl.String for c in CROSSING_COLUMNS[2:]},
             "citizenship_declared": pl.String}


def repair(crossings: pl.DataFrame, deaths: pl.DataFrame | None = None,
           home: str | None = None, spell_tally: pl.DataFrame | None = None
           ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rule engine's repair, keyed by person_key: (repaired crossings, repair log). With
    `home`, same-day ENTRY/EXIT pairs are ordered by the declared residence."""
    from reglink.rules.repair import repair_crossings

    return repair_crossings(crossings, deaths=deaths, id_col="person_key", home=home,
                            spell_tally=spell_tally)


def classify(crossings: pl.DataFrame, settings: TableSettings, initial: pl.DataFrame | None,
             evidence: pl.DataFrame | None, observed_until: dt.date | None = None) -> pl.DataFrame:
    """The rule engine's classification of every crossing, keyed by person_key."""
    from reglink.rules.engine import classify_crossings

    return classify_crossings(crossings, settings.rule,
                              observed_until=observed_until or settings.observed_until,
                              initial_status=initial, evidence=evidence, id_col="person_key")


class _Appender:
    """Frames appended to one DuckDB table, partition after partition: created by the first
    frame with rows, later ones inserted by column name; `close()` creates it from an empty
    frame when no partition had rows."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, temp: bool = True) -> None:
        self.con, self.name, self.temp = con, name, temp
        self.created, self.empty = False, None

    def _run(self, sql: str, frame: pl.DataFrame) -> None:
        self.con.register("_part", frame)
        try:
            self.con.execute(sql)
        finally:
            self.con.unregister("_part")

    def add(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            self.empty = frame if self.empty is None else self.empty
        elif not self.created:
            self._run(f"CREATE OR REPLACE {'TEMP ' if self.temp else ''}TABLE {self.name} "
                      "AS SELECT * FROM _part", frame)
            self.created = True
        else:
            self._run(f"INSERT INTO {self.name} BY NAME SELECT * FROM _part", frame)

    def close(self) -> None:
        if not self.created and self.empty is not None:
            self.created = True
            self._run(f"CREATE OR REPLACE {'TEMP ' if self.temp else ''}TABLE {self.name} "
                      "AS SELECT * FROM _part", self.empty)


def _input_rows(log: pl.DataFrame, grow: pl.Series) -> pl.DataFrame:
    """The repair log's `row` (1-based row of the frame given to the repair) as the crossing's
    position among all linked crossings, whatever partition it was repaired in."""
    rows = pl.DataFrame({"row": pl.int_range(1, grow.len() + 1, eager=True, dtype=pl.Int64),
                         "_grow": grow.cast(pl.Int64)})
    return (log.join(rows, on="row", how="left", maintain_order="left")
            .with_columns(pl.col("_grow").alias("row")).drop("_grow"))


# -- the per-person passes, one partition of persons at a time ---------------------------------
# Pure functions of polars frames (one partition's rows and the small pooled tallies), shared by
# both engines: `build_crossings` calls them partition by partition in this process, and
# `reglink.engines.spark_passes` calls the same functions inside Spark tasks. Each sorts its
# input itself, so a partition's rows may arrive in any order (Spark gives no order).

def _sorted(frame: pl.DataFrame, *cols: str) -> pl.DataFrame:
    have = [c for c in cols if c in frame.columns]
    return frame.sort(have, maintain_order=True) if have and frame.height else frame


def _sorted_inputs(inputs: dict[str, pl.DataFrame | None] | None
                   ) -> dict[str, pl.DataFrame | None] | None:
    """The evidence registers of a partition in one order, whatever order they arrived in."""
    if inputs is None:
        return None
    return {k: None if f is None else _sorted(f, *(c for c in f.columns if f.schema[c] != pl.Null))
            for k, f in inputs.items()}


def tally_part(raw: pl.DataFrame, deaths: pl.DataFrame | None, home: str | None) -> pl.DataFrame:
    """Pass 1: what one partition adds to the pooled typical spells and crossing days."""
    from reglink.rules.repair import spell_tally

    raw = _sorted(raw, "_grow")
    return spell_tally(raw.drop("_grow", strict=False), deaths=deaths, id_col="person_key", home=home)


def data_period(tally: pl.DataFrame) -> tuple[dt.date | None, dt.date | None]:
    """First and last day of the border data, from the pooled tally of every partition."""
    days = tally.filter(pl.col("stat") == "crossing_day")["value"]
    if not days.len():
        return None, None
    return EPOCH + dt.timedelta(days=int(days.min())), EPOCH + dt.timedelta(days=int(days.max()))


def repair_part(raw: pl.DataFrame, deaths: pl.DataFrame | None, settings: TableSettings,
                tally: pl.DataFrame, first_day: dt.date | None,
                inputs: dict[str, pl.DataFrame | None] | None
                ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None]:
    """Pass 2: (repaired crossings, repair log, evidence tally) of one partition, imputing with
    the pooled `tally`; the evidence tally is None without evidence inputs."""
    from reglink.rules.evidence_repair import evidence_tally

    home = settings.home_country if settings.evidence_repair else None
    raw = _sorted(raw, "_grow")
    inputs = _sorted_inputs(inputs)
    repaired, rlog = repair(raw.drop("_grow"), deaths, home, spell_tally=tally)
    log = _input_rows(rlog, raw["_grow"])
    ev_tally = None
    if inputs is not None and first_day is not None:
        ev_tally = evidence_tally(repaired, home=settings.home_country, start=first_day,
                                  permits=inputs["permits"], persons=inputs["persons"],
                                  asylum=inputs.get("asylum"))
    return repaired, log, ev_tally


def place_part(repaired: pl.DataFrame, log: pl.DataFrame, settings: TableSettings,
               inputs: dict[str, pl.DataFrame | None] | None, first_day: dt.date | None,
               ev_tally: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pass 3: imputed crossings placed from register evidence (pooled `ev_tally`)."""
    repaired = _sorted(repaired, "person_key", "crossing_seq")
    if inputs is None:
        return repaired, log
    log = _sorted(log, "person_key", "row")
    return repair_with_evidence(repaired, log, settings, _sorted_inputs(inputs), start=first_day, tally=ev_tally)


def classify_part(repaired: pl.DataFrame, initial: pl.DataFrame | None,
                  evidence: pl.DataFrame | None, settings: TableSettings,
                  until: dt.date | None) -> pl.DataFrame:
    """Pass 4: the residence rule over one partition's repaired crossings."""
    repaired = _sorted(repaired, "person_key", "crossing_seq")
    initial = initial if initial is not None and initial.height else None
    if initial is not None:
        initial = _sorted(initial, "person_key")
    if evidence is not None:
        evidence = _sorted(evidence, "person_key", "valid_from", "valid_to")
    return classify(repaired, settings, initial, evidence, observed_until=until)


def raw_crossings_table(con: duckdb.DuckDBPyConnection, restricted: str) -> bool:
    """TEMP tables `_raw` (linked crossings, `_grow` order) and `_deaths`; False without a
    border register."""
    sql = _linked_sql(con, restricted, "person_links")
    con.execute("CREATE OR REPLACE TEMP TABLE _raw AS "
                + (f"SELECT * FROM ({sql}) ORDER BY _grow" if sql else
                   "SELECT CAST(NULL AS VARCHAR) AS person_key, CAST(NULL AS BIGINT) AS _grow WHERE FALSE"))
    con.execute("CREATE OR REPLACE TEMP TABLE _deaths AS SELECT person_key, death_date FROM persons "
                "WHERE death_date IS NOT NULL")
    return sql is not None


def registration_spells_sql(con: duckdb.DuckDBPyConnection, restricted: str | None) -> str | None:
    """SELECT of every linked population-register record as a registration spell (`person_key,
    registration_date, deregistration_date`), or None without those columns: a person can hold
    several (a returning emigrant registered again; the register's own duplicates)."""
    if restricted is None:
        return None
    cols = set(columns(con, f"{restricted}.std_population_register"))
    if not {"registration_date", "deregistration_date"} <= cols:
        return None
    return (f"SELECT l.person_key, CAST(s.registration_date AS DATE) AS registration_date, "
            f"CAST(s.deregistration_date AS DATE) AS deregistration_date "
            f"FROM {register_records_sql(restricted)}")


def initial_status_table(con: duckdb.DuckDBPyConnection, settings: TableSettings,
                         repaired: str = "_repaired", restricted: str | None = None) -> None:
    """`initial_status` in one SQL pass over every person's repaired crossings (pass 3's);
    with the `restricted` store, "registered at the first crossing" reads every registration
    spell, not only the latest (with the evidence repair)."""
    repaired_cols = columns(con, repaired if "." in repaired else f"temp.{repaired}") or columns(con, repaired)
    spells = registration_spells_sql(con, restricted) if settings.evidence_repair else None
    con.execute("CREATE OR REPLACE TABLE initial_status AS "
                + initial_status_sql(repaired, settings.home_country,
                                     next((c for c in ORDER_COLUMNS if c in repaired_cols), None),
                                     settings.evidence_repair,
                                     settings.rule.threshold_days if settings.evidence_repair else None,
                                     spells))


def build_crossings(con: duckdb.DuckDBPyConnection, settings: TableSettings,
                    restricted: str = "restricted", budget: Budget | None = None,
                    log: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write `crossing_repairs`, `initial_status` and the classified `crossings` (needs
    `persons`), partition by partition of persons (`partitions.py`) so that memory follows the
    budget, not the number of crossings:
    1. every partition tallies its spells and crossing days (pooled typical spells, data start);
    2. repair with the pooled spells; tally the typical lengths the evidence placement pools;
    3. place imputed crossings from register evidence; then `initial_status` in one SQL pass;
    4. classify by the residence rule. Parts go to DuckDB tables between the passes.
    The passes are `tally_part` ... `classify_part`, which the Spark engine runs the same."""
    from reglink.measure import Meter
    from reglink.rules import pooled

    say = log or (lambda _msg: None)
    has_border = raw_crossings_table(con, restricted)
    rows = con.execute("SELECT count(*) FROM _raw").fetchall()[0][0]
    parts = Partitions.plan(rows, budget, at_least=settings.partitions or 1)
    say(f"tables: {rows:,} crossings in {parts.n} partition(s) of persons")
    home = settings.home_country if settings.evidence_repair else None

    def raw_part(i: int) -> pl.DataFrame:
        if not has_border:
            return pl.DataFrame(schema={**EMPTY_RAW, "_grow": pl.Int64})
        return con.sql(f"SELECT * FROM _raw WHERE {parts.where(i)} ORDER BY _grow").pl()

    def deaths_part(i: int) -> pl.DataFrame | None:
        d = con.sql(f"SELECT * FROM _deaths WHERE {parts.where(i)}").pl()
        return d if d.height else None

    # 1. pooled spells and the data period, over every partition
    with Meter() as m:
        tally = pooled.combine(tally_part(raw_part(i), deaths_part(i), home) for i in parts)
    say(f"tables: crossings pass 1 (pooled spells) {m.describe()}")
    first_day, last_day = data_period(tally)
    until = settings.observed_until or last_day

    # 2. repair, and the typical lengths for the evidence placement
    repaired_parts, logs = _Appender(con, "_repaired_1"), _Appender(con, "_repair_log_1")
    ev_tallies = []
    ev = evidence_inputs(con, restricted) if settings.evidence_repair else None
    with Meter() as m:
        for i in parts:
            repaired, rlog, ev_t = repair_part(raw_part(i), deaths_part(i), settings, tally,
                                               first_day, ev.part(parts, i) if ev is not None else None)
            repaired_parts.add(repaired)
            logs.add(rlog)
            ev_tallies.append(ev_t)
            del repaired, rlog
        repaired_parts.close()
        logs.close()
    say(f"tables: crossings pass 2 (repair) {m.describe()}")
    ev_tally = pooled.combine(ev_tallies)

    # 3. evidence placement; every part's crossings into `_repaired`
    final_parts, final_logs = _Appender(con, "_repaired"), _Appender(con, "crossing_repairs", temp=False)
    with Meter() as m:
        for i in parts:
            repaired = con.sql(f"SELECT * FROM _repaired_1 WHERE {parts.where(i)}").pl()
            rlog = con.sql(f"SELECT * FROM _repair_log_1 WHERE {parts.where(i)}").pl()
            repaired, rlog = place_part(repaired, rlog, settings,
                                        ev.part(parts, i) if ev is not None else None, first_day,
                                        ev_tally)
            final_parts.add(repaired)
            final_logs.add(rlog)
            del repaired, rlog
        final_parts.close()
        final_logs.close()
    say(f"tables: crossings pass 3 (evidence placement) {m.describe()}")
    con.execute("DROP TABLE IF EXISTS _repaired_1; DROP TABLE IF EXISTS _repair_log_1")
    con.execute("CREATE OR REPLACE TABLE crossing_repairs AS SELECT * FROM crossing_repairs "
                "ORDER BY person_key, crossing_date, kind, row")
    initial_status_table(con, settings, "_repaired", restricted)

    # 4. the residence rule
    classified_parts = _Appender(con, "_crossings")
    with Meter() as m:
        for i in parts:
            repaired = con.sql(f"SELECT * FROM _repaired WHERE {parts.where(i)}").pl()
            initial = con.sql(seeded_initial_status_sql(parts.where(i))).pl()
            evidence = permit_evidence(con, restricted, settings.evidence_days,
                                       parts.where(i, "l.person_key"))
            classified_parts.add(classify_part(repaired, initial, evidence, settings, until))
            del repaired
        classified_parts.close()
    say(f"tables: crossings pass 4 (residence rule) {m.describe()}")
    finish_crossings(con, "_crossings")
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("crossings", "crossing_repairs", "initial_status")}


def finish_crossings(con: duckdb.DuckDBPyConnection, classified: str) -> None:
    """`crossings` from the classified parts, in person and crossing order; working tables go."""
    cols = columns(con, f"temp.{classified}") or columns(con, classified)
    order = "person_key, crossing_order" if "crossing_order" in cols else "person_key"
    con.execute(f"CREATE OR REPLACE TABLE crossings AS SELECT * FROM {classified} ORDER BY {order}")
    con.execute(f"DROP TABLE IF EXISTS {classified}; DROP TABLE IF EXISTS _raw")


@dataclass
class EvidenceInputs:
    """The other registers' evidence for the repair, read per partition of persons."""

    con: duckdb.DuckDBPyConnection
    restricted: str
    has_permits: bool
    has_asylum: bool

    def sqls(self, where: str = "TRUE", on_links: str = "TRUE") -> dict[str, str | None]:
        """The SELECTs of the evidence of the persons `where` selects (`on_links`: the same
        condition on `l.person_key`); None for a register not delivered."""
        from reglink.tables.events import all_permits_sql

        return {
            "persons": self._registrations_sql(where),
            "permits": all_permits_sql(self.con, self.restricted, on_links) if self.has_permits else None,
            "asylum": self._asylum_sql(on_links) if self.has_asylum else None,
        }

    def _registrations_sql(self, where: str) -> str:
        """Every registration spell of the persons `where` selects: one row per population-register
        record (the `persons` table keeps only the latest, so a returning emigrant's earlier
        deregistration as an emigrant -- evidence of when they left -- would be lost), a person
        with none once (`in_population_register` false), each with `is_citizen`. Birth
        registrations are dated to the month, as in `persons`."""
        cols = set(columns(self.con, f"{self.restricted}.std_population_register"))
        if not {"registration_date", "deregistration_date", "deregistration_reason"} <= cols:
            return ("SELECT person_key, in_population_register, registration_date, "
                    "deregistration_date, deregistration_reason, registration_reason, is_citizen "
                    f"FROM persons WHERE {where}")
        reason = "s.registration_reason" if "registration_reason" in cols else "NULL"
        return f"""
          SELECT * FROM (
            SELECT p.person_key, coalesce(r.registered, p.in_population_register) AS in_population_register,
                   CASE WHEN r.registered THEN r.registration_date ELSE p.registration_date END AS registration_date,
                   CASE WHEN r.registered THEN r.deregistration_date ELSE p.deregistration_date END AS deregistration_date,
                   CASE WHEN r.registered THEN r.deregistration_reason ELSE p.deregistration_reason END AS deregistration_reason,
                   CASE WHEN r.registered THEN r.registration_reason ELSE p.registration_reason END AS registration_reason,
                   p.is_citizen
            FROM persons p LEFT JOIN (
              SELECT l.person_key, TRUE AS registered,
                     {birth_month_sql('CAST(s.registration_date AS DATE)', reason)} AS registration_date,
                     CAST(s.deregistration_date AS DATE) AS deregistration_date,
                     CAST(s.deregistration_reason AS VARCHAR) AS deregistration_reason,
                     CAST({reason} AS VARCHAR) AS registration_reason
              FROM {register_records_sql(self.restricted)}) r
              ON r.person_key = p.person_key) x
          WHERE {where}"""

    def _asylum_sql(self, on_links: str) -> str:
        """The linked asylum cases: person_key and the application date when the register gives
        it (the repair dates a claimant's lost arrival by it)."""
        cols = set(columns(self.con, f"{self.restricted}.std_asylum_register"))
        applied = "CAST(a.application_date AS DATE)" if "application_date" in cols else "CAST(NULL AS DATE)"
        return (f"SELECT l.person_key, {applied} AS application_date "
                f"FROM {self.restricted}.std_asylum_register a JOIN person_links l "
                "ON l.source = 'asylum_register' AND CAST(l.record_id AS VARCHAR) = CAST(a.record_id AS VARCHAR) "
                f"WHERE {on_links}")

    def part(self, parts: Partitions, i: int) -> dict[str, pl.DataFrame | None]:
        return {k: None if q is None else self.con.sql(q).pl()
                for k, q in self.sqls(parts.where(i), parts.where(i, "l.person_key")).items()}


def evidence_inputs(con: duckdb.DuckDBPyConnection, restricted: str) -> EvidenceInputs:
    return EvidenceInputs(con, restricted, bool(columns(con, f"{restricted}.std_permits")),
                           bool(columns(con, f"{restricted}.std_asylum_register")))


def repair_with_evidence(repaired: pl.DataFrame, log: pl.DataFrame, settings: TableSettings,
                         inputs: dict[str, pl.DataFrame | None], start: dt.date | None = None,
                         tally: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Move imputed crossings, and impute visitors' lost last exits and residents' lost last
    returns, from the linked permits, population register and asylum register
    (`reglink.rules.evidence_repair`); `start` and `tally` pool over every partition."""
    from reglink.rules.evidence_repair import place_with_evidence

    return place_with_evidence(repaired, log, home=settings.home_country, until=settings.observed_until,
                               visitor_max_stay_days=settings.visitor_max_stay_days,
                               resident_trip_repair=settings.resident_trip_repair,
                               resident_max_trip_days=settings.resident_max_trip_days,
                               start=start, tally=tally, **inputs)
