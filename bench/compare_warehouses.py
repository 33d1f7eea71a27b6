"""Compare two warehouses table by table: row count and an order-insensitive checksum.

    python bench/compare_warehouses.py A.duckdb B.duckdb [--only TABLE ...] [--ignore TABLE ...]
        [--skip-columns COLUMN ...]

Prints one line per table present in either warehouse and exits 1 when any table differs. The
checksum is the sum of DuckDB's row hashes over every column, so row order does not matter
but every value does. Used to show that a change of partitioning or a redesign changes no
figure. What differs from run to run by design (the run's id and time in `revisions`, the
archive path and time in `ingest_log`) is left out with `--skip-columns run_id run_time file
ingested_at`.
"""
from __future__ import annotations

import argparse
import sys

import duckdb


def summary(path: str, only: list[str] | None = None,
            skip_columns: list[str] | None = None) -> dict[str, tuple[int, int]]:
    """table -> (rows, checksum) of a warehouse's main schema; `skip_columns` are left out of
    the checksum of every table that has them."""
    con = duckdb.connect(path, read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "ORDER BY 1").fetchall()]
        out = {}
        for t in tables:
            if only and t not in only:
                continue
            skip = [c for c in skip_columns or [] if c in {r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'main' "
                "AND table_name = ?", [t]).fetchall()}]
            rel = (f'(SELECT * EXCLUDE ({", ".join(chr(34) + c + chr(34) for c in skip)}) '
                   f'FROM "{t}")' if skip else f'"{t}"')
            n, h = con.execute(f'SELECT count(*), COALESCE(sum(CAST(hash(t) AS HUGEINT)), 0) '
                               f'FROM {rel} t').fetchall()[0]
            out[t] = (int(n), int(h))
        return out
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--only", nargs="*", help="compare only these tables")
    ap.add_argument("--ignore", nargs="*", default=[], help="tables to leave out")
    ap.add_argument("--skip-columns", nargs="*", default=[],
                    help="columns left out of every checksum (run ids, run times)")
    args = ap.parse_args(argv)
    a = summary(args.a, args.only, args.skip_columns)
    b = summary(args.b, args.only, args.skip_columns)
    differ = 0
    print(f"{'table':<36} {'rows A':>12} {'rows B':>12}  checksum")
    for t in sorted(set(a) | set(b)):
        if t in args.ignore:
            continue
        ra, rb = a.get(t), b.get(t)
        same = ra == rb
        differ += not same
        print(f"{t:<36} {ra[0] if ra else '-':>12} {rb[0] if rb else '-':>12}  "
              f"{'same' if same else 'DIFFERS'}")
    print(f"{differ} table(s) differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
