"""Benchmark `reglink synth`: persons per second, crossings written, peak memory.

Each run is a fresh child process (so peak RSS is that run's own, read with
resource.getrusage(RUSAGE_CHILDREN)); the median of --runs runs is reported.

    .venv/bin/python bench/bench_synth.py --persons 20000 --runs 3
    .venv/bin/python bench/bench_synth.py --persons 1000000 --runs 1 --no-events
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys, time
from reglink.synth import generate
t = time.perf_counter()
res = generate(sys.argv[1], persons=int(sys.argv[2]), years=int(sys.argv[3]), seed=int(sys.argv[4]),
               events=sys.argv[5] == "1")
print(json.dumps({"seconds": time.perf_counter() - t, "counts": res.counts}))
"""


def one_run(persons: int, years: int, seed: int, events: bool, workdir: Path) -> dict:
    out = workdir / f"w{persons}"
    shutil.rmtree(out, ignore_errors=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(out), str(persons), str(years), str(seed),
                           "1" if events else "0"], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    shutil.rmtree(out, ignore_errors=True)
    return {"generate_s": info["seconds"], "wall_s": wall, "counts": info["counts"],
            # ru_maxrss of children is the max over all children so far: only a new maximum is exact
            "peak_rss_mb": peak_kb / 1024, "peak_is_this_run": peak_kb > before, "bytes": size}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=20000)
    ap.add_argument("--years", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-events", action="store_true", help="skip the truth events (rule engine)")
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_synth_"))
    try:
        runs = [one_run(args.persons, args.years, args.seed, not args.no_events, work)
                for _ in range(args.runs)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    gen = statistics.median(r["generate_s"] for r in runs)
    c = runs[0]["counts"]
    result = {
        "persons": args.persons, "years": args.years, "runs": args.runs, "events": not args.no_events,
        "median_generate_s": round(gen, 2),
        "median_wall_s": round(statistics.median(r["wall_s"] for r in runs), 2),
        "persons_per_s": round(args.persons / gen),
        "true_crossings": c["crossings"], "border_records": c["border_crossings"],
        "crossings_per_s": round(c["crossings"] / gen),
        "records": {k: c[k] for k in ("border_crossings", "permits", "population_register", "asylum_register")},
        "truth_events": c.get("events", 0),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs)),
        "output_mb": round(runs[0]["bytes"] / 2**20, 1),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
