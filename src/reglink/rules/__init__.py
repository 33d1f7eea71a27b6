"""Residence rules and the migration-event engine (docs/reference.md#residence-rules)."""
from reglink.rules.rule import PRESETS, Rule, load_rule

__all__ = ["PRESETS", "Rule", "load_rule"]
