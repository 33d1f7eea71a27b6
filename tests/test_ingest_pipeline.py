"""ingest_all on synthetic worlds: books balance, std_* carry what linkage needs, identifiers
stay restricted, an identical re-delivery is recognised, a missing register is not fatal."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from reglink.config import load_config
from reglink.ingest import ingest_all, ingest_extract
from reglink.schemas import SCHEMAS, SOURCES
from reglink.store import assert_no_identifiers

STD_COLUMNS = {"source", "extract_id", "given_names_std", "surname_std", "full_name_std", "dob_year",
               "dob_month", "dob_day", "date_of_birth", "date_of_birth_raw"}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    synth = pytest.importorskip("reglink.synth")
    out = tmp_path_factory.mktemp("world")
    synth.generate(out, persons=200, years=3, seed=3, fmt="csv", events=False)
    return out


def _config(folder: Path, extracts: dict[str, Path], **extra) -> Path:
    lines = ["home_country: NZL", "warehouse: wh.duckdb", "ingest_expectations: false", "extracts:"]
    lines += [f"  {k}: {v}" for k, v in extracts.items()]
    lines += [f"{k}: {v}" for k, v in extra.items()]
    cfg = folder / "reglink.yaml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


def test_ingest_all_on_generated_world(world, tmp_path):
    extracts = {s: world / f"{s}.csv" for s in SOURCES}
    cfg = load_config(_config(tmp_path, extracts))
    res = ingest_all(cfg)
    assert set(res) == set(SOURCES)
    rs = duckdb.connect(str(cfg.restricted_path), read_only=True)
    wh = duckdb.connect(str(cfg.warehouse), read_only=True)
    for s in SOURCES:
        raw_rows = pl.read_csv(extracts[s], infer_schema=False).height
        summ = res[s].summary
        assert summ.rows_in == raw_rows == summ.rows_accepted + summ.rows_quarantined
        n_std = rs.sql(f"SELECT count(*) FROM std_{s}").fetchall()[0][0]
        n_q = rs.sql(f"SELECT count(*) FROM quarantine_{s}").fetchall()[0][0]
        assert (n_std, n_q) == (summ.rows_accepted, summ.rows_quarantined)
        cols = {r[0] for r in rs.sql(f"DESCRIBE std_{s}").fetchall()}
        assert STD_COLUMNS | set(SCHEMAS[s].names) <= cols
        log = wh.sql("SELECT rows_in, rows_accepted, rows_quarantined, sha256 FROM ingest_log "
                     f"WHERE source = '{s}'").fetchall()
        assert log == [(summ.rows_in, summ.rows_accepted, summ.rows_quarantined, summ.sha256)]
    # every record of the truth that the registers carry is accepted exactly once
    truth = pl.read_parquet(world / "truth" / "record_person.parquet")
    std_ids = pl.concat([res[s].clean.select("source", "record_id") for s in SOURCES])
    assert std_ids.join(truth, on=["source", "record_id"], how="anti").is_empty()
    assert std_ids.is_unique().all()
    # typed columns: dates are dates, countries alpha-3, names standardised
    bc = res["border_crossings"].clean
    assert bc.schema["crossing_date"] == pl.Date
    assert bc["citizenship"].drop_nulls().str.contains(r"^[A-Z]{3}$").all()
    assert (bc["surname_std"].drop_nulls() == bc["surname_std"].drop_nulls().str.to_uppercase()).all()
    assert_no_identifiers(wh)


def test_identical_redelivery_is_recognised_and_change_reingested(world, tmp_path):
    src = tmp_path / "permits.csv"
    shutil.copy(world / "permits.csv", src)
    cfg = load_config(_config(tmp_path, {"permits": src}))
    first = ingest_all(cfg)["permits"]
    again = ingest_all(cfg)["permits"]
    assert first.summary.status == "ingested" and again.summary.status == "unchanged"
    assert again.summary.sha256 == first.summary.sha256
    assert again.clean.height == first.clean.height == first.summary.rows_accepted
    # a changed delivery (one row fewer) is ingested again and replaces the std table
    lines = src.read_text().splitlines()
    src.write_text("\n".join(lines[:-1]) + "\n")
    third = ingest_all(cfg)["permits"]
    assert third.summary.status == "ingested" and third.summary.rows_in == first.summary.rows_in - 1
    wh = duckdb.connect(str(cfg.warehouse), read_only=True)
    assert wh.sql("SELECT status FROM ingest_log ORDER BY ingested_at").fetchall() == [
        ("ingested",), ("unchanged",), ("ingested",)]
    rs = duckdb.connect(str(cfg.restricted_path), read_only=True)
    assert rs.sql("SELECT count(*) FROM std_permits").fetchall()[0][0] == third.summary.rows_accepted


def test_changed_mapping_means_reingest(world, tmp_path):
    src = tmp_path / "asylum.csv"
    shutil.copy(world / "asylum_register.csv", src)
    m = tmp_path / "m.yaml"
    m.write_text("source: asylum_register\n")
    cfg = load_config(_config(tmp_path, {"asylum_register": src}, mappings=f"{{asylum_register: {m}}}"))
    assert ingest_all(cfg)["asylum_register"].summary.status == "ingested"
    assert ingest_all(cfg)["asylum_register"].summary.status == "unchanged"
    m.write_text("source: asylum_register\ncodes: {decision: {GRANTED: REFUGEE}}\n")
    assert ingest_all(cfg)["asylum_register"].summary.status == "ingested"


def test_missing_register_is_reported_not_fatal(world, tmp_path, caplog):
    cfg = load_config(_config(tmp_path, {"asylum_register": world / "asylum_register.csv"}))
    with caplog.at_level("WARNING", logger="reglink.ingest"):
        res = ingest_all(cfg)
    assert set(res) == {"asylum_register"}
    assert "border_crossings: no extract configured" in caplog.text


def test_quarantine_counts_reach_the_warehouse_without_identifiers(world, tmp_path):
    # break three rows of the population register: a bad code, an impossible date, a duplicate id
    df = pl.read_csv(world / "population_register.csv", infer_schema=False)
    df = pl.concat([df, df.head(1)])  # duplicate record_id
    df = df.with_columns(
        pl.when(pl.int_range(pl.len()) == 1).then(pl.lit("ALIEN")).otherwise(pl.col("registration_reason"))
        .alias("registration_reason"),
        pl.when(pl.int_range(pl.len()) == 2).then(pl.lit("2021-02-31")).otherwise(pl.col("registration_date"))
        .alias("registration_date"))
    p = tmp_path / "pop.csv"
    df.write_csv(p)
    cfg = load_config(_config(tmp_path, {"population_register": p}))
    r = ingest_all(cfg)["population_register"]
    assert r.summary.rows_quarantined == 3 and r.summary.rows_in == df.height
    wh = duckdb.connect(str(cfg.warehouse), read_only=True)
    got = set(wh.sql('SELECT reason, "column", rows FROM quality_quarantine').fetchall())
    assert got == {("unknown_code", "registration_reason", 1), ("impossible_date", "registration_date", 1),
                   ("duplicate_record_id", "record_id", 1)}
    assert_no_identifiers(wh)
    rs = duckdb.connect(str(cfg.restricted_path), read_only=True)
    assert rs.sql("SELECT row_number FROM quarantine_population_register ORDER BY 1").fetchall() == [
        (2,), (3,), (df.height,)]


def test_csv_and_parquet_give_the_same_rows(world, tmp_path):
    csv = world / "border_crossings.csv"
    pq = tmp_path / "bc.parquet"
    pl.read_csv(csv, infer_schema=False).write_parquet(pq)
    a = ingest_extract("border_crossings", csv, suite=False).clean.drop("extract_id")
    b = ingest_extract("border_crossings", pq, suite=False).clean.drop("extract_id")
    assert a.equals(b)


@pytest.fixture(scope="module")
def parquet_world(tmp_path_factory) -> Path:
    synth = pytest.importorskip("reglink.synth")
    out = tmp_path_factory.mktemp("pqworld")
    synth.generate(out, persons=300, years=3, seed=5, fmt="parquet", events=False)
    return out


def test_parquet_world_with_suites(parquet_world, tmp_path):
    """A generated world in Parquet ingests with the books balanced, and the GX suites run on it
    (ingest_expectations default on)."""
    SAMPLE = parquet_world
    extracts = {s: SAMPLE / f"{s}.parquet" for s in SOURCES if (SAMPLE / f"{s}.parquet").exists()}
    lines = ["home_country: NZL", "warehouse: wh.duckdb", "extracts:"] + [f"  {k}: {v}" for k, v in extracts.items()]
    (tmp_path / "c.yaml").write_text("\n".join(lines) + "\n")
    cfg = load_config(tmp_path / "c.yaml")
    res = ingest_all(cfg)
    for s, r in res.items():
        assert r.summary.balanced()
        assert r.summary.rows_in == pl.read_parquet(extracts[s]).height
        assert r.summary.expectations, "the suite ran"
    wh = duckdb.connect(str(cfg.warehouse), read_only=True)
    assert wh.sql("SELECT count(DISTINCT source) FROM quality_expectations").fetchall()[0][0] == len(res)


def test_header_only_register_is_left_out_not_fatal(world, tmp_path, caplog):
    empty = tmp_path / "asylum_register.csv"
    empty.write_text((world / "asylum_register.csv").read_text().splitlines()[0] + "\n")
    cfg = load_config(_config(tmp_path, {"asylum_register": empty,
                                         "permits": world / "permits.csv"}))
    with caplog.at_level("WARNING", logger="reglink.ingest"):
        res = ingest_all(cfg)
    assert set(res) == {"permits"}
    assert "asylum_register" in caplog.text and "no data rows" in caplog.text
    rs = duckdb.connect(str(cfg.restricted_path), read_only=True)
    tables = {r[0] for r in rs.sql("SHOW TABLES").fetchall()}
    assert "std_permits" in tables and "std_asylum_register" not in tables


def test_an_empty_date_column_fails_no_range_expectation(world, tmp_path):
    """A permits extract of open-ended (residence) permits has no valid_to at all: the suite's
    min/max range expectations on it have nothing to judge and pass; a date out of range is
    still quarantined row by row."""
    permits = pl.read_csv(world / "permits.csv", infer_schema=False)
    open_ended = tmp_path / "permits.csv"
    permits.with_columns(pl.lit(None, pl.String).alias("valid_to")).write_csv(open_ended)
    res = ingest_extract("permits", open_ended)
    failed = [e for e in res.summary.expectations
              if not e["success"] and e["column"] == "valid_to" and e["severity"] != "soft"]
    assert failed == []
    assert res.summary.rows_quarantined == 0
    bad = permits.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("2521-01-01"))
                               .otherwise(pl.col("valid_to")).alias("valid_to"))
    bad.write_csv(open_ended)
    res = ingest_extract("permits", open_ended)
    assert res.summary.rows_quarantined == 1
