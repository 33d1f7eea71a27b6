"""Splink's scoring on Spark: the same model, the same nodes, the pairs back in DuckDB.

The record-level steps of the linkage (aligning the registers, collapsing identical identities,
deterministic groups) are set-based SQL that streams and spills in DuckDB; the pairwise work --
blocking and scoring every candidate pair, which grows with the square of a block's size -- is
what outgrows one machine. With `engine: spark` that step runs on Splink's Spark backend:

- the nodes are written as Parquet (one folder per register, readable by every executor);
- the model estimated for this delivery (the saved m and u, this delivery's prior) is rendered
  in Spark SQL from the same Python definition (`model.settings_for`), blocking rules included;
- the scored pairs are written as Parquet by Spark and read back by DuckDB, where clustering and
  the person keys proceed exactly as with the DuckDB engine.
"""
from __future__ import annotations

import json
import logging
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

import duckdb
import polars as pl

from reglink.linkage import model as mdl

log = logging.getLogger(__name__)


def write_nodes(nodes: pl.DataFrame, folder: Path) -> dict[str, Path]:
    """One Parquet file per register of the Splink nodes; columns with no value at all are
    written as strings (Spark has no use for a column of type NULL)."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    nodes = nodes.with_columns([pl.col(c).cast(pl.String) for c, t in nodes.schema.items()
                                if t == pl.Null])
    out = {}
    for s in sorted(nodes["source"].unique().to_list()):
        path = folder / f"source={s}.parquet"
        nodes.filter(pl.col("source") == s).drop("source").write_parquet(path)
        out[s] = path
    return out


def predict_on_spark(spark: Any, con: duckdb.DuckDBPyConnection, linker: Any,
                     splink_nodes: pl.DataFrame, link_type: str, home_country: str,
                     min_weight: float, work: Path, debug: bool = False,
                     broad: list[str] | None = None, tf: dict[str, pl.DataFrame] | None = None
                     ) -> tuple[str, list[str], Callable[[], None]]:
    """Score the candidate pairs of `splink_nodes` on Spark with `linker`'s model; returns
    (a DuckDB relation of the pairs: unique_id_l, unique_id_r, match_weight,
    match_probability, gamma_*; the extra pair columns kept; a function freeing it).
    `broad`: the broad keys this delivery affords to block on alone (`model.broad_keys`), as on DuckDB.
    `tf`: term-frequency lookups to use instead of Splink's own (`link.tf_without_matches`)."""
    from splink import Linker
    from splink.backends.spark import SparkAPI

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, mode=0o700)
    model_json = work / "model.json"
    model_json.write_text(json.dumps(linker.misc.save_model_to_json()), encoding="utf-8")
    settings = mdl.with_rules(mdl.settings_for(model_json, "spark", home_country), broad or [],
                              "spark")
    settings["link_type"] = link_type
    settings.pop("linker_uid", None)
    settings["retain_matching_columns"] = debug
    settings["retain_intermediate_calculation_columns"] = debug

    # the session factory registered the similarity functions (and may have replaced
    # jaro_winkler by DuckDB's, `engines.spark`): Splink must not register its own over them
    api = SparkAPI(spark_session=spark, register_udfs_automatically=False)
    files = write_nodes(splink_nodes, work / "nodes")
    # the session may outlive this run (a scheduler's resource, a test session): each run's
    # input views get names of their own and are dropped below, so a second linkage on the same
    # session does not find the first's 'permits' view in the catalog
    run = uuid.uuid4().hex[:12]
    tables = [api.register(spark.read.parquet(str(p)), dataset_display_name=s,
                           table_name=f"__reglink_{s}_{run}") for s, p in files.items()]
    s_linker = Linker(tables if len(tables) > 1 else tables[0], settings,
                      log_level=logging.WARNING)
    tf_tables = [api.register(spark.createDataFrame(t.to_pandas()), table_name=f"__reglink_tf_{c}_{run}")
                 for c, t in (tf or {}).items()]
    for c, t in zip(tf or {}, tf_tables):
        s_linker.table_management.register_term_frequency_lookup(t, c)
    pred = s_linker.inference.predict(threshold_match_weight=min_weight, warning_mode="never")
    sdf = pred.as_spark_dataframe()
    keep = ["unique_id_l", "unique_id_r", "match_weight", "match_probability"]
    extra = [c for c in sdf.columns if c.startswith("gamma_") or (debug and c not in keep)]
    (sdf.select(*keep, *extra).write.parquet(str(work / "pairs")))
    pred.drop_table_from_database_and_remove_from_cache()
    for t in (*tables, *tf_tables):
        t.drop_table_from_database_and_remove_from_cache()
    log.info("pairs scored on Spark (%s)", spark.sparkContext.master)
    con.execute("CREATE OR REPLACE TEMP TABLE _spark_pairs AS SELECT * FROM "
                f"read_parquet('{work / 'pairs'}/*.parquet')")
    return "_spark_pairs", extra, lambda: con.execute("DROP TABLE IF EXISTS _spark_pairs")
