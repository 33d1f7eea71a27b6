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
    removed: dict[str, int] = field(default_factory=dict)  # register dropped from extracts -> records
    deliveries: list["DeliveryCount"] = field(default_factory=list)  # what the validations left
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


def _collect(result: Any, out: RunOutcome, asset_steps: dict[str, str]) -> None:
    """Failures, failed checks and skipped steps of one in-process run, as one line each
    (`asset_steps`: an asset's step key -> the asset; a skipped check step is not listed)."""
    failed_checks: dict[str, list[str]] = {}
    check_steps: dict[str, str] = {}  # an @asset_check's own step -> the asset it checks
    for ev in result.all_events:
        et = ev.event_type_value
        if et == "ASSET_CHECK_EVALUATION":
            data = ev.event_specific_data
            asset = data.asset_key.to_user_string()
            if ev.step_key != data.asset_key.to_python_identifier():
                check_steps[ev.step_key] = asset
            if not data.passed and data.severity.value == "ERROR":
                failed_checks.setdefault(asset, []).append(
                    f"check {data.check_name}: {data.description or 'failed'}")
    for ev in result.all_events:
        et = ev.event_type_value
        if et == "STEP_FAILURE":
            asset = check_steps.get(ev.step_key) or _step_asset(ev.step_key)
            checks = failed_checks.get(asset)
            reason = "; ".join(checks) if checks else _root_message(ev.step_failure_data.error)
            out.failed.append(f"step {asset} failed: {reason}")
        elif et == "STEP_SKIPPED" and ev.step_key in asset_steps:
            out.skipped.append(asset_steps[ev.step_key])


# the longest progress label: "validated/population_register [baseline]" and a space
LABEL_WIDTH = 42


def progress_label(asset: str, delivery: str | None) -> str:
    """An asset as the progress lines name it: a per-delivery asset (raw/, validated/) with
    its delivery, so two deliveries of one register are two different lines."""
    if delivery and asset.startswith(("raw/", "validated/")):
        return f"{asset} [{delivery}]"
    return asset


class _ProgressLines(logging.Handler):
    """Progress lines from a run's Dagster events (the `reglink_progress` logger): a step's
    start sets the status line, its `context.log` lines update it, and when the step ends each
    asset it materialised gets one line (its metadata `summary`; `unchanged` marks a no-op; a
    step that materialised and then failed a blocking check is marked blocked). A multi-asset
    step (the statistical tables) gets one line, named by its step."""

    def __init__(self, console: Any, status: Any, delivery: dict[str, str]) -> None:
        super().__init__(logging.DEBUG)
        from rich.markup import escape

        self.console, self.status, self.delivery, self.escape = console, status, delivery, escape
        self.started: dict[str, float] = {}
        self.materialized: dict[str, list[tuple[str, Any]]] = {}
        # a step whose end came before its materialisation (records reordered under load)
        self.ended: dict[str, tuple[str, float]] = {}
        self.drawn: set[str] = set()  # assets of this run that have their line

    def _label(self, asset: str) -> str:
        return self.escape(progress_label(asset, self.delivery.get("key")))  # [..] is not markup

    def emit(self, record: logging.LogRecord) -> None:
        from reglink_dagster.progress import step_event

        ev = step_event(record)
        if ev is None:
            return
        asset = _step_asset(ev.step_key)
        if ev.kind == "start":
            self.started.setdefault(ev.step_key, time.perf_counter())
            self.materialized.setdefault(ev.step_key, [])  # never drop one that came first
            self.status.update(f"[bold]{self._label(asset)}[/] …")
        elif ev.kind == "log":
            self.status.update(f"[bold]{self._label(_STEP_LABELS.get(asset, asset))}[/] "
                               f"{self.escape(ev.message)}")
        elif ev.kind == "materialized":
            if ev.step_key in self.ended:  # the step's end was seen first: draw its line now
                kind, took = self.ended.pop(ev.step_key)
                self._lines(kind, asset, [(ev.asset, ev.metadata)], took)
            else:
                self.materialized.setdefault(ev.step_key, []).append((ev.asset, ev.metadata))
        else:
            done = self.materialized.pop(ev.step_key, [])
            took = time.perf_counter() - self.started.pop(ev.step_key, time.perf_counter())
            if not done:
                self.ended[ev.step_key] = (ev.kind, took)
            self._lines(ev.kind, asset, done, took)

    def finish_run(self, events: list[Any]) -> None:
        """After a run: a line for every asset the run materialised that has none yet, from the
        run's own events (complete, unlike the log records: under a loaded machine the
        records of a run's last step have gone missing), then a clean state for the next run."""
        missing: dict[str, list[tuple[str, Any]]] = {}
        ends: dict[str, tuple[str, float]] = {}
        for ev in events:
            et = ev.event_type_value
            if et == "ASSET_MATERIALIZATION":
                mat = ev.event_specific_data.materialization
                name = mat.asset_key.to_user_string()
                if name not in self.drawn:
                    missing.setdefault(ev.step_key, []).append((name, mat.metadata))
            elif et in ("STEP_SUCCESS", "STEP_FAILURE"):
                ms = getattr(ev.event_specific_data, "duration_ms", None)
                ends[ev.step_key] = (et.removeprefix("STEP_").lower(), (ms or 0) / 1000)
        for step, done in missing.items():
            kind, took = ends.get(step, ("success", 0.0))
            self._lines(kind, _step_asset(step), done, took)
        for state in (self.started, self.materialized, self.ended, self.drawn):
            state.clear()

    def _lines(self, kind: str, asset: str, done: list[tuple[str, Any]], took: float) -> None:
        """One progress line per asset the step materialised (one for a multi-asset step)."""
        self.drawn.update(name for name, _ in done)
        if len(done) > 1:  # one line for the step
            done = [(_STEP_LABELS.get(asset, asset), done[0][1])]
        for name, md in done:
            unchanged = md.get("unchanged") is not None and md["unchanged"].value
            what = "blocked" if kind == "failure" else "unchanged" if unchanged else "done"
            detail = md["summary"].value if "summary" in md else ""
            mark = {"done": "[green]✓[/]", "blocked": "[red]✗[/]"}.get(what, "[dim]=[/]")
            label = {"done": "", "blocked": " [red](blocking check failed)[/]"}.get(
                what, " [dim](unchanged)[/]")
            self.console.print(f"{mark} {self._label(name):<{LABEL_WIDTH}} {detail}{label} "
                               f"[dim]{took:.1f}s[/]")


# a step that materialises several assets, as its progress line names it
_STEP_LABELS = {"statistical_tables": "tables"}


@contextlib.contextmanager
def _progress(console: Any, status: Any, delivery: dict[str, str]
              ) -> Iterator[tuple[dict, _ProgressLines]]:
    """Attach the progress lines to the `reglink_progress` logger; yield the run config that
    turns that logger on (Dagster's console logger stays quiet) and the lines' handler (its
    `finish_run` completes a run's lines from the run's events)."""
    from reglink_dagster.progress import LOGGER_KEY, PYTHON_LOGGER

    handler = _ProgressLines(console, status, delivery)
    logger = logging.getLogger(PYTHON_LOGGER)
    logger.addHandler(handler)
    try:
        yield {"loggers": {**QUIET["loggers"], LOGGER_KEY: {}}}, handler
    finally:
        logger.removeHandler(handler)


def run_pipeline(config_path: str | Path, *, force: bool = False, quiet: bool = False,
                 engine: str | None = None) -> RunOutcome:
    """Materialise the asset graph for the config; raise ReglinkError (exit 1) on a failed step.
    `engine` (duckdb, spark) overrides the config's `engine:` key."""
    from reglink.config import with_engine
    from reglink.console import close_unredirected, unredirected_stderr
    from reglink.console import console as make_console

    path = Path(config_path)
    cfg = with_engine(load_config(path), engine)
    # the progress lines bypass Dagster's capture of each step's output (see
    # unredirected_stderr): a line drawn as a step ends is never lost with the step's capture
    err = unredirected_stderr()
    try:
        console = make_console(stderr=True, file=err, quiet=quiet, highlight=False,
                               soft_wrap=True)
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
    finally:
        close_unredirected(err)


def execute(cfg: PipelineConfig, *, console: Any = None, force: bool = False,
            instance: Any = None) -> RunOutcome:
    """Run `reglink_all` once per delivery (derived assets in the last run); no exception on
    a failed step, the outcome says what failed."""
    from reglink_dagster import deliveries as dl

    if console is None:
        from rich.console import Console
        console = Console(stderr=True, quiet=True)
    t0 = time.perf_counter()
    out = RunOutcome(config=cfg)
    found = dl.all_deliveries(cfg)
    if not found:
        raise ReglinkError(Problem(str(cfg.config_path or "config"),
                                   "no extracts configured and nothing in the landing folder"))
    refused = dl.problems(cfg)
    if refused:
        raise ReglinkError(*refused)
    by_key: dict[str, list[str]] = {}
    for d in found:
        by_key.setdefault(d.key, []).append(d.register)
    order = sorted(by_key, key=lambda k: (k != dl.BASELINE, k))

    from reglink.runlock import STAGING_ENV, run_lock, staged_warehouse

    with run_lock(cfg.warehouse), staged_warehouse(cfg.warehouse), \
            _env(STAGING_ENV, str(cfg.warehouse)):
        instance = instance or _instance(cfg)
        _drop_legacy_state(cfg)
        out.removed = _remove_unconfigured(cfg, console, instance)
        _execute_deliveries(cfg, out, by_key, order, console, force, instance)
        out.deliveries = delivery_counts(instance)
    out.seconds = time.perf_counter() - t0
    return out


def _instance(cfg: PipelineConfig) -> Any:
    """The run history beside the warehouse (created with the package's dagster.yaml)."""
    import dagster as dg

    home = cfg.warehouse.parent / ".dagster"
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        import shutil

        import reglink_dagster
        shutil.copy(Path(reglink_dagster.__file__).with_name("dagster.yaml"), home / "dagster.yaml")
    return dg.DagsterInstance.local_temp(tempdir=str(home))


def _drop_legacy_state(cfg: PipelineConfig) -> None:
    """Earlier versions kept their change detection in a warehouse table, `pipeline_state`
    (file paths, fingerprints); the run history does that now. Drop it from the (staged)
    warehouse so no export or declaration check meets it."""
    from reglink import store
    from reglink_dagster.resources import staged

    path = staged(copy.copy(cfg)).warehouse
    if path.exists():
        con = store.connect(path)
        try:
            con.execute("DROP TABLE IF EXISTS pipeline_state")
        finally:
            con.close()


def _remove_unconfigured(cfg: PipelineConfig, console: Any, instance: Any) -> dict[str, int]:
    """A register taken out of `extracts` leaves with its records: its config delivery is
    deleted from the restricted store and its kept keys from the (staged) warehouse, and its
    baseline materialisations are wiped from the run history, so every derived asset's data
    version changes and each is rebuilt without it; register -> records."""
    from reglink import store
    from reglink_dagster.defs.extracts import raw_key, validated_key
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
        for key in (raw_key(register), validated_key(register)):
            _forget(instance, key, BASELINE)
        if scfg.warehouse.exists():
            con = store.connect(scfg.warehouse)
            try:
                if "linkage_key_map" in store.tables(con):  # the keys kept for re-delivery
                    con.execute("DELETE FROM linkage_key_map WHERE source = ?", [register])
            finally:
                con.close()
        console.print(f"[yellow]![/] {register} is no longer in extracts: its "
                      f"{removed[register]:,} records are removed from every table")
    return removed


def _execute_deliveries(cfg: PipelineConfig, out: RunOutcome, by_key: dict[str, list[str]],
                        order: list[str], console: Any, force: bool, instance: Any) -> None:
    """One in-process run of `reglink_all` per delivery, derived assets in the last."""
    import dagster as dg

    from reglink_dagster.defs.automation import delivery_keys, derived_keys
    from reglink_dagster.defs.extracts import DELIVERIES
    from reglink_dagster.resources import CONFIG_ENV, ENGINE_TAG

    warnings.filterwarnings("ignore", module="dagster")
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
            with _progress(console, status, current) as (run_config, lines):
                for i, key in enumerate(order):
                    current["key"] = key
                    selection = delivery_keys(sorted(by_key[key]))
                    if i == len(order) - 1:
                        selection += derived_keys()
                    status.update(f"delivery {key}: {', '.join(sorted(by_key[key]))}")
                    result = job.execute_in_process(
                        instance=instance, partition_key=key, asset_selection=selection,
                        raise_on_error=False, run_config=run_config,
                        tags={"reglink/force": "true" if force else "false",
                              "reglink/delivery": key, ENGINE_TAG: cfg.engine})
                    out.run_ids.append(result.run_id)
                    lines.finish_run(result.all_events)
                    _collect(result, out, {k.to_python_identifier(): k.to_user_string()
                                           for k in job.asset_layer.asset_graph.get_all_asset_keys()}
                             | {"statistical_tables": "statistical_tables"})
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


@dataclass
class DeliveryCount:
    """Records of one delivery of one register as its latest validation left them."""

    delivery: str
    register: str
    read: int
    accepted: int
    quarantined: int
    status: str  # ok, or blocked (a blocking check failed: nothing of it is used)


def delivery_counts(instance: Any) -> list[DeliveryCount]:
    """Every delivery of every register, as its latest validation in the run history left it:
    records read, accepted and quarantined (what the restricted store holds now; ingest_log
    keeps every attempt, so a re-read extract would count twice there)."""
    from reglink.schemas import SOURCES
    from reglink_dagster import versions
    from reglink_dagster.defs.extracts import DELIVERIES, validated_key
    from reglink_dagster.deliveries import BASELINE

    out = []
    keys = sorted(instance.get_dynamic_partitions(DELIVERIES.name),
                  key=lambda k: (k != BASELINE, k))
    for d in keys:
        for r in sorted(SOURCES):
            mat = versions.latest(instance, validated_key(r), d)
            if mat is not None:
                out.append(DeliveryCount(
                    d, r, versions.value(mat, "rows_in", 0), versions.value(mat, "rows_accepted", 0),
                    versions.value(mat, "rows_quarantined", 0), versions.value(mat, "status", "ok")))
    return out


def _forget(instance: Any, key: Any, partition: str) -> None:
    """Make one partition of an asset look never delivered, so a register put back into
    `extracts` is ingested again: its latest materialisation becomes a removal, with a data
    version no extract has. (Wiping the partition would do too, but SQLite event logs, the
    local default, cannot wipe one partition; this works on every storage.)"""
    import dagster as dg

    from reglink_dagster.versions import DATA_VERSION_TAG

    instance.report_runless_asset_event(dg.AssetMaterialization(
        asset_key=key, partition=partition, tags={DATA_VERSION_TAG: "removed"},
        metadata={"removed": "the register is no longer in extracts"}))


def headline_numbers(cfg: PipelineConfig, counts: list[DeliveryCount] | None = None
                     ) -> dict[str, Any]:
    """A few figures for the end of `reglink run` / `reglink demo`: the deliveries' counts
    (from the run history) and the warehouse's."""
    from reglink import store

    nums: dict[str, Any] = {}
    if not cfg.warehouse.exists():
        return nums
    con = store.connect(cfg.warehouse, read_only=True)
    try:
        have = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
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
    nums = headline_numbers(cfg, out.deliveries)
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
        instance = _instance(cfg)
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
