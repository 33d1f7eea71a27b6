"""Do two warehouses say the same thing? The check that the two engines agree.

Person keys are labels, so two runs are compared on the partition of records into persons
(pairwise agreement: the share of record pairs both runs put together, or both apart), and on
the published figures: `migration_events` per year and type, `flows` and `stocks` cell by cell,
and every table the Spark engine computes with Spark SQL (`SQL_TABLES`): the same rows (person
keys aside) and the same column types.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from reglink.linkage.evaluate import pairwise_metrics


# the tables `engine: spark` computes with Spark SQL from the same builders (tables/runner.py)
SQL_TABLES = ("migration_events", "flows", "residence_spells", "stocks", "temporary_stays",
              "temporary_mobility", "asylum_flows", "accounting")


def _attach(con: duckdb.DuckDBPyConnection, path: Path, alias: str) -> None:
    con.execute(f"ATTACH '{path}' AS {alias} (READ_ONLY)")


def pairwise_agreement(links_a: pl.DataFrame, links_b: pl.DataFrame) -> float:
    """Rand index of two person partitions (`source`, `record_id`, `person_key`) over the
    records both hold: the share of record pairs both put together or both apart. The pair
    counts are the linkage evaluation's (`pairwise_metrics`, run with `a` as the truth):
    pairs split one way only = pairs a joins + pairs b joins - 2 x pairs both join."""
    m = pairwise_metrics(links_b, links_a, pred_col="person_key", true_col="person_key")
    n = m["records"]
    pairs = n * (n - 1) / 2
    if pairs == 0:
        return 1.0
    disagree = float(m["true_pairs"]) + float(m["predicted_pairs"]) - 2 * float(m["correct_pairs"])
    return 1.0 - disagree / pairs


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return sorted(con.execute(sql).fetchall(), key=lambda r: tuple(str(v) for v in r))


def compare(a: Path, b: Path) -> dict[str, Any]:
    """Agreement of warehouse `b` with `a`: pairwise agreement of the persons, and whether
    `migration_events` per year and type, `flows` and `stocks` are identical."""
    con = duckdb.connect()
    try:
        _attach(con, a, "a")
        _attach(con, b, "b")
        links = "SELECT source, record_id, person_key FROM {}.person_links"
        out: dict[str, Any] = {"pairwise_agreement": pairwise_agreement(con.sql(links.format("a")).pl(),
                                                                        con.sql(links.format("b")).pl()),
                               "records": con.execute("SELECT count(*) FROM a.person_links").fetchall()[0][0],
                               "persons_a": con.execute("SELECT count(DISTINCT person_key) FROM a.person_links").fetchall()[0][0],
                               "persons_b": con.execute("SELECT count(DISTINCT person_key) FROM b.person_links").fetchall()[0][0]}
        ev = "SELECT year(event_date) AS y, event_type, count(*) FROM {}.migration_events GROUP BY ALL"
        out["events_a"], out["events_b"] = _rows(con, ev.format("a")), _rows(con, ev.format("b"))
        out["events_equal"] = out["events_a"] == out["events_b"]
        for t in ("flows", "stocks"):
            out[f"{t}_equal"] = _rows(con, f"SELECT * FROM a.{t}") == _rows(con, f"SELECT * FROM b.{t}")
            out[f"{t}_rows"] = con.execute(f"SELECT count(*) FROM a.{t}").fetchall()[0][0]
        out["tables"] = {}
        for t in SQL_TABLES:
            types = [[tuple(r[:2]) for r in con.execute(f"DESCRIBE {w}.{t}").fetchall()] for w in "ab"]
            # person keys are labels: the rows are compared without them
            cols = "* EXCLUDE (person_key)" if ("person_key", "VARCHAR") in types[0] else "*"
            keyless = f"SELECT {cols} FROM {{}}.{t}"
            out["tables"][t] = {
                "rows": con.execute(f"SELECT count(*) FROM a.{t}").fetchall()[0][0],
                "same_types": types[0] == types[1],
                "equal": _rows(con, keyless.format("a")) == _rows(con, keyless.format("b"))}
        return out
    finally:
        con.close()
