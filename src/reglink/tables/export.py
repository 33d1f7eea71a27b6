"""Every warehouse table as Parquet, for statisticians using R, Stata, Spark or pandas.

Unprotected tables go to `<parquet_path>/<table>.parquet` (internal use); publication copies to
`<parquet_path>/publication/<table>.parquet` without the `pub_` prefix, so the folder that may
leave the office holds nothing else.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb


def export_parquet(con: duckdb.DuckDBPyConnection, folder: Path, tables: list[str]) -> list[Path]:
    """COPY each table to Parquet; the paths written."""
    folder = Path(folder)
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
    if folder.exists():
        os.replace(folder, old)
    os.replace(staging, folder)
    shutil.rmtree(old, ignore_errors=True)
    return [folder / p.relative_to(staging) for p in written]
