"""The declared schema of the pipeline YAML, checked before anything reads it.

A typo (`rulez: 6-12`) would otherwise be ignored and the run would quietly use the default
rule; a string where a number belongs would fail deep inside a stage. Every key the code reads is
declared here with its type and range; the check reports every problem at once, one line each
naming the file, the line and the key, and is wrong usage (exit 2).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reglink.config import ConfigError, parse_bytes
from reglink.errors import UsageError
from reglink.schemas import SOURCES


class ConfigSchemaError(ConfigError, UsageError):
    """The config breaks its schema: wrong usage (exit 2), one line per problem."""


@dataclass(frozen=True)
class Spec:
    """What one key may hold. `kind`: str, path, date, size, int, float, bool, zone, list,
    map (known `keys`), dict (any keys, each value `values`), rule, tables, any."""

    kind: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None
    keys: dict[str, "Spec"] = field(default_factory=dict)
    values: "Spec | None" = None
    key_choices: tuple[str, ...] = ()  # dict: the keys allowed (empty: any)
    length: int | None = None  # list: exact length


PATH = Spec("path")
SHARE = Spec("float", 0.0, 1.0)
REGISTER_PATHS = Spec("dict", values=PATH, key_choices=SOURCES)

RULE_KEYS = {
    "name": Spec("str"),
    "window_days": Spec("int", 1, 36_600),
    "threshold_days": Spec("int", 1, 36_600),
    "mode": Spec("str", choices=("cumulative", "continuous")),
    "max_absence_days": Spec("int", 0, 36_600),
    "majority": Spec("bool"),
}

LINKAGE_KEYS = {
    "model": PATH, "retrain": Spec("bool"), "threshold": SHARE,
    "u_max_pairs": Spec("float", 1), "seed": Spec("int"), "predict_min_weight": Spec("float"),
    "review_band": Spec("list", values=SHARE, length=2), "review_sample": Spec("int", 0),
    "memory_limit": Spec("size"), "temp_directory": PATH,
    "refit": Spec("str", choices=("auto", "always", "never")), "cannot_link": Spec("bool"),
    "blocking_rules_to_generate_predictions": Spec("any"), "link_type": Spec("str"),
}

ANNEX1_KEYS = {
    "agency": Spec("str"),  # name of the agency collecting the data
    "digital_form": Spec("bool"),  # data available in digital form (default: yes, an extract)
    "shared_anonymised": Spec("bool"),  # data shared anonymised
    "disseminated_data": Spec("str"),  # type of disseminated data
    "published": Spec("str", choices=("microdata", "aggregated", "both", "none")),
    "release_frequency": Spec("str"),  # frequency of public release
    "nso_microdata_access": Spec("bool"),  # NSO has access to micro data (default: yes)
}

SCHEMA: dict[str, Spec] = {
    # the contract's keys
    "home_country": Spec("str", pattern=r"[A-Za-z]{3}"),
    "rule": Spec("rule"),
    "observed_until": Spec("date"),
    "extracts": REGISTER_PATHS,
    "warehouse": PATH,
    "reports": PATH,
    "memory_limit": Spec("size"),
    "temp_directory": PATH,
    "threads": Spec("int", 1, 4096),
    "time_zone": Spec("zone"),
    "engine": Spec("str", choices=("duckdb", "spark")),
    "spark": Spec("map", keys={"master": Spec("str"), "conf": Spec("dict", values=Spec("any")),
                               "work_dir": PATH, "checkpoint_dir": PATH, "keep_work": Spec("bool"),
                               "similarity": Spec("str", choices=("duckdb", "splink"))}),
    # keys the stages read
    "mappings": REGISTER_PATHS,
    "restricted": PATH,
    "parquet_dir": PATH,
    "landing": PATH,
    "linkage": Spec("map", keys=LINKAGE_KEYS),
    "linkage_model": PATH,
    "match_threshold": SHARE,
    "reference_dates": Spec("list", values=Spec("date")),
    "small_cell": Spec("map", keys={"method": Spec("str", choices=("suppress", "round", "none")),
                                    "threshold": Spec("int", 1, 1000),
                                    "base": Spec("int", 1, 1000)}),
    "tables": Spec("tables"),
    "publication": Spec("map", keys={"licence": Spec("str"), "licence_url": Spec("str"),
                                     "agency": Spec("str", pattern=r"[A-Za-z][A-Za-z0-9_\-]*"),
                                     "producer": Spec("str"), "contact": Spec("str")}),
    "ingest_expectations": Spec("bool"),
    "orchestration": Spec("map", keys={
        "max_quarantine_share": SHARE, "residual_tolerance": Spec("float", 0.0),
        "linkage_bands": Spec("dict", values=Spec("list", values=SHARE, length=2),
                              key_choices=SOURCES)}),
    "quality": Spec("map", keys={"rule_presets": Spec("list", values=Spec("str"))}),
    # what the toolkit's Annex 1 asks about each register that no data can tell
    "annex1": Spec("dict", key_choices=SOURCES, values=Spec("map", keys=ANNEX1_KEYS)),
}


def _tables_spec() -> Spec:
    """`tables:` is a YAML file path or a mapping of the table settings' own keys."""
    from dataclasses import fields

    from reglink.tables.settings import TableSettings

    known = sorted({f.name for f in fields(TableSettings)}
                   - {"home_country", "rule", "observed_until"})
    return Spec("map", keys={k: Spec("any") for k in known})


def _scalar(node: yaml.ScalarNode) -> Any:
    """The value YAML would load for a scalar node; its text when YAML cannot (2025-13-01
    looks like a date to YAML and fails to construct)."""
    try:
        return yaml.safe_load(yaml.serialize(node))
    except (ValueError, yaml.YAMLError):
        return str(node.value)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class _Checker:
    def __init__(self, where: str) -> None:
        self.where = where
        self.problems: list[str] = []

    def bad(self, node: yaml.Node, key: str, msg: str) -> None:
        self.problems.append(f"{self.where}: line {node.start_mark.line + 1}: {key}: {msg}")

    def mapping(self, node: yaml.Node, specs: dict[str, Spec], prefix: str) -> None:
        if not isinstance(node, yaml.MappingNode):
            self.bad(node, prefix or "config", "must be a mapping of keys to values")
            return
        seen: set[str] = set()
        for knode, vnode in node.value:
            key = str(knode.value)
            name = f"{prefix}.{key}" if prefix else key
            if key in seen:
                self.bad(knode, name, "given twice")
            seen.add(key)
            spec = specs.get(key)
            if spec is None:
                close = _closest(key, specs)
                self.bad(knode, name, "unknown key" + (f" (did you mean {close}?)" if close
                                                       else f"; expected one of "
                                                            f"{', '.join(sorted(specs))}"))
                continue
            self.value(vnode, spec, name)

    def value(self, node: yaml.Node, spec: Spec, name: str) -> None:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null"):
            return  # an empty value means the default
        kind = spec.kind
        if kind == "any":
            return
        if kind == "map":
            self.mapping(node, spec.keys, name)
            return
        if kind == "tables":
            if isinstance(node, yaml.ScalarNode):
                return  # a path to a YAML file of table settings
            self.mapping(node, _tables_spec().keys, name)
            return
        if kind == "rule":
            if isinstance(node, yaml.ScalarNode):
                return  # a preset name or a rule file; load_rule names a bad one
            self.mapping(node, RULE_KEYS, name)
            self._rule_consistent(node, name)
            return
        if kind == "dict":
            if not isinstance(node, yaml.MappingNode):
                self.bad(node, name, "must be a mapping")
                return
            for knode, vnode in node.value:
                key = str(knode.value)
                if spec.key_choices and key not in spec.key_choices:
                    self.bad(knode, f"{name}.{key}", "unknown register; expected one of "
                             + ", ".join(spec.key_choices))
                    continue
                if spec.values is not None:
                    self.value(vnode, spec.values, f"{name}.{key}")
            return
        if kind == "list":
            if not isinstance(node, yaml.SequenceNode):
                self.bad(node, name, "must be a list")
                return
            if spec.length is not None and len(node.value) != spec.length:
                self.bad(node, name, f"must be a list of {spec.length} values")
            for item in node.value:
                self.value(item, spec.values or Spec("any"), name)
            return
        if not isinstance(node, yaml.ScalarNode):
            self.bad(node, name, "must be a single value, not a list or mapping")
            return
        self.scalar(node, spec, name, _scalar(node))

    def scalar(self, node: yaml.Node, spec: Spec, name: str, v: Any) -> None:
        kind = spec.kind
        if kind in ("str", "path", "zone"):
            if not isinstance(v, str) or not v.strip():
                self.bad(node, name, f"{v!r} must be text")
                return
            if spec.pattern and not re.fullmatch(spec.pattern, v):
                self.bad(node, name, f"{v!r} is not an ISO 3166-1 alpha-3 code")
            if spec.choices and v not in spec.choices:
                self.bad(node, name, f"{v!r} is not one of {', '.join(spec.choices)}")
            if kind == "zone":
                self._zone(node, name, v)
        elif kind == "date":
            if isinstance(v, dt.datetime) or not isinstance(v, (dt.date, str)):
                self.bad(node, name, f"{v!r} is not a date YYYY-MM-DD")
            elif isinstance(v, str):
                try:
                    dt.date.fromisoformat(v)
                except ValueError:
                    self.bad(node, name, f"{v!r} is not a date YYYY-MM-DD")
        elif kind == "size":
            try:
                parse_bytes(v, name, self.where)
            except ConfigError:
                self.bad(node, name, f"{v!r} is not a size such as 12GB or 800MB")
        elif kind == "bool":
            if not isinstance(v, bool):
                self.bad(node, name, f"{v!r} is not true or false")
        elif kind in ("int", "float"):
            ok = _is_int(v) if kind == "int" else (_is_int(v) or isinstance(v, float))
            if not ok:
                self.bad(node, name, f"{v!r} is not {'a whole number' if kind == 'int' else 'a number'}")
            elif (spec.lo is not None and v < spec.lo) or (spec.hi is not None and v > spec.hi):
                lo = "" if spec.lo is None else f"at least {spec.lo:g}"
                hi = "" if spec.hi is None else f"at most {spec.hi:g}"
                self.bad(node, name, f"{v!r} is impossible: must be {' and '.join(x for x in (lo, hi) if x)}")

    def apart(self, root: yaml.MappingNode, base: Path) -> None:
        """The restricted store, the warehouse and the folders that may leave the office must
        be different places, or identifiers would land where statisticians read."""
        vals = {str(k.value): (k, v) for k, v in root.value}

        def where(key: str, default: str | None = None) -> Path | None:
            raw = _scalar(vals[key][1]) if key in vals else default
            if not raw:
                return None
            p = Path(str(raw)).expanduser()
            return (p if p.is_absolute() else base / p).resolve()

        wh = where("warehouse", "reglink.duckdb")
        rs = where("restricted") or wh.with_name(wh.stem + ".restricted.duckdb")
        node = (vals.get("restricted") or vals.get("warehouse") or (root, root))[0]
        if rs == wh:
            self.bad(node, "restricted", "is the warehouse itself; the restricted store must be "
                                         "a file of its own")
        for key in ("reports", "parquet_dir", "landing"):
            folder = where(key)
            if folder is not None and (rs.parent == folder or folder in rs.parents):
                self.bad(vals[key][0], key, f"is the folder of the restricted store ({rs}); "
                                            "keep them apart")
        for key, folder in (("temp_directory", where("temp_directory")),):
            if folder is not None and folder == rs.parent:
                self.bad(vals[key][0], key, "is the folder that holds the restricted store; "
                                            "use a folder of its own (it is made owner-only)")

    def _zone(self, node: yaml.Node, name: str, v: str) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            self.bad(node, name, f"{v!r} is not a time zone such as Pacific/Auckland")

    def _rule_consistent(self, node: yaml.MappingNode, name: str) -> None:
        vals = {str(k.value): _scalar(v) for k, v in node.value
                if isinstance(v, yaml.ScalarNode)}
        w, n = vals.get("window_days"), vals.get("threshold_days")
        if (vals.get("mode", "cumulative") == "cumulative" and _is_int(w) and _is_int(n)
                and n > w):
            self.bad(node, name, f"threshold_days {n} is impossible in a window of {w} days")


def _closest(key: str, specs: dict[str, Spec]) -> str | None:
    import difflib

    hits = difflib.get_close_matches(key, list(specs), n=1, cutoff=0.75)
    return hits[0] if hits else None


def check_config_text(text: str, where: str, base: Path | None = None) -> None:
    """Check a pipeline YAML's text against SCHEMA; raise ConfigSchemaError naming every
    problem (file, line, key) or return None."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise ConfigSchemaError(f"{where}: {line}not valid YAML: "
                                f"{getattr(exc, 'problem', None) or exc}") from None
    if root is None:
        return
    checker = _Checker(where)
    checker.mapping(root, SCHEMA, "")
    if not checker.problems and base is not None:
        checker.apart(root, base)
    if checker.problems:
        raise ConfigSchemaError("\n".join(checker.problems))


def check_config_file(path: Path) -> None:
    """`check_config_text` on a file; a missing or unreadable file is wrong usage too."""
    if not path.is_file():
        raise ConfigSchemaError(f"{path}: config file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigSchemaError(f"{path}: cannot read the config: {exc}") from None
    check_config_text(text, str(path), path.resolve().parent)
