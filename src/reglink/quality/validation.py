"""Validation results: the ingest row accounting and the quarantine by reason, plus a link to
the Great Expectations data docs when ingest wrote them (toolkit Annex 1 "Quality of the data"
and "Method used for evaluating quality"; Bangkok conclusions para 10 (c) data cleaning)."""
from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from reglink.quality.stores import Stores, q
from reglink.schemas import SOURCES
from reglink.store import is_identifier_column



def ingest_log(st: Stores) -> pl.DataFrame | None:
    """The warehouse ingest_log as written by ingest (identifier-like columns dropped)."""
    if not st.has("warehouse", "ingest_log"):
        return None
    cols = [c for c in st.columns("warehouse", "ingest_log") if not is_identifier_column(c)]
    return st.sql("warehouse", f"SELECT {', '.join(q(c) for c in cols)} FROM ingest_log")


def quarantine_by_reason(st: Stores) -> pl.DataFrame:
    """Rows quarantined per register, reason and column.

    Read from the warehouse `quality_quarantine` table (ingest's own summary) when it exists,
    else counted from the restricted `quarantine_<source>` tables."""
    out_schema = {"source": pl.String, "reason": pl.String, "column": pl.String, "rows": pl.Int64}
    if st.has("warehouse", "quality_quarantine"):
        df = st.sql("warehouse", """SELECT CAST(source AS VARCHAR) AS source,
            CAST(reason AS VARCHAR) AS reason, CAST("column" AS VARCHAR) AS "column",
            CAST(sum(rows) AS BIGINT) AS rows FROM quality_quarantine GROUP BY ALL""")
        return df.cast(out_schema).sort(["source", "rows"], descending=[False, True])
    frames = []
    for source in SOURCES:
        table = f"quarantine_{source}"
        cols = st.columns("restricted", table)
        if not cols:
            continue
        # the columns ingest writes to every quarantine table (reglink.ingest.checks)
        frames.append(st.sql("restricted", f"""SELECT '{source}' AS source,
            CAST(reason AS VARCHAR) AS reason, CAST("column" AS VARCHAR) AS "column",
            count(*) AS rows FROM {q(table)} GROUP BY ALL"""))
    if not frames:
        return pl.DataFrame(schema=out_schema)
    return pl.concat([f.cast(out_schema) for f in frames]).sort(
        ["source", "rows"], descending=[False, True])


def quarantined_rows(st: Stores) -> dict[str, int]:
    """Rows quarantined per register: rows, not reason×column pairs (a row failing two checks
    is one row). Counted from the restricted quarantine tables (one row per quarantined row,
    every delivery), else from ingest_log's latest entry per extract still reported."""
    out: dict[str, int] = {}
    for source in SOURCES:
        if st.columns("restricted", f"quarantine_{source}"):
            out[source] = int(st.sql("restricted", f"SELECT count(*) AS n FROM "
                                                   f"{q('quarantine_' + source)}")["n"][0])
    if out or not st.has("warehouse", "ingest_log"):
        return out
    live = ("AND extract_id IN (SELECT extract_id FROM quality_quarantine)"
            if st.has("warehouse", "quality_quarantine") else "")
    df = st.sql("warehouse", f"""SELECT source, sum(rows_quarantined) AS n FROM (
        SELECT source, extract_id, arg_max(rows_quarantined, ingested_at) AS rows_quarantined
        FROM ingest_log WHERE status <> 'unchanged' {live} GROUP BY ALL) GROUP BY source""")
    return {r["source"]: int(r["n"] or 0) for r in df.iter_rows(named=True)}


def find_data_docs(reports: Path, *others: Path) -> list[Path]:
    """Great Expectations data docs (an index.html under a data_docs or gx folder) in the
    reports folder or beside the warehouse."""
    found: list[Path] = []
    for base in (reports, *others):
        if not base.exists():
            continue
        for path in sorted(base.rglob("index.html")):
            parts = {p.lower() for p in path.parts}
            if any("data_docs" in p or p in ("gx", "great_expectations") for p in parts):
                found.append(path)
    return found


def relative_link(target: Path, from_dir: Path) -> str:
    """A relative href so the report folder can be moved or zipped and still work."""
    return Path(os.path.relpath(target.resolve(), from_dir.resolve())).as_posix()
