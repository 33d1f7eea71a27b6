"""Store one delivery's ingest result next to the other deliveries of the same register.

`reglink.ingest.ingest_all` keeps one extract per register; deliveries (baseline + landed
months) need the union. Each delivery's accepted rows go into restricted `std_<register>` and
its held-back rows into `quarantine_<register>`, tagged with a `delivery` column; re-ingesting
a delivery replaces only its own rows. The warehouse log tables keep ingest's own layout
(`ingest_log`, `quality_quarantine`, `quality_completeness`), one set of rows per extract.
"""
from __future__ import annotations

import polars as pl

from reglink import store
from reglink.config import PipelineConfig
from reglink.schemas import schema


def _columns(con, table: str) -> list[str]:
    return [r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
        [table]).fetchall()]


def replace_delivery(con, table: str, delivery: str, frame: pl.DataFrame) -> int:
    """Replace `delivery`'s rows of `table` with `frame` (other deliveries untouched)."""
    if frame.width == 0:  # an empty delivery: only remove what it held before
        if "delivery" in _columns(con, table):
            con.execute(f'DELETE FROM "{table}" WHERE delivery = ?', [delivery])
        return 0
    data = frame.with_columns(pl.lit(delivery, dtype=pl.String).alias("delivery")).to_arrow()
    con.register("_delivery_new", data)
    try:
        cols = _columns(con, table)
        if not cols or "delivery" not in cols:
            con.execute(f'CREATE OR REPLACE TABLE "{table}" AS SELECT * FROM _delivery_new')
        else:
            con.execute(
                f'CREATE OR REPLACE TABLE "{table}" AS '
                f'SELECT * FROM "{table}" WHERE delivery IS DISTINCT FROM ? '
                f"UNION ALL BY NAME SELECT * FROM _delivery_new", [delivery])
    finally:
        con.unregister("_delivery_new")
    return con.execute(f'SELECT count(*) FROM "{table}" WHERE delivery = ?', [delivery]).fetchall()[0][0]


def _insert_by_name(con, table: str, rows: list[dict]) -> None:
    """Insert rows naming their columns, keeping only columns the table has (the ingest stage
    owns the log tables' layout and may add columns)."""
    if not rows:
        return
    have = set(_columns(con, table))
    frame = pl.DataFrame([{k: v for k, v in r.items() if k in have} for r in rows])
    con.register("_log_rows", frame.to_arrow())
    try:
        con.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM _log_rows')
    finally:
        con.unregister("_log_rows")


def store_delivery(cfg: PipelineConfig, register: str, delivery: str, result,
                   settings_sha: str | None = None) -> dict[str, int]:
    """Write the result to both stores; returns rows stored per table for the row-accounting check."""
    from reglink.ingest import ingest as ing

    s = result.summary
    rs = store.connect(cfg.restricted_path)
    try:
        n_std = replace_delivery(rs, f"std_{register}", delivery, result.clean)
        n_q = replace_delivery(rs, f"quarantine_{register}", delivery, result.quarantine)
    finally:
        rs.close()
    wh = store.connect(cfg.warehouse)
    try:
        for name in dir(ing):
            if name.endswith("_DDL"):
                wh.execute(getattr(ing, name))
        _insert_by_name(wh, "ingest_log", [{
            "source": register, "file": s.file, "sha256": s.sha256, "extract_id": s.extract_id,
            "status": s.status, "rows_in": s.rows_in, "rows_accepted": s.rows_accepted,
            "rows_quarantined": s.rows_quarantined, "ingested_at": s.ingested_at,
            "settings_sha256": settings_sha}])
        for table in ("quality_quarantine", "quality_completeness", "quality_expectations"):
            if _columns(wh, table):
                wh.execute(f'DELETE FROM "{table}" WHERE source = ? AND extract_id = ?',
                           [register, s.extract_id])
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
             "observed": None if e.get("observed") is None else str(e["observed"])}
            for e in (s.expectations or []) if isinstance(e, dict)])
        store.assert_no_identifiers(wh)
    finally:
        wh.close()
    return {"std": n_std, "quarantine": n_q}


def delivery_counts(cfg: PipelineConfig, register: str, delivery: str) -> dict[str, int]:
    """Rows of this delivery currently in the restricted tables (for an unchanged delivery)."""
    rs = store.connect(cfg.restricted_path)
    try:
        out = {}
        for kind, table in (("std", f"std_{register}"), ("quarantine", f"quarantine_{register}")):
            cols = _columns(rs, table)
            out[kind] = (rs.execute(f'SELECT count(*) FROM "{table}" WHERE delivery = ?',
                                    [delivery]).fetchall()[0][0] if "delivery" in cols else -1)
        return out
    finally:
        rs.close()
