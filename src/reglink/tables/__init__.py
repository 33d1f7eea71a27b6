"""Statistical tables of the warehouse (docs/reference.md#warehouse-tables): persons, crossings, migration
events, flows, stocks, temporary mobility, asylum flows, accounting, births and deaths, the toolkit's tables 3.1-3.5,
publication copies with small-cell protection, Parquet exports. docs/tables.md is the dictionary."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reglink.config import PipelineConfig


def build_tables(cfg: "PipelineConfig", log=None, spark=None) -> dict[str, int]:
    """Build every table from the restricted store and person_links; table -> row count.
    `spark`: the session for `engine: spark` (default: started from the config)."""
    from reglink.tables.build import build_tables as _build

    return _build(cfg, log=log, spark=spark)


__all__ = ["build_tables"]
