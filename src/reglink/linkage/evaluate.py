"""Linkage accuracy against a known truth: pairwise precision/recall/F1, split and merged.

Pairs are counted, never enumerated: the pairs two groupings share are the sum over
(predicted person, true person) cells of n*(n-1)/2, so this stays cheap at 20 million records.
"""
from __future__ import annotations

import polars as pl


def _pairs(col: pl.Expr) -> pl.Expr:
    return (col * (col - 1) / 2).sum()


def pairwise_metrics(links: pl.DataFrame, truth: pl.DataFrame, *, pred_col: str = "person_key",
                     true_col: str = "person_id") -> dict[str, float]:
    """links (source, record_id, pred_col) vs truth (source, record_id, true_col)."""
    j = links.select("source", pl.col("record_id").cast(pl.String), pl.col(pred_col).alias("p")).join(
        truth.select("source", pl.col("record_id").cast(pl.String), pl.col(true_col).cast(pl.String).alias("t")),
        on=["source", "record_id"], how="inner")
    pred = j.group_by("p").agg(pl.len().alias("n")).select(_pairs(pl.col("n"))).item()
    true = j.group_by("t").agg(pl.len().alias("n")).select(_pairs(pl.col("n"))).item()
    both = j.group_by("p", "t").agg(pl.len().alias("n")).select(_pairs(pl.col("n"))).item()
    precision = both / pred if pred else 1.0
    recall = both / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    # a true person is split when its records carry more than one key; merged when its key
    # also holds another true person's records
    per_true = j.group_by("t").agg(pl.col("p").n_unique().alias("keys"))
    per_pred = j.group_by("p").agg(pl.col("t").n_unique().alias("persons"))
    merged_keys = per_pred.filter(pl.col("persons") > 1)["p"]
    merged_true = j.filter(pl.col("p").is_in(merged_keys.implode()))["t"].n_unique()
    n_true = per_true.height
    return {
        "records": j.height, "true_persons": n_true, "predicted_persons": per_pred.height,
        "precision": precision, "recall": recall, "f1": f1,
        "true_pairs": true, "predicted_pairs": pred, "correct_pairs": both,
        "split_share": per_true.filter(pl.col("keys") > 1).height / n_true if n_true else 0.0,
        "merged_share": merged_true / n_true if n_true else 0.0,
    }
