"""The build functions of the tables stage, one per step of `reglink.tables.catalog.BUILD`.

Each takes the build's shared state (`Build`: one connection, whose TEMP tables with dates of
birth live as long as the build) and records the rows of the tables it wrote in `counts`.
`reglink.tables.build.build_all` runs them in the declared order.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from reglink.config import Budget
from reglink.tables import (accounting, coarsen, crossings, events, flows, mobility, persons,
                            protect, provisional, register_flows, stocks, toolkit, vital)
from reglink.tables.runner import DuckDBRunner, Runner, SparkExports, SparkRunner
from reglink.tables.settings import TableSettings


@dataclass
class Build:
    """What every step of one build shares."""

    con: duckdb.DuckDBPyConnection
    settings: TableSettings
    restricted: str
    log: Callable[[str], None] | None = None
    budget: Budget | None = None
    spark: Any = None
    spark_work: Path | None = None
    counts: dict[str, int] = field(default_factory=dict)
    # flows from the population register's spells (no border register, or
    # tables.flows_source: registers); decided once the crossings are built
    from_registers: bool = False
    # the DuckDB tables given to Spark, shared by the steps (each exported once while unchanged)
    spark_exports: SparkExports | None = None

    def run(self, step: str) -> Runner:
        """Where a step's SQL runs: DuckDB, or Spark (a runner per step, over the build's one
        set of exported inputs)."""
        if self.spark is None:
            return DuckDBRunner(self.con)
        sql_work = (self.spark_work or Path("spark-work")) / "sql"
        if self.spark_exports is None:
            self.spark_exports = SparkExports(self.con, self.spark, sql_work / "_inputs")
        return SparkRunner(self.con, self.spark, sql_work / step, self.spark_exports)

    def rows(self, table: str) -> int:
        return self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def build_persons(b: Build) -> None:
    b.counts["persons"] = persons.build_persons(b.con, b.settings.home_country, b.restricted)


def build_crossings(b: Build) -> None:
    """Crossings per person, repaired and classified by the rule (residence spells with them),
    in DuckDB or, with a Spark session, on Spark."""
    if b.spark is None:
        b.counts.update(crossings.build_crossings(b.con, b.settings, b.restricted, b.budget, b.log))
    else:
        from reglink.engines.spark_passes import build_crossings_spark

        b.counts.update(build_crossings_spark(b.con, b.settings, b.spark,
                                              b.spark_work or Path("spark-work"), b.restricted,
                                              b.budget, b.log))


def build_migration_events(b: Build) -> None:
    b.from_registers = register_flows.use_registers(b.con, b.settings, b.restricted)
    if b.from_registers and b.log:
        b.log("tables: immigration and emigration from the population register's spells "
              "(no border register, or tables.flows_source: registers)")
    b.counts["migration_events"] = (
        register_flows.build_register_events(b.con, b.settings, b.restricted)
        if b.from_registers else events.build_events(b.con, b.settings, b.restricted, b.run("events")))


def build_flows(b: Build) -> None:
    b.counts["flows"] = flows.build_flows(b.con, b.settings.flow_periods, b.run("flows"))
    if b.from_registers:
        b.counts["register_stays"] = b.rows("register_stays")


def build_provisional(b: Build) -> None:
    """Expected migrations of the windows still open, the estimates they give (written into
    flows) and the revisions of earlier estimates."""
    b.counts.update(provisional.build_provisional(
        b.con, b.settings, b.restricted, provisional.settings_of(b.settings),
        model=not b.from_registers))
    b.counts["flows"] = b.rows("flows")


def build_stocks(b: Build) -> None:
    b.counts["stocks"] = stocks.build_stocks(b.con, b.settings, b.run("stocks"))
    b.counts["residence_spells"] = b.rows("residence_spells")


def build_temporary_mobility(b: Build) -> None:
    b.counts.update(mobility.build_mobility(b.con, b.settings, b.run("mobility")))


def build_asylum_flows(b: Build) -> None:
    b.counts["asylum_flows"] = mobility.build_asylum_flows(b.con, b.settings, b.restricted, b.run("asylum"))


def build_accounting(b: Build) -> None:
    b.counts["accounting"] = accounting.build_accounting(b.con, b.settings, b.run("accounting"))


def build_births_deaths(b: Build) -> None:
    b.counts.update(vital.build_vital(b.con, b.settings.home_country, b.restricted))


def build_toolkit(b: Build) -> None:
    b.counts.update(toolkit.build_toolkit_tables(b.con, b.settings))


def coarsen_birth_dates(b: Build) -> None:
    """Registered births are dated on the day of birth: coarsened to the month in every table
    (after every table that needs the day is built)."""
    coarsen.coarsen_birth_dates(b.con)


def build_publication(b: Build) -> None:
    b.counts.update(protect.build_publication_tables(b.con, b.settings.small_cell))
