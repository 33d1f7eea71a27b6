"""Pipeline configuration (CONTRACTS.md section 4): one YAML file drives `reglink run`, the
Dagster resources and the demo. Relative paths resolve against the config file's folder."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reglink.rules.rule import Rule, load_rule
from reglink.schemas import SOURCES


class ConfigError(ValueError):
    """A configuration problem, reported as one line naming the file and key."""


@dataclass
class PipelineConfig:
    home_country: str = "NZL"
    rule: Rule = field(default_factory=lambda: load_rule("12-16"))
    observed_until: dt.date | None = None
    extracts: dict[str, Path] = field(default_factory=dict)
    mappings: dict[str, Path] = field(default_factory=dict)  # source -> mapping YAML
    warehouse: Path = Path("reglink.duckdb")
    restricted: Path | None = None  # default: <warehouse>.restricted.duckdb beside it
    reports: Path = Path("reports")
    parquet_dir: Path | None = None  # default: <warehouse folder>/parquet
    landing: Path | None = None  # folder watched by the Dagster sensor
    linkage_model: Path | None = None  # a saved Splink model to reuse
    match_threshold: float = 0.9
    reference_dates: list[dt.date] = field(default_factory=list)
    small_cell: dict[str, Any] = field(default_factory=lambda: {"method": "suppress", "threshold": 5})
    config_path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # the whole YAML, for stage-specific keys

    @property
    def restricted_path(self) -> Path:
        if self.restricted is not None:
            return self.restricted
        return self.warehouse.with_name(self.warehouse.stem + ".restricted.duckdb")

    @property
    def parquet_path(self) -> Path:
        return self.parquet_dir if self.parquet_dir is not None else self.warehouse.parent / "parquet"


def _date(value: Any, key: str, where: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: {key}: {value!r} is not a date YYYY-MM-DD") from None


def config_from_mapping(data: dict[str, Any], base: Path, where: str = "config") -> PipelineConfig:
    """Build a PipelineConfig from a parsed YAML mapping; `base` resolves relative paths."""

    def p(value: Any) -> Path:
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else (base / path).resolve()

    home = str(data.get("home_country", "NZL")).upper()
    if len(home) != 3 or not home.isalpha():
        raise ConfigError(f"{where}: home_country: {home!r} is not an ISO 3166-1 alpha-3 code")
    try:
        rule = load_rule(data.get("rule", "12-16") if not isinstance(data.get("rule"), str)
                         else _rule_path_or_name(data["rule"], base))
    except ValueError as exc:
        raise ConfigError(f"{where}: rule: {exc}") from None
    extracts = data.get("extracts") or {}
    if not isinstance(extracts, dict):
        raise ConfigError(f"{where}: extracts must map register names to files")
    unknown = set(extracts) - set(SOURCES)
    if unknown:
        raise ConfigError(
            f"{where}: extracts: unknown register(s) {', '.join(sorted(unknown))}; "
            f"expected any of {', '.join(SOURCES)}"
        )
    mappings = data.get("mappings") or {}
    cfg = PipelineConfig(
        home_country=home,
        rule=rule,
        observed_until=_date(data.get("observed_until"), "observed_until", where),
        extracts={k: p(v) for k, v in extracts.items() if v},
        mappings={k: p(v) for k, v in mappings.items() if v},
        warehouse=p(data.get("warehouse", "reglink.duckdb")),
        restricted=p(data["restricted"]) if data.get("restricted") else None,
        reports=p(data.get("reports", "reports")),
        parquet_dir=p(data["parquet_dir"]) if data.get("parquet_dir") else None,
        landing=p(data["landing"]) if data.get("landing") else None,
        linkage_model=p(data["linkage_model"]) if data.get("linkage_model") else None,
        match_threshold=float(data.get("match_threshold", 0.9)),
        reference_dates=[_date(d, "reference_dates", where) for d in data.get("reference_dates", [])],
        small_cell=dict(data.get("small_cell") or {"method": "suppress", "threshold": 5}),
        raw=dict(data),
    )
    return cfg


def _rule_path_or_name(spec: str, base: Path) -> str:
    candidate = base / spec
    return str(candidate) if candidate.exists() else spec


def load_config(path: str | Path) -> PipelineConfig:
    """Read a pipeline YAML file; every problem is a ConfigError naming the file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping")
    cfg = config_from_mapping(data, path.resolve().parent, where=str(path))
    cfg.config_path = path.resolve()
    return cfg
