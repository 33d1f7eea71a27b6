"""Register noise on whole columns: typos, date-of-birth errors, swapped name order, nicknames,
missing values and duplicates. Each function takes the rate from the scenario and the chunk's
random generator, and returns the noisy column plus (where tests need it) the mask of rows hit.
`invalid_records` turns a share of a register's records into ones its validation must reject.
"""
from __future__ import annotations

import datetime as dt
import re
from calendar import monthrange
from typing import Any

import numpy as np
import polars as pl

from reglink.schemas import SCHEMAS

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def typo(rng: np.random.Generator, values: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """One keying error (substitute, delete, insert, transpose) in a share `rate` of the values."""
    values = values.astype(object)
    hit = rng.random(len(values)) < rate if rate > 0 else np.zeros(len(values), bool)
    cand = np.flatnonzero(hit)
    short = np.array([not isinstance(values[i], str) or len(values[i]) < 3 for i in cand], dtype=bool)
    hit[cand[short]] = False
    idx = np.flatnonzero(hit)
    if len(idx):
        ops = rng.integers(0, 4, len(idx))
        pos_u = rng.random(len(idx))
        let = rng.integers(0, 26, len(idx))
        out = values.copy()
        for j, i in enumerate(idx):
            s = values[i]
            p = 1 + int(pos_u[j] * (len(s) - 2))  # keep the first letter (as most typos do)
            c = _LETTERS[let[j]]
            c = c.upper() if s[p].isupper() else c
            op = ops[j]
            if op == 3 and s[p] == s[p - 1]:
                op = 0  # transposing equal letters changes nothing: substitute instead
            if op == 0:
                if c == s[p]:
                    c = "E" if s[p] != "E" else "A"
                    c = c if s[p].isupper() else c.lower()
                new = s[:p] + c + s[p + 1:]
            elif op == 1:
                new = s[:p] + s[p + 1:]
            elif op == 2:
                new = s[:p] + c + s[p:]
            else:
                new = s[:p - 1] + s[p] + s[p - 1] + s[p + 1:]
            out[i] = new
        values = out
    return values, hit


def dob_strings(rng: np.random.Generator, dob_days: np.ndarray, swap: float, partial: float,
                jan1: float = 0.0, before: np.ndarray | None = None
                ) -> tuple[pl.Series, np.ndarray, np.ndarray, np.ndarray]:
    """ISO dates of birth with day/month swaps (only where the swap is still a valid, different
    date, and not after `before` — the record's own event date, which the register would
    reject), partial dates (`YYYY-00-00`, `YYYY-MM-00`) and unknown dates written as 1 January.
    Returns the strings and the masks of rows swapped, made partial and set to 1 January."""
    n = len(dob_days)
    d = pl.Series("d", dob_days.astype(np.int32)).cast(pl.Date)
    y = d.dt.year().to_numpy()
    m = d.dt.month().to_numpy()
    dd = d.dt.day().to_numpy()
    u = rng.random(n)
    sw = (u < swap) & (dd <= 12) & (dd != m)
    if before is not None and sw.any():
        swapped = (pl.DataFrame({"y": y, "m": np.where(sw, dd, m), "d": np.where(sw, m, dd)})
                   .select(pl.date("y", "m", "d").cast(pl.Int32)).to_series().to_numpy())
        sw &= swapped <= before
    part = (u >= swap) & (u < swap + partial)
    j1 = (u >= swap + partial) & (u < swap + partial + jan1) & ~((m == 1) & (dd == 1))
    mm = np.where(sw, dd, m)
    dy = np.where(sw, m, dd)
    year_only = rng.random(n) < 0.7
    mm = np.where(part & year_only, 0, mm)
    dy = np.where(part, 0, dy)
    mm = np.where(j1, 1, mm)
    dy = np.where(j1, 1, dy)
    s = (pl.DataFrame({"y": y, "m": mm, "d": dy})
         .select(pl.format("{}-{}-{}", pl.col("y").cast(pl.Utf8).str.zfill(4),
                           pl.col("m").cast(pl.Utf8).str.zfill(2), pl.col("d").cast(pl.Utf8).str.zfill(2)))
         .to_series())
    return s, sw, part, j1


def series(values) -> pl.Series:
    """A polars Series from a numpy array; fixed-width unicode goes through Python objects,
    which polars converts ~10x faster than numpy's '<U' buffers."""
    if isinstance(values, pl.Series):
        return values
    values = np.asarray(values)
    if values.dtype.kind == "U":
        values = values.astype(object)
    return pl.Series(values)


def frame(columns: dict) -> pl.DataFrame:
    """A DataFrame from numpy arrays / Series, converting text arrays the fast way."""
    return pl.DataFrame({k: series(v) for k, v in columns.items()})


def text(values: np.ndarray, null: np.ndarray | None = None) -> pl.Series:
    """A text column from a numpy array; "" (and rows in `null`) become missing values."""
    s = series(values).cast(pl.Utf8)
    mask = s == ""
    if null is not None:
        mask = mask | pl.Series(null)
    return s.to_frame("v").select(pl.when(~mask).then(pl.col("v"))).to_series()


def blank(rng: np.random.Generator, values: np.ndarray, rate: float) -> pl.Series:
    """Missing values: a share `rate` set to null (and "" is null too)."""
    return text(values, rng.random(len(values)) < rate if rate > 0 else None)


def days_to_date(days: np.ndarray) -> pl.Series:
    return pl.Series(days.astype(np.int32)).cast(pl.Date)


# --- invalid records ----------------------------------------------------------------------------
#
# A record turned invalid carries one fault that the register's validation (reglink.ingest.checks
# and the expectation suites) must reject, named by the column the quarantine will name. The
# faults are the kinds of error real extracts carry; all survive Parquet (dates stay dates, a
# date of birth is text) and CSV. Documented in docs/synthetic.md ("Invalid records").

# Local codes a register's mapping does not translate (outside the code list and the aliases of
# reglink.ingest.standardise.CODE_ALIASES), by canonical column and canonical value.
LOCAL_CODES: dict[str, dict[str | None, str]] = {
    "sex": {"M": "1", "F": "2", "X": "9", None: "0"},  # ISO/IEC 5218 digits
    "direction": {"ENTRY": "I", "EXIT": "O"},
    "travel_reason": {"HOLIDAY": "HOL", "BUSINESS": "BUS", "WORK": "WRK", "STUDY": "STU",
                      "FAMILY": "FAM", "HEALTH": "MED", "ASYLUM": "ASY", "TRANSIT": "TRN",
                      "RETURN_HOME": "RES", "SETTLE": "MIG", "OTHER": "OTH"},
    "permit_kind": {"RESIDENCE": "PR", "WORK": "WP", "STUDY": "SV", "VISA": "VV", "OTHER": "OT"},
    "purpose": {"WORK": "EMPLOYMENT", "STUDY": "EDUCATION", "FAMILY": "PARTNERSHIP",
                "HUMANITARIAN": "REFUGEE", "OTHER": "TOURISM"},
    "registration_reason": {"BIRTH": "NEWBORN", "IMMIGRATION": "ARRIVAL", "OTHER": "TRANSFER"},
    "deregistration_reason": {"DEATH": "DECEASED", "EMIGRATION": "DEPARTED", "OTHER": "UNKNOWN"},
    "decision": {"PENDING": "OPEN", "REFUGEE": "GRANTED", "SUBSIDIARY": "PROTECTED",
                 "REJECTED": "DECLINED", "WITHDRAWN": "ABANDONED"},
}
INVALID_KINDS = ("missing_required", "unknown_code", "unknown_country", "date_out_of_range",
                 "impossible_date", "unparseable_date", "date_order")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_YEARS = (1880, 2100)  # reglink.ingest.checks MIN_DATE / MAX_DATE


def _year_transposed(year: int) -> int | None:
    """The year with its first two digits transposed (1987 -> 9187, 2021 -> 0221) when that
    lands outside the plausible range, else None."""
    y = f"{year:04d}"
    t = int(y[1] + y[0] + y[2:])
    return t if t > 0 and not _YEARS[0] <= t <= _YEARS[1] else None


def _bad_country(rng: np.random.Generator, code: str) -> str:
    """A keying error in an alpha-3 code (two adjacent letters transposed) that is no spelling
    of any country (`GBR` -> `GRB`, never `BGR`, Bulgaria); `ZZZ` when neither transposition is."""
    from reglink.ingest.countries import country_key, lookup

    table = lookup()
    first = int(rng.integers(0, 2))
    for p in (first, 1 - first):
        if len(code) == 3 and code[p] != code[p + 1]:
            cand = code[:p] + code[p + 1] + code[p] + code[p + 2:]
            if country_key(cand) not in table:
                return cand
    return "ZZZ"


def _faults(source: str, row: dict[str, Any]) -> dict[str, list[tuple[str, Any]]]:
    """The faults applicable to one record: kind -> [(column named by the quarantine, how)]."""
    sch = SCHEMAS[source]
    out: dict[str, list[tuple[str, Any]]] = {k: [] for k in INVALID_KINDS}
    for c in sch.required:
        if c != "record_id" and row.get(c) is not None:  # record_id is never touched
            out["missing_required"].append((c, "null"))
    for c in sch.columns:
        v = row.get(c.name)
        if c.kind == "code" and c.name in LOCAL_CODES and v in LOCAL_CODES[c.name]:
            out["unknown_code"].append((c.name, "local_code"))
        elif c.kind == "isco" and v is not None:
            out["unknown_code"].append((c.name, "six_digits"))
        elif c.kind == "country" and v is not None:
            out["unknown_country"].append((c.name, "transposed"))
        elif c.kind == "date" and v is not None:
            if isinstance(v, dt.date):
                if _year_transposed(v.year) is not None:
                    out["date_out_of_range"].append((c.name, "year_transposed"))
                continue
            m = _ISO_DATE.match(v)  # date of birth: text, maybe partial (YYYY-00-00)
            if m is None:
                continue
            if _year_transposed(int(m.group(1))) is not None:
                out["date_out_of_range"].append((c.name, "year_transposed"))
            if int(m.group(3)) > 12 and int(m.group(2)) > 0:
                out["impossible_date"].append((c.name, "day_month_swapped"))
            out["unparseable_date"].append((c.name, "dd_mm_yyyy"))
    for early, late in sch.date_order:
        a, b = row.get(early), row.get(late)
        if early != "date_of_birth" and a is not None and b is not None and a < b:
            out["date_order"].append((late, early))
    return {k: v for k, v in out.items() if v}


def _apply_fault(rng: np.random.Generator, row: dict[str, Any], column: str,
                 how: Any) -> dict[str, Any]:
    """The changed values of one record (column -> new value)."""
    v = row[column]
    if how == "null":
        return {column: None}
    if how == "local_code":
        return {column: LOCAL_CODES[column][v]}
    if how == "six_digits":  # a national 6-digit code (ANZSCO-like) where ISCO-08 is expected
        return {column: v.ljust(4, "0") + f"{int(rng.integers(0, 100)):02d}"}
    if how == "transposed":
        return {column: _bad_country(rng, v)}
    if how == "year_transposed":
        if isinstance(v, dt.date):
            y = _year_transposed(v.year)
            return {column: dt.date(y, v.month, min(v.day, monthrange(y, v.month)[1]))}
        return {column: f"{_year_transposed(int(v[:4])):04d}{v[4:]}"}
    if how == "day_month_swapped":  # YYYY-DD-MM with DD > 12: month 13..31
        return {column: f"{v[:4]}-{v[8:10]}-{v[5:7]}"}
    if how == "dd_mm_yyyy":
        return {column: f"{v[8:10]}/{v[5:7]}/{v[:4]}"}
    # date order: the two dates keyed in each other's field
    return {column: row[how], how: v}


def invalid_records(rng: np.random.Generator, df: pl.DataFrame, source: str,
                    rate: float) -> tuple[pl.DataFrame, pl.Series]:
    """Turn a share `rate` of the records into ones the register's validation rejects: one
    fault each, the kind chosen uniformly among those the record allows, then the column
    uniformly. Returns the frame and a label per row (`invalid:<column>`, null when untouched).
    `record_id` is never changed. `rng` is a stream of its own, so the rest of the world does
    not depend on the rate."""
    n = df.height
    labels = pl.Series("invalid", [None] * n, dtype=pl.Utf8)
    hit = np.flatnonzero(rng.random(n) < rate) if rate > 0 and n else np.zeros(0, np.int64)
    if not len(hit):
        return df, labels
    updates: dict[str, tuple[list[int], list[Any]]] = {}
    names: list[str] = []
    for i in hit.tolist():
        row = df.row(i, named=True)
        options = _faults(source, row)
        kinds = [k for k in INVALID_KINDS if k in options]
        kind = kinds[int(rng.integers(0, len(kinds)))]
        column, how = options[kind][int(rng.integers(0, len(options[kind])))]
        for c, v in _apply_fault(rng, row, column, how).items():
            updates.setdefault(c, ([], []))
            updates[c][0].append(i)
            updates[c][1].append(v)
        names.append(f"invalid:{column}")
    df = df.with_columns([df.get_column(c).scatter(idx, pl.Series(vals, dtype=df.schema[c]))
                          for c, (idx, vals) in updates.items()])
    return df, labels.scatter(hit, pl.Series(names, dtype=pl.Utf8))


def add_label(noise: pl.Series, labels: pl.Series) -> pl.Series:
    """Append labels (null: nothing) to a comma-separated noise column."""
    return pl.select(pl.when(labels.is_null()).then(noise)
                     .when(noise == "").then(labels)
                     .otherwise(noise + "," + labels)).to_series().alias(noise.name)


__all__ = ["typo", "dob_strings", "blank", "text", "series", "frame", "days_to_date",
           "invalid_records", "add_label", "LOCAL_CODES", "INVALID_KINDS"]
