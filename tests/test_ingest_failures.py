"""Every failure mode a register owner meets: a real broken file, one clear line naming the file,
row and column, no traceback, and the contract's exit code (0 valid, 1 data failure, 2 usage)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from reglink.cli import app
from reglink.errors import ReglinkError
from reglink.ingest import Mapping, ingest_extract
from reglink.ingest.report import problem_lines
from reglink.schemas import schema

HEADER = "record_id,direction,crossing_date,sex,date_of_birth,citizenship,given_names,surname"
GOOD = [
    "R1,ENTRY,2024-01-05,M,1980-02-03,NZL,John,Smith",
    "R2,EXIT,2024-02-01,F,1975-12-31,AUS,Mary,Jones",
    "R3,ENTRY,2024-03-01,F,1990-06-15,FRA,Zoé,Lefèvre",
]


def write(tmp_path: Path, lines: list[str], name: str = "x.csv", encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return p


def validate(*args: str):
    res = CliRunner().invoke(app, ["validate", *args])
    assert "Traceback" not in res.output and "Traceback" not in (res.stderr or "")
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res


def err_lines(res) -> list[str]:
    return [line for line in res.stderr.splitlines() if line.startswith("reglink:")]


def test_valid_extract_exits_0(tmp_path):
    p = write(tmp_path, [HEADER, *GOOD])
    res = validate("border_crossings", str(p))
    assert res.exit_code == 0, res.output
    assert "rows read 3 · accepted 3 · quarantined 0" in res.stdout
    assert err_lines(res) == []


def test_unknown_source_is_usage_error_exit_2(tmp_path):
    p = write(tmp_path, [HEADER, *GOOD])
    res = validate("passports", str(p))
    assert res.exit_code == 2
    assert err_lines(res) == ["reglink: unknown SOURCE 'passports': expected one of border_crossings, "
                              "permits, population_register, asylum_register"]


def test_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    res = validate("border_crossings", str(p))
    assert res.exit_code == 1
    assert err_lines(res) == [f"reglink: {p}: file is empty (no header row, no data)"]


def test_header_only(tmp_path):
    p = write(tmp_path, [HEADER])
    res = validate("border_crossings", str(p))
    assert res.exit_code == 1
    assert err_lines(res) == [f"reglink: {p}: row 1: has a header but no data rows"]


def test_wrong_encoding_names_row_and_column(tmp_path):
    lines = [HEADER, *GOOD[:2], "R4,ENTRY,2024-03-02,F,1990-06-15,FRA,Anne,Dupont", GOOD[2]]
    p = write(tmp_path, lines, encoding="latin-1")  # only row 4 (Zoé Lefèvre) is not ASCII
    res = validate("border_crossings", str(p))
    assert res.exit_code == 1
    (line,) = err_lines(res)
    assert line == (f"reglink: {p}: row 4: column given_names: not valid UTF-8 (byte 0xE9); save the "
                    "extract as UTF-8 or set `encoding:` in its mapping")


def test_wrong_encoding_declared_in_mapping_is_read(tmp_path):
    lines = [HEADER, *GOOD, "R4,ENTRY,2024-03-02,F,1990-06-15,FRA,Hélène,Dupont"]
    p = write(tmp_path, lines, encoding="latin-1")
    m = tmp_path / "m.yaml"
    m.write_text("source: border_crossings\nencoding: latin-1\n")
    res = ingest_extract("border_crossings", p, mapping=m, suite=False)
    assert res.clean.filter(pl.col("record_id") == "R4")["given_names"].item() == "Hélène"


def test_wrong_delimiter(tmp_path):
    p = write(tmp_path, [HEADER.replace(",", ";"), *(g.replace(",", ";") for g in GOOD)])
    res = validate("border_crossings", str(p))
    assert res.exit_code == 1
    (line,) = err_lines(res)
    assert line.startswith(f"reglink: {p}: row 0: wrong delimiter: the header is ';'-separated")


def test_missing_required_column(tmp_path):
    hdr = HEADER.replace("crossing_date,", "")
    rows = [",".join(g.split(",")[:2] + g.split(",")[3:]) for g in GOOD]
    p = write(tmp_path, [hdr, *rows])
    res = validate("border_crossings", str(p))
    assert res.exit_code == 1
    assert err_lines(res) == [f"reglink: {p}: row 0: column crossing_date: missing required column "
                              "(the register's columns: docs/reference.md#border_crossings)"]


def test_duplicate_header(tmp_path):
    p = write(tmp_path, [HEADER + ",sex", *(g + ",M" for g in GOOD)])
    res = validate("border_crossings", str(p))
    assert res.exit_code == 1
    assert err_lines(res) == [f"reglink: {p}: row 0: column sex: duplicate column 'sex' in the header"]


def test_ragged_rows_are_quarantined_not_fatal(tmp_path):
    p = write(tmp_path, [HEADER, GOOD[0], "R2,EXIT,2024-02-01", GOOD[2], GOOD[1] + ",extra"])
    res = validate("border_crossings", str(p))
    assert res.exit_code == 1
    lines = err_lines(res)
    assert f"reglink: {p}: row 2: wrong number of fields: 3 fields, expected 8: R2,EXIT,2024-02-01" in lines
    assert any(line.startswith(f"reglink: {p}: row 4: wrong number of fields: 9 fields") for line in lines)
    r = ingest_extract("border_crossings", p, suite=False)
    assert (r.summary.rows_in, r.summary.rows_accepted, r.summary.rows_quarantined) == (4, 2, 2)
    # row numbers of the good rows are not shifted by the skipped ragged row
    assert r.clean["row_number"].to_list() == [1, 3]


@pytest.mark.parametrize("bad, column, message", [
    ("R9,ENTRY,05/01/2024,M,1980-02-03,NZL,A,B", "crossing_date",
     "cannot read date '05/01/2024' (expected %Y-%m-%d)"),
    ("R9,ENTRY,2023-02-29,M,1980-02-03,NZL,A,B", "crossing_date", "no such date '2023-02-29'"),
    ("R9,ENTRY,2024-01-05,M,1980-13-03,NZL,A,B", "date_of_birth", "no such date '1980-13-03'"),
    ("R9,LEFT,2024-01-05,M,1980-02-03,NZL,A,B", "direction", "unknown code 'LEFT' (expected ENTRY, EXIT)"),
    ("R9,ENTRY,2024-01-05,Q,1980-02-03,NZL,A,B", "sex", "unknown code 'Q' (expected M, F, X)"),
    ("R9,ENTRY,2024-01-05,M,1980-02-03,Atlantis,A,B", "citizenship",
     "unknown country 'Atlantis' (expected an ISO 3166-1 code or country name)"),
    ("R9,,2024-01-05,M,1980-02-03,NZL,A,B", "direction", "missing required value"),
    ("R9,ENTRY,2024-01-05,M,2025-02-03,NZL,A,B", "crossing_date",
     "dates out of order: crossing_date 2024-01-05 before date_of_birth 2025-02-03"),
    ("R9,ENTRY,2024-00-05,M,1980-02-03,NZL,A,B", "crossing_date",
     "incomplete date '2024-00-05' (only date_of_birth may be partial)"),
    ("R1,ENTRY,2024-01-05,M,1980-02-03,NZL,A,B", "record_id", "duplicate record_id R1 (first in row 1)"),
])
def test_row_failures_quarantine_with_one_line(tmp_path, bad, column, message):
    p = write(tmp_path, [HEADER, *GOOD, bad])
    res = ingest_extract("border_crossings", p, suite=False)  # the CLI's path, minus GX (speed)
    assert f"{p}: row 4: column {column}: {message}" in problem_lines(
        res, schema("border_crossings"), Mapping())
    s = res.summary
    assert (s.rows_in, s.rows_accepted, s.rows_quarantined) == (4, 3, 1)
    assert res.quarantine["row_number"].to_list() == [4]


def test_row_failure_through_the_command(tmp_path):
    p = write(tmp_path, [HEADER, *GOOD, "R9,LEFT,2024-01-05,M,1980-02-03,NZL,A,B"])
    res = validate("border_crossings", str(p))
    assert res.exit_code == 1, res.output
    assert err_lines(res) == [f"reglink: {p}: row 4: column direction: unknown code 'LEFT' "
                              "(expected ENTRY, EXIT)"]
    assert "rows read 4 · accepted 3 · quarantined 1" in res.stdout


def test_partial_date_of_birth_is_a_soft_warning(tmp_path):
    p = write(tmp_path, [HEADER, *GOOD, "R4,ENTRY,2024-03-02,F,1990,FRA,A,B",
                         "R5,ENTRY,2024-03-02,F,1990-06-00,FRA,C,D", "R6,ENTRY,2024-03-02,F,1990-00-00,FRA,E,F"])
    res = validate("border_crossings", str(p))
    assert res.exit_code == 0, res.output
    assert "warning: 3 rows with partial date of birth (accepted)" in res.stdout


def test_quarantine_keeps_raw_values_and_reasons(tmp_path):
    p = write(tmp_path, [HEADER, *GOOD, "R4,LEFT,2024-02-30,Q,1980-02-03,NZL,A,B"])
    r = ingest_extract("border_crossings", p, suite=False)
    q = r.quarantine.row(0, named=True)
    assert q["row_number"] == 4 and q["raw_direction"] == "LEFT" and q["raw_crossing_date"] == "2024-02-30"
    assert set(q["reasons"].split(";")) == {"unknown_code:direction", "impossible_date:crossing_date",
                                            "unknown_code:sex"}
    assert r.summary.reasons == {"unknown_code": 2, "impossible_date": 1}
    assert r.failures.height == 3


def test_missing_file_and_unreadable_parquet(tmp_path):
    with pytest.raises(ReglinkError, match="file not found"):
        ingest_extract("permits", tmp_path / "nope.csv", suite=False)
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ReglinkError, match="not a readable Parquet file"):
        ingest_extract("permits", bad, suite=False)


def test_real_command_prints_one_line_and_no_traceback(tmp_path):
    p = write(tmp_path, [HEADER.replace(",", "\t"), *(g.replace(",", "\t") for g in GOOD)])
    out = subprocess.run([sys.executable, "-m", "reglink.cli", "validate", "border_crossings", str(p)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        f"reglink: {p}: row 0: wrong delimiter: the header is tab-separated but ',' is expected; "
        "deliver a comma-separated file or set `delimiter:` in the mapping"]


def test_huge_broken_file_keeps_exact_counts_but_bounded_details(tmp_path, monkeypatch):
    """Every row wrong (a register exporting DD/MM/YYYY without saying so): `validate` does not
    hold the whole file as quarantine; counts stay exact."""
    import reglink.ingest.ingest as ing
    import reglink.ingest.reader as rdr

    monkeypatch.setattr(ing, "DETAIL_CAP", 50)
    monkeypatch.setattr(rdr, "CSV_BLOCK_BYTES", 4096)  # many chunks
    rows = [f"R{i},ENTRY,{(i % 28) + 1:02d}/01/2024,M,1980-02-03,NZL,A,B" for i in range(3000)]
    p = write(tmp_path, [HEADER, *rows])
    r = ingest_extract("border_crossings", p, keep_rows=False, suite=False)
    s = r.summary
    assert (s.rows_in, s.rows_accepted, s.rows_quarantined) == (3000, 0, 3000)
    assert s.by_reason == {("unparseable_date", "crossing_date"): 3000}
    assert s.details_truncated and 50 <= r.quarantine.height < 3000
    # keep_rows=True (the pipeline) always keeps every quarantined row
    full = ingest_extract("border_crossings", p, suite=False)
    assert full.quarantine.height == 3000 and full.quarantine["row_number"].to_list() == list(range(1, 3001))


def test_origin_destination_home_country_is_a_soft_warning(tmp_path):
    p = write(tmp_path, ["record_id,direction,crossing_date,origin_destination",
                         "1,ENTRY,2024-01-01,AUS", "2,EXIT,2024-01-09,New Zealand", "3,EXIT,2024-02-01,FJI"])
    r = ingest_extract("border_crossings", p, home_country="NZL", suite=False)
    assert r.summary.rows_accepted == 3
    assert r.summary.soft["origin_destination_is_home_country"] == 1


def test_excel_workbook_instead_of_csv(tmp_path):
    import zipfile

    p = tmp_path / "crossings.csv"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(ReglinkError, match="zip or Excel workbook"):
        ingest_extract("border_crossings", p, suite=False)
