"""Progress through Dagster's own logging: the `reglink_progress` logger.

A Dagster logger receives every log record of a run, the structured events (STEP_START,
ASSET_MATERIALIZATION, STEP_SUCCESS, ...) included, each with its `dagster_meta`. This one
hands them to the standard Python logger `reglink_dagster.progress`; `reglink run` configures
it for its in-process runs and attaches a handler that draws the progress lines. Under `dg dev`
nobody configures it, and runs log to Dagster's console logger as usual. Assets say nothing
extra: a step's start, its materialisations' metadata (`summary`, `unchanged`) and its
`context.log` lines are the progress.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import dagster as dg

LOGGER_KEY = "reglink_progress"
PYTHON_LOGGER = "reglink_dagster.progress"


@dg.logger(description="Hands every run event to the Python logger reglink_dagster.progress "
                       "(the progress lines of `reglink run`).")
def reglink_progress(_init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.getLogger(PYTHON_LOGGER)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # the lines are drawn by the handler `reglink run` attaches
    return logger


@dataclass(frozen=True)
class StepEvent:
    """One progress-relevant record of a run: which step, what happened, and its payload."""

    step_key: str
    kind: str  # start, log, materialized, success, failure
    message: str = ""
    asset: str = ""
    metadata: Any = None


def step_event(record: logging.LogRecord) -> StepEvent | None:
    """The progress meaning of a log record from the `reglink_progress` logger, if any."""
    meta = getattr(record, "dagster_meta", None)
    if not isinstance(meta, dict) or not meta.get("step_key"):
        return None
    step, event = meta["step_key"], meta.get("dagster_event")
    if event is None:
        return StepEvent(step, "log", str(meta.get("orig_message", "")))
    et = event.event_type_value
    if et == "STEP_START":
        return StepEvent(step, "start")
    if et == "ASSET_MATERIALIZATION":
        mat = event.event_specific_data.materialization
        return StepEvent(step, "materialized", asset=mat.asset_key.to_user_string(),
                         metadata=mat.metadata)
    if et in ("STEP_SUCCESS", "STEP_FAILURE"):
        return StepEvent(step, et.removeprefix("STEP_").lower())
    return None
