"""build_tables(cfg) end to end on files: small-cell protection, Parquet export, no identifiers."""
import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from reglink.config import ConfigError, config_from_mapping
from reglink.errors import ReglinkError
from reglink.store import assert_no_identifiers, is_identifier_column
from reglink.tables import build_tables
from example_world import build_example, write_world
from reglink.tables.protect import protect_sql
from reglink.tables.settings import TableSettings, load_settings, settings_from_config


def _stores(tmp_path: Path, **yaml_extra) -> "object":
    cfg = config_from_mapping({"home_country": "NZL", "rule": "12-16", "observed_until": "2024-12-31",
                               "warehouse": "wh.duckdb", **yaml_extra}, tmp_path)
    con = duckdb.connect(str(cfg.warehouse))
    con.execute(f"ATTACH '{cfg.restricted_path}' AS restricted")
    write_world(con)
    con.execute("DETACH restricted")
    con.close()
    return cfg


def test_build_tables_end_to_end(tmp_path: Path):
    cfg = _stores(tmp_path, reference_dates=["2022-12-31"], small_cell={"method": "suppress", "threshold": 2})
    counts = build_tables(cfg)
    assert counts["persons"] == 7 and counts["migration_events"] == 5
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    assert_no_identifiers(con)  # the restricted store was detached; nothing leaked
    for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
        cols = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
        assert not [c for c in cols if is_identifier_column(c)], table
        assert "date_of_birth" not in cols and "given_names" not in cols
    # configured reference date only
    dates = {r[0] for r in con.execute("SELECT DISTINCT reference_date FROM stocks").fetchall()}
    assert dates == {dt.date(2022, 12, 31)}
    # every table exported; publication copies apart, unprefixed
    pq = cfg.parquet_path
    for table, rows in counts.items():
        path = pq / "publication" / f"{table[4:]}.parquet" if table.startswith("pub_") else pq / f"{table}.parquet"
        assert path.exists(), path
        assert pl.read_parquet(path).height == rows, table
    assert not list((pq / "publication").glob("pub_*"))
    assert not (pq / "publication" / "persons.parquet").exists()  # microdata is never published
    con.close()


def test_suppression_in_publication_copies(tmp_path: Path):
    cfg = _stores(tmp_path, small_cell={"method": "suppress", "threshold": 3})
    build_tables(cfg)
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    raw = con.execute("SELECT persons FROM stocks WHERE reference_date = DATE '2022-12-31' "
                      "AND population = 'RESIDENT' AND breakdown = 'subpopulation' "
                      "AND subpopulation IN ('NATIVE_BORN_CITIZEN', 'FOREIGN_BORN_FOREIGN_CITIZEN') "
                      "ORDER BY subpopulation").fetchall()
    pub = con.execute("SELECT persons, suppressed FROM pub_stocks WHERE reference_date = DATE '2022-12-31' "
                      "AND population = 'RESIDENT' AND breakdown = 'subpopulation' "
                      "AND subpopulation IN ('NATIVE_BORN_CITIZEN', 'FOREIGN_BORN_FOREIGN_CITIZEN') "
                      "ORDER BY subpopulation").fetchall()
    assert raw == [(2,), (3,)]  # foreign-born foreign 2, native-born citizens 3
    # 2 is below the threshold; 3 is hidden too, or total 5 minus 3 would give the 2 back
    assert pub == [(None, True), (None, True)]
    total = con.execute("SELECT persons FROM pub_stocks WHERE reference_date = DATE '2022-12-31' "
                        "AND population = 'RESIDENT' AND breakdown = 'total'").fetchall()
    assert total == [(5,)]
    # zeros are not suppressed
    zero = con.execute("SELECT persons, suppressed FROM pub_toolkit_table_3_1 WHERE cell = 'F'").fetchall()
    assert zero == [(0, False)]
    # a hidden flows row hides its provisional estimates too: persons_final of a final period
    # is persons itself, the estimate and its interval are built from it
    from reglink.tables.protect import WITH_ROW

    hidden = con.execute("SELECT count(*) FROM pub_flows WHERE suppressed").fetchall()[0][0]
    leaks = con.execute(f"SELECT count(*) FROM pub_flows WHERE suppressed AND "
                        f"({' OR '.join(f'{c} IS NOT NULL' for c in WITH_ROW['flows'])})").fetchall()
    assert hidden > 0 and leaks == [(0,)]
    shown = con.execute("SELECT count(*) FROM pub_flows p JOIN flows f USING (period_type, period, "
                        "event_type, breakdown, sex, age_group, citizenship, country_of_birth, "
                        "subpopulation, country, reason) WHERE NOT p.suppressed "
                        "AND p.persons_final = f.persons_final AND p.ci_high = f.ci_high").fetchall()
    assert shown == con.execute("SELECT count(*) FROM pub_flows WHERE NOT suppressed").fetchall()
    con.close()


def test_rounding_method():
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('a', 0), ('b', 2), ('c', 3), ('d', 7), ('e', 13)) v(k, persons)")
    con.execute("CREATE TABLE p AS " + protect_sql("t", ["k", "persons"], "persons", ("persons",), "round", 5, 5))
    assert con.execute("SELECT persons FROM p ORDER BY k").fetchall() == [(0,), (0,), (5,), (5,), (15,)]


def test_round_via_config(tmp_path: Path):
    cfg = _stores(tmp_path, small_cell={"method": "round", "base": 10})
    build_tables(cfg)
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    vals = [r[0] for r in con.execute("SELECT persons FROM pub_flows").fetchall()]
    assert vals and all(v % 10 == 0 for v in vals)
    finals = [r[0] for r in con.execute("SELECT persons_final FROM pub_flows").fetchall()]
    assert finals and all(v % 10 == 0 for v in finals)  # rounded with the row's counts
    con.close()


def test_missing_inputs_are_one_clear_error(tmp_path: Path):
    cfg = config_from_mapping({"warehouse": "wh.duckdb"}, tmp_path)
    with pytest.raises(ReglinkError, match="restricted store not found"):
        build_tables(cfg)
    cfg = _stores(tmp_path)
    con = duckdb.connect(str(cfg.warehouse))
    con.execute("DROP TABLE person_links")
    con.close()
    with pytest.raises(ReglinkError, match="person_links is missing"):
        build_tables(cfg)


def test_settings_file_matches_code_defaults():
    import yaml

    shipped = Path(__file__).resolve().parents[1] / "config" / "tables.yaml"
    s = load_settings(yaml.safe_load(shipped.read_text()))
    assert s == TableSettings()
    with pytest.raises(ConfigError, match="unknown tables key"):
        load_settings({"age_bands": [0, 10]})


def test_tables_key_overrides(tmp_path: Path):
    cfg = config_from_mapping({"warehouse": "w.duckdb", "tables": {"age_groups": [0, 18, 65],
                                                                   "reference_year": 2023}}, tmp_path)
    s = settings_from_config(cfg)
    assert s.age_groups == [0, 18, 65] and s.reference_year == 2023
    assert "WHEN x >= 65 THEN '65+'" in s.age_group_sql("x")


def test_a_world_without_border_crossings_still_builds():
    con, counts = build_example(border=[])
    # without border data the flows come from the population register's spells
    # (tests/test_tables_register_flows.py): here Dora's deregistration for emigration (the
    # registers' flows begin at their first deregistration, 2023-03-01); Gus's permit alone is
    # an expected immigration, not an event
    assert counts["crossings"] == 0
    ev = con.execute("SELECT person_key, event_type FROM migration_events ORDER BY ALL").fetchall()
    assert ev == [("P4", "EMIGRATION")]
    # register-only persons are still resident
    n = con.execute("SELECT persons FROM stocks WHERE reference_date = DATE '2022-12-31' "
                    "AND population = 'RESIDENT' AND breakdown = 'total'").fetchall()
    assert n == [(5,)]  # Ana, Ben, Dora, Eli, Fay by the register alone
