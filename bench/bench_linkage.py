"""Benchmark person linkage (`reglink.linkage.link_frames`): runtime, peak memory, pairwise
precision/recall/F1 and the share of true persons split or merged, against a synthetic world's
truth; and FEBRL4 (public, with true links) against a plain Splink model on the same fields.

The world is standardised once by the real ingest (not timed) and kept as Parquet (`--std DIR`
keeps it for later runs); each run is a fresh child process that links it the way the pipeline
does (DuckDB scans the Parquet, `link.link_relations`; timed) and reports its own peak RSS
(ru_maxrss) for linking and with the accuracy evaluation, so the figures are per run. The median of --runs runs is reported for each model mode:
`reuse` links with the saved model under config/linkage (what the pipeline does), `train`
trains a new one without labels first.

    .venv/bin/python bench/bench_linkage.py --persons 100000 --runs 3
    .venv/bin/python bench/bench_linkage.py --world /tmp/reglink-sample/p2000 --runs 3 --modes reuse
    .venv/bin/python bench/bench_linkage.py --world W --std /tmp/w-std --runs 1 --memory-limit 4GB
    .venv/bin/python bench/bench_linkage.py --febrl --runs 1
    .venv/bin/python bench/bench_linkage.py --public febrl3
    .venv/bin/python bench/bench_linkage.py --public fake_1000 fake_1000.csv
    .venv/bin/python bench/bench_linkage.py --public historical_50k historical_figures_with_errors_50k.parquet

Every run prints pairwise precision/recall/F1 and the person-level figures
(reglink.linkage.evaluate): the share of true persons exactly recovered (all their records under
one person_key holding nobody else's), persons split, persons merged and keys merged; on a
synthetic world also per kind of hard case (namesake, twin, junior/senior), per kind of person
(look-alike, near look-alike, namesake born the same year, ...: evaluate.person_kinds) and
the merged and split shares standardised to a fixed mix of those kinds, so that worlds of
different sizes compare. `--public NAME
[FILE]` runs a public benchmark (reglink.linkage.public; docs/linkage.md says where the files
are) in each mode and the Splink authors' example model for it; `--historical FILE` is
`--public historical_50k FILE`.
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

from reglink.linkage.public import BENCHMARKS

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "bench_linkage.jsonl"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import polars as pl
work, mode, threshold = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
memory_limit = sys.argv[4] if len(sys.argv) > 4 else None
options = set(sys.argv[5].split(",")) if len(sys.argv) > 5 else set()
from reglink.linkage import pairwise_metrics
from reglink.linkage.link import DEFAULT_MEMORY_LIMIT, link_relations, linkage_connection
from reglink.linkage.pipeline import CONFIG_DIR, parquet_relations
model = CONFIG_DIR / "model-v1.json" if mode == "reuse" else work / "trained.json"
t = time.perf_counter()
# as the pipeline does: the std tables stay in DuckDB (here Parquet), only the linkage
# columns the pipeline reads are scanned (its own number and registration dates included),
# and record-level work is SQL
con = linkage_connection(memory_limit or DEFAULT_MEMORY_LIMIT)
sources = parquet_relations(work / "std")
res = link_relations(con, sources, model_path=model, retrain=(mode == "train"), threshold=threshold,
                     cannot_link="no-cannot-link" not in options)
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
truth = pl.read_parquet(work / "truth.parquet")
by = persons = None
if (work / "persons.parquet").exists():
    persons = pl.read_parquet(work / "persons.parquet")
    by = persons.select("person_id", "hard_case",
                        *(["citizenship"] if "citizenship" in persons.columns else []))
m = pairwise_metrics(res.person_links, truth, by=by, persons=persons)
peak_eval = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "peak_rss_with_eval_mb": peak_eval, **m,
                  **{k: v for k, v in res.stats.items() if isinstance(v, (int, float))}}))
"""

FEBRL_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])  # the FEBRL4 extracts are a test helper (tests/febrl.py)
from reglink.linkage import link_frames, pairwise_metrics
from febrl import febrl4_extracts, plain_splink_links
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

PUBLIC_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from reglink.linkage import link_frames, pairwise_metrics
from reglink.linkage.inputs import standardise_minimal
from reglink.linkage.pipeline import CONFIG_DIR
from reglink.linkage.public import load
name, mode, tmp = sys.argv[1], sys.argv[2], Path(sys.argv[3])
path = Path(sys.argv[4]) if len(sys.argv) > 4 else None
bench, raw = load(name, path)
truth = bench.truth(raw)
t = time.perf_counter()
if mode == "splink":  # the Splink authors' published example model, trained on it without labels
    out = pairwise_metrics(bench.example_links(raw), truth)
else:
    # reuse: the saved model, fitted to the delivery as the pipeline does (refit auto); train: a
    # model trained on this data without labels
    std = {bench.register: standardise_minimal(bench.register, bench.extract(raw))}
    model = CONFIG_DIR / "model-v1.json" if mode == "reuse" else tmp / "trained.json"
    res = link_frames(std, model_path=model, retrain=(mode == "train"))
    out = {**pairwise_metrics(res.person_links, truth),
           **{k: res.stats.get(k) for k in ("model_used", "model_reason", "clusters_split",
                                            "cannot_link_dob", "dob_else_share_delivery")}}
out["seconds"] = time.perf_counter() - t
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
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
    write_persons(world, work)
    (work / "world.json").write_bytes((world / "truth" / "world.json").read_bytes())
    return {s: f.height for s, f in std.items()}


def prepared_from(world: Path, work: Path) -> bool:
    """Whether `work` holds the standardised extracts of this very `world` (its truth's
    world.json, copied when prepared): a folder prepared from another world, or by a version
    that did not record it, is prepared again rather than scored against the wrong truth."""
    mine, theirs = work / "world.json", world / "truth" / "world.json"
    return ((work / "truth.parquet").exists() and mine.exists() and theirs.exists()
            and mine.read_bytes() == theirs.read_bytes())


def write_persons(world: Path, work: Path) -> None:
    """The truth's persons the figures are broken down by, into work/persons.parquet: the kind
    of hard case, and the fields that make look-alikes (evaluate.lookalikes)."""
    import polars as pl

    from reglink.linkage.evaluate import LOOKALIKE_FIELDS

    persons = pl.read_parquet(world / "truth" / "persons.parquet")
    if "hard_case" not in persons.columns:
        persons = persons.with_columns(pl.lit("").alias("hard_case"))
    persons.select("person_id", "hard_case", *LOOKALIKE_FIELDS).write_parquet(work / "persons.parquet")


PUBLIC_KEYS = ("precision", "recall", "f1", "exact_share", "persons_exact", "persons_split",
               "persons_merged", "keys_merged", "true_persons", "records", "seconds", "peak_rss_mb")


def _public(args: argparse.Namespace, stamp: str) -> int:
    """One public benchmark: reglink in each mode and the Splink example, one child each."""
    name, *rest = args.public
    if name not in BENCHMARKS or len(rest) > 1:
        raise SystemExit(f"--public takes NAME [FILE]; NAME one of {', '.join(BENCHMARKS)}")
    if not rest and not BENCHMARKS[name].packaged:
        raise SystemExit(f"--public {name} needs its FILE ({BENCHMARKS[name].file} from the "
                         "splink_datasets repository)")
    file = [str(Path(rest[0]).resolve())] if rest else []
    with tempfile.TemporaryDirectory(prefix="bench-public-") as tmp:
        example = _child(PUBLIC_CHILD, name, "splink", tmp, *file)
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            r = _child(PUBLIC_CHILD, name, mode, tmp, *file)
            line = {"bench": f"linkage_{name}", "dataset": name, "when": stamp, "mode": mode,
                    "reglink": {k: r.get(k) for k in (*PUBLIC_KEYS, "model_used", "model_reason",
                                                      "clusters_split", "cannot_link_dob",
                                                      "dob_else_share_delivery")},
                    "splink_example": {k: example.get(k) for k in PUBLIC_KEYS},
                    "splink_example_model": BENCHMARKS[name].example_doc}
            print(json.dumps(line, indent=2))
            with RESULTS.open("a") as f:
                f.write(json.dumps(line) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--world", type=Path, help="an existing `reglink synth` folder")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", default="reuse,train")
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--memory-limit", help="DuckDB memory_limit for linkage (default 6GB)")
    ap.add_argument("--no-cannot-link", action="store_true",
                    help="cluster without the cannot-link constraints (for comparison)")
    ap.add_argument("--std", type=Path, help="keep the standardised world here (reused if present)")
    ap.add_argument("--febrl", action="store_true", help="FEBRL4 vs plain Splink instead")
    ap.add_argument("--public", nargs="+", metavar=("NAME", "FILE"),
                    help="a public benchmark (reglink.linkage.public: " + ", ".join(BENCHMARKS)
                         + ") from its local FILE (febrl3 needs none) vs the Splink authors' "
                           "example model for it, instead")
    ap.add_argument("--historical", type=Path, metavar="FILE",
                    help="the same as --public historical_50k FILE")
    args = ap.parse_args(argv)
    stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    RESULTS.parent.mkdir(exist_ok=True)
    if args.historical:  # the older spelling of --public historical_50k FILE
        args.public = ["historical_50k", str(args.historical)]
    if args.public:
        return _public(args, stamp)
    if args.febrl:
        runs = [_child(FEBRL_CHILD, str(HERE.parent / "tests")) for _ in range(args.runs)]
        med = lambda k, side: statistics.median(r[side][k] for r in runs)  # noqa: E731
        line = {"bench": "linkage_febrl4", "when": stamp, "runs": args.runs,
                "reglink": {k: med(k, "reglink") for k in ("precision", "recall", "f1", "exact_share",
                                                          "persons_split", "persons_merged", "seconds")},
                "plain_splink": {k: med(k, "plain_splink") for k in ("precision", "recall", "f1", "exact_share",
                                                                    "persons_split", "persons_merged", "seconds")},
                "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs)}
        print(json.dumps(line, indent=2))
        with RESULTS.open("a") as f:
            f.write(json.dumps(line) + "\n")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-linkage-") as tmp:
        work = args.std or Path(tmp)
        world = args.world
        if world is None:
            from reglink.synth.generate import generate

            world = work / "world"
            generate(world, persons=args.persons, years=6, seed=args.seed)
        if args.std and prepared_from(world, work):
            import polars as pl

            rows = {p.stem: pl.scan_parquet(p).select(pl.len()).collect().item()
                    for p in (work / "std").glob("*.parquet")}
            write_persons(world, work)  # a folder an older version prepared lacks some fields
        else:
            rows = prepare(world, work)
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            opts = "no-cannot-link" if args.no_cannot_link else ""
            runs = [_child(CHILD, str(work), mode, str(args.threshold), args.memory_limit or "", opts)
                    for _ in range(args.runs)]
            keys = ("seconds", "peak_rss_mb", "peak_rss_with_eval_mb", "precision", "recall", "f1",
                    "exact_share", "expected_exact_share", "persons_exact", "persons_split",
                    "persons_merged", "persons_wrong", "keys_merged", "true_persons", "split_share",
                    "merged_share", "persons_lookalike", "persons_merged_lookalike",
                    "merged_share_without_lookalikes", "persons_near_lookalike",
                    "persons_merged_near_lookalike", "merged_share_of_lookalikes",
                    "merged_share_of_near_lookalikes", "merged_share_of_others",
                    "merged_share_standardised", "split_share_standardised", "records", "identities",
                    "nodes", "candidate_pairs", "persons", "clusters_split", "split_parts")
            line = {"bench": "linkage", "when": stamp, "mode": mode, "world": str(args.world or ""),
                    "persons_requested": None if args.world else args.persons, "rows": rows,
                    "runs": args.runs, "threshold": args.threshold, "cannot_link": not args.no_cannot_link,
                    **{k: statistics.median(r[k] for r in runs) for k in keys if k in runs[0]},
                    **{k: runs[-1][k] for k in ("by_kind", "by_hard_case", "by_citizenship") if k in runs[-1]},
                    "seconds_all": [round(r["seconds"], 2) for r in runs]}
            print(json.dumps(line, indent=2))
            with RESULTS.open("a") as f:
                f.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
