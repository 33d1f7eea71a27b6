"""The Dagster layer stays thin: asset modules hold no SQL (the library computes, the assets
report), and `reglink run`'s progress comes from Dagster's own event stream through the
`reglink_progress` logger, not from a hook the assets call."""
from __future__ import annotations

import ast
import logging
import re
import warnings
from pathlib import Path

import dagster as dg

import reglink_dagster
from reglink_dagster.progress import LOGGER_KEY, PYTHON_LOGGER, reglink_progress, step_event

DEFS = Path(reglink_dagster.__file__).resolve().parent / "defs"
SQL = re.compile(r"\b(SELECT|INSERT|DELETE|UPDATE|CREATE|DROP)\b\s", re.IGNORECASE)


def test_asset_modules_hold_no_sql():
    found = []
    files = sorted(DEFS.glob("*.py"))
    assert {"extracts.py", "derived.py"} <= {f.name for f in files}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and SQL.search(node.value) and "FROM" in node.value.upper():
                found.append(f"{path.name}:{node.lineno}: {node.value[:60]!r}")
    assert found == []


def test_progress_comes_from_the_run_events():
    """A two-step graph run with the logger on: the handler sees each step start, its log
    line, its materialisation with the metadata the progress line prints, and its end."""

    @dg.asset
    def first(context) -> dg.MaterializeResult:
        context.log.info("halfway")
        return dg.MaterializeResult(metadata={"summary": "3 rows", "unchanged": False})

    @dg.asset(deps=[first])
    def second() -> dg.MaterializeResult:
        raise dg.Failure("no second")

    seen: list[tuple[str, str, str]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            ev = step_event(record)
            if ev is not None:
                summary = ev.metadata["summary"].value if ev.metadata else ""
                seen.append((ev.step_key, ev.kind, ev.message or summary))

    defs = dg.Definitions(assets=[first, second], jobs=[dg.define_asset_job("both")],
                          loggers={**dg.default_loggers(), LOGGER_KEY: reglink_progress})
    handler = Collect()
    logging.getLogger(PYTHON_LOGGER).addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = defs.resolve_job_def("both").execute_in_process(
                instance=dg.DagsterInstance.ephemeral(), raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}},
                                        LOGGER_KEY: {}}})
    finally:
        logging.getLogger(PYTHON_LOGGER).removeHandler(handler)
    assert not result.success
    assert seen == [("first", "start", ""), ("first", "log", "halfway"),
                    ("first", "materialized", "3 rows"), ("first", "success", ""),
                    ("second", "start", ""), ("second", "failure", "")]
