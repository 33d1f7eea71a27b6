"""What a register owner sees from `reglink validate` on an extract in their own layout: the
distinct failing values with counts, their own column names, the home country said aloud, the
exit codes and mapping keys in --help, one clear line for a wrong mapping column."""
from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from reglink.cli import app

MAPPING = """source: border_crossings
delimiter: ";"
columns: {ID: record_id, Richtung: direction, Datum: crossing_date, Geschlecht: sex,
          Geburtsdatum: date_of_birth, Staatsangehoerigkeit: citizenship, Vorname: given_names,
          Nachname: surname}
codes: {direction: {E: ENTRY, A: EXIT}}
date_format: "%d.%m.%Y"
countries: {Deutschland: DEU}
"""
COUNTRIES = ["Deutschland", "Österreich", "Schweiz", "Deutschland", "Österreich", "Deutschland"]


def _extract(tmp_path: Path, n: int = 60) -> tuple[Path, Path]:
    rows = ["ID;Richtung;Datum;Geschlecht;Geburtsdatum;Staatsangehoerigkeit;Vorname;Nachname"]
    for i in range(n):
        rows.append(f"R{i};{'E' if i % 2 else 'A'};0{1 + i % 9}.03.2024;M;01.01.1980;"
                    f"{COUNTRIES[i % len(COUNTRIES)]};Hans;Muster")
    csv = tmp_path / "grenze.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    mp = tmp_path / "grenze.yaml"
    mp.write_text(MAPPING, encoding="utf-8")
    return csv, mp


def test_failing_values_with_counts_in_the_owners_column_names(tmp_path):
    csv, mp = _extract(tmp_path)
    rep = tmp_path / "rep"
    r = CliRunner().invoke(app, ["validate", "border_crossings", str(csv), "--mapping", str(mp),
                                 "--report", str(rep), "--home-country", "DEU"])
    assert r.exit_code == 1, r.output
    # 60 rows: Österreich in 20, Schweiz in 10 (the cycle of six values)
    out = r.stdout
    assert "rows read 60 · accepted 30 · quarantined 30" in out
    assert "distinct failing values per column" in out
    line_a = next(x for x in out.splitlines() if "'Österreich'" in x)
    line_s = next(x for x in out.splitlines() if "'Schweiz'" in x)
    assert "Staatsangehoerigkeit (citizenship)" in line_a and line_a.rstrip(" │").endswith("20")
    assert line_s.rstrip(" │").endswith("10")
    assert "home country DEU (from --home-country)" in out
    # problem lines name the owner's column, with reglink's beside it
    assert "column Staatsangehoerigkeit (citizenship): unknown country 'Schweiz'" in r.stderr
    assert r.stderr.count("reglink: reglink:") == 0
    # the same tally in the files: every value, rows summing to the quarantined rows
    fv = pl.read_csv(rep / "failing_values.csv")
    assert sorted(zip(fv["value"], fv["rows"])) == [("Schweiz", 10), ("Österreich", 20)]
    assert set(fv["source_column"]) == {"Staatsangehoerigkeit"}
    summary = json.loads((rep / "summary.json").read_text(encoding="utf-8"))
    assert sum(v["rows"] for v in summary["failing_values"]) == summary["rows_quarantined"] == 30
    page = (rep / "index.html").read_text(encoding="utf-8")
    assert "Distinct failing values per column" in page
    assert "Staatsangehoerigkeit (citizenship)" in page and "&#x27;Österreich&#x27;" in page


def test_home_country_is_never_a_silent_default(tmp_path):
    csv, mp = _extract(tmp_path, 12)
    runner = CliRunner()
    r = runner.invoke(app, ["validate", "border_crossings", str(csv), "--mapping", str(mp)])
    assert "home country not given" in r.stdout and "skipped" in r.stdout
    assert "NZL" not in r.stdout
    cfg = tmp_path / "reglink.yaml"
    cfg.write_text(f"home_country: AUT\nextracts: {{border_crossings: {csv}}}\n"
                   f"mappings: {{border_crossings: {mp}}}\n", encoding="utf-8")
    r = runner.invoke(app, ["validate", "border_crossings", str(csv), "--config", str(cfg)])
    # the mapping came from the config too: the German columns were understood
    assert "home country AUT (from home_country of" in r.stdout, r.output
    assert "Staatsangehoerigkeit (citizenship)" in r.stdout
    r = runner.invoke(app, ["validate", "border_crossings", str(csv), "--mapping", str(mp),
                            "--home-country", "Neuseeland"])
    assert r.exit_code == 2
    assert r.stderr.strip().startswith("reglink: --home-country: 'Neuseeland' is not an ISO")


def test_help_states_exit_codes_and_mapping_keys():
    r = CliRunner().invoke(app, ["validate", "--help"], terminal_width=200)
    assert r.exit_code == 0
    text = " ".join(r.stdout.split())
    for words in ("0 every row accepted", "1 rows held back", "2 wrong usage", "columns",
                  "codes", "date_format", "dates", "countries", "delimiter", "encoding",
                  "docs/reference.md#mapping-files", "--config"):
        assert words in text, words


def test_wrong_mapping_column_is_one_line_exit_2_with_the_valid_columns(tmp_path):
    csv, mp = _extract(tmp_path, 5)
    mp.write_text(MAPPING.replace("Nachname: surname", "Nachname: family_name"), encoding="utf-8")
    r = CliRunner().invoke(app, ["validate", "border_crossings", str(csv), "--mapping", str(mp)])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("reglink: ") and "reglink: reglink:" not in lines[0]
    assert "family_name: not a column of border_crossings; its columns are record_id, " in lines[0]
    assert "border_point" in lines[0] and "CONTRACTS" not in lines[0]


@pytest.mark.parametrize("width", [80])
def test_piped_output_does_not_wrap_mid_path(tmp_path, width):
    csv, mp = _extract(tmp_path, 12)
    r = CliRunner().invoke(app, ["validate", "border_crossings", str(csv), "--mapping", str(mp),
                                 "--home-country", "DEU"], terminal_width=width)
    assert f"border_crossings {csv} — has errors" in r.stdout


def _validation_results(rep: Path) -> list[dict]:
    store = rep / "gx" / "uncommitted" / "validations"
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(store.rglob("*.json"))]


def test_data_docs_verdict_is_reglinks_and_reads_offline(tmp_path):
    """An extract reglink holds rows of is 'Failed' in the Data Docs, with reglink's counts per
    column and value; a clean one 'Succeeded'; no page fetches anything from the network."""
    from reglink.ingest.datadocs import remote_references

    csv, mp = _extract(tmp_path)
    rep = tmp_path / "rep"
    r = CliRunner().invoke(app, ["validate", "border_crossings", str(csv), "--mapping", str(mp),
                                 "--report", str(rep), "--home-country", "DEU"])
    assert r.exit_code == 1
    (res,) = _validation_results(rep)
    assert res["success"] is False
    by_col = {x["expectation_config"]["kwargs"]["column"]: x for x in res["results"]
              if "column" in x["expectation_config"]["kwargs"]}
    cit = by_col["citizenship (reglink checks)"]
    assert cit["success"] is False and cit["result"]["unexpected_count"] == 30
    counts = {c["value"]: c["count"] for c in cit["result"]["partial_unexpected_counts"]}
    assert counts == {"unknown_country: Österreich": 20, "unknown_country: Schweiz": 10}
    # every other column of reglink's checks passed, as reglink says
    assert all(x["success"] for c, x in by_col.items()
               if c.endswith("(reglink checks)") and c != "citizenship (reglink checks)")
    site = rep / "gx" / "uncommitted" / "data_docs" / "local_site"
    assert remote_references(site) == []
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "reglink-failed'>Failed<" in index and "validations/border_crossings/" in index
    page = next(site.glob("validations/**/*.html")).read_text(encoding="utf-8")
    assert "unknown_country: Österreich" in page and "<style>" in page

    clean = tmp_path / "clean.csv"
    clean.write_text("\n".join(x for x in csv.read_text(encoding="utf-8").splitlines()
                               if "Österreich" not in x and "Schweiz" not in x) + "\n",
                     encoding="utf-8")
    rep2 = tmp_path / "rep2"
    r = CliRunner().invoke(app, ["validate", "border_crossings", str(clean), "--mapping",
                                 str(mp), "--report", str(rep2), "--home-country", "DEU"])
    assert r.exit_code == 0, r.output
    (res,) = _validation_results(rep2)
    assert res["success"] is True
    assert "reglink-succeeded'>Succeeded<" in (rep2 / "gx" / "uncommitted" / "data_docs" /
                                               "local_site" / "index.html").read_text("utf-8")
