"""Time the quality report (`reglink.quality.build_report`) on a built run.

    .venv/bin/python bench/bench_quality.py [--persons N] [--years Y] [--config FILE] [--runs R]

Without --config, a synthetic world of N persons is generated and run through the real ingest,
linkage and tables stages in a temporary folder (not timed). The report is then built R times,
each in a fresh child process so its peak resident memory (ru_maxrss) is the report's own;
prints the median wall time, the slowest parts (rule sensitivity: the engine once per preset;
coherence checks) and appends a JSON line to bench/results/bench_quality.jsonl.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent


def child(config: str) -> None:
    """Build the report once; print timings and peak memory as JSON."""
    from reglink.config import load_config
    from reglink.quality import build_report, coherence, coverage, sensitivity
    from reglink.quality.stores import Stores

    cfg = load_config(config)
    t0 = time.perf_counter()
    build_report(cfg, strict=True)
    total = time.perf_counter() - t0
    st = Stores.open(cfg.warehouse, cfg.restricted_path)
    try:
        t1 = time.perf_counter()
        sensitivity.rule_sensitivity(st, cfg.observed_until, None, cfg.raw)
        t2 = time.perf_counter()
        coherence.coherence_checks(st, cfg.rule.name, coverage.reference_date(st, cfg.observed_until))
        t3 = time.perf_counter()
        crossings = st.sql("warehouse", "SELECT count(*) AS n FROM crossings")["n"][0] \
            if st.has("warehouse", "crossings") else 0
        records = st.sql("warehouse", "SELECT count(*) AS n FROM person_links")["n"][0] \
            if st.has("warehouse", "person_links") else 0
    finally:
        st.close()
    print(json.dumps({"report_s": total, "rule_sensitivity_s": t2 - t1, "coherence_s": t3 - t2,
                      "crossings": int(crossings), "records": int(records),
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def build_world(persons: int, years: int, folder: Path) -> Path:
    from reglink.config import load_config
    from reglink.ingest import ingest_all
    from reglink.linkage import link_persons
    from reglink.synth.generate import generate
    from reglink.tables import build_tables

    generate(folder, persons=persons, years=years, seed=1, events=False)
    cfg = load_config(folder / "reglink.yaml")
    ingest_all(cfg)
    link_persons(cfg)
    build_tables(cfg)
    return folder / "reglink.yaml"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=2000)
    ap.add_argument("--years", type=int, default=6)
    ap.add_argument("--config")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--_child")
    args, _ = ap.parse_known_args()
    if args._child:
        child(args._child)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_quality_") as tmp:
        config = args.config or str(build_world(args.persons, args.years, Path(tmp)))
        runs = []
        for _ in range(args.runs):
            out = subprocess.run([sys.executable, __file__, "--_child", config],
                                 capture_output=True, text=True, check=True)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    res = {
        "bench": "quality", "persons": None if args.config else args.persons,
        "config": args.config, "runs": len(runs),
        "records": runs[0]["records"], "crossings": runs[0]["crossings"],
        "report_median_s": round(statistics.median(r["report_s"] for r in runs), 2),
        "rule_sensitivity_median_s": round(statistics.median(r["rule_sensitivity_s"] for r in runs), 2),
        "coherence_median_s": round(statistics.median(r["coherence_s"] for r in runs), 2),
        "peak_mb": round(max(r["peak_mb"] for r in runs), 1),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print(json.dumps(res, indent=1))
    (HERE / "results").mkdir(exist_ok=True)
    with open(HERE / "results" / "bench_quality.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(res) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
