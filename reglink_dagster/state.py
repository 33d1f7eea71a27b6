"""What each asset last built and from which inputs (`pipeline_state` in the warehouse).

An asset's fingerprint hashes everything its output depends on: the extract's sha256, the
upstream fingerprints, the relevant config keys and the stage's code version. When the
fingerprint equals the recorded one and the outputs are still there, the asset reports
"unchanged" instead of rebuilding: re-running with nothing new changes nothing and is fast.
The table also remembers blocking-check outcomes per delivery, so a derived run refuses to
build on a delivery that failed validation in an earlier run.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reglink import store

DDL = """
CREATE TABLE IF NOT EXISTS pipeline_state (
    asset VARCHAR, partition VARCHAR, fingerprint VARCHAR, status VARCHAR, reason VARCHAR,
    summary VARCHAR, updated_at TIMESTAMP)
"""
NO_PARTITION = ""


@dataclass
class Record:
    asset: str
    partition: str
    fingerprint: str
    status: str = "ok"  # ok | blocked
    reason: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


def fingerprint(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\x1f")
    return h.hexdigest()[:24]


class Session:
    """One warehouse connection for all state reads and writes of one asset step (opening a
    DuckDB file is the slow part of a no-op run). Close it before calling a stage."""

    def __init__(self, warehouse: Path) -> None:
        self.con = store.connect(warehouse)
        self.con.execute(DDL)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.close()

    def get(self, asset: str, partition: str = NO_PARTITION) -> Record | None:
        rows = self.con.execute("SELECT fingerprint, status, reason, summary FROM pipeline_state "
                                "WHERE asset = ? AND partition = ?", [asset, partition]).fetchall()
        if not rows:
            return None
        f, st, r, m = rows[0]
        return Record(asset, partition, f, st, r, json.loads(m or "{}"))

    def all_for(self, prefix: str) -> list[Record]:
        """Every record whose asset starts with `prefix` (e.g. all deliveries of all registers)."""
        rows = self.con.execute("SELECT asset, partition, fingerprint, status, reason, summary "
                                "FROM pipeline_state WHERE starts_with(asset, ?) "
                                "ORDER BY asset, partition", [prefix]).fetchall()
        return [Record(a, p, f, s, r, json.loads(m or "{}")) for a, p, f, s, r, m in rows]

    def put(self, rec: Record) -> None:
        self.con.execute("DELETE FROM pipeline_state WHERE asset = ? AND partition = ?",
                         [rec.asset, rec.partition])
        self.con.execute("INSERT INTO pipeline_state VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [rec.asset, rec.partition, rec.fingerprint, rec.status, rec.reason,
                          json.dumps(rec.summary, default=str),
                          dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)])

    def tables_exist(self, tables: list[str]) -> bool:
        have = {r[0] for r in self.con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
        return all(t in have for t in tables)


def get(warehouse: Path, asset: str, partition: str = NO_PARTITION) -> Record | None:
    if not Path(warehouse).exists():
        return None
    with Session(warehouse) as st:
        return st.get(asset, partition)


def all_for(warehouse: Path, prefix: str) -> list[Record]:
    if not Path(warehouse).exists():
        return []
    with Session(warehouse) as st:
        return st.all_for(prefix)


def put(warehouse: Path, rec: Record) -> None:
    with Session(warehouse) as st:
        st.put(rec)


def tables_exist(db: Path, tables: list[str]) -> bool:
    if not Path(db).exists():
        return False
    con = store.connect(db, read_only=False)
    try:
        have = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall()}
    finally:
        con.close()
    return all(t in have for t in tables)
