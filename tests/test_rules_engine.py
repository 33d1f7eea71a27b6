"""Hand-worked cases for every preset, worked from docs/reference.md#residence-rules by counting days.

Conventions: an entry on day a and an exit on day b mean present on a … b−1; the window of a
crossing on day t is t … t+W−1. Each case states its arithmetic.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from reglink.errors import ReglinkError
from reglink.rules import PRESETS
from reglink.rules.engine import classify_crossings, derive_events

T = dt.date(2021, 3, 1)
FAR = dt.date(2030, 1, 1)


def d(days: int, base: dt.date = T) -> dt.date:
    return base + dt.timedelta(days=days)


def run(seq, rule, until=FAR, **kw) -> pl.DataFrame:
    """seq: [(direction, date)] for one person p."""
    df = pl.DataFrame({"person_id": ["p"] * len(seq), "direction": [s[0] for s in seq],
                       "crossing_date": [s[1] for s in seq]})
    return classify_crossings(df, rule, observed_until=until, **kw)


def events(seq, rule, until=FAR, **kw) -> list[tuple[str, dt.date, bool]]:
    got = run(seq, rule, until, **kw).filter(pl.col("is_migration"))
    return list(zip(got["event_type"], got["crossing_date"], got["provisional"]))


# ---------- 12-16: W = 487, N = 365 (W − N = 122) ----------

def test_12_16_exactly_365_days_in_is_immigration():
    # entry day 0, exit day 365: present days 0..364 = 365 days
    got = run([("ENTRY", d(0)), ("EXIT", d(365))], "12-16")
    assert got["days_in"][0] == 365 and got["days_out"][0] == 122
    assert events([("ENTRY", d(0)), ("EXIT", d(365))], "12-16") == [
        ("IMMIGRATION", d(0), False), ("EMIGRATION", d(365), False)]


def test_12_16_one_day_short_is_not():
    # exit day 364: present 0..363 = 364 days; the exit of a non-resident is no emigration
    got = run([("ENTRY", d(0)), ("EXIT", d(364))], "12-16")
    assert got["days_in"][0] == 364
    assert events([("ENTRY", d(0)), ("EXIT", d(364))], "12-16") == []


def test_12_16_exactly_122_days_out_in_window_still_immigration():
    # in 0..199 (200), out 200..321 (122), in 322..486 (165): 365 in → immigration
    seq = [("ENTRY", d(0)), ("EXIT", d(200)), ("ENTRY", d(322))]
    got = run(seq, "12-16")
    assert (got["days_in"][0], got["days_out"][0]) == (365, 122)
    assert events(seq, "12-16") == [("IMMIGRATION", d(0), False)]
    # one more day out (re-entry day 323): 364 in, 123 out → not; the re-entry opens a new
    # window (323..809, all in) → immigration on day 323
    seq = [("ENTRY", d(0)), ("EXIT", d(200)), ("ENTRY", d(323))]
    assert events(seq, "12-16") == [("IMMIGRATION", d(323), False)]


def test_12_16_emigration_boundaries():
    # first crossing EXIT → RESIDENT before; out 0..364 = 365 → emigration
    # (then the return, present until FAR, is an immigration)
    assert events([("EXIT", d(0)), ("ENTRY", d(365))], "12-16") == [
        ("EMIGRATION", d(0), False), ("IMMIGRATION", d(365), False)]
    assert events([("EXIT", d(0)), ("ENTRY", d(364))], "12-16") == []
    # out 200, in 122, out 165 → 365 out → emigration; in 123 → not
    assert events([("EXIT", d(0)), ("ENTRY", d(200)), ("EXIT", d(322))], "12-16")[0] == \
        ("EMIGRATION", d(0), False)
    assert events([("EXIT", d(0)), ("ENTRY", d(200)), ("EXIT", d(323))], "12-16") == \
        [("EMIGRATION", d(323), False)]


def test_12_16_returning_resident_and_temporary_trips():
    # a resident's holiday (EXIT then ENTRY 20 days later) changes nothing; a tourist's visit too
    seq = [("EXIT", d(0)), ("ENTRY", d(20)), ("EXIT", d(400)), ("ENTRY", d(430))]
    got = run(seq, "12-16")
    assert got["is_migration"].sum() == 0
    assert got["status_after"].to_list() == ["RESIDENT"] * 4
    # emigrate (out 500 days), come back for good: EMIGRATION then IMMIGRATION
    seq = [("EXIT", d(0)), ("ENTRY", d(500))]
    assert events(seq, "12-16") == [("EMIGRATION", d(0), False), ("IMMIGRATION", d(500), False)]


# ---------- 6-12: W = 365, N = 183 (W − N = 182) ----------

def test_6_12_boundaries_and_29_february():
    # 2020 is a leap year: 1 Jan .. 1 Jul 2020 is 31+29+31+30+31+30+1 = 183 days
    leap = dt.date(2020, 1, 1)
    assert events([("ENTRY", leap), ("EXIT", dt.date(2020, 7, 2))], "6-12")[0] == \
        ("IMMIGRATION", leap, False)
    assert events([("ENTRY", leap), ("EXIT", dt.date(2020, 7, 1))], "6-12") == []
    # the same calendar dates in 2021 (no 29 February) give 182 days: not a migration
    assert events([("ENTRY", dt.date(2021, 1, 1)), ("EXIT", dt.date(2021, 7, 2))], "6-12") == []
    # the window itself spans 29 February: entry 2019-03-01, window 2019-03-01 .. 2020-02-28
    got = run([("ENTRY", dt.date(2019, 3, 1)), ("EXIT", dt.date(2019, 8, 31)),
               ("ENTRY", dt.date(2020, 2, 29))], "6-12", until=FAR)
    # in 2019-03-01..2019-08-30 = 183 days, out 2019-08-31..2020-02-28 = 182 days
    assert (got["days_in"][0], got["days_out"][0]) == (183, 182)
    assert got["is_migration"][0]


def test_6_12_exactly_182_days_on_the_other_side():
    seq = [("ENTRY", d(0)), ("EXIT", d(100)), ("ENTRY", d(282))]  # out 182 → in 183
    assert run(seq, "6-12")["is_migration"][0]
    seq = [("ENTRY", d(0)), ("EXIT", d(100)), ("ENTRY", d(283))]  # out 183 → in 182
    assert not run(seq, "6-12")["is_migration"][0]


# ---------- 9-12: W = 365, N = 270 (W − N = 95) ----------

def test_9_12_boundaries():
    assert events([("ENTRY", d(0)), ("EXIT", d(270))], "9-12")[0][0] == "IMMIGRATION"
    assert events([("ENTRY", d(0)), ("EXIT", d(269))], "9-12") == []
    # out 95 → in 270 → migration; out 96 → not
    assert run([("ENTRY", d(0)), ("EXIT", d(50)), ("ENTRY", d(145))], "9-12")["is_migration"][0]
    assert not run([("ENTRY", d(0)), ("EXIT", d(50)), ("ENTRY", d(146))], "9-12")["is_migration"][0]
    # emigration mirror: resident out 270 days
    assert events([("EXIT", d(0)), ("ENTRY", d(270))], "9-12")[0] == ("EMIGRATION", d(0), False)
    assert events([("EXIT", d(0)), ("ENTRY", d(269))], "9-12") == []


# ---------- 12-12: continuous, N = 365, A = 30 ----------

def test_12_12_continuous_stay_with_short_absences():
    # present 0..364 with an absence of exactly 30 days inside (days 100..129): the absence does
    # not break the stay and counts towards N → 365 days → immigration
    seq = [("ENTRY", d(0)), ("EXIT", d(100)), ("ENTRY", d(130)), ("EXIT", d(365))]
    got = run(seq, "12-12")
    assert got["days_counted"][0] == 365 and got["is_migration"][0]
    # a 31-day absence breaks it: stay 0..99 = 100 days; the re-entry's stay 131..364 = 234
    seq = [("ENTRY", d(0)), ("EXIT", d(100)), ("ENTRY", d(131)), ("EXIT", d(365))]
    got = run(seq, "12-12")
    assert got["days_counted"].to_list()[0] == 100 and got["is_migration"].sum() == 0
    # a plain stay of 364 days is one short
    assert events([("ENTRY", d(0)), ("EXIT", d(364))], "12-12") == []
    # W plays no part: 365 continuous days, cumulative 12-16 would also accept 365-in-487 with a
    # long break, continuous does not
    seq = [("ENTRY", d(0)), ("EXIT", d(200)), ("ENTRY", d(300)), ("EXIT", d(465))]
    assert run(seq, "12-16")["is_migration"][0] and not run(seq, "12-12")["is_migration"][0]


def test_12_12_continuous_emigration_with_short_visits():
    # resident leaves day 0, visits home for 30 days (200..229), away again until day 400
    # (the return on day 400 and stay until FAR is an immigration)
    seq = [("EXIT", d(0)), ("ENTRY", d(200)), ("EXIT", d(230)), ("ENTRY", d(400))]
    assert events(seq, "12-12") == [("EMIGRATION", d(0), False), ("IMMIGRATION", d(400), False)]
    seq = [("EXIT", d(0)), ("ENTRY", d(200)), ("EXIT", d(231)), ("ENTRY", d(400))]
    assert events(seq, "12-12") == []


def test_12_12_censoring():
    # open stay of 100 days at U: undecided → not a migration, provisional
    got = run([("ENTRY", d(0))], "12-12", until=d(99))
    assert not got["is_migration"][0] and got["provisional"][0]
    # 365 days seen: final, even though data end there
    got = run([("ENTRY", d(0))], "12-12", until=d(364))
    assert got["is_migration"][0] and not got["provisional"][0]
    # left after 100 days; 30 days of absence seen — a return could still bridge: undecided
    assert run([("ENTRY", d(0)), ("EXIT", d(100))], "12-12", until=d(129))["provisional"][0]
    # 31 days of absence seen: the stay is closed at 100 days: final, not a migration
    got = run([("ENTRY", d(0)), ("EXIT", d(100))], "12-12", until=d(130))
    assert not got["provisional"][0] and not got["is_migration"][0]


# ---------- censoring and evidence (cumulative) ----------

def test_censoring_final_and_provisional():
    # 365 days seen in the country: final immigration before the window ends
    got = run([("ENTRY", d(0))], "12-16", until=d(364))
    assert got["is_migration"][0] and got["decided"][0]
    # 364 days seen: undecided; without evidence not a migration (provisional)
    got = run([("ENTRY", d(0))], "12-16", until=d(363))
    assert not got["is_migration"][0] and got["provisional"][0] and got["days_observed"][0] == 364
    # 123 days out seen → 365 in is impossible: final "no", window not yet over
    got = run([("ENTRY", d(0)), ("EXIT", d(10))], "12-16", until=d(132))
    assert got["decided"].to_list() == [True, True] and not got["is_migration"][0]
    got = run([("ENTRY", d(0)), ("EXIT", d(10))], "12-16", until=d(131))
    assert got["provisional"][0]


def test_provisional_from_evidence():
    seq = [("ENTRY", d(0))]
    df = pl.DataFrame({"person_id": ["p"], "direction": ["ENTRY"], "crossing_date": [d(0)],
                       "travel_reason": ["SETTLE"]})
    got = classify_crossings(df, "12-16", observed_until=d(50))
    assert got["is_migration"][0] and got["provisional"][0] and got["intent_evidence"][0]
    # a permit valid for N days from the crossing (days 0..364) supports it; N−1 days does not
    permit = pl.DataFrame({"person_id": ["p"], "valid_from": [d(-10)], "valid_to": [d(364)]})
    got = run(seq, "12-16", until=d(50), evidence=permit)
    assert got["is_migration"][0] and got["provisional"][0]
    short = permit.with_columns(pl.lit(d(363)).alias("valid_to"))
    assert not run(seq, "12-16", until=d(50), evidence=short)["is_migration"][0]
    # evidence never overrides a final decision
    got = run([("ENTRY", d(0)), ("EXIT", d(10))], "12-16", until=d(200), evidence=permit)
    assert not got["is_migration"][0] and got["decided"][0]
    # status after a provisional immigration is RESIDENT: a later long absence is an emigration
    tr = pl.DataFrame({"person_id": ["p"], "evidence_type": ["TRAVEL_REASON"],
                       "evidence_date": [d(0)], "travel_reason": ["RETURN_HOME"]})
    got = run([("ENTRY", d(0))], "6-12", until=d(20), evidence=tr)
    assert got["status_after"][0] == "RESIDENT" and got["provisional"][0]


def test_provisional_status_makes_later_crossings_provisional():
    # entry day 0 undecided at U; exit day 5, absent to U = 40: cumulative 6-12
    tr = pl.DataFrame({"person_id": ["p"], "evidence_type": ["TRAVEL_REASON"], "evidence_date": [d(0)]})
    got = run([("ENTRY", d(0)), ("EXIT", d(5))], "6-12", until=d(40), evidence=tr)
    assert got["provisional"].to_list() == [True, True]


# ---------- initial status, same-day ordering ----------

def test_initial_status_overrides_default():
    seq = [("ENTRY", d(0)), ("EXIT", d(400))]
    ini = pl.DataFrame({"person_id": ["p"], "initial_status": ["RESIDENT"]})
    got = run(seq, "12-16", initial_status=ini)
    # a resident coming home is no immigration; leaving for good after is an emigration
    assert got["status_before"][0] == "RESIDENT"
    assert events(seq, "12-16", initial_status=ini) == [("EMIGRATION", d(400), False)]
    # default: first crossing ENTRY → NON_RESIDENT before
    assert events(seq, "12-16")[0] == ("IMMIGRATION", d(0), False)
    with pytest.raises(ReglinkError, match="initial_status"):
        run(seq, "12-16", initial_status=ini.with_columns(pl.lit("VISITOR").alias("initial_status")))


def test_same_day_crossings_zero_days_and_alternation():
    # a day trip (ENTRY, EXIT on one day) counts 0 days in; file order EXIT, ENTRY is fixed
    # by alternation for someone outside (ENTRY first)
    df = pl.DataFrame({"person_id": ["p", "p"], "direction": ["EXIT", "ENTRY"],
                       "crossing_date": [d(0), d(0)]})
    got = classify_crossings(df, "6-12", observed_until=FAR)
    assert got["direction"].to_list() == ["ENTRY", "EXIT"]
    assert got["days_in"][0] == 0 and got["is_migration"].sum() == 0
    # someone inside (an earlier entry) who leaves and returns the same day: EXIT first
    df = pl.DataFrame({"person_id": ["p"] * 3, "direction": ["ENTRY", "ENTRY", "EXIT"],
                       "crossing_date": [d(0), d(50), d(50)]})
    got = classify_crossings(df, "6-12", observed_until=FAR)
    assert got["direction"].to_list() == ["ENTRY", "EXIT", "ENTRY"]
    assert got["is_migration"].to_list() == [True, False, False]
    # an explicit crossing_time wins over alternation
    df = pl.DataFrame({"person_id": ["p"] * 3, "direction": ["ENTRY", "ENTRY", "EXIT"],
                       "crossing_date": [d(0), d(50), d(50)],
                       "crossing_time": ["08:00", "09:00", "18:00"]})
    got = classify_crossings(df, "6-12", observed_until=FAR)
    assert got["direction"].to_list() == ["ENTRY", "ENTRY", "EXIT"]


def same_day(persons: dict[str, list[tuple[str, dt.date]]]) -> pl.DataFrame:
    return pl.DataFrame([(p, x, dd) for p, seq in persons.items() for x, dd in seq],
                        schema=["person_id", "direction", "crossing_date"], orient="row")


def test_supplied_initial_status_orders_same_day_crossings():
    from reglink.rules.repair import repair_crossings

    # r: resident who leaves and returns on day 0, file order ENTRY then EXIT. A resident is in
    # the country, so the EXIT comes first: 0 days away, nothing happens. Without the supplied
    # status the person is taken to be outside (ENTRY first) and the EXIT would open an absence
    # lasting to FAR: an emigration. v: a non-resident's day visit, file order EXIT then ENTRY.
    df = same_day({"r": [("ENTRY", d(0)), ("EXIT", d(0))], "v": [("EXIT", d(0)), ("ENTRY", d(0))]})
    ini = pl.DataFrame({"person_id": ["r", "v"], "initial_status": ["RESIDENT", "NON_RESIDENT"]})
    repaired, _ = repair_crossings(df)  # as `reglink events` does: the repair knows no status
    for frame in (df, repaired):
        got = classify_crossings(frame, "12-16", observed_until=FAR, initial_status=ini)
        assert got.filter(pl.col("person_id") == "r")["direction"].to_list() == ["EXIT", "ENTRY"]
        assert got.filter(pl.col("person_id") == "v")["direction"].to_list() == ["ENTRY", "EXIT"]
        assert not got["is_migration"].any()
        assert derive_events(frame, "12-16", observed_until=FAR, initial_status=ini).height == 0
    got = classify_crossings(repaired, "12-16", observed_until=FAR, initial_status=ini)
    assert got.filter(pl.col("person_id") == "r")["crossing_seq"].to_list() == [0, 1]  # renumbered
    # without a supplied status both are taken to be outside before: an ENTRY first
    assert classify_crossings(df, "12-16", observed_until=FAR)["direction"].to_list() == \
        ["ENTRY", "EXIT", "ENTRY", "EXIT"]


def test_initial_status_orders_every_leading_same_day_return_and_only_those():
    from reglink.rules.repair import repair_crossings

    # resident: returns on days 0 and 3 (balanced days), then leaves on day 200 and comes back
    # on day 700. Days 0 and 3 start inside: EXIT first; day 200 is unchanged. (The day-0 exit's
    # window 0..486 holds 287 days out: no emigration; day 200's holds 487.)
    seq = [("ENTRY", d(0)), ("EXIT", d(0)), ("ENTRY", d(3)), ("EXIT", d(3)), ("EXIT", d(200)),
           ("ENTRY", d(700))]
    ini = pl.DataFrame({"person_id": ["r"], "initial_status": ["RESIDENT"]})
    want = ["EXIT", "ENTRY", "EXIT", "ENTRY", "EXIT", "ENTRY"]
    for frame in (same_day({"r": seq}), repair_crossings(same_day({"r": seq}))[0]):
        got = classify_crossings(frame, "12-16", observed_until=FAR, initial_status=ini)
        assert got["direction"].to_list() == want
        assert events_of(got) == [("EMIGRATION", d(200)), ("IMMIGRATION", d(700))]
    # a status that contradicts the data (resident, but the first unbalanced day starts outside:
    # an ENTRY on day 10) still orders day 0 from it; the later days keep their own order
    seq = [("ENTRY", d(0)), ("EXIT", d(0)), ("ENTRY", d(10)), ("EXIT", d(10)), ("ENTRY", d(10))]
    for frame in (same_day({"r": seq}), repair_crossings(same_day({"r": seq}))[0]):
        got = classify_crossings(frame, "12-16", observed_until=FAR, initial_status=ini)
        assert got["direction"].to_list()[:2] == ["EXIT", "ENTRY"]
        assert got["direction"].to_list()[2:] == ["ENTRY", "EXIT", "ENTRY"]
    # an explicit crossing_time always wins: the resident came in at 06:00 and left at 20:00
    df = same_day({"r": [("EXIT", d(0)), ("ENTRY", d(0))]}).with_columns(
        pl.Series("crossing_time", ["20:00", "06:00"]))
    got = classify_crossings(df, "12-16", observed_until=FAR, initial_status=ini)
    assert got["direction"].to_list() == ["ENTRY", "EXIT"]
    assert events_of(got) == [("EMIGRATION", d(0))]


def events_of(got: pl.DataFrame) -> list[tuple[str, dt.date]]:
    ev = got.filter(pl.col("is_migration"))
    return list(zip(ev["event_type"], ev["crossing_date"]))


def test_derive_events_columns_and_carried():
    df = pl.DataFrame({"person_id": ["a", "a", "b"], "direction": ["ENTRY", "EXIT", "ENTRY"],
                       "crossing_date": [d(0), d(400), d(10)], "record_id": ["r1", "r2", "r3"]})
    ev = derive_events(df, "12-16", observed_until=FAR)
    assert ev.columns[:5] == ["person_id", "event_type", "event_date", "provisional", "rule"]
    assert ev.select("person_id", "event_type", "record_id").rows() == [
        ("a", "IMMIGRATION", "r1"), ("a", "EMIGRATION", "r2"), ("b", "IMMIGRATION", "r3")]
    # observed until day 20: every crossing is undecided; without evidence, no event
    assert derive_events(df, "12-16", observed_until=d(20)).height == 0


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_runs_on_many_persons(name):
    # 300 persons with the same history shifted: the results are identical per person
    n = 300
    rows = []
    for i in range(n):
        for direction, k in (("ENTRY", 0), ("EXIT", 100), ("ENTRY", 110), ("EXIT", 500)):
            rows.append((i, direction, d(k + i)))
    df = pl.DataFrame(rows, schema=["person_id", "direction", "crossing_date"], orient="row")
    got = classify_crossings(df, name, observed_until=FAR)
    per = got.group_by("person_id").agg(pl.col("is_migration"))
    assert per["is_migration"].list.len().unique().to_list() == [4]
    assert got.filter(pl.col("person_id") == 0)["is_migration"].to_list() == \
        got.filter(pl.col("person_id") == n - 1)["is_migration"].to_list()
    assert got.filter(pl.col("person_id") == 0)["is_migration"].to_list() == [True, False, False, True]


def test_custom_rule_mapping():
    rule = {"name": "3-of-4", "window_days": 120, "threshold_days": 90, "mode": "cumulative"}
    assert events([("ENTRY", d(0)), ("EXIT", d(90))], rule)[0][0] == "IMMIGRATION"
    assert events([("ENTRY", d(0)), ("EXIT", d(89))], rule) == []
    assert run([("ENTRY", d(0))], rule)["rule"][0] == "3-of-4"


def test_bad_input_names_row_and_column():
    df = pl.DataFrame({"person_id": ["p", "p"], "direction": ["ENTRY", "SIDEWAYS"],
                       "crossing_date": [d(0), d(1)]})
    with pytest.raises(ReglinkError, match="row 2: column direction"):
        classify_crossings(df, "12-16")
    df = pl.DataFrame({"person_id": ["p"], "direction": ["ENTRY"], "crossing_date": ["2021-02-30"]})
    with pytest.raises(ReglinkError, match="row 1: column crossing_date"):
        classify_crossings(df, "12-16")


def weekly(first: str, days_first: int, weeks: int = 104) -> list[tuple[str, dt.date]]:
    """A weekly commuter: `first` on day 7w, the opposite crossing `days_first` days later."""
    other = "EXIT" if first == "ENTRY" else "ENTRY"
    return [x for w in range(weeks) for x in ((first, d(7 * w)), (other, d(7 * w + days_first)))]


def test_12_12_weekly_commuter_majority_rule():
    # in Monday..Thursday (ENTRY Monday, EXIT Friday), out Friday..Sunday, for 2 years.
    # Both the stay (breaks of 3 days ≤ A) and the absence (visits of 4 days ≤ A) "last" two
    # years. The preset's majority condition: the stay holds 4/7 of its first 365 days (> half)
    # → one immigration (the person starts outside, so the first entry is a real change of
    # residence); the absences hold 3/7 → none.
    seq = weekly("ENTRY", 4)
    # (observed while still commuting: once they stop, an exit whose next N days are mostly
    # abroad is an emigration, as under any window rule)
    got = run(seq, "12-12", until=d(700))
    assert events(seq, "12-12", until=d(700)) == [("IMMIGRATION", d(0), False)]
    # first 365 days: 52 weeks of 4 days in plus day 364 (a Monday) = 209 in; from the first
    # exit (days 4..368): 52 weekends of 3 days plus day 368 (a Friday) = 157 out
    assert got["days_in"][0] == 209 and got["days_out"][1] == 157
    assert events(seq, "12-12", until=d(700), majority=True) == [("IMMIGRATION", d(0), False)]
    # a daily commuter (in and out the same day) is never present: nothing
    daily = [x for k in range(300) for x in (("ENTRY", d(k)), ("EXIT", d(k)))]
    assert events(daily, "12-12", until=d(800)) == []


def test_12_12_weekly_commuters_living_on_one_side_never_migrate():
    # a resident who works abroad Tuesday..Thursday (EXIT Tuesday, ENTRY Friday): each absence
    # holds 3 of every 7 days abroad — 157 of its first 365 (< 183) → no emigration, and a
    # resident's entries change nothing
    resident = weekly("EXIT", 3)
    assert run(resident, "12-12", until=d(800))["days_out"][0] == 157
    assert events(resident, "12-12", until=d(800)) == []
    # a foreigner who works here Monday..Wednesday (ENTRY Monday, EXIT Thursday): each stay holds
    # 3 of 7 days in → no immigration; a non-resident's exits change nothing
    foreign = weekly("ENTRY", 3)
    assert events(foreign, "12-12", until=d(800)) == []
    # every crossing decided: at the first N days, at least half seen on the other side
    assert not run(foreign, "12-12", until=d(800))["provisional"].any()


def test_12_12_majority_threshold_hand_worked():
    # resident leaves on day 0 and is abroad with visits home of 26 days (≤ A = 30, bridged):
    # abroad 23 days ×7 then 22 = 183, home 26 ×7 = 182 within days 0..364, then abroad for good.
    out_len, in_len = [23] * 7 + [22], [26] * 7
    seq, day = [], 0
    for k, o in enumerate(out_len):
        seq.append(("EXIT", d(day)))
        day += o
        if k < len(in_len):
            seq.append(("ENTRY", d(day)))
            day += in_len[k]
    assert day == 365  # the last absence starts on day 343 and never ends
    got = run(seq, "12-12")
    assert (got["days_out"][0], got["days_in"][0]) == (183, 182)
    assert got["days_counted"][0] >= 365  # one unbroken absence, visits bridged
    assert events(seq, "12-12")[0] == ("EMIGRATION", d(0), False)  # 183 > 365 / 2
    # every crossing but the first and last one day earlier: the first absence 22 days, the
    # last visit 27 — 182 abroad, 183 home in days 0..364
    one = dt.timedelta(days=1)
    seq2 = [seq[0], *[(x, dd - one) for x, dd in seq[1:-1]], seq[-1]]
    got = run(seq2, "12-12")
    assert (got["days_out"][0], got["days_in"][0]) == (182, 183)
    assert not got["is_migration"][0]
    # final as soon as 183 days at home are seen: later data cannot change it
    assert not run(seq2, "12-12", until=d(364))["provisional"][0]
    # without the condition the bridged absence alone qualifies
    assert run(seq2, "12-12", majority=False)["is_migration"][0]


def test_majority_false_keeps_the_bridged_breaks_only_reading(tmp_path):
    from reglink.rules import load_rule

    seq = weekly("ENTRY", 4)
    literal = run(seq, "12-12", until=d(700), majority=False)
    assert literal["is_migration"].head(20).all()  # every crossing migrates
    custom = {"window_days": 365, "threshold_days": 365, "mode": "continuous",
              "max_absence_days": 30}
    assert load_rule(custom).majority  # the default
    off = load_rule({**custom, "majority": False})
    assert not off.majority
    assert run(seq, off, until=d(700))["is_migration"].head(20).all()
    assert events(seq, load_rule(custom), until=d(700)) == [("IMMIGRATION", d(0), False)]
    f = tmp_path / "literal.yaml"
    f.write_text("window_days: 365\nthreshold_days: 365\nmode: continuous\n"
                 "max_absence_days: 30\nmajority: false\n")
    assert load_rule(str(f)).majority is False
    with pytest.raises(ValueError, match="majority must be true or false"):
        load_rule({**custom, "majority": "no"})
