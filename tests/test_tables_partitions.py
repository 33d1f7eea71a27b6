"""Partitioning changes no figure: a synthetic world through the real ingest and linkage, then
the tables and the rule-sensitivity report built once with a generous budget (one partition)
and once with a tiny one that forces several partitions of persons; every warehouse table must
be identical, value for value."""
from __future__ import annotations

import shutil

import duckdb
import polars as pl
import pytest

from reglink.config import load_config
from reglink.rules import pooled
from reglink.tables.partitions import Partitions

pytestmark = pytest.mark.slow


def _checksums(path) -> dict[str, tuple[int, int]]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()]
        # revisions: every run appends its own run id and time; the figures must still agree
        src = {t: (f'(SELECT * EXCLUDE (run_id, run_time) FROM "{t}")' if t == "revisions" else f'"{t}"')
               for t in tables}
        return {t: tuple(con.execute(f'SELECT count(*), COALESCE(sum(CAST(hash(t) AS HUGEINT)), 0) '
                                     f'FROM {src[t]} t').fetchall()[0]) for t in tables}


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    """A 600-person world after ingest and linkage (the stores the tables stage reads)."""
    from reglink.ingest import ingest_all
    from reglink.linkage import link_persons
    from reglink.synth.generate import generate

    out = tmp_path_factory.mktemp("parts") / "world"
    generate(out, persons=600, years=3, seed=5)
    cfg = load_config(out / "reglink.yaml")
    ingest_all(cfg)
    link_persons(cfg)
    return out


def _build(world, dest, memory_limit: int | None):
    from reglink.quality import build_report
    from reglink.tables import build_tables

    shutil.copytree(world, dest, ignore=shutil.ignore_patterns("reports", "parquet", "tmp"))
    cfg = load_config(dest / "reglink.yaml")
    cfg.memory_limit = memory_limit
    messages: list[str] = []
    build_tables(cfg, log=messages.append)
    build_report(cfg, strict=True)
    return cfg, messages


def test_several_partitions_give_the_same_tables_as_one(linked, tmp_path):
    one, msg_one = _build(linked, tmp_path / "one", 20 * 10**9)
    # 2 MB of frames for about 20,000 crossings: several partitions of persons
    many, msg_many = _build(linked, tmp_path / "many", 4 * 10**6)
    assert any("in 1 partition(s)" in m for m in msg_one)
    n = next(int(m.split(" in ")[1].split()[0]) for m in msg_many if "partition(s)" in m)
    assert n >= 4
    a, b = _checksums(one.warehouse), _checksums(many.warehouse)
    assert {"crossings", "crossing_repairs", "migration_events", "flows", "stocks",
            "quality_rule_sensitivity"} <= set(a)
    differ = {t for t in a if a[t] != b.get(t)}
    assert not differ, differ
    with duckdb.connect(str(one.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM migration_events").fetchall()[0][0] > 0


def test_partition_plan_follows_the_budget():
    from pathlib import Path

    from reglink.config import Budget

    small = Budget(memory_limit=2 * 10**9, temp_directory=Path("/tmp"), threads=1)
    assert Partitions.plan(100, small).n == 1
    # frames get 35 % of the budget: 0.7 GB holds 0.7e9 / 2000 = 350,000 crossings
    assert Partitions.plan(2_000_000, small).n == 6
    assert Partitions.plan(2_000_000, small, at_least=8).n == 8
    assert Partitions.plan(10**9, None).n == 1
    assert Partitions(1).where(0) == "TRUE"
    assert Partitions(4).where(2, "l.person_key") == "hash(l.person_key) % 4 = 2"


def test_pooled_median_is_exact_over_parts():
    values = pl.DataFrame({"v": [1, 9, 4, 4, 7, 2, 10, 3], "g": list("aabbaabb")})
    parts = [pooled.tally("x", values[i::3], "v", "g") for i in range(3)]
    t = pooled.combine(parts)
    for g in ("a", "b"):
        sub = values.filter(pl.col("g") == g)["v"]
        assert pooled.median(t, "x", g) == sub.median()
        assert pooled.total(t, "x", g) == sub.sum()
        assert pooled.count(t, "x", g) == sub.len()
    odd = pooled.combine([pooled.tally("y", pl.DataFrame({"v": [5, 1, 3]}), "v")])
    assert pooled.median(odd, "y") == 3.0
    assert pooled.median(odd, "missing") is None


def test_a_failing_step_leaves_the_tables_as_they_were(linked, tmp_path, monkeypatch):
    """Steps commit as they go (so DuckDB can spill them), into the build schema: a failure after
    several steps have committed leaves `main` exactly as the previous build left it, with no
    build schema behind, and revisions (appended to, never replaced) unchanged."""
    from reglink.tables import build, stocks

    cfg, _ = _build(linked, tmp_path / "w", 20 * 10**9)
    before = _checksums(cfg.warehouse)

    def broken(con, settings, *args, **kwargs):
        # flows, events and the crossings are committed in the build schema by now
        assert con.execute("SELECT count(*) FROM _build.flows").fetchall()[0][0] > 0
        raise RuntimeError("stocks failed")

    monkeypatch.setattr(stocks, "build_stocks", broken)
    with pytest.raises(RuntimeError, match="stocks failed"):
        build.build_tables(cfg)
    assert _checksums(cfg.warehouse) == before
    with duckdb.connect(str(cfg.warehouse), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM information_schema.schemata "
                           "WHERE schema_name = '_build'").fetchall() == [(0,)]
    monkeypatch.undo()
    build.build_tables(cfg)  # and the next build completes, with one more run in revisions
    after = _checksums(cfg.warehouse)
    assert set(after) == set(before)
    assert after["revisions"][0] == 2 * before["revisions"][0]
