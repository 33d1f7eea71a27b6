"""`link_persons(cfg)`: the pipeline's linkage stage, store to store.

Reads every `std_<source>` table ingest left in the restricted store (any subset of the four
registers), links them, and writes:
- warehouse `person_links` (one row per input record, every border crossing included),
  `linkage_key_map` (the persisted record -> person_key map that keeps keys stable), and the
  `quality_linkage_*` tables — person_key only, no identifiers;
- restricted `linkage_review` (borderline pairs with names for clerical review) and the working
  tables `linkage_pairs`, `linkage_nodes`, `linkage_record_node`.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from reglink import store
from reglink.config import PipelineConfig
from reglink.errors import ReglinkError
from reglink.linkage.link import LinkageResult, link_frames
from reglink.linkage.prepare import LINK_FIELDS
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


def read_std_tables(restricted: Path) -> dict[str, pl.DataFrame]:
    if not Path(restricted).exists():
        raise ReglinkError(f"{restricted}: restricted store not found; run ingest first")
    con = store.connect(restricted)  # same configuration as any other open handle
    try:
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
        out = {}
        for s in SOURCES:
            if f"std_{s}" not in tables:
                continue
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                [f"std_{s}"]).fetchall()]
            # only what linkage reads: 20 million crossings stay a few columns wide
            keep = [c for c in ("record_id", *LINK_FIELDS) if c in cols]
            out[s] = con.sql(f'SELECT {", ".join(chr(34) + c + chr(34) for c in keep)} '
                             f'FROM "std_{s}"').pl()
    finally:
        con.close()
    if not out:
        raise ReglinkError(f"{restricted}: no std_<register> tables to link; run ingest first")
    return out


def _previous_keys(warehouse: Path) -> pl.DataFrame | None:
    if not Path(warehouse).exists():
        return None
    con = store.connect(warehouse)
    try:
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
        for t in ("linkage_key_map", "person_links"):
            if t in tables:
                return con.sql(f"SELECT source, CAST(record_id AS VARCHAR) AS record_id, person_key "
                               f"FROM {t}").pl()
        return None
    finally:
        con.close()


def link_persons(cfg: PipelineConfig) -> LinkageResult:
    """Link the restricted store's std_* tables into persons and write both stores."""
    settings = linkage_settings(cfg)
    std = read_std_tables(cfg.restricted_path)
    previous = _previous_keys(cfg.warehouse)
    model_path = Path(settings["model_path"])
    retrain = bool(settings.get("retrain", False))
    if model_path.exists() and not retrain and not _model_fits(model_path, cfg.home_country):
        log.warning("%s was trained for another home country: training anew", model_path)
        model_path = Path(cfg.warehouse).with_name("linkage-model-" + cfg.home_country + ".json")
    if not any(f.height for f in std.values()):
        raise ReglinkError(f"{cfg.restricted_path}: the std_<register> tables hold no records to link")
    res = link_frames(
        std, home_country=cfg.home_country, threshold=float(settings["threshold"]),
        model_path=model_path, retrain=retrain, previous_links=previous,
        seed=int(settings.get("seed", 42)), u_max_pairs=float(settings.get("u_max_pairs", 2e6)),
        predict_min_weight=float(settings.get("predict_min_weight", -10)),
    )
    res.quality = quality_tables(res)
    band = settings.get("review_band", [0.5, 0.99])
    res.review = review_sample(res, (float(band[0]), float(band[1])),
                               int(settings.get("review_sample", 200)))
    write_outputs(cfg, res, previous)
    return res


def write_outputs(cfg: PipelineConfig, res: LinkageResult, previous: pl.DataFrame | None) -> None:
    key_map = res.person_links.select("source", "record_id", "person_key")
    if previous is not None and previous.height:
        # records not delivered this time keep their last key in the map
        key_map = pl.concat([key_map, previous.join(key_map, on=["source", "record_id"], how="anti")])
    wh = store.connect(cfg.warehouse)
    try:
        store.write_table(wh, "person_links", res.person_links.to_arrow())
        store.write_table(wh, "linkage_key_map", key_map.to_arrow())
        for name, frame in res.quality.items():
            store.write_table(wh, name, frame.to_arrow())
        store.assert_no_identifiers(wh)
    finally:
        wh.close()
    rs = store.connect(cfg.restricted_path)
    try:
        if res.review is not None:
            store.write_table(rs, "linkage_review", res.review.to_arrow())
        store.write_table(rs, "linkage_pairs", res.pairs.to_arrow())
        store.write_table(rs, "linkage_nodes", res.nodes.to_arrow())
        store.write_table(rs, "linkage_record_node", res.node_of_record.to_arrow())
    finally:
        rs.close()
