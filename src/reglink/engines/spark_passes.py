"""The per-person passes of the tables stage on Spark: the same polars functions, per group.

`tables.crossings.build_crossings` runs four passes over partitions of persons in this process;
here each pass is one `groupBy("_part").applyInArrow(...)` calling the very same functions
(`tally_part`, `repair_part`, `place_part`, `classify_part`), so there is one rule engine:

1. DuckDB writes the inputs (linked crossings, deaths, the evidence registers) as Parquet with
   `_part`, the partition of persons (`hash(person_key) % n`, as the DuckDB engine splits them);
2. pass 1 tallies per partition; the small tallies are collected to the driver, added up
   (`rules.pooled`) and broadcast back for pass 2, likewise pass 2's evidence tally for pass 3;
3. passes 2-4 write their outputs as Parquet; DuckDB computes `initial_status` (one SQL pass
   over pass 3's crossings) and loads `crossing_repairs` and `crossings` into the warehouse.

A group gets several tables at once (a partition's crossings, deaths, permits ...): they travel
as one "envelope" frame, each table's columns prefixed `<table>__` and a `_t` column naming the
table; a pass returns its outputs the same way. The output schema is declared to Spark by
running the pass once on empty inputs on the driver.
"""
from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from reglink.config import Budget
from reglink.tables import crossings as cx
from reglink.tables.partitions import Partitions
from reglink.tables.settings import TableSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SEP = "__"
Frames = dict[str, pl.DataFrame]
PassFn = Callable[[Frames, dict[str, Any]], Frames]

_SPARK_TYPES: dict[Any, tuple[str, pl.DataType]] = {
    pl.Int8: ("tinyint", pl.Int8), pl.Int16: ("smallint", pl.Int16), pl.Int32: ("int", pl.Int32),
    pl.Int64: ("bigint", pl.Int64), pl.UInt8: ("smallint", pl.Int16), pl.UInt16: ("int", pl.Int32),
    pl.UInt32: ("bigint", pl.Int64), pl.UInt64: ("bigint", pl.Int64),
    pl.Float32: ("float", pl.Float32), pl.Float64: ("double", pl.Float64),
    pl.Boolean: ("boolean", pl.Boolean), pl.String: ("string", pl.String),
    pl.Categorical: ("string", pl.String), pl.Null: ("string", pl.String),
    pl.Date: ("date", pl.Date),
}


def _spark_type(dtype: pl.DataType) -> tuple[str, pl.DataType]:
    """The Spark SQL type a polars column travels as, and the polars type it is cast to first."""
    if isinstance(dtype, pl.Datetime):
        return ("timestamp_ntz", pl.Datetime("us")) if dtype.time_zone is None else \
            ("timestamp", pl.Datetime("us", "UTC"))
    if isinstance(dtype, pl.Enum):
        return "string", pl.String
    found = _SPARK_TYPES.get(dtype.base_type())
    if found is None:
        raise TypeError(f"no Spark type for polars {dtype}")
    return found


def plain(schema: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    """A schema in the polars types that cross to Spark unchanged."""
    return {c: _spark_type(t)[1] for c, t in schema.items()}


def envelope_ddl(tables: dict[str, dict[str, pl.DataType]]) -> str:
    """Spark DDL of the envelope holding `tables` (name -> schema)."""
    cols = ["_t string", "_part bigint"]
    for name, schema in tables.items():
        cols += [f"`{name}{SEP}{c}` {_spark_type(t)[0]}" for c, t in schema.items()]
    return ", ".join(cols)


def pack(frames: Frames, spec: dict[str, dict[str, pl.DataType]], part: int) -> pl.DataFrame:
    """One envelope frame (every column of `spec`, in order) from `frames` (name -> frame)."""
    order = ["_t", "_part"] + [f"{n}{SEP}{c}" for n, s in spec.items() for c in s]
    pieces = []
    for name, schema in spec.items():
        f = frames.get(name)
        if f is None or f.height == 0:
            continue
        pieces.append(f.select([
            (pl.col(c) if c in f.columns else pl.lit(None)).cast(t).alias(f"{name}{SEP}{c}")
            for c, t in schema.items()]).with_columns(pl.lit(name).alias("_t")))
    kinds = {"_t": pl.String, "_part": pl.Int64,
             **{f"{n}{SEP}{c}": t for n, s in spec.items() for c, t in s.items()}}
    if not pieces:
        return pl.DataFrame(schema=kinds).select(order)
    out = pl.concat(pieces, how="diagonal")
    return (out.with_columns(pl.lit(part, pl.Int64).alias("_part"),
                             *[pl.lit(None, t).alias(c) for c, t in kinds.items()
                               if c not in out.columns and c != "_part"])
            .select(order).cast(kinds))


def unpack(env: pl.DataFrame, spec: dict[str, dict[str, pl.DataType]]) -> Frames:
    """name -> frame from an envelope (an empty frame of the right schema for a table absent)."""
    out = {}
    for name, schema in spec.items():
        rows = env.filter(pl.col("_t") == name) if env.height else env
        out[name] = rows.select([pl.col(f"{name}{SEP}{c}").cast(t).alias(c)
                                 for c, t in schema.items()]) if rows.height else \
            pl.DataFrame(schema=schema)
    return out


def _output_spec(fn: PassFn, inputs: dict[str, dict[str, pl.DataType]],
                 consts: dict[str, Any]) -> dict[str, dict[str, pl.DataType]]:
    """The pass's output tables and schemas: the pass run on empty inputs, here on the driver."""
    outs = fn({n: pl.DataFrame(schema=s) for n, s in inputs.items()}, consts)
    return {n: plain(dict(f.schema)) for n, f in outs.items()}


def run_pass(spark: "SparkSession", env: "DataFrame", inputs: dict[str, dict[str, pl.DataType]],
             fn: PassFn, consts: dict[str, Any]) -> tuple["DataFrame", dict]:
    """`fn` over every partition of persons of the envelope `env`: (envelope of its outputs,
    their spec). `consts` (settings, pooled tallies) go to every task as one broadcast."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import _parse_datatype_string

    out_spec = _output_spec(fn, inputs, consts)
    ddl = envelope_ddl(out_spec)
    arrow_schema = to_arrow_schema(_parse_datatype_string(f"struct<{ddl.replace('` ', '`: ')}>"))
    shared = spark.sparkContext.broadcast(consts)

    def one_group(key: tuple, table: pa.Table) -> pa.Table:
        part = int(key[0].as_py())
        frames = unpack(pl.from_arrow(table), inputs)
        return pack(fn(frames, shared.value), out_spec, part).to_arrow().cast(arrow_schema)

    return env.groupBy("_part").applyInArrow(one_group, ddl), out_spec


def envelope(spark: "SparkSession", sources: dict[str, "DataFrame"]) -> "DataFrame":
    """Several Spark frames (each with `_part`) as one envelope, ready to group by partition."""
    from pyspark.sql import functions as F

    env = None
    for name, df in sources.items():
        cols = [F.lit(name).alias("_t"), F.col("_part").cast("bigint").alias("_part")]
        cols += [F.col(f"`{c}`").alias(f"{name}{SEP}{c}") for c in df.columns
                 if c not in ("_part", "_t")]
        piece = df.select(*cols)
        env = piece if env is None else env.unionByName(piece, allowMissingColumns=True)
    return env


def from_envelope(spark: "SparkSession", env: "DataFrame", name: str,
                  schema: dict[str, pl.DataType]) -> "DataFrame":
    """Table `name` of an envelope as a plain Spark frame with `_part`."""
    from pyspark.sql import functions as F

    return env.filter(F.col("_t") == name).select(
        "_part", *[F.col(f"`{name}{SEP}{c}`").alias(c) for c in schema])


# -- the four passes, as envelope functions around the shared per-partition functions ---------

def _opt(frame: pl.DataFrame | None) -> pl.DataFrame | None:
    return frame if frame is not None and frame.height else None


def _evidence(f: Frames, c: dict[str, Any]) -> dict[str, pl.DataFrame | None] | None:
    if not c["evidence"]:
        return None
    return {"persons": f["persons"], "permits": f["permits"] if c["has_permits"] else None,
            "asylum": f["asylum"] if c["has_asylum"] else None}


def pass_tally(f: Frames, c: dict[str, Any]) -> Frames:
    return {"tally": cx.tally_part(f["raw"], _opt(f["deaths"]), c["home"])}


def pass_repair(f: Frames, c: dict[str, Any]) -> Frames:
    repaired, log, ev_tally = cx.repair_part(f["raw"], _opt(f["deaths"]), c["settings"], c["tally"],
                                             c["first_day"], _evidence(f, c))
    from reglink.rules import pooled
    return {"repaired": repaired, "log": log,
            "ev_tally": ev_tally if ev_tally is not None else pooled.combine([])}


def pass_place(f: Frames, c: dict[str, Any]) -> Frames:
    repaired, log = cx.place_part(f["repaired"], f["log"], c["settings"], _evidence(f, c),
                                  c["first_day"], c["ev_tally"])
    return {"repaired": repaired, "log": log}


def pass_classify(f: Frames, c: dict[str, Any]) -> Frames:
    evidence = f["evidence"] if c["has_evidence"] else None
    return {"crossings": cx.classify_part(f["repaired"], _opt(f["initial"]), evidence,
                                          c["settings"], c["until"])}


# -- the driver ----------------------------------------------------------------------------------

def build_crossings_spark(con: duckdb.DuckDBPyConnection, settings: TableSettings,
                          spark: "SparkSession", work: Path, restricted: str = "restricted",
                          budget: Budget | None = None,
                          log: Callable[[str], None] | None = None) -> dict[str, int]:
    """`crossing_repairs`, `initial_status` and `crossings` as `build_crossings` writes them,
    the per-person passes run on Spark (module doc). `work`: the Parquet folder Spark reads."""
    from reglink.rules import pooled

    say = log or (lambda _msg: None)
    if work.exists():
        shutil.rmtree(work)
    (work / "in").mkdir(parents=True, mode=0o700)
    has_border = cx.raw_crossings_table(con, restricted)
    rows = con.execute("SELECT count(*) FROM _raw").fetchall()[0][0]
    parts = Partitions.plan(rows, budget, at_least=max(settings.partitions or 1,
                                                       spark.sparkContext.defaultParallelism))
    say(f"tables: {rows:,} crossings in {parts.n} partition(s) of persons on Spark "
        f"({spark.sparkContext.master})")
    part_of = "0" if parts.n == 1 else f"hash(person_key) % {parts.n}"

    schemas: dict[str, dict[str, pl.DataType]] = {}

    def export(name: str, sql: str) -> "DataFrame":
        path = work / "in" / f"{name}.parquet"
        con.execute(f"COPY (SELECT *, CAST({part_of} AS BIGINT) AS _part FROM ({sql}) _s) "
                    f"TO '{path}' (FORMAT parquet)")
        schemas[name] = plain({c: t for c, t in pl.read_parquet_schema(path).items() if c != "_part"})
        return spark.read.parquet(str(path))

    home = settings.home_country if settings.evidence_repair else None
    raw_sql = "SELECT * FROM _raw" if has_border else \
        "SELECT * FROM (SELECT CAST(NULL AS VARCHAR) AS person_key, CAST(NULL AS BIGINT) AS _grow) WHERE FALSE"
    src = {"raw": export("raw", raw_sql), "deaths": export("deaths", "SELECT * FROM _deaths")}
    if not has_border:  # the same empty frame the DuckDB engine hands the passes
        schemas["raw"] = {**cx.EMPTY_RAW, "_grow": pl.Int64}
    ev = cx.evidence_inputs(con, restricted) if settings.evidence_repair else None
    if ev is not None:
        for name, q in ev.sqls("TRUE", "TRUE").items():
            if q is not None:
                src[name] = export(name, q)
    consts: dict[str, Any] = {"home": home, "settings": settings, "evidence": ev is not None,
                              "has_permits": "permits" in src, "has_asylum": "asylum" in src}
    for name in ("persons", "permits", "asylum"):
        schemas.setdefault(name, {"person_key": pl.String})

    def inputs(*names: str) -> dict[str, dict[str, pl.DataType]]:
        return {n: schemas[n] for n in names}

    ev_names = ("persons", "permits", "asylum")

    # 1. the pooled spells, tallied per partition, added up on the driver
    env1 = envelope(spark, {k: src[k] for k in ("raw", "deaths")})
    out1, spec1 = run_pass(spark, env1, inputs("raw", "deaths"), pass_tally, consts)
    tally = pooled.combine([unpack(pl.from_arrow(out1.toArrow()), spec1)["tally"]])
    first_day, last_day = cx.data_period(tally)
    until = settings.observed_until or last_day
    consts.update(tally=tally, first_day=first_day)
    say("tables: pass 1 (pooled spells) done on Spark")

    # 2. repair with the pooled tally; written as Parquet, the evidence tally collected
    env2 = envelope(spark, {k: v for k, v in src.items() if k in ("raw", "deaths", *ev_names)})
    out2, spec2 = run_pass(spark, env2, inputs("raw", "deaths", *ev_names), pass_repair, consts)
    out2.write.parquet(str(work / "pass2"))
    out2 = spark.read.parquet(str(work / "pass2"))
    from pyspark.sql import functions as F

    ev_tally = pooled.combine([unpack(pl.from_arrow(out2.filter(F.col("_t") == "ev_tally").toArrow()),
                                      {"ev_tally": spec2["ev_tally"]})["ev_tally"]])
    consts.update(ev_tally=ev_tally)
    say("tables: pass 2 (repair) done on Spark")

    # 3. evidence placement
    env3 = envelope(spark, {"repaired": from_envelope(spark, out2, "repaired", spec2["repaired"]),
                            "log": from_envelope(spark, out2, "log", spec2["log"]),
                            **{k: v for k, v in src.items() if k in ev_names}})
    in3 = {"repaired": spec2["repaired"], "log": spec2["log"], **inputs(*ev_names)}
    out3, spec3 = run_pass(spark, env3, in3, pass_place, consts)
    out3.write.parquet(str(work / "pass3"))
    say("tables: pass 3 (evidence placement) done on Spark")

    # initial status: one SQL pass in DuckDB over every person's repaired crossings
    pass3 = f"read_parquet('{work / 'pass3'}/*.parquet')"
    _load(con, "_repaired", pass3, "repaired", spec3["repaired"], temp=True)
    _load(con, "crossing_repairs", pass3, "log", spec3["log"], temp=False,
          order="person_key, crossing_date, kind, row")
    cx.initial_status_table(con, settings, "_repaired", restricted)

    # 4. the residence rule
    src4 = {"repaired": from_envelope(spark, spark.read.parquet(str(work / "pass3")), "repaired",
                                      spec3["repaired"]),
            "initial": export("initial", cx.INITIAL_FOR_RULE)}
    evidence_sql = cx.permit_evidence_sql(con, restricted, settings.evidence_days)
    if evidence_sql is not None:
        src4["evidence"] = export("evidence", evidence_sql)
    schemas.setdefault("evidence", {"person_key": pl.String})
    consts.update(until=until, has_evidence=evidence_sql is not None)
    out4, spec4 = run_pass(spark, envelope(spark, src4),
                           {"repaired": spec3["repaired"], **inputs("initial", "evidence")},
                           pass_classify, consts)
    out4.write.parquet(str(work / "pass4"))
    say("tables: pass 4 (residence rule) done on Spark")
    _load(con, "_crossings", f"read_parquet('{work / 'pass4'}/*.parquet')", "crossings",
          spec4["crossings"], temp=True)
    cx.finish_crossings(con, "_crossings")
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
            for t in ("crossings", "crossing_repairs", "initial_status")}


def _load(con: duckdb.DuckDBPyConnection, table: str, relation: str, name: str,
          schema: dict[str, pl.DataType], temp: bool, order: str | None = None) -> None:
    """Table `name` of a Spark-written envelope into a DuckDB table, its own column names."""
    cols = ", ".join(f'"{name}{SEP}{c}" AS "{c}"' for c in schema)
    con.execute(f"CREATE OR REPLACE {'TEMP ' if temp else ''}TABLE {table} AS SELECT {cols} "
                f"FROM {relation} WHERE _t = '{name}'" + (f" ORDER BY {order}" if order else ""))
