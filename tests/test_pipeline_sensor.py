"""The landing-folder sensor and the monthly schedule (issue 7), evaluated against a real
Dagster instance the way the daemon would: files dropped in the landing folder become a
delivery partition and a run request for that delivery's registers plus the derived assets."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import dagster as dg
import pytest

from reglink_dagster.defs.automation import landing_sensor, monthly_derived_tables
from reglink_dagster.resources import ReglinkConfig

warnings.filterwarnings("ignore", module="dagster")


@pytest.fixture()
def setup(tmp_path: Path):
    (tmp_path / "base.csv").write_text("record_id,direction,crossing_date\nB1,ENTRY,2024-01-02\n")
    cfg = tmp_path / "reglink.yaml"
    cfg.write_text("home_country: NZL\nextracts:\n  border_crossings: base.csv\n"
                   "warehouse: out/reglink.duckdb\nlanding: landing\n")
    (tmp_path / "landing").mkdir()
    instance = dg.DagsterInstance.ephemeral()
    return tmp_path, cfg, instance


def _tick(instance, cfg: Path, cursor: str | None = None):
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor,
                                  resources={"reglink": ReglinkConfig(config_path=str(cfg))})
    return landing_sensor(ctx)


def test_empty_landing_folder_requests_nothing(setup):
    _, cfg, instance = setup
    res = _tick(instance, cfg)
    assert isinstance(res, dg.SkipReason)
    assert "nothing new" in res.skip_message


def test_new_file_adds_partition_and_requests_a_run(setup):
    root, cfg, instance = setup
    month = root / "landing" / "2025-06"
    month.mkdir()
    (month / "permits.csv").write_text("record_id,permit_kind,valid_from\nP1,WORK,2025-06-01\n")
    (month / "notes.txt").write_text("not an extract")
    res = _tick(instance, cfg)
    assert isinstance(res, dg.SensorResult)
    [add] = res.dynamic_partitions_requests
    assert add.partitions_def_name == "deliveries" and list(add.partition_keys) == ["2025-06"]
    [run] = res.run_requests
    assert run.partition_key == "2025-06"
    keys = {k.to_user_string() for k in run.asset_selection}
    assert {"raw/permits", "validated/permits"} <= keys
    assert "raw/border_crossings" not in keys  # only what the delivery touches
    assert "linkage/person_links" in keys  # ...and everything derived, in the same run
    assert json.loads(res.cursor) and "2025-06/permits" in json.loads(res.cursor)

    # the same file again: nothing to do
    instance.add_dynamic_partitions("deliveries", ["2025-06"])
    again = _tick(instance, cfg, res.cursor)
    assert isinstance(again, dg.SkipReason)

    # a corrected re-delivery of the same month: a new run, no new partition
    (month / "permits.csv").write_text("record_id,permit_kind,valid_from\nP1,WORK,2025-06-02\nP2,STUDY,2025-06-03\n")
    fixed = _tick(instance, cfg, res.cursor)
    assert isinstance(fixed, dg.SensorResult)
    assert not fixed.dynamic_partitions_requests
    assert [r.partition_key for r in fixed.run_requests] == ["2025-06"]
    assert fixed.run_requests[0].run_key != run.run_key


def test_sensor_without_landing_folder_says_why(tmp_path):
    cfg = tmp_path / "reglink.yaml"
    cfg.write_text("home_country: NZL\nwarehouse: out/reglink.duckdb\n")
    res = _tick(dg.DagsterInstance.ephemeral(), cfg)
    assert isinstance(res, dg.SkipReason) and "landing" in res.skip_message
    bad = _tick(dg.DagsterInstance.ephemeral(), tmp_path / "missing.yaml")
    assert isinstance(bad, dg.SkipReason) and "missing.yaml" in bad.skip_message


def test_monthly_schedule_rebuilds_the_derived_tables():
    assert monthly_derived_tables.cron_schedule == "0 6 2 * *"
    assert monthly_derived_tables.job_name == "reglink_derived"
    ctx = dg.build_schedule_context(scheduled_execution_time=None)
    [req] = list(monthly_derived_tables.evaluate_tick(ctx).run_requests)
    assert req.tags["reglink/force"] == "true"
