"""The one place a table builder's SQL runs: on DuckDB, or on Spark with the result in DuckDB.

A builder renders its SELECTs with the runner's `dialect` and hands them to `temp` (a working
table of this step) or `table` (a warehouse table). `DuckDBRunner` executes them on the
warehouse connection, as the pipeline always did. `SparkRunner` executes them as Spark SQL:

- the DuckDB tables a statement reads (found by parsing it, CTE names aside) are written once
  as Parquet and registered on the session as temporary views, so Spark sees what DuckDB holds
  at that moment (a qualified name such as `restricted.std_x` becomes the view
  `restricted__std_x` in the statement: nothing is created in the cluster's catalog);
- a `temp` is materialised as Parquet and read back (a builder reads its working tables many
  times: one GROUP BY per breakdown set), `shared=True` also loads it into a DuckDB TEMP table
  for the DuckDB steps after it;
- a `table` is written as Parquet by Spark and loaded into the warehouse in the builder's
  order, so the DuckDB file and the Parquet exports are the same on both engines.

Use a fresh `SparkRunner` per build step: the tables it exported are not re-read, and a DuckDB
step in between may have changed them.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import duckdb

from reglink.tables.sql import DUCKDB, SPARK, Dialect

if TYPE_CHECKING:  # pyspark is an optional extra
    from pyspark.sql import SparkSession


class Runner(Protocol):
    """Runs a builder's SQL on one engine; the results are DuckDB tables either way."""

    dialect: Dialect

    def temp(self, name: str, sql: str, shared: bool = False) -> None:
        """Working table `name` of this step (`shared`: the DuckDB steps after it read it)."""

    def table(self, name: str, sql: str, order: str | None = None) -> int:
        """Warehouse table `name` from `sql`, rows in `order`; its row count."""


class DuckDBRunner:
    """The SQL on the warehouse connection itself."""

    dialect = DUCKDB

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def temp(self, name: str, sql: str, shared: bool = False) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def table(self, name: str, sql: str, order: str | None = None) -> int:
        by = f" ORDER BY {order}" if order else ""
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM ({sql}) t{by}")
        return self.con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]


def read_tables(sql: str, dialect: str = "spark") -> list[str]:
    """The tables a statement reads (`name` or `db.name`), CTEs and subquery aliases aside."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read=dialect)
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    out: list[str] = []
    for t in tree.find_all(exp.Table):
        if not t.name or (not t.db and t.name.lower() in ctes):
            continue
        name = f"{t.db}.{t.name}" if t.db else t.name
        if name not in out:
            out.append(name)
    return out


class SparkRunner:
    """The SQL as Spark SQL over Parquet copies of the DuckDB inputs; results back in DuckDB."""

    dialect = SPARK

    def __init__(self, con: duckdb.DuckDBPyConnection, spark: "SparkSession", work: Path) -> None:
        self.con, self.spark, self.work = con, spark, work
        self.on_spark: set[str] = set()
        self.views: dict[str, str] = {}  # qualified DuckDB name -> its view on the session
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True, mode=0o700)

    def _path(self, kind: str, name: str) -> Path:
        return self.work / kind / name.replace(".", "__")

    def _register(self, name: str, path: Path) -> None:
        view = name.replace(".", "__")
        if view != name:
            self.views[name] = view
        self.spark.read.parquet(str(path)).createOrReplaceTempView(view)
        self.on_spark.add(name)

    def _spark_sql(self, sql: str) -> str:
        """`sql` with each qualified DuckDB name replaced by its view on the session."""
        for name, view in self.views.items():
            sql = re.sub(rf"(?<![\w.]){re.escape(name)}(?!\w)", view, sql)
        return sql

    def _inputs(self, sql: str) -> None:
        """Export the DuckDB tables `sql` reads that this runner has not given Spark yet."""
        for name in read_tables(sql):
            if name in self.on_spark:
                continue
            try:
                self.con.execute(f"DESCRIBE {name}")
            except duckdb.CatalogException:
                continue  # not a DuckDB table: Spark reports it if it is missing there too
            path = self._path("in", name)
            path.mkdir(parents=True, mode=0o700)
            self.con.execute(f"COPY (SELECT * FROM {name}) TO '{path / 'part-0.parquet'}' (FORMAT parquet)")
            self._register(name, path)

    def _write(self, kind: str, name: str, sql: str) -> Path:
        self._inputs(sql)
        path = self._path(kind, name)
        self.spark.sql(self._spark_sql(sql)).write.mode("overwrite").parquet(str(path))
        self._register(name, path)
        return path

    def temp(self, name: str, sql: str, shared: bool = False) -> None:
        path = self._write("temp", name, sql)
        if shared:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS "
                             f"SELECT * FROM read_parquet('{path}/*.parquet')")

    def table(self, name: str, sql: str, order: str | None = None) -> int:
        path = self._write("out", name, sql)
        by = f" ORDER BY {order}" if order else ""
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS "
                         f"SELECT * FROM read_parquet('{path}/*.parquet'){by}")
        return self.con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
