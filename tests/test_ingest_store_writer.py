"""store_writer: the one writer of ingest results. Deliveries of a register live side by side;
re-writing one replaces only its rows and its quality rows; ingest_all is the baseline delivery."""
from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from reglink import store
from reglink.config import load_config
from reglink.ingest import ingest_all, ingest_extract
from reglink.ingest.store_writer import BASELINE, store_result, stored_counts
from reglink.store import assert_no_identifiers


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    synth = pytest.importorskip("reglink.synth")
    out = tmp_path_factory.mktemp("swworld")
    synth.generate(out, persons=150, years=3, seed=11, fmt="csv", events=False)
    return out


def _split(world: Path, tmp_path: Path) -> tuple[Path, Path]:
    """The permits register cut in two deliveries (distinct record_ids), one row made bad."""
    df = pl.read_csv(world / "permits.csv", infer_schema=False)
    half = df.height // 2
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    df.head(half).write_csv(a)
    df.tail(df.height - half).with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("1999-02-30"))
        .otherwise(pl.col("valid_from")).alias("valid_from")).write_csv(b)
    return a, b


def _cfg(tmp_path: Path, extracts: dict[str, Path]):
    lines = ["home_country: NZL", "warehouse: wh.duckdb", "ingest_expectations: false",
             "extracts:"] + [f"  {k}: {v}" for k, v in extracts.items()]
    (tmp_path / "c.yaml").write_text("\n".join(lines) + "\n")
    return load_config(tmp_path / "c.yaml")


def _q(path: Path, sql: str):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.sql(sql).fetchall()
    finally:
        con.close()


def test_deliveries_side_by_side_and_replaced_alone(world, tmp_path):
    a, b = _split(world, tmp_path)
    cfg = _cfg(tmp_path, {"permits": a})
    ra = ingest_extract("permits", a, suite=False)
    rb = ingest_extract("permits", b, suite=False)
    assert rb.summary.rows_quarantined >= 1
    assert store_result(cfg, ra) == {"std": ra.summary.rows_accepted,
                                     "quarantine": ra.summary.rows_quarantined}
    assert store_result(cfg, rb, delivery="2025-06") == {"std": rb.summary.rows_accepted,
                                                         "quarantine": rb.summary.rows_quarantined}
    per = dict(_q(cfg.restricted_path, "SELECT delivery, count(*) FROM std_permits GROUP BY 1"))
    assert per == {BASELINE: ra.summary.rows_accepted, "2025-06": rb.summary.rows_accepted}
    # the month is delivered again, one row fewer: only its rows and quality rows change
    b.write_text("\n".join(b.read_text().splitlines()[:-1]) + "\n")
    rb2 = ingest_extract("permits", b, suite=False)
    store_result(cfg, rb2, delivery="2025-06")
    assert stored_counts(cfg, "permits", "2025-06") == {"std": rb2.summary.rows_accepted,
                                                        "quarantine": rb2.summary.rows_quarantined}
    assert stored_counts(cfg, "permits", BASELINE)["std"] == ra.summary.rows_accepted
    ids = {r[0] for r in _q(cfg.warehouse, "SELECT DISTINCT extract_id FROM quality_completeness")}
    assert ids == {ra.summary.extract_id, rb2.summary.extract_id}  # the replaced version is gone
    got = _q(cfg.warehouse,
             "SELECT sum(rows) FROM quality_quarantine WHERE reason = 'impossible_date'")
    assert got[0][0] == rb2.summary.reasons["impossible_date"]
    assert _q(cfg.warehouse, "SELECT count(*) FROM ingest_log")[0][0] == 3
    wh = duckdb.connect(str(cfg.warehouse), read_only=True)
    assert_no_identifiers(wh)
    wh.close()
    # ingest_all writes the baseline through the same writer: an unchanged file is not re-read,
    # and the landed month's rows stay
    res = ingest_all(cfg)["permits"]
    assert res.summary.status == "ingested"  # the last ingest of permits was the month
    again = ingest_all(cfg)["permits"]
    assert again.summary.status == "unchanged"
    assert again.clean.height == ra.summary.rows_accepted and "delivery" not in again.clean.columns
    assert stored_counts(cfg, "permits", "2025-06")["std"] == rb2.summary.rows_accepted


def test_empty_delivery_removes_only_its_rows_and_legacy_table_counts_as_baseline(world, tmp_path):
    a, b = _split(world, tmp_path)
    cfg = _cfg(tmp_path, {"permits": a})
    ra = ingest_extract("permits", a, suite=False)
    rs = store.connect(cfg.restricted_path)  # a table written before deliveries existed
    store.write_table(rs, "std_permits", ra.clean.to_arrow())
    rs.close()
    rb = ingest_extract("permits", b, suite=False)
    store_result(cfg, rb, delivery="2025-06")
    assert stored_counts(cfg, "permits", BASELINE)["std"] == ra.summary.rows_accepted
    empty = type(rb)("permits", pl.DataFrame(), pl.DataFrame(), rb.summary)
    assert store_result(cfg, empty, delivery="2025-06") == {"std": 0, "quarantine": 0}
    assert stored_counts(cfg, "permits", BASELINE)["std"] == ra.summary.rows_accepted
    total = _q(cfg.restricted_path, "SELECT count(*) FROM std_permits")[0][0]
    assert total == ra.summary.rows_accepted
