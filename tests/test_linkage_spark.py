"""The same trained model on Splink's Spark backend (docs/linkage.md, "Beyond one machine").
Runs only where pyspark and Java are installed (`uv sync --extra spark`); skipped otherwise."""
from __future__ import annotations

import pytest

pyspark = pytest.importorskip("pyspark")

import polars as pl  # noqa: E402

from reglink.linkage.link import NODE_FIELDS  # noqa: E402
from reglink.linkage.model import settings_for  # noqa: E402
from reglink.linkage.pipeline import CONFIG_DIR  # noqa: E402
from reglink.linkage.prepare import add_derived, align  # noqa: E402

pytestmark = pytest.mark.spark


def test_saved_model_scores_the_same_pairs_on_spark():
    from pyspark.sql import SparkSession
    from splink import DuckDBAPI, Linker, SparkAPI

    std = pl.DataFrame({
        "record_id": ["1", "2", "3"], "given_names_std": ["ANNE", "ANNE", "JOHN"],
        "surname_std": ["MARTIN", "MARTIN", "SMITH"], "full_name_std": ["ANNE MARTIN"] * 2 + ["JOHN SMITH"],
        "dob_year": [1980, 1980, 1950], "dob_month": [5, 5, 1], "dob_day": [17, 17, 2],
        "sex": ["F", "F", "M"], "citizenship": ["FRA", "FRA", "GBR"]})
    nodes = add_derived(align("permits", std)).with_columns(
        pl.format("n{}", pl.col("record_id")).alias("unique_id")).select("unique_id", *NODE_FIELDS)
    model = CONFIG_DIR / "model-v1.json"

    spark = SparkSession.builder.master("local[1]").appName("reglink-test").getOrCreate()
    try:
        sapi = SparkAPI(spark_session=spark)
        settings = settings_for(model, "spark")
        settings["link_type"] = "dedupe_only"
        s_linker = Linker(sapi.register(nodes.to_pandas()), settings)
        spark_pairs = s_linker.inference.predict().as_pandas_dataframe()
    finally:
        spark.stop()
    dapi = DuckDBAPI()
    d_settings = settings_for(model, "duckdb")
    d_settings["link_type"] = "dedupe_only"
    duck_pairs = Linker(dapi.register(nodes.to_arrow()), d_settings).inference.predict().as_pandas_dataframe()
    key = ["unique_id_l", "unique_id_r"]
    s = spark_pairs.sort_values(key)[key + ["match_weight"]].reset_index(drop=True)
    d = duck_pairs.sort_values(key)[key + ["match_weight"]].reset_index(drop=True)
    assert list(s["unique_id_l"]) == list(d["unique_id_l"]) and len(s) >= 1
    assert (abs(s["match_weight"] - d["match_weight"]) < 1e-6).all()
