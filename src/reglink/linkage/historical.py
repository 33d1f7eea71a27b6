"""Splink's `historical_50k` (50,000 records of 5,156 historical persons from Wikidata with
heavy errors: typos, name variants, missing and wrong dates) as one permits extract, and the
example model the Splink authors publish for it (docs/demos/examples/duckdb/
deduplicate_50k_synthetic), to compare against.

The data is not shipped with Splink (it downloads it from the splink_datasets repository at
run time); `bench/bench_linkage.py --historical FILE` takes a local copy of
`historical_figures_with_errors_50k.parquet`. Nobody here generated it.
"""
from __future__ import annotations

import logging
from pathlib import Path

import polars as pl


def historical_extract(path: Path) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(permits extract in the canonical columns, truth[source, record_id, person_id], raw)."""
    raw = pl.read_parquet(path)
    permits = raw.select(
        pl.col("unique_id").alias("record_id"),
        pl.col("first_name").alias("given_names"),
        pl.col("surname"),
        pl.col("dob").cast(pl.String).alias("date_of_birth"),
        pl.col("gender").replace_strict({"male": "M", "female": "F"}, default=None).alias("sex"),
        pl.col("birth_place").alias("locality"),
        pl.col("postcode_fake").alias("postcode"),
        pl.lit("RESIDENCE").alias("permit_kind"),
        pl.lit("2020-01-01").alias("valid_from"),
    )
    truth = raw.select(pl.lit("permits").alias("source"), pl.col("unique_id").alias("record_id"),
                       pl.col("cluster").alias("person_id"))
    return permits, truth, raw


def splink_example_links(raw: pl.DataFrame, threshold: float = 0.95) -> pl.DataFrame:
    """The Splink authors' published example model for this data, trained on it without
    labels as they do, clustered at their threshold; (source, record_id, person_key)."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    rules = [
        block_on("substr(first_name,1,3)", "substr(surname,1,4)"),
        block_on("surname", "dob"),
        block_on("first_name", "dob"),
        block_on("postcode_fake", "first_name"),
        block_on("postcode_fake", "surname"),
        block_on("dob", "birth_place"),
        block_on("substr(postcode_fake,1,3)", "dob"),
        block_on("substr(postcode_fake,1,3)", "first_name"),
        block_on("substr(postcode_fake,1,3)", "surname"),
        block_on("substr(first_name,1,2)", "substr(surname,1,2)", "substr(dob,1,4)"),
    ]
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=rules,
        comparisons=[
            cl.ForenameSurnameComparison("first_name", "surname",
                                         forename_surname_concat_col_name="first_name_surname_concat"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.PostcodeComparison("postcode_fake"),
            cl.ExactMatch("birth_place").configure(term_frequency_adjustments=True),
            cl.ExactMatch("occupation").configure(term_frequency_adjustments=True),
        ],
    )
    df = raw.with_columns((pl.col("first_name") + " " + pl.col("surname")).alias("first_name_surname_concat"))
    db_api = DuckDBAPI()
    linker = Linker(db_api.register(df.to_arrow()), settings, log_level=logging.WARNING)
    tr = linker.training
    tr.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "dob"),
         block_on("substr(first_name,1,2)", "surname", "substr(postcode_fake,1,2)"),
         block_on("dob", "postcode_fake")], recall=0.6)
    tr.estimate_u_using_random_sampling(max_pairs=5e6)
    tr.estimate_parameters_using_expectation_maximisation(block_on("first_name", "surname"),
                                                          estimate_without_term_frequencies=True)
    tr.estimate_parameters_using_expectation_maximisation(block_on("dob"),
                                                          estimate_without_term_frequencies=True)
    pred = linker.inference.predict()
    cc = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, threshold_match_probability=threshold)
    out = cc.as_duckdbpyrelation().pl()
    return out.select(pl.lit("permits").alias("source"), pl.col("unique_id").cast(pl.String).alias("record_id"),
                      pl.col("cluster_id").cast(pl.String).alias("person_key"))
