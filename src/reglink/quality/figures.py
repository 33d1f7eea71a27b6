"""A figure = one table of numbers (polars), how it was computed, the toolkit question it
answers, and optionally a chart drawn from it. Every figure is written machine-readable
(JSON and Parquet) under `reports/figures/` so auditors can check it with their own tools."""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

PERCENT_HINTS = ("share", "completeness", "validity", "rate")
PROVISIONAL_MARK = "(provisional)"


@dataclass
class Figure:
    key: str  # file stem under figures/, unique in the report
    title: str
    method: str  # how the figure was computed (Annex 1: method used for evaluating quality)
    table: pl.DataFrame | None
    toolkit: str = ""  # the toolkit / conclusions section it answers
    source: str | None = None  # register, or None for cross-register figures
    chart: str | None = None  # inline SVG
    absent: str | None = None  # why there is no table (a register not delivered, a stage not run)
    extra: dict = field(default_factory=dict)
    hidden: bool = False  # written to figures/ only (e.g. the long form of a shown table)
    hide_columns: tuple[str, ...] = ()  # kept in the data, left out of the page
    provisional: frozenset[str] = frozenset()  # years still provisional: marked where shown

    @property
    def available(self) -> bool:
        return self.table is not None

    def shown(self) -> pl.DataFrame | None:
        """The table as displayed: a register page drops the constant `source` column, and
        long hashes are shortened (the full values stay in the JSON/Parquet copies)."""
        t = self.table
        if t is None:
            return None
        if self.source and "source" in t.columns:
            t = t.drop("source")
        t = t.drop([c for c in self.hide_columns if c in t.columns])
        for c in ("sha256", "file"):
            if c in t.columns and t.schema[c] == pl.String:
                t = t.with_columns(pl.col(c).str.split("/").list.last().str.slice(0, 40)
                                   if c == "file" else pl.col(c).str.slice(0, 12) + "…")
        return t

    def headers(self) -> list[str]:
        t = self.shown()
        return [] if t is None else [c.replace("_", " ") for c in t.columns]

    def numeric(self) -> list[bool]:
        t = self.shown()
        return [] if t is None else [d.is_numeric() for d in t.dtypes]

    def rows(self, limit: int | None = None) -> list[list[str]]:
        """Cells formatted for reading: shares as percentages, counts with separators."""
        t = self.shown()
        if t is None:
            return []
        t = t if limit is None else t.head(limit)
        cols = t.columns
        return [[self._mark(fmt(v, c), c) for v, c in zip(r, cols)] for r in t.iter_rows()]

    def _mark(self, text: str, column: str) -> str:
        """A year (or a period within it) whose figures are still provisional says so."""
        if self.provisional and column in ("year", "period", "reference_year", "event_year") \
                and text[:4] in self.provisional:
            return f"{text} {PROVISIONAL_MARK}"
        return text


def fmt(v, column: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if any(h in column for h in PERCENT_HINTS):
            return f"{v * 100:.1f} %"
        if v.is_integer():
            return f"{int(v):,}"
        return f"{v:,.2f}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        plain = column in ("year", "weight_bin") or column.endswith("_year")
        return str(v) if plain else f"{v:,}"
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return str(v)


def _json_default(v):
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, float) and math.isnan(v):
        return None
    return str(v)


def write_figure(fig: Figure, folder: Path) -> list[Path]:
    """figures/<key>.json (metadata + rows) and figures/<key>.parquet (the table)."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"key": fig.key, "title": fig.title, "method": fig.method, "toolkit": fig.toolkit,
            "source": fig.source, "available": fig.available, "absent_reason": fig.absent}
    paths = []
    if fig.table is not None:
        meta["columns"] = [{"name": c, "dtype": str(d)} for c, d in fig.table.schema.items()]
        meta["rows"] = fig.table.to_dicts()
        pq = folder / f"{fig.key}.parquet"
        fig.table.write_parquet(pq)
        paths.append(pq)
    js = folder / f"{fig.key}.json"
    js.write_text(json.dumps(meta, default=_json_default, indent=1, ensure_ascii=False),
                  encoding="utf-8")
    paths.append(js)
    return paths
