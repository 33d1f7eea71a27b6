"""`reglink run` and `reglink demo`: this package's asset graph, executed in-process.

One code path: the same `Definitions` that `dg dev` serves, its `reglink_all` job run once per
delivery (the config's extracts are the `baseline` delivery; landed months are their own), the
derived assets in the last run. Run history goes to a local Dagster instance beside the
warehouse (`<warehouse folder>/.dagster`), the home `REGLINK_CONFIG=<config> ./run dev` opens.
A failed step ends the command with one line per problem and exit code 1.
"""
from __future__ import annotations

import contextlib
import copy
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from reglink.config import PipelineConfig, load_config
from reglink.errors import Problem, ReglinkError, UsageError

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass
class RunOutcome:
    """What `run_pipeline` did: per run, the assets built, unchanged, failed and skipped."""

    config: PipelineConfig
    run_ids: list[str] = field(default_factory=list)
    built: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one line each: asset and reason
    skipped: list[str] = field(default_factory=list)
    absent: dict[str, str] = field(default_factory=dict)  # stage -> why not in the graph
    removed: dict[str, int] = field(default_factory=dict)  # register dropped from extracts -> records
    seconds: float = 0.0
    peak_rss_gb: float = 0.0  # of the whole run (this process and its children)

    @property
    def success(self) -> bool:
        return not self.failed


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


@contextlib.contextmanager
def _quiet_logs(console: Any) -> Iterator[None]:
    """Stage libraries log freely (Splink's training notes, Dagster's own); during `reglink run`
    only reglink's warnings reach the terminal, as dim lines under the progress display."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    noisy = {name: logging.getLogger(name).level for name in ("splink", "dagster", "great_expectations")}

    class _ToConsole(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.name.startswith("reglink") and record.levelno >= logging.WARNING:
                console.print(f"[dim]  {record.name}: {record.getMessage()}[/]")

    handler = _ToConsole()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    for name in noisy:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        root.setLevel(saved[0])
        root.handlers = saved[1]
        for name, level in noisy.items():
            logging.getLogger(name).setLevel(level)


def _step_asset(step_key: str) -> str:
    return step_key.replace("__", "/")


def _root_message(err: Any) -> str:
    """The innermost cause of a Dagster error, without the exception class prefix."""
    while getattr(err, "cause", None) is not None:
        err = err.cause
    msg = (getattr(err, "message", None) or str(err)).strip()
    first, _, rest = msg.partition(": ")
    if rest and "." in first and " " not in first:  # "pkg.module.Error: message"
        msg = rest
    msg = msg.removeprefix("reglink: ")
    return " ".join(msg.split())


def _collect(result: Any, out: RunOutcome) -> None:
    """Failures, failed checks and skipped steps of one in-process run, as one line each."""
    failed_checks: dict[str, list[str]] = {}
    for ev in result.all_events:
        et = ev.event_type_value
        if et == "ASSET_CHECK_EVALUATION":
            data = ev.event_specific_data
            if not data.passed and data.severity.value == "ERROR":
                failed_checks.setdefault(data.asset_key.to_user_string(), []).append(
                    f"check {data.check_name}: {data.description or 'failed'}")
    for ev in result.all_events:
        et = ev.event_type_value
        if et == "STEP_FAILURE":
            asset = _step_asset(ev.step_key)
            checks = failed_checks.get(asset)
            reason = "; ".join(checks) if checks else _root_message(ev.step_failure_data.error)
            out.failed.append(f"step {asset} failed: {reason}")
        elif et == "STEP_SKIPPED":
            out.skipped.append(_step_asset(ev.step_key))


# the longest progress label: "validated/population_register [baseline]" and a space
LABEL_WIDTH = 42


def progress_label(asset: str, delivery: str | None) -> str:
    """An asset as the progress lines name it: a per-delivery asset (raw/, validated/) with
    its delivery, so two deliveries of one register are two different lines."""
    if delivery and asset.startswith(("raw/", "validated/")):
        return f"{asset} [{delivery}]"
    return asset


def _progress_printer(console: Any, status: Any, delivery: dict[str, str] | None = None) -> Any:
    """Progress lines; `delivery["key"]` is the delivery being run (set by the caller)."""
    started: dict[str, float] = {}

    from rich.markup import escape

    def on(asset: str, what: str, detail: str) -> None:
        asset = escape(progress_label(asset, (delivery or {}).get("key")))  # [..] is not markup
        if what == "start":
            started[asset] = time.perf_counter()
            status.update(f"[bold]{asset}[/] {detail}…")
        elif what == "step":
            status.update(f"[bold]{asset}[/] {detail}")
        else:
            took = time.perf_counter() - started.get(asset, time.perf_counter())
            mark = {"done": "[green]✓[/]", "blocked": "[red]✗[/]"}.get(what, "[dim]=[/]")
            label = {"done": "", "blocked": " [red](blocking check failed)[/]"}.get(
                what, " [dim](unchanged)[/]")
            console.print(f"{mark} {asset:<{LABEL_WIDTH}} {detail}{label} [dim]{took:.1f}s[/]")

    return on


def run_pipeline(config_path: str | Path, *, force: bool = False, quiet: bool = False,
                 engine: str | None = None) -> RunOutcome:
    """Materialise the asset graph for the config; raise ReglinkError (exit 1) on a failed step.
    `engine` (duckdb, spark) overrides the config's `engine:` key."""
    from reglink.config import with_engine
    from reglink.console import console as make_console

    path = Path(config_path)
    cfg = with_engine(load_config(path), engine)
    console = make_console(stderr=True, quiet=quiet, highlight=False, soft_wrap=True)
    from reglink.measure import Meter

    with Meter() as meter:
        out = execute(cfg, console=console, force=force)
    out.peak_rss_gb = meter.peak_gb
    if not out.success:
        if out.skipped:
            out.failed.append("not run because an upstream step failed: "
                              + ", ".join(sorted(set(out.skipped))))
        raise ReglinkError(*[Problem(str(path), line) for line in out.failed])
    _headline(cfg, out, console)
    return out


def execute(cfg: PipelineConfig, *, console: Any = None, force: bool = False,
            instance: Any = None) -> RunOutcome:
    """Run `reglink_all` once per delivery (derived assets in the last run); no exception on
    a failed step, the outcome says what failed."""
    from reglink_dagster import deliveries as dl
    from reglink_dagster import stages

    if console is None:
        from rich.console import Console
        console = Console(stderr=True, quiet=True)
    t0 = time.perf_counter()
    out = RunOutcome(config=cfg, absent=stages.missing())
    found = dl.all_deliveries(cfg)
    if not found:
        raise ReglinkError(Problem(str(cfg.config_path or "config"),
                                   "no extracts configured and nothing in the landing folder"))
    refused = dl.problems(cfg)
    if refused:
        raise ReglinkError(*refused)
    for stage, why in out.absent.items():
        console.print(f"[yellow]![/] stage {stage} is not in the graph: {why}")
    by_key: dict[str, list[str]] = {}
    for d in found:
        by_key.setdefault(d.key, []).append(d.register)
    order = sorted(by_key, key=lambda k: (k != dl.BASELINE, k))

    from reglink.runlock import STAGING_ENV, run_lock, staged_warehouse

    with run_lock(cfg.warehouse), staged_warehouse(cfg.warehouse), \
            _env(STAGING_ENV, str(cfg.warehouse)):
        out.removed = _remove_unconfigured(cfg, console)
        _execute_deliveries(cfg, out, by_key, order, console, force, instance)
    out.seconds = time.perf_counter() - t0
    return out


def _remove_unconfigured(cfg: PipelineConfig, console: Any) -> dict[str, int]:
    """A register taken out of `extracts` leaves with its records: its config delivery is
    deleted from the restricted store, its quality rows and its pipeline state from the
    (staged) warehouse, so every derived table is rebuilt without it; register -> records."""
    from reglink_dagster import state
    from reglink_dagster.deliveries import BASELINE
    from reglink_dagster.resources import staged
    from reglink.ingest.store_writer import drop_delivery, stored_deliveries

    gone = sorted(r for r, ds in stored_deliveries(cfg).items()
                  if BASELINE in ds and r not in cfg.extracts)
    removed: dict[str, int] = {}
    if not gone:
        return removed
    scfg = staged(copy.copy(cfg))
    for register in gone:
        removed[register] = drop_delivery(scfg, register, BASELINE)
        if scfg.warehouse.exists():
            with state.Session(scfg.warehouse) as st:
                st.con.execute("DELETE FROM pipeline_state WHERE asset IN (?, ?) AND partition = ?",
                               [f"raw/{register}", f"validated/{register}", BASELINE])
                if st.tables_exist(["linkage_key_map"]):  # the keys kept for re-delivery
                    st.con.execute("DELETE FROM linkage_key_map WHERE source = ?", [register])
        console.print(f"[yellow]![/] {register} is no longer in extracts: its "
                      f"{removed[register]:,} records are removed from every table")
    return removed


def _execute_deliveries(cfg: PipelineConfig, out: RunOutcome, by_key: dict[str, list[str]],
                        order: list[str], console: Any, force: bool, instance: Any) -> None:
    """One in-process run of `reglink_all` per delivery, derived assets in the last."""
    import dagster as dg

    from reglink_dagster import progress
    from reglink_dagster.defs.automation import delivery_keys, derived_keys
    from reglink_dagster.defs.extracts import DELIVERIES
    from reglink_dagster.resources import CONFIG_ENV, ENGINE_TAG

    warnings.filterwarnings("ignore", module="dagster")
    if instance is None:
        home = cfg.warehouse.parent / ".dagster"
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "dagster.yaml").exists():
            import shutil

            import reglink_dagster
            shutil.copy(Path(reglink_dagster.__file__).with_name("dagster.yaml"), home / "dagster.yaml")
        instance = dg.DagsterInstance.local_temp(tempdir=str(home))
    from reglink_dagster.definitions import defs

    with _env(CONFIG_ENV, str(cfg.config_path or "")), warnings.catch_warnings(), \
            _quiet_logs(console):
        warnings.simplefilter("ignore")
        job = defs().resolve_job_def("reglink_all")
        have = set(instance.get_dynamic_partitions(DELIVERIES.name))
        new = [k for k in order if k not in have]
        if new:
            instance.add_dynamic_partitions(DELIVERIES.name, new)
        with console.status("starting…") as status:
            current: dict[str, str] = {}
            listener = _progress_printer(console, status, current)
            progress.add(listener)
            try:
                for i, key in enumerate(order):
                    current["key"] = key
                    selection = delivery_keys(sorted(by_key[key]))
                    if i == len(order) - 1:
                        selection += derived_keys()
                    status.update(f"delivery {key}: {', '.join(sorted(by_key[key]))}")
                    result = job.execute_in_process(
                        instance=instance, partition_key=key, asset_selection=selection,
                        raise_on_error=False, run_config=QUIET,
                        tags={"reglink/force": "true" if force else "false",
                              "reglink/delivery": key, ENGINE_TAG: cfg.engine})
                    out.run_ids.append(result.run_id)
                    _collect(result, out)
                    done: set[str] = set()
                    for ev in result.all_events:
                        if ev.event_type_value == "ASSET_MATERIALIZATION":
                            mat = ev.event_specific_data.materialization
                            name = mat.asset_key.to_user_string()
                            done.add(name)
                            unchanged = mat.metadata.get("unchanged")
                            (out.unchanged if unchanged is not None and unchanged.value
                             else out.built).append(name)
                    failed_steps = {line.split()[1] for line in out.failed}
                    out.skipped += [k.to_user_string() for k in selection
                                    if k.to_user_string() not in done | failed_steps
                                    | set(out.skipped)]
                    if out.failed:
                        break
            finally:
                progress.remove(listener)


@dataclass
class DeliveryCount:
    """Records of one delivery of one register as its latest validation left them."""

    delivery: str
    register: str
    read: int
    accepted: int
    quarantined: int
    status: str  # ok, or blocked (a blocking check failed: nothing of it is used)


def delivery_counts(con: Any) -> list[DeliveryCount]:
    """Every delivery the warehouse holds, per register: records read, accepted and
    quarantined (pipeline_state, what the restricted store holds now; ingest_log keeps every
    attempt, so a re-read extract would count twice there)."""
    have = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "pipeline_state" not in have:
        return []
    rows = con.execute("""
        SELECT partition, substr(asset, length('validated/') + 1), status,
               CAST(json_extract(summary, '$.rows_in') AS BIGINT),
               CAST(json_extract(summary, '$.rows_accepted') AS BIGINT),
               CAST(json_extract(summary, '$.rows_quarantined') AS BIGINT)
        FROM pipeline_state WHERE asset LIKE 'validated/%'
        ORDER BY partition <> 'baseline', partition, 2""").fetchall()
    return [DeliveryCount(d, r, n or 0, a or 0, q or 0, st or "ok") for d, r, st, n, a, q in rows]


def headline_numbers(cfg: PipelineConfig) -> dict[str, Any]:
    """A few figures for the end of `reglink run` / `reglink demo` (from the warehouse)."""
    from reglink import store

    nums: dict[str, Any] = {}
    if not cfg.warehouse.exists():
        return nums
    con = store.connect(cfg.warehouse, read_only=True)
    try:
        have = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        counts = delivery_counts(con)
        if counts:
            nums["deliveries"] = counts
            used = [c for c in counts if c.status != "blocked"]
            nums["records read"] = sum(c.read for c in used)
            nums["records accepted"] = sum(c.accepted for c in used)
            nums["records quarantined"] = sum(c.quarantined for c in used)
        elif "ingest_log" in have:
            r = con.execute("SELECT sum(rows_in), sum(rows_quarantined) FROM (SELECT DISTINCT "
                            "sha256, rows_in, rows_quarantined FROM ingest_log)").fetchall()[0]
            nums["records read"], nums["records quarantined"] = r
        if "person_links" in have:
            nums["records linked"], nums["persons linked"] = con.execute(
                "SELECT count(*), count(DISTINCT person_key) FROM person_links").fetchall()[0]
        if "migration_events" in have:
            for t, n in con.execute("SELECT event_type, count(*) FROM migration_events "
                                    "GROUP BY 1 ORDER BY 1").fetchall():
                nums[f"{t.lower()} events ({cfg.rule.name})"] = n
    finally:
        con.close()
    return nums


def delivery_lines(counts: list[DeliveryCount]) -> list[str]:
    """One line per delivery: its registers, records read = accepted + quarantined."""
    by: dict[str, list[DeliveryCount]] = {}
    for c in counts:
        by.setdefault(c.delivery, []).append(c)
    width = max(len(d) for d in by)
    lines = []
    for d, cs in by.items():
        regs = ", ".join(f"{c.register} {c.read:,}" + (" (blocked)" if c.status == "blocked" else "")
                         for c in cs)
        used = [c for c in cs if c.status != "blocked"]
        lines.append(f"{d:<{width}}  {sum(c.read for c in used):,} read = "
                     f"{sum(c.accepted for c in used):,} accepted + "
                     f"{sum(c.quarantined for c in used):,} quarantined ({regs})")
    return lines


def _headline(cfg: PipelineConfig, out: RunOutcome, console: Any) -> None:
    built, same = len(set(out.built)), len(set(out.unchanged))
    console.print(f"[bold]done[/] in {out.seconds:.1f}s on {cfg.engine}: {built} assets built, "
                  f"{same} unchanged "
                  f"(peak memory {out.peak_rss_gb:.1f} GB of the {cfg.budget.memory_limit / 1e9:.1f} GB "
                  "budget)")
    for register, n in out.removed.items():
        console.print(f"  {register}: removed from extracts, {n:,} records taken out of every table")
    nums = headline_numbers(cfg)
    deliveries = nums.pop("deliveries", [])
    if deliveries:
        console.print("  deliveries (records read = accepted + quarantined):")
        for line in delivery_lines(deliveries):
            console.print(f"    {line}")
    if "records accepted" in nums:  # the totals over every delivery, in one line
        console.print(f"  records read: {nums.pop('records read'):,} = "
                      f"{nums.pop('records accepted'):,} accepted + "
                      f"{nums.pop('records quarantined'):,} quarantined")
    if "records linked" in nums:  # every accepted record is linked to a person
        console.print(f"  persons linked: {nums.pop('persons linked'):,} "
                      f"from {nums.pop('records linked'):,} records")
    for k, v in nums.items():
        console.print(f"  {k}: {v:,}" if isinstance(v, int) else f"  {k}: {v}")
    console.print(f"  warehouse: {cfg.warehouse}")
    report = cfg.reports / "index.html"
    console.print(f"  report:    {report}" if report.exists() else "  report:    not built")
    console.print(f"  run history: {cfg.warehouse.parent / '.dagster'}")
    if cfg.config_path is not None:
        # the UI on the same run history: ./run dev derives the home from the config
        console.print(f"  browse it: REGLINK_CONFIG={Path(cfg.config_path).resolve()} ./run dev")


def run_demo(persons: int, seed: int, directory: str | Path, years: int) -> RunOutcome:
    """Synthetic registers into DIR (with DIR/reglink.yaml), then the whole pipeline on them."""
    from reglink.console import console as make_console

    directory = Path(directory)
    console = make_console(stderr=True, highlight=False, soft_wrap=True)
    try:
        from reglink.synth import generate
    except ImportError as exc:
        raise ReglinkError(f"the synthetic generator is not available: {exc}") from None
    with console.status(f"generating {persons:,} synthetic persons over {years} years…"):
        t0 = time.perf_counter()
        generate(persons=persons, years=years, seed=seed, out=directory)
    console.print(f"[green]✓[/] synthetic registers in {directory} "
                  f"[dim]{time.perf_counter() - t0:.1f}s[/]")
    config = directory / "reglink.yaml"
    if not config.exists():
        raise ReglinkError(Problem(str(config), "the generator wrote no pipeline config"))
    _add_landing(config)
    out = run_pipeline(config)
    console.print(f"  new deliveries: {config.parent.resolve() / 'landing'}/<YYYY-MM>/<register>.csv")
    return out


def _add_landing(config: Path) -> None:
    """Give the demo a landing folder so the Dagster sensor has somewhere to look."""
    import yaml

    data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    if "landing" not in data:
        with config.open("a", encoding="utf-8") as f:
            f.write("landing: landing/   # new deliveries: landing/<YYYY-MM>/<register>.csv|parquet\n")
    (config.parent / str(data.get("landing", "landing"))).mkdir(parents=True, exist_ok=True)


def reglink_all_job():
    """The `reglink_all` job, importable by name (Dagster re-executes runs from a reconstructable job)."""
    from reglink_dagster.definitions import defs

    return defs().resolve_job_def("reglink_all")


def reexecute_from_failure(config_path: str | Path, run_id: str | None = None,
                           instance: Any = None) -> Any:
    """Re-execute a failed `reglink run` from its failed step (the UI's "Re-execute from
    failure"): only the failed step and the ones after it run, with the run's partition.
    `run_id` defaults to the latest failed run of the run history beside the warehouse."""
    import dagster as dg

    from reglink_dagster.resources import CONFIG_ENV

    cfg = load_config(config_path)
    if instance is None:
        instance = dg.DagsterInstance.local_temp(tempdir=str(cfg.warehouse.parent / ".dagster"))
    if run_id is None:
        failed = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]),
                                   limit=1)
        if not failed:
            raise ReglinkError(Problem(str(config_path), "no failed run to re-execute"))
        run_id = failed[0].run_id
    with _env(CONFIG_ENV, str(cfg.config_path)), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        options = dg.ReexecutionOptions.from_failure(run_id, instance)
        parent = instance.get_run_by_id(run_id)
        tags = {k: v for k, v in parent.tags.items()
                if k.startswith(("dagster/partition", "reglink/"))}
        return dg.execute_job(dg.reconstructable(reglink_all_job), instance=instance,
                              reexecution_options=options, raise_on_error=False,
                              run_config=QUIET, tags=tags)
