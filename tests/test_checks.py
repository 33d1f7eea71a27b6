"""The pipeline's checks are library functions (reglink.checks); the Dagster asset checks only
wrap them. Checked here on small tables whose verdicts are worked by hand."""
from __future__ import annotations

import duckdb

from reglink import checks


def _links(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str]]) -> None:
    con.execute("CREATE TABLE person_links (source VARCHAR, record_id VARCHAR, person_key VARCHAR, "
                "match_probability DOUBLE)")
    con.executemany("INSERT INTO person_links VALUES (?, ?, ?, NULL)", rows)


def test_linkage_rates_and_bands() -> None:
    """Two of four permits belong to a person also in the border register: 50 % linked, inside
    the permits band against the border register (30 %); one of four border records: 25 %."""
    con = duckdb.connect()
    _links(con, [("permits", "P1", "A"), ("permits", "P2", "B"), ("permits", "P3", "C"),
                 ("permits", "P4", "D"), ("border_crossings", "B1", "A"),
                 ("border_crossings", "B2", "B"), ("border_crossings", "B3", "E"),
                 ("border_crossings", "B4", "F")])
    rates = checks.linkage_rates(con)
    assert rates["permits"] == {"records": 4, "persons": 4, "cross_register_rate": 0.5}
    assert rates["border_crossings"]["cross_register_rate"] == 0.5
    ok = checks.rates_within_bands(rates)
    assert ok.passed and ok.metadata == {"border_crossings": 0.5, "permits": 0.5}
    bad = checks.rates_within_bands(rates, {"permits": [0.6, 1.0]})
    assert not bad.passed
    assert bad.description == "permits: 50.0% of records linked to another register, expected 60%-100%"
    # one register alone cannot link to another: no verdict against it
    assert checks.rates_within_bands({"permits": rates["permits"]}, {"permits": [0.9, 1.0]}).passed


def test_every_record_linked() -> None:
    rates = {"permits": {"records": 4}, "border_crossings": {"records": 3}}
    assert checks.every_record_linked({"permits": 4, "border_crossings": 3}, rates, 7).passed
    short = checks.every_record_linked({"permits": 4, "border_crossings": 4}, rates, 7)
    assert not short.passed
    assert short.description == "border_crossings: 4 accepted records, 3 in person_links"


def test_residual_within_tolerance() -> None:
    """Worst year 2021: |−3| + |1| = 4 against a stock at start of 100 + 100 = 200: 2 %."""
    con = duckdb.connect()
    con.execute("CREATE TABLE accounting (year INTEGER, subpopulation VARCHAR, "
                "stock_start BIGINT, residual BIGINT)")
    con.executemany("INSERT INTO accounting VALUES (?, ?, ?, ?)", [
        (2020, "native-born citizen", 100, 0), (2020, "foreign-born foreign citizen", 100, 1),
        (2021, "native-born citizen", 100, -3), (2021, "foreign-born foreign citizen", 100, 1),
        (2021, "TOTAL", 200, -2)])
    out = checks.residual_within_tolerance(con, 0.02)
    assert out.passed and out.metadata == {"max_residual_share": 0.02, "tolerance": 0.02}
    assert "5 persons unaccounted over 2 years" in out.description
    assert not checks.residual_within_tolerance(con, 0.01).passed
