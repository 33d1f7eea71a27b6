"""Benchmark the residence-rule engine: N persons' crossings (tourists, residents, commuters),
every preset, median of several runs and peak memory.

    .venv/bin/python bench/bench_rules.py --persons 53000 --runs 3 --repair   # ~1M crossings
    .venv/bin/python bench/bench_rules.py --persons 1000000 --runs 3          # ~19M crossings (lead)

The crossings are generated with numpy (vectorised, no per-person Python): a mix of
- tourists (60 %): 1–3 short visits, 3–30 days;
- residents (30 %): start inside, 1–20 trips of 5–40 days, some emigrate for 1–3 years;
- commuters (10 %): cross every 0–4 days (same-day returns included) for years — about a
  hundred crossings each (1,000,000 persons give about 19 million crossings;
  `--commuter-crossings 2000` for the heavy case).
Peak memory is the process's maximum resident set size (ru_maxrss), sampled per preset in a
fresh child process so one preset's peak does not hide another's.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

START = dt.date(2015, 1, 1)


def generate(persons: int, seed: int = 1, commuter_share: float = 0.1,
             commuter_crossings: int = 100) -> pl.DataFrame:
    """Alternating crossings per person: person_id, direction, crossing_date (sorted)."""
    rng = np.random.default_rng(seed)
    rest = 1 - commuter_share  # tourists : residents = 2 : 1 among the others
    kind = rng.choice(3, size=persons, p=[rest * 2 / 3, rest / 3, commuter_share])
    # number of stays/absences (each one crossing) per person
    n = np.where(kind == 0, 2 * rng.integers(1, 4, persons),
         np.where(kind == 1, 2 * rng.integers(1, 21, persons),
                  rng.integers(commuter_crossings // 2, commuter_crossings * 3 // 2, persons)))
    pid = np.repeat(np.arange(persons, dtype=np.int64), n)
    total = int(n.sum())
    first = np.zeros(persons, dtype=np.int64)
    first[1:] = np.cumsum(n)[:-1]
    idx = np.arange(total) - np.repeat(first, n)          # position within person
    k = np.repeat(kind, n)
    # gaps between consecutive crossings by kind and by whether the person is in or out
    gap = np.where(k == 0, np.where(idx % 2 == 0, rng.integers(3, 31, total), rng.integers(30, 700, total)),
          np.where(k == 1, np.where(idx % 2 == 0, rng.integers(5, 41, total),
                                    np.where(rng.random(total) < 0.05, rng.integers(365, 1100, total),
                                             rng.integers(30, 400, total))),
                   rng.integers(0, 5, total)))
    gap[first] = rng.integers(0, 2500, persons)              # first crossing date
    day = np.cumsum(gap) - np.repeat(np.cumsum(gap)[first] - gap[first], n)
    # tourists/commuters start outside (ENTRY first), residents inside (EXIT first)
    entry_first = np.repeat(kind != 1, n)
    is_entry = (idx % 2 == 0) == entry_first
    return pl.DataFrame({
        "person_id": pid,
        "direction": np.where(is_entry, "ENTRY", "EXIT"),
        "crossing_date": (np.datetime64(START) + day.astype("timedelta64[D]")).astype("datetime64[D]"),
    }).with_columns(pl.col("crossing_date").cast(pl.Date))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_preset(path: Path, preset: str, runs: int) -> dict:
    """Run one preset `runs` times in this process; timings and peak RSS."""
    from reglink.rules.engine import derive_events

    df = pl.read_parquet(path)
    base = peak_mb()
    times, events = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        ev = derive_events(df, preset)
        times.append(time.perf_counter() - t0)
        events = ev.height
    return {"preset": preset, "crossings": df.height, "events": events,
            "median_s": round(statistics.median(times), 2), "runs_s": [round(t, 2) for t in times],
            "peak_rss_mb": round(peak_mb(), 0), "input_rss_mb": round(base, 0)}


def time_repair(path: Path) -> dict:
    """repair_crossings once on the same data (not part of the per-preset target)."""
    from reglink.rules.repair import repair_crossings

    df = pl.read_parquet(path)
    t0 = time.perf_counter()
    _, log = repair_crossings(df)
    return {"repair_s": round(time.perf_counter() - t0, 2), "repairs": log.height,
            "peak_rss_mb": round(peak_mb(), 0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--commuter-crossings", type=int, default=100,
                    help="mean crossings of a commuter (2,000 for the heavy-commuter case)")
    ap.add_argument("--presets", default="12-16,6-12,9-12,12-12")
    ap.add_argument("--data", type=Path, default=Path("/tmp/reglink-bench-rules.parquet"))
    ap.add_argument("--repair", action="store_true", help="also time repair_crossings once")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "repair":
        print(json.dumps(time_repair(args.data)))
        return
    if args.child:
        print(json.dumps(one_preset(args.data, args.child, args.runs)))
        return
    t0 = time.perf_counter()
    df = generate(args.persons, args.seed, commuter_crossings=args.commuter_crossings)
    df.write_parquet(args.data)
    print(f"generated {df.height:,} crossings of {args.persons:,} persons "
          f"in {time.perf_counter() - t0:.1f}s -> {args.data}", flush=True)
    del df
    for preset in args.presets.split(","):
        out = subprocess.run([sys.executable, __file__, "--child", preset, "--runs", str(args.runs),
                              "--data", str(args.data)], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{r['preset']:>6}: {r['crossings']:,} crossings -> {r['events']:,} events; "
              f"median {r['median_s']} s over {args.runs} runs {r['runs_s']}; "
              f"peak RSS {r['peak_rss_mb']:.0f} MB (input loaded: {r['input_rss_mb']:.0f} MB)",
              flush=True)
    if args.repair:
        out = subprocess.run([sys.executable, __file__, "--child", "repair", "--data", str(args.data)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"repair: {r['repair_s']} s, {r['repairs']:,} log rows; peak RSS {r['peak_rss_mb']:.0f} MB",
              flush=True)


if __name__ == "__main__":
    main()
