"""Delivery rules: a delivery repeating stored records is refused whole; two files for one
register in one delivery are refused; a register taken out of `extracts` leaves every table;
one run at a time per warehouse; a run publishes all its tables or none, even when killed."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from reglink.cli import app


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """A small world after one successful run."""
    synth = pytest.importorskip("reglink.synth")
    out = tmp_path_factory.mktemp("delworld")
    synth.generate(out, persons=150, years=3, seed=11, events=False)
    cfg = out / "reglink.yaml"
    cfg.write_text(cfg.read_text() + "landing: landing\n")
    (out / "landing").mkdir()
    res = CliRunner().invoke(app, ["run", "--config", str(cfg)])
    assert res.exit_code == 0, res.stderr
    return out


@pytest.fixture()
def world(baseline: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "w"
    shutil.copytree(baseline, dest, symlinks=True)
    return dest


def _run(world: Path, *extra: str):
    return CliRunner().invoke(app, ["run", "--config", str(world / "reglink.yaml"), *extra])


def _snapshot(world: Path) -> dict[str, object]:
    con = duckdb.connect(str(world / "reglink.duckdb"), read_only=True)
    try:
        out = {t: con.execute(f'SELECT count(*), hash(list(x ORDER BY ALL)) FROM (SELECT * FROM "{t}") x'
                              ).fetchall() for t in ("person_links", "flows", "stocks", "persons")}
    finally:
        con.close()
    rs = duckdb.connect(str(world / "reglink.restricted.duckdb"), read_only=True)
    try:
        out["std_permits"] = rs.execute("SELECT delivery, count(*) FROM std_permits GROUP BY 1 "
                                        "ORDER BY 1").fetchall()
    finally:
        rs.close()
    return out


def test_a_delivery_repeating_stored_records_is_refused_whole(world: Path):
    before = _snapshot(world)
    month = world / "landing" / "2025-01"
    month.mkdir()
    permits = pl.read_parquet(world / "permits.parquet")
    # three new permits and two already delivered in the baseline
    new = permits.head(3).with_columns(pl.concat_str(pl.lit("NEW-"), pl.col("record_id").cast(pl.String))
                                       .alias("record_id"))
    pl.concat([new, permits.tail(2)], how="vertical_relaxed").write_csv(month / "permits.csv")
    res = _run(world)
    assert res.exit_code == 1
    assert "delivery 2025-01 repeats permits records already stored: 2 in delivery baseline" in res.stderr
    assert str(month / "permits.csv") in res.stderr and "Traceback" not in res.output
    assert _snapshot(world) == before  # nothing changed


def test_two_files_for_one_register_in_one_delivery_are_refused(world: Path):
    before = _snapshot(world)
    month = world / "landing" / "2025-02"
    month.mkdir()
    pl.read_parquet(world / "permits.parquet").head(2).write_csv(month / "permits.csv")
    pl.read_parquet(world / "permits.parquet").head(2).write_parquet(month / "Permits.parquet")
    res = _run(world)
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert lines == [f"reglink: {month}: delivery 2025-02 has 2 files for permits "
                     "(Permits.parquet, permits.csv); deliver one"]
    assert _snapshot(world) == before


def test_a_register_removed_from_extracts_leaves_every_table(world: Path):
    cfg = world / "reglink.yaml"
    data = yaml.safe_load(cfg.read_text())
    del data["extracts"]["asylum_register"]
    cfg.write_text(yaml.safe_dump(data))
    res = _run(world)
    assert res.exit_code == 0, res.stderr
    assert "asylum_register is no longer in extracts" in res.stderr
    con = duckdb.connect(str(world / "reglink.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM person_links WHERE source = 'asylum_register'"
                           ).fetchall() == [(0,)]
        assert con.execute("SELECT coalesce(sum(asylum_records), 0) FROM persons").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM quality_quarantine WHERE source = 'asylum_register'"
                           ).fetchall() == [(0,)]
        for (t,) in con.execute("SELECT table_name FROM information_schema.columns "
                                "WHERE column_name = 'source' AND table_catalog = current_database()"
                                ).fetchall():
            if t in ("ingest_log",):  # the history of what was delivered stays
                continue
            n = con.execute(f"SELECT count(*) FROM \"{t}\" WHERE source = 'asylum_register'").fetchall()
            assert n == [(0,)], t
    finally:
        con.close()
    rs = duckdb.connect(str(world / "reglink.restricted.duckdb"), read_only=True)
    try:
        have = {r[0] for r in rs.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert "std_asylum_register" not in have
    finally:
        rs.close()
    again = _run(world)  # said once, then nothing more to remove
    assert again.exit_code == 0 and "no longer in extracts" not in again.stderr


def test_a_second_run_exits_1_naming_the_holder(world: Path):
    from reglink.runlock import run_lock

    with run_lock(world / "reglink.duckdb"):
        res = _run(world)
    assert res.exit_code == 1
    err = res.stderr.strip()
    assert "another run holds the warehouse" in err
    assert f"pid {os.getpid()} on host " in err and "started 20" in err
    assert _run(world).exit_code == 0  # released when the holder ends


KILL_MID_BUILD = """
import os, signal, sys
from reglink.tables import build
real = build.build_all
def killed(con, settings, *a, **k):
    from reglink.tables import persons
    persons.build_persons(con, settings.home_country, "restricted")  # the first table is new
    os.kill(os.getpid(), signal.SIGKILL)
build.build_all = killed
from reglink.cli import main
sys.argv = ["reglink", "run", "--config", sys.argv[1]]
main()
"""


def test_a_killed_run_leaves_the_warehouse_as_it_was(world: Path):
    before = _snapshot(world)
    cfg = world / "reglink.yaml"
    cfg.write_text(cfg.read_text().replace("rule: 12-16", "rule: 6-12"))  # every table changes
    r = subprocess.run([sys.executable, "-c", KILL_MID_BUILD, str(cfg)], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == -9, r.stderr[-2000:]
    assert _snapshot(world) == before
    con = duckdb.connect(str(world / "reglink.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT DISTINCT rule FROM migration_events").fetchall() == [("12-16",)]
    finally:
        con.close()
    res = _run(world)  # the next run starts from the intact warehouse and completes
    assert res.exit_code == 0, res.stderr
