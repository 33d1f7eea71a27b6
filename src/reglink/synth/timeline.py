"""Days and random helpers shared by the simulation.

Dates are int32 day numbers (days since 1970-01-01) inside the simulation: arithmetic on arrays is
then plain numpy, and conversion to polars Date is a cast.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

EPOCH = dt.date(1970, 1, 1)
NEVER = 10_000_000  # a day number that stands for "does not happen"
YEAR = 365.25


def day(d: dt.date) -> int:
    return (d - EPOCH).days


def date_of(n: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(n))


@dataclass(frozen=True)
class Period:
    """The registers cover start..observed_until; the truth is simulated to `end`."""

    start: int
    observed_until: int
    end: int
    home: str

    @classmethod
    def from_scenario(cls, scen: dict[str, Any], years: int) -> "Period":
        obs: dt.date = scen["observed_until"]
        try:
            first = obs.replace(year=obs.year - years) + dt.timedelta(days=1)
        except ValueError:  # 29 February
            first = (obs - dt.timedelta(days=1)).replace(year=obs.year - years) + dt.timedelta(days=2)
        return cls(day(first), day(obs), day(obs) + int(scen["truth_horizon_days"]),
                   str(scen["home_country"]).upper())


def lognormal(rng: np.random.Generator, spec: dict[str, float], n: int) -> np.ndarray:
    """Lognormal draws from {median, sigma}."""
    return float(spec["median"]) * np.exp(float(spec["sigma"]) * rng.standard_normal(n))


def choice_map(rng: np.random.Generator, mapping: dict[str, float], n: int) -> np.ndarray:
    """n draws of the keys of a {value: weight} mapping, as a fixed-width string array."""
    keys = list(mapping)
    w = np.array([float(mapping[k]) for k in keys])
    idx = np.searchsorted(np.cumsum(w / w.sum()), rng.random(n), side="right").clip(0, len(keys) - 1)
    return np.array(keys)[idx]


def uniform_days(rng: np.random.Generator, lo: np.ndarray | int, hi: np.ndarray | int, n: int) -> np.ndarray:
    """Integer days uniform in [lo, hi) (hi > lo assumed; clipped to lo otherwise)."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    span = np.maximum(hi - lo, 1)
    return (lo + np.floor(rng.random(n) * span)).astype(np.int64)
