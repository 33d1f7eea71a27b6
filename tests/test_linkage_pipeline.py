"""`link_persons(cfg)` store to store: what it writes where, and that nothing identifying
reaches the warehouse."""
from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from reglink import store
from reglink.config import config_from_mapping
from reglink.errors import ReglinkError
from reglink.linkage import link_persons
from reglink.linkage.inputs import extracts_in, std_frames_from_extracts
from reglink.linkage.pipeline import CONFIG_DIR


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from reglink.synth.generate import generate

    base = tmp_path_factory.mktemp("linkpipe")
    generate(base / "world", persons=250, years=6, seed=5)
    cfg = config_from_mapping({"warehouse": "wh.duckdb",
                               "linkage": {"model": str(CONFIG_DIR / "model-v1.json"),
                                           "review_band": [0.01, 0.999], "review_sample": 25}},
                               base)
    std = std_frames_from_extracts(extracts_in(base / "world"))
    rs = store.connect(cfg.restricted_path)
    for source, frame in std.items():  # the layout ingest_all leaves behind
        store.write_table(rs, f"std_{source}", frame.to_arrow())
    rs.close()
    first = link_persons(cfg)
    return cfg, std, first


def _tables(path: Path) -> dict[str, pl.DataFrame]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='main'").fetchall()]
        return {n: con.sql(f'SELECT * FROM "{n}"').pl() for n in names}
    finally:
        con.close()


def test_outputs_in_the_right_store(run):
    cfg, std, first = run
    wh = _tables(cfg.warehouse)
    assert {"person_links", "linkage_key_map", "quality_linkage_match_weights",
            "quality_linkage_parameters", "quality_linkage_clusters", "quality_linkage_unlinked",
            "quality_linkage_summary"} <= set(wh)
    links = wh["person_links"]
    assert links.columns[:4] == ["source", "record_id", "person_key", "match_probability"]
    assert links.height == sum(f.height for f in std.values())
    assert links.select("source", "record_id").n_unique() == links.height
    unlinked = wh["quality_linkage_unlinked"]
    assert unlinked["records"].sum() == links.height
    clusters = wh["quality_linkage_clusters"]
    assert (clusters["records_per_person"] * clusters["persons"]).sum() == links.height
    summary = dict(zip(wh["quality_linkage_summary"]["metric"], wh["quality_linkage_summary"]["value"]))
    assert 0 <= summary["expected_false_match_rate"] < 0.01
    assert 0 <= summary["expected_missed_match_rate"] < 0.2
    assert summary["persons"] == links["person_key"].n_unique()
    rs = _tables(cfg.restricted_path)
    review = rs["linkage_review"]
    in_band = rs["linkage_pairs"].filter(pl.col("match_probability").is_between(0.01, 0.999)).height
    assert review.height == min(25, in_band) > 0 and "linkage_review" not in wh
    assert review["match_probability"].is_between(0.01, 0.999).all()
    assert {"given_names_std_l", "surname_std_r", "dob_text_l"} <= set(review.columns)


def test_expected_linkage_error_per_citizenship_reconciles(run):
    """quality_linkage_by_citizenship: every person counted once, in a group of at least
    BY_GROUP_MIN_PERSONS or in "other", and its expected errors add up to the summary's
    expected share of persons exactly recovered."""
    from reglink.linkage.quality import BY_GROUP_MIN_PERSONS

    cfg, _, _ = run
    wh = _tables(cfg.warehouse)
    by = wh["quality_linkage_by_citizenship"]
    summary = dict(zip(wh["quality_linkage_summary"]["metric"], wh["quality_linkage_summary"]["value"]))
    assert by["persons"].sum() == summary["persons"] == wh["person_links"]["person_key"].n_unique()
    assert abs(by["expected_not_exact"].sum() / by["persons"].sum()
               - (1 - summary["expected_exact_share"])) < 1e-9
    assert by.filter((pl.col("persons") < BY_GROUP_MIN_PERSONS) & (pl.col("citizenship") != "other")).height == 0
    assert by["expected_not_exact_share"].is_between(0, 1).all() and by.height >= 2
    assert by["expected_not_exact_share"].to_list() == sorted(by["expected_not_exact_share"], reverse=True)


def test_no_identifier_in_any_warehouse_table(run):
    cfg, std, _ = run
    con = store.connect(cfg.warehouse, read_only=True)
    store.assert_no_identifiers(con)  # no identifier column
    con.close()
    # ... and no identifier value hiding in another column
    ident_cols = ("given_names", "surname", "given_names_std", "surname_std", "full_name_std",
                  "document_number", "document_number_std", "person_number", "case_number",
                  "permit_number", "address", "address_std", "date_of_birth_raw")
    secrets: set[str] = set()
    for f in std.values():
        for c in ident_cols:
            if c in f.columns:
                secrets |= set(f[c].drop_nulls().cast(pl.String).to_list())
        if "date_of_birth" in f.columns:
            secrets |= set(f["date_of_birth"].drop_nulls().cast(pl.String).to_list())
    secrets = {s for s in secrets if len(s) >= 3}
    assert len(secrets) > 500
    for name, frame in _tables(cfg.warehouse).items():
        for c, dtype in frame.schema.items():
            if dtype in (pl.String, pl.Date):
                leaked = set(frame[c].drop_nulls().cast(pl.String).unique().to_list()) & secrets
                assert not leaked, f"{name}.{c} holds identifiers: {sorted(leaked)[:5]}"


def test_rerun_keeps_every_key_and_reuses_model(run):
    cfg, _, first = run
    again = link_persons(cfg)
    assert not again.trained
    assert again.stats["key_kept_share"] == 1.0
    assert again.stats["key_previous_records"] == first.stats["records"] > 0  # read from the warehouse
    wh = _tables(cfg.warehouse)
    assert wh["quality_linkage_keys"]["kept_share"][0] == 1.0


def test_missing_store_is_one_clear_error(tmp_path):
    cfg = config_from_mapping({"warehouse": "nothing.duckdb"}, tmp_path)
    with pytest.raises(ReglinkError, match="restricted store not found"):
        link_persons(cfg)


def test_parquet_std_tables_are_linked_with_the_pipelines_columns(run, tmp_path):
    """The linkage benchmark keeps std tables as Parquet; it must read what a run reads (the
    population register's own number and registration dates too), or it measures a weaker
    linkage than users get."""
    from reglink.linkage.pipeline import parquet_relations, std_relations

    cfg, std, _ = run
    for source, frame in std.items():
        frame.write_parquet(tmp_path / f"{source}.parquet")
    con = duckdb.connect()
    try:
        pipeline = {s: cols for s, (_, cols) in std_relations(con, cfg.restricted_path).items()}
    finally:
        con.close()
    bench = {s: cols for s, (_, cols) in parquet_relations(tmp_path).items()}
    assert bench == pipeline
    assert {"person_number", "registration_date", "deregistration_date"} <= set(bench["population_register"])
