"""The Dagster home `./run dev` and `./run dg` use (reglink_dagster/home.py), run as `./run` runs it:
the one `reglink run` records runs in, with the project's instance settings, and every landed
month already a known delivery partition -- so the documented backfill
`dg launch --job reglink_delivery --partition 2025-06` does not end in an unknown partition."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "reglink_dagster" / "dagster.yaml"


def _home(config: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "REGLINK_CONFIG")}
    return subprocess.run([sys.executable, "-m", "reglink_dagster.home", str(config)], cwd=ROOT,
                          env={**clean, **env}, capture_output=True, text=True, timeout=300)


@pytest.fixture()
def world(tmp_path: Path) -> Path:
    (tmp_path / "base.csv").write_text("record_id,direction,crossing_date\nB1,ENTRY,2024-01-02\n")
    cfg = tmp_path / "reglink.yaml"
    cfg.write_text("home_country: NZL\nextracts:\n  border_crossings: base.csv\n"
                   "warehouse: out/reglink.duckdb\nlanding: landing\n")
    for month in ("2025-06", "2025-07"):
        (tmp_path / "landing" / month).mkdir(parents=True)
        (tmp_path / "landing" / month / "permits.csv").write_text(
            f"record_id,permit_kind,valid_from\nP{month},WORK,{month}-01\n")
    (tmp_path / "landing" / "notes").mkdir()  # a folder with no register file: no delivery
    return cfg


def test_landed_months_are_known_partitions_in_the_reglink_run_home(world: Path):
    res = _home(world)
    assert res.returncode == 0, res.stderr
    home = Path(res.stdout.strip())
    assert home == (world.parent / "out" / ".dagster").resolve()  # beside the warehouse
    assert (home / "dagster.yaml").read_text() == SETTINGS.read_text()
    assert "2025-06, 2025-07" in res.stderr
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_dynamic_partitions("deliveries") == ["2025-06", "2025-07"]
        assert not instance.telemetry_enabled and not instance.nux_enabled
    # a second start adds nothing and says nothing
    again = _home(world)
    assert again.returncode == 0, again.stderr
    assert again.stdout == res.stdout and "deliveries found" not in again.stderr
    # a month landed later is added on the next start
    (world.parent / "landing" / "2025-08").mkdir()
    (world.parent / "landing" / "2025-08" / "permits.csv").write_text(
        "record_id,permit_kind,valid_from\nP8,WORK,2025-08-01\n")
    later = _home(world)
    assert later.returncode == 0, later.stderr
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_dynamic_partitions("deliveries") == ["2025-06", "2025-07", "2025-08"]


def test_an_earlier_home_gets_the_missing_popup_setting_and_keeps_its_own(world: Path,
                                                                          tmp_path: Path):
    home = tmp_path / "elsewhere"
    home.mkdir()
    (home / "dagster.yaml").write_text("run_queue:\n  max_concurrent_runs: 3\n")
    res = _home(world, DAGSTER_HOME=str(home))  # DAGSTER_HOME wins over the config's home
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip()) == home.resolve()
    assert (home / "dagster.yaml").read_text() == (
        "run_queue:\n  max_concurrent_runs: 3\nnux:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert not instance.nux_enabled


def test_without_a_config_the_home_is_the_projects(tmp_path: Path):
    res = _home(tmp_path / "no-such.yaml")
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip()) == (ROOT / ".dagster").resolve()
