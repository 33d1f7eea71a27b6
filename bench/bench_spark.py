"""The Spark engine against the DuckDB engine on one machine: `reglink run` on the same world.

    python bench/bench_spark.py --persons 100000 --master local[2] --memory-limit 4GB
    python bench/bench_spark.py --world /path/to/synth/world --master local[2]

Makes a synthetic world (`reglink synth --persons N --years 6 --seed 11`, or copies one,
leaving it untouched), runs the real command in subprocesses -- `--engine duckdb` then
`--engine spark` (never at once: peak memory is measured), `--runs` times each -- sampling each
whole process tree (the JVM and Python workers included) every half second: resident memory
and CPU time. Reports, per engine, the median wall time, peak RSS and CPU seconds, their
ratios, each stage's time as the run prints it, and whether the two warehouses agree (pairwise
agreement of the persons, events per year and type, flows, stocks, and every table Spark SQL
computes). On a machine shared with other work the wall times are upper bounds; the CPU
seconds are what the run itself consumed. Appends one JSON line to
bench/results/bench_spark.jsonl.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from bench_pipeline import EXTRACTS, REGLINK, STAGE_LINE, measured  # noqa: E402


def _world(args: argparse.Namespace, tmp: Path) -> Path:
    world = tmp / "world"
    if args.world:
        world.mkdir()
        for f in Path(args.world).iterdir():
            if f.is_file():
                shutil.copy2(f, world / f.name)
    else:
        subprocess.run([str(REGLINK), "synth", "--persons", str(args.persons), "--years", "6",
                        "--seed", str(args.seed), "--out", str(world)], check=True, capture_output=True)
    return world


def _config(world: Path, dest: Path, args: argparse.Namespace) -> Path:
    import yaml

    dest.mkdir()
    for f in world.iterdir():
        if f.is_file() and (f.stem in EXTRACTS or f.name == "reglink.yaml"):
            shutil.copy2(f, dest / f.name)
    cfg_path = dest / "reglink.yaml"
    data = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
    data.pop("landing", None)
    data.update({"memory_limit": args.memory_limit, "threads": args.threads,
                 "spark": {"master": args.master}})
    cfg_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return cfg_path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--world", help="an existing synthetic world folder (copied)")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--memory-limit", default="4GB",
                    help="the run's budget (local Spark: 40%% of it is the JVM's heap)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=1, help="runs per engine (the median is reported)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()

    from reglink.config import load_config
    from reglink.engines.compare import compare

    tmp = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    try:
        world = _world(args, tmp)
        runs: dict[str, dict] = {}
        for engine in ("duckdb", "spark"):
            each = []
            for i in range(args.runs):
                cfg_path = _config(world, tmp / f"{engine}{i}", args)
                r = measured([str(REGLINK), "run", "--config", str(cfg_path), "--engine", engine])
                if r["returncode"] != 0:
                    # the run's whole stderr is kept: a JVM stack trace fills any tail of it
                    log = Path(tempfile.gettempdir()) / f"bench-spark-{engine}{i}-failed-{int(time.time())}.log"
                    log.write_text(r["stderr"])
                    errors = [ln for ln in r["stderr"].splitlines() if ln.startswith("reglink:")
                              or "Error" in ln[:200] or "Exception" in ln[:200]]
                    print("\n".join(errors[:20])[:3000], f"\n{engine} run failed; its stderr: {log}",
                          file=sys.stderr)
                    return 1
                stages = {m["asset"]: float(m["s"]) for line in r["stderr"].splitlines()
                          if (m := STAGE_LINE.match(line.strip()))}
                each.append({"seconds": r["seconds"], "peak_rss_gb": r["peak_rss_gb"],
                             "cpu_seconds": r["cpu_seconds"], "stages": stages})
                print(f"{engine:>6}: {r['seconds']:8.1f} s  peak {r['peak_rss_gb']:5.2f} GB  "
                      f"cpu {r['cpu_seconds']:7.1f} s  "
                      + ", ".join(f"{k} {v:.0f}s" for k, v in stages.items()), flush=True)
            med = {k: statistics.median(e[k] for e in each) for k in ("seconds", "peak_rss_gb", "cpu_seconds")}
            runs[engine] = {**med, "runs": each, "stages": {
                k: statistics.median(e["stages"].get(k, 0.0) for e in each) for k in each[0]["stages"]},
                "warehouse": str(load_config(cfg_path).warehouse)}
        agree = compare(Path(runs["duckdb"]["warehouse"]), Path(runs["spark"]["warehouse"]))
        d, s = runs["duckdb"], runs["spark"]
        result = {
            "bench": "bench_spark", "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "persons": None if args.world else args.persons, "seed": None if args.world else args.seed,
            "world": args.world, "runs": args.runs,
            "master": args.master, "memory_limit": args.memory_limit, "threads": args.threads,
            "duckdb": {k: v for k, v in d.items() if k != "warehouse"},
            "spark": {k: v for k, v in s.items() if k != "warehouse"},
            "time_ratio": round(s["seconds"] / d["seconds"], 2),
            "memory_ratio": round(s["peak_rss_gb"] / max(d["peak_rss_gb"], 1e-9), 2),
            "cpu_ratio": round(s["cpu_seconds"] / max(d["cpu_seconds"], 1e-9), 2),
            "pairwise_agreement": agree["pairwise_agreement"],
            "events_equal": agree["events_equal"], "flows_equal": agree["flows_equal"],
            "stocks_equal": agree["stocks_equal"], "records": agree["records"],
            # every table Spark SQL computed: the same rows and column types as DuckDB's
            "sql_tables_equal": {t: v["equal"] and v["same_types"] for t, v in agree["tables"].items()},
        }
        print(f" ratio: time {result['time_ratio']}x, memory {result['memory_ratio']}x, "
              f"cpu {result['cpu_ratio']}x; "
              f"persons agree {agree['pairwise_agreement']:.6f}, events equal {agree['events_equal']}, "
              f"flows equal {agree['flows_equal']}, stocks equal {agree['stocks_equal']}; Spark SQL "
              f"tables equal: {all(result['sql_tables_equal'].values())} {result['sql_tables_equal']}")
        out = HERE / "results" / "bench_spark.jsonl"
        out.parent.mkdir(exist_ok=True)
        with out.open("a", encoding="utf-8") as f:
            f.write(json.dumps(result) + "\n")
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
