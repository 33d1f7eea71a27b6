"""The fast path of ingest gives exactly what a straightforward evaluation gives.

Fast: the suite runs once per extract on a compact batch of distinct values, date parsing and
code look-ups once per distinct value, many chunks, accepted rows through a Parquet file.
Straightforward: every expectation run by GX on every row that passed the own checks, the
whole extract as one chunk. Inputs are the awkward ones: partial dates, unknown codes and
countries, names in other scripts, empty columns, duplicate ids, and expectations an NSO added
that the own checks do not cover (so rows fail on the compact batch and are re-checked).
"""
from __future__ import annotations

import gc
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

import reglink.ingest.reader as rdr
import reglink.ingest.suites as suites
from reglink.config import Budget
from reglink.ingest import ingest_extract
from reglink.ingest.store_writer import write_restricted
from reglink.schemas import SCHEMAS

HEADER = ("record_id,direction,crossing_date,sex,date_of_birth,country_of_birth,given_names,"
          "surname,citizenship,document_number,travel_reason,occupation,border_point")
PATTERNS = [
    "R{i},ENTRY,2024-01-{d:02d},M,1980-02-03,NZL,John,Smith,NZL,P{i},HOLIDAY,,BP1",
    "R{i},EXIT,2024-02-{d:02d},F,1980,New Zealand,王,小明,CHN,E{i},,,BP2",  # partial DOB, Han
    "R{i},IN,2024-03-{d:02d},MALE,1975-05,UK,Nguyễn,Văn An,VNM,,WORK,2211,BP9",  # aliases
    "R{i},SIDEWAYS,2024-01-{d:02d},Q,1990-13-01,Atlantis,Ольга,Иванова,RUS,X{i},NAP,12345,BP1",
    "R{i},ENTRY,2024-00-{d:02d},F,1980-00-00,554,Σοφία,Παπαδοπούλου,GRC,G{i},STUDY,,",
    "R{i},EXIT,2023-02-29,X,2024-01-{d:02d},FRA,Zoé,Lefèvre,FRA,F{i},FAMILY,,BP2",  # impossible
    "R{i},ENTRY,2024-01-{d:02d},F,2024-01-{d:02d},NZL,Baby,Born,NZL,B{i},RETURN HOME,,BP1",
    "R{i},EXIT,,F,2030-01-01,NZL,Ana,Silva,BRA,S{i},OTHER,9,BP2",  # missing date, DOB future
    "DUP,ENTRY,2024-04-{d:02d},M,1960-07-07,AUS,Jack,Dup,AUS,D{i},BUSINESS,,BP1",  # duplicates
]


def _rows(n: int) -> list[str]:
    return [PATTERNS[i % len(PATTERNS)].format(i=i, d=(i % 28) + 1) for i in range(n)]


def _suite_dir(tmp_path: Path) -> Path:
    """The generated border suite plus expectations an NSO might add."""
    d = tmp_path / "suites"
    d.mkdir()
    suite = suites.build_suite(SCHEMAS["border_crossings"])
    suite["expectations"] += [
        {"type": "expect_column_values_to_be_in_set", "kwargs": {
            "column": "border_point", "value_set": ["BP1", "BP2"]},
         "meta": {"severity": "hard", "reason": "unknown_border_point"}},
        {"type": "expect_column_pair_values_a_to_be_greater_than_b", "kwargs": {
            "column_A": "crossing_date", "column_B": "date_of_birth", "or_equal": False,
            "ignore_row_if": "either_value_is_missing"},
         "meta": {"severity": "hard", "reason": "crossed_on_birthday"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "surname"},
         "meta": {"severity": "report"}},
        {"type": "expect_column_value_lengths_to_be_between", "kwargs": {
            "column": "document_number", "min_value": 3, "max_value": 10, "mostly": 0.5},
         "meta": {"severity": "report"}},
    ]
    (d / "border_crossings.json").write_text(json.dumps(suite), encoding="utf-8")
    return d


def _straightforward(monkeypatch, path: Path, suite_dir: Path, keep_rows: bool):
    """Every expectation on every row, the whole file as one chunk."""
    with monkeypatch.context() as m:
        # (reglink's own checks are judged on its failures either way)
        m.setattr(suites, "_plan_kind",
                  lambda e: s if (s := (e.get("meta") or {}).get("severity")) in ("soft", "reglink")
                  else "rows")
        m.setattr(rdr, "CSV_BLOCK_BYTES", 64 << 20)
        return ingest_extract("border_crossings", path, suite_dir=suite_dir, keep_rows=keep_rows)


def _fast(monkeypatch, path: Path, suite_dir: Path, keep_rows: bool, **kw):
    with monkeypatch.context() as m:
        m.setattr(rdr, "CSV_BLOCK_BYTES", 8192)  # many chunks
        return ingest_extract("border_crossings", path, suite_dir=suite_dir, keep_rows=keep_rows,
                              **kw)


def _expectations(res) -> list[dict]:
    return sorted(({k: v for k, v in e.items() if k != "evaluated_rows"}
                   for e in res.summary.expectations), key=lambda e: json.dumps(e, default=str))


@pytest.mark.parametrize("keep_rows", [True, False])
def test_fast_path_equals_every_row_evaluation(tmp_path, monkeypatch, keep_rows):
    path = tmp_path / "crossings.csv"
    path.write_text("\n".join([HEADER, *_rows(1500)]) + "\n", encoding="utf-8")
    sdir = _suite_dir(tmp_path)
    ref = _straightforward(monkeypatch, path, sdir, keep_rows)
    fast = _fast(monkeypatch, path, sdir, keep_rows)

    s, r = fast.summary, ref.summary
    assert (s.rows_in, s.rows_accepted, s.rows_quarantined) == (r.rows_in, r.rows_accepted,
                                                                r.rows_quarantined)
    assert s.by_reason == r.by_reason and s.soft == r.soft and s.completeness == r.completeness
    # the NSO's checks found rows the own checks passed, on the compact batch, then the rows
    assert s.by_reason[("unknown_border_point", "border_point")] > 0
    assert s.by_reason[("crossed_on_birthday", "crossing_date")] > 0
    assert _expectations(fast) == _expectations(ref)
    assert fast.quarantine.sort("row_number").equals(ref.quarantine.sort("row_number"))
    assert fast.failures.sort(pl.all()).equals(ref.failures.sort(pl.all()))
    if keep_rows:
        assert fast.clean_file is not None and fast.clean_file.is_file()
        assert fast.clean.equals(ref.clean)
        assert fast.clean.height == s.rows_accepted
        # names in other scripts standardised once per distinct value, as before
        assert {"WANG", "OLGA", "SOPHIA"} & set(fast.clean["given_names_std"].to_list())


def test_empty_and_absent_columns(tmp_path, monkeypatch):
    """A column present but never filled, and one absent: same verdicts both ways."""
    path = tmp_path / "c.csv"
    lines = ["record_id,direction,crossing_date,occupation,date_of_birth"]
    lines += [f"R{i},ENTRY,2024-01-{(i % 28) + 1:02d},," for i in range(800)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sdir = _suite_dir(tmp_path)
    ref = _straightforward(monkeypatch, path, sdir, True)
    fast = _fast(monkeypatch, path, sdir, True)
    assert fast.summary.rows_quarantined == ref.summary.rows_quarantined == 0
    assert _expectations(fast) == _expectations(ref)
    assert fast.clean.equals(ref.clean)


def test_accepted_rows_stream_through_the_budget_temp_directory(tmp_path, monkeypatch):
    path = tmp_path / "crossings.csv"
    path.write_text("\n".join([HEADER, *_rows(600)]) + "\n", encoding="utf-8")
    budget = Budget(memory_limit=256 << 20, temp_directory=tmp_path / "spill", threads=1)
    res = _fast(monkeypatch, path, _suite_dir(tmp_path), True, budget=budget)
    spill = res.clean_file
    assert spill.is_relative_to(budget.temp_directory) and spill.is_file()
    # the store writer loads the file with DuckDB; the same rows as the frame
    con = budget.apply(duckdb.connect())
    counts, _ = write_restricted(con, res)
    assert counts["std"] == res.summary.rows_accepted
    stored = pl.from_arrow(con.sql("SELECT * EXCLUDE (delivery) FROM std_border_crossings "
                                   "ORDER BY row_number").to_arrow_table())
    assert stored.equals(res.clean)
    con.close()
    del res
    gc.collect()
    assert not spill.exists()  # removed with the result that owned it
