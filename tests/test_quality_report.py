"""Quality report (issue 8): figures checked against the stores they come from.

The fixture is a hand-built run (std_* in the restricted store, the stage tables in the
warehouse) with persons designed to trip each coherence check; migration_events is produced by
the real rule engine so the rule-sensitivity figures can be checked against it.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import duckdb
import polars as pl
import pytest

from reglink import store
from reglink.config import PipelineConfig
from reglink.quality import build_report
from reglink.rules import PRESETS, load_rule

D = dt.date
HOME = "NZL"
OBSERVED = D(2023, 12, 31)


def _person(pk, given, surname, sex, dob, cob, cit):
    return {"pk": pk, "given_names": given, "surname": surname, "sex": sex,
            "date_of_birth": dob, "country_of_birth": cob, "citizenship": cit}


PERSONS = {p["pk"]: p for p in [
    _person("PK001", "Wiremu", "Tanekaha", "M", D(1980, 4, 2), "NZL", "NZL"),   # citizen, trip
    _person("PK002", "Ludmila", "Kowalczyk", "F", D(1990, 6, 9), "POL", "POL"),  # immigrant
    _person("PK003", "Oyelaran", "Adebayowski", "M", D(1975, 1, 30), "NGA", "NGA"),  # no arrival
    _person("PK004", "Hinemoa", "Parataniwha", "F", D(1985, 11, 3), "NZL", "NZL"),  # emigrant, not dereg
    _person("PK005", "Tavita", "Leiataualesa", "M", D(1970, 2, 14), "WSM", "NZL"),  # emigrant, dereg
    _person("PK006", "Priyanka", "Ramaswamyiyer", "F", D(1995, 8, 21), "IND", "IND"),  # permit unused
    _person("PK007", "Bartholomew", "Quenneville", "M", D(1960, 12, 1), "CAN", "CAN"),  # tourist
    _person("PK008", "Xiadani", "Zempoaltecatl", "F", D(2001, 3, 17), "MEX", "MEX"),  # PR duplicate
    _person("PK009", "Guðrún", "Sigurðardóttir", "F", D(1988, 7, 7), "ISL", "ISL"),  # 7-month stay
]}

# (record_id, person_key, direction, date, travel_reason)
CROSSINGS = [
    ("C01", "PK001", "EXIT", D(2020, 1, 10), "HOLIDAY"),
    ("C02", "PK001", "ENTRY", D(2020, 1, 25), "RETURN_HOME"),
    ("C03", "PK002", "ENTRY", D(2020, 3, 1), "WORK"),
    ("C04", "PK004", "EXIT", D(2020, 5, 1), "OTHER"),
    ("C05", "PK005", "EXIT", D(2020, 7, 1), None),
    ("C06", "PK007", "ENTRY", D(2021, 2, 1), "HOLIDAY"),
    ("C07", "PK007", "EXIT", D(2021, 2, 15), "HOLIDAY"),
    ("C08", "PK008", "ENTRY", D(2020, 9, 1), "STUDY"),
    ("C09", "PK009", "ENTRY", D(2022, 1, 1), "WORK"),   # 212 days: a migration under 6-12 only
    ("C10", "PK009", "EXIT", D(2022, 8, 1), "WORK"),
]
# population register: (record_id, person_key, reg date, reason, dereg date, dereg reason)
POPULATION = [
    ("R01", "PK001", D(1980, 4, 2), "BIRTH", None, None),
    ("R02", "PK002", D(2020, 3, 20), "IMMIGRATION", None, None),
    ("R03", "PK003", D(2021, 6, 1), "IMMIGRATION", None, None),
    ("R04", "PK004", D(1985, 11, 3), "BIRTH", None, None),
    ("R05", "PK005", D(1995, 5, 5), "IMMIGRATION", D(2020, 7, 15), "EMIGRATION"),
    ("R06", "PK008", D(2020, 9, 20), "IMMIGRATION", None, None),
    ("R07", "PK008", D(2020, 9, 21), "IMMIGRATION", None, None),
]
# permits: (record_id, person_key, kind, purpose, valid_from, valid_to)
PERMITS = [
    ("P01", "PK002", "RESIDENCE", "WORK", D(2020, 2, 15), D(2023, 2, 14)),
    ("P02", "PK006", "WORK", "WORK", D(2021, 3, 1), D(2022, 2, 28)),
    ("P03", "PK008", "STUDY", "STUDY", D(2020, 8, 1), D(2024, 7, 31)),
]


def _std_border() -> pl.DataFrame:
    rows = []
    for rid, pk, direction, day, reason in CROSSINGS:
        p = PERSONS[pk]
        rows.append({"record_id": rid, "direction": direction, "crossing_date": day,
                     "sex": p["sex"], "date_of_birth": p["date_of_birth"],
                     "date_of_birth_raw": p["date_of_birth"].isoformat(),
                     "country_of_birth": p["country_of_birth"], "given_names": p["given_names"],
                     "surname": p["surname"], "citizenship": p["citizenship"],
                     "document_type": "PASSPORT", "document_number": f"DOC{pk[-3:]}X9Q7",
                     "document_country": p["citizenship"], "travel_reason": reason,
                     "transport_mode": "AIR", "source": "border_crossings",
                     "surname_std": p["surname"].upper()})
    df = pl.DataFrame(rows)
    # one unparseable date of birth (raw text kept, typed value null) and one bad country
    return df.with_columns(
        pl.when(pl.col("record_id") == "C06").then(None).otherwise(pl.col("date_of_birth"))
        .alias("date_of_birth"),
        pl.when(pl.col("record_id") == "C06").then(pl.lit("1960-13-45"))
        .otherwise(pl.col("date_of_birth_raw")).alias("date_of_birth_raw"),
        pl.when(pl.col("record_id") == "C07").then(pl.lit("ZZZ"))
        .otherwise(pl.col("country_of_birth")).alias("country_of_birth"))


def _std_population() -> pl.DataFrame:
    rows = []
    for rid, pk, reg, reason, dereg, dreason in POPULATION:
        p = PERSONS[pk]
        rows.append({"record_id": rid, "person_number": f"PN{pk[-3:]}{rid}",
                     **{k: v for k, v in p.items() if k != "pk"},
                     "registration_date": reg, "registration_reason": reason,
                     "deregistration_date": dereg, "deregistration_reason": dreason,
                     "region": "R1", "address": f"{int(pk[-1]) * 7} Kowhai Crescent",
                     "postcode": None})
    return pl.DataFrame(rows, schema_overrides={"deregistration_date": pl.Date,
                                                "deregistration_reason": pl.String,
                                                "postcode": pl.String})


def _std_permits() -> pl.DataFrame:
    rows = []
    for rid, pk, kind, purpose, vf, vt in PERMITS:
        p = PERSONS[pk]
        rows.append({"record_id": rid, "permit_number": f"PRM{pk[-3:]}", "permit_kind": kind,
                     "purpose": purpose, "issue_date": vf, "valid_from": vf, "valid_to": vt,
                     **{k: v for k, v in p.items() if k != "pk"}})
    return pl.DataFrame(rows)


def _links() -> pl.DataFrame:
    rows = [("border_crossings", r[0], r[1], 0.999) for r in CROSSINGS]
    rows += [("population_register", r[0], r[1], 0.98) for r in POPULATION]
    rows += [("permits", r[0], r[1], 0.6) for r in PERMITS]
    return pl.DataFrame(rows, schema=["source", "record_id", "person_key", "match_probability"],
                        orient="row")


def _crossings() -> pl.DataFrame:
    return pl.DataFrame([(r[1], r[0], r[2], r[3], r[4]) for r in CROSSINGS],
                        schema=["person_key", "crossing_record_id", "direction", "crossing_date",
                                "travel_reason"], orient="row")


def _initial_status() -> pl.DataFrame:
    # residents registered before their first crossing are seeded RESIDENT (tables stage rule)
    return pl.DataFrame({"person_key": ["PK001", "PK004", "PK005"],
                         "initial_status": ["RESIDENT"] * 3,
                         "initial_status_source": ["population_register"] * 3})


def make_run(tmp: Path, *, registers=("border_crossings", "population_register", "permits"),
             stages=True) -> PipelineConfig:
    """A run's two stores, built by hand with the documented columns."""
    wh_path, rs_path = tmp / "wh.duckdb", tmp / "wh.restricted.duckdb"
    cfg = PipelineConfig(home_country=HOME, rule=load_rule("12-16"), observed_until=OBSERVED,
                         warehouse=wh_path, reports=tmp / "reports",
                         extracts={s: tmp / f"{s}.csv" for s in registers})
    std = {"border_crossings": _std_border, "population_register": _std_population,
           "permits": _std_permits}
    rs = store.connect(rs_path)
    for s in registers:
        store.write_table(rs, f"std_{s}", std[s]())
    if "border_crossings" in registers:
        store.write_table(rs, "quarantine_border_crossings", pl.DataFrame({
            "row_number": [9, 10, 11], "record_id": ["C90", "C91", "C92"],
            "reason": ["invalid_date", "invalid_date", "unknown_code"],
            "column": ["crossing_date", "crossing_date", "direction"],
            "value": ["2020-02-30", "x", "IN"]}))
    rs.close()
    wh = store.connect(wh_path)
    log_rows = [(s, f"{s}.csv", "ab" * 32, "ab" * 8, "ingested", n + (3 if s == "border_crossings" else 0), n,
                 3 if s == "border_crossings" else 0, dt.datetime(2024, 1, 5, tzinfo=dt.timezone.utc))
                for s, n in (("border_crossings", len(CROSSINGS)),
                             ("population_register", len(POPULATION)),
                             ("permits", len(PERMITS))) if s in registers]
    store.write_table(wh, "ingest_log", pl.DataFrame(log_rows, orient="row", schema=[
        "source", "file", "sha256", "extract_id", "status", "rows_in", "rows_accepted",
        "rows_quarantined", "ingested_at"]))
    if "border_crossings" in registers:
        store.write_table(wh, "quality_quarantine", pl.DataFrame({
            "source": ["border_crossings"] * 2, "extract_id": ["ab" * 8] * 2,
            "reason": ["invalid_date", "unknown_code"], "column": ["crossing_date", "direction"],
            "rows": [2, 1]}))
    if stages:
        links = _links().filter(pl.col("source").is_in(list(registers)))
        store.write_table(wh, "person_links", links)
        store.write_table(wh, "quality_linkage_summary", pl.DataFrame({
            "metric": ["records", "persons"], "value": [float(links.height), 8.0]}))
        if "border_crossings" in registers:
            from reglink.rules.engine import derive_events
            cx = _crossings()
            store.write_table(wh, "crossings", cx)
            store.write_table(wh, "initial_status", _initial_status())
            ev = derive_events(cx, cfg.rule, observed_until=OBSERVED,
                               initial_status=_initial_status().select("person_key", "initial_status"),
                               id_col="person_key")
            store.write_table(wh, "migration_events", ev)
        store.write_table(wh, "accounting", pl.DataFrame({
            "subpopulation": ["native-born citizen", "native-born citizen", "foreign-born foreign citizen",
                              "foreign-born foreign citizen"],
            "year": [2020, 2021, 2020, 2021], "stock_start": [100, 99, 50, 52],
            "immigration": [0, 0, 3, 1], "emigration": [1, 0, 0, 0], "births": [0, 0, 0, 0],
            "deaths": [0, 0, 0, 0], "citizenship_changes": [0, 0, 0, 0],
            "stock_end": [99, 99, 52, 53], "residual": [0, 0, -1, 0]}))
    wh.close()
    return cfg


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("qrun")
    cfg = make_run(tmp)
    index = build_report(cfg, strict=True)
    return cfg, index


def fig(cfg: PipelineConfig, key: str) -> pl.DataFrame:
    meta = json.loads((cfg.reports / "figures" / f"{key}.json").read_text())
    assert meta["available"], meta
    return pl.read_parquet(cfg.reports / "figures" / f"{key}.parquet")


def restricted(cfg: PipelineConfig, table: str) -> pl.DataFrame:
    with duckdb.connect(str(cfg.restricted_path), read_only=True) as con:
        return con.sql(f"SELECT * FROM {table}").pl()


def warehouse(cfg: PipelineConfig, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(cfg.warehouse), read_only=True) as con:
        return con.sql(sql).pl()


def _filled(s: pl.Series) -> pl.Series:
    return s.is_not_null() & (s.cast(pl.String).str.strip_chars() != "")


# ------------------------------------------------------------------ Annex 1: fields, Annex 2

def test_completeness_and_validity_equal_shares_computed_from_std_tables(run):
    cfg, _ = run
    for source in ("border_crossings", "population_register", "permits"):
        std = restricted(cfg, f"std_{source}")
        figure = fig(cfg, f"{source}_fields")
        present = figure.filter(pl.col("present"))
        assert set(present["field"]) == {c for c in std.columns if c in set(figure["field"])}
        for r in present.iter_rows(named=True):
            col = f"{r['field']}_raw" if f"{r['field']}_raw" in std.columns else r["field"]
            filled = int(_filled(std[col]).sum())
            assert r["filled"] == filled, (source, r["field"])
            assert r["completeness"] == pytest.approx(filled / std.height)
    bc = fig(cfg, "border_crossings_fields")
    cob = bc.filter(pl.col("field") == "country_of_birth").row(0, named=True)
    std = restricted(cfg, "std_border_crossings")
    assert cob["valid"] == std.filter(pl.col("country_of_birth") != "ZZZ").height  # ZZZ invalid
    dob = bc.filter(pl.col("field") == "date_of_birth").row(0, named=True)
    assert dob["valid"] == std["date_of_birth"].is_not_null().sum()  # unparseable raw text
    assert dob["filled"] == std.height and dob["validity"] < 1


def test_annex2_letters_present_and_share_filled_from_std(run):
    cfg, _ = run
    from reglink.schemas import BORDER_CROSSINGS
    std = restricted(cfg, "std_border_crossings")
    a2 = fig(cfg, "border_crossings_annex2")
    assert a2["topic"].to_list() == list("ABCDEFGHIJKLMNOP")
    # P (other): no extra columns in this extract (test_quality_auditor covers one with them)
    assert a2.filter(pl.col("topic") == "P").row(0, named=True)["included"] == "N"
    for r in a2.filter(pl.col("topic") != "P").iter_rows(named=True):
        cols = [c.name for c in BORDER_CROSSINGS.columns if c.annex2 == r["topic"]]
        shares = [_filled(std[f"{c}_raw" if f"{c}_raw" in std.columns else c]).mean()
                  for c in cols if c in std.columns]
        assert r["included"] == ("Y" if shares and max(shares) > 0 else "N"), r
        assert r["share_filled"] == pytest.approx(min(shares) if shares else 0.0), r
    assert set(a2.filter(pl.col("included") == "N")["topic"]) == {"H", "K", "M", "O", "P"}


def test_data_types_and_coverage_follow_the_records(run):
    cfg, _ = run
    dtypes = fig(cfg, "permits_data_types")
    assert dict(zip(dtypes["data_type"], dtypes["collected"]))["2. Socioeconomic information"] is False
    cov = fig(cfg, "population_register_coverage")
    std = restricted(cfg, "std_population_register")
    cit = cov.filter(pl.col("dimension") == "citizenship")
    assert dict(zip(cit["group"], cit["records"]))["citizen"] == (std["citizenship"] == HOME).sum()
    reasons = cov.filter(pl.col("dimension") == "registration_reason")
    assert reasons["records"].sum() == std.height


def test_timeliness_lag_is_reference_minus_latest_event(run):
    cfg, _ = run
    tim = fig(cfg, "border_crossings_timeliness").row(0, named=True)
    last = restricted(cfg, "std_border_crossings")["crossing_date"].max()
    assert tim["last_month"] == last.strftime("%Y-%m")
    assert tim["days_last_event_to_reference"] == (OBSERVED - last).days
    monthly = fig(cfg, "border_crossings_monthly")
    assert monthly["crossing_date"].sum() == len(CROSSINGS)
    std = restricted(cfg, "std_population_register")
    pr = fig(cfg, "population_register_monthly")  # study period only: from the first crossing
    in_period = std.filter(pl.col("registration_date") >= min(r[3] for r in CROSSINGS))
    assert pr["registration_date"].sum() == in_period.height


# ------------------------------------------------------------------ validation, linkage

def test_quarantine_counts_equal_quality_quarantine(run):
    cfg, _ = run
    shown = fig(cfg, "quarantine_by_reason").group_by("source", "reason").agg(pl.col("rows").sum())
    wh = warehouse(cfg, "SELECT source, reason, sum(rows) AS rows FROM quality_quarantine GROUP BY ALL")
    assert sorted(shown.iter_rows()) == sorted(wh.iter_rows())


def test_quarantine_falls_back_to_restricted_tables(tmp_path):
    cfg = make_run(tmp_path)
    with duckdb.connect(str(cfg.warehouse)) as con:
        con.execute("DROP TABLE quality_quarantine")
    build_report(cfg, strict=True)
    shown = fig(cfg, "quarantine_by_reason")
    q = restricted(cfg, "quarantine_border_crossings").group_by("reason").len()
    assert dict(zip(shown["reason"], shown["rows"])) == dict(zip(q["reason"], q["len"]))


def test_linkage_shares_and_duplicates_equal_person_links(run):
    cfg, _ = run
    links = warehouse(cfg, "SELECT * FROM person_links")
    shown = fig(cfg, "linkage_cross_register")
    for r in shown.iter_rows(named=True):
        mine = links.filter(pl.col("source") == r["source"])
        other = set(links.filter(pl.col("source") == r["other_source"])["person_key"])
        linked = mine["person_key"].is_in(list(other)).sum()
        assert (r["records"], r["linked"]) == (mine.height, linked), r
        assert r["share"] == pytest.approx(linked / mine.height)
    dup = fig(cfg, "linkage_within_register")
    pr = dup.filter(pl.col("source") == "population_register").row(0, named=True)
    per = links.filter(pl.col("source") == "population_register").group_by("person_key").len()
    assert pr["persons"] == per.height
    assert pr["records_beyond_one_per_person"] == per["len"].sum() - per.height
    mw = fig(cfg, "linkage_match_weights")
    assert mw["records"].sum() == links.height


# ------------------------------------------------------------------ coherence

def test_coherence_checks_find_the_planted_persons(run):
    cfg, _ = run
    expect = {"immigrants_without_arrival": "PK003", "missing_deregistration": "PK004",
              "permits_never_used": "PK006"}
    for key, person in expect.items():
        meta = json.loads((cfg.reports / "figures" / f"coherence_{key}.json").read_text())
        row = meta["rows"][0]
        assert row["found"] == 1 and row["records_checked"] >= 1, (key, row)
        html = (cfg.reports / "index.html").read_text()
        assert person in html
    # PK005 emigrated and de-registered; PK002 used the permit: never flagged
    html = (cfg.reports / "index.html").read_text()
    section = html[html.index('id="coherence"'):html.index('id="rules"')]
    assert "PK005" not in section and "PK002" not in section


# ------------------------------------------------------------------ rules, accounting

def test_rule_sensitivity_equals_derive_events_per_preset(run):
    cfg, _ = run
    from reglink.rules.engine import derive_events
    cx = warehouse(cfg, "SELECT * FROM crossings")
    init = _initial_status().select("person_key", "initial_status")
    shown = fig(cfg, "rule_sensitivity")
    for name, rule in PRESETS.items():
        ev = derive_events(cx, rule, observed_until=OBSERVED, initial_status=init,
                           id_col="person_key")
        counts = ev.group_by(pl.col("event_date").dt.year().alias("year"), "event_type").len()
        expected = {(r[0], r[1]): r[2] for r in counts.iter_rows()}
        got = {(r["year"], r["event_type"]): r[name] for r in shown.iter_rows(named=True)
               if r[name]}
        assert got == expected, name
    # the presets disagree on PK009's 212-day stay: 6-12 counts it, 12-16 does not
    y22 = shown.filter(pl.col("year") == 2022)
    assert y22["6-12"].sum() == 2 and y22["12-16"].sum() == 0
    check = fig(cfg, "rule_check_warehouse")
    assert check.height and (check["difference"] == 0).all()


def test_accounting_residual_equals_warehouse(run):
    cfg, _ = run
    shown = fig(cfg, "accounting_residual")
    wh = warehouse(cfg, "SELECT subpopulation, CAST(year AS VARCHAR) AS year, "
                        "CAST(residual AS DOUBLE) AS residual FROM accounting")
    assert sorted(shown.select("subpopulation", "year", "residual").iter_rows()) == \
        sorted(wh.iter_rows())


# ------------------------------------------------------------------ robustness, privacy, a11y

def test_report_builds_with_registers_and_stages_missing(tmp_path):
    cfg = make_run(tmp_path, registers=("population_register",), stages=False)
    index = build_report(cfg, strict=True)
    html = index.read_text()
    assert "not delivered" in html and "person_links is not in the warehouse" in html
    assert "no crossings table" in html and "no accounting table" in html
    bc = (cfg.reports / "register-border_crossings.html").read_text()
    assert "not delivered" in bc
    assert fig(cfg, "population_register_fields").height > 0
    # nothing at all: no stores
    empty = PipelineConfig(warehouse=tmp_path / "none" / "w.duckdb", reports=tmp_path / "r2")
    assert build_report(empty, strict=True).exists()
    assert not (tmp_path / "none" / "w.duckdb").exists()  # the report creates no store


EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:|//)|url\((?!#)|@import|<script|<link\b|<iframe|<img\b""",
                      re.I)


def test_html_is_self_contained_and_free_of_identifiers(run):
    cfg, _ = run
    pages = list(cfg.reports.glob("*.html"))
    assert len(pages) == 5
    secrets = set()
    for source, cols in (("border_crossings", ["given_names", "surname", "document_number"]),
                         ("population_register", ["given_names", "surname", "person_number",
                                                  "address"]),
                         ("permits", ["permit_number", "surname"])):
        std = restricted(cfg, f"std_{source}")
        for c in cols:
            secrets |= {str(v) for v in std[c].drop_nulls()}
        secrets |= {v.isoformat() for v in std["date_of_birth"].drop_nulls()}
    texts = [p.read_text() for p in pages]
    texts += [p.read_text() for p in (cfg.reports / "figures").glob("*.json")]
    for text in texts:
        assert not EXTERNAL.search(text), EXTERNAL.search(text).group(0)
        low = text.lower()
        leaked = [s for s in secrets if s.lower() in low]
        assert not leaked, leaked


def test_every_chart_has_a_title_and_a_table_and_tables_have_captions(run):
    cfg, _ = run
    for page in cfg.reports.glob("*.html"):
        html = page.read_text()
        svgs = re.findall(r"<svg[^>]*>", html)
        assert html.count("<title id=") == len(svgs)
        assert all('role="img"' in s and "aria-labelledby" in s for s in svgs)
        assert html.count("<table") == html.count("<caption>")
        for m in re.finditer(r"</figure>", html):
            assert "<table" in html[m.end():m.end() + 600]  # the numbers follow the chart
    assert "<svg" in (cfg.reports / "index.html").read_text()


def test_warehouse_quality_tables_hold_the_figures_and_no_identifiers(run):
    cfg, _ = run
    with duckdb.connect(str(cfg.warehouse), read_only=True) as con:
        names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert {"quality_fields", "quality_annex2", "quality_rule_sensitivity",
                "quality_coherence", "quality_cross_links"} <= names
        cols = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                           "WHERE table_name LIKE 'quality_%'").fetchall()
        assert not [c for c in cols if store.is_identifier_column(c[1])]
        qf = con.execute("SELECT completeness FROM quality_fields WHERE source = 'permits' "
                         "AND field = 'purpose'").fetchall()
    assert qf[0][0] == pytest.approx(1.0)


def test_links_great_expectations_data_docs_when_present(tmp_path):
    cfg = make_run(tmp_path, registers=("permits",), stages=False)
    docs = cfg.reports / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    docs.parent.mkdir(parents=True)
    docs.write_text("<html></html>")
    html = build_report(cfg, strict=True).read_text()
    assert 'href="gx/uncommitted/data_docs/local_site/index.html"' in html


def test_report_builds_when_tables_exist_but_are_empty(tmp_path):
    cfg = make_run(tmp_path)
    with duckdb.connect(str(cfg.restricted_path)) as con:
        con.execute("DELETE FROM std_permits")
    with duckdb.connect(str(cfg.warehouse)) as con:
        for t in ("crossings", "migration_events", "accounting", "person_links"):
            con.execute(f"DELETE FROM {t}")
    build_report(cfg, strict=True)
    assert fig(cfg, "permits_fields")["records"].to_list()[0] == 0
    assert fig(cfg, "rule_sensitivity").height == 0
    html = (cfg.reports / "register-permits.html").read_text()
    assert "Annex 1" in html


def test_custom_configured_rule_is_compared_too(tmp_path):
    cfg = make_run(tmp_path)
    cfg.rule = load_rule({"name": "8-12", "window_days": 365, "threshold_days": 240})
    cfg.raw = {"quality": {"rule_presets": ["12-16"]}}
    build_report(cfg, strict=True)
    shown = fig(cfg, "rule_sensitivity")
    assert [c for c in shown.columns if c not in ("year", "event_type")] == ["12-16", "8-12"]
    y22 = shown.filter(pl.col("year") == 2022)
    assert y22["8-12"].sum() == 0  # PK009's 212 days are short of 240


def test_rebuild_drops_quality_tables_whose_inputs_are_gone(tmp_path):
    cfg = make_run(tmp_path)
    build_report(cfg, strict=True)
    with duckdb.connect(str(cfg.warehouse)) as con:
        assert con.execute("SELECT count(*) FROM quality_rule_sensitivity").fetchall()[0][0] > 0
        con.execute("DROP TABLE crossings")
    build_report(cfg, strict=True)
    with duckdb.connect(str(cfg.warehouse), read_only=True) as con:
        names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "quality_rule_sensitivity" not in names and "quality_fields" in names
    meta = json.loads((cfg.reports / "figures" / "rule_sensitivity.json").read_text())
    assert meta["available"] is False and "crossings" in meta["absent_reason"]
    assert not (cfg.reports / "figures" / "coherence_permits_never_used.json").exists()
