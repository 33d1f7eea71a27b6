"""The pipeline's checks as library functions: the Dagster asset checks (`every_record_linked`
and `linkage_rates` on person_links, `residual_within_tolerance` on accounting) only wrap
them. Kept out of the stage packages so that loading the Dagster definitions imports no
linkage or table-building code.

What a register can link to depends on the registers delivered: each register declares a
minimum share of its records whose person is also in each other register (`link_minimums` in
reglink.schemas, calibrated on the synthetic world: a linkage that silently stops linking falls
below them), and a register's band is set by its best partner among those delivered.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from reglink import store
from reglink.schemas import REGISTERS, SOURCES

# per register, per partner register: the minimum share linked (from the declarations)
PAIR_MINIMUMS: dict[str, dict[str, float]] = {n: dict(r.link_minimums) for n, r in REGISTERS.items()}


@dataclass
class CheckOutcome:
    """A check's verdict, what it means in words, and its figures."""

    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)


def linkage_bands(delivered: set[str] | list[str],
                  overrides: dict | None = None) -> dict[str, tuple[float, float]]:
    """[min, max] share of each delivered register's records linked to another register: the
    largest pair minimum over the other registers delivered; `overrides` (config
    orchestration.linkage_bands, per register [min, max]) win."""
    got = set(delivered)
    bands = {r: (max((m for p, m in PAIR_MINIMUMS.get(r, {}).items() if p in got), default=0.0), 1.0)
             for r in got}
    bands.update({k: tuple(v) for k, v in (overrides or {}).items()})
    return bands


DEFAULT_LINKAGE_BANDS = linkage_bands(PAIR_MINIMUMS)


def linkage_rates(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, float]]:
    """Per register in person_links: records, persons, and the share of its records whose
    person is also found in another register."""
    rows = con.execute("""
        WITH src AS (SELECT person_key, count(DISTINCT source) AS n_src
                     FROM person_links GROUP BY person_key)
        SELECT l.source, count(*) AS records, count(DISTINCT l.person_key) AS persons,
               avg(CASE WHEN s.n_src > 1 THEN 1.0 ELSE 0.0 END) AS cross_rate
        FROM person_links l JOIN src s USING (person_key)
        GROUP BY l.source ORDER BY l.source""").fetchall()
    return {s: {"records": r, "persons": p, "cross_register_rate": float(c)} for s, r, p, c in rows}


def accepted_records(restricted_path: Path) -> dict[str, int]:
    """Accepted (standardised) records per register in the restricted store."""
    con = store.connect(restricted_path, private=True)
    try:
        have = set(store.tables(con))
        return {s: con.execute(f'SELECT count(*) FROM "std_{s}"').fetchall()[0][0]
                for s in SOURCES if f"std_{s}" in have}
    finally:
        con.close()


def every_record_linked(std: dict[str, int], rates: dict[str, dict[str, float]],
                        records: int) -> CheckOutcome:
    """Each accepted record has exactly one person_key: per register as many links as accepted
    records, and no more links in all."""
    missing = {s: (n, rates.get(s, {}).get("records", 0)) for s, n in std.items()
               if rates.get(s, {}).get("records", 0) != n}
    ok = not missing and records == sum(std.values())
    desc = ("every accepted record has one person_key" if ok else
            "; ".join(f"{s}: {n} accepted records, {got} in person_links"
                      for s, (n, got) in missing.items())
            or f"{records} links for {sum(std.values())} records")
    return CheckOutcome(ok, desc)


def rates_within_bands(rates: dict[str, dict[str, float]],
                       overrides: dict | None = None) -> CheckOutcome:
    """Each register's share of records linked to another register within its band (no check
    with a single register: it cannot link to another one)."""
    bands = linkage_bands(set(rates), overrides)
    out_of_band = []
    if len(rates) > 1:
        for s, r in rates.items():
            lo, hi = bands.get(s, (0.0, 1.0))
            if not lo <= r["cross_register_rate"] <= hi:
                out_of_band.append(f"{s}: {r['cross_register_rate']:.1%} of records linked to "
                                   f"another register, expected {lo:.0%}-{hi:.0%}")
    desc = "; ".join(out_of_band) or ", ".join(
        f"{s} {r['cross_register_rate']:.1%}" for s, r in rates.items())
    return CheckOutcome(not out_of_band, desc,
                        {s: round(r["cross_register_rate"], 4) for s, r in rates.items()})


DEFAULT_RESIDUAL_TOLERANCE = 0.02


def residual_within_tolerance(con: duckdb.DuckDBPyConnection,
                              tolerance: float = DEFAULT_RESIDUAL_TOLERANCE) -> CheckOutcome:
    """The accounting identity holds: in the worst year, the sum of |residual| over the
    subpopulations as a share of the stock at the start of the year (small cells alone would
    make any share look large) is within `tolerance` (config orchestration.residual_tolerance).
    The columns are those reglink.tables.catalog declares for `accounting`."""
    worst = con.execute(
        "SELECT max(r), sum(n), count(*) FROM (SELECT year AS y, "
        "sum(abs(residual)) / greatest(sum(stock_start), 1) AS r, sum(abs(residual)) AS n "
        "FROM accounting WHERE stock_start IS NOT NULL AND subpopulation <> 'TOTAL' "
        "GROUP BY 1)").fetchall()[0]
    share = float(worst[0] or 0.0)
    return CheckOutcome(share <= tolerance,
                        f"worst year: |residuals| sum to {share:.2%} of the stock at its start "
                        f"(tolerance {tolerance:.0%}); {worst[1] or 0} persons unaccounted over "
                        f"{worst[2]} years",
                        {"max_residual_share": round(share, 5), "tolerance": tolerance})


DEFAULT_MAX_QUARANTINE_SHARE = 0.10


def row_accounting(summary: dict, stored: dict[str, int]) -> CheckOutcome:
    """Rows in = accepted + quarantined, and the restricted store holds exactly those rows for
    the delivery (`stored`: std and quarantine counts, reglink.ingest.store_writer)."""
    balanced = summary["rows_in"] == summary["rows_accepted"] + summary["rows_quarantined"]
    stored_ok = (stored.get("std") == summary["rows_accepted"]
                 and stored.get("quarantine") == summary["rows_quarantined"])
    return CheckOutcome(balanced and stored_ok,
                        f"{summary['rows_in']} rows in = {summary['rows_accepted']} accepted + "
                        f"{summary['rows_quarantined']} quarantined; stored {stored.get('std')} + "
                        f"{stored.get('quarantine')}", {"balanced": balanced})


def quarantine_within_limit(summary: dict, limit: float = DEFAULT_MAX_QUARANTINE_SHARE
                            ) -> CheckOutcome:
    """The share of a delivery's rows quarantined is within `limit` (config
    orchestration.max_quarantine_share); an empty delivery passes and says so."""
    n = summary["rows_in"]
    share = summary["rows_quarantined"] / n if n else 0.0
    top = sorted(summary["reasons"].items(), key=lambda kv: -kv[1])[:3]
    desc = (f"{share:.1%} of {n} rows quarantined (limit {limit:.0%})"
            + (f"; top reasons: {', '.join(f'{r} {k}' for r, k in top)}" if top else "")
            + ("" if n else "; the extract has no data rows (an empty delivery: nothing of this "
                            "register enters the tables from it)"))
    return CheckOutcome(share <= limit, desc,
                        {"quarantine_share": round(share, 4), "limit": limit,
                         "expectations_failed": ", ".join(
                             summary.get("expectations_failed", [])) or "none"})
