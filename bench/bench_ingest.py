"""Benchmark ingest & validation: `reglink validate` (streaming, no rows kept) and `ingest_all`
(the pipeline stage: std_* and quarantine_* into the restricted store) on all four registers
of a synthetic world. Rows per second and peak memory; the median of --runs runs.

Each run is a fresh child process that reports its own peak RSS (ru_maxrss of itself), so the
figures are per run. The Great Expectations import (seconds, once per process) is timed apart.

    uv run python bench/bench_ingest.py --persons 100000 --runs 3
    uv run python bench/bench_ingest.py --world /tmp/reglink-sample/p2000 --runs 3
    uv run python bench/bench_ingest.py --persons 20000 --format csv --no-expectations
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCES = ("border_crossings", "permits", "population_register", "asylum_register")

CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
world, work, mode, suites = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
t = time.perf_counter()
if suites:
    import great_expectations  # noqa: F401  (timed apart: a fixed cost per process)
gx_import = time.perf_counter() - t
from reglink.config import load_config
from reglink.ingest import ingest_all, ingest_extract
cfg = load_config(world / "reglink.yaml")
out = {"mode": mode, "gx_import_s": gx_import, "sources": {}}
t0 = time.perf_counter()
if mode == "validate":
    for s, path in cfg.extracts.items():
        t = time.perf_counter()
        r = ingest_extract(s, path, keep_rows=False, suite=suites)
        out["sources"][s] = {"rows": r.summary.rows_in, "seconds": time.perf_counter() - t,
                             "quarantined": r.summary.rows_quarantined}
else:
    os.environ["REGLINK_INGEST_EXPECTATIONS"] = "1" if suites else "0"
    cfg.warehouse = work / "wh.duckdb"
    cfg.restricted = work / "wh.restricted.duckdb"
    res = ingest_all(cfg)
    for s, r in res.items():
        out["sources"][s] = {"rows": r.summary.rows_in, "quarantined": r.summary.rows_quarantined}
out["seconds"] = time.perf_counter() - t0
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def one_run(world: Path, mode: str, suites: bool, work: Path) -> dict:
    for f in work.glob("wh*.duckdb*"):
        f.unlink()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(world), str(work), mode,
                           "1" if suites else "0"], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench_ingest: {mode} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--years", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    ap.add_argument("--world", type=Path, help="an existing `reglink synth` folder (skips generation)")
    ap.add_argument("--no-expectations", action="store_true", help="polars checks only, no GX suites")
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    try:
        world = args.world
        if world is None:
            from reglink.synth import generate

            world = tmp / "world"
            generate(world, persons=args.persons, years=args.years, seed=args.seed, fmt=args.format,
                     events=False)
        suites = not args.no_expectations
        work = tmp / "work"
        work.mkdir()
        result: dict = {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                        "world": str(args.world) if args.world else f"synth {args.persons} persons",
                        "format": args.format, "expectations": suites, "runs": args.runs}
        for mode in ("validate", "ingest"):
            runs = [one_run(world, mode, suites, work) for _ in range(args.runs)]
            rows = {s: v["rows"] for s, v in runs[0]["sources"].items()}
            total = sum(rows.values())
            sec = statistics.median(r["seconds"] for r in runs)
            entry = {
                "rows": rows, "rows_total": total,
                "median_s": round(sec, 2), "rows_per_s": round(total / sec) if sec else None,
                "gx_import_s": round(statistics.median(r["gx_import_s"] for r in runs), 2),
                "peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in runs)),
                "max_peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs)),
                "quarantined": {s: v["quarantined"] for s, v in runs[0]["sources"].items()},
            }
            if mode == "validate":
                entry["per_source_rows_per_s"] = {
                    s: round(rows[s] / statistics.median(r["sources"][s]["seconds"] for r in runs))
                    for s in rows}
            result[mode] = entry
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "bench_ingest.jsonl"
    out.parent.mkdir(exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps(result) + "\n")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
