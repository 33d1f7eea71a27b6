"""Quality report on a real run: synthetic registers through the real ingest, linkage and
tables stages, then checks of the report's figures against what those stages wrote."""
from __future__ import annotations

import json
import re

import duckdb
import polars as pl
import pytest

from reglink.config import load_config
from reglink.quality import build_report

# End to end through four other stages (about 40 s on the shared 2-core machine).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    from reglink.ingest import ingest_all
    from reglink.linkage import link_persons
    from reglink.synth.generate import generate
    from reglink.tables import build_tables

    out = tmp_path_factory.mktemp("qreal")
    generate(out, persons=100, years=2, seed=7, events=False)
    cfg = load_config(out / "reglink.yaml")
    ingest_all(cfg)
    link_persons(cfg)
    build_tables(cfg)
    build_report(cfg, strict=True)
    return cfg


def _fig(cfg, key) -> dict:
    return json.loads((cfg.reports / "figures" / f"{key}.json").read_text())


def _sql(path, sql) -> pl.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.sql(sql).pl()


def test_recomputed_configured_rule_equals_migration_events(real):
    rows = _fig(real, "rule_check_warehouse")["rows"]
    assert rows and all(r["difference"] == 0 for r in rows)
    total = _sql(real.warehouse, "SELECT count(*) AS n FROM migration_events")["n"][0]
    assert sum(r["warehouse_events"] for r in rows) == total


def test_report_reads_the_rule_inputs_the_tables_stage_read(real):
    """The same permits and initial statuses, whether read as the tables stage reads them (one
    connection, restricted store attached) or as the report does (two stores)."""
    from reglink.quality import sensitivity
    from reglink.quality.stores import Stores
    from reglink.rules import inputs

    n = inputs.evidence_days(real.rule, None)
    with duckdb.connect(str(real.warehouse), read_only=True) as con:
        con.execute(f"ATTACH '{real.restricted_path}' AS restricted (READ_ONLY)")
        tables_ev = inputs.permit_evidence(con, "restricted", 1)
        tables_long = inputs.permit_evidence(con, "restricted", n)
        tables_init = con.sql(inputs.seeded_initial_status_sql()).pl()
    st = Stores.open(real.warehouse, real.restricted_path)
    try:
        with sensitivity.permit_links(st) as linked:
            assert linked
            report_ev = sensitivity.load_permit_evidence(st, 1)
            report_long = sensitivity.load_permit_evidence(st, n)
        report_init = sensitivity.load_initial_status(st)
    finally:
        st.close()
    assert tables_ev.height > 0 and sorted(report_ev.rows()) == sorted(tables_ev.rows())
    assert sorted(report_long.rows() if report_long is not None else []) == \
        sorted(tables_long.rows())
    assert tables_init.height > 0 and sorted(report_init.rows()) == sorted(tables_init.rows())


def test_applicable_completeness_of_next_country_from_std(real):
    std = _sql(real.restricted_path, "SELECT deregistration_reason, next_country "
                                     "FROM std_population_register")
    emig = std.filter(pl.col("deregistration_reason") == "EMIGRATION")
    row = next(r for r in _fig(real, "population_register_fields")["rows"]
               if r["field"] == "next_country")
    assert row["applicable_records"] == emig.height
    if emig.height:
        assert row["completeness_applicable"] == pytest.approx(
            emig["next_country"].is_not_null().mean())


def test_row_accounting_and_linkage_match_the_warehouse(real):
    log = _sql(real.warehouse, "SELECT source, rows_accepted FROM ingest_log")
    links = _sql(real.warehouse, "SELECT source, count(*) AS n FROM person_links GROUP BY ALL")
    shown = {r["source"]: r["records"] for r in _fig(real, "linkage_within_register")["rows"]}
    assert shown == dict(links.iter_rows())
    for source, accepted in log.iter_rows():
        fields = _fig(real, f"{source}_fields")["rows"]
        assert fields[0]["records"] == accepted


def test_no_names_or_document_numbers_reach_the_report(real):
    secrets: set[str] = set()
    for source, cols in (("border_crossings", ("given_names", "surname", "document_number")),
                         ("population_register", ("surname", "person_number", "address")),
                         ("permits", ("surname", "permit_number", "document_number")),
                         ("asylum_register", ("surname", "case_number"))):
        std = _sql(real.restricted_path, f"SELECT * FROM std_{source}")
        for c in cols:
            if c in std.columns:
                secrets |= {str(v) for v in std[c].drop_nulls() if len(str(v)) >= 5}
    assert secrets
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(secrets))) + r")\b", re.I)
    files = list(real.reports.glob("*.html")) + list((real.reports / "figures").glob("*.json"))
    for f in files:
        m = pattern.search(f.read_text())
        assert m is None, (f.name, m.group(0))
