"""Register noise on whole columns: typos, date-of-birth errors, swapped name order, nicknames,
missing values and duplicates. Each function takes the rate from the scenario and the chunk's
random generator, and returns the noisy column plus (where tests need it) the mask of rows hit.
"""
from __future__ import annotations

import numpy as np
import polars as pl

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


__all__ = ["typo", "dob_strings", "blank", "text", "series", "frame", "days_to_date"]
