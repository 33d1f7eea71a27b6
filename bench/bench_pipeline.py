"""Time `reglink run` end to end, then a no-op re-run (nothing new: every asset "unchanged").

    uv run python bench/bench_pipeline.py --persons 2000 --years 6
    uv run python bench/bench_pipeline.py --world /tmp/reglink-sample/p2000   # copied first

Runs the real command in a subprocess (cold imports included, as a user sees it) and reports
wall time, peak memory of the run (ru_maxrss of children) and what each run built.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed_run(config: Path) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "reglink"), "run", "--config", str(config)],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"reglink run failed ({proc.returncode}):\n{proc.stderr}")
    done = [ln for ln in proc.stderr.splitlines() if ln.startswith("done in")]
    return {"seconds": round(seconds, 1), "summary": done[0] if done else "",
            "peak_rss_mb_so_far": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=2000)
    ap.add_argument("--years", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--world", type=Path, help="an existing synth folder (copied, not modified)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bench_pipeline.jsonl")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        world = Path(tmp) / "world"
        if args.world:
            shutil.copytree(args.world, world, ignore=shutil.ignore_patterns("*.duckdb*", ".dagster",
                                                                            "reports", "parquet"))
        else:
            from reglink.synth import generate
            generate(world, persons=args.persons, years=args.years, seed=args.seed)
        config = world / "reglink.yaml"
        first = timed_run(config)
        noop = timed_run(config)
    result = {"persons": None if args.world else args.persons, "world": str(args.world or ""),
              "first_run": first, "noop_rerun": noop}
    result["at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(result) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
