"""What `reglink run` prints, piped to a file as a log would be: every delivery named and
counted, counts that agree with the restricted store's row accounting, no line broken at 80
columns; and after the run every warehouse table has a Parquet copy, or is one of the few kept
back on purpose.

One synthetic world in a folder with a long name (so an 80-column wrap would cut its paths),
run twice through the real command in a real process: the baseline, then a landed month of
permits with one invalid row.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

LONG = "a_folder_name_long_enough_that_every_path_in_the_output_passes_eighty_columns"


def _reglink(*args: str) -> subprocess.CompletedProcess:
    # stdout and stderr are pipes: rich sees no terminal, as in `reglink run ... 2> run.log`
    return subprocess.run([sys.executable, "-m", "reglink.cli", *args], capture_output=True,
                          text=True, timeout=900, env={**__import__("os").environ, "COLUMNS": ""})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from reglink.synth import generate

    folder = tmp_path_factory.mktemp("run") / LONG
    generate(folder, persons=300, years=3, seed=7)
    cfg = folder / "reglink.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["landing"] = "landing"
    cfg.write_text(yaml.safe_dump(data))
    first = _reglink("run", "--config", str(cfg))
    assert first.returncode == 0, first.stderr[-3000:]
    month = folder / "landing" / "2026-01"
    month.mkdir(parents=True)
    perm = pl.read_parquet(folder / "permits.parquet").head(12)
    perm = perm.with_columns(pl.format("M2026-{}", pl.col("record_id")).alias("record_id"))
    # one row the checks refuse: a permit kind no code list holds
    perm = perm.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("BOGUS"))
                             .otherwise(pl.col("permit_kind")).alias("permit_kind"))
    perm.write_csv(month / "permits.csv")
    second = _reglink("run", "--config", str(cfg))
    assert second.returncode == 0, second.stderr[-3000:]
    from reglink.config import load_config

    return {"cfg": load_config(cfg), "first": first.stderr, "second": second.stderr}


def _restricted_counts(cfg) -> dict[tuple[str, str], tuple[int, int]]:
    """(delivery, register) -> (accepted, quarantined) rows in the restricted store."""
    con = duckdb.connect(str(cfg.restricted_path), read_only=True)
    try:
        have = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        out: dict[tuple[str, str], list[int]] = {}
        for reg in ("border_crossings", "permits", "population_register", "asylum_register"):
            for i, kind in enumerate(("std", "quarantine")):
                if f"{kind}_{reg}" not in have:
                    continue
                for d, n in con.execute(f'SELECT delivery, count(*) FROM "{kind}_{reg}" GROUP BY 1').fetchall():
                    out.setdefault((d, reg), [0, 0])[i] += n
        return {k: tuple(v) for k, v in out.items()}
    finally:
        con.close()


def test_each_delivery_is_named_in_the_progress_lines(runs):
    lines = runs["second"].splitlines()
    base = [ln for ln in lines if "raw/permits [baseline]" in ln]
    new = [ln for ln in lines if "raw/permits [2026-01]" in ln]
    assert len(base) == 1 and "(unchanged)" in base[0]
    assert len(new) == 1 and "(unchanged)" not in new[0]
    assert [ln for ln in lines if "validated/permits [2026-01]" in ln][0].count("11 accepted, 1 quarantined") == 1
    # every per-delivery line says its delivery
    per = [ln.split() for ln in lines if ln.split()[1:2] and ln.split()[1].startswith(("raw/", "validated/"))]
    # on failure, the whole output: one run under a loaded full suite once counted 9 lines here
    assert len(per) == 10 and all(w[2] in ("[baseline]", "[2026-01]") for w in per), \
        "\n".join(repr(ln) for ln in lines)


def test_headline_counts_every_delivery_and_agrees_with_row_accounting(runs):
    cfg, out = runs["cfg"], runs["second"]
    held = _restricted_counts(cfg)
    assert ("2026-01", "permits") in held and held[("2026-01", "permits")] == (11, 1)
    for delivery in ("baseline", "2026-01"):
        acc = sum(a for (d, _), (a, q) in held.items() if d == delivery)
        qua = sum(q for (d, _), (a, q) in held.items() if d == delivery)
        line = [ln for ln in out.splitlines() if ln.strip().startswith(delivery + " ")]
        assert len(line) == 1, out[-2000:]
        assert f"{acc + qua:,} read = {acc:,} accepted + {qua:,} quarantined" in line[0]
    acc = sum(a for a, _ in held.values())
    qua = sum(q for _, q in held.values())
    assert f"records read: {acc + qua:,} = {acc:,} accepted + {qua:,} quarantined" in out
    links = duckdb.connect(str(cfg.warehouse), read_only=True)
    n_links, n_persons = links.execute(
        "SELECT count(*), count(DISTINCT person_key) FROM person_links").fetchall()[0]
    links.close()
    assert n_links == acc  # every accepted record, and only those, is linked
    assert f"persons linked: {n_persons:,} from {n_links:,} records" in out


def test_piped_output_is_not_wrapped(runs):
    cfg = runs["cfg"]
    for out in (runs["first"], runs["second"]):
        assert f"warehouse: {cfg.warehouse}\n" in out
        assert f"browse it: REGLINK_CONFIG={cfg.config_path.resolve()} ./run dev" in out
        assert max(len(ln) for ln in out.splitlines()) > 120  # long lines are kept whole


def test_validate_piped_output_is_not_wrapped(runs, tmp_path: Path):
    cfg = runs["cfg"]
    extract = cfg.config_path.parent / "landing" / "2026-01" / "permits.csv"
    res = _reglink("validate", "permits", str(extract))
    assert res.returncode == 1  # the BOGUS permit kind
    assert res.stdout.splitlines()[0].startswith(f"permits {extract} — has errors")


def test_every_warehouse_table_has_a_parquet_copy_or_a_reason(runs):
    from reglink.tables.export import NOT_EXPORTED

    cfg = runs["cfg"]
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                        "WHERE table_schema = 'main'").fetchall()]
    pq = cfg.parquet_path
    missing = []
    for t in tables:
        if t in NOT_EXPORTED:
            assert not list(pq.rglob(f"{t}.parquet")), f"{t} must not be copied"
            continue
        path = (pq / "publication" / f"{t[4:]}.parquet" if t.startswith("pub_")
                else pq / "quality" / f"{t}.parquet" if t.startswith("quality_") or t == "ingest_log"
                else pq / f"{t}.parquet")
        if not path.exists():
            missing.append(t)
            continue
        assert pl.read_parquet(path).height == con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0], t
    con.close()
    assert missing == []
    assert len(tables) - len(NOT_EXPORTED) > 50


def test_a_progress_line_survives_records_out_of_order(monkeypatch):
    # the handler draws one line per materialised asset when its step ends; records that
    # arrive start-after-materialisation or end-before-materialisation still give that line
    import logging
    from types import SimpleNamespace

    from reglink_dagster import orchestration as orch
    from reglink_dagster import progress
    from reglink_dagster.progress import StepEvent

    monkeypatch.setattr(progress, "step_event", lambda record: record.ev)
    printed: list[str] = []
    console = SimpleNamespace(print=printed.append)
    status = SimpleNamespace(update=lambda _msg: None)
    handler = orch._ProgressLines(console, status, {"key": "baseline"})
    md = {"summary": SimpleNamespace(value="174 accepted, 0 quarantined"),
          "unchanged": SimpleNamespace(value=True)}

    def feed(*events: StepEvent) -> None:
        for ev in events:
            record = logging.LogRecord("reglink", logging.INFO, "", 0, "", None, None)
            record.ev = ev
            handler.emit(record)

    step = "validated__population_register"
    mat = StepEvent(step, "materialized", asset="validated/population_register", metadata=md)
    orders = {"in order": (StepEvent(step, "start"), mat, StepEvent(step, "success")),
              "start after the materialisation": (mat, StepEvent(step, "start"), StepEvent(step, "success")),
              "end before the materialisation": (StepEvent(step, "start"), StepEvent(step, "success"), mat)}
    # the run's own events, as `execute_in_process` returns them
    run_events = [SimpleNamespace(event_type_value="ASSET_MATERIALIZATION", step_key=step,
                                  event_specific_data=SimpleNamespace(materialization=SimpleNamespace(
                                      asset_key=SimpleNamespace(to_user_string=lambda: mat.asset),
                                      metadata=md))),
                  SimpleNamespace(event_type_value="STEP_SUCCESS", step_key=step,
                                  event_specific_data=SimpleNamespace(duration_ms=1234.0))]
    for name, events in orders.items():
        printed.clear()
        feed(*events)
        assert len(printed) == 1, (name, printed)
        assert "validated/population_register \\[baseline]" in printed[0] and "(unchanged)" in printed[0], name
        handler.finish_run(run_events)  # its line is drawn: not again
        assert len(printed) == 1, (name, printed)
    # the materialisation never reached the handler (a loaded machine lost a run's last
    # records): the run's events give the line when the run is over, with the step's time
    printed.clear()
    feed(StepEvent(step, "start"), StepEvent(step, "success"))
    assert printed == []
    handler.finish_run(run_events)
    assert len(printed) == 1 and "validated/population_register \\[baseline]" in printed[0]
    assert "(unchanged)" in printed[0] and "1.2s" in printed[0]


def test_progress_reaches_stderr_while_a_step_captures_descriptor_2():
    """Dagster captures a step's output by pointing descriptor 2 at a file (and copies it back
    through a `tail` that a loaded machine can stop first): the stream `reglink run` draws its
    progress on was duplicated before, so what it writes is not captured, while what goes to
    standard error during the capture is."""
    code = (
        "import os, sys\n"
        "from reglink.console import unredirected_stderr\n"
        "s = unredirected_stderr()\n"
        "os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # as a step's capture does\n"
        "print('progress line', file=s, flush=True)\n"
        "print('captured line', file=sys.stderr, flush=True)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "progress line" in r.stderr and "captured line" not in r.stderr
