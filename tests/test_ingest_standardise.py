"""Standardisation building blocks on real values: countries, names, dates, codes."""
from __future__ import annotations

import polars as pl

from reglink.ingest.countries import to_alpha3, valid_alpha3
from reglink.ingest.standardise import code_values, parse_date, sorted_tokens, std_text
from reglink.ingest.suites import build_suite, load_suite
from reglink.schemas import SCHEMAS


def test_countries_from_every_spelling():
    s = pl.Series(["NZ", "554", "New Zealand", "nzl", "Viet Nam", "Vietnam", "UK", "036",
                   "Korea, Republic of", "South Korea", "Côte d'Ivoire", "XXA", "Atlantis", None])
    assert to_alpha3(s).to_list() == ["NZL", "NZL", "NZL", "NZL", "VNM", "VNM", "GBR", "AUS",
                                      "KOR", "KOR", "CIV", "XXA", None, None]
    assert to_alpha3(pl.Series(["Allemagne"]), {"Allemagne": "deu"}).to_list() == ["DEU"]
    assert {"NZL", "FRA", "XXA"} <= valid_alpha3()


def test_name_standardisation():
    s = pl.Series(["  José  María ", "O'Brien", "Müller-Lüdenscheidt", "ＡＢＣ", "Παπαδόπουλος",
                   "Иванов", "", None])
    assert std_text(s).to_list() == ["JOSE MARIA", "OBRIEN", "MULLER LUDENSCHEIDT", "ABC",
                                     "PAPADOPOULOS", "IVANOV", None, None]
    g, n = pl.Series(["JOHN", None, "ANNA"]), pl.Series(["SMITH", "LEE", None])
    assert sorted_tokens(g, n).to_list() == ["JOHN SMITH", "LEE", "ANNA"]
    assert sorted_tokens(pl.Series(["SMITH"]), pl.Series(["JOHN"])).to_list() == ["JOHN SMITH"]


def test_dates_parts_and_status():
    df = pl.DataFrame({"d": ["1980-02-03", "1980", "1980-05", "1980-00-00", "1980-05-00",
                             "1980-02-30", "03/02/1980", "1980-13-01", None, "2024-01-05T10:00:00"]})
    out = parse_date(df, "d", "%Y-%m-%d", partial_ok=True)
    assert out["d__status"].to_list() == ["ok", "partial", "partial", "partial", "partial",
                                          "impossible", "unparseable", "impossible", None, "ok"]
    assert out["d__y"].to_list()[:5] == [1980] * 5
    assert out["d__m"].to_list()[:5] == [2, None, 5, None, 5]
    strict = parse_date(df, "d", "%Y-%m-%d", partial_ok=False)
    assert strict["d__status"].to_list()[1:3] == ["unparseable", "unparseable"]
    dmy = parse_date(pl.DataFrame({"d": ["03/02/1980", "3/2/1980", "1980-02-03"]}), "d", "%d/%m/%Y",
                     partial_ok=False)
    assert dmy["d__status"].to_list() == ["ok", "ok", "unparseable"]
    assert str(dmy["d__date"][0]) == "1980-02-03"


def test_codes_mapping_then_aliases():
    s = pl.Series(["E", "s", "Entry", "out", "X", None])
    assert code_values(s, "direction", {"E": "ENTRY", "S": "EXIT"}).to_list() == [
        "ENTRY", "EXIT", "ENTRY", "EXIT", "X", None]
    assert code_values(pl.Series(["male", "Female", "f"]), "sex", {}).to_list() == ["M", "F", "F"]


def test_suite_files_match_schemas_and_cover_required_columns():
    for name, sch in SCHEMAS.items():
        suite = load_suite(name)
        assert suite == build_suite(sch), f"expectations/{name}.json is out of date"
        hard_nn = {e["kwargs"]["column"] for e in suite["expectations"]
                   if e["type"] == "expect_column_values_to_not_be_null" and e["meta"]["severity"] == "hard"}
        assert hard_nn == set(sch.required)
        codes = {e["kwargs"]["column"] for e in suite["expectations"]
                 if e["type"] == "expect_column_values_to_be_in_set"}
        assert codes == {c.name for c in sch.columns if c.kind == "code"}
        pairs = {(e["kwargs"]["column_B"], e["kwargs"]["column_A"]) for e in suite["expectations"]
                 if e["type"] == "expect_column_pair_values_a_to_be_greater_than_b"}
        assert pairs == set(sch.date_order)


def test_suite_expectations_quarantine_rows_gx_finds(tmp_path):
    """The GX suite is what runs: an NSO's added hard expectation quarantines the rows GX lists
    in unexpected_index_list, with the reason from the expectation's meta."""
    import json

    from reglink.ingest import ingest_extract

    suite = build_suite(SCHEMAS["border_crossings"])
    suite["expectations"].append({
        "type": "expect_column_values_to_be_in_set",
        "kwargs": {"column": "border_point", "value_set": ["AKL", "WLG", "CHC"]},
        "meta": {"severity": "hard", "reason": "unknown_border_point"}})
    (tmp_path / "border_crossings.json").write_text(json.dumps(suite))
    f = tmp_path / "bc.csv"
    f.write_text("record_id,direction,crossing_date,border_point\n"
                 "1,ENTRY,2024-01-01,AKL\n2,EXIT,2024-01-09,XYZ\n3,EXIT,2024-01-10,WLG\n"
                 "4,EXIT,2024-13-10,QQQ\n")
    r = ingest_extract("border_crossings", f, suite_dir=tmp_path)
    assert r.clean["record_id"].to_list() == ["1", "3"]
    q = {row["row_number"]: row for row in r.quarantine.iter_rows(named=True)}
    assert q[2]["reason"] == "unknown_border_point" and q[2]["value"] == "XYZ"
    assert q[4]["reason"] == "impossible_date"  # parse failures are not re-checked by GX
    exp = [e for e in r.summary.expectations if e["column"] == "border_point" and e["severity"] == "hard"]
    assert exp and exp[0]["unexpected_rows"] == 1 and exp[0]["success"] is False
    broken = dict(suite, expectations=[{"type": "expect_no_such_thing", "kwargs": {}, "meta": {}}])
    (tmp_path / "border_crossings.json").write_text(json.dumps(broken))
    import pytest

    from reglink.errors import ReglinkError
    with pytest.raises(ReglinkError, match="border_crossings.json: expectation 1 \\(expect_no_such_thing\\)"):
        ingest_extract("border_crossings", f, suite_dir=tmp_path)
