"""Run settings for every job: resources from the pipeline YAML, steps in one process."""
import dagster as dg

from reglink_dagster.resources import RESOURCES


@dg.definitions
def runtime() -> dg.Definitions:
    """Resources from the pipeline YAML; steps run in one process (DuckDB allows one writer)."""
    return dg.Definitions(resources=RESOURCES, executor=dg.in_process_executor)
