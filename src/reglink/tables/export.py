"""Every warehouse table as Parquet, for statisticians using R, Stata, Spark or pandas.

Unprotected tables go to `<parquet_path>/<table>.parquet` (internal use); publication copies to
`<parquet_path>/publication/<table>.parquet` without the `pub_` prefix, so the folder that may
leave the office holds nothing else; the quality tables (`quality_*`, `ingest_log`), written by
the quality stage after the tables, to `<parquet_path>/quality/`. NOT_EXPORTED names the tables
that have no file copy, and why.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb

QUALITY = "quality"  # the subfolder of the quality stage's tables
# warehouse tables deliberately left without a file copy: a file leaves the warehouse's access
# control, and these either lead back to the restricted records or are not statistics
NOT_EXPORTED: dict[str, str] = {
    "person_links": "links each source record (register and record_id) to its person_key: "
                    "the way back from the statistics to the restricted records; query it in "
                    "the warehouse, where access is controlled",
    "linkage_key_map": "the same record -> person_key map, kept so a re-delivered record "
                       "keeps its key: restricted for the same reason",
}


def quality_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The quality stage's warehouse tables present in `con`."""
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND (table_name LIKE 'quality\\_%' ESCAPE '\\' OR table_name = 'ingest_log') "
        "ORDER BY 1").fetchall()]


def export_quality(con: duckdb.DuckDBPyConnection, folder: Path) -> list[Path]:
    """The quality tables as Parquet in `<folder>/quality/` (swapped in whole, like the
    tables' export); the paths written."""
    target = Path(folder) / QUALITY
    target.parent.mkdir(parents=True, exist_ok=True)
    return export_parquet_swap(con, target, quality_tables(con))


def export_parquet(con: duckdb.DuckDBPyConnection, folder: Path, tables: list[str]) -> list[Path]:
    """COPY each table to Parquet; the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if any(t.startswith("pub_") for t in tables):
        (folder / "publication").mkdir(parents=True, exist_ok=True)
    written = []
    for t in tables:
        path = folder / "publication" / f"{t[4:]}.parquet" if t.startswith("pub_") else folder / f"{t}.parquet"
        target = str(path).replace("'", "''")
        con.execute(f"COPY (SELECT * FROM \"{t}\") TO '{target}' (FORMAT PARQUET)")
        written.append(path)
    return written


def export_parquet_swap(con: duckdb.DuckDBPyConnection, folder: Path, tables: list[str],
                        then: Callable[[Path], list[Path]] | None = None) -> list[Path]:
    """`export_parquet` into a folder beside `folder`, then swapped in by two renames: a reader
    sees the old set or the new set of files, never some of each. `then(staging)` writes more
    files into the staging folder before the swap (the publication's CSV, SDMX, metadata)."""
    folder = Path(folder)
    staging = folder.with_name(folder.name + ".staging")
    old = folder.with_name(folder.name + ".old")
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    written = export_parquet(con, staging, tables)
    if then is not None:
        written += then(staging)
    kept = folder / QUALITY
    if kept.is_dir() and not (staging / QUALITY).exists():
        # the quality stage's files are not this export's: they stay until it writes new ones
        os.replace(kept, staging / QUALITY)
    if folder.exists():
        os.replace(folder, old)
    os.replace(staging, folder)
    shutil.rmtree(old, ignore_errors=True)
    return [folder / p.relative_to(staging) for p in written]
