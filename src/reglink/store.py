"""The two stores: the statistical warehouse and the restricted layer.

The warehouse (a DuckDB file) is what statisticians query; it carries only the pseudonymous
`person_key`. The restricted store (a second DuckDB file, kept apart so access can be granted
separately) holds the standardised register records with names, dates of birth and document
numbers, the quarantine, and linkage working tables. One place opens both so the rule that
identifiers never reach the warehouse is enforced here (`assert_no_identifiers`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from reglink.schemas import DIRECT_IDENTIFIERS

# Derived identifier columns the standardisation step adds (normalised names, DOB parts,
# phonetic codes...). Any column whose name starts with one of these prefixes is restricted too.
RESTRICTED_PREFIXES: tuple[str, ...] = (
    "given_name", "surname", "full_name", "name_", "dob", "date_of_birth", "document_number",
    "person_number", "case_number", "permit_number", "address",
)


def is_identifier_column(name: str) -> bool:
    n = name.lower()
    return n in DIRECT_IDENTIFIERS or any(n.startswith(p) for p in RESTRICTED_PREFIXES)


def connect(path: str | Path, read_only: bool = False,
            private: bool = False) -> duckdb.DuckDBPyConnection:
    """Open a store; `private` (the restricted store) creates or tightens it owner-only
    (file and write-ahead log 0600), see reglink.secure."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    if not private:
        return duckdb.connect(str(path), read_only=read_only)
    from reglink import secure

    if not read_only:  # DuckDB's default spill folder beside the file: owner-only first
        secure.private_dir(path.with_name(path.name + ".tmp"))
    with secure.owner_only():
        con = duckdb.connect(str(path), read_only=read_only)
    secure.make_private(path)
    return con


def tables(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> list[str]:
    """The tables present in a store's main schema (of the connection's own database, or of
    the attached database `catalog`)."""
    return [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_catalog = coalesce(?, current_database()) ORDER BY table_name",
        [catalog]).fetchall()]


def columns(con: duckdb.DuckDBPyConnection, table: str, catalog: str | None = None) -> list[str]:
    """The columns of a table as built, in order ([] when the table is absent)."""
    return [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_catalog = coalesce(?, current_database()) AND table_name = ? "
        "ORDER BY ordinal_position", [catalog, table]).fetchall()]


def declared_columns(table: str) -> list[str]:
    """The columns a warehouse table is declared with (reglink.tables.catalog): what a stage
    reading another stage's table may rely on."""
    from reglink.tables.catalog import columns as declared

    return declared(table)


def write_table(con: duckdb.DuckDBPyConnection, name: str, data: Any) -> int:
    """Replace table `name` with `data` (polars / pandas / Arrow / duckdb relation); row count."""
    con.register("_reglink_tmp", data)
    try:
        con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _reglink_tmp')
    finally:
        con.unregister("_reglink_tmp")
    # fetchall: DuckDB 2 keeps a half-read result open and refuses the next register()
    return con.execute(f'SELECT count(*) FROM "{name}"').fetchall()[0][0]


def assert_no_identifiers(con: duckdb.DuckDBPyConnection, allowed: set[str] | None = None) -> None:
    """Raise if any table in this (warehouse) connection has a direct-identifier column."""
    allowed = allowed or set()
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_catalog = current_database()"
    ).fetchall()
    bad = [f"{t}.{c}" for t, c in rows if is_identifier_column(c) and f"{t}.{c}" not in allowed]
    if bad:
        raise AssertionError(f"direct identifiers in the warehouse: {', '.join(sorted(bad))}")
