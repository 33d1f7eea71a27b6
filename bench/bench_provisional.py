"""Provisional estimates against the truth on synthetic worlds cut at 31 December.

    .venv/bin/python bench/bench_provisional.py WORLD [WORLD ...] [--workdir DIR] [--links pipeline|truth]
                                                 [--all-years] [--out results.json] [--record]

Each WORLD is a `reglink synth` folder whose registers end on `observed_until` (31 December by
default): the extracts hold only what was known then. Its truth runs 540 days further, so the
true outcome of every crossing up to the data end is known (truth/events.parquet, derived with
the whole horizon). Each world is built as production would (the real ingest, linkage and
tables stages; `bench_events_truth.build_world`), then for every year whose windows are still
open (`flows.status = 'provisional'`) and each of immigration and emigration it prints: truth
(distinct persons with a true event in the year), the final-only figure (persons with a final
event), the provisional estimate, its 95 % interval and whether the interval covers the truth.
The acceptance: the last year's estimates within 5 % of the truth, and the interval covering the
truth in at least 19 of 20 (year x type) cells over the worlds.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_events_truth import build_world  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_provisional.jsonl"
TYPES = ("IMMIGRATION", "EMIGRATION")


def truth_by_year(world: Path, rule: str) -> pl.DataFrame:
    """Distinct persons with a true event per (year, type) under `rule`."""
    ev = pl.read_parquet(world / "truth" / "events.parquet").filter(pl.col("rule") == rule)
    return (ev.group_by(pl.col("event_date").dt.year().cast(pl.String).alias("period"), "event_type")
            .agg(pl.col("person_id").n_unique().alias("truth")))


def score(world: Path, warehouse: Path, all_years: bool = False) -> list[dict]:
    """One row per (year, type): truth, final-only, estimate, interval, covered."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rule = con.execute("SELECT any_value(rule) FROM crossings").fetchall()[0][0] or "12-16"
        flows = con.sql("""
          SELECT period, event_type, status, persons, persons_final, persons_provisional_estimate AS estimate,
                 ci_low, ci_high FROM flows
          WHERE period_type = 'year' AND breakdown = 'total'
            AND event_type IN ('IMMIGRATION', 'EMIGRATION')""").pl()
    finally:
        con.close()
    t = truth_by_year(world, rule)
    df = flows.join(t, on=["period", "event_type"], how="left").fill_null(0)
    if not all_years:
        df = df.filter(pl.col("status") == "provisional")
    df = df.with_columns(
        ((pl.col("estimate") - pl.col("truth")) / pl.col("truth")).alias("rel_error"),
        ((pl.col("persons_final") - pl.col("truth")) / pl.col("truth")).alias("final_rel_error"),
        ((pl.col("ci_low") <= pl.col("truth")) & (pl.col("truth") <= pl.col("ci_high"))).alias("covered"),
    ).sort("period", "event_type")
    return [{"world": world.name, **r} for r in df.iter_rows(named=True)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("worlds", type=Path, nargs="+")
    ap.add_argument("--workdir", type=Path, help="keep each build in DIR/<world name>; reuse ingest and links")
    ap.add_argument("--links", choices=["pipeline", "truth"], default="pipeline")
    ap.add_argument("--all-years", action="store_true", help="also print the final years")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--record", action="store_true", help=f"append to {RESULTS.name}")
    args = ap.parse_args(argv)
    rows: list[dict] = []
    for world in args.worlds:
        folder = (args.workdir or Path("/tmp/reglink-bench-provisional")) / world.name
        t0 = time.perf_counter()
        warehouse = build_world(world, folder, args.links)
        print(f"{world.name}: built in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
        rows += score(world, warehouse, args.all_years)
    print(f"{'world':<10} {'year':>5} {'type':<12} {'truth':>6} {'final':>6} {'estimate':>9} "
          f"{'error':>7} {'95% interval':>17} covered")
    for r in rows:
        print(f"{r['world']:<10} {r['period']:>5} {r['event_type']:<12} {r['truth']:>6} "
              f"{r['persons_final']:>6} {r['estimate']:>9.1f} {100 * r['rel_error']:>+6.1f}% "
              f"[{r['ci_low']:>7.1f}, {r['ci_high']:>7.1f}] {r['covered']}")
    prov = [r for r in rows if r["status"] == "provisional"]
    last = max((r["period"] for r in prov), default=None)
    lasts = [r for r in prov if r["period"] == last]
    summary = {
        "cells": len(prov), "covered": sum(r["covered"] for r in prov),
        "last_year": last,
        "last_year_max_abs_error": max((abs(r["rel_error"]) for r in lasts), default=None),
        "last_year_within_5pct": sum(abs(r["rel_error"]) <= 0.05 for r in lasts),
        "last_year_cells": len(lasts),
    }
    print(f"provisional cells covered by the 95 % interval: {summary['covered']} of {summary['cells']}; "
          f"last year ({last}) within 5 %: {summary['last_year_within_5pct']} of {summary['last_year_cells']} "
          f"(largest error {100 * (summary['last_year_max_abs_error'] or 0):.1f} %)")
    res = {"rows": rows, "summary": summary, "links": args.links,
           "worlds": [str(w) for w in args.worlds], "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    if args.out:
        args.out.write_text(json.dumps(res, indent=2, default=str))
    if args.record:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as f:
            f.write(json.dumps(res, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
