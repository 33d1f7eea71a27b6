"""Dagster resources: the pipeline config and the two stores it names.

One YAML file (docs/reference.md#pipeline-configuration, read by `reglink.config.load_config`) configures both
`reglink run` and the Dagster code location. Its path comes from the environment variable
REGLINK_CONFIG at run time (default: demo/reglink.yaml in the project, what `./run demo`
writes). Secrets never live in the YAML: anything sensitive is read from environment variables
(see docs/operations.md).
"""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from reglink import store
from reglink.config import PipelineConfig, load_config

from reglink_dagster.versions import PROJECT_ROOT

CONFIG_ENV = "REGLINK_CONFIG"
DEFAULT_CONFIG = PROJECT_ROOT / "demo" / "reglink.yaml"


def config_path(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def staged(cfg: PipelineConfig) -> PipelineConfig:
    """Inside `reglink run` the warehouse is written as a staging copy swapped in at the end
    (reglink.runlock): point the config at the copy, the restricted store where it was."""
    from reglink.runlock import STAGING_ENV, staging_path

    target = os.environ.get(STAGING_ENV)
    if target and Path(target) == cfg.warehouse:
        cfg.restricted = cfg.restricted_path
        cfg.parquet_dir = cfg.parquet_path
        cfg.warehouse = staging_path(cfg.warehouse)
    return cfg


class ReglinkConfig(dg.ConfigurableResource):
    """The pipeline YAML. Empty `config_path` means: $REGLINK_CONFIG, else demo/reglink.yaml."""

    config_path: str = ""

    def path(self) -> Path:
        return config_path(self.config_path)

    def load(self) -> PipelineConfig:
        """The config (the staging copy of the warehouse during `reglink run`)."""
        return staged(load_config(self.path()))


ENGINE_TAG = "reglink/engine"  # `reglink run --engine` sets it; it wins over the config's key


def run_config(reglink: "ReglinkConfig", context: dg.AssetExecutionContext) -> PipelineConfig:
    """The config of this run: the YAML, with the engine of `reglink run --engine` if given."""
    from reglink.config import with_engine

    return with_engine(reglink.load(), context.run.tags.get(ENGINE_TAG))


class SparkEngine(dg.ConfigurableResource):
    """The Spark session of `engine: spark`, started on first use. Local by default (the
    config's `spark:` block, `local[*]`); set `master` (and `conf`) here, or in the config, to
    run on a cluster (`spark://host:7077`, `yarn`, `k8s://...`). Unused with `engine: duckdb`."""

    master: str = ""  # overrides the config's spark.master when set
    conf: dict[str, str] = {}  # added to the config's spark.conf

    def session(self, cfg: PipelineConfig):
        """The session for `cfg` (jar, checkpoint directory, memory from the run's budget)."""
        import dataclasses

        from reglink.engines.spark import spark_session

        block = {**cfg.spark, "master": self.master or cfg.spark.get("master") or "local[*]",
                 "conf": {**(cfg.spark.get("conf") or {}), **self.conf}}
        return spark_session(dataclasses.replace(cfg, spark=block))

    def for_run(self, cfg: PipelineConfig):
        """A session when the run's engine is spark, else None (DuckDB needs none)."""
        return self.session(cfg) if cfg.engine == "spark" else None


class Warehouse(dg.ConfigurableResource):
    """The statistical warehouse (DuckDB file named by the config's `warehouse:` key)."""

    config_path: str = ""

    def path(self) -> Path:
        return staged(load_config(config_path(self.config_path))).warehouse

    def connect(self, read_only: bool = False):
        return store.connect(self.path(), read_only=read_only)


class RestrictedStore(dg.ConfigurableResource):
    """The restricted store: standardised records with identifiers, quarantine, archive."""

    config_path: str = ""

    def path(self) -> Path:
        return load_config(config_path(self.config_path)).restricted_path

    def connect(self, read_only: bool = False):
        return store.connect(self.path(), read_only=read_only, private=True)

    def archive_dir(self) -> Path:
        """Immutable copies of delivered extracts (they hold identifiers: restricted area)."""
        return self.path().parent / "archive"


RESOURCES = {"reglink": ReglinkConfig(), "warehouse": Warehouse(), "restricted": RestrictedStore(),
             "spark": SparkEngine()}
