"""Register-based migration (reglink.tables.register_flows) on the hand-made example world with
its border register withheld, plus two persons added here. Worked by hand (12-16, observed until
2024-12-31, registers covering flows from 2021-01-01):

- Ben: permit 2021-01-10..2026-01-09, registered 2021-02-01, still there: IMMIGRATION
  2021-01-10 (his first evidence of presence), final (more than 365 days seen).
- Dora: registered 2015 (before the registers' period: part of the stock), deregistered
  2023-03-01 for emigration, no later record: EMIGRATION 2023-03-01, final.
- Eli: deregistered at his death: no emigration. Ana, Fay: born here: no immigration.
- Gus: permit 2024-05-20..2027-05-19, nothing else yet (226 days): a permit is permission, not
  presence, so no event; an expected immigration instead, with the chance that a sign of life
  follows (no earlier stay to learn from: the prior, 1/2).
- Hana (added): WORK permit 2021-03-01..2022-02-28, registered 2021-03-20 and never
  deregistered, no later record of any kind: presumed gone when the permit expired.
  IMMIGRATION 2021-03-01 (365 days present: exactly N), EMIGRATION 2022-03-01 (unrecorded).
- Ivan (added): STUDY permit 2022-01-10..2022-06-30, nothing else: a 172-day stay, temporary.
"""
import datetime as dt

from example_world import (_person_cols, build_example, example_settings, permit_rows,
                                    register_rows)

D = dt.date


def _world():
    hana = _person_cols("Hana", "Kowalski", "F", D(1992, 2, 2), "POL", "POL")
    ivan = _person_cols("Ivan", "Petrov", "M", D(2001, 9, 9), "RUS", "RUS")
    permits = permit_rows() + [
        {"record_id": "M8", "_key": "P8", "permit_number": "PM8", "permit_kind": "WORK",
         "purpose": "WORK", "issue_date": D(2021, 2, 20), "valid_from": D(2021, 3, 1),
         "valid_to": D(2022, 2, 28), **hana},
        {"record_id": "M11", "_key": "P11", "permit_number": "PM11", "permit_kind": "STUDY",
         "purpose": "STUDY", "issue_date": D(2022, 1, 1), "valid_from": D(2022, 1, 10),
         "valid_to": D(2022, 6, 30), **ivan},
    ]
    register = register_rows() + [
        {"record_id": "R8", "_key": "P8", "person_number": "PNR8", "registration_date": D(2021, 3, 20),
         "registration_reason": "IMMIGRATION", "previous_country": "POL", "deregistration_date": None,
         "deregistration_reason": None, "next_country": None, "naturalisation_date": None,
         "region": "R1", "address": "2 Side St", **hana}]
    return {"border": [], "permits": permits, "register": register}


def _events(**overrides):
    settings = example_settings(register_data_start=D(2021, 1, 1), **overrides)
    con, counts = build_example(settings, **_world())
    rows = con.execute("SELECT person_key, event_type, event_date, provisional, evidence "
                       "FROM migration_events ORDER BY person_key, event_date").fetchall()
    return con, counts, rows


def test_events_from_register_spells_by_hand():
    _, _, rows = _events()
    assert rows == [
        ("P2", "IMMIGRATION", D(2021, 1, 10), False, "registration"),
        ("P4", "EMIGRATION", D(2023, 3, 1), False, "deregistration"),
        ("P8", "IMMIGRATION", D(2021, 3, 1), False, "registration"),
        ("P8", "EMIGRATION", D(2022, 3, 1), False, "permit_expired_unrecorded"),
    ]


def test_register_flows_reach_flows_and_carry_their_status():
    con, counts, _ = _events()
    assert counts["flows"] > 0
    got = dict(con.execute("SELECT period || ' ' || event_type, persons FROM flows WHERE period_type = 'year' "
                           "AND breakdown = 'total' AND event_type IN ('IMMIGRATION', 'EMIGRATION')").fetchall())
    # 2024 has a row for Gus's expected immigration, with no person counted
    assert got == {"2021 IMMIGRATION": 2, "2022 EMIGRATION": 1, "2023 EMIGRATION": 1,
                   "2024 IMMIGRATION": 0}
    est = con.execute("SELECT persons_final, persons_expected, persons_provisional_estimate FROM flows "
                      "WHERE period = '2024' AND event_type = 'IMMIGRATION' AND breakdown = 'total'").fetchall()
    assert est == [(0, 0.5, 0.5)]
    assert con.execute("SELECT person_key, probability FROM expected_migrations").fetchall() == [("P7", 0.5)]
    st = dict(con.execute("SELECT period, any_value(status) FROM flows WHERE period_type = 'year' "
                          "GROUP BY period").fetchall())
    assert st["2021"] == "final" and st["2024"] == "provisional"
    # the stays behind the events are kept for audit
    assert con.execute("SELECT count(*) FROM register_stays WHERE person_key = 'P11'").fetchall()[0][0] == 1


def test_a_sign_of_life_keeps_the_person():
    # Hana renews: a second permit after the first expires -> no presumed exit
    w = _world()
    hana = {k: v for k, v in w["permits"][-2].items()
            if k not in ("record_id", "permit_number", "valid_from", "valid_to", "issue_date")}
    w["permits"].append({**hana, "record_id": "M9", "permit_number": "PM9", "issue_date": D(2022, 2, 1),
                         "valid_from": D(2022, 3, 1), "valid_to": D(2025, 2, 28)})
    con, _ = build_example(example_settings(register_data_start=D(2021, 1, 1)), **w)
    rows = con.execute("SELECT event_type FROM migration_events WHERE person_key = 'P8'").fetchall()
    assert rows == [("IMMIGRATION",)]


def test_border_data_wins_unless_configured():
    con, _ = build_example()  # border register delivered: crossings and the rule
    assert "register_stays" not in {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    con, _ = build_example(example_settings(flows_source="registers", register_data_start=D(2021, 1, 1)))
    ev = con.execute("SELECT person_key, event_type FROM migration_events ORDER BY ALL").fetchall()
    assert ("P4", "EMIGRATION") in ev and ("P2", "IMMIGRATION") in ev
