"""The shared foundation: schemas, rules and config load as the contracts say."""
from pathlib import Path

import pytest

from reglink.config import ConfigError, load_config
from reglink.rules import PRESETS, load_rule
from reglink.schemas import DIRECT_IDENTIFIERS, SCHEMAS, schema


def test_presets_match_contract_table():
    got = {k: (r.window_days, r.threshold_days, r.mode, r.max_absence_days) for k, r in PRESETS.items()}
    assert got == {
        "12-16": (487, 365, "cumulative", 0),
        "6-12": (365, 183, "cumulative", 0),
        "9-12": (365, 270, "cumulative", 0),
        "12-12": (365, 365, "continuous", 30),
    }


def test_custom_rule_from_yaml(tmp_path: Path):
    f = tmp_path / "r.yaml"
    f.write_text("window_days: 200\nthreshold_days: 90\nmode: cumulative\n")
    r = load_rule(str(f))
    assert (r.name, r.window_days, r.threshold_days) == ("r", 200, 90)
    with pytest.raises(ValueError, match="unknown rule"):
        load_rule("13-17")


def test_every_register_has_record_id_and_identifiers_are_restricted():
    for s in SCHEMAS.values():
        assert s.required[0] == "record_id"
    assert {"given_names", "surname", "date_of_birth", "document_number", "person_number"} <= DIRECT_IDENTIFIERS
    assert "citizenship" not in DIRECT_IDENTIFIERS
    with pytest.raises(ValueError, match="unknown source"):
        schema("passports")


def test_config_resolves_relative_paths(tmp_path: Path):
    f = tmp_path / "reglink.yaml"
    f.write_text("home_country: fra\nrule: 6-12\nextracts:\n  permits: data/p.csv\nwarehouse: w.duckdb\n")
    cfg = load_config(f)
    assert cfg.home_country == "FRA" and cfg.rule.name == "6-12"
    assert cfg.extracts["permits"] == tmp_path / "data" / "p.csv"
    assert cfg.restricted_path == tmp_path / "w.restricted.duckdb"
    f.write_text("extracts:\n  passports: x.csv\n")
    with pytest.raises(ConfigError, match="unknown register"):
        load_config(f)
