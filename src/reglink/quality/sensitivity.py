"""Rule sensitivity: immigration and emigration by year under every preset residence rule,
side by side, so users see what the choice of rule does (UN Secretary-General report 2020 para 11: cut-offs from 4 to
12 months, "12 out of 16", "9 out of 12"; Bangkok conclusions para 16: cumulative and
continuous duration both in use).

Computed by running the rule engine (`reglink.rules.engine.derive_events`) on the warehouse
`crossings` table once per preset, with the inputs the tables stage gives it, read through the
same functions (`reglink.rules.inputs`): the initial status seeded from the registers
(warehouse `initial_status` rows whose source is not `rule_default`) and permits as evidence
of intention (restricted `std_permits` joined to `person_links`, valid for at least
`tables.permit_evidence_min_days`, else the rule's N).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl

from reglink.config import Budget
from reglink.quality.stores import Stores
from reglink.rules import PRESETS, Rule, inputs
from reglink.tables.partitions import Partitions

EMPTY = {"rule": pl.String, "year": pl.Int32, "event_type": pl.String, "provisional": pl.Boolean,
         "events": pl.Int64}


# Peak bytes of Python memory per crossing while the engine classifies the engine inputs
BYTES_PER_CROSSING = 800


def load_crossings(st: Stores, where: str = "TRUE") -> pl.DataFrame | None:
    """The warehouse crossings with a person_key, in the stored order, engine inputs only, of
    the persons `where` selects."""
    cols = st.columns("warehouse", "crossings")
    if not cols or "person_key" not in cols:
        return None
    return st.sql("warehouse", inputs.stored_crossings_sql(cols, where))


def load_initial_status(st: Stores, where: str = "TRUE") -> pl.DataFrame | None:
    """person_key, initial_status of the seeded rows of the warehouse `initial_status` (as the
    tables stage gives the engine); None without any."""
    if not st.has("warehouse", "initial_status"):
        return None
    df = st.sql("warehouse", inputs.seeded_initial_status_sql(where))
    return df if df.height else None


@contextmanager
def permit_links(st: Stores) -> Iterator[bool]:
    """The warehouse's permit links made visible to the restricted store's connection as
    `person_links` (two files, two connections: the permits and their links meet there, as
    they do in the tables stage's one connection); False when either side is missing."""
    if st.restricted is None or not st.has("restricted", "std_permits") \
            or not st.has("warehouse", "person_links"):
        yield False
        return
    links = st.sql("warehouse", "SELECT source, CAST(record_id AS VARCHAR) AS record_id, person_key "
                   "FROM person_links WHERE source = 'permits'")
    st.restricted.register("person_links", links)
    try:
        yield True
    finally:
        st.restricted.unregister("person_links")


def load_permit_evidence(st: Stores, min_days: int, where: str = "TRUE") -> pl.DataFrame | None:
    """Linked permits valid at least `min_days` days (evidence of intention for undecided
    crossings), of the persons `where` selects (on `l.person_key`); None without any. Call
    inside `permit_links`."""
    assert st.restricted is not None
    ev = inputs.permit_evidence(st.restricted, None, min_days, where)
    return ev if ev is not None and ev.height else None


def evidence_min_days(cfg_raw: dict, rule: Rule) -> int:
    """As the tables stage: `tables.permit_evidence_min_days`, else the rule's threshold N."""
    tables = cfg_raw.get("tables") if isinstance(cfg_raw, dict) else None
    v = tables.get("permit_evidence_min_days") if isinstance(tables, dict) else None
    return inputs.evidence_days(rule, int(v) if v else None)


def rules_to_compare(cfg) -> dict[str, Rule]:
    """Every preset (or those listed under `quality: rule_presets:` in the pipeline YAML), plus
    the configured rule when it is a custom one, so it can be checked against the warehouse."""
    quality = cfg.raw.get("quality") if isinstance(cfg.raw, dict) else None
    names = quality.get("rule_presets") if isinstance(quality, dict) else None
    unknown = [n for n in names or () if n not in PRESETS]
    if unknown:
        raise ValueError(f"quality.rule_presets: unknown preset(s) {', '.join(map(str, unknown))}; "
                         f"expected any of {', '.join(PRESETS)}")
    rules = {n: PRESETS[n] for n in (names or PRESETS)}
    rules.setdefault(cfg.rule.name, cfg.rule)
    return rules


def events_by_year(events: pl.DataFrame, rule: str) -> pl.DataFrame:
    """Events per calendar year, type and provisional flag."""
    if events.height == 0:
        return pl.DataFrame(schema=EMPTY)
    prov = (pl.col("provisional").cast(pl.Boolean) if "provisional" in events.columns
            else pl.lit(False))
    return (events.with_columns(pl.col("event_date").cast(pl.Date).dt.year().cast(pl.Int32)
                                .alias("year"), prov.alias("provisional"))
            .group_by(["year", "event_type", "provisional"]).agg(pl.len().alias("events"))
            .with_columns(pl.lit(rule).alias("rule"), pl.col("events").cast(pl.Int64),
                          pl.col("event_type").cast(pl.String))
            .select(list(EMPTY)).sort(["year", "event_type", "provisional"]))


def rule_sensitivity(st: Stores, observed_until: dt.date | None,
                     rules: dict[str, Rule] | None = None,
                     cfg_raw: dict | None = None, budget: Budget | None = None) -> pl.DataFrame | None:
    """Events by year, type and provisional flag under each rule (default: every preset),
    partition by partition of persons when the crossings do not fit the budget at once."""
    from reglink.rules.engine import derive_events

    cols = st.columns("warehouse", "crossings")
    if not cols or "person_key" not in cols:
        return None
    rows, last = st.sql("warehouse", "SELECT count(*) AS n, max(crossing_date) AS last "
                        "FROM crossings WHERE person_key IS NOT NULL").row(0)
    until = observed_until or last
    rules = rules or PRESETS
    parts = Partitions.plan(rows, budget, BYTES_PER_CROSSING)
    frames = []
    with permit_links(st) as has_permits:
        for i in parts:
            crossings = load_crossings(st, parts.where(i))
            initial = load_initial_status(st, parts.where(i))
            for name, rule in rules.items():
                evidence = (load_permit_evidence(st, evidence_min_days(cfg_raw or {}, rule),
                                                 parts.where(i, "l.person_key"))
                            if has_permits else None)
                ev = derive_events(crossings, rule, observed_until=until,
                                   initial_status=initial, evidence=evidence, id_col="person_key")
                frames.append(events_by_year(ev, name))
    if not frames:
        return pl.DataFrame(schema=EMPTY)
    order = {name: k for k, name in enumerate(rules)}
    return (pl.concat(frames).group_by("rule", "year", "event_type", "provisional")
            .agg(pl.col("events").sum())
            .sort(pl.col("rule").replace_strict(order, return_dtype=pl.Int32), "year", "event_type",
                  "provisional")
            .select(list(EMPTY)))


def side_by_side(sens: pl.DataFrame) -> pl.DataFrame:
    """Year x event type rows, one column per rule (provisional events included), plus the
    provisional events of each rule — the table shown in the report."""
    tot = (sens.group_by(["year", "event_type", "rule"]).agg(pl.col("events").sum())
           .pivot(on="rule", index=["year", "event_type"], values="events")
           .fill_null(0).sort(["event_type", "year"]))
    order = [r for r in PRESETS if r in tot.columns]
    order += [r for r in sens["rule"].unique(maintain_order=True) if r not in order]
    return tot.select("year", "event_type", *order)


def compare_with_warehouse(st: Stores, sens: pl.DataFrame, rule_name: str) -> pl.DataFrame | None:
    """The configured rule's yearly counts here against `migration_events` in the warehouse:
    they should agree, or the report shows where they do not."""
    if not st.has("warehouse", "migration_events"):
        return None
    wh = st.sql("warehouse", f"""SELECT CAST(year(CAST(event_date AS DATE)) AS INTEGER) AS year,
        CAST(event_type AS VARCHAR) AS event_type, count(*) AS warehouse_events
        FROM migration_events WHERE CAST(rule AS VARCHAR) = ? GROUP BY ALL""", [rule_name])
    mine = (sens.filter(pl.col("rule") == rule_name).group_by(["year", "event_type"])
            .agg(pl.col("events").sum().alias("recomputed_events")))
    return (mine.join(wh.with_columns(pl.col("year").cast(pl.Int32),
                                      pl.col("warehouse_events").cast(pl.Int64)),
                      on=["year", "event_type"], how="full", coalesce=True)
            .fill_null(0).with_columns((pl.col("recomputed_events") - pl.col("warehouse_events"))
                                       .alias("difference")).sort(["event_type", "year"]))
