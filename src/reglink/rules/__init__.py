"""Residence rules and the migration-event engine (CONTRACTS.md section 2)."""
from reglink.rules.rule import PRESETS, Rule, load_rule

__all__ = ["PRESETS", "Rule", "load_rule"]
