"""The Dagster asset graph (issue 7): it loads, materialises end to end on a synthetic world,
re-runs as a no-op, takes a landed delivery, and a broken extract stops everything downstream.

One synthetic world (300 persons, 3 years) is run once per module through
`reglink_dagster.orchestration.execute` — the code path of `reglink run` — and the tests look at the
warehouse, the restricted store and the Dagster instance's own records.
"""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from reglink_dagster.definitions import defs
from reglink import store
from reglink.config import load_config
from reglink_dagster.orchestration import execute

warnings.filterwarnings("ignore", module="dagster")

REGISTERS = ("border_crossings", "permits", "population_register", "asylum_register")
PERSONS, YEARS, SEED = 300, 3, 7


def _world(folder: Path) -> Path:
    from reglink.synth import generate

    generate(folder, persons=PERSONS, years=YEARS, seed=SEED)
    cfg = folder / "reglink.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["warehouse"] = "out/reglink.duckdb"
    data["reports"] = "out/reports"
    data["landing"] = "landing"
    cfg.write_text(yaml.safe_dump(data))
    return cfg


def _query(db: Path, sql: str) -> list[tuple]:
    con = store.connect(db, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world")
    cfg_path = _world(folder)
    cfg = load_config(cfg_path)
    instance = dg.DagsterInstance.ephemeral()
    first = execute(cfg, instance=instance)
    return {"folder": folder, "cfg": cfg, "instance": instance, "first": first}


def test_definitions_load_with_stage_groups():
    d = defs()
    graph = d.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for r in REGISTERS:
        assert f"raw/{r}" in keys
        assert f"validated/{r}" in keys
    assert "linkage/person_links" in keys
    assert {"persons/crossings", "events/migration_events", "tables/flows", "tables/stocks",
            "tables/temporary_mobility", "tables/accounting"} <= keys
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {"extracts", "validated"} <= groups
    assert {j.name for j in d.resolve_all_job_defs()} >= {"reglink_all", "reglink_delivery",
                                                          "reglink_derived"}
    assert {s.name for s in d.sensors} == {"landing_sensor", "derived_after_delivery"}
    assert [s.name for s in d.schedules] == ["monthly_derived_tables"]
    # raw and validated registers are partitioned by delivery; derived assets are not
    assert graph.get(dg.AssetKey(["raw", "permits"])).partitions_def.name == "deliveries"
    if "linkage/person_links" in keys:
        assert graph.get(dg.AssetKey(["linkage", "person_links"])).partitions_def is None
        checks = {c.name for c in d.resolve_asset_graph().asset_check_keys}
        assert {"row_accounting", "validation", "every_record_linked", "linkage_rates"} <= checks


def test_whole_graph_materialises(world):
    out, cfg = world["first"], world["cfg"]
    assert out.success, out.failed
    built = set(out.built)
    for r in REGISTERS:
        assert {f"raw/{r}", f"validated/{r}"} <= built
    assert {"linkage/person_links", "events/migration_events", "tables/flows", "tables/stocks",
            "quality/report"} <= built
    # every input row is accounted for: accepted rows in std_*, the rest in quarantine_*
    for r in REGISTERS:
        n_in = pl.read_parquet(world["folder"] / f"{r}.parquet").height
        std = _query(cfg.restricted_path, f"SELECT count(*) FROM std_{r}")[0][0]
        quar = _query(cfg.restricted_path, f"SELECT count(*) FROM quarantine_{r}")[0][0]
        assert std + quar == n_in
        linked = _query(cfg.warehouse, f"SELECT count(*) FROM person_links WHERE source = '{r}'")
        assert linked[0][0] == std
    persons = _query(cfg.warehouse, "SELECT count(DISTINCT person_key) FROM person_links")[0][0]
    assert 0.8 * PERSONS <= persons <= 1.2 * PERSONS
    events = dict(_query(cfg.warehouse, "SELECT event_type, count(*) FROM migration_events GROUP BY 1"))
    assert events.get("IMMIGRATION", 0) > 0 and events.get("EMIGRATION", 0) > 0
    assert (cfg.reports / "index.html").exists()
    store.assert_no_identifiers(store.connect(cfg.warehouse, read_only=True))


def test_materialisations_carry_metadata_and_checks(world):
    inst = world["instance"]
    ev = inst.get_latest_materialization_event(dg.AssetKey(["validated", "border_crossings"]))
    md = ev.asset_materialization.metadata
    assert md["rows_in"].value == md["rows_accepted"].value + md["rows_quarantined"].value
    assert len(md["extract_sha256"].value) == 64
    assert "quarantine_by_reason" in md and "completeness" in md
    links = inst.get_latest_materialization_event(dg.AssetKey(["linkage", "person_links"]))
    assert "linkage_rates" in links.asset_materialization.metadata
    events = inst.get_latest_materialization_event(dg.AssetKey(["events", "migration_events"]))
    emd = events.asset_materialization.metadata
    assert emd["events_immigration"].value == _query(
        world["cfg"].warehouse,
        "SELECT count(*) FROM migration_events WHERE event_type = 'IMMIGRATION' AND NOT provisional")[0][0]
    assert "| " in emd["preview"].value  # a markdown table
    # the blocking checks ran and passed
    check = inst.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey(["validated", "permits"]), "row_accounting")])
    assert list(check.values())[0].status.value == "SUCCEEDED"
    # the accounting residual check (a warning) agrees with the warehouse table
    share = _query(world["cfg"].warehouse,
                   "SELECT max(r) FROM (SELECT year, sum(abs(residual)) / greatest(sum(stock_start), 1)"
                   " AS r FROM accounting WHERE subpopulation <> 'TOTAL' GROUP BY year)")[0][0]
    acc = list(inst.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey(["tables", "accounting"]), "residual_within_tolerance")]
    ).values())[0]
    assert acc.status.value == ("SUCCEEDED" if share <= 0.02 else "FAILED")


def test_rerun_with_nothing_new_changes_nothing(world):
    cfg = world["cfg"]
    before = _query(cfg.warehouse, "SELECT sum(hash(person_key || source || record_id)) FROM person_links")
    ev_before = _query(cfg.warehouse, "SELECT count(*), sum(hash(person_key || event_date)) FROM migration_events")
    again = execute(cfg, instance=world["instance"])
    assert again.success, again.failed
    assert again.built == [], again.built
    assert set(again.unchanged) == set(world["first"].built)
    assert again.seconds < world["first"].seconds
    assert _query(cfg.warehouse, "SELECT sum(hash(person_key || source || record_id)) FROM person_links") == before
    assert _query(cfg.warehouse, "SELECT count(*), sum(hash(person_key || event_date)) FROM migration_events") == ev_before


def test_landed_delivery_adds_a_partition_and_only_its_rows(world):
    cfg = world["cfg"]
    month = world["folder"] / "landing" / "2026-01"
    month.mkdir(parents=True)
    perm = pl.read_parquet(world["folder"] / "permits.parquet").head(10)
    perm.with_columns(pl.format("M2026-{}", pl.col("record_id")).alias("record_id")).write_csv(
        month / "permits.csv")
    # a quiet month: the asylum register arrives with its header and no rows
    (month / "asylum_register.csv").write_text("record_id,case_number,application_date\n")
    asylum_before = _query(cfg.restricted_path, "SELECT count(*) FROM std_asylum_register")[0][0]
    before = _query(cfg.restricted_path, "SELECT count(*) FROM std_permits")[0][0]
    out = execute(cfg, instance=world["instance"])
    assert out.success, out.failed
    assert "validated/asylum_register" in out.built
    assert _query(cfg.restricted_path, "SELECT count(*) FROM std_asylum_register")[0][0] == asylum_before
    assert "2026-01" in world["instance"].get_dynamic_partitions("deliveries")
    assert {"raw/permits", "validated/permits", "linkage/person_links"} <= set(out.built)
    assert "validated/border_crossings" in out.unchanged  # the baseline was not re-read
    rows = dict(_query(cfg.restricted_path, "SELECT delivery, count(*) FROM std_permits GROUP BY 1"))
    assert rows["2026-01"] == 10 and rows["baseline"] == before


def test_broken_extract_blocks_downstream(tmp_path):
    cfg_path = _world(tmp_path)
    bc = pl.read_parquet(tmp_path / "border_crossings.parquet")
    # a third of the crossings lose their direction: the suite quarantines them, the
    # quarantine share exceeds the limit, the blocking check fails
    broken = bc.with_row_index("_i").with_columns(
        pl.when(pl.col("_i") % 3 == 0).then(pl.lit("SIDEWAYS")).otherwise(pl.col("direction"))
        .alias("direction")).drop("_i")
    broken.write_parquet(tmp_path / "border_crossings.parquet")
    cfg = load_config(cfg_path)
    instance = dg.DagsterInstance.ephemeral()
    out = execute(cfg, instance=instance)
    assert not out.success
    assert any(line.startswith("step validated/border_crossings failed: check validation:")
               and "quarantined" in line for line in out.failed), out.failed
    assert {"linkage/person_links", "events/migration_events", "quality/report"} <= set(out.skipped)
    assert not store.connect(cfg.warehouse, read_only=True).execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'person_links'"
    ).fetchall()[0][0]
    # the Dagster run itself records the failed check and never started the linkage step
    run = instance.get_runs()[0]
    started = {e.step_key for e in instance.all_logs(run.run_id) if e.is_dagster_event
               and e.dagster_event.event_type_value == "STEP_START"}
    assert "validated__border_crossings" in started and "linkage__person_links" not in started

    # a derived-only run (the monthly schedule) refuses to build on the blocked delivery
    job = defs().resolve_job_def("reglink_derived")
    import os
    os.environ["REGLINK_CONFIG"] = str(cfg_path)
    try:
        res = job.execute_in_process(instance=instance, raise_on_error=False,
                                     run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
    finally:
        del os.environ["REGLINK_CONFIG"]
    fail = [e for e in res.all_events if e.event_type_value == "STEP_FAILURE"]
    assert fail and "blocked by failed validation" in str(fail[0].step_failure_data.error.message)

    # fixing the extract and running again re-ingests only what changed and completes
    bc.write_parquet(tmp_path / "border_crossings.parquet")
    fixed = execute(cfg, instance=instance)
    assert fixed.success, fixed.failed
    assert "validated/border_crossings" in fixed.built
    assert "validated/permits" in fixed.unchanged


def test_failed_run_reexecutes_from_the_failed_asset(tmp_path):
    from reglink_dagster.orchestration import reexecute_from_failure

    cfg_path = _world(tmp_path)
    (tmp_path / "permits_mapping.yaml").write_text("columns: [not, a, mapping\n")
    data = yaml.safe_load(cfg_path.read_text())
    data["mappings"] = {"permits": "permits_mapping.yaml"}
    cfg_path.write_text(yaml.safe_dump(data))
    (tmp_path / "dagster_home").mkdir()
    instance = dg.DagsterInstance.local_temp(tempdir=str(tmp_path / "dagster_home"))
    out = execute(load_config(cfg_path), instance=instance)
    assert not out.success
    assert out.failed[0].startswith("step validated/permits failed: ")
    assert "permits_mapping.yaml" in out.failed[0] and "YAML" in out.failed[0]

    (tmp_path / "permits_mapping.yaml").write_text("source: permits\n")  # the fix
    res = reexecute_from_failure(cfg_path, instance=instance)
    assert res.success
    started = {e.step_key for e in res.all_events if e.event_type_value == "STEP_START"}
    # only the failed step and what follows it; the other registers are not touched again
    assert "validated__permits" in started and "linkage__person_links" in started
    assert not {"raw__permits", "validated__border_crossings"} & started
    assert res.dagster_run.tags["dagster/partition"] == "baseline"
    assert res.dagster_run.parent_run_id is not None


def test_reglink_run_reports_a_missing_extract_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from reglink.cli import app

    cfg = tmp_path / "reglink.yaml"
    cfg.write_text("home_country: NZL\nextracts:\n  permits: nowhere/permits.csv\n"
                   "warehouse: out/reglink.duckdb\n")
    res = CliRunner().invoke(app, ["run", "--config", str(cfg)])
    assert res.exit_code == 1
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines == [f"reglink: {tmp_path}/nowhere/permits.csv: extract file not found "
                     "(permits, delivery baseline)"]
    assert "Traceback" not in res.output


def test_toolkit_births_and_deaths_filled_on_the_synthetic_world(world):
    """The synthetic register gives parent numbers for births to registered parents: each one is
    resolved to the parent's person key, and table 3.4 classifies those births by the parent."""
    cfg = world["cfg"]
    raw = pl.read_parquet(world["folder"] / "population_register.parquet")
    given = raw.filter(pl.col("mother_person_number").is_not_null()
                       | pl.col("father_person_number").is_not_null())
    assert given.height > 0
    links = dict(_query(cfg.warehouse, "SELECT parent_link, count(*) FROM births GROUP BY 1"))
    assert links.get("LINKED", 0) > 0 and "NOT_SUPPLIED" not in links
    assert links.get("NUMBER_NOT_FOUND", 0) == 0  # every number the generator writes exists
    t34 = dict(_query(cfg.warehouse, "SELECT cell, persons FROM toolkit_table_3_4"))
    t35 = dict(_query(cfg.warehouse, "SELECT cell, persons FROM toolkit_table_3_5"))
    for t in (t34, t35):
        assert t["A"] == t["E"] + t["F"] and t["C"] == t["E"] + t["G"] and t["T"] == t["A"] + t["B"] + t["U"]
    year = _query(cfg.warehouse, "SELECT max(reference_year) FROM toolkit_table_3_4")[0][0]
    linked = _query(cfg.warehouse, f"SELECT count(*) FROM births WHERE birth_year = {year} "
                                   "AND parent_link = 'LINKED' AND subpopulation <> 'UNKNOWN'")[0][0]
    assert t34["A"] + t34["B"] == linked
    present = _query(cfg.warehouse, "SELECT count(*) FROM stocks WHERE population = "
                                    "'PRESENT_POPULATION' AND breakdown = 'total' AND persons > 0")
    assert present[0][0] > 0


def test_linkage_bands_follow_the_registers_delivered():
    from reglink_dagster.defs.derived import DEFAULT_LINKAGE_BANDS, linkage_bands

    # all four: the calibrated defaults
    assert DEFAULT_LINKAGE_BANDS == {"border_crossings": (0.02, 1.0), "permits": (0.30, 1.0),
                                     "population_register": (0.30, 1.0), "asylum_register": (0.10, 1.0)}
    # no border register: permits and register records link only to each other
    b = linkage_bands({"permits", "population_register"})
    assert b == {"permits": (0.05, 1.0), "population_register": (0.02, 1.0)}
    b = linkage_bands({"permits", "population_register", "asylum_register"}, {"permits": [0.1, 0.9]})
    assert b["permits"] == (0.1, 0.9) and b["asylum_register"] == (0.05, 1.0)
