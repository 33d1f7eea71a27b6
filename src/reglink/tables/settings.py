"""Settings of the statistical tables: age groups, duration bands, reference dates, small cells.

The defaults here are the ones shipped in `config/tables.yaml` (a test keeps the two equal). A
pipeline YAML overrides them under `tables:` (a mapping, or a path to a YAML file); the top-level
`reference_dates` and `small_cell` keys of docs/reference.md#pipeline-configuration take precedence.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from reglink.config import ConfigError, PipelineConfig
from reglink.rules.rule import Rule, load_rule

DEFAULT_BANDS: list[tuple[int, int | None, str]] = [
    (0, 0, "same day"),
    (1, 7, "1-7 days"),
    (8, 30, "8-30 days"),
    (31, 90, "1-3 months"),
    (91, 182, "3-6 months"),
    (183, None, "6 months or more"),
]


@dataclass
class TableSettings:
    """Everything the table builders need besides the data."""

    home_country: str = "NZL"
    rule: Rule = field(default_factory=lambda: load_rule("12-16"))
    observed_until: dt.date | None = None
    reference_year: int | None = None
    reference_dates: list[dt.date] = field(default_factory=list)
    age_groups: list[int] = field(default_factory=lambda: [0, 15, 25, 35, 45, 55, 65])
    flow_periods: list[str] = field(default_factory=lambda: ["month", "quarter", "year"])
    permit_evidence_min_days: int | None = None
    permit_reason_lookahead_days: int = 90
    # place imputed crossings with permit / population-register / asylum evidence
    # (rules/evidence_repair.py); false keeps the rule engine's crossings-only imputation
    evidence_repair: bool = True
    visitor_max_stay_days: int = 90
    # a resident's last EXIT declaring home residence and a trip's reason, with no deregistration
    # or permit expiry after it: impute the lost return (MISSING_LAST_ENTRY), trip capped here
    resident_trip_repair: bool = True
    resident_max_trip_days: int = 90
    duration_bands: list[tuple[int, int | None, str]] = field(default_factory=lambda: list(DEFAULT_BANDS))
    cross_border_worker: dict[str, Any] = field(
        default_factory=lambda: {"min_stays": 12, "max_stay_days": 7, "reasons": ["WORK", "BUSINESS"]})
    seasonal_worker: dict[str, Any] = field(
        default_factory=lambda: {"min_stay_days": 30, "max_stay_days": 270, "reasons": ["WORK"],
                                 "max_season_months": 9})
    circular_min_stays: int = 2
    small_cell: dict[str, Any] = field(
        default_factory=lambda: {"method": "suppress", "threshold": 5, "base": 5})
    # at least this many partitions of persons for the per-person work (more when the memory
    # budget needs them; tables/partitions.py); the figures do not depend on it
    partitions: int | None = None
    # provisional estimates of the periods whose windows are still open (tables/provisional.py)
    provisional: dict[str, Any] = field(
        default_factory=lambda: {"enabled": True, "lag_band_days": 30, "training_days": 1095,
                                 "max_training_crossings": 400000, "prior_strength": 10,
                                 "measurement_error": 0.01})
    # where immigration and emigration come from: `crossings` (the border register and the
    # residence rule), `registers` (population-register spells, tables/register_flows.py), or
    # `auto` (crossings when a border register is delivered, else registers)
    flows_source: str = "auto"
    # register-based flows: the first day the registers cover (stays starting at most a year
    # before it can be arrivals); null: the earliest deregistration or asylum application
    register_data_start: dt.date | None = None

    @property
    def evidence_days(self) -> int:
        """Minimum permit validity that counts as evidence of intention to stay."""
        from reglink.rules.inputs import evidence_days

        return evidence_days(self.rule, self.permit_evidence_min_days)

    def age_group_sql(self, age: str) -> str:
        """A portable CASE expression mapping an integer age column to its group label."""
        bounds = sorted(self.age_groups)
        parts = []
        for lo, hi in zip(bounds, bounds[1:]):
            parts.append(f"WHEN {age} >= {lo} AND {age} < {hi} THEN '{lo}-{hi - 1}'")
        parts.append(f"WHEN {age} >= {bounds[-1]} THEN '{bounds[-1]}+'")
        return "CASE " + " ".join(parts) + " ELSE 'UNKNOWN' END"

    def band_sql(self, days: str) -> str:
        """A portable CASE expression mapping a stay length (days) to its duration band."""
        parts = []
        for lo, hi, label in self.duration_bands:
            cond = f"{days} >= {int(lo)}" + (f" AND {days} <= {int(hi)}" if hi is not None else "")
            parts.append(f"WHEN {cond} THEN '{label}'")
        return "CASE " + " ".join(parts) + " ELSE 'UNKNOWN' END"


def _coerce(key: str, value: Any, where: str) -> Any:
    if key == "reference_dates":
        out = []
        for v in value or []:
            try:
                out.append(v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)))
            except ValueError:
                raise ConfigError(f"{where}: tables.reference_dates: {v!r} is not a date") from None
        return out
    if key == "duration_bands":
        return [(int(b[0]), None if b[1] is None else int(b[1]), str(b[2])) for b in value]
    if key == "small_cell":
        method = str(value.get("method", "suppress"))
        if method not in ("suppress", "round", "none"):
            raise ConfigError(f"{where}: small_cell.method: {method!r} is not suppress, round or none")
        return {"method": method, "threshold": int(value.get("threshold", 5)),
                "base": int(value.get("base", 5))}
    if key == "provisional":
        from reglink.tables.provisional import ProvisionalSettings

        allowed = set(ProvisionalSettings.__dataclass_fields__) - {"z"}
        bad = set(value or {}) - allowed
        if bad:
            raise ConfigError(f"{where}: tables.provisional: unknown key(s) {', '.join(sorted(bad))}; "
                              f"expected {', '.join(sorted(allowed))}")
        return {**TableSettings().provisional, **(value or {})}
    if key == "register_data_start":
        if value is None or isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise ConfigError(f"{where}: tables.register_data_start: {value!r} is not a date") from None
    if key == "flows_source":
        if value not in ("auto", "crossings", "registers"):
            raise ConfigError(f"{where}: tables.flows_source: {value!r} is not auto, crossings or registers")
        return value
    if key == "age_groups":
        groups = sorted(int(v) for v in value)
        if not groups or groups[0] != 0:
            raise ConfigError(f"{where}: tables.age_groups must start at 0")
        return groups
    return value


def load_settings(data: dict[str, Any] | None = None, *, base: TableSettings | None = None,
                  where: str = "tables") -> TableSettings:
    """Apply a `tables:` mapping to the defaults; unknown keys are an error naming the key."""
    s = base or TableSettings()
    known = {f.name for f in fields(TableSettings)} - {"home_country", "rule", "observed_until"}
    for key, value in (data or {}).items():
        if key not in known:
            raise ConfigError(f"{where}: unknown tables key {key!r}; expected one of {', '.join(sorted(known))}")
        if value is None and key not in ("reference_year", "permit_evidence_min_days",
                                         "register_data_start"):
            continue
        setattr(s, key, _coerce(key, value, where))
    return s


def settings_from_config(cfg: PipelineConfig) -> TableSettings:
    """Settings for a pipeline run: defaults, then `tables:`, then the top-level contract keys."""
    s = TableSettings(home_country=cfg.home_country, rule=cfg.rule, observed_until=cfg.observed_until)
    raw = cfg.raw.get("tables")
    where = str(cfg.config_path or "config")
    if isinstance(raw, str):
        path = Path(raw)
        if not path.is_absolute() and cfg.config_path is not None:
            path = cfg.config_path.parent / path
        if not path.exists():
            raise ConfigError(f"{where}: tables: file {path} not found")
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        where = str(path)
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{where}: tables must be a mapping or a YAML file path")
    s = load_settings(raw, base=s, where=where)
    if "reference_dates" in cfg.raw:
        s.reference_dates = list(cfg.reference_dates)
    if "small_cell" in cfg.raw:
        s.small_cell = _coerce("small_cell", cfg.small_cell, where)
    return s
