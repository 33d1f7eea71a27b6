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

from pipelines.stages import PROJECT_ROOT

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
        """The config, refusing an engine this build cannot run (never a silent duckdb run)."""
        from reglink.orchestration import check_engine

        cfg = staged(load_config(self.path()))
        check_engine(cfg)
        return cfg


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


RESOURCES = {"reglink": ReglinkConfig(), "warehouse": Warehouse(), "restricted": RestrictedStore()}
