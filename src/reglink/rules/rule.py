"""Residence rules (docs/reference.md#residence-rules): the presets and custom rules, as one value type."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

Mode = Literal["cumulative", "continuous"]


@dataclass(frozen=True)
class Rule:
    """A duration-of-stay rule: a crossing is a migration when the stay (absence) it opens is long
    enough. `window_days` (W) matters only in cumulative mode, `max_absence_days` (A) only in
    continuous mode."""

    name: str
    window_days: int
    threshold_days: int
    mode: Mode = "cumulative"
    max_absence_days: int = 0
    # Continuous mode only (docs/methods.md section 4): a bridged stay (absence) must also hold
    # more than half of its first N days on its own side, so that a weekly commuter is not
    # "continuously" resident and abroad at once. Part of the rule; a custom rule may turn it off.
    majority: bool = True

    def __post_init__(self) -> None:
        if self.mode not in ("cumulative", "continuous"):
            raise ValueError(f"rule {self.name!r}: mode must be cumulative or continuous")
        if self.threshold_days <= 0:
            raise ValueError(f"rule {self.name!r}: threshold_days must be positive")
        if self.mode == "cumulative" and self.window_days < self.threshold_days:
            raise ValueError(f"rule {self.name!r}: window_days must be >= threshold_days")
        if self.max_absence_days < 0:
            raise ValueError(f"rule {self.name!r}: max_absence_days must be >= 0")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, Rule] = {
    "12-16": Rule("12-16", 487, 365, "cumulative"),
    "6-12": Rule("6-12", 365, 183, "cumulative"),
    "9-12": Rule("9-12", 365, 270, "cumulative"),
    "12-12": Rule("12-12", 365, 365, "continuous", 30),
}


def _flag(value: Any, name: str, key: str) -> bool:
    """A YAML boolean; refuses strings such as "no" that `bool()` would read as true."""
    if isinstance(value, bool):
        return value
    raise ValueError(f"rule {name!r}: {key} must be true or false, not {value!r}")


def rule_from_mapping(data: dict[str, Any], name: str = "custom") -> Rule:
    """A custom rule from `{window_days, threshold_days, mode, max_absence_days, majority}`
    (`majority` defaults to true: see `Rule`)."""
    unknown = set(data) - {"name", "window_days", "threshold_days", "mode", "max_absence_days",
                           "majority"}
    if unknown:
        raise ValueError(f"rule {name!r}: unknown key(s) {', '.join(sorted(unknown))}")
    try:
        threshold = int(data["threshold_days"])
    except KeyError:
        raise ValueError(f"rule {name!r}: threshold_days is required") from None
    mode = data.get("mode", "cumulative")
    window = int(data.get("window_days", threshold if mode == "continuous" else 0) or 0)
    if mode == "cumulative" and "window_days" not in data:
        raise ValueError(f"rule {name!r}: window_days is required in cumulative mode")
    return Rule(
        name=str(data.get("name", name)),
        window_days=window,
        threshold_days=threshold,
        mode=mode,
        max_absence_days=int(data.get("max_absence_days", 0) or 0),
        majority=_flag(data.get("majority", True), name, "majority"),
    )


def load_rule(spec: str | dict[str, Any] | Rule) -> Rule:
    """Resolve a preset name, a YAML file path, a mapping or a Rule to a Rule."""
    if isinstance(spec, Rule):
        return spec
    if isinstance(spec, dict):
        return rule_from_mapping(spec)
    if spec in PRESETS:
        return PRESETS[spec]
    path = Path(spec)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise ValueError(f"{path}: rule file not found")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a rule file must hold a mapping")
        return rule_from_mapping(data, name=data.get("name", path.stem))
    raise ValueError(
        f"unknown rule {spec!r}: expected a preset ({', '.join(PRESETS)}) or a YAML file"
    )
