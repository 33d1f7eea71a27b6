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


# -- derived_after_delivery and the freshness policy, after real runs ------------------------

def _daemon_tick(sensor_name: str, instance: dg.DagsterInstance, cursor: str | None):
    """Evaluate a sensor of the code location as the daemon does: through the code server's
    context, which names the code location the sensor lives in (`reglink`). A context without
    it would match runs without an origin by accident and hide the daemon's behaviour."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    from reglink_dagster.definitions import defs

    repo = defs().get_repository_def()
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="reglink_dagster.definitions", attribute="defs"),
        location_name="reglink")
    with dg.SensorEvaluationContext(instance_ref=None, last_tick_completion_time=None,
                                    last_run_key=None, cursor=cursor, log_key=None,
                                    repository_name=repo.name, repository_def=repo,
                                    instance=instance, sensor_name=sensor_name,
                                    code_location_origin=origin) as ctx:
        return repo.get_sensor_def(sensor_name).evaluate_tick(ctx)


def _materialised(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def _person_links(db: Path) -> int:
    from reglink import store

    con = store.connect(db, read_only=True)
    try:
        return con.execute("SELECT count(*) FROM person_links").fetchone()[0]
    finally:
        con.close()


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    """A small synthetic world run once (baseline + everything derived, as `reglink run` does)
    in a Dagster instance on disk, with a month's permits landed and its partition added."""
    import os
    import shutil

    import polars as pl
    import yaml

    from reglink_dagster.definitions import defs
    from reglink_dagster.defs.automation import derived_keys
    from reglink.synth import generate

    root = tmp_path_factory.mktemp("delivered")
    generate(root, persons=150, years=2, seed=18)
    cfg = root / "reglink.yaml"
    data = yaml.safe_load(cfg.read_text())
    data.update(warehouse="out/reglink.duckdb", reports="out/reports", landing="landing")
    cfg.write_text(yaml.safe_dump(data))
    home = root / "out" / ".dagster"
    home.mkdir(parents=True)
    shutil.copy(Path(__file__).parents[1] / "reglink_dagster" / "dagster.yaml", home)
    old = os.environ.get("REGLINK_CONFIG")
    os.environ["REGLINK_CONFIG"] = str(cfg)
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            d = defs()
            instance.add_dynamic_partitions("deliveries", ["baseline"])
            base = d.resolve_job_def("reglink_all").execute_in_process(
                instance=instance, partition_key="baseline", run_config=quiet)
            assert base.success
            # a later month: five permits with new record ids, taken in as the sensor would
            truth = pl.read_parquet(root / "truth" / "record_person.parquet")
            invalid = truth.filter(pl.col("noise").str.contains("invalid"))["record_id"]
            month = root / "landing" / "2025-06"
            month.mkdir(parents=True)
            (pl.read_parquet(root / "permits.parquet")
             .filter(~pl.col("record_id").is_in(invalid.implode())).head(5)
             .with_columns(pl.format("PM202506{}", pl.int_range(pl.len())).alias("record_id"))
             .write_csv(month / "permits.csv"))
            instance.add_dynamic_partitions("deliveries", ["2025-06"])
            yield {"defs": d, "instance": instance, "cfg": cfg, "quiet": quiet,
                   "db": root / "out" / "reglink.duckdb", "derived": derived_keys()}
    finally:
        if old is None:
            os.environ.pop("REGLINK_CONFIG", None)
        else:
            os.environ["REGLINK_CONFIG"] = old


@pytest.mark.slow
def test_delivery_run_from_the_command_line_rebuilds_the_derived_tables(delivered):
    d, instance, quiet = delivered["defs"], delivered["instance"], delivered["quiet"]
    # the daemon's first tick starts the sensor's cursor at the latest run-status change
    first = _daemon_tick("derived_after_delivery", instance, None)
    assert not first.run_requests and first.cursor
    # a run of another job (here: the sensor's own reglink_all) asks for nothing
    other = d.resolve_job_def("reglink_all").execute_in_process(
        instance=instance, partition_key="baseline", run_config=quiet,
        asset_selection=[dg.AssetKey(["raw", "permits"])])
    assert other.success
    quiet_tick = _daemon_tick("derived_after_delivery", instance, first.cursor)
    assert not quiet_tick.run_requests
    # the backfill as documented (`dg launch --job reglink_delivery --partition 2025-06`):
    # executed in the launching process, so the run carries no code-location origin
    before = _person_links(delivered["db"])
    delivery = d.resolve_job_def("reglink_delivery").execute_in_process(
        instance=instance, partition_key="2025-06", run_config=quiet)
    assert delivery.success
    assert instance.get_run_by_id(delivery.run_id).remote_job_origin is None
    assert {"raw/permits", "validated/permits"} <= _materialised(delivery)
    assert not _materialised(delivery) & {k.to_user_string() for k in delivered["derived"]}
    tick = _daemon_tick("derived_after_delivery", instance, quiet_tick.cursor)
    [req] = tick.run_requests
    assert req.job_name in (None, "reglink_derived")
    assert req.tags["reglink/after"] == delivery.run_id
    assert req.tags["reglink/delivery"] == "2025-06"
    # what the daemon then launches: reglink_derived with the request's tags
    rebuilt = d.resolve_job_def("reglink_derived").execute_in_process(
        instance=instance, tags=req.tags, run_config=quiet)
    assert rebuilt.success
    assert {k.to_user_string() for k in delivered["derived"]} <= _materialised(rebuilt)
    assert _person_links(delivered["db"]) == before + 5  # the month's five permits are linked
    # the same delivery run is not taken twice
    again = _daemon_tick("derived_after_delivery", instance, tick.cursor)
    assert not again.run_requests


@pytest.mark.slow
def test_derived_tables_are_fresh_until_a_monthly_deadline_passes(delivered):
    """The policy as the freshness daemon evaluates it, at three moments: right after the
    rebuild, on the day before the next deadline, and after a deadline with no rebuild."""
    import asyncio
    from datetime import datetime, timedelta, timezone

    from dagster._core.definitions.freshness import FreshnessState
    from dagster._core.definitions.freshness_evaluator import FRESHNESS_EVALUATORS_BY_POLICY_TYPE
    from dagster._core.loader import LoadingContextForTest
    from dagster._core.test_utils import freeze_time

    from reglink_dagster.freshness import derived_freshness

    instance, graph = delivered["instance"], delivered["defs"].resolve_asset_graph()
    keys = delivered["derived"]
    raw = graph.get(dg.AssetKey(["raw", "permits"]))
    assert raw.freshness_policy is None  # deliveries come when owners send them
    for key in keys:
        assert graph.get(key).freshness_policy == derived_freshness()

    async def evaluate() -> set:
        ctx = LoadingContextForTest(instance)  # its loaders belong to this event loop
        out = set()
        for key in keys:
            node = graph.get(key)
            evaluator = FRESHNESS_EVALUATORS_BY_POLICY_TYPE[type(node.freshness_policy)]()
            out.add(await evaluator.evaluate_freshness(ctx, node))
        return out

    def states(at: datetime) -> set:
        with freeze_time(at):
            return asyncio.run(evaluate())

    last = max(instance.get_latest_materialization_event(k).timestamp for k in keys)
    built = datetime.fromtimestamp(last, timezone.utc)
    assert states(built + timedelta(minutes=1)) == {FreshnessState.PASS}
    # the deadlines after the build: 06:00 UTC on the 3rd of a month
    def deadline_after(t: datetime) -> datetime:
        d = t.replace(day=3, hour=6, minute=0, second=0, microsecond=0)
        return d if d > t else (d.replace(day=1) + timedelta(days=32)).replace(day=3)

    first = deadline_after(built)
    if first - timedelta(seconds=1) > built:  # still judged by the deadline before the build
        assert states(first - timedelta(seconds=1)) == {FreshnessState.PASS}
    # a month on, with no rebuild since: every derived asset has missed its deadline
    assert states(deadline_after(first) + timedelta(hours=1)) == {FreshnessState.FAIL}
