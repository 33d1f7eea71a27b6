"""The `invalid` noise: synthetic records that the register's validation must reject.

Each register's scenario rate `noise.<register>.invalid` turns that share of its records into
records with one fault the ingest checks (docs/synthetic.md, "Invalid records"); the truth marks
them `invalid:<column>` in record_person's `noise`. Run through the real ingest (polars checks
and the Great Expectations suites), every marked record is quarantined with a reason naming that
column, nothing else is, and the books balance."""
from __future__ import annotations

import math
from pathlib import Path

import duckdb
import polars as pl
import pytest

from reglink.config import load_config
from reglink.ingest import ingest_all, ingest_extract
from reglink.schemas import SCHEMAS, SOURCES
from reglink.synth import generate
from reglink.synth.noise import INVALID_KINDS
from reglink.synth.scenario import load_scenario

PERSONS = 2000
SEED = 13
# raised rates so every fault kind and every register has enough invalid records to count
RATES = {"border_crossings": 0.01, "permits": 0.05, "population_register": 0.05,
         "asylum_register": 0.1}
SCENARIO = {"profiles": {"asylum_seeker": 0.08},
            "noise": {s: {"invalid": p} for s, p in RATES.items()}}


def _reasons_for(source: str, column: str) -> set[str]:
    """The quarantine reasons a fault in `column` can have (checks.py, docs/validation.md)."""
    c = SCHEMAS[source].column(column)
    out = {"missing_required"} if c.required else set()
    if c.kind in ("code", "isco"):
        out.add("unknown_code")
    elif c.kind == "country":
        out.add("unknown_country")
    elif c.kind == "date":
        out |= {"date_out_of_range", "impossible_date", "unparseable_date", "date_order"}
    return out


def _marked(world: Path, source: str) -> pl.DataFrame:
    return (pl.read_parquet(world / "truth/record_person.parquet")
            .filter((pl.col("source") == source) & pl.col("noise").str.contains("invalid:", literal=True))
            .with_columns(marked=pl.col("noise").str.extract(r"invalid:([a-z_]+)")))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("invalid") / "w"
    generate(out, persons=PERSONS, years=4, seed=SEED, scenario=SCENARIO, events=False)
    return out


@pytest.fixture(scope="module")
def ingested(world: Path, tmp_path_factory):
    """The real pipeline stage: ingest_all with the expectation suites on (the default)."""
    folder = tmp_path_factory.mktemp("ingest")
    lines = ["home_country: NZL", "warehouse: wh.duckdb", "extracts:"]
    lines += [f"  {s}: {world / f'{s}.parquet'}" for s in SOURCES]
    (folder / "reglink.yaml").write_text("\n".join(lines) + "\n")
    cfg = load_config(folder / "reglink.yaml")
    return cfg, ingest_all(cfg)


def test_every_invalid_record_is_quarantined_naming_its_column(world: Path, ingested):
    _, results = ingested
    for source in SOURCES:
        res = results[source]
        marked = _marked(world, source)
        assert marked.height > 0, source
        q = res.quarantine.select("record_id", "reason", "column", "reasons")
        joined = marked.join(q, on="record_id", how="left")
        missing = joined.filter(pl.col("reason").is_null())
        assert missing.is_empty(), f"{source}: marked invalid but accepted:\n{missing}"
        # the first (most severe) reason names the corrupted column, with a reason its kind allows
        wrong = joined.filter(pl.col("column") != pl.col("marked"))
        assert wrong.is_empty(), f"{source}: quarantined for another column:\n{wrong}"
        for row in joined.iter_rows(named=True):
            assert row["reason"] in _reasons_for(source, row["marked"]), (source, row)
        # nothing else is quarantined: no valid synthetic record fails validation
        extra = q.join(marked, on="record_id", how="anti")
        assert extra.is_empty(), f"{source}: valid records quarantined:\n{extra}"
        assert not res.clean["record_id"].is_in(marked["record_id"].implode()).any()


def test_counts_reconcile(world: Path, ingested):
    cfg, results = ingested
    rs = duckdb.connect(str(cfg.restricted_path), read_only=True)
    wh = duckdb.connect(str(cfg.warehouse), read_only=True)
    try:
        for source in SOURCES:
            s = results[source].summary
            rows = pl.scan_parquet(world / f"{source}.parquet").select(pl.len()).collect().item()
            assert s.rows_in == rows == s.rows_accepted + s.rows_quarantined, source
            assert s.rows_quarantined == _marked(world, source).height, source
            n_std = rs.execute(f"SELECT count(*) FROM std_{source}").fetchall()[0][0]
            n_q = rs.execute(f"SELECT count(*) FROM quarantine_{source}").fetchall()[0][0]
            assert (n_std, n_q) == (s.rows_accepted, s.rows_quarantined), source
            per_reason = wh.execute("SELECT sum(rows) FROM quality_quarantine WHERE source = ?",
                                    [source]).fetchall()[0][0]
            # a record counts under each check it fails (a date out of range is often out of
            # order too), so the per-reason rows are at least the records quarantined
            assert per_reason >= s.rows_quarantined, source
    finally:
        rs.close()
        wh.close()


def test_every_fault_kind_occurs(ingested):
    _, results = ingested
    seen = set()
    for source in SOURCES:
        seen |= set(results[source].quarantine["reason"].unique())
    assert seen == set(INVALID_KINDS)
    border = set(results["border_crossings"].quarantine["column"].unique())
    assert {"direction", "crossing_date", "date_of_birth", "sex", "citizenship"} <= border


def test_invalid_at_its_rate(world: Path):
    for source, p in RATES.items():
        n = pl.scan_parquet(world / f"{source}.parquet").select(pl.len()).collect().item()
        k = _marked(world, source).height
        tol = 4 * math.sqrt(p * (1 - p) / n) + 0.005
        assert abs(k / n - p) <= tol, f"{source}: {k}/{n} vs {p} (tol {tol:.4f})"


def test_rest_of_the_world_is_unchanged(world: Path, tmp_path: Path):
    """The invalid noise has its own random stream: without it the same seed gives the same
    registers and truth, except the corrupted records (one fault each, record_id kept)."""
    zero = {**SCENARIO, "noise": {s: {"invalid": 0.0} for s in SOURCES}}
    base = tmp_path / "w0"
    generate(base, persons=PERSONS, years=4, seed=SEED, scenario=zero, events=False)
    for source in SOURCES:
        a = pl.read_parquet(base / f"{source}.parquet")
        b = pl.read_parquet(world / f"{source}.parquet")
        assert a["record_id"].equals(b["record_id"]), source
        diff = pl.DataFrame({c: a[c].cast(pl.Utf8).fill_null("\0").ne(b[c].cast(pl.Utf8).fill_null("\0"))
                             for c in a.columns})
        changed = b.filter(diff.select(pl.any_horizontal(pl.all())).to_series())["record_id"]
        assert set(changed) == set(_marked(world, source)["record_id"]), source
        assert diff.select(pl.sum_horizontal(pl.all()).max()).item() <= 2  # dates swapped: 2
    for name in ("persons", "crossings", "initial_status"):
        assert pl.read_parquet(base / f"truth/{name}.parquet").equals(
            pl.read_parquet(world / f"truth/{name}.parquet")), name
    r0 = pl.read_parquet(base / "truth/record_person.parquet")
    r1 = pl.read_parquet(world / "truth/record_person.parquet")
    assert r0.drop("noise").equals(r1.drop("noise"))
    stripped = r1["noise"].str.replace(r",?invalid:[a-z_]+", "").str.strip_chars(",")
    assert (stripped == r0["noise"]).all()


def test_csv_world_is_rejected_the_same_way(tmp_path: Path):
    """The faults survive CSV too (dates as ISO text)."""
    out = tmp_path / "w"
    generate(out, persons=600, years=3, seed=4, scenario=SCENARIO, fmt="csv", events=False)
    for source in SOURCES:
        res = ingest_extract(source, out / f"{source}.csv", suite=False)
        marked = _marked(out, source)
        q = res.quarantine.select("record_id", "column")
        got = dict(zip(q["record_id"], q["column"]))
        assert got == dict(zip(marked["record_id"], marked["marked"])), source
        assert res.summary.balanced()


def test_default_rates_are_small_and_deterministic(tmp_path: Path):
    noise = load_scenario()["noise"]
    for source in SOURCES:
        assert 0 < noise[source]["invalid"] <= 0.01, source
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        generate(out, persons=800, years=3, seed=21, events=False)
    ra = pl.read_parquet(a / "truth/record_person.parquet")
    assert ra.equals(pl.read_parquet(b / "truth/record_person.parquet"))
    assert ra["noise"].str.contains("invalid:", literal=True).sum() > 0
