"""The residence rule's inputs from the stores (reglink.rules.inputs), hand-worked: which
permits count as evidence of intention, and which initial statuses the engine is given. The
tables stage and the rule-sensitivity report both read through these functions."""
from __future__ import annotations

import datetime as dt

import duckdb

from reglink.rules import PRESETS, inputs

D = dt.date


def _store() -> duckdb.DuckDBPyConnection:
    """One connection holding a warehouse's links and initial status and a restricted
    store's permits (the report's restricted connection, with the links made visible)."""
    con = duckdb.connect()
    con.execute("CREATE TABLE person_links AS SELECT * FROM (VALUES "
                "('permits', 'P1', 'PK1'), ('permits', 'P2', 'PK2'), ('permits', 'P3', 'PK3'), "
                "('permits', 'P4', 'PK4'), ('border_crossings', 'P1', 'PK9')) "
                "t(source, record_id, person_key)")
    # P1: 365 days counting both ends; P2: 364; P3: no end; P4: 400 days; P5: not linked
    con.execute("CREATE TABLE std_permits AS SELECT * FROM (VALUES "
                "('P1', DATE '2020-01-01', DATE '2020-12-30'), "
                "('P2', DATE '2020-01-01', DATE '2020-12-29'), "
                "('P3', DATE '2020-01-01', NULL), "
                "('P4', DATE '2021-03-01', DATE '2022-04-04'), "
                "('P5', DATE '2020-01-01', DATE '2025-01-01')) t(record_id, valid_from, valid_to)")
    con.execute("CREATE TABLE initial_status AS SELECT * FROM (VALUES "
                "('PK1', 'RESIDENT', 'population_register'), "
                "('PK2', 'NON_RESIDENT', 'declared_residence'), "
                "('PK3', 'NON_RESIDENT', 'rule_default'), "
                "('PK4', 'NON_RESIDENT', 'absent_before_first_entry')) "
                "t(person_key, initial_status, initial_status_source)")
    return con


def test_a_permit_counts_when_valid_at_least_min_days_both_ends_counted():
    con = _store()
    ev = inputs.permit_evidence(con, None, 365)
    assert sorted(ev["person_key"]) == ["PK1", "PK4"]  # P2 one day short, P3 open, P5 unlinked
    assert set(ev["evidence_type"]) == {"PERMIT"}
    assert sorted(inputs.permit_evidence(con, None, 366)["person_key"]) == ["PK4"]
    # one partition of persons, on the links' person_key
    part = inputs.permit_evidence(con, None, 365, "l.person_key = 'PK4'")
    assert part.select("person_key", "valid_from", "valid_to").rows() == \
        [("PK4", D(2021, 3, 1), D(2022, 4, 4))]


def test_no_permit_register_no_evidence():
    con = _store()
    con.execute("DROP TABLE std_permits")
    assert inputs.permit_evidence(con, None, 365) is None


def test_evidence_days_default_to_the_rule_threshold():
    rule = PRESETS["12-16"]
    assert inputs.evidence_days(rule, None) == rule.threshold_days == 365
    assert inputs.evidence_days(rule, 0) == 365  # 0 in the YAML means "not set"
    assert inputs.evidence_days(PRESETS["6-12"], 90) == 90


def test_the_engine_gets_every_seeded_initial_status_not_the_rule_default():
    con = _store()
    got = con.sql(inputs.seeded_initial_status_sql()).pl().sort("person_key")
    assert got.rows() == [("PK1", "RESIDENT"), ("PK2", "NON_RESIDENT"), ("PK4", "NON_RESIDENT")]
    assert con.sql(inputs.seeded_initial_status_sql("person_key = 'PK2'")).pl().height == 1


def test_stored_crossings_keep_only_what_the_engine_reads_in_stored_order():
    con = duckdb.connect()
    con.execute("CREATE TABLE crossings AS SELECT * FROM (VALUES "
                "('PK2', 'C3', 'ENTRY', DATE '2020-05-01', 'HOLIDAY', 2, 'IMMIGRATION'), "
                "('PK1', 'C1', 'EXIT', DATE '2020-01-01', NULL, 1, NULL), "
                "(NULL, 'C9', 'ENTRY', DATE '2020-01-01', NULL, 1, NULL), "
                "('PK1', 'C2', 'ENTRY', DATE '2020-03-01', NULL, 2, NULL)) "
                "t(person_key, crossing_record_id, direction, crossing_date, travel_reason, "
                "crossing_order, event_type)")
    cols = [r[0] for r in con.execute("DESCRIBE crossings").fetchall()]
    got = con.sql(inputs.stored_crossings_sql(cols)).pl()
    assert got.columns == ["person_key", "crossing_record_id", "direction", "crossing_date",
                           "travel_reason"]
    assert got["crossing_record_id"].to_list() == ["C1", "C2", "C3"]  # no person: left out
