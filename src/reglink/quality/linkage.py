"""Linkage figures from the warehouse `person_links` table: how many of each register's
records are linked to a person found in each other register, duplicates within a register,
and the match-weight distribution (Bangkok conclusions para 10 (b): record matching without a
unique identifier; toolkit 6.20-6.21 integration at microdata level)."""
from __future__ import annotations

import polars as pl

from reglink.quality.stores import Stores, q
from reglink.store import is_identifier_column

WEIGHT_MIN, WEIGHT_MAX = -10, 30  # match weights are clipped to this range for the histogram


def cross_register_links(st: Stores) -> pl.DataFrame | None:
    """For each register A and other register B: records of A, records of A whose person also
    has a record in B, and the share. Sources with no records are left out."""
    if not st.has("warehouse", "person_links"):
        return None
    return st.sql("warehouse", """
        WITH pk AS (SELECT DISTINCT source, person_key FROM person_links),
        tot AS (SELECT source, count(*) AS records FROM person_links GROUP BY source),
        hit AS (
            SELECT l.source, o.source AS other_source, count(*) AS linked
            FROM person_links l JOIN pk o ON o.person_key = l.person_key AND o.source <> l.source
            GROUP BY ALL)
        SELECT a.source, b.source AS other_source, a.records,
               coalesce(h.linked, 0) AS linked, coalesce(h.linked, 0) / a.records AS share
        FROM tot a CROSS JOIN tot b
        LEFT JOIN hit h ON h.source = a.source AND h.other_source = b.source
        WHERE a.source <> b.source
        ORDER BY a.source, b.source""").with_columns(
        pl.col("records").cast(pl.Int64), pl.col("linked").cast(pl.Int64))


def within_register_duplicates(st: Stores) -> pl.DataFrame | None:
    """Per register: records, distinct persons, persons with more than one record, and the
    records beyond one per person (duplicates — or, for border crossings, repeat trips)."""
    if not st.has("warehouse", "person_links"):
        return None
    return st.sql("warehouse", """
        WITH per AS (SELECT source, person_key, count(*) AS n FROM person_links GROUP BY ALL)
        SELECT source, sum(n) AS records, count(*) AS persons,
               count(*) FILTER (WHERE n > 1) AS persons_with_several_records,
               sum(n) - count(*) AS records_beyond_one_per_person,
               (sum(n) - count(*)) / sum(n) AS duplicate_share
        FROM per GROUP BY source ORDER BY source""").with_columns(
        pl.col("records").cast(pl.Int64), pl.col("records_beyond_one_per_person").cast(pl.Int64),
        pl.col("persons").cast(pl.Int64), pl.col("persons_with_several_records").cast(pl.Int64))


def match_weight_histogram(st: Stores) -> pl.DataFrame | None:
    """Records per source and whole-number match-weight bin, weight = log2(p / (1 - p)) of the
    record's match_probability (clipped to [-10, 30]); records without one are 'unscored'."""
    if not st.has("warehouse", "person_links"):
        return None
    p = "match_probability"
    return st.sql("warehouse", f"""
        WITH w AS (
            SELECT source,
                   CASE WHEN {q(p)} IS NULL THEN NULL
                        WHEN {q(p)} >= 1 THEN {WEIGHT_MAX}
                        WHEN {q(p)} <= 0 THEN {WEIGHT_MIN}
                        ELSE greatest({WEIGHT_MIN}, least({WEIGHT_MAX},
                             log2({q(p)} / (1 - {q(p)})))) END AS weight
            FROM person_links)
        SELECT source, CAST(floor(weight) AS INTEGER) AS weight_bin, count(*) AS records
        FROM w GROUP BY ALL ORDER BY source, weight_bin NULLS FIRST""").with_columns(
        pl.col("records").cast(pl.Int64))


def linkage_quality_tables(st: Stores, max_rows: int = 40) -> dict[str, pl.DataFrame]:
    """The linkage stage's own `quality_linkage_*` tables (first rows, identifier-free columns),
    shown as they are so the report does not re-invent their figures."""
    out = {}
    for t in sorted(st.tables("warehouse")):
        if t.startswith("quality_linkage"):
            cols = [c for c in st.columns("warehouse", t) if not is_identifier_column(c)]
            if cols:
                out[t] = st.sql("warehouse", f"SELECT {', '.join(q(c) for c in cols)} "
                                f"FROM {q(t)} LIMIT {int(max_rows)}")
    return out
