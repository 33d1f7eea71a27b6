"""A Spark session set up for reglink from the pipeline config (`engine: spark`).

Splink's Spark backend needs two things a plain session lacks (both failed as shipped): a
checkpoint directory (Splink breaks long lineages with checkpoints) and Splink's Scala
similarity functions (`jaro_winkler` ...) on the session's class path -- the jar ships inside
the splink package. The factory sets both, takes the master URL and any Spark settings from the
config's `spark:` block, and sizes the local JVM from the run's memory budget.

Keys of the `spark:` block (all optional):
- `master`: `local[*]` (default), `local[2]`, `spark://host:7077`, `yarn`, `k8s://...`;
- `conf`: any Spark settings, passed through (they win over the defaults below);
- `work_dir`: where the Parquet exchanged with Spark lives (default `<temp_directory>/spark`);
  on a cluster, a path every node reads at the same place (a shared mount);
- `checkpoint_dir`: Splink's checkpoints (default `<work_dir>/checkpoints`);
- `keep_work`: keep the Parquet of a stage after it (default false: it is restricted data --
  the linkage nodes hold names -- and goes when the stage ends);
- `similarity`: `duckdb` (default) or `splink`: which Jaro-Winkler the comparisons use.
  Splink's Scala `jaro_winkler` and DuckDB's `jaro_winkler_similarity` disagree on some long
  strings (KATHERINEJESSICA / KATEJESSICA: 0.895 and 0.906, either side of a 0.9 level), which
  links a few records differently. `duckdb` replaces the function on the session by DuckDB's
  own, run on Arrow batches in the workers, so both engines score every pair alike; `splink`
  keeps the JVM function (faster on a cluster, a handful of different links per 100,000).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reglink.config import PipelineConfig

if TYPE_CHECKING:  # pyspark is an optional extra
    from pyspark.sql import SparkSession

# share of the run's memory budget given to a local Spark JVM (driver = executors); the rest
# stays for the Python workers running the per-person passes and DuckDB
LOCAL_JVM_SHARE = 0.4
MIN_DRIVER_MB = 1024


def work_dir(cfg: PipelineConfig) -> Path:
    """The folder of Parquet exchanged between DuckDB and Spark for this warehouse."""
    chosen = cfg.spark.get("work_dir")
    return Path(chosen) if chosen else cfg.budget.temp_directory / "spark"


def checkpoint_dir(cfg: PipelineConfig) -> Path:
    chosen = cfg.spark.get("checkpoint_dir")
    return Path(chosen) if chosen else work_dir(cfg) / "checkpoints"


def similarity_jar() -> str:
    """Splink's jar of Spark SQL similarity functions for the installed Spark version."""
    from splink.backends.spark import similarity_jar_location

    path = similarity_jar_location()
    if not Path(path).exists():
        raise FileNotFoundError(f"Splink's similarity jar is missing: {path}")
    return path


def is_local(master: str) -> bool:
    return master.startswith("local")


def session_conf(cfg: PipelineConfig, app_name: str = "reglink") -> dict[str, str]:
    """Every setting the session starts with: reglink's defaults, then the config's `conf`."""
    master = cfg.spark.get("master") or "local[*]"
    budget = cfg.budget
    user = dict(cfg.spark.get("conf") or {})
    jars = [j for j in (user.pop("spark.jars", "") or "").split(",") if j]
    conf = {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.jars": ",".join([similarity_jar(), *jars]),
        # dates cross Arrow and Parquet unchanged only when the session's zone is UTC
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        "spark.log.level": "ERROR",
        # spill and shuffle files go beside the run's other spill files
        "spark.local.dir": str(budget.temp_directory / "spark-local"),
    }
    if is_local(master):
        # local mode: driver and executors are one JVM, sized from the run's budget
        mb = max(int(budget.memory_limit * LOCAL_JVM_SHARE) // 2**20, MIN_DRIVER_MB)
        conf["spark.driver.memory"] = f"{mb}m"
        # a few shuffle partitions per core, not Spark's 200 (which cost seconds each on a laptop)
        conf["spark.sql.shuffle.partitions"] = str(max(2, 2 * budget.threads))
        conf["spark.ui.enabled"] = "false"
        # no joins broadcast on Spark's size estimate: it reads the size of a Parquet file, and
        # the nodes of one register (a few MB on disk) did not fit a 1.6 GB driver once built
        # for broadcast ("Not enough memory to build and broadcast the table", 50,000 persons
        # on a 4 GB budget); sort-merge joins spill instead. Splink's own broadcast hints stay.
        conf["spark.sql.autoBroadcastJoinThreshold"] = "-1"
    conf.update(user)
    return conf


def spark_session(cfg: PipelineConfig, app_name: str = "reglink") -> "SparkSession":
    """Start (or reuse) the Spark session `cfg` describes, ready for Splink and the per-person
    passes: jar on the class path, checkpoint directory set, similarity functions checked."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - the extra is installed by ./run setup
        raise RuntimeError("engine: spark needs pyspark: install the project's `spark` extra "
                           "(uv sync --extra spark)") from exc
    conf = session_conf(cfg, app_name)
    for d in (cfg.budget.temp_directory / "spark-local", work_dir(cfg)):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    # the workers run the same interpreter as the driver (polars, reglink importable)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for k, v in conf.items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(str(checkpoint_dir(cfg)))
    register_similarity_functions(spark)
    if str(cfg.spark.get("similarity") or "duckdb").lower() == "duckdb":
        register_duckdb_jaro_winkler(spark)
    return spark


def _duckdb_jaro_winkler(a: Any, b: Any) -> Any:
    """DuckDB's `jaro_winkler_similarity` over two Arrow string arrays, row by row in order."""
    import duckdb
    import pyarrow as pa

    t = pa.table({"a": a.cast(pa.string()), "b": b.cast(pa.string())})  # noqa: F841 - read by SQL
    con = duckdb.connect()
    try:
        con.execute("SET threads = 1")  # one Spark task, one core
        return con.sql("SELECT jaro_winkler_similarity(a, b) AS j FROM t").to_arrow_table()["j"].combine_chunks()
    finally:
        con.close()


def register_duckdb_jaro_winkler(spark: "SparkSession") -> None:
    """`jaro_winkler` on the session computed by DuckDB (see `similarity` in the module doc)."""
    from pyspark.sql.functions import ArrowUDFType, arrow_udf

    spark.udf.register("jaro_winkler",
                       arrow_udf(_duckdb_jaro_winkler, "double", ArrowUDFType.SCALAR))


def register_similarity_functions(spark: "SparkSession") -> None:
    """Register Splink's Scala functions on the session and check one answers, so a session
    without the jar fails here with its cause, not deep inside a linkage run."""
    from splink.internals.spark.jar_location import get_scala_udfs

    try:
        for name, java_class, return_type in get_scala_udfs():
            spark.udf.registerJavaFunction(name, java_class, return_type)
        spark.sql("SELECT jaro_winkler('MARTHA', 'MARHTA') AS j").collect()
    except Exception as exc:  # noqa: BLE001 - any failure means the jar is not on the class path
        raise RuntimeError(f"Splink's similarity functions are not available on the Spark session "
                           f"(is {similarity_jar()} on spark.jars?): {exc}") from None


def describe(spark: Any) -> dict[str, str]:
    """Master, version and parallelism of a session, for run metadata."""
    return {"spark_master": spark.sparkContext.master, "spark_version": spark.version,
            "spark_parallelism": str(spark.sparkContext.defaultParallelism)}
