"""migration_events and crossings on the hand-worked example world (tests/example_world.py)."""
import datetime as dt

import pytest

from example_world import _person_cols, border_rows, build_example

D = dt.date


@pytest.fixture(scope="module")
def world():
    """The example world built once for the tests that only read it."""
    con, counts = build_example()
    yield con, counts
    con.close()


def _events(con):
    return con.sql("SELECT * FROM migration_events ORDER BY person_key, event_date").pl()


def test_events_match_the_hand_worked_world(world):
    con, counts = world
    ev = _events(con)
    got = [(r["person_key"], r["event_type"], r["event_date"], r["provisional"]) for r in ev.iter_rows(named=True)]
    assert got == [
        ("P1", "EMIGRATION", D(2020, 3, 1), False),
        ("P1", "IMMIGRATION", D(2022, 6, 1), False),
        ("P2", "IMMIGRATION", D(2021, 1, 15), False),
        ("P4", "EMIGRATION", D(2023, 2, 1), False),
        ("P7", "IMMIGRATION", D(2024, 6, 1), True),  # 214 days seen, permit as evidence
    ]
    assert counts["migration_events"] == 5 and counts["crossings"] == 7
    assert set(ev["rule"]) == {"12-16"}
    assert ev["crossing_record_id"].to_list() == ["B1", "B2", "B3", "B6", "B7"]


def test_attributes_at_the_event(world):
    con, _ = world
    ev = {(r["person_key"], r["event_type"]): r for r in _events(con).iter_rows(named=True)}
    ana_out, ana_back = ev[("P1", "EMIGRATION")], ev[("P1", "IMMIGRATION")]
    assert (ana_out["age_at_event"], ana_back["age_at_event"]) == (29, 32)  # born 1990-05-10
    assert ana_out["age_group"] == "25-34" and ana_out["sex"] == "F"
    assert ana_out["next_country_of_residence"] == "AUS" and ana_out["previous_country_of_residence"] == "NZL"
    assert ana_back["is_returning_citizen"] and ana_back["is_returning_native_born"]
    assert ana_back["subpopulation"] == "NATIVE_BORN_CITIZEN"
    ben = ev[("P2", "IMMIGRATION")]
    # naturalised only in 2023: at the 2021 immigration a GBR citizen, reason from the permit
    assert (ben["citizenship"], ben["is_citizen"], ben["is_native_born"]) == ("GBR", False, False)
    assert ben["subpopulation"] == "FOREIGN_BORN_FOREIGN_CITIZEN" and not ben["is_returning_citizen"]
    assert (ben["reason"], ben["reason_source"]) == ("WORK", "permit")
    assert ben["age_at_event"] == 35 and ben["previous_country_of_residence"] == "GBR"
    assert (ev[("P7", "IMMIGRATION")]["reason"], ev[("P1", "EMIGRATION")]["reason"]) == ("FAMILY", "WORK")


def test_citizen_after_naturalisation():
    ben = _person_cols("Ben", "Jones", "M", D(1985, 12, 31), "GBR", "NZL")
    extra = {"record_id": "B8", "_key": "P2", "direction": "EXIT", "crossing_date": D(2023, 9, 1),
             "travel_reason": "OTHER", "country_of_residence": "NZL", "origin_destination": "GBR",
             "transport_mode": "AIR", "document_number": "DOCB8", **ben}
    con, _ = build_example(border=border_rows() + [extra])
    out = con.sql("SELECT * FROM migration_events WHERE person_key = 'P2' AND event_type = 'EMIGRATION'").pl()
    r = out.row(0, named=True)
    assert r["event_date"] == D(2023, 9, 1) and r["is_citizen"] is True and r["citizenship"] == "NZL"
    assert r["subpopulation"] == "FOREIGN_BORN_CITIZEN" and r["age_at_event"] == 37
    assert r["next_country_of_residence"] == "GBR"


def test_initial_status_seeded_from_the_register(world):
    con, _ = world
    ini = {r[0]: r[1:] for r in con.execute(
        "SELECT person_key, initial_status, initial_status_source FROM initial_status").fetchall()}
    assert ini["P1"] == ("RESIDENT", "population_register")
    assert ini["P4"] == ("RESIDENT", "population_register")
    # registered after the first crossing, which declares residence in GBR
    assert ini["P2"] == ("NON_RESIDENT", "declared_residence")
    # without the seed, Dora's exit is still an emigration by the rule default (first crossing EXIT)
    ev = con.sql("SELECT count(*) AS n FROM migration_events WHERE person_key = 'P4'").pl()
    assert ev["n"][0] == 1


def test_registered_resident_entering_first_is_not_an_immigrant():
    """A registered resident whose first recorded crossing is a return from a holiday: seeded
    RESIDENT, so the entry is not an immigration (the rule default would make it one)."""
    ana = _person_cols("Ana", "Smith", "F", D(1990, 5, 10), "NZL", "NZL")
    rows = [r for r in border_rows() if r["_key"] != "P1"] + [
        {"record_id": "B9", "_key": "P1", "direction": "ENTRY", "crossing_date": D(2021, 4, 1),
         "travel_reason": "HOLIDAY", "country_of_residence": "NZL", "origin_destination": "FJI",
         "transport_mode": "AIR", "document_number": "DOCB9", **ana}]
    con, _ = build_example(border=rows)
    assert con.sql("SELECT count(*) FROM migration_events WHERE person_key = 'P1'").fetchall()[0][0] == 0


def test_crossings_carry_classification_and_repairs_are_logged():
    # two entries in a row for Chen (a missing exit): the repair imputes one and logs it
    chen = [r for r in border_rows() if r["_key"] == "P3"][0]
    extra = {**chen, "record_id": "B10", "crossing_date": D(2022, 3, 10)}
    con, counts = build_example(border=border_rows() + [extra])
    assert counts["crossing_repairs"] >= 1
    cols = set(con.sql("SELECT * FROM crossings LIMIT 0").columns)
    assert {"person_key", "crossing_record_id", "direction", "crossing_date", "status_before",
            "status_after", "is_migration", "crossing_order"} <= cols
    p3 = con.sql("SELECT direction FROM crossings WHERE person_key = 'P3' ORDER BY crossing_order").pl()
    dirs = p3["direction"].to_list()
    assert all(a != b for a, b in zip(dirs, dirs[1:])), dirs  # alternates after repair


def test_declared_foreign_residence_overrides_a_stale_registration():
    """Ana's register record was never closed when she left before the data start; she visits
    home (ENTRY declaring AUS residence, 20 days) and leaves: no emigration, no immigration.
    Without a declared residence the register seeds RESIDENT and the exit is an emigration."""
    ana = _person_cols("Ana", "Smith", "F", D(1990, 5, 10), "NZL", "NZL")

    def visit(cor):
        return [r for r in border_rows() if r["_key"] != "P1"] + [
            {"record_id": "B20", "_key": "P1", "direction": "ENTRY", "crossing_date": D(2021, 12, 20),
             "travel_reason": "FAMILY", "country_of_residence": cor, "origin_destination": "AUS",
             "transport_mode": "AIR", "document_number": "D", **ana},
            {"record_id": "B21", "_key": "P1", "direction": "EXIT", "crossing_date": D(2022, 1, 9),
             "travel_reason": "FAMILY", "country_of_residence": cor, "origin_destination": "AUS",
             "transport_mode": "AIR", "document_number": "D", **ana}]

    con, _ = build_example(border=visit("AUS"))
    assert con.execute("SELECT initial_status, initial_status_source FROM initial_status "
                       "WHERE person_key = 'P1'").fetchall() == [("NON_RESIDENT", "declared_residence")]
    assert con.execute("SELECT count(*) FROM migration_events WHERE person_key = 'P1'").fetchall() == [(0,)]
    con, _ = build_example(border=visit(None))
    assert con.execute("SELECT initial_status_source FROM initial_status WHERE person_key = 'P1'"
                       ).fetchall() == [("population_register",)]
    assert con.execute("SELECT event_type FROM migration_events WHERE person_key = 'P1'"
                       ).fetchall() == [("EMIGRATION",)]


def test_events_are_what_derive_events_gives(world):
    """migration_events is the classified crossings that migrate: the same events as the rule
    engine's derive_events on the same repaired crossings, initial status and evidence."""
    import polars as pl

    from reglink.rules.engine import derive_events
    from example_world import example_settings

    con, _ = world
    s = example_settings()
    crossings = con.sql("SELECT person_key, crossing_record_id, direction, crossing_date, travel_reason "
                        "FROM crossings WHERE NOT imputed").pl()
    initial = con.sql("SELECT person_key, initial_status FROM initial_status "
                      "WHERE initial_status_source <> 'rule_default'").pl()
    evidence = pl.DataFrame({"person_key": ["P2", "P7"], "valid_from": [D(2021, 1, 10), D(2024, 5, 20)],
                             "valid_to": [D(2026, 1, 9), D(2027, 5, 19)]})
    ev = derive_events(crossings, s.rule, observed_until=s.observed_until, initial_status=initial,
                       evidence=evidence, id_col="person_key")
    want = sorted(ev.select("person_key", "event_type", "event_date", "provisional").rows())
    got = sorted(con.execute("SELECT person_key, event_type, event_date, provisional FROM migration_events").fetchall())
    assert got == want


# --- register-evidence repair (rules/evidence_repair.py) and the returning-resident status ---

def _b(rid, key, direction, day, reason, cor, person):
    return {"record_id": rid, "_key": key, "direction": direction, "crossing_date": day,
            "travel_reason": reason, "country_of_residence": cor, "origin_destination": cor,
            "transport_mode": "AIR", "document_number": f"D{key}", **person}


def _r(key, person, spells):
    """Population-register records of one person: (record_id, registered, reason,
    deregistered, reason) per registration spell, each under its own number."""
    return [{"record_id": rid, "_key": key, "person_number": f"PN{rid}", "registration_date": on,
             "registration_reason": why, "previous_country": None, "deregistration_date": off,
             "deregistration_reason": off_why, "next_country": None, "naturalisation_date": None,
             "region": "R1", "address": "1 Main St", **person}
            for rid, on, why, off, off_why in spells]


KIM = _person_cols("Kim", "Lee", "F", D(1980, 1, 1), "AUS", "AUS")


def _tourist(last_entry=D(2022, 5, 1)):
    """P11 Kim, an Australian tourist: a 10-day visit in 2021, then an entry with no exit."""
    return border_rows() + [
        _b("K1", "P11", "ENTRY", D(2021, 2, 1), "HOLIDAY", "AUS", KIM),
        _b("K2", "P11", "EXIT", D(2021, 2, 11), "HOLIDAY", "AUS", KIM),
        _b("K3", "P11", "ENTRY", last_entry, "HOLIDAY", "AUS", KIM)]


def test_visitor_whose_last_exit_was_lost_is_not_an_immigrant():
    from example_world import example_settings

    con, _ = build_example(border=_tourist())
    rep = con.sql("SELECT kind, crossing_date, imputed_date, reason FROM crossing_repairs "
                  "WHERE person_key = 'P11'").fetchall()
    assert [r[:3] for r in rep] == [("MISSING_LAST_EXIT", D(2022, 5, 1), D(2022, 5, 11))]  # own 10-day stay
    assert "visitor" in rep[0][3]
    assert con.sql("SELECT count(*) FROM migration_events WHERE person_key = 'P11'").fetchall() == [(0,)]
    last = con.sql("SELECT direction, imputed, repair FROM crossings WHERE person_key = 'P11' "
                   "ORDER BY crossing_order DESC LIMIT 1").fetchall()
    assert last == [("EXIT", True, "MISSING_LAST_EXIT")]
    # the crossings-only repair (the old behaviour) makes her an immigrant: present until U
    con, _ = build_example(example_settings(evidence_repair=False), border=_tourist())
    assert con.sql("SELECT event_type, event_date FROM migration_events WHERE person_key = 'P11'"
                   ).fetchall() == [("IMMIGRATION", D(2022, 5, 1))]


def test_a_work_permit_or_a_registration_keeps_the_last_entry_open():
    from example_world import permit_rows, register_rows

    def permit(valid_to):
        return {"record_id": "MK", "_key": "P11", "permit_number": "PMK", "permit_kind": "WORK",
                "purpose": "WORK", "issue_date": D(2022, 4, 1), "valid_from": D(2022, 4, 20),
                "valid_to": valid_to, **KIM}

    con, _ = build_example(border=_tourist(), permits=permit_rows() + [permit(D(2025, 4, 19))])
    assert con.sql("SELECT count(*) FROM crossing_repairs WHERE person_key = 'P11'").fetchall() == [(0,)]
    assert con.sql("SELECT event_type FROM migration_events WHERE person_key = 'P11'"
                   ).fetchall() == [("IMMIGRATION",)]
    # the permit expires before U and is not renewed: a foreigner's exit on its last day
    con, _ = build_example(border=_tourist(), permits=permit_rows() + [permit(D(2024, 4, 19))])
    rep = con.sql("SELECT kind, imputed_date, reason FROM crossing_repairs WHERE person_key = 'P11'").fetchall()
    assert [r[:2] for r in rep] == [("MISSING_LAST_EXIT", D(2024, 4, 19))] and "permit" in rep[0][2]
    assert con.sql("SELECT event_type FROM migration_events WHERE person_key = 'P11'"
                   ).fetchall() == [("IMMIGRATION",)]  # the exit's absence is censored at U
    reg = {"record_id": "RK", "_key": "P11", "person_number": "PNRK", "registration_date": D(2022, 6, 1),
           "registration_reason": "IMMIGRATION", "previous_country": "AUS", "deregistration_date": None,
           "deregistration_reason": None, "next_country": None, "naturalisation_date": None,
           "region": "R1", "address": "2 Main St", **KIM}
    con, _ = build_example(border=_tourist(), register=register_rows() + [reg])
    assert con.sql("SELECT count(*) FROM crossing_repairs WHERE person_key = 'P11'").fetchall() == [(0,)]
    assert con.sql("SELECT count(*) FROM migration_events WHERE person_key = 'P11'").fetchall() == [(1,)]


def test_visitor_entry_near_the_data_end_gets_no_exit_after_it():
    """An entry 5 days before U: the typical stay ends after U, nothing is imputed (the censored
    entry is undecided and, without evidence, not a migration)."""
    con, _ = build_example(border=_tourist(D(2024, 12, 26)))
    assert con.sql("SELECT count(*) FROM crossing_repairs WHERE person_key = 'P11'").fetchall() == [(0,)]
    assert con.sql("SELECT count(*) FROM migration_events WHERE person_key = 'P11'").fetchall() == [(0,)]


def test_missing_exit_of_a_visitor_placed_after_the_entry():
    rows = _tourist() + [_b("K4", "P11", "EXIT", D(2022, 9, 11), "HOLIDAY", "AUS", KIM)]
    rows = [r for r in rows if r["record_id"] != "K3"] + [
        _b("K5", "P11", "ENTRY", D(2021, 6, 1), "HOLIDAY", "AUS", KIM),
        _b("K6", "P11", "ENTRY", D(2022, 9, 1), "HOLIDAY", "AUS", KIM)]
    con, _ = build_example(border=rows)
    rep = con.sql("SELECT kind, crossing_date, imputed_date, reason FROM crossing_repairs "
                  "WHERE person_key = 'P11'").fetchall()
    assert [r[:3] for r in rep] == [("MISSING_EXIT", D(2022, 9, 1), D(2021, 6, 11))]
    assert "moved by register evidence" in rep[0][3] and "visitor" in rep[0][3]
    assert con.sql("SELECT count(*) FROM migration_events WHERE person_key = 'P11'").fetchall() == [(0,)]


def _place(rows, permits=None, persons=None):
    import polars as pl

    from reglink.rules.repair import repair_crossings
    from reglink.rules.evidence_repair import place_with_evidence

    df = pl.DataFrame(rows, schema={"person_key": pl.String, "direction": pl.String, "crossing_date": pl.Date,
                                    "country_of_residence": pl.String, "travel_reason": pl.String},
                      orient="row")
    repaired, log = repair_crossings(df, id_col="person_key")
    return place_with_evidence(repaired, log, home="NZL", until=D(2024, 12, 31),
                               permits=None if permits is None else pl.DataFrame(permits), persons=persons)


def test_permit_expiry_and_permit_start_place_the_lost_crossings():
    """A seasonal worker: the work permit held at arrival ends inside the gap of two entries (exit
    before its last day); a permit starting inside the gap of two exits (entry after its first
    day) -- by her own recorded seasons: she left 29 days before her permits ended (2022-06-01
    and 2023-06-01 under permits ending 30 June) and arrived 9 and 16 days after they started
    (median 12.5, rounded half up to 13)."""
    w = [("S", "ENTRY", D(2021, 1, 10), "WSM", "WORK"), ("S", "ENTRY", D(2022, 1, 5), "WSM", "WORK"),
         ("S", "EXIT", D(2022, 6, 1), "WSM", "WORK"), ("S", "EXIT", D(2023, 6, 1), "WSM", "WORK")]
    permits = {"person_key": ["S"] * 3, "permit_kind": ["WORK"] * 3,
               "valid_from": [D(2021, 1, 1), D(2021, 12, 20), D(2022, 11, 1)],
               "valid_to": [D(2021, 6, 30), D(2022, 6, 30), D(2023, 6, 30)]}
    repaired, log = _place(w, permits)
    got = {r["kind"]: r["imputed_date"] for r in log.iter_rows(named=True)}
    assert got == {"MISSING_EXIT": D(2021, 6, 1), "MISSING_ENTRY": D(2022, 11, 13)}
    imp = repaired.filter("imputed").sort("crossing_date")
    assert imp["crossing_date"].to_list() == [D(2021, 6, 1), D(2022, 11, 13)]
    assert repaired.height == 6 and repaired["crossing_seq"].to_list() == list(range(6))


def test_a_permit_granted_years_later_does_not_keep_a_visitor_in_the_country():
    """A Russian tourist: a 10-day visit in 2020, a holiday entry on 2021-02-28 whose exit was
    lost, and an entry to settle on 2025-08-08 on a residence permit first valid 2025-07-15.
    The permit starts long after the days a visitor could have stayed (90): it brought her back
    at the second entry and says nothing of 2021 -- the lost exit is the visitor's, after her own
    10-day stay (the old reading took any permit in the gap as a reason to stay, split the gap
    in proportion and made her an immigrant in 2021 and an emigrant in 2023). A permit starting
    within those 90 days still speaks against a visit."""
    import polars as pl

    from reglink.rules.engine import derive_events

    rows = [("V", "ENTRY", D(2020, 6, 1), "RUS", "HOLIDAY"), ("V", "EXIT", D(2020, 6, 11), "RUS", "HOLIDAY"),
            ("V", "ENTRY", D(2021, 2, 28), "RUS", "HOLIDAY"), ("V", "ENTRY", D(2025, 8, 8), "RUS", "SETTLE")]

    def permit(start):
        return {"person_key": ["V"], "permit_kind": ["RESIDENCE"], "valid_from": [start],
                "valid_to": pl.Series([None], dtype=pl.Date)}

    repaired, log = _place(rows, permit(D(2025, 7, 15)))
    placed = log.filter(pl.col("kind") == "MISSING_EXIT")
    assert placed["imputed_date"].to_list() == [D(2021, 3, 10)] and "visitor" in placed["reason"][0]
    ev = derive_events(repaired, "12-16", observed_until=D(2025, 12, 31), id_col="person_key")
    assert ev.select("event_type", "event_date").rows() == [("IMMIGRATION", D(2025, 8, 8))]
    # a permit first valid 30 days after the holiday entry: she may have stayed on it
    _, log = _place(rows, permit(D(2021, 3, 30)))
    placed = log.filter(pl.col("kind") == "MISSING_EXIT")
    assert placed["imputed_date"].to_list() != [D(2021, 3, 10)]
    assert "visitor" not in (placed["reason"][0] or "")


def test_a_seasonal_workers_lost_crossings_follow_their_own_seasons():
    """A Samoan seasonal worker, one work permit a season (1 Sep - 30 Apr); in the seasons
    recorded whole she arrives 10 days after the permit starts and leaves 20 days before it
    ends. The exit of the 2022/23 season was lost (two ENTRYs) and so was the arrival of the
    2024 season (two EXITs): the exit is placed her own 20 days before the permit's last day
    (30 Apr -> 10 Apr) and the arrival her own 10 days after the next permit's first day (1 Sep
    -> 11 Sep), not on the permit's last / first day, which counted 20 and 10 days too many in
    the country -- enough to make a seven-month season look like a year's stay."""
    import polars as pl

    rows = [("S", "ENTRY", D(2021, 9, 11), "WSM", "WORK"), ("S", "EXIT", D(2022, 4, 10), "WSM", "WORK"),
            ("S", "ENTRY", D(2022, 9, 11), "WSM", "WORK"),  # the exit of this season was lost
            ("S", "ENTRY", D(2023, 9, 11), "WSM", "WORK"), ("S", "EXIT", D(2024, 4, 10), "WSM", "WORK"),
            ("S", "EXIT", D(2024, 12, 21), "WSM", "WORK")]  # the arrival before this exit was lost
    permits = {"person_key": ["S"] * 4, "permit_kind": ["WORK"] * 4,
               "valid_from": [D(2021, 9, 1), D(2022, 9, 1), D(2023, 9, 1), D(2024, 9, 1)],
               "valid_to": [D(2022, 4, 30), D(2023, 4, 30), D(2024, 4, 30), D(2025, 4, 30)]}
    repaired, log = _place(rows, permits)
    got = {r["kind"]: (r["imputed_date"], r["reason"]) for r in log.iter_rows(named=True)}
    assert got["MISSING_EXIT"][0] == D(2023, 4, 10) and "permit" in got["MISSING_EXIT"][1]
    assert got["MISSING_ENTRY"][0] == D(2024, 9, 11) and "permit" in got["MISSING_ENTRY"][1]
    assert repaired.filter("imputed").sort("crossing_date")["crossing_date"].to_list() == [
        D(2023, 4, 10), D(2024, 9, 11)]
    # without seasons of her own recorded under a permit, the permit's own days are kept
    _, log = _place([r for r in rows if r[1] == "ENTRY" and r[2].year >= 2022], permits)
    assert log.filter(pl.col("kind") == "MISSING_EXIT")["imputed_date"].to_list() == [D(2023, 4, 30)]


def test_missing_exit_of_a_resident_is_a_trip_before_the_next_entry():
    """Entries declaring NZL residence (a resident): the lost exit is the person's typical trip
    (14 days) before the next entry, not a split of the gap."""
    r = [("R", "EXIT", D(2020, 3, 1), "NZL", "HOLIDAY"), ("R", "ENTRY", D(2020, 3, 15), "NZL", "HOLIDAY"),
         ("R", "ENTRY", D(2022, 6, 1), "NZL", "HOLIDAY")]
    _, log = _place(r)
    assert log.filter(kind="MISSING_EXIT")["imputed_date"].to_list() == [D(2022, 5, 18)]


def test_an_unregistered_resident_returning_from_a_trip_starts_resident():
    """Lena is not in the population register; her first crossing is a return from holiday
    declaring NZL residence: RESIDENT before it, no immigration. If she registers after that
    entry (an arrival to live), the declaration is not taken as a return from a trip."""
    from example_world import register_rows

    lena = _person_cols("Lena", "Hart", "F", D(1975, 4, 4), "GBR", "GBR")
    rows = border_rows() + [_b("L1", "P12", "ENTRY", D(2021, 3, 1), "HOLIDAY", "NZL", lena)]
    con, _ = build_example(border=rows)
    assert con.execute("SELECT initial_status, initial_status_source FROM initial_status "
                       "WHERE person_key = 'P12'").fetchall() == [("RESIDENT", "declared_residence")]
    assert con.sql("SELECT count(*) FROM migration_events WHERE person_key = 'P12'").fetchall() == [(0,)]
    reg = {"record_id": "RL", "_key": "P12", "person_number": "PNRL", "registration_date": D(2021, 4, 1),
           "registration_reason": "IMMIGRATION", "previous_country": "GBR", "deregistration_date": None,
           "deregistration_reason": None, "next_country": None, "naturalisation_date": None,
           "region": "R1", "address": "3 Main St", **lena}
    con, _ = build_example(border=rows, register=register_rows() + [reg])
    assert con.execute("SELECT initial_status FROM initial_status WHERE person_key = 'P12'"
                       ).fetchall() == [("NON_RESIDENT",)]
    assert con.sql("SELECT event_type FROM migration_events WHERE person_key = 'P12'"
                   ).fetchall() == [("IMMIGRATION",)]


def test_deregistration_as_an_emigrant_places_the_lost_exit():
    """A resident's last crossing is an ENTRY (the emigration exit was lost); the register
    deregistered her as an emigrant on 2023-02-01: the exit is imputed there (too few recorded
    emigrants to estimate the reporting delay: 0 days)."""
    import polars as pl

    r = [("E", "EXIT", D(2021, 1, 5), "NZL", "HOLIDAY"), ("E", "ENTRY", D(2021, 1, 20), "NZL", "HOLIDAY")]
    persons = pl.DataFrame({"person_key": ["E"], "in_population_register": [True],
                            "registration_date": [D(1990, 1, 1)], "deregistration_date": [D(2023, 2, 1)],
                            "deregistration_reason": ["EMIGRATION"], "is_citizen": [True]})
    repaired, log = _place(r, persons=persons)
    assert log.filter(kind="MISSING_LAST_EXIT").select("imputed_date", "direction").rows() == [
        (D(2023, 2, 1), "EXIT")]
    assert "deregistered as an emigrant" in log.filter(kind="MISSING_LAST_EXIT")["reason"][0]
    assert repaired["direction"].to_list() == ["EXIT", "ENTRY", "EXIT"]


def test_registered_visitor_leaving_first_is_not_an_emigrant():
    """A stale registration (an emigrant never deregistered) and a first crossing that is an EXIT
    declaring AUS residence with a visit's reason: a visitor going home, not an emigration. With
    reason WORK (someone leaving to live abroad) the register still seeds RESIDENT."""
    ana = _person_cols("Ana", "Smith", "F", D(1990, 5, 10), "NZL", "NZL")

    def first_exit(reason):
        return [r for r in border_rows() if r["_key"] != "P1"] + [
            _b("A1", "P1", "EXIT", D(2021, 1, 6), reason, "AUS", ana)]
    con, _ = build_example(border=first_exit("FAMILY"))
    assert con.execute("SELECT initial_status, initial_status_source FROM initial_status "
                       "WHERE person_key = 'P1'").fetchall() == [("NON_RESIDENT", "declared_residence")]
    assert con.sql("SELECT count(*) FROM migration_events WHERE person_key = 'P1'").fetchall() == [(0,)]
    con, _ = build_example(border=first_exit("WORK"))
    assert con.execute("SELECT initial_status_source FROM initial_status WHERE person_key = 'P1'"
                       ).fetchall() == [("population_register",)]


# --- a resident's trip whose return was lost (MISSING_LAST_ENTRY) ---

TOM = _person_cols("Tom", "Reid", "M", D(1978, 6, 1), "NZL", "NZL")


def _trip(last_reason="HOLIDAY", last_cor="NZL", last_exit=D(2022, 1, 10)):
    """P13 Tom, a New Zealander: a 14-day holiday in 2021, then a last exit with no return."""
    return border_rows() + [
        _b("T1", "P13", "EXIT", D(2021, 3, 1), "HOLIDAY", "NZL", TOM),
        _b("T2", "P13", "ENTRY", D(2021, 3, 15), "HOLIDAY", "NZL", TOM),
        _b("T3", "P13", "EXIT", last_exit, last_reason, last_cor, TOM)]


def test_resident_whose_return_from_a_trip_was_lost_is_not_an_emigrant():
    """A last exit declaring NZL residence and a holiday, no deregistration, no permit: the lost
    return is imputed after his own typical trip (14 days) and he is no emigrant; switched off
    (`resident_trip_repair: false`) the old reading makes him one."""
    from example_world import example_settings

    con, _ = build_example(border=_trip())
    rep = con.sql("SELECT kind, crossing_date, imputed_date, direction, reason FROM crossing_repairs "
                  "WHERE person_key = 'P13'").fetchall()
    assert [r[:4] for r in rep] == [("MISSING_LAST_ENTRY", D(2022, 1, 10), D(2022, 1, 24), "ENTRY")]
    assert "resident's trip" in rep[0][4] and "own median trip" in rep[0][4]
    last = con.sql("SELECT direction, crossing_date, imputed, repair FROM crossings WHERE person_key = 'P13' "
                   "ORDER BY crossing_order DESC LIMIT 1").fetchall()
    assert last == [("ENTRY", D(2022, 1, 24), True, "MISSING_LAST_ENTRY")]
    assert con.sql("SELECT count(*) FROM migration_events WHERE person_key = 'P13'").fetchall() == [(0,)]
    con, _ = build_example(example_settings(resident_trip_repair=False), border=_trip())
    assert con.sql("SELECT count(*) FROM crossing_repairs WHERE person_key = 'P13'").fetchall() == [(0,)]
    assert con.sql("SELECT event_type, event_date FROM migration_events WHERE person_key = 'P13'"
                   ).fetchall() == [("EMIGRATION", D(2022, 1, 10))]


@pytest.mark.parametrize("reason, cor", [("SETTLE", "NZL"), ("WORK", "NZL"), ("HOLIDAY", "AUS"),
                                         ("HOLIDAY", None)])
def test_a_departure_declaring_settlement_or_residence_abroad_stays_an_emigration(reason, cor):
    con, _ = build_example(border=_trip(reason, cor))
    assert con.sql("SELECT count(*) FROM crossing_repairs WHERE person_key = 'P13' "
                   "AND kind = 'MISSING_LAST_ENTRY'").fetchall() == [(0,)]
    assert con.sql("SELECT event_type FROM migration_events WHERE person_key = 'P13'"
                   ).fetchall() == [("EMIGRATION",)]


def test_a_deregistered_emigrant_or_an_expired_permit_gets_no_return():
    """Same holiday exit, but the register deregisters him as an emigrant after it, or (a
    foreigner) the permit he held expires unrenewed before U: evidence that he left for good."""
    persons = pl_frame({"person_key": ["T"], "in_population_register": [True],
                        "registration_date": [D(1978, 6, 1)], "deregistration_date": [D(2022, 4, 1)],
                        "deregistration_reason": ["EMIGRATION"], "is_citizen": [True]})
    rows = [("T", "EXIT", D(2021, 3, 1), "NZL", "HOLIDAY"), ("T", "ENTRY", D(2021, 3, 15), "NZL", "HOLIDAY"),
            ("T", "EXIT", D(2022, 1, 10), "NZL", "HOLIDAY")]
    repaired, log = _place(rows, persons=persons)
    assert log.filter(kind="MISSING_LAST_ENTRY").height == 0 and repaired.height == 3
    # not deregistered: the return is imputed (the control for the case above)
    _, log = _place(rows, persons=persons.with_columns(deregistration_date=None, deregistration_reason=None))
    assert log.filter(kind="MISSING_LAST_ENTRY")["imputed_date"].to_list() == [D(2022, 1, 24)]
    permits = {"person_key": ["T"], "permit_kind": ["WORK"], "valid_from": [D(2020, 1, 1)],
               "valid_to": [D(2022, 6, 30)]}
    foreigner = persons.with_columns(deregistration_date=None, deregistration_reason=None, is_citizen=False)
    _, log = _place(rows, permits=permits, persons=foreigner)
    assert log.filter(kind="MISSING_LAST_ENTRY").height == 0


def test_a_recent_departure_is_censored_not_repaired():
    """A holiday exit 60 days before U (2024-12-31): he may simply still be away; nothing is
    imputed. Without a trip of his own the pooled median trip is used (here another
    resident's 20 days), and a long own trip is capped at 90 days."""
    rows = [("T", "EXIT", D(2021, 3, 1), "NZL", "HOLIDAY"), ("T", "ENTRY", D(2021, 3, 15), "NZL", "HOLIDAY"),
            ("T", "EXIT", D(2024, 11, 1), "NZL", "HOLIDAY")]
    repaired, log = _place(rows)
    assert log.filter(kind="MISSING_LAST_ENTRY").height == 0 and repaired.height == 3
    pooled = [("U", "EXIT", D(2021, 5, 1), "NZL", "BUSINESS"), ("U", "ENTRY", D(2021, 5, 21), "NZL", "BUSINESS"),
              ("V", "EXIT", D(2022, 2, 1), "NZL", "FAMILY")]
    _, log = _place(pooled)
    assert log.filter(kind="MISSING_LAST_ENTRY").select("person_key", "imputed_date").rows() == [
        ("V", D(2022, 2, 21))]
    long_trip = [("W", "EXIT", D(2020, 1, 1), "NZL", "HOLIDAY"), ("W", "ENTRY", D(2020, 7, 1), "NZL", "HOLIDAY"),
                 ("W", "EXIT", D(2022, 2, 1), "NZL", "HOLIDAY")]
    _, log = _place(long_trip)
    assert log.filter(kind="MISSING_LAST_ENTRY")["imputed_date"].to_list() == [D(2022, 5, 2)]


def test_an_open_ended_permit_held_at_the_last_entry_is_no_expiry():
    """A worker's WORK permit ends 12 days after his last entry, but a RESIDENCE permit with no end
    date started before that entry: he holds a right to stay, nothing is imputed. With only the
    WORK permit, the foreigner's exit is imputed on its last day."""
    rows = [("F", "ENTRY", D(2020, 1, 25), "NZL", "WORK"), ("F", "EXIT", D(2022, 10, 4), "NZL", "HOLIDAY"),
            ("F", "ENTRY", D(2022, 11, 16), "NZL", "HOLIDAY")]
    persons = pl_frame({"person_key": ["F"], "in_population_register": [True],
                        "registration_date": [D(2020, 2, 23)], "deregistration_date": [None],
                        "deregistration_reason": [None], "is_citizen": [False]})
    work = {"person_key": ["F"], "permit_kind": ["WORK"], "valid_from": [D(2019, 11, 29)],
            "valid_to": [D(2022, 11, 28)]}
    _, log = _place(rows, permits=work, persons=persons)
    assert log.filter(kind="MISSING_LAST_EXIT")["imputed_date"].to_list() == [D(2022, 11, 28)]
    both = {k: v + [x] for (k, v), x in zip(work.items(), ["F", "RESIDENCE", D(2022, 11, 8), None])}
    _, log = _place(rows, permits=both, persons=persons)
    assert log.filter(kind="MISSING_LAST_EXIT").height == 0


def pl_frame(data):
    import polars as pl

    return pl.DataFrame(data, schema_overrides={"deregistration_date": pl.Date,
                                                "deregistration_reason": pl.String})


def test_evidence_placement_keeps_sequences_ordered_and_alternating():
    """Property: whatever the crossings and evidence, the placed sequence still alternates, its
    dates follow crossing_seq, only imputed rows move, and every added row is logged."""
    import polars as pl
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from reglink.rules.repair import repair_crossings
    from reglink.rules.evidence_repair import place_with_evidence

    row = st.tuples(st.sampled_from(["p", "q"]), st.sampled_from(["ENTRY", "EXIT"]),
                    st.integers(0, 1500), st.sampled_from(["NZL", "AUS", None]),
                    st.sampled_from(["HOLIDAY", "WORK", "SETTLE", None]))
    permit = st.tuples(st.sampled_from(["p", "q"]), st.sampled_from(["WORK", "VISA"]),
                       st.integers(0, 1500), st.integers(1, 800))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(row, min_size=1, max_size=14), st.lists(permit, max_size=3),
           st.booleans(), st.integers(0, 1500))
    def check(rows, permits, registered, dereg):
        base = D(2020, 1, 1)
        df = pl.DataFrame([(k, d, base + dt.timedelta(days=n), c, r) for k, d, n, c, r in rows],
                          schema=["person_key", "direction", "crossing_date", "country_of_residence",
                                  "travel_reason"], orient="row")
        pm = pl.DataFrame([(k, kind, base + dt.timedelta(days=f), base + dt.timedelta(days=f + n))
                           for k, kind, f, n in permits],
                          schema=["person_key", "permit_kind", "valid_from", "valid_to"], orient="row")
        persons = pl.DataFrame({"person_key": ["p"], "in_population_register": [registered],
                                "registration_date": [D(1990, 1, 1)],
                                "deregistration_date": [base + dt.timedelta(days=dereg)],
                                "deregistration_reason": ["EMIGRATION"], "is_citizen": [False]})
        repaired, log = repair_crossings(df, id_col="person_key", home="NZL")
        out, log2 = place_with_evidence(repaired, log, home="NZL", until=D(2024, 12, 31),
                                        permits=pm if pm.height else None, persons=persons)
        added = out.height - repaired.height
        assert added >= 0 and log2.height - log.height == added
        assert log2.filter(pl.col("kind").is_in(["MISSING_LAST_EXIT", "MISSING_LAST_ENTRY",
                                                 "MISSING_FIRST_ENTRY"])).height == added
        o = out.sort("person_key", "crossing_seq")
        same = o["person_key"] == o["person_key"].shift(1)
        assert not ((o["direction"] == o["direction"].shift(1)) & same).any()
        assert not ((o["crossing_date"] < o["crossing_date"].shift(1)) & same).any()
        # crossing_seq is 0, 1, ... per person, and the recorded rows keep their order and dates
        assert o.group_by("person_key").agg(
            ok=(pl.col("crossing_seq").sort() == pl.int_range(pl.len())).all())["ok"].all()
        kept = o.filter(~pl.col("imputed")).select("person_key", "direction", "crossing_date")
        assert kept.equals(repaired.filter(~pl.col("imputed")).sort("person_key", "crossing_seq")
                           .select("person_key", "direction", "crossing_date"))

    check()


# --- lost first entries, returns after a long absence, moves abroad inside a gap ---

def _persons(key, registered_on, citizen=False):
    import polars as pl

    return pl.DataFrame({"person_key": [key], "in_population_register": [registered_on is not None],
                         "registration_date": [registered_on], "deregistration_date": [None],
                         "deregistration_reason": [None], "is_citizen": [citizen]},
                        schema_overrides={"deregistration_date": pl.Date, "deregistration_reason": pl.String,
                                          "registration_date": pl.Date})


def test_a_newcomer_whose_arrival_was_lost_gets_it_back_from_the_permit():
    """Sam's first recorded crossing is an EXIT on 2022-09-06, but his work permit only starts on
    2021-11-14 (the data start 2020-01-01): he arrived in the period and the arrival record was
    lost. The ENTRY is imputed on the permit's first day (too few newcomers to estimate the
    arrival lag: 0 days), so he is not resident from the start; without a permit starting in the
    period nothing is imputed."""
    x = [("X", "EXIT", D(2020, 1, 1), "NZL", "HOLIDAY"), ("X", "ENTRY", D(2020, 1, 9), "NZL", "HOLIDAY")]
    sam = [("S", "EXIT", D(2022, 9, 6), "NZL", "WORK")]
    permits = {"person_key": ["S"], "permit_kind": ["WORK"], "valid_from": [D(2021, 11, 14)],
               "valid_to": [D(2022, 10, 6)]}
    repaired, log = _place(x + sam, permits)
    s = repaired.filter(person_key="S").sort("crossing_seq")
    assert s.select("direction", "crossing_date", "imputed", "crossing_seq").rows() == [
        ("ENTRY", D(2021, 11, 14), True, 0), ("EXIT", D(2022, 9, 6), False, 1)]
    row = log.filter(kind="MISSING_FIRST_ENTRY")
    assert row.select("person_key", "crossing_date", "imputed_date").rows() == [
        ("S", D(2022, 9, 6), D(2021, 11, 14))]
    assert "permit first valid during the period" in row["reason"][0]
    # the permit held since before the data start: an old resident, nothing imputed
    old = {**permits, "valid_from": [D(2019, 6, 1)]}
    _, log = _place(x + sam, old)
    assert log.filter(kind="MISSING_FIRST_ENTRY").height == 0


def test_a_registration_during_the_period_places_a_lost_arrival():
    """Registered in the population register on 2022-08-01, first crossing an EXIT in 2023: the
    arrival is imputed on the registration day (reporting delay 0 with too few cases)."""
    x = [("X", "EXIT", D(2020, 1, 1), "NZL", "HOLIDAY"), ("X", "ENTRY", D(2020, 1, 9), "NZL", "HOLIDAY")]
    st = [("T", "EXIT", D(2023, 6, 11), "NZL", "OTHER")]
    _, log = _place(x + st, persons=_persons("T", D(2022, 8, 1)))
    assert log.filter(kind="MISSING_FIRST_ENTRY").select("imputed_date", "direction").rows() == [
        (D(2022, 8, 1), "ENTRY")]
    # a citizen registered during the period (a birth, a return) is not taken for a newcomer
    _, log = _place(x + st, persons=_persons("T", D(2022, 8, 1), citizen=True))
    assert log.filter(kind="MISSING_FIRST_ENTRY").height == 0


def test_a_student_with_a_new_permit_after_the_old_one_ends_is_not_given_an_exit():
    """The study permit held at the last entry ends before U, but a work permit starts after it:
    the person stayed on; no exit is imputed at the study permit's end."""
    r = [("S", "ENTRY", D(2021, 3, 1), "IND", "STUDY")]
    permits = {"person_key": ["S", "S"], "permit_kind": ["STUDY", "WORK"],
               "valid_from": [D(2021, 1, 18), D(2024, 2, 9)], "valid_to": [D(2024, 1, 18), D(2027, 2, 8)]}
    _, log = _place(r, permits)
    assert log.filter(kind="MISSING_LAST_EXIT").height == 0
    _, log = _place(r, {k: v[:1] for k, v in permits.items()})
    assert log.filter(kind="MISSING_LAST_EXIT")["imputed_date"].to_list() == [D(2024, 1, 18)]


def test_a_worker_who_registered_on_arrival_still_leaves_when_the_permit_ends():
    """A German on a 15-month work permit (20 Dec 2020 - 31 Mar 2022, not renewed, nothing
    after it) enters on 2 Jan 2021 and registers where he lives on 20 Jan; his exit was lost.
    That registration is part of the arrival, made while the permit ran: no evidence he stayed
    after it, so the lost exit is imputed at the permit's end (the typical lead is 0 on so few
    cases), as for an unregistered holder. The old reading took any registration after the
    entry as a reason to stay, and he stayed resident to U: an emigration missed. A
    registration starting only after the permit ended still keeps him (he stayed on)."""
    r = [("W", "ENTRY", D(2021, 1, 2), "DEU", "WORK")]
    permits = {"person_key": ["W"], "permit_kind": ["WORK"], "valid_from": [D(2020, 12, 20)],
               "valid_to": [D(2022, 3, 31)]}
    _, log = _place(r, permits, _persons("W", D(2021, 1, 20)))
    assert log.filter(kind="MISSING_LAST_EXIT")["imputed_date"].to_list() == [D(2022, 3, 31)]
    _, log = _place(r, permits, _persons("W", D(2022, 6, 1)))
    assert log.filter(kind="MISSING_LAST_EXIT").height == 0


def test_a_resident_who_comes_back_as_a_visitor_moved_abroad_inside_the_gap():
    """Entries declaring NZL residence, then, 3.3 years later, an entry declaring AUS residence
    on a family visit: the lost exit is the move abroad. It is placed when the person would have
    left on their next trip -- their typical time at home between trips (here one spell,
    2020-02-06 to 2020-06-25: 140 days) after the last entry, at most the middle of the gap --
    not as a short trip just before the visit, which would date the emigration years late."""
    r = [("R", "EXIT", D(2020, 1, 31), "NZL", "HOLIDAY"), ("R", "ENTRY", D(2020, 2, 6), "NZL", "HOLIDAY"),
         ("R", "EXIT", D(2020, 6, 25), "NZL", "HOLIDAY"), ("R", "ENTRY", D(2020, 7, 4), "NZL", "HOLIDAY"),
         ("R", "ENTRY", D(2023, 11, 3), "AUS", "FAMILY")]
    _, log = _place(r)
    assert log.filter(kind="MISSING_EXIT")["imputed_date"].to_list() == [D(2020, 7, 4) + dt.timedelta(days=140)]
    # a gap shorter than twice the time at home: the middle of the gap
    short = r[:4] + [("R", "ENTRY", D(2020, 10, 1), "AUS", "FAMILY")]
    _, log = _place(short)
    gap = (D(2020, 10, 1) - D(2020, 7, 4)).days
    assert log.filter(kind="MISSING_EXIT")["imputed_date"].to_list() == [
        D(2020, 7, 4) + dt.timedelta(days=(gap + 1) // 2)]
    # coming back declaring NZL residence: a trip, the exit a typical trip before the entry
    _, log = _place(r[:-1] + [("R", "ENTRY", D(2023, 11, 3), "NZL", "FAMILY")])
    assert log.filter(kind="MISSING_EXIT")["imputed_date"].to_list() == [D(2023, 10, 26)]


def test_a_registered_person_returning_home_after_a_year_away_starts_non_resident():
    """Ivy is registered (never deregistered: the register's over-coverage of emigrants); her
    first crossing is an ENTRY declaring RETURN_HOME more than N = 365 days after the border data
    start (2020-03-01): she was abroad at least that long, so NON_RESIDENT before it and her
    return is an immigration. On a holiday's return, or within N days of the start, the
    register's RESIDENT stands."""
    from example_world import register_rows

    ivy = _person_cols("Ivy", "Ngata", "F", D(1988, 8, 8), "NZL", "NZL")
    reg = {"record_id": "RI", "_key": "P14", "person_number": "PNRI", "registration_date": D(1988, 8, 8),
           "registration_reason": "BIRTH", "previous_country": None, "deregistration_date": None,
           "deregistration_reason": None, "next_country": None, "naturalisation_date": None,
           "region": "R1", "address": "4 Main St", **ivy}

    def status(day, reason):
        rows = border_rows() + [_b("I1", "P14", "ENTRY", day, reason, "NZL", ivy)]
        con, _ = build_example(border=rows, register=register_rows() + [reg])
        got = con.execute("SELECT initial_status, initial_status_source FROM initial_status "
                          "WHERE person_key = 'P14'").fetchall()[0]
        events = con.sql("SELECT event_type FROM migration_events WHERE person_key = 'P14'").fetchall()
        return got, events

    assert status(D(2021, 6, 1), "RETURN_HOME") == (("NON_RESIDENT", "absent_before_first_entry"),
                                                    [("IMMIGRATION",)])
    assert status(D(2021, 6, 1), "HOLIDAY") == (("RESIDENT", "population_register"), [])
    assert status(D(2020, 6, 1), "RETURN_HOME") == (("RESIDENT", "population_register"), [])


def _dereg(key, registered_on, deregistered_on):
    import polars as pl

    return pl.DataFrame({"person_key": [key], "in_population_register": [True],
                         "registration_date": [registered_on], "deregistration_date": [deregistered_on],
                         "deregistration_reason": ["EMIGRATION"], "is_citizen": [False]})


def test_a_permits_end_dates_a_lost_exit_before_a_later_deregistration():
    """A German on a work permit (20 Dec 2020 - 30 Jun 2022, not renewed) enters on 10 Jan 2021;
    his exit was lost, and the register deregistered him as an emigrant on 15 Nov 2022. The
    permit's end dates the departure (holders leave a set time before it: 0 days on so few
    cases), not the deregistration, which the register records weeks to a year late: EXIT on
    30 Jun 2022 (the old order took the deregistration: 15 Nov 2022, a later year's emigration
    for a March exit). A deregistration before the permit's end means he was gone by then: the
    deregistration dates it (1 Mar 2022). The same between two entries (he came back on a new
    permit in 2023)."""
    permits = {"person_key": ["W"], "permit_kind": ["WORK"], "valid_from": [D(2020, 12, 20)],
               "valid_to": [D(2022, 6, 30)]}
    r = [("W", "ENTRY", D(2021, 1, 10), "DEU", "WORK")]
    _, log = _place(r, permits, _dereg("W", D(2021, 2, 1), D(2022, 11, 15)))
    row = log.filter(kind="MISSING_LAST_EXIT")
    assert row["imputed_date"].to_list() == [D(2022, 6, 30)]
    assert "permit held at the last entry expired" in row["reason"][0]
    _, log = _place(r, permits, _dereg("W", D(2021, 2, 1), D(2022, 3, 1)))
    row = log.filter(kind="MISSING_LAST_EXIT")
    assert row["imputed_date"].to_list() == [D(2022, 3, 1)]
    assert "deregistered as an emigrant" in row["reason"][0]
    # two entries, the second on a permit granted in 2023: the lost exit between them likewise
    gap = r + [("W", "ENTRY", D(2023, 5, 1), "DEU", "WORK")]
    two = {k: v * 2 for k, v in permits.items()} | {"valid_from": [D(2020, 12, 20), D(2023, 4, 15)],
                                                  "valid_to": [D(2022, 6, 30), D(2025, 4, 14)]}
    _, log = _place(gap, two, _dereg("W", D(2019, 5, 1), D(2022, 11, 15)))
    row = log.filter(kind="MISSING_EXIT")
    assert row["imputed_date"].to_list() == [D(2022, 6, 30)]
    assert "the permit held at arrival expired" in row["reason"][0]


def test_a_registration_after_an_exit_dates_the_lost_return():
    """Rua, a New Zealander living in Australia, leaves after a visit on 1 Mar 2021 (declaring
    residence in Australia) and next leaves on 7 Jun 2023 (declaring home, reason OTHER): her return was lost
    in between. The population register registered her on 29 Mar 2023 -- made on the spot, so
    she was back by then: the ENTRY goes the typical arrival-to-registration delay before it
    (0 days on so few cases), 29 Mar 2023, not where the proportional split put it. After a
    last exit (no later crossing at all) the same registration dates the lost return
    (MISSING_LAST_ENTRY). A registration on the day of the exit may belong to an arrival before
    it: nothing is imputed from it."""
    persons = _persons("R", D(2023, 3, 29), citizen=True)
    two = [("R", "EXIT", D(2021, 3, 1), "AUS", "HOLIDAY"), ("R", "EXIT", D(2023, 6, 7), "NZL", "OTHER")]
    repaired, log = _place(two, persons=persons)
    row = log.filter(kind="MISSING_ENTRY")
    assert row["imputed_date"].to_list() == [D(2023, 3, 29)]
    assert "registered in the population register after the exit" in row["reason"][0]
    assert repaired.sort("crossing_seq").select("direction", "crossing_date").rows() == [
        ("EXIT", D(2021, 3, 1)), ("ENTRY", D(2023, 3, 29)), ("EXIT", D(2023, 6, 7))]
    _, log = _place(two, persons=None)
    assert log.filter(kind="MISSING_ENTRY")["imputed_date"].to_list() != [D(2023, 3, 29)]
    _, log = _place(two[:1], persons=persons)
    assert log.filter(kind="MISSING_LAST_ENTRY").select("imputed_date", "direction").rows() == [
        (D(2023, 3, 29), "ENTRY")]
    _, log = _place(two[:1], persons=_persons("R", D(2021, 3, 1), citizen=True))
    assert log.filter(kind="MISSING_LAST_ENTRY").height == 0


def test_an_asylum_application_dates_a_claimants_lost_arrival():
    """Omar's only recorded crossing is an EXIT on 20 Dec 2023; his arrival record was lost. He
    applied for asylum on 10 Feb 2023 (rejected), so he was in the country by then: the ENTRY is
    imputed the typical arrival-to-application delay before it (0 days on so few cases). His
    313-day stay is no migration under 12-16, and he was never resident: no event. Read
    without the asylum register, his first crossing is an EXIT, so he was resident from the
    start and leaving is an emigration."""
    omar = _person_cols("Omar", "Said", "M", D(1991, 4, 4), "SYR", "SYR")
    border = border_rows() + [_b("O1", "P13", "EXIT", D(2023, 12, 20), "OTHER", "NZL", omar)]
    case = [{"record_id": "A13", "_key": "P13", "case_number": "C13", "application_date": D(2023, 2, 10),
             "decision": "REJECTED", "decision_date": D(2023, 10, 1), "document_number": None, **omar}]
    con, _ = build_example(border=border, asylum=case)
    rep = con.sql("SELECT kind, crossing_date, imputed_date, reason FROM crossing_repairs "
                  "WHERE person_key = 'P13'").fetchall()
    assert [r[:3] for r in rep] == [("MISSING_FIRST_ENTRY", D(2023, 12, 20), D(2023, 2, 10))]
    assert "asylum application" in rep[0][3]
    assert con.sql("SELECT count(*) FROM migration_events WHERE person_key = 'P13'").fetchall() == [(0,)]
    con, _ = build_example(border=border)
    assert con.sql("SELECT event_type, event_date FROM migration_events WHERE person_key = 'P13'"
                   ).fetchall() == [("EMIGRATION", D(2023, 12, 20))]


def test_everyones_visitor_stay_counts_each_visitor_once():
    """The typical stay of a visitor with none of their own is everyone's: each visitor's own
    median, counted once. A cross-border commuter (twelve same-day visits), a visitor who stayed
    10 days and one who stayed 20: medians 0, 10, 20 -> 10 days, so Kim, who came on 1 May 2022
    and whose exit was lost, leaves on 11 May. Counted per stay (the old tally), the commuter's
    twelve 0-day visits made it 0: an exit on her arrival day."""
    commuter = [r for d in range(1, 13) for r in (("C", "ENTRY", D(2021, 3, d), "AUS", "WORK"),
                                                   ("C", "EXIT", D(2021, 3, d), "AUS", "WORK"))]
    visitors = [("V", "ENTRY", D(2021, 2, 1), "AUS", "HOLIDAY"), ("V", "EXIT", D(2021, 2, 11), "AUS", "HOLIDAY"),
                ("W", "ENTRY", D(2021, 6, 1), "GBR", "HOLIDAY"), ("W", "EXIT", D(2021, 6, 21), "GBR", "HOLIDAY")]
    kim = [("K", "ENTRY", D(2022, 5, 1), "AUS", "HOLIDAY")]
    _, log = _place(commuter + visitors + kim)
    assert log.filter(kind="MISSING_LAST_EXIT", person_key="K")["imputed_date"].to_list() == [D(2022, 5, 11)]


def test_a_move_abroad_is_no_trip_in_a_residents_typical_trip():
    """Ana took a 14-day holiday in 2020, then left on 1 Jun 2020 (declaring home) and came back
    for good two years later (1 Jun 2022, RETURN_HOME); her next exit was lost before she came
    back on 20 May 2023. The lost exit is a trip's, dated her typical trip before the return:
    14 days (6 May 2023). The two years away are a move abroad, not a trip: counted as one, her
    median trip was 372 days, and the exit was put on the day she came home in 2022 -- a false
    emigration and immigration around a stay."""
    r = [("A", "EXIT", D(2020, 2, 1), "NZL", "HOLIDAY"), ("A", "ENTRY", D(2020, 2, 15), "NZL", "HOLIDAY"),
         ("A", "EXIT", D(2020, 6, 1), "NZL", "OTHER"), ("A", "ENTRY", D(2022, 6, 1), "NZL", "RETURN_HOME"),
         ("A", "ENTRY", D(2023, 5, 20), "NZL", "HOLIDAY")]
    _, log = _place(r)
    row = log.filter(kind="MISSING_EXIT")
    assert row["imputed_date"].to_list() == [D(2023, 5, 6)]
    assert "the person's own median trip" in row["reason"][0]


def test_an_earlier_registrations_deregistration_dates_a_returning_emigrants_exit():
    """Mere, a New Zealander born 1990, holidays in 2021 and is back on 26 Oct 2021; her exit
    abroad was lost. The register deregistered her as an emigrant on 16 Feb 2022 and, when she
    came home, registered her again on 30 Mar 2023 -- two register records, and `persons` keeps
    only the latest (no deregistration). The repair reads every registration spell, so the lost
    exit before her visit from Australia on 1 Feb 2023 goes on the deregistration date (the
    reporting delay is 0 on so few cases): she emigrated in 2022. Read from `persons` alone,
    she was a stayer who moved abroad at some point in the gap."""
    from example_world import register_rows

    mere = _person_cols("Mere", "Ngata", "F", D(1990, 8, 8), "NZL", "NZL")
    border = border_rows() + [
        _b("M1", "P14", "EXIT", D(2021, 10, 20), "HOLIDAY", "NZL", mere),
        _b("M2", "P14", "ENTRY", D(2021, 10, 26), "HOLIDAY", "NZL", mere),
        _b("M3", "P14", "ENTRY", D(2023, 2, 1), "FAMILY", "AUS", mere),
        _b("M4", "P14", "EXIT", D(2023, 2, 22), "FAMILY", "AUS", mere)]
    reg = _r("P14", mere, (("R14", D(1990, 8, 8), "BIRTH", D(2022, 2, 16), "EMIGRATION"),
                           ("R15", D(2023, 3, 30), "IMMIGRATION", None, None)))
    con, _ = build_example(border=border, register=register_rows() + reg)
    assert con.sql("SELECT registration_date, deregistration_date FROM persons WHERE person_key = 'P14'"
                   ).fetchall() == [(D(2023, 3, 30), None)]
    rep = con.sql("SELECT kind, imputed_date, reason FROM crossing_repairs WHERE person_key = 'P14' "
                  "AND kind = 'MISSING_EXIT'").fetchall()
    assert [r[:2] for r in rep] == [("MISSING_EXIT", D(2022, 2, 16))]
    assert "deregistered as an emigrant" in rep[0][2]


def test_a_registration_held_at_the_first_crossing_counts_though_a_later_one_replaced_it():
    """Hemi, born in New Zealand in 1968, comes back from a holiday on 5 Oct 2020 (his first
    recorded crossing: the exit before it was lost), emigrates on 23 May 2021 and comes home for
    good on 26 Nov 2023. The register holds two records: his birth registration, closed on
    4 Feb 2022 (deregistered as an emigrant), and a new registration on 11 Dec 2023. `persons`
    keeps the latest, which starts after his first crossing, so he looked unregistered then and
    a first ENTRY made him NON_RESIDENT: his emigration was never counted. Every registration
    spell is read: the birth registration covered 5 Oct 2020, so he starts RESIDENT (the
    population register) and leaving on 23 May 2021 is an emigration."""
    from example_world import register_rows

    hemi = _person_cols("Hemi", "Tane", "M", D(1968, 8, 21), "NZL", "NZL")
    border = border_rows() + [
        _b("H1", "P15", "ENTRY", D(2020, 10, 5), "HOLIDAY", "NZL", hemi),
        _b("H2", "P15", "EXIT", D(2021, 5, 23), "SETTLE", "NZL", hemi),
        _b("H3", "P15", "ENTRY", D(2022, 10, 24), "FAMILY", "GBR", hemi),
        _b("H4", "P15", "EXIT", D(2022, 11, 21), "FAMILY", "GBR", hemi),
        _b("H5", "P15", "ENTRY", D(2023, 11, 26), "RETURN_HOME", "GBR", hemi)]
    reg = _r("P15", hemi, (("R16", D(1968, 8, 21), "BIRTH", D(2022, 2, 4), "EMIGRATION"),
                           ("R17", D(2023, 12, 11), "IMMIGRATION", None, None)))
    con, _ = build_example(border=border, register=register_rows() + reg)
    assert con.sql("SELECT initial_status, initial_status_source FROM initial_status WHERE person_key = 'P15'"
                   ).fetchall() == [("RESIDENT", "population_register")]
    assert ("EMIGRATION", D(2021, 5, 23)) in con.sql(
        "SELECT event_type, event_date FROM migration_events WHERE person_key = 'P15'").fetchall()


# --- the lead of the kind of permit held; a residence right from a stay the person ended ---

def test_a_lost_exit_at_a_permits_end_follows_the_lead_of_that_kind_of_permit():
    """Five students left 10 days after their study permit ended (their last recorded exits: a
    lead of -10 days), five workers 30 days before their work permit ended (+30). A student
    and a worker whose last exits were lost, each on a permit ending 31 Jan 2023: the student's
    exit goes on 10 Feb 2023 (the study permits' lead), the worker's on 1 Jan 2023 (the work
    permits'). One lead for all (the workers', the only exits made while the permit still ran)
    put the student's departure on 1 Jan -- and a permit ending in January on 2 Jan or earlier,
    in the year before. With fewer than five students, their kind falls back to everyone's."""
    rows, keys, kinds, starts, ends = [], [], [], [], []
    for i in range(5):
        end = D(2022, 1, 20) + dt.timedelta(days=7 * i)
        rows += [(f"s{i}", "ENTRY", D(2021, 2, 1), "CHN", "STUDY"),
                 (f"s{i}", "EXIT", end + dt.timedelta(days=10), "NZL", "HOLIDAY"),
                 (f"w{i}", "ENTRY", D(2021, 2, 1), "PHL", "WORK"),
                 (f"w{i}", "EXIT", end - dt.timedelta(days=30), "NZL", "OTHER")]
        keys += [f"s{i}", f"w{i}"]
        kinds += ["STUDY", "WORK"]
        starts += [D(2021, 1, 20), D(2021, 1, 20)]
        ends += [end, end]
    lost = [("S", "ENTRY", D(2022, 2, 1), "CHN", "STUDY"), ("W", "ENTRY", D(2022, 2, 1), "PHL", "WORK")]
    permits = {"person_key": keys + ["S", "W"], "permit_kind": kinds + ["STUDY", "WORK"],
               "valid_from": starts + [D(2022, 1, 25)] * 2, "valid_to": ends + [D(2023, 1, 31)] * 2}
    _, log = _place(rows + lost, permits)
    got = {r["person_key"]: (r["imputed_date"], r["reason"])
           for r in log.filter(kind="MISSING_LAST_EXIT").iter_rows(named=True)}
    assert got["S"][0] == D(2023, 2, 10) and "of STUDY permits, -10 days" in got["S"][1]
    assert got["W"][0] == D(2023, 1, 1) and "of WORK permits, 30 days" in got["W"][1]
    # four students only: too few to estimate their kind's lead; everyone's (30) is used
    few = [r for r in rows if r[0] != "s4"]
    fewp = {k: [v for v, key in zip(vals, permits["person_key"]) if key != "s4"] for k, vals in permits.items()}
    _, log = _place(few + lost, fewp)
    s = log.filter(kind="MISSING_LAST_EXIT", person_key="S")
    assert s["imputed_date"].to_list() == [D(2023, 1, 1)] and "of any permit, 30 days" in s["reason"][0]


def test_a_residence_permit_from_a_stay_the_person_ended_does_not_keep_a_visitor():
    """An Indian-born resident on a residence permit since 2010 (open-ended) left on 1 May 2020
    and came back on 22 Aug 2022 for a holiday, declaring India as residence; the exit of that
    visit was lost. The permit started before she left and she was away more than a year: it is
    the right to stay of the stay she ended, not evidence that she stayed on now -- the visit's
    exit goes after the typical visitor stay (12 days, a tourist's). The old reading took the
    permit as a reason to stay, kept her to U and made her an immigrant in 2022. After an
    absence under a year (a trip), or with a permit granted after she left, the permit still
    speaks against a visit and nothing is imputed."""
    x = [("X", "EXIT", D(2020, 1, 1), "NZL", "HOLIDAY"), ("X", "ENTRY", D(2020, 1, 9), "NZL", "HOLIDAY"),
         ("T", "ENTRY", D(2021, 3, 1), "AUS", "HOLIDAY"), ("T", "EXIT", D(2021, 3, 13), "AUS", "HOLIDAY")]

    def emigrant(left):
        return [("E", "EXIT", left, "NZL", "OTHER"), ("E", "ENTRY", D(2022, 8, 22), "IND", "HOLIDAY")]

    def permit(start):
        import polars as pl

        return {"person_key": ["E"], "permit_kind": ["RESIDENCE"], "valid_from": [start],
                "valid_to": pl.Series([None], dtype=pl.Date)}

    repaired, log = _place(x + emigrant(D(2020, 5, 1)), permit(D(2010, 1, 1)))
    row = log.filter(kind="MISSING_LAST_EXIT", person_key="E")
    assert row["imputed_date"].to_list() == [D(2022, 9, 3)] and "visitor" in row["reason"][0]
    e = repaired.filter(person_key="E").sort("crossing_seq")
    assert e.select("direction", "imputed").rows() == [("EXIT", False), ("ENTRY", False), ("EXIT", True)]
    # away 200 days only: a resident's trip, the permit keeps her
    _, log = _place(x + emigrant(D(2022, 2, 3)), permit(D(2010, 1, 1)))
    assert log.filter(kind="MISSING_LAST_EXIT", person_key="E").height == 0
    # a permit granted after she left: a reason to come back and stay
    _, log = _place(x + emigrant(D(2020, 5, 1)), permit(D(2022, 6, 1)))
    assert log.filter(kind="MISSING_LAST_EXIT", person_key="E").height == 0


def test_a_lost_exit_follows_the_end_of_a_run_of_renewed_permits():
    """A French student enters on 26 Feb 2020 on a study permit renewed once (16 Jan 2020 - 15
    Jan 2021, then 15 Jan 2021 - 15 Jan 2022), nothing after; her last exit was lost. The
    renewal continues the right to stay, so it ends on 15 Jan 2022 and the exit is imputed then
    (no leads to estimate from: 0 days). The old reading saw only the first permit, took the
    second for a renewal and stopped there: no exit at all, resident to U, an emigration missed.
    A permit starting after the run has ended is a new right to stay: nothing is imputed."""
    r = [("F", "ENTRY", D(2020, 2, 26), "FRA", "STUDY")]
    permits = {"person_key": ["F", "F"], "permit_kind": ["STUDY", "STUDY"],
               "valid_from": [D(2020, 1, 16), D(2021, 1, 15)], "valid_to": [D(2021, 1, 15), D(2022, 1, 15)]}
    _, log = _place(r, permits)
    assert log.filter(kind="MISSING_LAST_EXIT")["imputed_date"].to_list() == [D(2022, 1, 15)]
    later = {k: v + [w] for (k, v), w in zip(permits.items(), ["F", "WORK", D(2022, 3, 1), D(2025, 3, 1)])}
    _, log = _place(r, later)
    assert log.filter(kind="MISSING_LAST_EXIT").height == 0


def test_an_absence_after_a_declared_move_is_no_trip_in_a_residents_typical_trip():
    """Tui took a 14-day holiday in 2020, then left on 1 Jun 2020 declaring SETTLE (a move
    abroad) and came back 200 days later; her next exit was lost before she came back on 20 May
    2023. The 200 days after a declared move are no trip: her typical trip is the holiday's 14
    days, so the lost exit is 6 May 2023. Counted as a trip, her median trip (and everyone's) was
    107 days, and the exit went on 2 Feb 2023."""
    r = [("T", "EXIT", D(2020, 2, 1), "NZL", "HOLIDAY"), ("T", "ENTRY", D(2020, 2, 15), "NZL", "HOLIDAY"),
         ("T", "EXIT", D(2020, 6, 1), "NZL", "SETTLE"), ("T", "ENTRY", D(2020, 12, 18), "NZL", "HOLIDAY"),
         ("T", "ENTRY", D(2023, 5, 20), "NZL", "HOLIDAY")]
    _, log = _place(r)
    assert log.filter(kind="MISSING_EXIT")["imputed_date"].to_list() == [D(2023, 5, 6)]


def test_a_single_trip_of_ones_own_is_drawn_towards_everyones_typical_trip():
    """Ari's one complete trip took 60 days; the other residents' five took 10 days each
    (everyone's median trip: 10). His lost exit before he came back on 1 Jun 2023 is placed one
    typical trip before that return: his own 60 days weighted once, everyone's 10 days twice
    (TRIP_PRIOR_WEIGHT), (60 + 2 x 10) / 3 = 26.7 -> 27 days: 5 May 2023. His own median alone
    (one trip) put it 60 days before, on 2 Apr 2023."""
    import polars as pl

    def trips(key, starts, days):
        return [row for d in starts for row in ((key, "EXIT", d, "NZL", "HOLIDAY"),
                                                (key, "ENTRY", d + dt.timedelta(days=days), "NZL", "HOLIDAY"))]

    others = (trips("B", [D(2020, 3, 1), D(2021, 3, 1), D(2022, 3, 1)], 10)
              + trips("C", [D(2020, 5, 1), D(2021, 5, 1)], 10))
    ari = trips("A", [D(2020, 4, 1)], 60) + [("A", "ENTRY", D(2023, 6, 1), "NZL", "HOLIDAY")]
    _, log = _place(others + ari)
    row = log.filter(pl.col("kind") == "MISSING_EXIT")
    assert row["imputed_date"].to_list() == [D(2023, 5, 5)]
    assert "the person's own median trip drawn towards everyone's" in row["reason"][0]


def test_a_work_permit_granted_for_the_next_arrival_does_not_keep_a_visitor():
    """Min-jun visits family (entry 22 Jul 2023 declaring KOR and FAMILY; the exit was lost) and
    comes back to work on 13 Dec 2023, declaring WORK, on a work permit first valid 19 Oct 2023.
    The permit starts inside the 90 days a visitor could have stayed, but after the visit began
    and within a year before an arrival declared as one to work: it is that arrival's, not a
    reason to stay on from July. The lost exit is the visitor's, after the typical 10-day visit
    (1 Aug 2023). Before, the permit blocked the visitor reading and the crossings-only
    imputation kept the exit on the day she came back: an immigration in July, five months
    early."""
    import polars as pl

    rows = [("V", "ENTRY", D(2021, 2, 1), "AUS", "HOLIDAY"), ("V", "EXIT", D(2021, 2, 11), "AUS", "HOLIDAY"),
            ("M", "ENTRY", D(2023, 7, 22), "KOR", "FAMILY"), ("M", "ENTRY", D(2023, 12, 13), "KOR", "WORK")]
    permit = {"person_key": ["M"], "permit_kind": ["WORK"], "valid_from": [D(2023, 10, 19)],
              "valid_to": [D(2026, 10, 18)]}
    _, log = _place(rows, permit)
    placed = log.filter(pl.col("kind") == "MISSING_EXIT")
    assert placed["imputed_date"].to_list() == [D(2023, 8, 1)] and "visitor" in placed["reason"][0]
    # the same second entry declaring a holiday: the permit may be what kept her on from July
    _, log = _place(rows[:3] + [("M", "ENTRY", D(2023, 12, 13), "KOR", "HOLIDAY")], permit)
    assert "visitor" not in (log.filter(pl.col("kind") == "MISSING_EXIT")["reason"][0] or "")


def test_a_registered_emigrant_visiting_twice_gets_the_lost_entry_of_a_visit():
    """Hemi, born here and still registered (his emigration never closed the record), lives in
    Australia: he visits in August 2020 (entry and exit declaring AUS, FAMILY), his next entry is
    lost, and he leaves on 25 Aug 2022 declaring AUS and FAMILY again. Both exits declare a
    residence abroad and a visit: the lost entry is another visit's, his typical 19-day stay
    before the second exit (6 Aug 2022). The registration no longer blocks that reading (it is
    the register's over-coverage of emigrants); before, the crossings-only repair put the entry
    on the day of his first exit (20 Aug 2020) and he counted as present, an immigrant, from
    then."""
    import datetime as _dt

    import polars as pl

    rows = [("H", "ENTRY", D(2020, 8, 1), "AUS", "FAMILY"), ("H", "EXIT", D(2020, 8, 20), "AUS", "FAMILY"),
            ("H", "EXIT", D(2022, 8, 25), "AUS", "FAMILY")]
    persons = pl.DataFrame({"person_key": ["H"], "in_population_register": [True],
                            "registration_date": [D(1990, 5, 1)],
                            "deregistration_date": pl.Series([None], dtype=pl.Date),
                            "deregistration_reason": pl.Series([None], dtype=pl.String),
                            "is_citizen": [True]})
    _, log = _place(rows, persons=persons)
    placed = log.filter(pl.col("kind") == "MISSING_ENTRY")
    assert placed["imputed_date"].to_list() == [D(2022, 8, 25) - _dt.timedelta(days=19)]
    assert "visit" in placed["reason"][0]


def test_a_baby_born_here_whose_first_crossing_is_a_visit_from_abroad_left_after_birth():
    """Aiko was born in the country and registered at birth in March 2021 (the register dates
    births to the month: 1 Mar 2021); her first recorded crossing is an entry on 5 Nov 2021
    declaring a residence in Japan and a holiday, then she leaves again. She was here at birth,
    so she left before that entry -- the exit was lost: it is imputed halfway from the birth month
    to the entry (3 Jul 2021) and she emigrated in 2021. Before, nothing was imputed and the
    initial status (a foreign residence declared on the first entry) made her a non-resident from
    the start: no emigration at all. A baby whose first entry declares the home country and who
    is not deregistered is back from a trip: nothing is imputed."""
    import polars as pl

    from reglink.rules.engine import derive_events

    rows = [("V", "ENTRY", D(2020, 1, 2), "AUS", "HOLIDAY"), ("V", "EXIT", D(2020, 1, 12), "AUS", "HOLIDAY"),
            ("A", "ENTRY", D(2021, 11, 5), "JPN", "HOLIDAY"), ("A", "EXIT", D(2021, 12, 2), "JPN", "HOLIDAY"),
            ("B", "ENTRY", D(2021, 11, 5), "NZL", "HOLIDAY"), ("B", "EXIT", D(2022, 2, 2), "NZL", "HOLIDAY")]
    persons = pl.DataFrame({"person_key": ["A", "B"], "in_population_register": [True, True],
                            "registration_date": [D(2021, 3, 1), D(2021, 3, 1)],
                            "deregistration_date": pl.Series([None, None], dtype=pl.Date),
                            "deregistration_reason": pl.Series([None, None], dtype=pl.String),
                            "registration_reason": ["BIRTH", "BIRTH"], "is_citizen": [True, True]})
    repaired, log = _place(rows, persons=persons)
    added = log.filter(pl.col("kind") == "MISSING_FIRST_EXIT")
    assert added.select("person_key", "imputed_date", "direction").rows() == [("A", D(2021, 7, 3), "EXIT")]
    assert "registered at birth" in added["reason"][0]
    ev = derive_events(repaired.filter(pl.col("person_key") == "A"), "12-16",
                       observed_until=D(2024, 12, 31), id_col="person_key")
    assert ev.select("event_type", "event_date").rows() == [("EMIGRATION", D(2021, 7, 3))]
