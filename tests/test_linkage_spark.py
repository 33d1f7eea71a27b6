"""The same trained model on Splink's Spark backend (docs/linkage.md, "Beyond one machine"),
on the session reglink sets up (`engines.spark`: Splink's jar, a checkpoint directory). Needs
pyspark (the `spark` extra, installed by ./run setup) and Java (installed by .ci/run)."""
from __future__ import annotations

import polars as pl
import pytest

from reglink.config import config_from_mapping
from reglink.linkage.link import NODE_FIELDS
from reglink.linkage.model import settings_for
from reglink.linkage.pipeline import CONFIG_DIR
from reglink.linkage.prepare import add_derived, align

pytestmark = pytest.mark.spark


def test_saved_model_scores_the_same_pairs_on_spark(tmp_path):
    from splink import DuckDBAPI, Linker, SparkAPI

    from reglink.engines.spark import spark_session

    std = pl.DataFrame({
        "record_id": ["1", "2", "3"], "given_names_std": ["ANNE", "ANNE", "JOHN"],
        "surname_std": ["MARTIN", "MARTIN", "SMITH"], "full_name_std": ["ANNE MARTIN"] * 2 + ["JOHN SMITH"],
        "dob_year": [1980, 1980, 1950], "dob_month": [5, 5, 1], "dob_day": [17, 17, 2],
        "sex": ["F", "F", "M"], "citizenship": ["FRA", "FRA", "GBR"]})
    nodes = add_derived(align("permits", std)).with_columns(
        pl.format("n{}", pl.col("record_id")).alias("unique_id")).select("unique_id", *NODE_FIELDS)
    model = CONFIG_DIR / "model-v1.json"

    cfg = config_from_mapping({"engine": "spark", "memory_limit": "2GB", "threads": 2,
                               "warehouse": "w.duckdb", "spark": {"master": "local[2]"}}, tmp_path)
    spark = spark_session(cfg)
    sapi = SparkAPI(spark_session=spark)
    settings = settings_for(model, "spark")
    settings["link_type"] = "dedupe_only"
    s_linker = Linker(sapi.register(nodes.to_pandas()), settings)
    spark_pairs = s_linker.inference.predict().as_pandas_dataframe()
    dapi = DuckDBAPI()
    d_settings = settings_for(model, "duckdb")
    d_settings["link_type"] = "dedupe_only"
    duck_pairs = Linker(dapi.register(nodes.to_arrow()), d_settings).inference.predict().as_pandas_dataframe()
    key = ["unique_id_l", "unique_id_r"]
    s = spark_pairs.sort_values(key)[key + ["match_weight"]].reset_index(drop=True)
    d = duck_pairs.sort_values(key)[key + ["match_weight"]].reset_index(drop=True)
    assert list(s["unique_id_l"]) == list(d["unique_id_l"]) and len(s) >= 1
    assert (abs(s["match_weight"] - d["match_weight"]) < 1e-6).all()


def test_a_small_delivery_blocks_on_one_name_on_spark_too(tmp_path):
    """The broad keys a small delivery affords (`model.broad_keys`) reach Spark's blocking:
    the pair only a block on the first name alone finds is scored there, with DuckDB's weight."""
    from reglink.engines.spark import spark_session
    from reglink.linkage import link_frames
    from reglink.linkage.inputs import standardise_minimal

    raw = pl.DataFrame({
        "record_id": ["1", "2", "3", "4"], "given_names": ["Robert", "Robert", "Grace", "Isla"],
        "surname": ["Allen", None, "Kelly", "Hall"],
        "date_of_birth": ["1971-06-24", "1972-08-24", "1997-04-26", "1985-02-07"],
        "locality": ["London", "London", "Hull", "Leeds"], "permit_kind": ["RESIDENCE"] * 4,
        "valid_from": ["2020-01-01"] * 4})
    std = {"permits": standardise_minimal("permits", raw)}
    cfg = config_from_mapping({"engine": "spark", "memory_limit": "2GB", "threads": 2,
                               "warehouse": "w.duckdb", "spark": {"master": "local[2]"}}, tmp_path)
    on_spark = link_frames(std, model_path=CONFIG_DIR / "model-v1.json", spark=spark_session(cfg),
                           spark_work=tmp_path / "work")
    on_duckdb = link_frames(std, model_path=CONFIG_DIR / "model-v1.json")
    assert on_spark.stats["blocking_broad_keys"] == on_duckdb.stats["blocking_broad_keys"] != []
    cols = ["node_l", "node_r", "match_weight"]
    s, d = (r.pairs.select(cols).sort("node_l", "node_r") for r in (on_spark, on_duckdb))
    assert s.height == d.height >= 1
    assert s.select("node_l", "node_r").equals(d.select("node_l", "node_r"))
    assert (s["match_weight"] - d["match_weight"]).abs().max() < 1e-6


def test_two_linkages_on_one_spark_session(tmp_path):
    """A Spark session may outlive one run (a scheduler's resource): a second linkage of the
    same registers on it scores the same pairs instead of finding the first run's input views."""
    from reglink.engines.spark import spark_session
    from reglink.linkage import link_frames
    from reglink.linkage.inputs import standardise_minimal

    raw = pl.DataFrame({"record_id": ["1", "2", "3"], "given_names": ["Anne", "Anne", "John"],
                        "surname": ["Martin", "Martin", "Smith"],
                        "date_of_birth": ["1980-05-17", "1980-05-17", "1950-01-02"],
                        "permit_kind": ["RESIDENCE"] * 3, "valid_from": ["2020-01-01"] * 3})
    std = {"permits": standardise_minimal("permits", raw)}
    cfg = config_from_mapping({"engine": "spark", "memory_limit": "2GB", "threads": 2,
                               "warehouse": "w.duckdb", "spark": {"master": "local[2]"}}, tmp_path)
    spark = spark_session(cfg)
    first, second = (link_frames(std, model_path=CONFIG_DIR / "model-v1.json", spark=spark,
                                 spark_work=tmp_path / f"work{k}") for k in (1, 2))
    assert first.person_links.sort("record_id").equals(second.person_links.sort("record_id"))
    assert first.person_links["person_key"].n_unique() == 2
