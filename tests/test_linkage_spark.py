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
