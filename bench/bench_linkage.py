"""Benchmark person linkage (`reglink.linkage.link_frames`): runtime, peak memory, pairwise
precision/recall/F1 and the share of true persons split or merged, against a synthetic world's
truth; and FEBRL4 (public, with true links) against a plain Splink model on the same fields.

The world is standardised once by the real ingest (not timed) and kept as Parquet; each run is
a fresh child process that reads it, links (timed) and reports its own peak RSS (ru_maxrss),
so the figures are per run. The median of --runs runs is reported for each model mode:
`reuse` links with the saved model under config/linkage (what the pipeline does), `train`
trains a new one without labels first.

    uv run python bench/bench_linkage.py --persons 100000 --runs 3
    uv run python bench/bench_linkage.py --world /tmp/reglink-sample/p2000 --runs 3 --modes reuse
    uv run python bench/bench_linkage.py --febrl --runs 1
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_linkage.jsonl"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import polars as pl
work, mode, threshold = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
from reglink.linkage import link_frames, pairwise_metrics
from reglink.linkage.pipeline import CONFIG_DIR
std = {p.stem: pl.read_parquet(p) for p in (work / "std").glob("*.parquet")}
truth = pl.read_parquet(work / "truth.parquet")
model = CONFIG_DIR / "model-v1.json" if mode == "reuse" else work / "trained.json"
t = time.perf_counter()
res = link_frames(std, model_path=model, retrain=(mode == "train"), threshold=threshold)
seconds = time.perf_counter() - t
m = pairwise_metrics(res.person_links, truth)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, **m,
                  **{k: v for k, v in res.stats.items() if isinstance(v, (int, float))}}))
"""

FEBRL_CHILD = r"""
import json, resource, sys, time
from reglink.linkage import link_frames, pairwise_metrics
from reglink.linkage.febrl import febrl4_extracts, plain_splink_links
from reglink.linkage.inputs import standardise_minimal
pop, permits, truth = febrl4_extracts()
std = {"population_register": standardise_minimal("population_register", pop),
       "permits": standardise_minimal("permits", permits)}
t = time.perf_counter()
ours = pairwise_metrics(link_frames(std, home_country="AUS").person_links, truth)
t1 = time.perf_counter()
plain = pairwise_metrics(plain_splink_links(std), truth)
t2 = time.perf_counter()
print(json.dumps({"reglink": {**ours, "seconds": t1 - t}, "plain_splink": {**plain, "seconds": t2 - t1},
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-4000:])
        raise SystemExit(f"bench child failed ({out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def prepare(world: Path, work: Path) -> dict[str, int]:
    """Standardise the world's extracts with the real ingest, once, into work/std/*.parquet."""
    import polars as pl

    from reglink.linkage.inputs import extracts_in, std_frames_from_extracts

    (work / "std").mkdir(parents=True, exist_ok=True)
    std = std_frames_from_extracts(extracts_in(world))
    for s, f in std.items():
        f.write_parquet(work / "std" / f"{s}.parquet")
    pl.read_parquet(world / "truth" / "record_person.parquet").write_parquet(work / "truth.parquet")
    return {s: f.height for s, f in std.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--world", type=Path, help="an existing `reglink synth` folder")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default="reuse,train")
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--febrl", action="store_true", help="FEBRL4 vs plain Splink instead")
    args = ap.parse_args(argv)
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    RESULTS.parent.mkdir(exist_ok=True)
    if args.febrl:
        runs = [_child(FEBRL_CHILD) for _ in range(args.runs)]
        med = lambda k, side: statistics.median(r[side][k] for r in runs)  # noqa: E731
        line = {"bench": "linkage_febrl4", "when": stamp, "runs": args.runs,
                "reglink": {k: med(k, "reglink") for k in ("precision", "recall", "f1", "seconds")},
                "plain_splink": {k: med(k, "plain_splink") for k in ("precision", "recall", "f1", "seconds")},
                "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs)}
        print(json.dumps(line, indent=2))
        with RESULTS.open("a") as f:
            f.write(json.dumps(line) + "\n")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-linkage-") as tmp:
        work = Path(tmp)
        world = args.world
        if world is None:
            from reglink.synth.generate import generate

            world = work / "world"
            generate(world, persons=args.persons, years=6, seed=args.seed)
        rows = prepare(world, work)
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            runs = [_child(CHILD, str(work), mode, str(args.threshold)) for _ in range(args.runs)]
            keys = ("seconds", "peak_rss_mb", "precision", "recall", "f1", "split_share",
                    "merged_share", "records", "identities", "nodes", "candidate_pairs", "persons")
            line = {"bench": "linkage", "when": stamp, "mode": mode, "world": str(args.world or ""),
                    "persons_requested": None if args.world else args.persons, "rows": rows,
                    "runs": args.runs, "threshold": args.threshold,
                    **{k: statistics.median(r[k] for r in runs) for k in keys},
                    "seconds_all": [round(r["seconds"], 2) for r in runs]}
            print(json.dumps(line, indent=2))
            with RESULTS.open("a") as f:
                f.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
