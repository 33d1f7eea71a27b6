"""The warehouse's tables, declared once: name, columns (DuckDB types), the stage that writes
them and, for the tables stage, the Dagster asset they belong to and what it depends on.

Stages read table and column names from here (`reglink.store.declared_columns`) instead of
guessing them, the Dagster asset specs of the tables stage are generated from `STEPS`, and a
test builds a world and fails when a built table differs from its declaration
(`differences`). A new table, or a new column, is declared here in the same commit that
builds it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Table:
    """One warehouse table: who writes it and its columns, in order."""

    name: str
    stage: str  # ingest, linkage, tables, quality
    columns: tuple[tuple[str, str], ...]  # (name, DuckDB type)
    asset: tuple[str, str] | None = None  # the Dagster asset of the tables stage it belongs to


@dataclass(frozen=True)
class Step:
    """One Dagster asset of the tables stage: its tables are built by reglink.tables.build_tables
    in one connection; `depends_on` are other steps (none: it starts from person_links)."""

    key: tuple[str, str]
    description: str
    depends_on: tuple[tuple[str, str], ...] = ()


STEPS: tuple[Step, ...] = (
    Step(("persons", "persons"), "persons: one row per linked person, attributes from the registers"),
    Step(("persons", "crossings"), "each person's border crossings, repaired, classified by the rule",
         (("persons", "persons"),)),
    Step(("events", "residence_status"), "residence spells: each person's status over time",
         (("persons", "crossings"),)),
    Step(("events", "migration_events"), "immigrations and emigrations under the configured rule",
         (("persons", "crossings"),)),
    Step(("tables", "flows"), "immigration and emigration by period and breakdown, with provisional "
         "estimates and their revisions", (("events", "migration_events"),)),
    Step(("tables", "stocks"), "resident, immigrant, emigrant and temporary populations at "
         "reference dates", (("events", "residence_status"),)),
    Step(("tables", "temporary_mobility"), "non-resident stays, person-days, cross-border and "
         "seasonal workers, asylum flows", (("persons", "crossings"),)),
    Step(("tables", "accounting"), "stock at start + flows = stock at end, residual shown",
         (("tables", "flows"), ("tables", "stocks"))),
    Step(("tables", "toolkit"), "the toolkit's tables 3.1-3.3",
         (("tables", "flows"), ("tables", "stocks"))),
    Step(("tables", "publication"), "publication copies with small-cell protection",
         (("tables", "flows"), ("tables", "stocks"), ("tables", "temporary_mobility"),
          ("tables", "accounting"), ("tables", "toolkit"))),
)


@dataclass(frozen=True)
class BuildStep:
    """One step of the in-process build, in the order they run: `function` names its build
    function in reglink.tables.steps; `assets` the Dagster assets whose tables it writes."""

    name: str
    function: str
    assets: tuple[tuple[str, str], ...] = ()


BUILD: tuple[BuildStep, ...] = (
    BuildStep("persons", "build_persons", (("persons", "persons"),)),
    BuildStep("crossings", "build_crossings", (("persons", "crossings"),
                                               ("events", "residence_status"))),
    BuildStep("migration_events", "build_migration_events", (("events", "migration_events"),)),
    BuildStep("flows", "build_flows", (("tables", "flows"),)),
    BuildStep("provisional estimates", "build_provisional", (("tables", "flows"),)),
    BuildStep("stocks", "build_stocks", (("tables", "stocks"),)),
    BuildStep("temporary_mobility", "build_temporary_mobility", (("tables", "temporary_mobility"),)),
    BuildStep("asylum_flows", "build_asylum_flows", (("tables", "temporary_mobility"),)),
    BuildStep("accounting", "build_accounting", (("tables", "accounting"),)),
    BuildStep("births and deaths", "build_births_deaths"),
    BuildStep("toolkit", "build_toolkit", (("tables", "toolkit"),)),
    BuildStep("birth dates coarsened", "coarsen_birth_dates"),
    BuildStep("publication", "build_publication", (("tables", "publication"),)),
)


def _declare(stage: str, asset: tuple[str, str] | None, tables: dict[str, str]) -> list[Table]:
    """Tables from "name TYPE, name TYPE" strings (the form DuckDB prints; names are lower
    case, types upper case, so a comma inside DECIMAL(2,1) does not split)."""
    return [Table(name, stage, tuple(tuple(c.strip().split(" ", 1))
                                     for c in re.split(r",\s*(?=[a-z_][a-z0-9_]* )", spec)),
                  asset) for name, spec in tables.items()]


# The columns of a migration event (`migration_events`); the tables that carry events with more
# (`expected_migrations`, and both in their register-based form) add theirs after these
EVENT_COLUMNS = (
    "person_key VARCHAR, event_type VARCHAR, event_date DATE, provisional BOOLEAN, rule "
    "VARCHAR, crossing_record_id VARCHAR, sex VARCHAR, age_at_event INTEGER, age_group "
    "VARCHAR, citizenship VARCHAR, country_of_birth VARCHAR, is_citizen BOOLEAN, "
    "is_native_born BOOLEAN, subpopulation VARCHAR, previous_country_of_residence VARCHAR, "
    "next_country_of_residence VARCHAR, reason VARCHAR, reason_source VARCHAR, "
    "is_returning_citizen BOOLEAN, is_returning_native_born BOOLEAN, event_year INTEGER, "
    "event_quarter INTEGER, event_month INTEGER"
)

def _published(declared: list[Table]) -> list[Table]:
    """`pub_<table>` of every table the small-cell protection publishes (tables.protect), in
    name order: the table's own columns and `suppressed`, the protection's flag."""
    from reglink.tables.protect import PROTECTED

    by_name = {t.name: t for t in declared}
    return [Table(f"pub_{name}", "tables", by_name[name].columns + (("suppressed", "BOOLEAN"),),
                  ("tables", "publication")) for name in sorted(PROTECTED)]


_TABLES: list[Table] = [
    *_declare("ingest", None, {
        "ingest_log": (
            "source VARCHAR, file VARCHAR, sha256 VARCHAR, extract_id VARCHAR, status VARCHAR, "
            "rows_in BIGINT, rows_accepted BIGINT, rows_quarantined BIGINT, ingested_at TIMESTAMP "
            "WITH TIME ZONE, settings_sha256 VARCHAR"
        ),
        "quality_completeness": (
            "source VARCHAR, extract_id VARCHAR, column VARCHAR, annex2_topic VARCHAR, "
            "present_in_extract BOOLEAN, share_filled DOUBLE"
        ),
        "quality_expectations": (
            "source VARCHAR, extract_id VARCHAR, expectation VARCHAR, column VARCHAR, severity "
            "VARCHAR, success BOOLEAN, unexpected_rows BIGINT, observed VARCHAR"
        ),
        "quality_quarantine": (
            "source VARCHAR, extract_id VARCHAR, reason VARCHAR, column VARCHAR, rows BIGINT"
        ),
    }),
    *_declare("linkage", None, {
        "linkage_key_map": "source VARCHAR, record_id VARCHAR, person_key VARCHAR",
        "person_links": (
            "source VARCHAR, record_id VARCHAR, person_key VARCHAR, match_probability DOUBLE"
        ),
        "quality_linkage_by_citizenship": (
            "citizenship VARCHAR, persons BIGINT, expected_not_exact DOUBLE, "
            "expected_not_exact_share DOUBLE"
        ),
        "quality_linkage_clusters": (
            "records_per_person UINTEGER, registers UINTEGER, persons UINTEGER"
        ),
        "quality_linkage_keys": (
            "previous_records BIGINT, kept_records BIGINT, kept_share DOUBLE, persons BIGINT"
        ),
        "quality_linkage_match_weights": (
            "weight_bin INTEGER, pairs UINTEGER, accepted_pairs UINTEGER"
        ),
        "quality_linkage_parameters": (
            "comparison VARCHAR, level_order INTEGER, level VARCHAR, m_probability DOUBLE, "
            "u_probability DOUBLE, match_weight DOUBLE, tf_adjusted BOOLEAN"
        ),
        "quality_linkage_model": (
            "model_used VARCHAR, refit_mode VARCHAR, reason VARCHAR, u_drift_bits DOUBLE, "
            "m_drift_bits DOUBLE, model_file VARCHAR"
        ),
        "quality_linkage_splits": "kind VARCHAR, contradictions UINTEGER, clusters UINTEGER",
        "quality_linkage_summary": "metric VARCHAR, value DOUBLE, meaning VARCHAR",
        "quality_linkage_unlinked": (
            "source VARCHAR, records BIGINT, persons BIGINT, records_in_no_other_register BIGINT, "
            "share_in_no_other_register DOUBLE"
        ),
    }),
    *_declare("quality", None, {
        "quality_accounting_residual": (
            "subpopulation VARCHAR, year VARCHAR, residual DOUBLE, stock_end DOUBLE, "
            "residual_share_of_stock_end DOUBLE"
        ),
        "quality_annex2": (
            "topic VARCHAR, description VARCHAR, columns VARCHAR, included VARCHAR, share_filled "
            "DOUBLE, source VARCHAR"
        ),
        "quality_births_parents": (
            "birth_year VARCHAR, births BIGINT, parent_linked BIGINT, number_not_found BIGINT, "
            "no_parent_number BIGINT, parents_not_supplied BIGINT, linked_share DOUBLE"
        ),
        "quality_coherence": (
            "check VARCHAR, records_checked BIGINT, found BIGINT, share DOUBLE, records_not_linked "
            "BIGINT, definition VARCHAR"
        ),
        "quality_coverage": (
            "dimension VARCHAR, group VARCHAR, records BIGINT, share DOUBLE, status VARCHAR, source "
            "VARCHAR"
        ),
        "quality_cross_links": (
            "source VARCHAR, other_source VARCHAR, records BIGINT, linked BIGINT, share DOUBLE"
        ),
        "quality_fields": (
            "source VARCHAR, field VARCHAR, kind VARCHAR, required BOOLEAN, annex2 VARCHAR, present "
            "BOOLEAN, records BIGINT, filled BIGINT, completeness DOUBLE, valid BIGINT, validity "
            "DOUBLE, validity_rule VARCHAR, applies_to VARCHAR, applicable_records BIGINT, "
            "completeness_applicable DOUBLE"
        ),
        "quality_rule_sensitivity": (
            "rule VARCHAR, year INTEGER, event_type VARCHAR, provisional BOOLEAN, events BIGINT"
        ),
        "quality_timeliness": (
            "source VARCHAR, event_date VARCHAR, records_dated BIGINT, first_month VARCHAR, "
            "last_month VARCHAR, reference_date DATE, days_last_event_to_reference BIGINT, "
            "records_after_reference BIGINT, records_in_study_period BIGINT, records_last_90_days "
            "BIGINT, last_90_days_vs_average DOUBLE"
        ),
    }),
    *_declare("tables", ("persons", "persons"), {
        "persons": (
            "person_key VARCHAR, sex VARCHAR, birth_year INTEGER, country_of_birth VARCHAR, "
            "citizenship VARCHAR, citizenship_before_naturalisation VARCHAR, naturalisation_date "
            "DATE, is_native_born BOOLEAN, is_citizen BOOLEAN, death_date DATE, "
            "in_population_register BOOLEAN, registration_date DATE, registration_reason VARCHAR, "
            "previous_country VARCHAR, deregistration_date DATE, deregistration_reason VARCHAR, "
            "next_country VARCHAR, region VARCHAR, records BIGINT, border_records BIGINT, "
            "permit_records BIGINT, register_records BIGINT, asylum_records BIGINT"
        ),
    }),
    *_declare("tables", ("persons", "crossings"), {
        "crossing_repairs": (
            "person_key VARCHAR, kind VARCHAR, crossing_date DATE, imputed_date DATE, direction "
            "VARCHAR, row BIGINT, record_id VARCHAR, reason VARCHAR"
        ),
        "crossings": (
            "person_key VARCHAR, crossing_record_id VARCHAR, direction VARCHAR, crossing_date DATE, "
            "travel_reason VARCHAR, origin_destination VARCHAR, country_of_residence VARCHAR, "
            "transport_mode VARCHAR, border_point VARCHAR, occupation VARCHAR, citizenship_declared "
            "VARCHAR, crossing_seq INTEGER, imputed BOOLEAN, repair VARCHAR, days_observed BIGINT, "
            "days_in BIGINT, days_out BIGINT, days_counted BIGINT, intent_evidence BOOLEAN, qualifies "
            "BOOLEAN, is_migration BOOLEAN, status_before VARCHAR, status_after VARCHAR, event_type "
            "VARCHAR, decided BOOLEAN, crossing_order INTEGER, rule VARCHAR, provisional BOOLEAN"
        ),
        "initial_status": (
            "person_key VARCHAR, first_crossing_date DATE, first_direction VARCHAR, initial_status "
            "VARCHAR, initial_status_source VARCHAR"
        ),
    }),
    *_declare("tables", ("events", "residence_status"), {
        "residence_spells": (
            "person_key VARCHAR, status VARCHAR, spell_start DATE, spell_end DATE, basis VARCHAR, "
            "ended_by VARCHAR"
        ),
    }),
    *_declare("tables", ("events", "migration_events"), {
        "migration_events": EVENT_COLUMNS,
        "register_stays": (
            "person_key VARCHAR, stay_no HUGEINT, s DATE, e DATE, end_reason VARCHAR, registered "
            "BOOLEAN, born_here BOOLEAN, asylum BOOLEAN, permit_days BIGINT, permits BIGINT, "
            "first_sign DATE, previous_country VARCHAR, next_country VARCHAR, first_any DATE"
        ),
    }),
    *_declare("tables", ("tables", "flows"), {
        "expected_migrations": (
            EVENT_COLUMNS + ", crossing_order INTEGER, days_observed "
            "BIGINT, other_days HUGEINT, state VARCHAR, lag_band INTEGER, evidence VARCHAR, "
            "currently_counted BOOLEAN, stay_probability DOUBLE, model_probability DOUBLE, "
            "migrating_probability DOUBLE, probability DOUBLE, drift DOUBLE, model_variance DOUBLE, "
            "model_level INTEGER, model_cell VARCHAR"
        ),
        "flows": (
            "period_type VARCHAR, period VARCHAR, period_start DATE, period_end DATE, event_type "
            "VARCHAR, breakdown VARCHAR, sex VARCHAR, age_group VARCHAR, citizenship VARCHAR, "
            "country_of_birth VARCHAR, subpopulation VARCHAR, country VARCHAR, reason VARCHAR, "
            "persons BIGINT, events BIGINT, provisional_events BIGINT, persons_final BIGINT, "
            "persons_expected DOUBLE, persons_provisional_estimate DOUBLE, ci_low DOUBLE, ci_high "
            "DOUBLE, status VARCHAR"
        ),
        "provisional_model": (
            "level INTEGER, direction VARCHAR, state VARCHAR, lag_band INTEGER, other_band VARCHAR, "
            "evidence VARCHAR, reason_group VARCHAR, citizen VARCHAR, history VARCHAR, training_rows "
            "BIGINT, migrations HUGEINT, probability DOUBLE"
        ),
        "revisions": (
            "run_id VARCHAR, run_time TIMESTAMP, observed_until DATE, rule VARCHAR, period_type "
            "VARCHAR, period VARCHAR, period_start DATE, period_end DATE, event_type VARCHAR, "
            "breakdown VARCHAR, sex VARCHAR, age_group VARCHAR, citizenship VARCHAR, country_of_birth "
            "VARCHAR, subpopulation VARCHAR, country VARCHAR, reason VARCHAR, status VARCHAR, "
            "persons_final BIGINT, persons_expected DOUBLE, persons_provisional_estimate DOUBLE, "
            "ci_low DOUBLE, ci_high DOUBLE"
        ),
    }),
    *_declare("tables", ("tables", "stocks"), {
        "stocks": (
            "reference_date DATE, population VARCHAR, breakdown VARCHAR, sex VARCHAR, age_group "
            "VARCHAR, citizenship VARCHAR, country_of_birth VARCHAR, subpopulation VARCHAR, country "
            "VARCHAR, persons BIGINT"
        ),
    }),
    *_declare("tables", ("tables", "temporary_mobility"), {
        "asylum_flows": (
            "year INTEGER, flow VARCHAR, breakdown VARCHAR, decision VARCHAR, citizenship VARCHAR, "
            "sex VARCHAR, persons BIGINT, events BIGINT"
        ),
        "temporary_mobility": (
            "year INTEGER, mobility_type VARCHAR, category VARCHAR, breakdown VARCHAR, duration_band "
            "VARCHAR, purpose VARCHAR, sex VARCHAR, citizenship VARCHAR, country_of_birth VARCHAR, "
            "subpopulation VARCHAR, persons BIGINT, stays BIGINT, person_days BIGINT, open_stays "
            "BIGINT"
        ),
        "temporary_stays": (
            "person_key VARCHAR, mobility_type VARCHAR, year INTEGER, start_date DATE, is_open "
            "BOOLEAN, stay_days BIGINT, purpose VARCHAR, duration_band VARCHAR, sex VARCHAR, "
            "citizenship VARCHAR, country_of_birth VARCHAR, subpopulation VARCHAR"
        ),
    }),
    *_declare("tables", ("tables", "accounting"), {
        "accounting": (
            "year INTEGER, subpopulation VARCHAR, stock_start BIGINT, immigration BIGINT, emigration "
            "BIGINT, births BIGINT, deaths BIGINT, citizenship_acquired BIGINT, citizenship_lost "
            "BIGINT, stock_end BIGINT, residual BIGINT"
        ),
    }),
    *_declare("tables", ("tables", "toolkit"), {
        "toolkit_table_3_1": (
            "reference_year INTEGER, cell VARCHAR, label VARCHAR, formula VARCHAR, persons BIGINT, "
            "definition VARCHAR, source VARCHAR, notes VARCHAR"
        ),
        "toolkit_table_3_1_grid": (
            "reference_year INTEGER, row_order INTEGER, row_label VARCHAR, native_born BIGINT, "
            "foreign_born BIGINT, total BIGINT"
        ),
        "toolkit_table_3_2": (
            "reference_year INTEGER, cell VARCHAR, label VARCHAR, formula VARCHAR, persons BIGINT, "
            "definition VARCHAR, source VARCHAR, notes VARCHAR"
        ),
        "toolkit_table_3_2_grid": (
            "reference_year INTEGER, row_order INTEGER, row_label VARCHAR, native_born BIGINT, "
            "foreign_born BIGINT, total BIGINT"
        ),
        "toolkit_table_3_3": (
            "reference_year INTEGER, cell VARCHAR, label VARCHAR, formula VARCHAR, persons BIGINT, "
            "definition VARCHAR, source VARCHAR, notes VARCHAR"
        ),
        "toolkit_table_3_3_grid": (
            "reference_year INTEGER, row_order INTEGER, row_label VARCHAR, native_born BIGINT, "
            "foreign_born BIGINT, total BIGINT"
        ),
        "toolkit_table_3_4": (
            "reference_year INTEGER, cell VARCHAR, label VARCHAR, formula VARCHAR, persons BIGINT, "
            "definition VARCHAR, source VARCHAR, notes VARCHAR"
        ),
        "toolkit_table_3_4_grid": (
            "reference_year INTEGER, row_order INTEGER, row_label VARCHAR, native_born BIGINT, "
            "foreign_born BIGINT, total BIGINT"
        ),
        "toolkit_table_3_5": (
            "reference_year INTEGER, cell VARCHAR, label VARCHAR, formula VARCHAR, persons BIGINT, "
            "definition VARCHAR, source VARCHAR, notes VARCHAR"
        ),
        "toolkit_table_3_5_grid": (
            "reference_year INTEGER, row_order INTEGER, row_label VARCHAR, native_born BIGINT, "
            "foreign_born BIGINT, total BIGINT"
        ),
    }),
    # the publication copies (pub_<table>) follow, generated: _published()
]
_TABLES += _published(_TABLES)
_TABLES += [
    *_declare("tables", None, {
        "births": (
            "person_key VARCHAR, birth_year INTEGER, birth_month INTEGER, sex VARCHAR, mother_key "
            "VARCHAR, father_key VARCHAR, reference_parent VARCHAR, parent_country_of_birth VARCHAR, "
            "parent_citizenship VARCHAR, parent_is_native_born BOOLEAN, parent_is_citizen BOOLEAN, "
            "subpopulation VARCHAR, parent_link VARCHAR"
        ),
        "deaths": (
            "person_key VARCHAR, death_date DATE, death_year INTEGER, sex VARCHAR, country_of_birth "
            "VARCHAR, is_native_born BOOLEAN, is_citizen BOOLEAN, subpopulation VARCHAR"
        ),
    }),
]

# Flows from the population register's spells (no border register, or tables.flows_source:
# registers) build these two tables with other columns: declared as the second form they take.
_FROM_REGISTERS: dict[str, str] = {
    "expected_migrations": (
        EVENT_COLUMNS + ", probability DOUBLE, migrating_probability "
        "DECIMAL(2,1), model_variance DECIMAL(2,1), model_cell VARCHAR, drift DECIMAL(2,1)"
    ),
    "migration_events": EVENT_COLUMNS + ", evidence VARCHAR",
}

TABLES: dict[str, Table] = {t.name: t for t in _TABLES}
ALTERNATIVES: dict[str, tuple[tuple[str, str], ...]] = {
    t.name: t.columns for t in _declare("tables", None, _FROM_REGISTERS)}


def tables(stage: str | None = None, asset: tuple[str, str] | None = None) -> list[str]:
    """The declared tables, of one stage or one asset of the tables stage."""
    return [t.name for t in TABLES.values()
            if (stage is None or t.stage == stage) and (asset is None or t.asset == asset)]


def columns(table: str) -> list[str]:
    """The declared columns of a table, in order (KeyError for an undeclared table)."""
    return [c for c, _ in TABLES[table].columns]


def asset_of(table: str) -> tuple[str, str] | None:
    """The Dagster asset of the tables stage a table belongs to, if any."""
    t = TABLES.get(table)
    return t.asset if t else None


def differences(con: duckdb.DuckDBPyConnection, only: list[str] | None = None) -> list[str]:
    """How the tables built in `con` differ from their declarations: an undeclared table, or a
    column missing, extra, out of order or of another type. Empty when they agree."""
    built: dict[str, list[tuple[str, str]]] = {}
    for t, c, ty in con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_catalog = current_database() "
            "ORDER BY table_name, ordinal_position").fetchall():
        built.setdefault(t, []).append((c, ty))
    out = []
    for name in sorted(built if only is None else set(only) & set(built)):
        if name not in TABLES:
            out.append(f"{name}: built but not declared in reglink.tables.catalog")
        elif tuple(built[name]) not in (TABLES[name].columns, ALTERNATIVES.get(name)):
            want = ", ".join(f"{c} {ty}" for c, ty in TABLES[name].columns)
            got = ", ".join(f"{c} {ty}" for c, ty in built[name])
            out.append(f"{name}: declared ({want}), built ({got})")
    return out
