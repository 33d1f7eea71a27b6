"""`link_persons(cfg)`: the pipeline's linkage stage, store to store.

Reads every `std_<source>` table ingest left in the restricted store (any subset of the four
registers), links them, and writes:
- warehouse `person_links` (one row per input record, every border crossing included),
  `linkage_key_map` (the persisted record -> person_key map that keeps keys stable), and the
  `quality_linkage_*` tables — person_key only, no identifiers;
- restricted `linkage_review` (borderline pairs with names for clerical review), `linkage_splits`
  (clusters split by evidence against a match: reason, records, person_keys) and the working
  tables `linkage_pairs`, `linkage_nodes`, `linkage_record_node`.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import yaml

from reglink import store
from reglink.config import PipelineConfig
from reglink.errors import ReglinkError
from reglink.linkage.link import DEFAULT_MEMORY_LIMIT, LinkageResult, link_relations, linkage_connection
from reglink.linkage.prepare import linkage_columns
from reglink.linkage.quality import quality_tables, review_sample
from reglink.schemas import SOURCES

log = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parents[3] / "config" / "linkage"


def linkage_settings(cfg: PipelineConfig) -> dict[str, Any]:
    """config/linkage/settings.yaml, overridden by the pipeline YAML's `linkage:` mapping."""
    path = CONFIG_DIR / "settings.yaml"
    settings: dict[str, Any] = {}
    if path.exists():
        settings = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    settings.update(cfg.raw.get("linkage") or {})
    if cfg.linkage_model is not None:
        settings["model"] = str(cfg.linkage_model)
    model = Path(str(settings.get("model", "model-v1.json")))
    settings["model_path"] = model if model.is_absolute() else CONFIG_DIR / model
    settings.setdefault("threshold", None)
    if settings["threshold"] is None:
        settings["threshold"] = cfg.match_threshold
    return settings


def _model_fits(model_path: Path, home_country: str) -> bool:
    """A saved model encodes the home country (naturalisation level); reuse only if it fits."""
    try:
        return f"'{home_country.upper()}'" in model_path.read_text(encoding="utf-8")
    except OSError:
        return False


def std_relations(con, restricted: Path) -> dict[str, tuple[str, list[str]]]:
    """Attach the restricted store read-only to the linkage connection as `rs`; return
    register -> (relation, linkage columns present). Nothing is read into Python: the
    linkage SQL scans only the columns it needs (20 million crossings stay in DuckDB)."""
    if not Path(restricted).exists():
        raise ReglinkError(f"{restricted}: restricted store not found; run ingest first")
    con.execute(f"ATTACH '{Path(restricted)}' AS rs (READ_ONLY)")
    tables = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'rs' "
        "AND table_schema = 'main'").fetchall()}
    out = {}
    for s in SOURCES:
        if f"std_{s}" not in tables:
            continue
        cols = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'rs' "
            "AND table_name = ?", [f"std_{s}"]).fetchall()]
        n = con.execute(f'SELECT count(*) FROM rs."std_{s}"').fetchall()[0][0]
        if n:
            out[s] = (f'rs."std_{s}"', linkage_columns(s, cols))
    if not tables & {f"std_{s}" for s in SOURCES}:
        raise ReglinkError(f"{restricted}: no std_<register> tables to link; run ingest first")
    if not out:
        raise ReglinkError(f"{restricted}: the std_<register> tables hold no records to link")
    return out


def parquet_relations(folder: Path) -> dict[str, tuple[str, list[str]]]:
    """register -> (relation, linkage columns present) for std tables kept as Parquet files
    (`folder`/<register>.parquet, as the linkage benchmark keeps them): the same columns
    `std_relations` gives the pipeline, so a benchmark links with the evidence a run has."""
    out = {}
    for p in sorted(Path(folder).glob("*.parquet")):
        if p.stem in SOURCES:
            cols = list(pl.read_parquet_schema(p))
            out[p.stem] = (f"read_parquet('{p}')", linkage_columns(p.stem, cols))
    return out


def read_std_tables(restricted: Path) -> dict[str, pl.DataFrame]:
    """The std_* tables' linkage columns as polars frames (small deliveries, tests)."""
    con = duckdb.connect()
    try:
        return {s: con.sql(f'SELECT {", ".join(chr(34) + c + chr(34) for c in cols)} FROM {rel}').pl()
                for s, (rel, cols) in std_relations(con, restricted).items()}
    finally:
        con.close()


def _previous_keys(con, warehouse: Path) -> str | None:
    """Copy the last run's (source, record_id, person_key) into the linkage connection as
    temp table `previous_links` (in DuckDB, not Python: 20 million rows at national scale)."""
    if not Path(warehouse).exists():
        return None
    con.execute(f"ATTACH '{Path(warehouse)}' AS wh_prev (READ_ONLY)")
    try:
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'wh_prev' "
            "AND table_schema = 'main'").fetchall()}
        for t in ("linkage_key_map", "person_links"):
            if t in tables:
                con.execute("CREATE OR REPLACE TEMP TABLE previous_links AS SELECT source, "
                            f"CAST(record_id AS VARCHAR) AS record_id, person_key FROM wh_prev.{t}")
                n = con.execute("SELECT count(*) FROM previous_links").fetchall()[0][0]
                return "previous_links" if n else None
        return None
    finally:
        con.execute("DETACH wh_prev")  # the warehouse is written at the end


def link_persons(cfg: PipelineConfig, spark: Any = None) -> LinkageResult:
    """Link the restricted store's std_* tables into persons and write both stores. With
    `engine: spark` Splink's blocking and scoring run on `spark` (default: the session the
    config describes); everything else, and the outputs, are the same."""
    settings = linkage_settings(cfg)
    spark_work = None
    if cfg.engine == "spark":
        from reglink.engines.spark import spark_session, work_dir

        spark = spark or spark_session(cfg)
        spark_work = work_dir(cfg)
    else:
        spark = None
    budget = cfg.budget  # the run's budget, unless the linkage settings name their own
    con = linkage_connection(settings.get("memory_limit") or budget.duckdb_limit,
                             settings.get("temp_directory") or budget.temp_directory,
                             budget.threads)
    sources = std_relations(con, cfg.restricted_path)
    previous = _previous_keys(con, cfg.warehouse)
    model_path = Path(settings["model_path"])
    retrain = bool(settings.get("retrain", False))
    if model_path.exists() and not retrain and not _model_fits(model_path, cfg.home_country):
        log.warning("%s was trained for another home country: training anew", model_path)
        model_path = Path(cfg.warehouse).with_name("linkage-model-" + cfg.home_country + ".json")
    res = link_relations(
        con, sources, home_country=cfg.home_country, threshold=float(settings["threshold"]),
        model_path=model_path, retrain=retrain, previous=previous,
        seed=int(settings.get("seed", 42)), u_max_pairs=float(settings.get("u_max_pairs", 2e6)),
        predict_min_weight=float(settings.get("predict_min_weight", -10)),
        cannot_link=bool(settings.get("cannot_link", True)),
        refit=str(settings.get("refit", "auto")),
        spark=spark, spark_work=spark_work,
    )
    if spark_work is not None and not cfg.spark.get("keep_work"):
        # the nodes Spark read hold names and dates of birth: they do not outlive the run
        import shutil

        shutil.rmtree(spark_work / "linkage", ignore_errors=True)
    con.execute("DETACH rs")  # the restricted store is written below
    res.quality = quality_tables(res)
    band = settings.get("review_band", [0.5, 0.99])
    res.review = review_sample(res, (float(band[0]), float(band[1])),
                               int(settings.get("review_sample", 200)))
    write_outputs(cfg, res, previous)
    return res


def write_outputs(cfg: PipelineConfig, res: LinkageResult, previous: str | None) -> None:
    """Write both stores. Record-level tables stream from the linkage connection (Arrow
    batches), never whole into Python."""
    key_map_sql = "SELECT source, record_id, person_key FROM person_links"
    if previous is not None:
        # records not delivered this time keep their last key in the map
        key_map_sql += (f" UNION ALL SELECT p.source, p.record_id, p.person_key FROM {previous} p"
                        " ANTI JOIN person_links l USING (source, record_id)")

    def stream(sql: str):
        return res.con.sql(sql).to_arrow_reader(1_000_000)

    wh = store.connect(cfg.warehouse)
    try:
        store.write_table(wh, "person_links", stream("SELECT * FROM person_links"))
        store.write_table(wh, "linkage_key_map", stream(key_map_sql))
        for name, frame in res.quality.items():
            store.write_table(wh, name, frame.to_arrow())
        store.assert_no_identifiers(wh)
    finally:
        wh.close()
    rs = store.connect(cfg.restricted_path, private=True)
    try:
        if res.review is not None:
            store.write_table(rs, "linkage_review", res.review.to_arrow())
        # every split by a cannot-link constraint: the reason, the two records (nodes) and
        # the person_keys they went to (restricted: the reason names dates and documents)
        store.write_table(rs, "linkage_splits", res.splits.to_arrow())
        store.write_table(rs, "linkage_pairs", res.pairs.to_arrow())
        store.write_table(rs, "linkage_nodes", stream(
            f"SELECT * EXCLUDE (node_num) FROM {res.node_table} ORDER BY node_num"))
        store.write_table(rs, "linkage_record_node", stream(
            "SELECT source, record_id, identity_id, node_id, cluster_id FROM record_node"))
    finally:
        rs.close()
