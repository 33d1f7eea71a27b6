"""Deterministic links taken before any probabilistic scoring.

Two identities that carry the same document number issued by the same state, and whose dates
of birth and sex do not contradict, are the same person: passports are personal and the
chance of a typo producing another traveller's number *and* a compatible birth date is
negligible. Grouping these first cuts the probabilistic work (one representative per group)
and makes the model's job the hard cases only.
"""
from __future__ import annotations

import polars as pl

# Document numbers shorter than this are too generic to be trusted on their own.
MIN_DOCUMENT_LENGTH = 5

# Portable SQL (DuckDB and Spark SQL): an equi-join on the document number, then the
# "not contradicting" checks. A missing issuing country (the asylum register has none) does
# not block the link, a different one does.
_PAIRS_SQL = f"""
SELECT l.identity_id AS id_l, r.identity_id AS id_r
FROM {{table}} l
JOIN {{table}} r
  ON l.document_number_std = r.document_number_std AND l.identity_id < r.identity_id
WHERE length(l.document_number_std) >= {MIN_DOCUMENT_LENGTH}
  AND (l.document_country IS NULL OR r.document_country IS NULL
       OR l.document_country = r.document_country)
  AND (l.sex IS NULL OR r.sex IS NULL OR l.sex = r.sex)
  AND l.dob_year IS NOT NULL AND r.dob_year IS NOT NULL
  AND (
    (l.dob_year = r.dob_year
     AND (l.dob_month IS NULL OR r.dob_month IS NULL OR l.dob_month = r.dob_month)
     AND (l.dob_day IS NULL OR r.dob_day IS NULL OR l.dob_day = r.dob_day))
    OR (l.dob_year = r.dob_year AND l.dob_month = r.dob_day AND l.dob_day = r.dob_month)
  )
"""



def deterministic_pairs_sql(table: str = "identities") -> str:
    """The deterministic pairs of the identities in `table` (a relation in the connection)."""
    return _PAIRS_SQL.format(table=table)


DETERMINISTIC_PAIRS_SQL = deterministic_pairs_sql()


def deterministic_pairs(con, identities: pl.DataFrame) -> pl.DataFrame:
    """(id_l, id_r) pairs linked on document + issuing country + compatible DOB and sex."""
    con.register("identities", identities.select(
        "identity_id", "document_number_std", "document_country", "sex",
        "dob_year", "dob_month", "dob_day").to_arrow())
    try:
        return con.sql(DETERMINISTIC_PAIRS_SQL).pl()
    finally:
        con.unregister("identities")


def connected_components(nodes: pl.Series, edges: pl.DataFrame) -> pl.DataFrame:
    """Label every node with the smallest node id reachable through edges (id_l, id_r).

    Set-based min-label propagation with pointer jumping: each round is two joins, and the
    number of rounds grows with the log of the longest chain, not with the data size.
    """
    labels = pl.DataFrame({"node": nodes}).with_columns(pl.col("node").alias("label"))
    if edges.height == 0:
        return labels
    both = pl.concat([
        edges.select(pl.col("id_l").alias("a"), pl.col("id_r").alias("b")),
        edges.select(pl.col("id_r").alias("a"), pl.col("id_l").alias("b")),
    ])
    while True:
        # each node takes the smallest label among itself and its neighbours ...
        neigh = (both.join(labels, left_on="b", right_on="node")
                 .group_by("a").agg(pl.col("label").min().alias("nl")))
        new = (labels.join(neigh, left_on="node", right_on="a", how="left")
               .with_columns(pl.min_horizontal("label", "nl").alias("label")).drop("nl"))
        # ... then jumps to its label's label (pointer jumping shortens long chains)
        new = (new.join(new.rename({"node": "label", "label": "l2"}), on="label", how="left")
               .with_columns(pl.min_horizontal("label", "l2").alias("label")).drop("l2"))
        changed = new.join(labels, on="node", suffix="_old").filter(
            pl.col("label") != pl.col("label_old")).height
        labels = new
        if changed == 0:
            return labels


def representatives(identities: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """One identity per deterministic group: the most observed, then the most complete.

    The choice is made on four narrow columns and the chosen rows gathered once: sorting
    the whole identity frame (millions of rows, ~40 columns) would copy it several times."""
    fields = [c for c in identities.columns if c not in ("identity_id", "source", "n_records")]
    scored = identities.select(
        "identity_id", "n_records",
        pl.sum_horizontal([pl.col(c).is_not_null() for c in fields]).alias("_filled"),
    ).join(groups.rename({"node": "identity_id", "label": "group_id"}), on="identity_id")
    best = (scored.sort(["group_id", "n_records", "_filled", "identity_id"],
                        descending=[False, True, True, False])
            .group_by("group_id", maintain_order=True).first()
            .select("identity_id", "group_id"))
    return identities.join(best, on="identity_id").sort("group_id")


def nodes_table(con, identities: str, groups: str, node_fields: tuple[str, ...],
                out: str = "lk_nodes") -> int:
    """`representatives` and the node frame built on them, in DuckDB: one row per
    deterministic group (`groups`: node = identity_id, label = group id) holding its
    representative identity's fields, the number of records and identities in the group and
    the days its documents were seen in use; `node_num` numbers the nodes in unique_id order
    (Splink's integer ids). Same choice as `representatives`: most records, then most filled
    fields, then the smallest identity_id."""
    cols = [r[0] for r in con.execute(f"SELECT * FROM {identities} LIMIT 0").description]
    fields = [c for c in cols if c not in ("identity_id", "source", "n_records")]
    filled = " + ".join(f"CAST(i.{c} IS NOT NULL AS INTEGER)" for c in fields) or "0"
    keep = ", ".join(f"r.{c}" for c in node_fields)
    con.execute(f"""CREATE OR REPLACE TABLE {out} AS
        WITH scored AS (
            SELECT i.*, g.label AS group_id, {filled} AS _filled
            FROM {identities} i JOIN {groups} g ON i.identity_id = g.node),
        grp AS (
            SELECT group_id, count(*) AS identities, min(first_seen) AS first_seen,
                   max(last_seen) AS last_seen, min(registered_from) AS registered_from,
                   max(registered_to) AS registered_to
            FROM scored GROUP BY group_id),
        rep AS (
            SELECT * FROM scored
            QUALIFY row_number() OVER (PARTITION BY group_id
                                       ORDER BY n_records DESC, _filled DESC, identity_id) = 1)
        SELECT CAST(row_number() OVER (ORDER BY r.group_id) - 1 AS BIGINT) AS node_num,
               r.group_id AS unique_id, r.source, r.n_records, {keep},
               CAST(g.identities AS UINTEGER) AS identities, g.first_seen, g.last_seen,
               g.registered_from, g.registered_to
        FROM rep r JOIN grp g USING (group_id)""")
    return con.execute(f"SELECT count(*) FROM {out}").fetchall()[0][0]
