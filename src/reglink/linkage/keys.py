"""Stable person keys: the same person keeps the same key when new extracts arrive.

A statistician's 2024 tables must not renumber everyone in 2025. Keys therefore come from the
previous run's `person_links` wherever possible: each previous key goes to the new cluster
holding most of its records (a split keeps the key on its larger part); each cluster takes the
previous key with most votes (a merge keeps the older majority key). Clusters with no previous
key get a key derived from a hash of their smallest (source, record_id), so a re-run on the
same data reproduces the same keys even without a previous run.
"""
from __future__ import annotations

import hashlib

import duckdb
import polars as pl

KEY_PREFIX = "P"


def hash_key(source: str, record_id: str, salt: int = 0) -> str:
    text = f"{source}\x1f{record_id}" + (f"\x1f{salt}" if salt else "")
    return KEY_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()[:15].upper()


def assign_keys(clusters: pl.DataFrame, previous: pl.DataFrame | None = None) -> pl.DataFrame:
    """clusters: (source, record_id, cluster_id) -> (source, record_id, person_key).

    `previous` is the last run's person_links (source, record_id, person_key) or None.
    """
    clusters = clusters.select("source", "record_id", pl.col("cluster_id").cast(pl.String))
    smallest = (clusters.sort(["source", "record_id"])
                .group_by("cluster_id", maintain_order=True)
                .agg(pl.col("source").first(), pl.col("record_id").first()))
    votes, used_before = None, None
    if previous is not None and previous.height:
        prev = previous.select("source", pl.col("record_id").cast(pl.String), "person_key")
        used_before = prev.select("person_key").unique()
        votes = (clusters.join(prev, on=["source", "record_id"])
                 .group_by("cluster_id", "person_key").agg(pl.len().alias("n")))
    keys = cluster_keys(smallest, votes, used_before)
    return clusters.join(keys, on="cluster_id", how="left").select("source", "record_id", "person_key")


def cluster_keys(smallest: pl.DataFrame, votes: pl.DataFrame | None = None,
                 used_before: pl.DataFrame | None = None) -> pl.DataFrame:
    """One person_key per cluster, from cluster-level inputs only (the record-level counting
    is done where the records are, e.g. in DuckDB).

    smallest: (cluster_id, source, record_id) — each cluster's smallest record; votes:
    (cluster_id, person_key, n) — records of the cluster that carried that previous key;
    used_before: (person_key) every previous key. Returns (cluster_id, person_key).
    """
    smallest = smallest.select(pl.col("cluster_id").cast(pl.String), "source", "record_id")
    awarded = pl.DataFrame(schema={"cluster_id": pl.String, "person_key": pl.String})
    if votes is not None and votes.height:
        votes = votes.select(pl.col("cluster_id").cast(pl.String), "person_key", "n")
        # each previous key goes to the cluster with most of its records ...
        key_winner = (votes.sort(["person_key", "n", "cluster_id"], descending=[False, True, False])
                      .group_by("person_key", maintain_order=True).first())
        # ... and each cluster keeps the winning key with most votes
        awarded = (key_winner.sort(["cluster_id", "n", "person_key"], descending=[False, True, False])
                   .group_by("cluster_id", maintain_order=True).first()
                   .select("cluster_id", "person_key"))
    fresh = smallest.join(awarded, on="cluster_id", how="anti")
    hashed = _hash_frame(fresh)
    taken = pl.concat([used_before.select("person_key") if used_before is not None
                       else pl.DataFrame(schema={"person_key": pl.String}),
                       awarded.select("person_key")]).unique()
    # rare: a fresh hash equals a key already in use (a split whose smallest record once
    # named the other part) -> re-hash those few with a salt
    salt = 0
    while True:
        clash = hashed.filter(pl.col("person_key").is_in(taken["person_key"].implode())
                              | pl.col("person_key").is_duplicated())
        if clash.height == 0:
            break
        salt += 1
        ok = hashed.join(clash.select("cluster_id"), on="cluster_id", how="anti")
        redo = fresh.join(clash.select("cluster_id"), on="cluster_id")
        hashed = pl.concat([ok, _hash_frame(redo, salt)])
    return pl.concat([awarded, hashed.select("cluster_id", "person_key")])


def _hash_frame(frame: pl.DataFrame, salt: int = 0) -> pl.DataFrame:
    """Hash keys for (cluster_id, source, record_id) rows, set-based in SQL (same as hash_key)."""
    suffix = f" || chr(31) || '{salt}'" if salt else ""
    con = duckdb.connect()
    try:
        con.register("f", frame.select("cluster_id", "source", "record_id").to_arrow())
        return con.sql(
            f"SELECT cluster_id, '{KEY_PREFIX}' || upper(substr(sha256(source || chr(31) || "
            f"record_id{suffix}), 1, 15)) AS person_key FROM f").pl()
    finally:
        con.close()


def key_stability(new: pl.DataFrame, previous: pl.DataFrame | None) -> dict[str, float]:
    """Share of previously keyed records that kept their person_key."""
    if previous is None or previous.height == 0:
        return {"previous_records": 0, "kept_records": 0, "kept_share": 1.0}
    j = previous.select("source", pl.col("record_id").cast(pl.String), "person_key").join(
        new.select("source", "record_id", "person_key"), on=["source", "record_id"], suffix="_new")
    kept = int((j["person_key"] == j["person_key_new"]).sum())
    return {"previous_records": j.height, "kept_records": kept,
            "kept_share": kept / j.height if j.height else 1.0}
