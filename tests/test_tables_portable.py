"""The table builders' SELECTs, spelled for Spark (`dialect=SPARK`), parse as Spark SQL.

A syntax check only (sqlglot, which Splink already brings), for every builder, including those
that run on DuckDB only; it catches DuckDB-only syntax creeping into the set-based steps. That
the builders Spark runs give DuckDB's rows is `tests/test_engine_spark.py`."""
import pytest

from reglink.rules import inputs
from reglink.tables import accounting, events, flows, mobility, persons, stocks, vital
from reglink.tables.runner import read_tables
from reglink.tables.sql import DUCKDB, SPARK
from example_world import example_settings

sqlglot = pytest.importorskip("sqlglot")


def _statements() -> dict[str, str]:
    s = example_settings()
    reg_cols = ["registration_date", "registration_reason", "previous_country", "deregistration_date",
                "deregistration_reason", "next_country", "region", "naturalisation_date"]
    return {
        "persons": persons.persons_sql("NZL", "restricted", True, reg_cols),
        "initial_status": inputs.initial_status_sql("_repaired", "NZL", "crossing_seq"),
        "migration_events": events.enrich_sql(s, True, dialect=SPARK),
        "flows": flows.flow_members_sql(["month", "quarter", "year"], dialect=SPARK),
        "residence_spells": stocks.residence_spells_sql(),
        "crossing_order": stocks.crossing_order_sql(["crossing_seq"]),
        "stocks": stocks.stock_members_sql(s, SPARK),
        "stocks_zero_cells": stocks.zero_cells_sql("_stock_cells"),
        "temporary_stays": mobility.stays_sql(s, SPARK),
        "mobility_categories": mobility.categories_sql(s, SPARK),
        "asylum": mobility.asylum_members_sql("restricted", ["decision"], SPARK),
        "accounting": accounting.accounting_sql(s, [2022, 2023], SPARK),
        "parent_keys": vital.parent_keys_sql("restricted", reg_cols + ["person_number",
                                                                      *vital.PARENT_COLUMNS]),
        "births": vital.births_sql("NZL", True),
        "deaths": vital.deaths_sql("NZL"),
    }


def test_selects_parse_as_spark_sql():
    stmts = _statements()
    for name, text in stmts.items():
        tree = sqlglot.parse_one(text, read="spark")
        assert tree is not None and tree.sql(dialect="spark"), name
    # the Spark spelling was used where the engines differ
    for name in ("migration_events", "flows", "stocks", "temporary_stays", "mobility_categories",
                 "asylum", "accounting"):
        assert "date_diff('day'" not in stmts[name] and "AS VARCHAR" not in stmts[name], name


def test_the_dialects_spell_dates_and_text_each_their_way():
    import duckdb

    jan1, mar1 = "DATE '2024-01-01'", "DATE '2024-03-01'"
    for d in (DUCKDB.add_days(mar1, -1), DUCKDB.month_end("2024", "2"),
              DUCKDB.add_days(jan1, DUCKDB.days_between(jan1, mar1) + " - 1")):
        assert duckdb.sql(f"SELECT {d}").fetchall()[0][0].isoformat() == "2024-02-29", d
    assert SPARK.add_days("d", "n") == "date_add(d, CAST(n AS INT))"
    assert SPARK.days_between("a", "b") == "datediff(b, a)"
    assert SPARK.text("x") == "CAST(x AS STRING)" and DUCKDB.text("x") == "CAST(x AS VARCHAR)"


def test_the_tables_a_statement_reads_leave_out_its_ctes():
    sql = ("WITH s AS (SELECT * FROM crossings), t AS (SELECT * FROM s JOIN restricted.std_asylum_register a "
           "ON a.k = s.k) SELECT * FROM t JOIN persons p ON TRUE WHERE p.k NOT IN (SELECT k FROM _ref_dates)")
    assert sorted(read_tables(sql)) == ["_ref_dates", "crossings", "persons", "restricted.std_asylum_register"]
