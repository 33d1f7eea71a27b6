"""The shipped example mapping end to end: a register's own layout (semicolons, French column
names, E/S codes, DD/MM/YYYY dates, country names) becomes canonical, standardised rows."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from reglink.cli import app
from reglink.errors import ReglinkError, UsageError
from reglink.ingest import ingest_extract, load_mapping
from reglink.schemas import schema

ROOT = Path(__file__).resolve().parents[1]
MAPPING = ROOT / "config" / "mappings" / "example_border_crossings_fr.yaml"
EXTRACT = ROOT / "config" / "examples" / "passages_frontiere.csv"


@pytest.fixture(scope="module")
def example():
    return ingest_extract("border_crossings", EXTRACT, mapping=MAPPING, suite=False,
                          home_country="NZL")


def test_every_row_accepted_and_books_balance(example):
    s = example.summary
    assert (s.rows_in, s.rows_accepted, s.rows_quarantined) == (12, 12, 0)
    assert s.soft == {"partial_date_of_birth": 2, "origin_destination_is_home_country": 0}
    assert s.ignored_columns == []
    assert set(s.present_columns) == set(schema("border_crossings").names)


def test_local_codes_dates_and_countries_become_canonical(example):
    r = {row["record_id"]: row for row in example.clean.iter_rows(named=True)}
    assert [r[f"FR-00000{i}"]["direction"] for i in (1, 2)] == ["ENTRY", "EXIT"]
    assert r["FR-000001"]["crossing_date"] == dt.date(2024, 1, 3)  # 03/01/2024 is 3 January
    assert r["FR-000001"]["date_of_birth"] == dt.date(1988, 7, 14)
    assert r["FR-000003"]["country_of_birth"] == "NZL"  # Nouvelle-Zélande, via the mapping
    assert r["FR-000003"]["document_country"] == "NZL"  # alpha-2 NZ
    assert r["FR-000005"]["document_country"] == "CHN"  # numeric 156
    assert r["FR-000004"]["citizenship"] == "VNM"  # "Vietnam", a common variant
    assert r["FR-000006"]["citizenship"] == "GBR"  # English name
    assert r["FR-000008"]["sex"] == "X" and r["FR-000008"]["document_type"] == "ID_CARD"
    assert r["FR-000003"]["travel_reason"] == "RETURN_HOME"
    assert r["FR-000006"]["transport_mode"] == "SEA"


def test_names_standardised_and_originals_kept(example):
    r = {row["record_id"]: row for row in example.clean.iter_rows(named=True)}
    assert r["FR-000001"]["given_names"] == "Zoé Hélène"  # original preserved
    assert r["FR-000001"]["given_names_std"] == "ZOE HELENE"
    assert r["FR-000004"]["surname_std"] == "NGUYEN"
    assert r["FR-000005"]["surname_std"] == "WANG"  # 王 transliterated
    assert r["FR-000006"]["surname_std"] == "OBRIEN"
    assert r["FR-000009"]["surname_std"] == "GARCIA LOPEZ"
    assert r["FR-000006"]["full_name_std"] == "JOHN OBRIEN PAUL"
    assert r["FR-000003"]["given_names_std"] == "TANE"


def test_partial_dates_of_birth_kept_as_parts(example):
    r = {row["record_id"]: row for row in example.clean.iter_rows(named=True)}
    a = r["FR-000004"]  # 00/00/1990
    assert (a["date_of_birth"], a["dob_year"], a["dob_month"], a["dob_day"], a["date_of_birth_raw"]) == (
        None, 1990, None, None, "00/00/1990")
    b = r["FR-000010"]  # 00/06/1983
    assert (b["dob_year"], b["dob_month"], b["dob_day"]) == (1983, 6, None)


def test_validate_with_mapping_and_report(tmp_path):
    res = CliRunner().invoke(app, ["validate", "border_crossings", str(EXTRACT), "--mapping", str(MAPPING),
                                   "--report", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    assert "rows read 12 · accepted 12 · quarantined 0" in res.stdout
    index = (tmp_path / "rep" / "index.html").read_text()
    assert "valid" in index and "passages_frontiere.csv" in index
    docs = list((tmp_path / "rep").glob("**/data_docs/local_site/index.html"))
    assert docs, "GX Data Docs built by the checkpoint"
    assert "data_docs/local_site/index.html" in index  # linked from our report
    validations = list((tmp_path / "rep").glob("**/data_docs/local_site/validations/**/*.html"))
    assert validations


def test_without_mapping_the_same_file_fails_clearly(tmp_path):
    with pytest.raises(ReglinkError, match="wrong delimiter"):
        ingest_extract("border_crossings", EXTRACT, suite=False)


def test_mapping_errors_are_one_line(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("source: permits\ncolumns: {A: not_a_column}\n")
    with pytest.raises(UsageError, match="not_a_column: not a column of permits; its columns are "
                                         "record_id, permit_number"):
        load_mapping(m)
    m.write_text("source: border_crossings\ncodes: {direction: {E: INBOUND}}\n")
    with pytest.raises(UsageError, match="codes: direction: INBOUND not in ENTRY, EXIT"):
        load_mapping(m)
    with pytest.raises(UsageError, match="this mapping is for border_crossings, not permits"):
        load_mapping(m, "permits")
    with pytest.raises(UsageError, match="mapping file not found"):
        load_mapping(tmp_path / "none.yaml")


def test_two_columns_mapping_to_one_canonical_name(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("source: asylum_register\ncolumns: {ID: record_id, NUM: record_id}\n")
    f = tmp_path / "a.csv"
    f.write_text("ID,NUM,case_number,application_date\n1,2,C1,2024-01-01\n")
    with pytest.raises(ReglinkError, match="columns 'ID' and 'NUM' both map to 'record_id'"):
        ingest_extract("asylum_register", f, mapping=m, suite=False)


def test_per_column_date_format(tmp_path):
    m = tmp_path / "m.yaml"
    m.write_text("source: asylum_register\ndates: {application_date: '%d.%m.%Y'}\n")
    f = tmp_path / "a.csv"
    f.write_text("record_id,case_number,application_date,decision_date\n1,C1,31.01.2024,2024-03-01\n")
    r = ingest_extract("asylum_register", f, mapping=m, suite=False)
    assert r.clean.select("application_date", "decision_date").row(0) == (dt.date(2024, 1, 31),
                                                                          dt.date(2024, 3, 1))


def test_typed_parquet_dates_with_a_local_date_format(tmp_path):
    """A Parquet extract with real DATE columns is read correctly whatever `date_format` says."""
    f = tmp_path / "a.parquet"
    pl.DataFrame({"record_id": ["1"], "case_number": ["C1"], "application_date": [dt.date(2024, 1, 31)],
                  "date_of_birth": ["00/00/1990"]}).write_parquet(f)
    m = tmp_path / "m.yaml"
    m.write_text("source: asylum_register\ndate_format: '%d/%m/%Y'\n")
    r = ingest_extract("asylum_register", f, mapping=m, suite=False)
    assert r.summary.rows_accepted == 1
    assert r.clean.select("application_date", "dob_year").row(0) == (dt.date(2024, 1, 31), 1990)
