"""Read access to the two stores for the quality report.

The report must build whatever stage has or has not run, so every lookup here tolerates a
missing file or table. Queries run where the data live (DuckDB); only aggregates, or
non-identifying columns needed for a cross-store join, come back as polars frames.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from reglink import store
from reglink.config import Budget


@dataclass
class Stores:
    """Open connections to the warehouse and the restricted store (either may be None)."""

    warehouse: duckdb.DuckDBPyConnection | None
    restricted: duckdb.DuckDBPyConnection | None
    _tables: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def open(cls, warehouse: Path, restricted: Path, budget: Budget | None = None) -> "Stores":
        """Connect to the files that exist; a missing file is a store with no tables. With a
        budget, each connection gets its share of DuckDB memory and spills past it."""
        w = store.connect(warehouse) if Path(warehouse).exists() else None
        r = store.connect(restricted) if Path(restricted).exists() else None
        if budget is not None:
            for con in (w, r):
                if con is not None:
                    budget.apply(con, share=0.5)
        return cls(w, r)

    def close(self) -> None:
        for con in (self.warehouse, self.restricted):
            if con is not None:
                con.close()

    def con(self, where: str) -> duckdb.DuckDBPyConnection | None:
        return self.warehouse if where == "warehouse" else self.restricted

    def tables(self, where: str) -> set[str]:
        if where not in self._tables:
            con = self.con(where)
            self._tables[where] = set() if con is None else {
                r[0] for r in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
                ).fetchall()
            }
        return self._tables[where]

    def has(self, where: str, table: str) -> bool:
        return table in self.tables(where)

    def columns(self, where: str, table: str) -> list[str]:
        if not self.has(where, table):
            return []
        con = self.con(where)
        assert con is not None
        return [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position", [table]
        ).fetchall()]

    def column_types(self, where: str, table: str) -> dict[str, str]:
        con = self.con(where)
        if con is None or not self.has(where, table):
            return {}
        return {r[0]: r[1] for r in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ?", [table]
        ).fetchall()}

    def sql(self, where: str, query: str, params: list | None = None) -> pl.DataFrame:
        con = self.con(where)
        assert con is not None, f"no {where} store"
        rel = con.sql(query, params=params) if params else con.sql(query)
        return rel.pl()


def q(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'
