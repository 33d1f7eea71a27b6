"""Write one ingest result into the two stores — the only code that does.

A register arrives in deliveries: `baseline` (the extracts the config names, what `ingest_all`
reads) and one per landed month (the Dagster `validated/<register>` partitions). The restricted
`std_<register>` and `quarantine_<register>` hold every delivery's rows, tagged with a `delivery`
column; writing a delivery replaces only its own rows. The warehouse log tables (`ingest_log`,
`quality_quarantine`, `quality_completeness`, `quality_expectations`) keep one set of rows per
extract (`extract_id`) and carry no identifiers. Keeping the writer here means the layout of
those tables is owned by the package that defines it (docs/validation.md, docs/operations.md).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from reglink import secure, store
from reglink.errors import Problem, ReglinkError
from reglink.schemas import SOURCES, schema

BASELINE = "baseline"  # the config's extracts; landed months are named after the month

INGEST_LOG_DDL = """
CREATE TABLE IF NOT EXISTS ingest_log (
    source VARCHAR, file VARCHAR, sha256 VARCHAR, extract_id VARCHAR, status VARCHAR,
    rows_in BIGINT, rows_accepted BIGINT, rows_quarantined BIGINT, ingested_at TIMESTAMPTZ,
    settings_sha256 VARCHAR)
"""
QUALITY_QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quality_quarantine (
    source VARCHAR, extract_id VARCHAR, reason VARCHAR, "column" VARCHAR, rows BIGINT)
"""
QUALITY_EXPECTATIONS_DDL = """
CREATE TABLE IF NOT EXISTS quality_expectations (
    source VARCHAR, extract_id VARCHAR, expectation VARCHAR, "column" VARCHAR, severity VARCHAR,
    success BOOLEAN, unexpected_rows BIGINT, observed VARCHAR)
"""
QUALITY_COMPLETENESS_DDL = """
CREATE TABLE IF NOT EXISTS quality_completeness (
    source VARCHAR, extract_id VARCHAR, "column" VARCHAR, annex2_topic VARCHAR,
    present_in_extract BOOLEAN, share_filled DOUBLE)
"""
QUALITY_TABLES = ("quality_quarantine", "quality_completeness", "quality_expectations")


def ensure_log_tables(wh) -> None:
    """Create the warehouse log tables (and add columns newer versions introduced)."""
    for ddl in (INGEST_LOG_DDL, QUALITY_QUARANTINE_DDL, QUALITY_COMPLETENESS_DDL,
                QUALITY_EXPECTATIONS_DDL):
        wh.execute(ddl)
    wh.execute("ALTER TABLE ingest_log ADD COLUMN IF NOT EXISTS settings_sha256 VARCHAR")


def _columns(con, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
        [table]).fetchall()]


def _delivery_filter(con, table: str) -> str | None:
    """SQL predicate selecting one delivery's rows (`?` = the delivery); None when the table
    does not exist. A table without a `delivery` column (written before deliveries existed)
    holds the config's extracts: all its rows are the baseline's."""
    cols = _columns(con, table)
    if not cols:
        return None
    return "delivery = ?" if "delivery" in cols else f"? = '{BASELINE}'"


def replace_delivery(con, table: str, delivery: str, frame: pl.DataFrame | Path) -> int:
    """Replace `delivery`'s rows of `table` with `frame` (other deliveries untouched); the rows
    of the delivery now stored. A Parquet file (ingest's accepted rows) is read by DuckDB
    itself, within the connection's memory limit, never whole in Python."""
    if isinstance(frame, Path):
        new = "(SELECT *, {} AS delivery FROM read_parquet({}))".format(
            *(("'" + str(v).replace("'", "''") + "'") for v in (delivery, frame)))
        _replace_rows(con, table, delivery, new)
    elif frame.width == 0:  # an empty delivery: only remove what it held before
        remove_delivery(con, table, delivery)
        return 0
    else:
        data = frame.with_columns(pl.lit(delivery, dtype=pl.String).alias("delivery")).to_arrow()
        con.register("_delivery_new", data)
        try:
            _replace_rows(con, table, delivery, "_delivery_new")
        finally:
            con.unregister("_delivery_new")
    return con.execute(f'SELECT count(*) FROM "{table}" WHERE delivery = ?',
                       [delivery]).fetchall()[0][0]


def _replace_rows(con, table: str, delivery: str, new: str) -> None:
    """CREATE OR REPLACE `table` with the other deliveries' rows and those of `new` (SQL)."""
    cols = _columns(con, table)
    if not cols:
        con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM {new}')
    elif "delivery" not in cols:  # written before deliveries: its rows are the baseline's
        con.execute(
            f'CREATE OR REPLACE TABLE "{table}" AS '
            f"SELECT *, '{BASELINE}' AS delivery FROM \"{table}\" WHERE ? <> '{BASELINE}' "
            f"UNION ALL BY NAME SELECT * FROM {new}", [delivery])
    else:
        con.execute(
            f'CREATE OR REPLACE TABLE "{table}" AS '
            f'SELECT * FROM "{table}" WHERE delivery IS DISTINCT FROM ? '
            f"UNION ALL BY NAME SELECT * FROM {new}", [delivery])


def remove_delivery(con, table: str, delivery: str, *, drop_if_empty: bool = False) -> None:
    """Delete `delivery`'s rows of `table`; with `drop_if_empty`, drop a table left without rows
    (ingest_all's header-only extract: the register is left out, no stale rows survive)."""
    where = _delivery_filter(con, table)
    if where is None:
        return
    con.execute(f'DELETE FROM "{table}" WHERE {where}', [delivery])
    if drop_if_empty and con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0] == 0:
        con.execute(f'DROP TABLE "{table}"')


def delivery_rows(con, table: str, delivery: str) -> pl.DataFrame:
    """The rows one delivery holds in `table`, as ingest produced them (no `delivery` column)."""
    where = _delivery_filter(con, table)
    if where is None:
        return pl.DataFrame()
    frame = pl.from_arrow(con.sql(f'SELECT * FROM "{table}" WHERE {where}', params=[delivery])
                          .to_arrow_table())
    return frame.drop("delivery", strict=False)


def delivery_extract_ids(con, table: str, delivery: str) -> set[str] | None:
    """The extracts (`extract_id`) one delivery's rows in `table` come from; None: no table."""
    where = _delivery_filter(con, table)
    if where is None:
        return None
    return {r[0] for r in con.execute(f'SELECT DISTINCT extract_id FROM "{table}" WHERE {where}',
                                      [delivery]).fetchall()}


def delivery_counts(con, register: str, delivery: str) -> dict[str, int]:
    """Rows of this delivery in the restricted std_/quarantine_ tables (-1: table absent)."""
    out = {}
    for kind, table in (("std", f"std_{register}"), ("quarantine", f"quarantine_{register}")):
        where = _delivery_filter(con, table)
        out[kind] = (con.execute(f'SELECT count(*) FROM "{table}" WHERE {where}',
                                 [delivery]).fetchall()[0][0] if where is not None else -1)
    return out


def _insert_by_name(con, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows naming their columns (robust to a column order change or a later column)."""
    if not rows:
        return
    have = set(_columns(con, table))
    frame = pl.DataFrame([{k: v for k, v in r.items() if k in have} for r in rows])
    con.register("_log_rows", frame.to_arrow())
    try:
        con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM _log_rows')
    finally:
        con.unregister("_log_rows")


def log_ingest(wh, summary, settings_sha: str | None) -> None:
    """Append one row to `ingest_log` (status ingested | unchanged | empty)."""
    s = summary
    _insert_by_name(wh, "ingest_log", [{
        "source": s.source, "file": s.file, "sha256": s.sha256, "extract_id": s.extract_id,
        "status": s.status, "rows_in": s.rows_in, "rows_accepted": s.rows_accepted,
        "rows_quarantined": s.rows_quarantined, "ingested_at": s.ingested_at,
        "settings_sha256": settings_sha}])


def _extract_ids(rs, register: str) -> list[str]:
    """Extracts whose rows are in the restricted tables now (any delivery)."""
    parts = [f'SELECT DISTINCT extract_id FROM "{t}"'
             for t in (f"std_{register}", f"quarantine_{register}")
             if "extract_id" in _columns(rs, t)]
    if not parts:
        return []
    return [r[0] for r in rs.execute(" UNION ".join(parts)).fetchall() if r[0] is not None]


def _accepted(result) -> pl.DataFrame | Path:
    """The accepted rows as the result holds them (a Parquet file when ingest wrote one)."""
    rows = getattr(result, "clean_rows", None)
    return rows() if rows is not None else result.clean


def write_restricted(rs, result, delivery: str = BASELINE) -> tuple[dict[str, int], list[str]]:
    """Replace `delivery`'s rows of the register's std_/quarantine_ tables with `result`'s.
    Returns rows stored per table and the extracts the tables still hold from other deliveries
    (whose quality rows must stay)."""
    register = result.source
    n_std = replace_delivery(rs, f"std_{register}", delivery, _accepted(result))
    n_q = replace_delivery(rs, f"quarantine_{register}", delivery, result.quarantine)
    keep = [x for x in _extract_ids(rs, register) if x != result.summary.extract_id]
    return {"std": n_std, "quarantine": n_q}, keep


def observed_for_warehouse(column: str | None, observed: Any) -> str | None:
    """An expectation's observed value as the warehouse may hold it: on an identifier column
    only a number (a share, a count) survives; a value of the column itself (the earliest date
    of birth, a name) is restricted and is not copied."""
    if observed is None:
        return None
    if column and store.is_identifier_column(column) and (
            isinstance(observed, bool) or not isinstance(observed, (int, float))):
        return None
    return str(observed)


def write_log(wh, summary, keep: list[str], settings_sha: str | None = None) -> None:
    """Log the extract in the warehouse: one `ingest_log` row, and its quality rows replacing
    its own earlier ones and those of extracts no delivery holds any more (a replaced version
    of the same delivery); quality rows of the extracts in `keep` stay."""
    s = summary
    register = s.source
    ensure_log_tables(wh)
    log_ingest(wh, s, settings_sha)
    for table in QUALITY_TABLES:
        wh.execute(f'DELETE FROM "{table}" WHERE source = ? '
                   f"AND NOT coalesce(list_contains(?::VARCHAR[], extract_id), false)",
                   [register, keep])
    _insert_by_name(wh, "quality_quarantine", [
        {"source": register, "extract_id": s.extract_id, "reason": reason, "column": column,
         "rows": n} for (reason, column), n in sorted(s.by_reason.items(),
                                                      key=lambda kv: kv[0][0])])
    _insert_by_name(wh, "quality_completeness", [
        {"source": register, "extract_id": s.extract_id, "column": c.name,
         "annex2_topic": c.annex2, "present_in_extract": c.name in s.present_columns,
         "share_filled": s.completeness.get(c.name, 0.0)} for c in schema(register).columns])
    _insert_by_name(wh, "quality_expectations", [
        {"source": register, "extract_id": s.extract_id, "expectation": e.get("expectation"),
         "column": e.get("column"), "severity": e.get("severity"),
         "success": bool(e.get("success")), "unexpected_rows": e.get("unexpected_rows"),
         "observed": observed_for_warehouse(e.get("column"), e.get("observed"))}
        for e in (s.expectations or []) if isinstance(e, dict)])
    store.assert_no_identifiers(wh)


def write_result(wh, rs, result, *, delivery: str = BASELINE,
                 settings_sha: str | None = None) -> dict[str, int]:
    """Write `result` (an IngestResult) as `delivery` of its register through open connections
    to the warehouse `wh` and the restricted store `rs`; rows stored per restricted table."""
    counts, keep = write_restricted(rs, result, delivery)
    write_log(wh, result.summary, keep, settings_sha)
    return counts


def repeated_records(rs, result, delivery: str) -> list[tuple[str, int, str]]:
    """Records of `result` (register, record_id) already stored by another delivery:
    (earlier delivery, how many, one record_id), largest first. Set-based in DuckDB: the
    accepted rows are read from their Parquet file when they are held there (13.8 million
    crossings never pass through Python)."""
    register = result.source
    parts = []
    for table in (f"std_{register}", f"quarantine_{register}"):
        cols = _columns(rs, table)
        if "record_id" not in cols:
            continue
        d = "delivery" if "delivery" in cols else f"'{BASELINE}'"
        parts.append(f'SELECT DISTINCT {d} AS delivery, CAST(record_id AS VARCHAR) AS record_id '
                     f'FROM "{table}" WHERE {d} IS DISTINCT FROM $delivery')
    if not parts:
        return []
    new, registered = [], []
    held = result.clean_rows()
    if isinstance(held, Path):
        new.append(f"SELECT CAST(record_id AS VARCHAR) AS record_id FROM read_parquet('{held}')")
    elif held.width and "record_id" in held.columns:
        rs.register("_new_clean", held.select(pl.col("record_id").cast(pl.String)).to_arrow())
        registered.append("_new_clean")
        new.append("SELECT record_id FROM _new_clean")
    q = result.quarantine
    if q.width and "record_id" in q.columns:
        rs.register("_new_quarantine", q.select(pl.col("record_id").cast(pl.String)).to_arrow())
        registered.append("_new_quarantine")
        new.append("SELECT record_id FROM _new_quarantine")
    if not new:
        return []
    try:
        rows = rs.execute(
            f"SELECT s.delivery, count(DISTINCT s.record_id), min(s.record_id) "
            f"FROM ({' UNION ALL '.join(parts)}) s "
            f"SEMI JOIN ({' UNION ALL '.join(new)}) n ON n.record_id = s.record_id "
            f"GROUP BY 1 ORDER BY 2 DESC, 1", {"delivery": delivery}).fetchall()
    finally:
        for name in registered:
            rs.unregister(name)
    return [(d, n, ex) for d, n, ex in rows]


def refuse_repeats(rs, result, delivery: str, delivered: str | None = None) -> None:
    """A delivery repeating records another delivery stored is refused whole (ReglinkError
    naming the earlier delivery); nothing is written."""
    repeats = repeated_records(rs, result, delivery)
    if repeats:
        earlier = "; ".join(f"{n} in delivery {d} (e.g. record_id {ex})" for d, n, ex in repeats)
        raise ReglinkError(Problem(
            delivered or result.summary.file,
            f"delivery {delivery} repeats {result.source} records already stored: {earlier}; "
            "the delivery is refused whole and nothing was stored (deliver only new records)"))


def store_result(cfg, result, delivery: str = BASELINE,
                 settings_sha: str | None = None, delivered: str | None = None) -> dict[str, int]:
    """`write_result` for a PipelineConfig: opens each store only while writing to it; a
    delivery that repeats stored records is refused before anything is written."""
    rs = cfg.budget.apply(store.connect(cfg.restricted_path, private=True))
    try:
        refuse_repeats(rs, result, delivery, delivered)
        counts, keep = write_restricted(rs, result, delivery)
    finally:
        rs.close()
        secure.make_private(cfg.restricted_path)  # the WAL a write may have left
    wh = store.connect(cfg.warehouse)
    try:
        write_log(wh, result.summary, keep, settings_sha)
    finally:
        wh.close()
    return counts


def drop_delivery(cfg, register: str, delivery: str) -> int:
    """Remove one delivery of a register from the restricted tables and its quality rows from
    the warehouse (a register no longer configured); the records removed."""
    rs = store.connect(cfg.restricted_path, private=True)
    try:
        n = sum(max(v, 0) for v in delivery_counts(rs, register, delivery).values())
        for table in (f"std_{register}", f"quarantine_{register}"):
            remove_delivery(rs, table, delivery, drop_if_empty=True)
        keep = _extract_ids(rs, register)
    finally:
        rs.close()
        secure.make_private(cfg.restricted_path)
    wh = store.connect(cfg.warehouse)
    try:
        ensure_log_tables(wh)
        for table in QUALITY_TABLES:
            wh.execute(f'DELETE FROM "{table}" WHERE source = ? '
                       f"AND NOT coalesce(list_contains(?::VARCHAR[], extract_id), false)",
                       [register, keep])
    finally:
        wh.close()
    return n


def stored_deliveries(cfg) -> dict[str, set[str]]:
    """register -> the deliveries the restricted store holds rows of."""
    if not cfg.restricted_path.exists():
        return {}
    rs = store.connect(cfg.restricted_path, private=True)
    out: dict[str, set[str]] = {}
    try:
        for register in SOURCES:
            for table in (f"std_{register}", f"quarantine_{register}"):
                cols = _columns(rs, table)
                if not cols:
                    continue
                d = "delivery" if "delivery" in cols else f"'{BASELINE}'"
                out.setdefault(register, set()).update(
                    r[0] for r in rs.execute(f'SELECT DISTINCT {d} FROM "{table}"').fetchall())
    finally:
        rs.close()
    return out


def stored_counts(cfg, register: str, delivery: str) -> dict[str, int]:
    """`delivery_counts` for a PipelineConfig (the pipeline's row-accounting check)."""
    rs = store.connect(cfg.restricted_path, private=True)
    try:
        return delivery_counts(rs, register, delivery)
    finally:
        rs.close()
