"""The one place a table builder's SQL runs: on DuckDB, or on Spark with the result in DuckDB.

A builder renders its SELECTs with the runner's `dialect` and hands them to `temp` (a working
table of this step) or `table` (a warehouse table). `DuckDBRunner` executes them on the
warehouse connection, as the pipeline always did. `SparkRunner` executes them as Spark SQL:

- the DuckDB tables a statement reads (found by parsing it, CTE names aside) are given to Spark
  as Parquet registered on the session as temporary views, so Spark sees what DuckDB holds at
  that moment (a qualified name such as `restricted.std_x` becomes the view `restricted__std_x`
  in the statement: nothing is created in the cluster's catalog);
- a `temp` is materialised as Parquet and read back (a builder reads its working tables many
  times: one GROUP BY per breakdown set), `shared=True` also loads it into a DuckDB TEMP table
  for the DuckDB steps after it;
- a `table` is written as Parquet by Spark and loaded into the warehouse in the builder's
  order, so the DuckDB file and the Parquet exports are the same on both engines.

The steps of one build share one `SparkExports`: a DuckDB table is written as Parquet once and
reused by every later step while its content is unchanged (`persons`, `crossings` and the
dates of birth are read by most steps), and a table Spark itself wrote is read from Spark's
Parquet, not exported back. "Unchanged" is checked, not assumed: a DuckDB step in between may
rewrite a table (the provisional estimates add columns to `flows`), so each use compares a
fingerprint of the table (its columns, row count and the sum of its row hashes, one scan in
DuckDB, far cheaper than writing and re-reading Parquet) with the one its Parquet was made from.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb

from reglink.tables.sql import DUCKDB, SPARK, Dialect

if TYPE_CHECKING:  # pyspark is an optional extra
    from pyspark.sql import DataFrame, SparkSession


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


Fingerprint = tuple[Any, ...]


class SparkExports:
    """The DuckDB tables given to Spark during one build: each written as Parquet once and kept
    (as a Spark DataFrame over that Parquet) while its fingerprint is unchanged."""

    def __init__(self, con: duckdb.DuckDBPyConnection, spark: "SparkSession", work: Path) -> None:
        self.con, self.spark, self.work = con, spark, work
        self.frames: dict[str, tuple[Fingerprint, "DataFrame"]] = {}
        self.written: list[str] = []  # every export, in order (what the build paid for)
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True, mode=0o700)

    def fingerprint(self, name: str) -> Fingerprint | None:
        """Columns, rows and row-hash sum of DuckDB table `name`; None if DuckDB has no such
        table (a working table that lives on Spark only)."""
        try:
            cols = tuple(tuple(r[:2]) for r in self.con.execute(f"DESCRIBE {name}").fetchall())
        except duckdb.CatalogException:
            return None
        n, h = self.con.execute(f"SELECT count(*), COALESCE(sum(CAST(hash(t) AS HUGEINT)), 0) "
                                f"FROM {name} t").fetchall()[0]
        return (cols, n, h)

    def frame(self, name: str) -> "DataFrame | None":
        """Spark's copy of DuckDB table `name` as it is now: the kept one, or a new export."""
        fp = self.fingerprint(name)
        if fp is None:
            return None
        kept = self.frames.get(name)
        if kept is not None and kept[0] == fp:
            return kept[1]
        path = self.work / f"{name.replace('.', '__')}.{len(self.written)}"
        path.mkdir(parents=True, mode=0o700)
        self.con.execute(f"COPY (SELECT * FROM {name}) TO '{path / 'part-0.parquet'}' (FORMAT parquet)")
        self.written.append(name)
        df = self.spark.read.parquet(str(path))
        self.frames[name] = (fp, df)
        return df

    def adopt(self, name: str, path: Path) -> None:
        """DuckDB table `name` was just loaded from Spark's Parquet at `path`: later steps read
        that Parquet (while the table stays as loaded) instead of an export of it."""
        fp = self.fingerprint(name)
        if fp is not None:
            self.frames[name] = (fp, self.spark.read.parquet(str(path)))


class SparkRunner:
    """The SQL as Spark SQL over Parquet copies of the DuckDB inputs; results back in DuckDB."""

    dialect = SPARK

    def __init__(self, con: duckdb.DuckDBPyConnection, spark: "SparkSession", work: Path,
                 exports: SparkExports | None = None) -> None:
        """`work`: this step's folder (its working and output tables); `exports`: the build's
        shared inputs (default: this runner's own, in `work/in`)."""
        self.con, self.spark, self.work = con, spark, work
        self.views: dict[str, str] = {}  # qualified DuckDB name -> its view on the session
        self.own: set[str] = set()  # working tables of this step, on Spark only
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True, mode=0o700)
        self.exports = exports or SparkExports(con, spark, work / "in")

    def _path(self, kind: str, name: str) -> Path:
        return self.work / kind / name.replace(".", "__")

    def _register(self, name: str, df: "DataFrame") -> None:
        view = name.replace(".", "__")
        if view != name:
            self.views[name] = view
        df.createOrReplaceTempView(view)

    def _spark_sql(self, sql: str) -> str:
        """`sql` with each qualified DuckDB name replaced by its view on the session."""
        for name, view in self.views.items():
            sql = re.sub(rf"(?<![\w.]){re.escape(name)}(?!\w)", view, sql)
        return sql

    def _inputs(self, sql: str) -> None:
        """Give Spark, as views, the DuckDB tables `sql` reads (this step's own working tables
        are views already), each as DuckDB holds it now."""
        for name in read_tables(sql):
            if name in self.own:
                continue
            df = self.exports.frame(name)
            if df is not None:  # else not a DuckDB table: Spark reports it if missing there too
                self._register(name, df)

    def _write(self, kind: str, name: str, sql: str) -> Path:
        self._inputs(sql)
        path = self._path(kind, name)
        self.spark.sql(self._spark_sql(sql)).write.mode("overwrite").parquet(str(path))
        self._register(name, self.spark.read.parquet(str(path)))
        self.own.add(name)
        return path

    def temp(self, name: str, sql: str, shared: bool = False) -> None:
        path = self._write("temp", name, sql)
        if shared:
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS "
                             f"SELECT * FROM read_parquet('{path}/*.parquet')")
            self.exports.adopt(name, path)

    def table(self, name: str, sql: str, order: str | None = None) -> int:
        path = self._write("out", name, sql)
        by = f" ORDER BY {order}" if order else ""
        self.con.execute(f"CREATE OR REPLACE TABLE {name} AS "
                         f"SELECT * FROM read_parquet('{path}/*.parquet'){by}")
        self.exports.adopt(name, path)
        return self.con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
