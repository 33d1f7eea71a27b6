"""Pipeline configuration (docs/reference.md#pipeline-configuration): one YAML file drives `reglink run`, the
Dagster resources and the demo. Relative paths resolve against the config file's folder."""
from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reglink.rules.rule import Rule, load_rule
from reglink.schemas import SOURCES


class ConfigError(ValueError):
    """A configuration problem, reported as one line naming the file and key."""


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_bytes(value: Any, key: str = "memory_limit", where: str = "config") -> int:
    """'12GB', '800MB', '4GiB' or a number of bytes -> bytes (DuckDB's units: GB = 10^9)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
    if not m or m.group(2).upper() not in _UNITS:
        raise ConfigError(f"{where}: {key}: {value!r} is not a size such as 12GB or 800MB")
    n = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if n <= 0:
        raise ConfigError(f"{where}: {key}: {value!r} must be more than zero")
    return n


def machine_memory() -> int:
    """Physical memory of this machine in bytes (cgroup limit when lower)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for cg in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(cg, encoding="ascii").read().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


@dataclass(frozen=True)
class Budget:
    """The resources of one whole run, shared by every stage (config keys `memory_limit`,
    `temp_directory`, `threads`). SQL work gets DuckDB's own limit and spills to
    `temp_directory`; per-person work in Python runs in partitions of persons sized to fit."""

    memory_limit: int  # bytes, the whole run
    temp_directory: Path
    threads: int

    # The budget's split: DuckDB's buffer pool (it spills past it), the per-person frames of
    # the partitioned stages, and a reserve for the interpreter, Arrow buffers passed between
    # the two and the allocators' slack (measured at 1 M persons: docs/operations.md)
    DUCKDB_SHARE = 0.4
    FRAME_SHARE = 0.35
    # whatever the budget, DuckDB gets this much: grouping sets with distinct counts (flows)
    # cannot spill below it
    DUCKDB_FLOOR_MIB = 256

    def duckdb_limit_for(self, share: float = 1.0) -> str:
        """DuckDB's `memory_limit` setting for a connection that gets `share` of DuckDB's part
        of the budget (two connections open at once get half each)."""
        return f"{max(int(self.memory_limit * self.DUCKDB_SHARE * share) // 2**20, self.DUCKDB_FLOOR_MIB)}MiB"

    @property
    def duckdb_limit(self) -> str:
        """DuckDB's `memory_limit` setting for the one connection of a stage."""
        return self.duckdb_limit_for(1.0)

    @property
    def frame_bytes(self) -> int:
        """Memory a stage may hold in Python frames at once."""
        return int(self.memory_limit * self.FRAME_SHARE)

    def apply(self, con: Any, share: float = 1.0) -> Any:
        """Set DuckDB's limit (`share` of DuckDB's part), spill folder and threads on a
        connection; returns it."""
        self.temp_directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        con.execute(f"SET memory_limit = '{self.duckdb_limit_for(share)}'")
        con.execute(f"SET temp_directory = '{self.temp_directory}'")
        con.execute(f"SET threads = {int(self.threads)}")
        return con


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
    memory_limit: int | None = None  # bytes; default 60 % of the machine's memory
    temp_directory: Path | None = None  # default: <warehouse folder>/tmp
    threads: int | None = None  # default: all cores
    time_zone: str | None = None  # tz-aware timestamps are dated here; default: home_zone()

    engine: str = "duckdb"  # duckdb or spark: which engine runs linkage and the per-person work
    spark: dict[str, Any] = field(default_factory=lambda: spark_of({}))  # master, conf
    config_path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # the whole YAML, for stage-specific keys

    @property
    def restricted_path(self) -> Path:
        if self.restricted is not None:
            return self.restricted
        return self.warehouse.with_name(self.warehouse.stem + ".restricted.duckdb")

    @property
    def budget(self) -> Budget:
        """The run's resources, defaults filled in (60 % of RAM, spill beside the warehouse)."""
        return Budget(
            memory_limit=self.memory_limit or int(machine_memory() * 0.6),
            temp_directory=self.temp_directory or self.warehouse.parent / "tmp",
            threads=self.threads or os.cpu_count() or 1)

    @property
    def zone(self) -> str | None:
        """Where dates of tz-aware timestamps are taken: `time_zone`, else the home country's
        principal zone (None for a country without one: timestamps then keep their own zone)."""
        return self.time_zone or home_zone(self.home_country)

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
        memory_limit=(parse_bytes(data["memory_limit"], "memory_limit", where)
                      if data.get("memory_limit") else None),
        temp_directory=p(data["temp_directory"]) if data.get("temp_directory") else None,
        threads=_threads(data.get("threads"), where),
        time_zone=str(data["time_zone"]) if data.get("time_zone") else None,

        engine=engine_of(data, where),
        spark=spark_of(data, where),
        raw=dict(data),
    )
    return cfg


def home_zone(alpha3: str) -> str | None:
    """The principal IANA time zone of a country (the first the time-zone database lists for
    it: Pacific/Auckland for NZL, America/New_York for USA), or None."""
    import pycountry

    country = pycountry.countries.get(alpha_3=alpha3.upper())
    if country is None:
        return None
    try:
        import importlib.resources
        text = importlib.resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text()
    except (ImportError, OSError):
        try:
            text = Path("/usr/share/zoneinfo/zone.tab").read_text(encoding="utf-8")
        except OSError:
            return None
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0] == country.alpha_2:
            return parts[2]
    return None

ENGINES = ("duckdb", "spark")


def engine_of(data: dict[str, Any], where: str = "config") -> str:
    """The `engine:` key (duckdb by default): the same pipeline, on one machine or on Spark."""
    engine = str(data.get("engine") or "duckdb").lower()
    if engine not in ENGINES:
        raise ConfigError(f"{where}: engine: {engine!r} is not one of {', '.join(ENGINES)}")
    return engine


def spark_of(data: dict[str, Any], where: str = "config") -> dict[str, Any]:
    """The `spark:` block (master, conf), defaults filled in: `local[*]`, no extra settings."""
    block = data.get("spark") or {}
    if not isinstance(block, dict):
        raise ConfigError(f"{where}: spark: expected a mapping with master and conf")
    conf = block.get("conf") or {}
    if not isinstance(conf, dict):
        raise ConfigError(f"{where}: spark: conf: expected a mapping of Spark settings")
    return {**block, "master": str(block.get("master") or "local[*]"),
            "conf": {str(k): str(v) for k, v in conf.items()}}


def with_engine(cfg: PipelineConfig, engine: str | None) -> PipelineConfig:
    """`cfg` with its engine replaced (`reglink run --engine` overrides the config); unchanged
    when `engine` is empty."""
    if not engine:
        return cfg
    import dataclasses

    return dataclasses.replace(cfg, engine=engine_of({"engine": engine}, "--engine"))


def _threads(value: Any, where: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where}: threads: {value!r} is not a whole number of at least 1")
    return value


def _rule_path_or_name(spec: str, base: Path) -> str:
    candidate = base / spec
    return str(candidate) if candidate.exists() else spec


def load_config(path: str | Path) -> PipelineConfig:
    """Read a pipeline YAML file; every problem is a ConfigError naming the file."""
    from reglink.config_schema import check_config_file

    path = Path(path)
    check_config_file(path)  # unknown keys, wrong types, impossible values: exit 2
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a YAML mapping")
    cfg = config_from_mapping(data, path.resolve().parent, where=str(path))
    cfg.config_path = path.resolve()
    return cfg
