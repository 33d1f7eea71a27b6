"""Bad input a careless register owner sends never passes silently: a crossing dated in the
future or after the last day the data cover, a control character inside a name, a person
older than any human, and timestamps stored in UTC for a country east of Greenwich."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from reglink.config import config_from_mapping, home_zone
from reglink.ingest import ingest_extract
from reglink.ingest.checks import (AFTER_OBSERVED_UNTIL, CONTROL_CHARACTER, FUTURE_DATE,
                                   IMPLAUSIBLE_AGE)


def _crossings(tmp_path, **cols):
    base = {"record_id": [str(i) for i in range(len(next(iter(cols.values()))))]}
    base.setdefault("direction", ["ENTRY"] * len(base["record_id"]))
    df = pl.DataFrame({**base, **cols})
    path = tmp_path / "border_crossings.csv"
    df.write_csv(path)
    return path


def _reasons(res) -> dict[str, str]:
    q = res.quarantine
    return dict(zip(q["record_id"].to_list(), q["reasons"].to_list()))


def test_future_and_after_observed_until_have_their_own_reasons(tmp_path):
    path = _crossings(tmp_path, crossing_date=["2025-12-31", "2026-01-02", "2030-01-01"],
                      surname=["A", "B", "C"])
    res = ingest_extract("border_crossings", path, suite=False, observed_until=dt.date(2025, 12, 31),
                         home_country="NZL")
    reasons = _reasons(res)
    assert "0" not in reasons  # the last observed day itself is fine
    assert reasons["1"].startswith(AFTER_OBSERVED_UNTIL)
    assert reasons["2"].startswith(FUTURE_DATE)
    assert res.summary.rows_accepted == 1 and res.summary.rows_quarantined == 2


def test_control_character_in_a_surname_is_quarantined(tmp_path):
    path = _crossings(tmp_path, crossing_date=["2024-01-01"] * 3,
                      surname=["Sm\x00ith", "Smith", "O'Neil\x1b"])
    res = ingest_extract("border_crossings", path, suite=False)
    reasons = _reasons(res)
    assert set(reasons) == {"0", "2"}
    assert all(r.startswith(CONTROL_CHARACTER) for r in reasons.values())
    # the value shown in quarantine has the control character made visible, not raw
    values = res.quarantine.filter(pl.col("record_id") == "0")["value"].to_list()
    assert values and "\x00" not in values[0] and "\ufffd" in values[0]


def test_implausible_age_is_quarantined(tmp_path):
    path = _crossings(tmp_path, crossing_date=["2024-01-01"] * 3,
                      date_of_birth=["1894-05-01", "1910-05-01", "1990-01-01"])
    res = ingest_extract("border_crossings", path, suite=False)
    reasons = _reasons(res)
    assert list(reasons) == ["0"] and reasons["0"].startswith(IMPLAUSIBLE_AGE)


def test_utc_timestamps_are_dated_in_the_home_zone(tmp_path):
    stamps = pl.Series([dt.datetime(2025, 3, 1, 11, 30), dt.datetime(2025, 3, 1, 10, 0)])
    pl.DataFrame({"record_id": ["a", "b"], "direction": ["ENTRY", "EXIT"],
                  "crossing_date": stamps.dt.replace_time_zone("UTC")}
                 ).write_parquet(tmp_path / "bc.parquet")
    nz = ingest_extract("border_crossings", tmp_path / "bc.parquet", suite=False, home_country="NZL")
    # 11:30 UTC on 1 March is 00:30 on 2 March in Auckland (daylight time); 10:00 is 23:00
    assert nz.clean.sort("record_id")["crossing_date"].to_list() == [dt.date(2025, 3, 2),
                                                                     dt.date(2025, 3, 1)]
    utc = ingest_extract("border_crossings", tmp_path / "bc.parquet", suite=False,
                         home_country="NZL", time_zone="UTC")
    assert set(utc.clean["crossing_date"].to_list()) == {dt.date(2025, 3, 1)}


@pytest.mark.parametrize("alpha3, zone", [("NZL", "Pacific/Auckland"), ("FRA", "Europe/Paris"),
                                          ("USA", "America/New_York")])
def test_home_zone_and_config(tmp_path, alpha3, zone):
    assert home_zone(alpha3) == zone
    cfg = config_from_mapping({"home_country": alpha3}, tmp_path)
    assert cfg.zone == zone
    assert config_from_mapping({"home_country": alpha3, "time_zone": "UTC"}, tmp_path).zone == "UTC"


def test_one_wrong_date_gives_one_reason(tmp_path):
    # a date of birth keyed in the future is out of range; it is not also "crossed before
    # birth", and one from the 1700s is not also "older than any human"; a crossing keyed in
    # the future is not also after the last observed day
    from reglink.ingest.checks import DATE_ORDER, DATE_OUT_OF_RANGE

    path = _crossings(tmp_path, crossing_date=["2024-01-01", "2024-01-01", "2030-01-01", "2024-01-01"],
                      date_of_birth=["2031-05-01", "1750-05-01", "1990-01-01", "2025-03-01"])
    res = ingest_extract("border_crossings", path, suite=False)
    reasons = _reasons(res)
    assert sorted(reasons) == ["0", "1", "2", "3"]
    assert all(";" not in r for r in reasons.values()), reasons
    assert reasons["0"].startswith(DATE_OUT_OF_RANGE) and reasons["1"].startswith(DATE_OUT_OF_RANGE)
    assert reasons["2"].startswith(FUTURE_DATE)
    assert reasons["3"].startswith(DATE_ORDER)  # a valid date after the crossing: out of order
