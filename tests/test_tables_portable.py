"""The table builders' SELECTs, spelled for Spark (reglink.tables.sql.DIALECT = "spark"), parse as
Spark SQL. A syntax check only (sqlglot, which Splink already brings); it catches DuckDB-only
syntax creeping into the set-based steps."""
import pytest

from reglink.tables import accounting, crossings, events, flows, mobility, persons, sql, stocks, vital
from example_world import example_settings

sqlglot = pytest.importorskip("sqlglot")


def _statements() -> dict[str, str]:
    s = example_settings()
    reg_cols = ["registration_date", "registration_reason", "previous_country", "deregistration_date",
                "deregistration_reason", "next_country", "region", "naturalisation_date"]
    return {
        "persons": persons.persons_sql("NZL", "restricted", True, reg_cols),
        "initial_status": crossings.initial_status_sql("_repaired", "NZL", "crossing_seq"),
        "migration_events": events.enrich_sql(s, True),
        "flows": flows.flow_members_sql(["month", "quarter", "year"]),
        "stocks": stocks.stock_members_sql(s),
        "temporary_stays": mobility.stays_sql(s),
        "mobility_categories": mobility.categories_sql(s),
        "accounting": accounting.accounting_sql(s, [2022, 2023]),
        "parent_keys": vital.parent_keys_sql("restricted", reg_cols + ["person_number",
                                                                      *vital.PARENT_COLUMNS]),
        "births": vital.births_sql("NZL", True),
        "deaths": vital.deaths_sql("NZL"),
    }


def test_selects_parse_as_spark_sql():
    old = sql.DIALECT
    sql.DIALECT = "spark"
    try:
        stmts = _statements()
    finally:
        sql.DIALECT = old
    assert "date_diff('day'" not in stmts["migration_events"]  # the Spark spelling was used
    for name, text in stmts.items():
        tree = sqlglot.parse_one(text, read="spark")
        assert tree is not None and tree.sql(dialect="spark"), name
