"""repair_crossings: every kind of repair, its imputed date, the log, and that counts reconcile."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reglink.rules.engine import classify_crossings
from reglink.rules.repair import repair_crossings

D = dt.date


def frame(rows):
    return pl.DataFrame(rows, schema=["person_id", "direction", "crossing_date", "record_id"],
                        orient="row")


def test_missing_exit_imputed_at_midpoint_and_logged():
    # ENTRY day 0, ENTRY day 11: gap 11 → EXIT on day 0 + ceil(11/2) = day 6
    df = frame([("a", "ENTRY", D(2020, 1, 1), "r1"), ("a", "ENTRY", D(2020, 1, 12), "r2")])
    rep, log = repair_crossings(df)
    assert rep.select("direction", "crossing_date", "imputed", "record_id").rows() == [
        ("ENTRY", D(2020, 1, 1), False, "r1"), ("EXIT", D(2020, 1, 7), True, None),
        ("ENTRY", D(2020, 1, 12), False, "r2")]
    assert rep["crossing_seq"].to_list() == [0, 1, 2]
    assert log.select("kind", "imputed_date", "direction", "row", "record_id").rows() == [
        ("MISSING_EXIT", D(2020, 1, 7), "EXIT", 2, "r2")]


@pytest.mark.parametrize("impute,expected", [("midpoint", D(2020, 1, 3)), ("late", D(2020, 1, 4)),
                                             ("early", D(2020, 1, 1))])
def test_missing_entry_imputation_choices(impute, expected):
    df = frame([("b", "EXIT", D(2020, 1, 1), "r1"), ("b", "EXIT", D(2020, 1, 4), "r2")])
    rep, log = repair_crossings(df, impute=impute)
    assert rep.filter(pl.col("imputed")).select("direction", "crossing_date").rows() == [
        ("ENTRY", expected)]
    assert log["kind"].to_list() == ["MISSING_ENTRY"]


def test_one_day_gap_keeps_order_through_crossing_seq():
    # ENTRY day 0, ENTRY day 1: the imputed EXIT falls on day 1, before that day's ENTRY
    df = frame([("a", "ENTRY", D(2020, 1, 1), "r1"), ("a", "ENTRY", D(2020, 1, 2), "r2")])
    rep, _ = repair_crossings(df)
    assert rep.select("direction", "crossing_date").rows() == [
        ("ENTRY", D(2020, 1, 1)), ("EXIT", D(2020, 1, 2)), ("ENTRY", D(2020, 1, 2))]
    got = classify_crossings(rep, "6-12", observed_until=D(2021, 6, 1))
    assert got["direction"].to_list() == ["ENTRY", "EXIT", "ENTRY"]
    assert got["days_in"][0] == 365  # day 1: out then back in the same day, so in


def test_duplicates_and_after_death_removed_counts_reconcile():
    df = frame([("c", "ENTRY", D(2020, 5, 5), "r1"), ("c", "ENTRY", D(2020, 5, 5), "r2"),
                ("c", "EXIT", D(2020, 6, 5), "r3"), ("c", "ENTRY", D(2021, 1, 1), "r4"),
                ("d", "ENTRY", D(2020, 1, 1), "r5")])
    deaths = pl.DataFrame({"person_id": ["c"], "death_date": [D(2020, 12, 31)]})
    rep, log = repair_crossings(df, deaths=deaths)
    assert sorted(log["kind"].to_list()) == ["AFTER_DEATH", "DUPLICATE", "SAME_DAY_ORDER",
                                             "SAME_DAY_ORDER"]
    assert log.filter(pl.col("kind") == "AFTER_DEATH")["record_id"].to_list() == ["r4"]
    assert log.filter(pl.col("kind") == "DUPLICATE")["record_id"].to_list() == ["r2"]
    removed = log.filter(pl.col("kind").is_in(["AFTER_DEATH", "DUPLICATE"])).height
    assert df.height == rep.height - rep["imputed"].sum() + removed
    assert rep["record_id"].to_list() == ["r1", "r3", "r5"]
    # a crossing on the day of death is kept
    rep, log = repair_crossings(df, deaths=deaths.with_columns(pl.lit(D(2021, 1, 1)).alias("death_date")))
    assert "r4" in rep["record_id"].to_list()


def test_same_day_order_logged_only_without_order_column():
    df = frame([("e", "EXIT", D(2020, 1, 1), "r1"), ("e", "ENTRY", D(2020, 1, 1), "r2")])
    _, log = repair_crossings(df)
    assert log["kind"].to_list() == ["SAME_DAY_ORDER", "SAME_DAY_ORDER"]
    _, log = repair_crossings(df.with_columns(pl.Series("sequence", [2, 1])))
    assert log.height == 0


@st.composite
def messy(draw):
    rows = []
    for p in range(draw(st.integers(1, 4))):
        d = D(2020, 1, 1)
        for i in range(draw(st.integers(1, 9))):
            d += dt.timedelta(days=draw(st.integers(0, 90)))
            rows.append((f"p{p}", draw(st.sampled_from(["ENTRY", "EXIT"])), d, f"r{p}-{i}"))
    return rows


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=messy())
def test_repaired_sequences_alternate_and_reconcile(rows):
    df = frame(rows)
    rep, log = repair_crossings(df)
    # every person's repaired sequence alternates ENTRY/EXIT
    for _, g in rep.sort("person_id", "crossing_seq").group_by("person_id"):
        dirs = g["direction"].to_list()
        assert all(a != b for a, b in zip(dirs, dirs[1:])), dirs
        assert g["crossing_date"].is_sorted()
    removed = log.filter(pl.col("kind").is_in(["AFTER_DEATH", "DUPLICATE"])).height
    assert df.height == rep.height - rep["imputed"].sum() + removed
    assert rep["imputed"].sum() == log.filter(pl.col("kind").str.starts_with("MISSING")).height
    # no input row lost: every record id is kept or logged as removed
    kept = set(rep["record_id"].drop_nulls())
    gone = set(log.filter(pl.col("kind").is_in(["AFTER_DEATH", "DUPLICATE"]))["record_id"])
    assert kept | gone == set(df["record_id"]) and not kept & gone


def test_duration_imputation_uses_own_typical_stay_and_absence():
    # complete stays of 10, 14 and 11 days (median 11), absences of 100 and 200 (median 150)
    rows = [("v", "ENTRY", D(2020, 1, 1), "r1"), ("v", "EXIT", D(2020, 1, 11), "r2"),
            ("v", "ENTRY", D(2020, 4, 20), "r3"), ("v", "EXIT", D(2020, 5, 4), "r4"),
            ("v", "ENTRY", D(2020, 11, 20), "r5"),            # its exit was lost
            ("v", "ENTRY", D(2022, 11, 20), "r6"), ("v", "EXIT", D(2022, 12, 1), "r7"),
            ("v", "EXIT", D(2023, 2, 1), "r8")]               # and the entry between these two
    rep, log = repair_crossings(frame(rows), impute="duration")
    imp = rep.filter(pl.col("imputed")).select("direction", "crossing_date").rows()
    # 11-day stay after 2020-11-20; absence capped by the next crossing (62 days < 150)
    assert imp == [("EXIT", D(2020, 12, 1)), ("ENTRY", D(2023, 2, 1))]
    # the midpoint would have kept the visitor in for a year: an immigration that never was
    mid, _ = repair_crossings(frame(rows), impute="midpoint")
    assert mid.filter(pl.col("imputed"))["crossing_date"][0] == D(2021, 11, 20)
    ev_dur = classify_crossings(rep, "12-16", observed_until=D(2023, 6, 1))
    ev_mid = classify_crossings(mid, "12-16", observed_until=D(2023, 6, 1))
    assert ev_dur["is_migration"].sum() == 0 and ev_mid["is_migration"].sum() > 0


def test_duration_imputation_falls_back_to_the_pooled_median():
    # w has no complete spell; visitors who started outside stayed 5, 7 and 9 days (median 7)
    rows = [("a", "ENTRY", D(2020, 1, 1), "a1"), ("a", "EXIT", D(2020, 1, 6), "a2"),
            ("b", "ENTRY", D(2020, 1, 1), "b1"), ("b", "EXIT", D(2020, 1, 8), "b2"),
            ("c", "ENTRY", D(2020, 1, 1), "c1"), ("c", "EXIT", D(2020, 1, 10), "c2"),
            ("w", "ENTRY", D(2021, 1, 1), "w1"), ("w", "ENTRY", D(2022, 1, 1), "w2")]
    rep, log = repair_crossings(frame(rows), impute="duration")
    assert rep.filter(pl.col("imputed"))["crossing_date"].to_list() == [D(2021, 1, 8)]
    assert log.filter(pl.col("kind") == "MISSING_EXIT")["reason"][0].endswith("(duration)")
    # proportional: pooled share of days in for those who started outside: 21 / 21 = 1 (only
    # stays are complete) → w stays the whole gap
    rep, _ = repair_crossings(frame(rows))
    assert rep.filter(pl.col("imputed"))["crossing_date"].to_list() == [D(2022, 1, 1)]


def test_proportional_imputation_splits_the_gap_in_the_persons_own_proportion():
    # v: stays of 10 and 30 days, absences of 100 and 260: share in = 40 / 400 = 0.1
    rows = [("v", "ENTRY", D(2020, 1, 1), "r1"), ("v", "EXIT", D(2020, 1, 11), "r2"),
            ("v", "ENTRY", D(2020, 4, 20), "r3"), ("v", "EXIT", D(2020, 5, 20), "r4"),
            ("v", "ENTRY", D(2021, 2, 4), "r5"),     # lost exit; next entry 1,000 days later
            ("v", "ENTRY", D(2023, 11, 1), "r6")]
    rep, log = repair_crossings(frame(rows))
    # 2021-02-04 + 0.1 × 1000 = 100 days → 2021-05-15 (the midpoint would be 500 days)
    assert rep.filter(pl.col("imputed"))["crossing_date"].to_list() == [D(2021, 5, 15)]
    assert log["reason"].to_list()[0].endswith("(proportional)")


def test_commuter_lost_same_day_return_is_imputed_and_reorders_later_days():
    # a day-tripper crosses in and out every day; on day 4 the exit record is lost. Without the
    # repair every later same-day pair is read EXIT-then-ENTRY (the person "inside") and the
    # day-tripper looks present every day.
    rows = []
    for k in range(10):
        rows.append(("c", "ENTRY", D(2021, 1, 1) + dt.timedelta(days=k), f"e{k}"))
        if k != 4:
            rows.append(("c", "EXIT", D(2021, 1, 1) + dt.timedelta(days=k), f"x{k}"))
    df = frame(rows)
    until = D(2022, 6, 1)
    assert classify_crossings(df, "6-12", observed_until=until)["days_in"].max() > 300
    rep, log = repair_crossings(df)
    fixes = log.filter(pl.col("kind") != "SAME_DAY_ORDER")
    assert fixes.select("kind", "imputed_date", "direction", "record_id").rows() == [
        ("MISSING_SAME_DAY", D(2021, 1, 5), "EXIT", "e4")]
    got = classify_crossings(rep, "6-12", observed_until=until)
    assert got["days_in"].max() == 0 and got["is_migration"].sum() == 0
    assert got["direction"].to_list() == ["ENTRY", "EXIT"] * 10


def test_commuter_whose_first_return_was_lost_is_repaired_at_the_edge():
    # the very first day's exit is lost: no days before it, the run after is enough
    rows = [("c", "ENTRY", D(2021, 1, 1), "e0")]
    for k in range(1, 8):
        day = D(2021, 1, 1) + dt.timedelta(days=k)
        rows += [("c", "ENTRY", day, f"e{k}"), ("c", "EXIT", day, f"x{k}")]
    rep, log = repair_crossings(frame(rows))
    fixes = log.filter(pl.col("kind") != "SAME_DAY_ORDER")
    assert fixes.select("kind", "imputed_date", "direction").rows() == [("MISSING_SAME_DAY", D(2021, 1, 1), "EXIT")]
    got = classify_crossings(rep, "6-12", observed_until=D(2022, 6, 1))
    assert got["days_in"].max() == 0 and got["direction"].to_list() == ["ENTRY", "EXIT"] * 8


def test_declared_residence_orders_a_same_day_pair():
    """One ENTRY and one EXIT on a day, both declaring AUS residence: with `home` the ENTRY comes
    first (a day visit from abroad) even where alternation, misled by a lost exit two days
    earlier, would read EXIT first; declaring NZL: EXIT first. Logged either way."""
    def rows(cor):
        return pl.DataFrame(
            [("v", "ENTRY", D(2021, 3, 1), "a", cor), ("v", "EXIT", D(2021, 3, 3), "b", cor),
             ("v", "ENTRY", D(2021, 3, 3), "c", cor)],
            schema=["person_id", "direction", "crossing_date", "record_id", "country_of_residence"],
            orient="row")
    plain, _ = repair_crossings(rows("AUS"))
    assert plain.filter(pl.col("crossing_date") == D(2021, 3, 3))["direction"].to_list() == ["EXIT", "ENTRY"]
    rep, log = repair_crossings(rows("AUS"), home="NZL")
    day = rep.filter(pl.col("crossing_date") == D(2021, 3, 3), ~pl.col("imputed"))
    assert day["direction"].to_list() == ["ENTRY", "EXIT"]
    assert log.filter(kind="SAME_DAY_ORDER")["reason"].str.contains("declared country").all()
    # the earlier entry now lacks its exit: imputed between 1 and 3 March
    assert log.filter(kind="MISSING_EXIT").height == 1
    rep, _ = repair_crossings(rows("NZL"), home="NZL")
    day = rep.filter(pl.col("crossing_date") == D(2021, 3, 3), ~pl.col("imputed"))
    assert day["direction"].to_list() == ["EXIT", "ENTRY"]
