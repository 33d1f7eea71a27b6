"""One pipeline, two engines: `engine: spark` gives the warehouse `engine: duckdb` gives.

The unit tests need neither Spark nor Java. The session and end-to-end tests need both (the
`spark` extra, which `./run setup` installs, and a Java runtime, which `.ci/run` installs when
missing); they fail rather than skip without them, so CI never passes by leaving them out.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from reglink.config import ConfigError, config_from_mapping, with_engine
from reglink.engines import spark_passes as sp


# -- config and session settings (no Spark needed) ----------------------------------------------

def test_engine_and_spark_keys_have_defaults_and_are_checked(tmp_path):
    cfg = config_from_mapping({}, tmp_path)
    assert cfg.engine == "duckdb" and cfg.spark == {"master": "local[*]", "conf": {}}
    cfg = config_from_mapping({"engine": "Spark", "spark": {"master": "spark://h:7077",
                                                            "conf": {"spark.executor.memory": "8g"}}},
                              tmp_path)
    assert cfg.engine == "spark" and cfg.spark["master"] == "spark://h:7077"
    assert cfg.spark["conf"] == {"spark.executor.memory": "8g"}
    with pytest.raises(ConfigError, match="engine"):
        config_from_mapping({"engine": "flink"}, tmp_path)
    with pytest.raises(ConfigError, match="spark"):
        config_from_mapping({"spark": "local"}, tmp_path)
    # the command line's --engine wins over the config; nothing given keeps it
    assert with_engine(cfg, "duckdb").engine == "duckdb"
    assert with_engine(cfg, None).engine == "spark"


def test_session_settings_carry_the_jar_the_budget_and_the_users_conf(tmp_path):
    from reglink.engines.spark import checkpoint_dir, session_conf, similarity_jar

    cfg = config_from_mapping({"memory_limit": "4GB", "threads": 2, "warehouse": "w.duckdb",
                               "spark": {"master": "local[2]",
                                         "conf": {"spark.jars": "/opt/extra.jar",
                                                  "spark.sql.shuffle.partitions": "8"}}}, tmp_path)
    conf = session_conf(cfg)
    assert conf["spark.master"] == "local[2]"
    assert conf["spark.jars"].split(",") == [similarity_jar(), "/opt/extra.jar"]
    assert similarity_jar().endswith(".jar") and Path(similarity_jar()).exists()
    assert conf["spark.driver.memory"] == f"{int(4e9 * 0.4) // 2**20}m"  # local: from the budget
    assert conf["spark.sql.shuffle.partitions"] == "8"  # the user's setting wins
    assert checkpoint_dir(cfg) == tmp_path / "tmp" / "spark" / "checkpoints"
    cluster = session_conf(config_from_mapping({"spark": {"master": "yarn"}}, tmp_path))
    assert "spark.driver.memory" not in cluster  # a cluster's memory is the cluster's settings
    # local: no join broadcast on a Parquet file's size (a one-JVM driver ran out at 50,000
    # persons); a cluster keeps Spark's default, and a user's setting wins
    assert conf["spark.sql.autoBroadcastJoinThreshold"] == "-1"
    assert "spark.sql.autoBroadcastJoinThreshold" not in cluster
    mine = config_from_mapping({"spark": {"master": "local[2]", "conf": {
        "spark.sql.autoBroadcastJoinThreshold": "10485760"}}}, tmp_path)
    assert session_conf(mine)["spark.sql.autoBroadcastJoinThreshold"] == "10485760"


def test_envelope_round_trip_keeps_every_table_and_type():
    import datetime as dt

    frames = {"raw": pl.DataFrame({"person_key": ["a", "b"], "d": [dt.date(2020, 1, 1), None],
                                   "_grow": pl.Series([1, 2], dtype=pl.UInt32)}),
              "deaths": pl.DataFrame({"person_key": ["a"], "death_date": [None]})}
    spec = {n: sp.plain(dict(f.schema)) for n, f in frames.items()}
    assert spec["raw"]["_grow"] == pl.Int64 and spec["deaths"]["death_date"] == pl.String
    env = sp.pack(frames, spec, part=3)
    assert set(env["_part"].to_list()) == {3} and env.height == 3
    back = sp.unpack(env, {**spec, "missing": {"person_key": pl.String}})
    assert back["raw"].equals(frames["raw"].cast(spec["raw"]))
    assert back["deaths"]["person_key"].to_list() == ["a"]
    assert back["missing"].height == 0 and back["missing"].columns == ["person_key"]
    ddl = sp.envelope_ddl(spec)
    assert ddl.startswith("_t string, _part bigint") and "`raw__d` date" in ddl


def test_pairwise_agreement_by_hand():
    """Records 1-4: a puts {1,2,3} {4}, b puts {1,2} {3,4}. Of the 6 pairs, 1-2 (together in
    both), 1-4 and 2-4 (apart in both) agree; 1-3, 2-3, 3-4 do not: 3/6. Record 5 is in a only
    and is left out; labels do not matter."""
    from reglink.engines.compare import pairwise_agreement

    a = pl.DataFrame({"source": ["x"] * 5, "record_id": ["1", "2", "3", "4", "5"],
                      "person_key": ["A", "A", "A", "B", "C"]})
    b = pl.DataFrame({"source": ["x"] * 4, "record_id": ["1", "2", "3", "4"],
                      "person_key": ["P", "P", "Q", "Q"]})
    assert pairwise_agreement(a, b) == pairwise_agreement(b, a) == 0.5
    relabelled = a.with_columns(pl.col("person_key").replace({"A": "Z", "B": "Y"}))
    assert pairwise_agreement(a, relabelled) == 1.0


def test_cli_refuses_an_unknown_engine(tmp_path):
    from typer.testing import CliRunner

    from reglink.cli import app

    res = CliRunner().invoke(app, ["run", "--config", str(tmp_path / "x.yaml"), "--engine", "flink"])
    assert res.exit_code == 2


# -- on Spark (local[2]) -------------------------------------------------------------------------

def demo_world_parameters() -> dict[str, int]:
    """The world `reglink demo` makes by default (persons, years, seed), read from the command
    itself so this test follows the demo if its defaults change."""
    import typer.main

    from reglink.cli import app

    demo = typer.main.get_command(app).commands["demo"]
    return {p.name: p.default for p in demo.params if p.name in ("persons", "years", "seed")}


def _world(root: Path, persons: int, years: int, seed: int) -> Path:
    from reglink.synth.generate import generate

    world = root / "world"
    generate(world, persons=persons, years=years, seed=seed)
    data = yaml.safe_load((world / "reglink.yaml").read_text(encoding="utf-8"))
    data.update({"memory_limit": "3GB", "threads": 2,
                 "spark": {"master": "local[2]", "keep_work": True}})
    (world / "reglink.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return world


@pytest.mark.spark
def test_session_has_the_similarity_functions_and_a_checkpoint_dir(tmp_path):
    from reglink.engines.spark import spark_session

    cfg = config_from_mapping({"memory_limit": "2GB", "threads": 2, "engine": "spark",
                               "warehouse": "w.duckdb", "spark": {"master": "local[2]"}}, tmp_path)
    spark = spark_session(cfg)
    assert spark.sql("SELECT jaro_winkler('MARTHA', 'MARHTA') AS j").collect()[0].j > 0.9
    assert spark.sparkContext.getCheckpointDir() is not None
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    # Jaro-Winkler as DuckDB computes it (Splink's Scala one gives 0.895 here, below a 0.9 level)
    a, b = "KATHERINEJESSICA", "KATEJESSICA"
    on_duckdb = duckdb.sql(f"SELECT jaro_winkler_similarity('{a}', '{b}')").fetchall()[0][0]
    assert spark.sql(f"SELECT jaro_winkler('{a}', '{b}') AS j").collect()[0].j == on_duckdb > 0.9


@pytest.mark.spark
def test_spark_runners_of_one_build_export_each_unchanged_input_once(tmp_path):
    """A DuckDB table read by several steps goes to Spark once; after a DuckDB step changes it,
    Spark sees the new content; a table Spark wrote is read from Spark's own Parquet."""
    from reglink.engines.spark import spark_session
    from reglink.tables.runner import SparkExports, SparkRunner

    cfg = config_from_mapping({"memory_limit": "2GB", "threads": 2, "engine": "spark",
                               "warehouse": "w.duckdb", "spark": {"master": "local[2]"}}, tmp_path)
    spark = spark_session(cfg)
    con = duckdb.connect()
    con.execute("CREATE TABLE persons AS SELECT range AS k, range % 3 AS g FROM range(10)")
    exports = SparkExports(con, spark, tmp_path / "sql" / "_inputs")

    def step(name: str) -> SparkRunner:
        return SparkRunner(con, spark, tmp_path / "sql" / name, exports)

    count = "SELECT g, count(*) AS n FROM persons GROUP BY g"
    assert step("a").table("by_g", count, "g") == 3
    assert step("b").table("by_g2", count, "g") == 3
    assert exports.written == ["persons"]  # the second step reused the first one's Parquet
    con.execute("UPDATE persons SET g = 0 WHERE k < 5")  # a DuckDB step in between
    step("c").table("by_g3", count, "g")
    assert exports.written == ["persons", "persons"]
    assert con.execute("SELECT n FROM by_g3 WHERE g = 0").fetchall()[0][0] == 7  # 0,3,6,9 + 1,2,4
    # by_g3 came from Spark: the next step reads Spark's Parquet, not an export of it
    assert step("d").table("total", "SELECT sum(n) AS n FROM by_g3") == 1
    assert con.execute("SELECT n FROM total").fetchall()[0][0] == 10
    assert exports.written == ["persons", "persons"]
    con.close()


@pytest.mark.spark
def test_spark_engine_gives_the_duckdb_warehouse_on_the_demo_world(tmp_path):
    """The demo world (5,000 persons, 6 years) through `reglink run` on both engines, Spark on
    `local[2]`: the same persons (pairwise agreement >= 0.999), the same `migration_events`
    per year and type, identical `flows` and `stocks`, and every table Spark SQL computes row
    for row; the Spark run really ran its passes on Spark, each input exported once."""
    from reglink.engines.compare import compare
    from reglink_dagster.orchestration import run_pipeline

    demo = demo_world_parameters()
    assert demo == {"persons": 5000, "years": 6, "seed": 1}, demo  # what the docs call the demo world
    world = _world(tmp_path, **demo)
    runs = {}
    for engine in ("duckdb", "spark"):
        dest = tmp_path / engine
        shutil.copytree(world, dest)
        out = run_pipeline(dest / "reglink.yaml", quiet=True, engine=engine)
        assert out.success and out.config.engine == engine
        runs[engine] = out.config
    work = runs["spark"].budget.temp_directory / "spark"
    assert list((work / "linkage" / "pairs").glob("*.parquet"))
    assert list((work / "tables" / "pass4").glob("*.parquet"))
    # the aggregate tables were computed by Spark SQL (tables/runner.py), each in its step
    from reglink.engines.compare import SQL_TABLES

    for t in SQL_TABLES:
        step = {"migration_events": "events", "residence_spells": "stocks", "temporary_stays": "mobility",
                "temporary_mobility": "mobility", "asylum_flows": "asylum"}.get(t, t)
        assert list((work / "tables" / "sql" / step / "out" / t).glob("*.parquet")), t
    # the steps shared their inputs: no DuckDB table was given to Spark twice unless a DuckDB
    # step changed it in between, and no table Spark wrote was exported back to it
    exported = [p.name.rsplit(".", 1)[0] for p in (work / "tables" / "sql" / "_inputs").iterdir()]
    assert "persons" in exported and "crossings" in exported, exported
    assert len(exported) == len(set(exported)), sorted(exported)
    assert not set(exported) & set(SQL_TABLES), exported
    assert not (runs["duckdb"].budget.temp_directory / "spark").exists()
    # without keep_work the restricted working Parquet goes with the stage
    from reglink.config import config_from_mapping
    from reglink.tables.build import build_tables

    cfg = runs["spark"]
    shutil.rmtree(work / "tables")
    gone = config_from_mapping({**cfg.raw, "spark": {"master": "local[2]"}}, cfg.config_path.parent)
    build_tables(with_engine(gone, "spark"))
    assert not (work / "tables").exists()

    r = compare(runs["duckdb"].warehouse, runs["spark"].warehouse)
    assert r["pairwise_agreement"] >= 0.999, r
    assert r["events_equal"] and r["events_a"], (r["events_a"], r["events_b"])
    assert r["flows_equal"] and r["flows_rows"] > 0
    assert r["stocks_equal"] and r["stocks_rows"] > 0
    # every table Spark SQL computed from the builders: DuckDB's rows and column types
    for t, same in r["tables"].items():
        assert same["equal"] and same["same_types"] and same["rows"] > 0, (t, same)
    # the Parquet exports statisticians read hold the same events on both engines
    with duckdb.connect() as con:
        n = {e: con.execute(f"SELECT count(*) FROM read_parquet('{c.parquet_path / 'migration_events.parquet'}')"
                            ).fetchall()[0][0] for e, c in runs.items()}
    assert n["duckdb"] == n["spark"] == sum(row[2] for row in r["events_a"]) > 0
