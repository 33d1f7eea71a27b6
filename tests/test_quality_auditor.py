"""What an auditor reads in the quality report: an Annex 1 row complete (data and the
configuration's `annex1:`), counts that agree with row accounting, a linkage verdict in plain
words with Splink's views as static charts and the tables folded, provisional years marked."""
from __future__ import annotations

import re

import duckdb
import polars as pl
import pytest

from reglink import store
from reglink.quality import build_report
from reglink.quality.linkage import weight_of

from test_quality_report import make_run

SUMMARY = {"records": 1200.0, "persons": 400.0, "threshold": 0.9,
           "expected_false_match_rate": 0.0005, "expected_missed_match_rate": 0.02,
           "model_trained_this_run": 0.0}
PARAMS = pl.DataFrame({
    "comparison": ["given_names", "given_names", "given_names", "surname", "surname",
                   "birth_date", "birth_date", "birth_date"],
    "level_order": [0, 1, 2, 0, 1, 0, 1, 2],
    "level": ["Exact match", "Jaro-Winkler >= 0.92", "All other comparisons", "Exact match",
              "All other comparisons", "exact date", "year within one", "All other comparisons"],
    "m_probability": [0.9, 0.08, 0.02, 0.9, 0.1, 0.93, 0.05, 0.02],
    "u_probability": [0.002, 0.001, 0.997, 0.006, 0.994, 0.0001, 0.04, 0.9599]})
PARAMS = PARAMS.with_columns(
    (pl.col("m_probability") / pl.col("u_probability")).log(2).alias("match_weight"))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("audit")
    cfg = make_run(tmp)
    cfg.raw = {"annex1": {"border_crossings": {
        "agency": "Immigration Service", "shared_anonymised": True, "published": "aggregated",
        "disseminated_data": "arrivals and departures by citizenship",
        "release_frequency": "monthly"}}}
    # a row failing two checks is one quarantined row (three rows, four reason x column pairs)
    with duckdb.connect(str(cfg.restricted_path)) as rs:
        rs.execute("DELETE FROM quarantine_border_crossings")
        rs.execute("INSERT INTO quarantine_border_crossings VALUES "
                   "(9, 'C90', 'invalid_date', 'crossing_date', 'x'),"
                   "(10, 'C91', 'invalid_date', 'crossing_date', 'y'),"
                   "(11, 'C92', 'unknown_code', 'direction', 'IN')")
    wh = store.connect(cfg.warehouse)
    store.write_table(wh, "quality_quarantine", pl.DataFrame({
        "source": ["border_crossings"] * 3, "extract_id": ["ab" * 8] * 3,
        "reason": ["invalid_date", "unknown_code", "unknown_country"],
        "column": ["crossing_date", "direction", "citizenship"], "rows": [2, 1, 1]}))
    store.write_table(wh, "quality_linkage_summary", pl.DataFrame({
        "metric": list(SUMMARY), "value": list(SUMMARY.values()),
        "meaning": [""] * len(SUMMARY)}))
    store.write_table(wh, "quality_linkage_match_weights", pl.DataFrame({
        "weight_bin": list(range(-4, 12)), "pairs": [50] * 16,
        "accepted_pairs": [0] * 8 + [50] * 8}))
    store.write_table(wh, "quality_linkage_parameters", PARAMS)
    store.write_table(wh, "flows", pl.DataFrame({
        "period": ["2020", "2020", "2021", "2021"], "period_type": ["year"] * 4,
        "breakdown": ["total"] * 4, "event_type": ["IMMIGRATION", "EMIGRATION"] * 2,
        "status": ["final", "final", "provisional", "provisional"], "persons": [3, 1, 1, 0],
        "persons_final": [3, 1, 1, 0], "persons_expected": [0.0, 0.0, 1.5, 0.4],
        "persons_provisional_estimate": [3.0, 1.0, 2.5, 0.4], "ci_low": [3.0, 1.0, 1.0, 0.0],
        "ci_high": [3.0, 1.0, 4.0, 1.0]}))
    wh.close()
    index = build_report(cfg, strict=True)
    return cfg, index


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _annex1(cfg, source: str) -> dict[str, str]:
    page = (cfg.reports / f"register-{source}.html").read_text(encoding="utf-8")
    part = page[page.index('<table class="annex1">'):page.index("</table>", page.index('<table class="annex1">'))]
    return {k.strip(): _text(v).strip() for k, v in
            re.findall(r'<th scope="row">(.*?)</th><td>(.*?)</td>', part, flags=re.S)}


def test_annex1_row_has_every_column_of_the_form(report):
    cfg, _ = report
    row = _annex1(cfg, "border_crossings")
    assert list(row)[:7] == [
        "Annex 1 row", "Data type collected", "Data available in digital form (Y/N)",
        "Data shared anonymised (Y/N)", "Type of disseminated data",
        "Are microdata or aggregated data published?", "Frequency of public release"]
    assert list(row)[-2:] == ["NSO has access to micro data (Y/N)", "Name of agency collecting data"]
    assert row["Name of agency collecting data"] == "Immigration Service"
    assert row["Data shared anonymised (Y/N)"] == "Y"
    assert row["Are microdata or aggregated data published?"] == "aggregated data"
    assert row["Frequency of public release"] == "monthly"
    # a register without an annex1 entry says which key to set, never a blank
    perm = _annex1(cfg, "permits")
    assert perm["Name of agency collecting data"] == ("not stated: set annex1.permits.agency "
                                                      "in the configuration")


def test_annex1_quarantined_rows_are_rows_not_reason_column_pairs(report):
    cfg, _ = report
    quality = _annex1(cfg, "border_crossings")["Quality of the data"]
    # the restricted quarantine holds 3 rows; quality_quarantine sums 4 reason x column pairs
    assert "3 rows quarantined at ingest" in quality and "4 rows" not in quality


def test_annex1_keys_are_checked_by_the_config_schema(tmp_path):
    from reglink.config_schema import ConfigSchemaError, check_config_text

    check_config_text("annex1: {permits: {agency: Labour Ministry, published: both}}\n", "c.yaml")
    with pytest.raises(ConfigSchemaError, match="annex1.permits.agencyy: unknown key"):
        check_config_text("annex1: {permits: {agencyy: Labour Ministry}}\n", "c.yaml")
    with pytest.raises(ConfigSchemaError, match="'sometimes' is not one of microdata"):
        check_config_text("annex1: {permits: {published: sometimes}}\n", "c.yaml")


def test_linkage_summary_reads_in_plain_words_with_the_detail_folded(report):
    cfg, index = report
    page = index.read_text(encoding="utf-8")
    sec = page[page.index('id="linkage"'):page.index('id="coherence"')]
    text = _text(sec)
    assert "1,200 records of all registers were linked into 400 persons" in text
    assert f"at least 0.90 (a match weight of {weight_of(0.9):.1f}" in text
    assert "False matches (two different people joined): about 1 in 2,000 (0.05 %)" in text
    assert "Missed matches (one person left as two): about 1 in 50 (2 %)" in text
    assert "inflates both flows" in text
    # the verdict comes before any chart; the raw tables are folded below it
    assert sec.index("In short") < sec.index("<svg")
    detail = sec[sec.index('<details class="detail">'):]
    assert "Records linked to persons in other registers" in detail
    assert "quality_linkage_clusters" not in sec[:sec.index('<details class="detail">')]
    assert "<script" not in page


def test_splinks_views_are_static_charts_with_the_threshold(report):
    cfg, index = report
    page = index.read_text(encoding="utf-8")
    for key, title in (("linkage_pair_weights", "Candidate pairs by match weight"),
                       ("linkage_m_u", "m and u probabilities"),
                       ("linkage_waterfall", "Match weight waterfall")):
        block = page[page.index(f'id="fig-{key}"'):]
        block = block[:block.index("</figure>")]
        assert "<svg" in block and title in block, key
    # the threshold line is drawn on the histogram (its label is text drawn as paths: check
    # the figure description and the dashed line instead)
    hist = page[page.index('id="fig-linkage_pair_weights"'):]
    assert "dashed line marks the threshold" in hist[:hist.index("</figure>")]
    assert "stroke-dasharray" in hist[:hist.index("</figure>")]
    wf = pl.read_parquet(cfg.reports / "figures" / "linkage_waterfall.parquet")
    # each example pair: the prior then one step per comparison of the model
    assert wf.group_by("pair").len()["len"].to_list() == [4, 4, 4]
    every = wf.filter(pl.col("pair").str.starts_with("A:")).filter(pl.col("step") != "prior (two random records)")
    best = PARAMS.filter(pl.col("level_order") == 0).sort("comparison")
    assert sorted(every["weight"].to_list()) == pytest.approx(sorted(best["match_weight"].to_list()))


def test_tables_fold_and_provisional_years_are_marked(report):
    cfg, index = report
    page = index.read_text(encoding="utf-8")
    # every table drawn as a chart, or longer than a screen, is folded (no script needed)
    assert page.count('<details class="table">') >= 3
    acc = page[page.index('id="fig-accounting_residual"'):]
    acc = acc[:acc.index('<p class="method">')]
    assert "2021 (provisional)" in acc and "2020 (provisional)" not in acc
    assert re.search(r'<td class="[^"]*provisional">2021 \(provisional\)</td>', acc)


def test_extra_extract_columns_are_kept_and_reported_as_annex2_topic_p(tmp_path):
    """Columns outside the schema survive ingest (std and quarantine) and fill topic P."""
    import json

    from reglink.ingest import ingest_extract

    csv = tmp_path / "c.csv"
    csv.write_text("record_id,direction,crossing_date,Visa_category,Remarks\n"
                   "R1,ENTRY,2024-01-02,B2,\n"
                   "R2,EXIT,2024-01-03,,late flight\n"
                   "R3,ENTRY,2024-01-04,,\n"
                   "R4,SIDEWAYS,2024-01-05,W1,x\n", encoding="utf-8")
    res = ingest_extract("border_crossings", csv, suite=False)
    assert res.summary.ignored_columns == ["Visa_category", "Remarks"]
    kept = dict(zip(res.clean["record_id"], res.clean["other_columns"]))
    assert json.loads(kept["R1"]) == {"Visa_category": "B2", "Remarks": None}
    assert json.loads(kept["R2"]) == {"Visa_category": None, "Remarks": "late flight"}
    assert kept["R3"] is None
    q = res.quarantine.row(0, named=True)
    assert q["record_id"] == "R4" and json.loads(q["raw_other_columns"])["Visa_category"] == "W1"

    cfg = make_run(tmp_path / "run", registers=("border_crossings",), stages=False)
    with duckdb.connect(str(cfg.restricted_path)) as rs:
        rs.execute("ALTER TABLE std_border_crossings ADD COLUMN other_columns VARCHAR")
        rs.execute("""UPDATE std_border_crossings SET other_columns = '{"Visa_category": "B2"}'
                      WHERE rowid % 2 = 0""")
        n = rs.execute("SELECT count(*), count(other_columns) FROM std_border_crossings").fetchone()
    build_report(cfg, strict=True)
    a2 = pl.read_parquet(cfg.reports / "figures" / "border_crossings_annex2.parquet")
    p = a2.filter(pl.col("topic") == "P").row(0, named=True)
    assert p["included"] == "Y" and p["columns"] == "Visa_category"
    assert p["share_filled"] == pytest.approx(n[1] / n[0])
    assert a2["topic"].to_list() == list("ABCDEFGHIJKLMNOP")
