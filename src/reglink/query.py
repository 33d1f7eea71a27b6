"""`reglink query`: read-only SQL on the warehouse's tables and nothing else.

Two layers, so a gap in one is closed by the other:
- DuckDB locks itself: the warehouse is opened read-only with external access off (no other
  file, no ATTACH, no COPY, no network), extensions neither installed nor loaded, and the
  configuration locked so no statement can undo any of it;
- before running, the statement is checked: exactly one SELECT, and no table function that
  reads files. A refusal is a `UsageError` (exit 2) with one line saying why.
The CLI, not SQL, writes `--out` files, so a statistician can still save a full result.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from reglink.errors import UsageError

# DuckDB settings (names as in duckdb_settings() of the pinned DuckDB) that lock a connection
LOCKED_CONFIG: dict[str, object] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
    "lock_configuration": True,  # last: nothing after it may change the above
}

# table functions that read files, other databases or run another statement
_FILE_FUNCTIONS = re.compile(
    r"\b(read_\w+|\w+_scan|scan_\w+|glob|sniff_csv|parquet_\w+|query|query_table|"
    r"sqlite_\w+|postgres_\w+|mysql_\w+|iceberg_\w+|delta_\w+|ducklake_\w+|load_\w+|"
    r"getenv|duckdb_secrets|which_secret)\s*\(",
    re.IGNORECASE)
OUT_SUFFIXES = (".csv", ".parquet")


@dataclass
class QueryResult:
    frame: pl.DataFrame  # the whole result
    columns: list[str]


def connect_locked(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse read-only, with external access, extensions and settings locked."""
    if not warehouse.is_file():
        raise UsageError(f"{warehouse}: warehouse not found (run `reglink demo` or `reglink run`)")
    try:
        return duckdb.connect(str(warehouse), read_only=True, config=dict(LOCKED_CONFIG))
    except duckdb.Error as exc:
        raise UsageError(f"{warehouse}: cannot open the warehouse: "
                         f"{str(exc).splitlines()[0]}") from None


def check_statement(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but one SELECT that reads tables (UsageError naming why)."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise UsageError(f"query: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise UsageError(f"query refused: {len(statements)} statements; give exactly one SELECT")
    kind = statements[0].type
    if kind not in (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN):
        raise UsageError(f"query refused: {kind.name} statements are not allowed; "
                         "only SELECT on the warehouse's tables")
    m = _FILE_FUNCTIONS.search(sql)
    if m:
        raise UsageError(f"query refused: {m.group(1)}() reads outside the warehouse's tables")


def run_query(warehouse: Path, sql: str) -> QueryResult:
    """Check and run one SELECT on a locked connection; the whole result."""
    con = connect_locked(warehouse)
    try:
        check_statement(con, sql)
        try:
            rel = con.sql(sql)
            frame = rel.pl() if rel is not None else pl.DataFrame()
        except duckdb.Error as exc:
            raise UsageError(f"query: {str(exc).splitlines()[0]}") from None
        return QueryResult(frame, list(frame.columns))
    finally:
        con.close()


def check_out_path(out: Path, warehouse: Path) -> None:
    """`--out` must be a .csv or .parquet file that is not the warehouse itself."""
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise UsageError(f"--out {out}: give a .csv or .parquet file")
    if out.exists() and warehouse.exists() and out.resolve() == warehouse.resolve():
        raise UsageError(f"--out {out}: that is the warehouse")


def write_out(frame: pl.DataFrame, out: Path) -> None:
    """Write the full result (the CLI does it, never SQL COPY)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".parquet":
        frame.write_parquet(out)
    else:
        frame.write_csv(out)
