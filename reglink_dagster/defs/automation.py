"""Jobs, the landing-folder sensor, the monthly schedule, and the run settings.

- `reglink_delivery`: ingest one delivery (partition) of every register it contains.
- `reglink_derived`: rebuild everything derived from all deliveries (linkage → report).
- `reglink_all`: both, used by the sensor and by `reglink run` (one run per delivery).
- `landing_sensor`: a new or changed `<landing>/<delivery>/<register>.csv|parquet` adds the
  delivery partition and requests a run of that delivery's registers plus the derived assets,
  so a failed blocking check stops them in the same run.
- `derived_after_delivery`: after a successful `reglink_delivery` run (a backfill launched by
  hand, in the UI or with `dg launch`), rebuild the derived assets.
- `monthly_derived_tables`: on the 2nd of each month, rebuild the derived tables; the derived
  assets' freshness policy (reglink_dagster/freshness.py) expects that rebuild within a day.
"""

import json

import dagster as dg

from reglink_dagster import deliveries as dl
from reglink_dagster.defs.derived import linkage_assets, report_assets, tables_assets
from reglink_dagster.defs.extracts import DELIVERIES, raw_key, validated_assets, validated_key
from reglink_dagster.freshness import MONTHLY_REBUILD_CRON
from reglink_dagster.resources import ReglinkConfig

DELIVERY_SELECTION = dg.AssetSelection.groups("extracts", "validated")
DERIVED_SELECTION = dg.AssetSelection.all() - DELIVERY_SELECTION

delivery_job = dg.define_asset_job(
    "reglink_delivery", selection=DELIVERY_SELECTION,
    description="Ingest one delivery: raw extract → validated register, per register present.")
derived_job = dg.define_asset_job(
    "reglink_derived", selection=DERIVED_SELECTION,
    description="Person links, crossings, events, flows, stocks, mobility, accounting, report.")
all_job = dg.define_asset_job(
    "reglink_all", selection=dg.AssetSelection.all(),
    description="One delivery and everything derived from it (what the sensor launches).")


def derived_keys() -> list[dg.AssetKey]:
    keys: list[dg.AssetKey] = []
    for a in (*linkage_assets, *tables_assets, *report_assets):
        keys += list(a.keys)
    return keys


def delivery_keys(registers: list[str]) -> list[dg.AssetKey]:
    keys = [raw_key(r) for r in registers]
    if validated_assets:
        keys += [validated_key(r) for r in registers]
    return keys


@dg.sensor(job=all_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Watches the config's `landing` folder for <delivery>/<register>.csv|parquet")
def landing_sensor(context: dg.SensorEvaluationContext, reglink: ReglinkConfig):
    try:
        cfg = reglink.load()
    except Exception as exc:  # noqa: BLE001 - shown in the UI as the skip reason
        return dg.SkipReason(f"cannot read the pipeline config: {exc}")
    if cfg.landing is None:
        return dg.SkipReason(f"{reglink.path()}: no `landing:` folder configured")
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    found = dl.landing_deliveries(cfg)
    new: dict[str, list[dl.Delivery]] = {}
    current: dict[str, str] = {}
    for d in found:
        ident = f"{d.key}/{d.register}"
        current[ident] = d.signature
        if seen.get(ident) != d.signature:
            new.setdefault(d.key, []).append(d)
    if not new:
        return dg.SkipReason(f"nothing new in {cfg.landing} ({len(found)} files known)")
    existing = set(context.instance.get_dynamic_partitions(DELIVERIES.name))
    add = sorted(k for k in new if k not in existing)
    runs = []
    for key in sorted(new):
        regs = sorted(d.register for d in new[key])
        runs.append(dg.RunRequest(
            run_key=f"{key}:" + ",".join(f"{d.register}={d.signature}" for d in new[key]),
            partition_key=key, asset_selection=delivery_keys(regs) + derived_keys(),
            tags={"reglink/delivery": key, "reglink/registers": ",".join(regs)}))
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[DELIVERIES.build_add_request(add)] if add else [],
        cursor=json.dumps({**seen, **current}, sort_keys=True))


def _backfill_still_running(instance: dg.DagsterInstance, run: dg.DagsterRun) -> bool:
    """A delivery backfill of several months: rebuild once, after its last run, not per month."""
    backfill = run.tags.get("dagster/backfill")
    if not backfill:
        return False
    unfinished = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED,
                  dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    return instance.get_runs_count(dg.RunsFilter(
        tags={"dagster/backfill": backfill}, statuses=unfinished)) > 0


# monitor_all_code_locations, and the job filtered here: a run launched from the command line
# (`dg launch`, `dagster job execute`) executes in that process and carries no code-location
# origin, and a run-status sensor that names its monitored jobs only matches runs whose origin
# is the sensor's own code location -- so the daemon skipped every command-line backfill
# ("Sensor function returned an empty result") and the tables never followed.
@dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, monitor_all_code_locations=True,
                      request_job=derived_job, default_status=dg.DefaultSensorStatus.RUNNING,
                      description="After a delivery run (e.g. a backfill), rebuild derived assets")
def derived_after_delivery(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    if run.job_name != delivery_job.name or _backfill_still_running(context.instance, run):
        return None  # nothing (yet) for this run: the next run's status change is looked at
    backfill = run.tags.get("dagster/backfill")  # one rebuild per backfill, whichever run asks
    key = f"after-backfill:{backfill}" if backfill else f"after:{run.run_id}"
    return dg.RunRequest(run_key=key,
                         tags={"reglink/after": run.run_id,
                               **({"reglink/delivery": run.tags["dagster/partition"]}
                                  if "dagster/partition" in run.tags else {})})


monthly_derived_tables = dg.ScheduleDefinition(
    name="monthly_derived_tables", job=derived_job, cron_schedule=MONTHLY_REBUILD_CRON,
    execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.RUNNING,
    tags={"reglink/force": "true"},
    description="Monthly rebuild of the derived tables (forced: observed_until moves on)")
