"""The pipeline YAML is checked against its declared schema: unknown keys, wrong types and
impossible values are named with their line, wrong usage (exit 2); a missing config is wrong
usage too; `engine: spark` is valid config but says clearly that this build cannot run it."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reglink.cli import app
from reglink.config import load_config
from reglink.config_schema import SCHEMA, ConfigSchemaError, check_config_text


def _run(*args: str):
    return CliRunner().invoke(app, ["run", *args])


def test_missing_config_is_wrong_usage(tmp_path: Path):
    res = _run("--config", str(tmp_path / "missing.yaml"))
    assert res.exit_code == 2
    assert res.stderr.strip() == f"reglink: {tmp_path / 'missing.yaml'}: config file not found"


def test_typo_wrong_type_and_impossible_value_named_with_line(tmp_path: Path):
    f = tmp_path / "c.yaml"
    f.write_text("home_country: NZL\nrulez: 6-12\nthreads: two\nmatch_threshold: 1.5\n"
                 "small_cell:\n  method: supress\n  threshold: 0\nreference_dates: [2024-02-30]\n")
    res = _run("--config", str(f))
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert lines == [
        f"reglink: {f}: line 2: rulez: unknown key (did you mean rule?)",
        f"reglink: {f}: line 3: threads: 'two' is not a whole number",
        f"reglink: {f}: line 4: match_threshold: 1.5 is impossible: must be at least 0 and at most 1",
        f"reglink: {f}: line 6: small_cell.method: 'supress' is not one of suppress, round, none",
        f"reglink: {f}: line 7: small_cell.threshold: 0 is impossible: must be at least 1 and at most 1000",
        f"reglink: {f}: line 8: reference_dates: '2024-02-30' is not a date YYYY-MM-DD",
    ]


@pytest.mark.parametrize("text,needle", [
    ("extracts:\n  border_crossing: a.csv\n", "line 2: extracts.border_crossing: unknown register"),
    ("time_zone: Mars/Olympus\n", "line 1: time_zone: 'Mars/Olympus' is not a time zone"),
    ("engine: flink\n", "line 1: engine: 'flink' is not one of duckdb, spark"),
    ("rule: {window_days: 100, threshold_days: 200}\n", "threshold_days 200 is impossible"),
    ("linkage:\n  treshold: 0.9\n", "line 2: linkage.treshold: unknown key (did you mean threshold?)"),
    ("memory_limit: lots\n", "line 1: memory_limit: 'lots' is not a size"),
    ("tables:\n  age_grups: [0, 15]\n", "line 2: tables.age_grups: unknown key"),
    ("threads: true\n", "line 1: threads: True is not a whole number"),
    ("warehouse: [a, b]\n", "line 1: warehouse: must be a single value"),
    ("home_country: NZL\nhome_country: FRA\n", "line 2: home_country: given twice"),
    ("observed_until: 2025-13-01\n", "line 1: observed_until: '2025-13-01' is not a date"),
    ("orchestration: {max_quarantine_share: 2}\n", "orchestration.max_quarantine_share: 2 is impossible"),
])
def test_each_kind_of_problem(text: str, needle: str):
    with pytest.raises(ConfigSchemaError) as err:
        check_config_text(text, "c.yaml")
    assert needle in str(err.value), str(err.value)


def test_every_contract_and_stage_key_is_known(tmp_path: Path):
    full = """
home_country: NZL
rule: 12-16
observed_until: 2025-12-31
extracts: {border_crossings: a.csv, permits: b.parquet, population_register: c.csv, asylum_register: d.csv}
warehouse: w.duckdb
reports: reports/
memory_limit: 12GB
temp_directory: tmp
threads: 2
time_zone: Pacific/Auckland
engine: duckdb
spark: {master: "local[*]", conf: {spark.executor.memory: 4g}}
mappings: {border_crossings: m.yaml}
restricted: r.duckdb
parquet_dir: pq
landing: landing/
linkage: {model: model-v1.json, retrain: false, threshold: 0.9, u_max_pairs: 2.0e+6, seed: 42,
          predict_min_weight: -10, review_band: [0.5, 0.99], review_sample: 200,
          memory_limit: 6GB, temp_directory: /var/tmp/x}
linkage_model: model.json
match_threshold: 0.9
reference_dates: [2024-12-31]
small_cell: {method: suppress, threshold: 5, base: 5}
tables: {age_groups: [0, 15, 65], evidence_repair: true}
ingest_expectations: false
orchestration: {max_quarantine_share: 0.1, residual_tolerance: 0.02,
                linkage_bands: {permits: [0.3, 1.0]}}
quality: {rule_presets: [12-16, 6-12]}
"""
    check_config_text(full, "c.yaml")
    for key in ("home_country", "rule", "observed_until", "extracts", "warehouse", "reports",
                "memory_limit", "temp_directory", "threads", "time_zone", "engine", "spark"):
        assert key in SCHEMA
    f = tmp_path / "c.yaml"
    f.write_text(full)
    assert load_config(f).threads == 2


def test_the_demo_config_passes(tmp_path: Path):
    from reglink.synth import generate

    generate(tmp_path, persons=50, years=2, seed=1, events=False)
    load_config(tmp_path / "reglink.yaml")


def test_an_unknown_engine_is_wrong_usage_never_a_silent_duckdb_run(tmp_path: Path):
    (tmp_path / "a.csv").write_text("record_id,direction,crossing_date\nB1,ENTRY,2024-01-02\n")
    f = tmp_path / "c.yaml"
    f.write_text("home_country: NZL\nengine: flink\nextracts: {border_crossings: a.csv}\n"
                 "warehouse: w.duckdb\n")
    res = _run("--config", str(f))
    assert res.exit_code == 2 and "engine" in res.stderr and "flink" in res.stderr
    assert not (tmp_path / "w.duckdb").exists()
    f.write_text("home_country: NZL\nextracts: {border_crossings: a.csv}\nwarehouse: w.duckdb\n")
    res = _run("--config", str(f), "--engine", "flink")
    assert res.exit_code == 2 and "flink" in res.stderr
    assert not (tmp_path / "w.duckdb").exists()


def test_restricted_store_kept_apart_from_what_others_read(tmp_path: Path):
    from reglink.config_schema import check_config_file

    f = tmp_path / "c.yaml"
    for text, needle in (
            ("warehouse: w.duckdb\nrestricted: w.duckdb\n", "line 2: restricted: is the warehouse itself"),
            ("warehouse: out/w.duckdb\nreports: out\n", "line 2: reports: is the folder of the restricted store"),
            ("warehouse: out/w.duckdb\nlanding: .\n", "line 2: landing: is the folder of the restricted store"),
            ("warehouse: out/w.duckdb\ntemp_directory: out\n", "line 2: temp_directory: is the folder that holds")):
        f.write_text(text)
        with pytest.raises(ConfigSchemaError, match=needle):
            check_config_file(f)
