"""Scenario files: the default world (synthetic/default.yaml) and user overrides merged over it.

A scenario is plain YAML so a statistician can change a noise rate without reading code; every
key is documented in docs/synthetic.md.
"""
from __future__ import annotations

import datetime as dt
from copy import deepcopy
from pathlib import Path
from typing import Any

import yaml

from reglink.errors import Problem, ReglinkError

# The repository folder holding the default scenario and the name/place lists.
DATA_DIR = Path(__file__).resolve().parents[3] / "synthetic"


def data_file(name: str) -> Path:
    """A file under synthetic/; a clear error when the checkout lacks it."""
    path = DATA_DIR / name
    if not path.exists():
        raise ReglinkError(Problem(str(path), "synthetic data file not found (run from a reglink checkout)"))
    return path


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ReglinkError(Problem(str(path), f"not valid YAML: {str(exc).splitlines()[0]}")) from None
    if not isinstance(data, dict):
        raise ReglinkError(Problem(str(path), "a scenario must be a YAML mapping"))
    return data


def merge(base: dict[str, Any], over: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Deep-merge `over` into a copy of `base`; unknown top-level keys are an error (typos)."""
    out = deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def load_scenario(path: str | Path | dict[str, Any] | None = None) -> dict[str, Any]:
    """The default scenario, with the user's file (or mapping of overrides) merged over it."""
    scen = read_yaml(data_file("default.yaml"))
    where = "synthetic/default.yaml"
    if path is not None:
        where = "scenario" if isinstance(path, dict) else str(path)
        if isinstance(path, dict):
            user = path
        else:
            path = Path(path)
            if not path.exists():
                raise ReglinkError(Problem(str(path), "scenario file not found"))
            user = read_yaml(path)
        unknown = set(user) - set(scen)
        if unknown:
            raise ReglinkError(Problem(
                where, f"unknown scenario key(s) {', '.join(sorted(unknown))}; "
                f"expected any of {', '.join(sorted(scen))}"))
        scen = merge(scen, user)
    obs = scen.get("observed_until")
    if not isinstance(obs, dt.date):
        try:
            scen["observed_until"] = dt.date.fromisoformat(str(obs))
        except ValueError:
            raise ReglinkError(Problem(where, f"observed_until: {obs!r} is not a date YYYY-MM-DD")) from None
    shares = scen.get("profiles") or {}
    if not shares or any(float(v) < 0 for v in shares.values()) or sum(map(float, shares.values())) <= 0:
        raise ReglinkError(Problem(where, "profiles: shares must be non-negative and not all zero"))
    for reg, rates in (scen.get("noise") or {}).items():
        for k, v in rates.items():
            if isinstance(v, (int, float)) and not 0 <= v <= 1:
                raise ReglinkError(Problem(where, f"noise.{reg}.{k}: {v} is not a share between 0 and 1"))
    return scen
