"""The whole pipeline at a country's size: `reglink run` end to end, per stage.

    python bench/bench_pipeline.py --persons 100000 --memory-limit 12GB --runs 3
    python bench/bench_pipeline.py --world /path/to/synth/world --memory-limit 12GB

Makes a synthetic world with `reglink synth` (or copies an existing one, leaving it untouched),
writes the budget into its config, and runs the real command in a subprocess (cold imports
included, as a user sees it) while sampling the resident memory of the whole process tree every
half second. Reports, per run: wall time, peak RSS of the run, and each stage's wall time and
peak RSS as the run prints them. The reference, measured in the same session: plain DuckDB
reading the same four extracts into a database file (the machine's floor for touching every
row once), so the pipeline's time is also given as a ratio. Appends one JSON line to
bench/results/bench_pipeline.jsonl. The median is taken over `--runs` runs (each on a fresh
warehouse).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from reglink.measure import cpu_seconds, tree_pids, tree_rss  # noqa: E402

REGLINK = ROOT / ".venv" / "bin" / "reglink"
PYTHON = ROOT / ".venv" / "bin" / "python"
STAGE_LINE = re.compile(r"^\S\s+(?P<asset>\S+)\s+(?P<detail>.*?)\s+(?P<s>[0-9.]+)s$")
PEAK = re.compile(r"peak (?P<gb>[0-9.]+) GB")
EXTRACTS = ("border_crossings", "permits", "population_register", "asylum_register")


def measured(cmd: list[str], cwd: Path | None = None) -> dict:
    """Run a command, sampling its process tree every 0.5 s: wall seconds, peak RSS, CPU seconds
    (each process's last sample, so a process living under 0.5 s may be missed), output."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, cpu = [0], {}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            peak[0] = max(peak[0], tree_rss(proc.pid))
            for p in tree_pids(proc.pid):
                cpu[p] = max(cpu.get(p, 0.0), cpu_seconds(p))

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    done.set()
    t.join()
    return {"seconds": round(time.perf_counter() - t0, 1), "peak_rss_gb": round(peak[0] / 1e9, 2),
            "cpu_seconds": round(sum(cpu.values()), 1), "returncode": proc.returncode,
            "stdout": out, "stderr": err}


def stages(stderr: str) -> dict[str, dict]:
    """Per stage, the seconds and peak RSS the run printed."""
    out = {}
    for line in stderr.splitlines():
        m = STAGE_LINE.match(line.strip())
        if not m:
            continue
        p = PEAK.search(m.group("detail"))
        out[m.group("asset")] = {"seconds": float(m.group("s")),
                                 "peak_rss_gb": float(p.group("gb")) if p else None}
    return out


REFERENCE = """
import duckdb, sys, pathlib
world = pathlib.Path(sys.argv[1])
con = duckdb.connect(str(world / "reference.duckdb"))
con.execute("SET memory_limit = '{limit}'")
for name in {extracts!r}:
    files = list(world.glob(name + ".*"))
    if not files:
        continue
    f = files[0]
    reader = "read_parquet" if f.suffix == ".parquet" else "read_csv_auto"
    con.execute(f"CREATE OR REPLACE TABLE {{name}} AS SELECT * FROM {{reader}}('{{f}}')")
    con.execute(f"SELECT count(*) FROM {{name}}").fetchall()
con.close()
"""


def reference(world: Path, limit: str) -> dict:
    """Plain DuckDB: every extract read once and stored in a database file."""
    script = REFERENCE.format(limit=limit, extracts=EXTRACTS)
    r = measured([str(PYTHON), "-c", script, str(world)])
    (world / "reference.duckdb").unlink(missing_ok=True)
    if r["returncode"] != 0:
        sys.exit(f"reference failed:\n{r['stderr']}")
    return {"seconds": r["seconds"], "peak_rss_gb": r["peak_rss_gb"]}


def prepare(world: Path, src: Path | None, persons: int, years: int, seed: int) -> int:
    """The world folder (copied or synthesised); returns the number of records."""
    if src:
        shutil.copytree(src, world, ignore=shutil.ignore_patterns(
            "*.duckdb*", ".dagster", "reports", "parquet", "archive", "tmp", "truth"))
    else:
        r = subprocess.run([str(REGLINK), "synth", "--persons", str(persons), "--years", str(years),
                            "--seed", str(seed), "--out", str(world)], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"reglink synth failed:\n{r.stderr}")
    import duckdb
    con = duckdb.connect()
    n = 0
    for name in EXTRACTS:
        for f in world.glob(name + ".parquet"):
            n += con.execute(f"SELECT count(*) FROM read_parquet('{f}')").fetchall()[0][0]
    return n


def set_budget(config: Path, memory_limit: str | None, threads: int | None) -> None:
    lines = [ln for ln in config.read_text(encoding="utf-8").splitlines()
             if not ln.startswith(("memory_limit:", "threads:"))]
    if memory_limit:
        lines.append(f"memory_limit: {memory_limit}")
    if threads:
        lines.append(f"threads: {threads}")
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")


def clean(world: Path) -> None:
    for pattern in ("*.duckdb*", ".dagster", "reports", "parquet", "archive", "tmp"):
        for p in world.glob(pattern):
            shutil.rmtree(p) if p.is_dir() else p.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=100000)
    ap.add_argument("--years", type=int, default=6)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--world", type=Path, help="an existing synth folder (copied, not modified)")
    ap.add_argument("--memory-limit", default="12GB", help="the config's memory_limit")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--workdir", type=Path, help="where to put the copy (default: a temp folder)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "bench_pipeline.jsonl")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-", dir=args.workdir) as tmp:
        world = Path(tmp) / "world"
        records = prepare(world, args.world, args.persons, args.years, args.seed)
        config = world / "reglink.yaml"
        set_budget(config, args.memory_limit, args.threads)
        ref = reference(world, args.memory_limit or "80%")
        runs = []
        for i in range(args.runs):
            clean(world)
            r = measured([str(REGLINK), "run", "--config", str(config)])
            if r["returncode"] != 0:
                sys.exit(f"reglink run failed ({r['returncode']}):\n{r['stderr'][-4000:]}")
            runs.append({"seconds": r["seconds"], "peak_rss_gb": r["peak_rss_gb"],
                         "stages": stages(r["stderr"])})
            print(f"run {i + 1}: {r['seconds']} s, peak {r['peak_rss_gb']} GB", flush=True)
    med = statistics.median(r["seconds"] for r in runs)
    result = {
        "bench": "pipeline", "persons": None if args.world else args.persons,
        "world": str(args.world or ""), "years": args.years, "seed": args.seed,
        "records": records, "memory_limit": args.memory_limit, "runs": args.runs,
        "median_seconds": med, "max_peak_rss_gb": max(r["peak_rss_gb"] for r in runs),
        "records_per_second": round(records / med) if med else None,
        "reference_plain_duckdb": ref, "ratio_to_reference": round(med / ref["seconds"], 1),
        "per_run": runs, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(result) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "per_run"}, indent=2))
    print(f"{'stage':<36} {'seconds':>9} {'peak GB':>8}")
    for name, st in runs[len(runs) // 2]["stages"].items():
        print(f"{name:<36} {st['seconds']:>9.1f} {st['peak_rss_gb'] or 0:>8.1f}")


if __name__ == "__main__":
    main()
