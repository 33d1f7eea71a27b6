"""Benchmark ingest & validation: `reglink validate` (streaming, no rows kept) and `ingest_all`
(the pipeline stage: std_* and quarantine_* into the restricted store) on all four registers
of a synthetic world, next to the machine's limit: one plain DuckDB query per register that
reads the same file and applies the same row checks (required values, code lists, countries,
date parsing, ranges and order, duplicate record_ids) and must flag exactly the rows reglink
quarantines. Rows per second, the ratio reglink / DuckDB and peak memory; the median of --runs
runs, the three kinds interleaved so a busy machine slows them alike.

Each run is a fresh child process that reports its own peak RSS (ru_maxrss of itself), so the
figures are per run. The Great Expectations import (seconds, once per process) is timed apart.

    .venv/bin/python bench/bench_ingest.py --persons 100000 --runs 3
    .venv/bin/python bench/bench_ingest.py --world /tmp/reglink-sample/p2000 --runs 3
    .venv/bin/python bench/bench_ingest.py --persons 20000 --format csv --no-expectations
    .venv/bin/python bench/bench_ingest.py --world /work/worlds/w100k --runs 3 --memory-limit 12GB
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCES = ("border_crossings", "permits", "population_register", "asylum_register")


# -- the machine's limit: the same row checks as one DuckDB query per register ---------------
# (canonical layout and ISO dates, as `reglink synth` writes; a mapped extract is not covered)

def q(v): return "'" + str(v).replace("'", "''") + "'"

def reference_sql(source: str, path: Path, home_country: str = "NZL") -> str:
    """SELECT rows_in, flagged: every row check of reglink.ingest.checks plus duplicate
    record_ids, written as set-based SQL over the file (countries against `_countries`)."""
    import duckdb

    from reglink.ingest.checks import ISCO_RE, MAX_DATE, MIN_DATE
    from reglink.ingest.standardise import CODE_ALIASES
    from reglink.schemas import schema

    sch = schema(source)
    read = (f"read_parquet({q(path)})" if path.suffix == ".parquet"
            else f"read_csv({q(path)}, all_varchar=true, header=true)")
    cols = [c for c in sch.columns]
    fails, derived, stage1, stage3 = [], [], [], []
    today = dt.date.today()
    for c in cols:
        n = c.name
        if c.required:
            fails.append(f"{n} IS NULL")
        if c.kind == "code":
            alias = CODE_ALIASES.get(n, {})
            expr = f"upper(trim({n}))"
            if alias:
                expr = f"coalesce(map_extract(MAP {{{', '.join(f'{q(k)}: {q(v)}' for k, v in alias.items())}}}, {expr})[1], {expr})"
            fails.append(f"({n} IS NOT NULL AND {expr} NOT IN ({', '.join(q(x) for x in c.codes)}))")
        elif c.kind == "country":
            key = (f"trim(regexp_replace(regexp_replace(replace(replace(upper(strip_accents({n})), '&', ' AND '), chr(39), ''), "
                   f"'[^A-Z0-9 ]+', ' ', 'g'), '\\s+', ' ', 'g'))")
            fails.append(f"({n} IS NOT NULL AND NOT ({key} IN (SELECT key FROM _countries) "
                         f"OR coalesce(CAST(try_cast({key} AS INTEGER) AS VARCHAR) IN (SELECT key FROM _countries), false)))")
        elif c.kind == "isco":
            fails.append(f"({n} IS NOT NULL AND NOT regexp_full_match({n}, {q(ISCO_RE[1:-1])}))")
        elif c.kind == "date":
            dob = n == "date_of_birth"
            stage1.append(f"regexp_extract({n}, '^(\\d{{4}})-(\\d{{1,2}})-(\\d{{1,2}})(?:[T ].*)?$', ['y','m','d']) AS {n}__p")
            y, m, d = (f"try_cast(nullif({n}__p.{k}, '') AS INTEGER)" for k in "ymd")
            if dob:
                py = f"try_cast(regexp_extract({n}, '^(\\d{{4}})(?:-(\\d{{2}}))?$', 1) AS INTEGER)"
                pm = f"coalesce(try_cast(nullif(regexp_extract({n}, '^(\\d{{4}})(?:-(\\d{{2}}))?$', 2), '') AS INTEGER), 0)"
                y, m, d = (f"coalesce({y}, {py})", f"CASE WHEN {y} IS NULL AND {py} IS NOT NULL THEN {pm} ELSE {m} END",
                           f"CASE WHEN {y} IS NULL AND {py} IS NOT NULL THEN 0 ELSE {d} END")
            derived.append(f"{y} AS {n}__y, {m} AS {n}__m, {d} AS {n}__d")
            stage3.append(f"CASE WHEN {n}__m BETWEEN 1 AND 12 AND {n}__d BETWEEN 1 AND 31 THEN try_cast(printf('%04d-%02d-%02d', {n}__y, {n}__m, {n}__d) AS DATE) END AS {n}__date")
            yy, mm, dd, dte = f"{n}__y", f"{n}__m", f"{n}__d", f"{n}__date"
            partial = f"(({mm} = 0 OR {dd} = 0) AND {mm} <= 12 AND {dd} <= 31)"
            upper = min(today, MAX_DATE) if dob else MAX_DATE
            fails.append(f"({n} IS NOT NULL AND {yy} IS NULL)")  # unparseable
            fails.append(f"({n} IS NOT NULL AND {yy} IS NOT NULL AND NOT {partial} AND {dte} IS NULL)")  # impossible
            if not dob:
                fails.append(f"({n} IS NOT NULL AND {partial})")
            fails.append(f"coalesce({dte} < DATE {q(MIN_DATE)} OR {dte} > DATE {q(upper)}, false)")
            fails.append(f"coalesce({partial} AND ({yy} < {MIN_DATE.year} OR {yy} > {upper.year}), false)")
    names = {c.name for c in cols}
    for a, b in sch.date_order:
        if a in names and b in names:
            cond = f"coalesce({a}__date > {b}__date, false)"
            if a == "date_of_birth":
                cond += f" OR coalesce({a}__y > {b}__y, false)"
            fails.append(f"({cond})")
    have = set(duckdb.sql(f"DESCRIBE SELECT * FROM {read}").df()["column_name"])
    raw = ", ".join(f"nullif(trim(CAST({c.name} AS VARCHAR)), '') AS {c.name}" if c.name in have
                    else f"NULL::VARCHAR AS {c.name}" for c in cols)
    return (f"WITH r AS (SELECT row_number() OVER () AS rn, {raw} FROM {read}), "
            f"p1 AS (SELECT *, {', '.join(stage1) if stage1 else '1 AS _x1'} FROM r), "
            f"p2 AS (SELECT *, {', '.join(derived) if derived else '1 AS _x2'} FROM p1), "
            f"p AS (SELECT *, {', '.join(stage3) if stage3 else '1 AS _x3'} FROM p2), "
            f"f AS (SELECT rn, record_id, ({' OR '.join(fails)}) AS bad FROM p), "
            f"d AS (SELECT *, row_number() OVER (PARTITION BY record_id ORDER BY rn) > 1 AND record_id IS NOT NULL AS dup FROM f) "
            f"SELECT count(*) AS rows_in, count(*) FILTER (WHERE bad OR dup) AS flagged FROM d")


CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
world, work, mode, suites = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
t = time.perf_counter()
if suites:
    import great_expectations  # noqa: F401  (timed apart: a fixed cost per process)
gx_import = time.perf_counter() - t
from reglink.config import load_config, parse_bytes
from reglink.ingest import ingest_all, ingest_extract
cfg = load_config(world / "reglink.yaml")
if sys.argv[5] != "-":
    cfg.memory_limit = parse_bytes(sys.argv[5])
cfg.temp_directory = work / "tmp"
out = {"mode": mode, "gx_import_s": gx_import, "sources": {}}
t0 = time.perf_counter()
if mode == "duckdb":
    sys.path.insert(0, sys.argv[6])
    import duckdb, polars as pl
    from bench_ingest import reference_sql
    from reglink.ingest.countries import lookup
    con = cfg.budget.apply(duckdb.connect())
    con.register("_c", pl.DataFrame({"key": list(lookup())}).to_arrow())
    con.execute("CREATE TABLE _countries AS SELECT key FROM _c")
    t0 = time.perf_counter()
    for s, path in cfg.extracts.items():
        t = time.perf_counter()
        n, flagged = con.execute(reference_sql(s, Path(path), cfg.home_country)).fetchall()[0]
        out["sources"][s] = {"rows": n, "seconds": time.perf_counter() - t, "quarantined": flagged}
elif mode == "validate":
    for s, path in cfg.extracts.items():
        t = time.perf_counter()
        r = ingest_extract(s, path, keep_rows=False, suite=suites, budget=cfg.budget)
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


def one_run(world: Path, mode: str, suites: bool, work: Path, memory_limit: str | None) -> dict:
    for f in work.glob("wh*.duckdb*"):
        f.unlink()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run([sys.executable, "-c", CHILD, str(world), str(work), mode,
                           "1" if suites else "0", memory_limit or "-",
                           str(Path(__file__).resolve().parent)],
                          capture_output=True, text=True, env=env)
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
    ap.add_argument("--memory-limit", help="the run's budget (config memory_limit), e.g. 12GB")
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
        by_mode: dict[str, list[dict]] = {"duckdb": [], "validate": [], "ingest": []}
        for _ in range(args.runs):  # interleaved: a busy shared machine slows all three alike
            for mode in by_mode:
                by_mode[mode].append(one_run(world, mode, suites, work, args.memory_limit))
        result["memory_limit"] = args.memory_limit
        for mode, runs in by_mode.items():
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
            if mode in ("validate", "duckdb"):
                entry["per_source_rows_per_s"] = {
                    s: round(rows[s] / statistics.median(r["sources"][s]["seconds"] for r in runs))
                    for s in rows}
            result[mode] = entry
        ref = result["duckdb"]
        for mode in ("validate", "ingest"):
            result[mode]["duckdb_ratio"] = round(result[mode]["median_s"] / ref["median_s"], 2)
            if result[mode]["quarantined"] != ref["quarantined"]:
                result[mode]["duckdb_flagged_differs"] = ref["quarantined"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=2))
    ref = result["duckdb"]
    print(f"\n{'':10}{'rows':>11}{'median s':>10}{'rows/s':>10}{'x DuckDB':>10}{'peak RSS MB':>13}")
    for mode in ("duckdb", "validate", "ingest"):
        e = result[mode]
        print(f"{mode:10}{e['rows_total']:>11,}{e['median_s']:>10}{e['rows_per_s']:>10,}"
              f"{e.get('duckdb_ratio', 1.0):>10}{e['peak_rss_mb']:>13,}")
    if any("duckdb_flagged_differs" in result[m] for m in ("validate", "ingest")):
        print("note: the DuckDB query flags a different number of rows than reglink quarantines")
    out = Path(__file__).parent / "results" / "bench_ingest.jsonl"
    out.parent.mkdir(exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps(result) + "\n")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
