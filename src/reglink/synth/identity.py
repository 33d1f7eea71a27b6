"""Identifiers and spellings of persons as registers see them: passport numbers (renewed and
replaced on naturalisation), population-register numbers, addresses, and each register's
spelling of the name. Numbers come from bijective scrambles of (person, document) so they are
unique, stable for a seed, and carry no visible order.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from reglink.synth.names import NamePools, _mrz, join_given, spell
from reglink.synth.timeline import NEVER, YEAR, Period, lognormal

_L2 = np.array([a + b for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"], dtype=object)


def person_numbers(pid: np.ndarray) -> pl.Series:
    """Nine-digit population-register numbers: a bijection of the person id (mod 1e9)."""
    v = (pid.astype(np.int64) * 387_420_489 + 123_456_789) % 1_000_000_000
    return pl.Series(v).cast(pl.Utf8).str.zfill(9)


def passport_numbers(pid: np.ndarray, series: np.ndarray, k: np.ndarray) -> pl.Series:
    """Two letters and seven digits, unique per (person, passport series, renewal)."""
    m = 676 * 10_000_000
    v = (pid.astype(np.int64) * 8 + series.astype(np.int64) * 4 + (k.astype(np.int64) % 4))
    v = (v * 1_234_567_891 + 987_654_321) % m  # A coprime to m: a bijection
    letters = pl.Series(_L2.tolist()).gather(v // 10_000_000)
    digits = pl.Series(v % 10_000_000).cast(pl.Utf8).str.zfill(7)
    return letters + digits


def passport_plan(rng: np.random.Generator, a: dict[str, np.ndarray], scen: dict[str, Any],
                  period: Period) -> None:
    """First issue day and validity of each person's passport; the day the home passport
    replaces it after naturalisation."""
    n = len(a["dob"])
    pp = scen["passports"]
    child = (period.start - a["dob"]) < 16 * YEAR
    validity = np.where(child, pp["validity_years_child"], pp["validity_years_adult"]) * 365
    a["pp_validity"] = validity.astype(np.int64)
    a["pp_first"] = (np.maximum(a["dob"], period.start - validity) + rng.random(n) * validity * 0.999).astype(np.int64)
    a["pp_first"] = np.minimum(a["pp_first"], np.maximum(a["dob"], period.start))
    delay = lognormal(rng, pp["new_passport_after_naturalisation_days"], n).astype(np.int64)
    a["pp_home"] = np.where(a["nat_date"] < NEVER, a["nat_date"] + delay, NEVER)


def passport_at(a: dict[str, np.ndarray], idx: np.ndarray, pid: np.ndarray, day: np.ndarray,
                home: str) -> tuple[pl.Series, np.ndarray, np.ndarray]:
    """Passport number, issuing country and series (0 original, 1 home after naturalisation)
    held by persons `idx` on `day`."""
    series = (day >= a["pp_home"][idx]).astype(np.int64)
    base = np.where(series == 1, a["pp_home"][idx], a["pp_first"][idx])
    # k < 0: a passport that expired before the first one we know (old permits carry it)
    k = (day - base) // a["pp_validity"][idx]
    country = np.where(series == 1, home, a["cit_orig"][idx])
    return passport_numbers(pid, series, k), country, series


def addresses(rng: np.random.Generator, n: int, places: dict[str, Any]) -> dict[str, np.ndarray]:
    locs = places["localities"]
    w = np.array([float(x["weight"]) for x in locs])
    li = np.searchsorted(np.cumsum(w / w.sum()), rng.random(n), side="right").clip(0, len(locs) - 1)
    lo = np.array([int(x["postcode_from"]) for x in locs])[li]
    hi = np.array([int(x["postcode_to"]) for x in locs])[li]
    pc = lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64)
    streets = np.array(places["streets"], dtype=object)
    types = np.array(places["street_types"], dtype=object)
    num = rng.integers(1, 400, n).astype(str).astype(object)
    addr = num + " " + streets[rng.integers(0, len(streets), n)] + " " + types[rng.integers(0, len(types), n)]
    return {
        "address": addr,
        "locality": np.array([x["locality"] for x in locs], dtype=object)[li],
        "region": np.array([x["region"] for x in locs], dtype=object)[li],
        "postcode": pl.Series(pc).cast(pl.Utf8).str.zfill(4).to_numpy().astype(object),
    }


def spelled_names(rng: np.random.Generator, pools: NamePools, a: dict[str, np.ndarray], style: str,
                  rates: dict[str, float]) -> dict[str, np.ndarray]:
    """Each person's given names and surname as one register writes them (before per-record
    typos). Returns given, surname and masks of the person-level noise applied."""
    n = len(a["given1"])
    g2 = a["given2"].copy()
    drop_mid = (g2 >= 0) & (rng.random(n) < rates.get("middle_name_dropped", 0.0))
    g2[drop_mid] = -1
    if style == "passport":
        g1s = spell(pools, a["given1"], "passport", rng)
        g2s = spell(pools, g2, "passport", rng)
        ss = spell(pools, a["surname_id"], "passport", rng)
        nick = np.zeros(n, bool)
    else:
        # the original script is kept for the whole name or not at all
        native = rng.random(n) < rates.get("native_script", 0.0)
        kw = dict(variant_rate=rates.get("translit_variant", 0.0),
                  diacritics_dropped=rates.get("diacritics_dropped", 0.0), native=native)
        g1s = spell(pools, a["given1"], "latin", rng, **kw)
        g2s = spell(pools, g2, "latin", rng, **kw)
        ss = spell(pools, a["surname_id"], "latin", rng, **kw)
        nk = pools.nickname[a["given1"]]
        nick = (nk != "") & (rng.random(n) < rates.get("nickname", 0.0))
        g1s[nick] = nk[nick]
        if style == "home_passport":  # a new passport from the home country: its own romanisation
            for arr in (g1s, g2s, ss):  # only naturalised persons ever show it
                sel = np.flatnonzero(a["nat_date"] < NEVER)
                arr[sel] = [_mrz(v) if v else "" for v in arr[sel]]
    return {"given": join_given(g1s, g2s), "surname": ss, "middle_dropped": drop_mid, "nickname": nick}


def true_names(pools: NamePools, a: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    g = join_given(pools.latin[a["given1"]], np.where(a["given2"] >= 0, pools.latin[np.maximum(a["given2"], 0)], ""))
    return g, pools.latin[a["surname_id"]]
