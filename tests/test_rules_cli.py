"""`reglink events` end to end through the installed command line (docs/reference.md#commands)."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

EXE = [sys.executable, "-m", "reglink.cli"]

# hand-worked 12-16 cases (W 487, N 365): see tests/test_rules_engine.py for the arithmetic
CROSSINGS = """person_id,direction,crossing_date,record_id
p1,ENTRY,2020-01-01,a1
p1,EXIT,2020-12-31,a2
p2,ENTRY,2020-01-01,b1
p2,EXIT,2020-12-30,b2
p3,EXIT,2020-01-01,c1
p3,ENTRY,2020-07-01,c2
p4,ENTRY,2022-06-01,d1
"""
# p1: in 2020-01-01..2020-12-30 = 365 days (2020 has a 29 February) → IMMIGRATION; then out
#     from 2020-12-31 to observed_until 2022-06-30 → EMIGRATION
# p2: exit one day earlier: in 364 days → nothing (and its exit is a visitor's)
# p3: resident, out 182 days → nothing
# p4: enters 29 days before observed_until: undecided, no evidence → no event


def reglink(*args: str, cwd: Path, subprocess_run: bool = False) -> subprocess.CompletedProcess:
    """Run `reglink` in-process (fast); `subprocess_run=True` runs the real entry point."""
    if subprocess_run:
        return subprocess.run([*EXE, *args], capture_output=True, text=True, cwd=cwd, timeout=120)
    from typer.testing import CliRunner

    from reglink.cli import app

    res = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return subprocess.CompletedProcess(args, res.exit_code, res.stdout, res.stderr)


@pytest.fixture()
def crossings(tmp_path: Path) -> Path:
    p = tmp_path / "crossings.csv"
    p.write_text(CROSSINGS)
    return p


def test_events_csv_to_csv(tmp_path, crossings):
    out = tmp_path / "events.csv"
    r = reglink("events", "--crossings", str(crossings), "--rule", "12-16", "--out", str(out),
                "--observed-until", "2022-06-30", cwd=tmp_path, subprocess_run=True)
    assert r.returncode == 0, r.stderr
    ev = pl.read_csv(out, try_parse_dates=True)
    assert ev.columns[:5] == ["person_id", "event_type", "event_date", "provisional", "rule"]
    assert ev.select("person_id", "event_type", "event_date", "provisional", "rule",
                     "record_id").rows() == [
        ("p1", "IMMIGRATION", dt.date(2020, 1, 1), False, "12-16", "a1"),
        ("p1", "EMIGRATION", dt.date(2020, 12, 31), False, "12-16", "a2")]
    assert ",false,12-16," in out.read_text()  # booleans as true/false


def test_events_parquet_in_and_out_with_initial_status(tmp_path, crossings):
    pq = tmp_path / "crossings.parquet"
    pl.read_csv(crossings, try_parse_dates=True).write_parquet(pq)
    ini = tmp_path / "initial.csv"
    ini.write_text("person_id,initial_status\np1,RESIDENT\n")
    out = tmp_path / "events.parquet"
    r = reglink("events", "--crossings", str(pq), "--rule", "12-16", "--out", str(out),
                "--observed-until", "2022-06-30", "--initial-status", str(ini), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ev = pl.read_parquet(out)
    # p1 was resident before: coming home is no immigration; leaving for good is an emigration
    assert ev.filter(pl.col("person_id") == "p1").select("event_type").to_series().to_list() == \
        ["EMIGRATION"]
    assert ev.schema["event_date"] == pl.Date and ev.schema["provisional"] == pl.Boolean


def test_custom_rule_yaml_and_provisional(tmp_path, crossings):
    rule = tmp_path / "rule.yaml"
    rule.write_text("name: four-months\nwindow_days: 120\nthreshold_days: 120\nmode: continuous\n"
                    "max_absence_days: 0\n")
    out = tmp_path / "events.csv"
    r = reglink("events", "--crossings", str(crossings), "--rule", str(rule), "--out", str(out),
                "--observed-until", "2022-06-30", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ev = pl.read_csv(out)
    assert set(ev["rule"]) == {"four-months"}
    # p3 (resident) out 182 days ≥ 120 continuous → EMIGRATION, back for good → IMMIGRATION
    assert ev.filter(pl.col("person_id") == "p3")["event_type"].to_list() == ["EMIGRATION", "IMMIGRATION"]
    # default observed_until = latest crossing (2022-06-01): p4 has 1 day seen → no event
    r = reglink("events", "--crossings", str(crossings), "--rule", "12-16", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0
    assert "p4" not in pl.read_csv(out)["person_id"].to_list()


def test_bad_rows_exit_1_naming_file_row_column(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("person_id,direction,crossing_date\np1,ENTRY,2020-01-01\np1,LEFT,2020-02-01\n"
                   "p2,EXIT,2020-02-30\n,ENTRY,2020-01-01\n")
    r = reglink("events", "--crossings", str(bad), "--rule", "6-12", "--out",
                str(tmp_path / "e.csv"), cwd=tmp_path, subprocess_run=True)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert lines == [
        f"reglink: {bad}: row 2: column direction: direction 'LEFT' is not ENTRY or EXIT",
        f"reglink: {bad}: row 3: column crossing_date: crossing_date '2020-02-30' is not a date YYYY-MM-DD",
        f"reglink: {bad}: row 4: column person_id: person_id is empty"]
    assert "Traceback" not in r.stderr and not (tmp_path / "e.csv").exists()


def test_missing_column_and_bad_initial_status_exit_1(tmp_path, crossings):
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("person_id,crossing_date\np1,2020-01-01\n")
    r = reglink("events", "--crossings", str(nocol), "--rule", "6-12", "--out",
                str(tmp_path / "e.csv"), cwd=tmp_path)
    assert r.returncode == 1 and "column direction: required column direction is missing" in r.stderr
    ini = tmp_path / "ini.csv"
    ini.write_text("person_id,initial_status\np1,MAYBE\n")
    r = reglink("events", "--crossings", str(crossings), "--rule", "6-12", "--out",
                str(tmp_path / "e.csv"), "--initial-status", str(ini), cwd=tmp_path)
    assert r.returncode == 1
    assert f"{ini}: row 1: column initial_status: initial_status 'MAYBE'" in r.stderr
    missing = tmp_path / "nothere.csv"
    r = reglink("events", "--crossings", str(missing), "--rule", "6-12", "--out",
                str(tmp_path / "e.csv"), cwd=tmp_path)
    assert r.returncode == 1 and "file not found" in r.stderr and "Traceback" not in r.stderr


def test_usage_errors_exit_2(tmp_path, crossings):
    r = reglink("events", "--crossings", str(crossings), "--rule", "13-17", "--out",
                str(tmp_path / "e.csv"), cwd=tmp_path)
    assert r.returncode == 2 and "unknown rule '13-17'" in r.stderr
    r = reglink("events", "--crossings", str(crossings), "--rule", "12-16", "--out",
                str(tmp_path / "e.json"), cwd=tmp_path)
    assert r.returncode == 2 and "--out" in r.stderr
    r = reglink("events", "--crossings", str(crossings), "--rule", "12-16", "--out",
                str(tmp_path / "e.csv"), "--observed-until", "June", cwd=tmp_path)
    assert r.returncode == 2
    bad_rule = tmp_path / "r.yaml"
    bad_rule.write_text("threshold_days: 100\nmode: sideways\n")
    r = reglink("events", "--crossings", str(crossings), "--rule", str(bad_rule), "--out",
                str(tmp_path / "e.csv"), cwd=tmp_path)
    assert r.returncode == 1 and str(bad_rule) in r.stderr and "Traceback" not in r.stderr


def test_repairs_reported_and_logged(tmp_path):
    c = tmp_path / "c.csv"
    c.write_text("person_id,direction,crossing_date\np1,ENTRY,2020-01-01\np1,ENTRY,2022-01-01\n")
    out = tmp_path / "e.csv"
    r = reglink("events", "--crossings", str(c), "--rule", "12-16", "--out", str(out),
                "--observed-until", "2023-12-31", cwd=tmp_path)
    assert r.returncode == 0 and "MISSING_EXIT 1" in r.stdout
    log = pl.read_csv(tmp_path / "e.repairs.csv", try_parse_dates=True)
    assert log["imputed_date"].to_list() == [dt.date(2021, 1, 1)]
    # the imputed exit (midpoint of 731 days: 2021-01-01) splits 366 in / 365 out:
    # immigration 2020-01-01, emigration on the imputed date, immigration 2022-01-01
    ev = pl.read_csv(out, try_parse_dates=True)
    assert ev.select("event_type", "event_date", "imputed").rows() == [
        ("IMMIGRATION", dt.date(2020, 1, 1), False), ("EMIGRATION", dt.date(2021, 1, 1), True),
        ("IMMIGRATION", dt.date(2022, 1, 1), False)]


def test_12_12_weekly_commuters_through_the_command_line(tmp_path):
    # c1: resident working abroad Tuesday..Thursday; c2: foreigner working here Monday..Wednesday
    # (two years each): under 12-12 and its majority condition neither migrates; a custom rule
    # with `majority: false` gives back the bridged-breaks-only reading (every crossing migrates)
    start = dt.date(2021, 3, 1)
    rows = []
    for w in range(104):
        mon = start + dt.timedelta(days=7 * w)
        rows += [("c1", "EXIT", mon + dt.timedelta(days=1)), ("c1", "ENTRY", mon + dt.timedelta(days=4)),
                 ("c2", "ENTRY", mon), ("c2", "EXIT", mon + dt.timedelta(days=3))]
    src = tmp_path / "commuters.csv"
    pl.DataFrame(rows, schema=["person_id", "direction", "crossing_date"], orient="row").write_csv(src)
    out = tmp_path / "events.csv"
    r = reglink("events", "--crossings", str(src), "--rule", "12-12", "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert pl.read_csv(out).height == 0
    rule = tmp_path / "literal.yaml"
    rule.write_text("name: literal\nthreshold_days: 365\nmode: continuous\nmax_absence_days: 30\n"
                    "majority: false\n")
    r = reglink("events", "--crossings", str(src), "--rule", str(rule), "--out", str(out), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert pl.read_csv(out).height > 100


def test_same_day_crossings_follow_the_supplied_initial_status(tmp_path):
    # a resident who leaves and returns on 2017-01-01 (no time or sequence column): a resident
    # is in the country, so the EXIT comes first — 0 days away, nothing happens. A non-resident
    # who comes and goes that day: the ENTRY first, 0 days in. Without --initial-status both
    # are taken to be outside, and the resident's EXIT, read last, opens an absence of years.
    src = tmp_path / "c.csv"
    src.write_text("person_id,direction,crossing_date\nr1,EXIT,2017-01-01\nr1,ENTRY,2017-01-01\n"
                   "n1,EXIT,2017-01-01\nn1,ENTRY,2017-01-01\n")
    ini = tmp_path / "i.csv"
    ini.write_text("person_id,initial_status\nr1,RESIDENT\nn1,NON_RESIDENT\n")
    out = tmp_path / "e.csv"
    for rule in ("12-16", "12-12"):
        r = reglink("events", "--crossings", str(src), "--rule", rule, "--out", str(out),
                    "--observed-until", "2019-12-31", "--initial-status", str(ini), cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        assert pl.read_csv(out).height == 0, (rule, out.read_text())
    r = reglink("events", "--crossings", str(src), "--rule", "12-16", "--out", str(out),
                "--observed-until", "2019-12-31", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert pl.read_csv(out).height == 0  # default: outside before, ENTRY first, 0 days in
