"""Provisional estimates (reglink.tables.provisional): hand-worked propagation along a person's
undecided crossings, days on each side at a lag, and the flows / revisions columns on the
example world."""
import datetime as dt

import duckdb
import polars as pl
import pytest

from reglink.config import ConfigError
from reglink.rules.rule import load_rule
from reglink.tables import provisional as pv
from example_world import build_example, example_settings
from reglink.tables.settings import load_settings

D = dt.date


def _frame(con, name, rows):
    con.register("_f", pl.DataFrame(rows))
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _f")
    con.unregister("_f")


def test_propagation_along_a_chain_by_hand():
    con = duckdb.connect()
    # A: resident; EXIT p=.4 (model), ENTRY p=.5 (model): the entry can only be an immigration
    #    if the exit was an emigration: (1 - .6) * .5 = .2
    # B: resident; EXIT p=.3 (model), ENTRY decided short (0), EXIT decided long (1): the second
    #    exit is an emigration only if the first was not: .7; the two exits sum to 1
    # C: non-resident; ENTRY p=.999 (sure: restarts the chain), EXIT p=.5 -> .5
    chain = [
        ("A", 1, "EXIT", True, None), ("A", 2, "ENTRY", True, None),
        ("B", 1, "EXIT", True, None), ("B", 2, "ENTRY", True, 0.0), ("B", 3, "EXIT", True, 1.0),
        ("C", 1, "ENTRY", False, None), ("C", 2, "EXIT", False, None),
    ]
    _frame(con, "ch", {"person_key": [c[0] for c in chain], "crossing_order": [c[1] for c in chain],
                       "crossing_date": [D(2025, 1, c[1]) for c in chain],
                       "direction": [c[2] for c in chain], "k": [100] * len(chain),
                       "r0": [c[3] for c in chain], "own_p": [c[4] for c in chain]})
    scored = [("A", 1, 0.4), ("A", 2, 0.5), ("B", 1, 0.3), ("C", 1, 0.9995), ("C", 2, 0.5)]
    _frame(con, "sc", {"person_key": [s[0] for s in scored], "crossing_order": [s[1] for s in scored],
                       "model_probability": [s[2] for s in scored],
                       "model_variance": [0.0] * len(scored), "model_cell": ["x"] * len(scored),
                       "model_level": [0] * len(scored)})
    got = {(r[0], r[1]): r[2] for r in con.execute(
        f"SELECT person_key, crossing_order, probability FROM ({pv.propagate_sql('ch', 'sc')})").fetchall()}
    assert got[("A", 1)] == pytest.approx(0.4)
    assert got[("A", 2)] == pytest.approx(0.2)
    assert got[("B", 1)] == pytest.approx(0.3)
    assert got[("B", 2)] == pytest.approx(0.0)
    assert got[("B", 3)] == pytest.approx(0.7)
    assert got[("C", 1)] == pytest.approx(0.9995)
    assert got[("C", 2)] == pytest.approx(0.5)


def test_days_on_each_side_at_a_lag():
    con = duckdb.connect()
    # ENTRY 1 Jan, EXIT 1 Mar, ENTRY 1 May (2025). 200 days after 1 Jan (x = 19 Jul):
    # present 1 Jan-28 Feb (59 days) and 1 May-19 Jul (80 days) = 139; in the country again
    rows = [("P", 1, D(2025, 1, 1), "ENTRY", "WORK"), ("P", 2, D(2025, 3, 1), "EXIT", "HOLIDAY"),
            ("P", 3, D(2025, 5, 1), "ENTRY", "HOLIDAY")]
    _frame(con, "crossings", {"person_key": [r[0] for r in rows], "crossing_order": [r[1] for r in rows],
                              "crossing_date": [r[2] for r in rows], "direction": [r[3] for r in rows],
                              "travel_reason": [r[4] for r in rows]})
    _frame(con, "persons", {"person_key": ["P"], "is_citizen": [False],
                            "registration_date": [D(2025, 2, 15)], "registration_reason": ["IMMIGRATION"],
                            "deregistration_date": [None], "deregistration_reason": [None]})
    for name, sql in pv.attributes_sql(False).items():
        con.execute(f"CREATE TABLE {name} AS {sql}")
    _frame(con, "base", {"person_key": ["P", "P", "P"], "crossing_order": [1, 1, 2],
                         "crossing_date": [D(2025, 1, 1)] * 2 + [D(2025, 3, 1)],
                         "direction": ["ENTRY", "ENTRY", "EXIT"], "k": [200, 30, 45],
                         "outcome": [True, True, False]})
    rule = load_rule("12-16")
    out = con.execute(f"SELECT k, direction, other_days, own_days, state, evidence, reason_group, "
                      f"citizen FROM ({pv.features_sql('base', rule, pv.ProvisionalSettings(), False)}) "
                      "ORDER BY direction, k").fetchall()
    assert out[0] == (30, "ENTRY", 30, 0, "stayed", "", "work", "foreign")  # registered later
    assert out[1] == (200, "ENTRY", 139, 61, "went_again", "registered", "work", "foreign")
    # the EXIT on 1 Mar, 45 days on: away 1 Mar-30 Apr (61 days > 45): all 45 days out
    assert out[2] == (45, "EXIT", 45, 0, "stayed", "", "visit", "foreign")


def test_undecided_condition_follows_the_rule():
    r = load_rule("12-16")
    con = duckdb.connect()
    q = lambda other, own: con.execute(f"SELECT {pv.undecided_sql(r, str(other), str(own), '0')}").fetchall()[0][0]
    assert q(364, 122) and not q(365, 0) and not q(100, 123)


def test_flows_carry_final_expected_and_interval_on_the_example():
    con, counts = build_example()
    rows = con.execute("""SELECT period, event_type, persons, persons_final, persons_expected,
                                 persons_provisional_estimate, ci_low, ci_high, status
                          FROM flows WHERE period_type = 'year' AND breakdown = 'total'
                            AND event_type IN ('IMMIGRATION', 'EMIGRATION')""").fetchall()
    by = {(r[0], r[1]): r for r in rows}
    # 2022: every window closed (2022-12-31 + 486 days <= 2024-12-31)
    assert by[("2022", "IMMIGRATION")][8] == "final"
    assert by[("2022", "IMMIGRATION")][3] == by[("2022", "IMMIGRATION")][2] == 1
    # 2024: Gus's entry (SETTLE, permit) is undecided: not final, expected instead
    g = by[("2024", "IMMIGRATION")]
    assert g[8] == "provisional" and g[3] == 0 and 0 < g[4] <= 1
    assert g[6] <= g[5] <= g[7]
    for r in rows:
        assert r[6] <= r[5] + 1e-9 and r[5] <= r[7] + 1e-9 and r[3] <= r[2]
    x = con.execute("SELECT person_key, event_type, probability, model_cell FROM expected_migrations "
                    "WHERE person_key = 'P7'").fetchall()
    assert x and x[0][1] == "IMMIGRATION" and 0 < x[0][2] <= 1
    assert counts["provisional_model"] > 0


def test_revisions_append_every_run():
    from reglink.tables.build import build_all

    con, counts = build_example()
    n1 = counts["revisions"]
    assert n1 == con.execute("SELECT count(*) FROM flows").fetchall()[0][0]
    counts2 = build_all(con, example_settings())
    assert counts2["revisions"] == 2 * n1
    runs = con.execute("SELECT count(DISTINCT run_id), min(observed_until) FROM revisions").fetchall()[0]
    assert runs == (2, D(2024, 12, 31))


def test_provisional_can_be_turned_off():
    con, _ = build_example(example_settings(provisional={"enabled": False}))
    r = con.execute("SELECT persons, persons_final, persons_expected FROM flows WHERE period = '2024' "
                    "AND event_type = 'IMMIGRATION' AND breakdown = 'total'").fetchall()[0]
    assert r == (1, 1, 0.0)  # the rule's provisional decision is taken as it is


def test_settings_reject_unknown_provisional_keys():
    with pytest.raises(ConfigError, match="tables.provisional"):
        load_settings({"provisional": {"lag_days": 10}})
    with pytest.raises(ConfigError, match="flows_source"):
        load_settings({"flows_source": "border"})
