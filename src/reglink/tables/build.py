"""`build_tables(cfg)`: every statistical table of the warehouse, in the order the table
declaration gives (`reglink.tables.catalog.BUILD`, functions in `reglink.tables.steps`).

The restricted store is ATTACHed read-only for the duration of the build (dates of birth are
needed for ages; they stay in TEMP tables that die with the connection) and DETACHed before the
final check that no identifier column reached the warehouse (`store.assert_no_identifiers`).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from reglink import secure, store
from reglink.config import Budget, PipelineConfig
from reglink.errors import ReglinkError
from reglink.tables import catalog, export, steps
from reglink.tables.settings import TableSettings, settings_from_config
from reglink.tables.sql import columns

RESTRICTED = "restricted"
BUILD_SCHEMA = "_build"
# tables the build appends to rather than replaces (the history of published figures): carried
# into the build schema first, so a failed build leaves them as they were
CARRIED = ("revisions",)


def build_all(con: duckdb.DuckDBPyConnection, settings: TableSettings,
              restricted: str = RESTRICTED, log: Callable[[str], None] | None = None,
              budget: Budget | None = None, spark: Any = None,
              spark_work: Path | None = None) -> dict[str, int]:
    """Build every table in `con` (restricted store attached as `restricted`); table -> rows.
    `budget`: the run's memory budget, which sets the partitions of the per-person work.
    `spark`: a Spark session to run the per-person passes and the aggregate tables on (Parquet
    exchanged in `spark_work`); the results land in `con` either way."""
    if not columns(con, "person_links"):
        raise ReglinkError("warehouse: table person_links is missing: run the linkage stage first")
    b = steps.Build(con, settings, restricted, log, budget, spark, spark_work)
    for s in catalog.BUILD:
        t0 = time.perf_counter()
        getattr(steps, s.function)(b)
        if log:
            log(f"tables: {s.name} built in {time.perf_counter() - t0:.1f}s")
    return b.counts


def _build_staged(con: duckdb.DuckDBPyConnection, settings: TableSettings,
                  log: Callable[[str], None] | None, budget: Budget, spark: Any,
                  spark_work: Path | None) -> dict[str, int]:
    """All tables or none, in memory the budget sets: every table is built in the schema
    `_build` (first on the search path, so the builders' plain names land there while inputs
    such as person_links resolve to `main`), each step committed as it ends so DuckDB can spill
    and free what it wrote; only when every step and the identifier check have passed are the
    tables moved to `main` in one short transaction. A failure or a kill mid-build leaves
    `main` as it was (the next build drops the leftover schema)."""
    con.execute(f"DROP SCHEMA IF EXISTS {BUILD_SCHEMA} CASCADE")
    con.execute(f"CREATE SCHEMA {BUILD_SCHEMA}")
    for t in CARRIED:
        if columns(con, f"main.{t}"):
            con.execute(f"CREATE TABLE {BUILD_SCHEMA}.{t} AS FROM main.{t}")
    con.execute(f"SET search_path = '{BUILD_SCHEMA},main'")
    try:
        counts = build_all(con, settings, RESTRICTED, log, budget, spark, spark_work)
        store.assert_no_identifiers(con)  # on the build schema: nothing unchecked reaches main
    except BaseException:
        con.execute("RESET search_path")
        con.execute(f"DROP SCHEMA IF EXISTS {BUILD_SCHEMA} CASCADE")
        raise
    con.execute("RESET search_path")
    t0 = time.perf_counter()
    moved = publish_build(con)
    if log:
        log(f"tables: {len(moved)} tables moved from the build schema in {time.perf_counter() - t0:.1f}s")
    return counts


def publish_build(con: duckdb.DuckDBPyConnection, schema: str = BUILD_SCHEMA) -> list[str]:
    """Replace `main`'s copy of every table built in `schema` in one transaction (DuckDB cannot
    move a table between schemas, so each is copied; large copies are written straight to the
    file, not held in memory), then drop `schema`; the tables moved."""
    built = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database() "
        "AND table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name", [schema]).fetchall()]
    con.execute("BEGIN TRANSACTION")
    try:
        for t in built:
            con.execute(f'DROP TABLE IF EXISTS main."{t}"')
            con.execute(f'CREATE TABLE main."{t}" AS FROM {schema}."{t}"')
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute(f"DROP SCHEMA {schema} CASCADE")
    con.execute("CHECKPOINT")
    return built


def build_tables(cfg: PipelineConfig, log: Callable[[str], None] | None = None,
                 spark: Any = None) -> dict[str, int]:
    """Build the statistical tables of the warehouse from the restricted store and person_links,
    export each as Parquet under cfg.parquet_path; table -> row count. With `engine: spark` the
    per-person passes run on `spark` (default: the session the config describes)."""
    settings = settings_from_config(cfg)
    spark_work = None
    if cfg.engine == "spark":
        from reglink.engines.spark import spark_session, work_dir

        spark = spark or spark_session(cfg)
        spark_work = work_dir(cfg) / "tables"
    else:
        spark = None
    if not cfg.restricted_path.exists():
        raise ReglinkError(f"{cfg.restricted_path}: restricted store not found: run ingest first")
    if not cfg.warehouse.exists():
        raise ReglinkError(f"{cfg.warehouse}: warehouse not found: run ingest and linkage first")
    budget = cfg.budget
    con = budget.apply(store.connect(cfg.warehouse))
    try:
        # this connection reads dates of birth: what it spills is restricted, so owner-only
        spill = secure.private_dir(budget.temp_directory)
        con.execute("SET temp_directory = ?", [str(spill)])
        con.execute(f"ATTACH '{cfg.restricted_path}' AS {RESTRICTED} (READ_ONLY)")
        try:
            counts = _build_staged(con, settings, log, budget, spark, spark_work)
        finally:
            con.execute(f"DETACH {RESTRICTED}")
            if spark_work is not None and not cfg.spark.get("keep_work"):
                # restricted working data (crossings by person): they do not outlive the stage
                import shutil

                shutil.rmtree(spark_work, ignore_errors=True)
        from reglink.publish import write_publication

        export.export_parquet_swap(
            con, cfg.parquet_path, list(counts),
            then=lambda staging: write_publication(con, staging / "publication", cfg, settings))
    finally:
        con.close()
    return counts
