"""Run settings for every job: resources from the pipeline YAML, steps in one process, and the
loggers a run may configure (Dagster's console logger; `reglink run` adds its progress one)."""
import dagster as dg

from reglink_dagster.progress import LOGGER_KEY, reglink_progress
from reglink_dagster.resources import RESOURCES


@dg.definitions
def runtime() -> dg.Definitions:
    """Resources from the pipeline YAML; steps run in one process (DuckDB allows one writer)."""
    return dg.Definitions(resources=RESOURCES, executor=dg.in_process_executor,
                          loggers={**dg.default_loggers(), LOGGER_KEY: reglink_progress})
