"""Errors a hurried register owner meets: a Latin-1 extract gives one clear error and exit 1
(never an abort), quarantine.csv cannot run spreadsheet formulas, and "N rows quarantined"
counts rows, not reason×column pairs."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from reglink.cli import app


def _latin1(tmp_path: Path, rows: int = 3000) -> Path:
    lines = ["record_id,person_number,given_names,surname,date_of_birth"]
    for i in range(rows):
        name = "Ren\xe9" if i == rows // 2 else "Ana"
        lines.append(f"R{i},N{i},{name},Smith,1990-01-02")
    path = tmp_path / "population.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return path


def test_latin1_extract_never_reaches_the_streaming_reader(tmp_path: Path, monkeypatch):
    """The abort came from the CSV reader's read-ahead thread stopped mid-file: the encoding
    is found before any reader exists."""
    import pyarrow.csv as pacsv

    def no_reader(*a, **k):
        raise AssertionError("the streaming CSV reader was opened on a non-UTF-8 file")

    monkeypatch.setattr(pacsv, "open_csv", no_reader)
    path = _latin1(tmp_path)
    res = CliRunner().invoke(app, ["validate", "population_register", str(path),
                                   "--report", str(tmp_path / "rep")])
    assert res.exit_code == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert lines == [f"reglink: {path}: row 1501: column given_names: not valid UTF-8 (byte 0xE9); "
                     "save the extract as UTF-8 or set `encoding:` in its mapping"]


def test_latin1_extract_with_report_exits_1_in_a_real_process(tmp_path: Path):
    path = _latin1(tmp_path)
    for _ in range(2):
        r = subprocess.run([sys.executable, "-m", "reglink.cli", "validate", "population_register",
                            str(path), "--report", str(tmp_path / "rep")],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 1, (r.returncode, r.stderr[-500:])
        assert "not valid UTF-8" in r.stderr and "terminate called" not in r.stderr


def test_quarantine_csv_neutralises_spreadsheet_formulas(tmp_path: Path):
    f = tmp_path / "permits.csv"
    f.write_text('record_id,permit_kind,valid_from,surname\nP1,WORK,2024-01-01,Smith\n'
                 'P2,BOGUS,2024-01-01,"=HYPERLINK(""http://x"")"\nP3,WORK,,-2+3\n'
                 'P4,BOGUS,2024-01-01,@SUM(A1)\nP5,BOGUS,2024-01-01,+1\n')
    res = CliRunner().invoke(app, ["validate", "permits", str(f), "--report", str(tmp_path / "r")])
    assert res.exit_code == 1
    q = pl.read_csv(tmp_path / "r" / "quarantine.csv", infer_schema=False)
    assert q["raw_surname"].to_list() == ["'=HYPERLINK(\"http://x\")", "'-2+3", "'@SUM(A1)", "'+1"]
    for column in q.columns:
        for v in q[column].drop_nulls():
            assert not v.startswith(("=", "+", "-", "@", "\t", "\r")), (column, v)


def test_rows_quarantined_counts_rows_not_reason_column_pairs(tmp_path: Path):
    """Two rows each failing two checks: 2 rows quarantined, though 4 reason×column pairs."""
    from reglink.config import load_config
    from reglink.ingest import ingest_extract
    from reglink.ingest.store_writer import store_result
    from reglink.quality import build_report
    from reglink.quality.stores import Stores
    from reglink.quality.validation import quarantined_rows

    f = tmp_path / "permits.csv"
    f.write_text("record_id,permit_kind,valid_from\nP1,WORK,2024-01-01\nP2,BOGUS,2024-13-01\n"
                 "P3,BOGUS,2024-02-30\nP4,STUDY,2024-03-01\n")
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text("home_country: NZL\nextracts: {permits: permits.csv}\nwarehouse: w.duckdb\n"
                        "reports: r/\ningest_expectations: false\n")
    cfg = load_config(cfg_path)
    result = ingest_extract("permits", f, suite=False)
    assert result.summary.rows_quarantined == 2 and sum(result.summary.by_reason.values()) == 4
    store_result(cfg, result)
    st = Stores.open(cfg.warehouse, cfg.restricted_path)
    try:
        assert quarantined_rows(st) == {"permits": 2}
    finally:
        st.close()
    build_report(cfg)
    page = (cfg.reports / "register-permits.html").read_text(encoding="utf-8")
    assert "2 rows quarantined at ingest" in page and "4 rows quarantined" not in page
