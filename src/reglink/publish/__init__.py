"""The publication folder: every `pub_*` table as Parquet, CSV and SDMX-CSV (with the SDMX
structure message that defines them) and `metadata.json` beside them, so the folder that may
leave the office says what it holds, under which rule and licence, and what is provisional.

Only `pub_*` tables are written here: they already carry the small-cell protection of
reglink.tables.protect (suppressed counts are empty cells in every format), and nothing in
this module recomputes a count.
"""
from __future__ import annotations

import datetime as dt
import json
from importlib import metadata as pkg_metadata
from pathlib import Path
from typing import Any

import duckdb

from reglink.publish.definitions import column_definition, table_definition
from reglink.publish.sdmx import Layout, layout_of, write_sdmx

DEFAULT_LICENCE = "CC-BY-4.0"
LICENCE_URLS = {"CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
                "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/"}
DISCLOSURE = {
    "suppress": "Counts of 1 to {threshold_minus_1} persons are withheld (empty cell, "
                "suppressed = true; CONF_STATUS = C in SDMX), and so are further cells until "
                "none of them can be worked out from the totals, margins, accounting identity "
                "or formulas the table publishes (secondary suppression). Zeros are published.",
    "round": "Every count is rounded to the nearest multiple of {base} (halves up); totals are "
             "rounded on their own, so parts need not add up to them.",
    "none": "No protection: for internal use only, not for publication.",
}


def publication_settings(cfg: Any) -> dict[str, Any]:
    """The `publication:` keys of the config with their defaults: licence (CC-BY-4.0),
    agency (the home country's code: the SDMX maintenance agency of the structures)."""
    raw = dict((getattr(cfg, "raw", None) or {}).get("publication") or {})
    licence = str(raw.get("licence") or DEFAULT_LICENCE)
    return {"licence": licence,
            "licence_url": str(raw.get("licence_url") or LICENCE_URLS.get(licence, "")),
            "agency": str(raw.get("agency") or cfg.home_country),
            "producer": str(raw.get("producer") or ""),
            "contact": str(raw.get("contact") or "")}


def _reference_period(con: duckdb.DuckDBPyConnection, pub: str, lay: Layout) -> dict[str, Any]:
    if not lay.time:
        return {}
    lo, hi = con.execute(f'SELECT min("{lay.time}"), max("{lay.time}") FROM "{pub}"').fetchall()[0]
    return {"from": str(lo) if lo is not None else None, "to": str(hi) if hi is not None else None}


def _provisional(con: duckdb.DuckDBPyConnection, pub: str, lay: Layout) -> dict[str, Any]:
    """Which periods of the table are provisional (flows carry a status per period)."""
    if "status" not in lay.special or lay.time is None:
        return {}
    periods = [r[0] for r in con.execute(
        f'SELECT DISTINCT "{lay.time}" FROM "{pub}" WHERE status = \'provisional\' ORDER BY 1'
    ).fetchall()]
    return {"provisional_periods": periods}


def build_metadata(con: duckdb.DuckDBPyConnection, cfg: Any, settings: Any,
                   files: dict[str, dict[str, str]], pub_tables: list[str]) -> dict[str, Any]:
    """The content of metadata.json (definitions, rule, periods, provisional flags,
    disclosure rule, licence, the files of each table)."""
    pub = publication_settings(cfg)
    small = dict(settings.small_cell)
    method = str(small.get("method", "suppress"))
    threshold, base = int(small.get("threshold", 5)), int(small.get("base", 5))
    rule = settings.rule
    provisional_years = [r[0] for r in con.execute(
        "SELECT DISTINCT period FROM pub_flows WHERE period_type = 'year' AND status = 'provisional' "
        "ORDER BY 1").fetchall()] if "pub_flows" in pub_tables and "status" in layout_of(
        con, "pub_flows").special else []
    try:
        version = pkg_metadata.version("reglink")
    except pkg_metadata.PackageNotFoundError:  # running from a source tree
        version = "unknown"
    tables: dict[str, Any] = {}
    for t in pub_tables:
        lay = layout_of(con, t)
        cols = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "AND table_schema = 'main' ORDER BY ordinal_position", [t]).fetchall()]
        rows, hidden = con.execute(
            f'SELECT count(*), count(*) FILTER (WHERE suppressed) FROM "{t}"').fetchall()[0] \
            if "suppressed" in cols else (con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0], 0)
        tables[lay.table] = {
            "definition": table_definition(lay.table),
            "files": files.get(lay.table, {}),
            "sdmx": {"dataflow": f"{pub['agency']}:{lay.flow_id}(1.0)",
                     "data_structure": f"{pub['agency']}:{lay.dsd_id}(1.0)"},
            "rows": rows,
            "rows_suppressed": hidden,
            "reference_period": _reference_period(con, t, lay),
            **_provisional(con, t, lay),
            "columns": {c: dict(zip(("name", "definition"), column_definition(c))) for c in cols},
        }
    return {
        "title": "International migration statistics from administrative registers",
        "producer": pub["producer"] or None,
        "contact": pub["contact"] or None,
        "country": cfg.home_country,
        "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "software": f"reglink {version}",
        "licence": {"id": pub["licence"], "url": pub["licence_url"] or None},
        "residence_rule": {
            **rule.as_dict(),
            "meaning": "a border crossing is a migration when the stay (or absence) it starts "
                       "lasts long enough under this rule: threshold_days within window_days "
                       "(cumulative) or continuously (UN revised conceptual framework, UN "
                       "Secretary-General report 2020, annex I: duration-of-stay definitions)"},
        "observed_until": str(settings.observed_until) if settings.observed_until else None,
        "provisional": {
            "years": provisional_years,
            "meaning": "a year is final once every residence window that starts in it has "
                       "closed; until then publish persons_provisional_estimate with its 95 % "
                       "interval (ci_low, ci_high), not persons"},
        "disclosure_control": {
            "method": method,
            **({"threshold": threshold} if method == "suppress" else {}),
            **({"base": base} if method == "round" else {}),
            "rule": DISCLOSURE.get(method, "").format(threshold_minus_1=threshold - 1, base=base)},
        "codes": "CSV and Parquet hold the warehouse's values (ALL in dimensions a row is not "
                 "broken down by, UNKNOWN for missing); SDMX-CSV holds SDMX codes (_T total, "
                 "_U unknown) whose names in structure.xml are those values",
        "structure": "structure.xml",
        "tables": tables,
    }


def write_publication(con: duckdb.DuckDBPyConnection, folder: Path, cfg: Any,
                      settings: Any) -> list[Path]:
    """Write `<table>.csv`, `<table>.sdmx.csv`, `structure.xml` and `metadata.json` for every
    pub_ table into `folder` (where the Parquet copies already are); the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pub_tables = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_name LIKE 'pub\\_%' ESCAPE '\\' ORDER BY 1").fetchall()]
    if not pub_tables:
        return []
    written: list[Path] = []
    files: dict[str, dict[str, str]] = {}
    for t in pub_tables:
        name = t.removeprefix("pub_")
        path = folder / f"{name}.csv"
        target = str(path).replace("'", "''")
        con.execute(f"COPY (SELECT * FROM \"{t}\") TO '{target}' (FORMAT CSV, HEADER)")
        written.append(path)
        files[name] = {"csv": path.name, "sdmx_csv": f"{name}.sdmx.csv"}
        if (folder / f"{name}.parquet").exists():
            files[name]["parquet"] = f"{name}.parquet"
    agency = publication_settings(cfg)["agency"]
    written += list(write_sdmx(con, folder, pub_tables, agency).values())
    meta = folder / "metadata.json"
    meta.write_text(json.dumps(build_metadata(con, cfg, settings, files, pub_tables), indent=2,
                               ensure_ascii=False) + "\n", encoding="utf-8")
    written.append(meta)
    return written
