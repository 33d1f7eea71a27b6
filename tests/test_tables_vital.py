"""Toolkit tables 3.4 (births by the parents' country of birth and citizenship) and 3.5 (deaths),
and the present (de facto) population, on the hand-worked example world (tests/example_world.py)
extended with births and deaths whose cells are counted by hand."""
import datetime as dt

import pytest

from reglink import store
from example_world import _person_cols, build_example, example_settings, register_rows

D = dt.date


def _reg(rid: str, key: str, person: dict, reg: dt.date, reason: str, mother=None, father=None,
         dereg=None, dreason=None, nat=None) -> dict:
    return {"record_id": rid, "_key": key, "person_number": f"PN{rid}", "registration_date": reg,
            "registration_reason": reason, "previous_country": None, "deregistration_date": dereg,
            "deregistration_reason": dreason, "next_country": None, "naturalisation_date": nat,
            "region": "R1", "address": "1 Main St", "mother_person_number": mother,
            "father_person_number": father, **person}


def _baby(rid: str, born: dt.date, mother=None, father=None) -> dict:
    return _reg(rid, f"K{rid}", _person_cols(f"Kid{rid}", "Baby", "F", born, "NZL", "NZL"), born,
                "BIRTH", mother=mother, father=father)


def vital_register() -> list[dict]:
    """The example register (Ana PNR1 native-born citizen; Ben PNR2 born in GBR, naturalised
    2023-07-01; Dora PNR4 born in AUS, AUS citizen; Eli dies 2023-08-20; Fay born 2022) plus:

    births in 2023 (reference parent: the mother, else the father; attributes at the birth)
    - 1: mother Ana                                   → E native-born citizen parent
    - 2: mother Dora                                  → H foreign-born foreign citizen
    - 3: father Ben, born 2023-03-01 (before his naturalisation) → H
    - 4: father Ben, born 2023-09-01 (after it)       → G foreign-born citizen
    - 5: mother number PN999, which no record holds   → U (NUMBER_NOT_FOUND)
    - 6: no parent number                             → U (NO_PARENT_NUMBER)
    - 7: mother Ana and father Ben                    → E (by the mother)
    - 8: mother written ' pnr1 ' (spaces, lower case) → E (the same number)
    So E 3, F 0, G 1, H 2, U 2; A = E+F = 3, B = G+H = 3, C = E+G = 4, D = F+H = 2, T 8.

    deaths in 2023: Eli (native-born citizen, E); Hal (born in GBR, GBR citizen, H); Ivy (born in
    GBR, naturalised 2020, G). Jon (native-born citizen) died in 2022: not in the 2023 table.
    So 3.5: E 1, F 0, G 1, H 1, U 0, T 3."""
    rows = register_rows()
    rows += [
        _baby("31", D(2023, 2, 1), mother="PNR1"),
        _baby("32", D(2023, 1, 15), mother="PNR4"),
        _baby("33", D(2023, 3, 1), father="PNR2"),
        _baby("34", D(2023, 9, 1), father="PNR2"),
        _baby("35", D(2023, 4, 4), mother="PN999"),
        _baby("36", D(2023, 5, 5)),
        _baby("37", D(2023, 10, 1), mother="PNR1", father="PNR2"),
        _baby("38", D(2023, 11, 11), mother=" pnr1 "),
        _reg("41", "P41", _person_cols("Hal", "Moss", "M", D(1940, 1, 1), "GBR", "GBR"), D(1970, 1, 1),
             "IMMIGRATION", dereg=D(2023, 5, 5), dreason="DEATH"),
        _reg("42", "P42", _person_cols("Ivy", "Moss", "F", D(1942, 2, 2), "GBR", "NZL"), D(1970, 1, 1),
             "IMMIGRATION", dereg=D(2023, 6, 6), dreason="DEATH", nat=D(2020, 1, 1)),
        _reg("43", "P43", _person_cols("Jon", "Reed", "M", D(1930, 3, 3), "NZL", "NZL"), D(1930, 3, 3),
             "BIRTH", dereg=D(2022, 7, 7), dreason="DEATH"),
    ]
    return rows


@pytest.fixture(scope="module")
def vital():
    con, _ = build_example(settings=example_settings(reference_year=2023), register=vital_register())
    yield con
    con.close()


def _cells(con, table: str) -> dict[str, int]:
    return dict(con.execute(f"SELECT cell, persons FROM {table}").fetchall())


def test_table_3_4_births_by_parents_hand_counted(vital):
    t = _cells(vital, "toolkit_table_3_4")
    assert t == {"A": 3, "B": 3, "C": 4, "D": 2, "E": 3, "F": 0, "G": 1, "H": 2, "U": 2, "T": 8}
    links = dict(vital.execute("SELECT parent_link, count(*) FROM births WHERE birth_year = 2023 "
                               "GROUP BY 1").fetchall())
    assert links == {"LINKED": 6, "NUMBER_NOT_FOUND": 1, "NO_PARENT_NUMBER": 1}
    # the parents are person keys; births 3/4 by the father, 7 by the mother although both given
    parents = {k: (m, f, r) for k, m, f, r in vital.execute(
        "SELECT person_key, mother_key, father_key, reference_parent FROM births").fetchall()}
    assert parents["K37"] == ("P1", "P2", "MOTHER") and parents["K33"] == (None, "P2", "FATHER")
    assert parents["K38"][0] == "P1"
    notes = vital.execute("SELECT DISTINCT notes FROM toolkit_table_3_4").fetchall()
    assert len(notes) == 1 and notes[0][0].startswith("Parents found for 6 of 8 births (75%)")
    grid = vital.execute("SELECT row_order, native_born, foreign_born, total "
                         "FROM toolkit_table_3_4_grid").fetchall()
    assert grid == [(1, 3, 1, 4), (3, 0, 2, 2), (4, 3, 3, 6)]  # U is left out of the grid
    label = vital.execute("SELECT label FROM toolkit_table_3_4 WHERE cell = 'A'").fetchall()[0][0]
    assert label == "Total number of BIRTHS TO NATIVE-BORN PARENTS"


def test_table_3_5_deaths_hand_counted(vital):
    t = _cells(vital, "toolkit_table_3_5")
    assert t == {"A": 1, "B": 2, "C": 2, "D": 1, "E": 1, "F": 0, "G": 1, "H": 1, "U": 0, "T": 3}
    assert vital.execute("SELECT count(*) FROM deaths").fetchall()[0][0] == 4  # Jon in 2022


def test_parent_numbers_never_reach_the_warehouse(vital):
    cols = {c for (c,) in vital.execute("SELECT column_name FROM information_schema.columns "
                                        "WHERE table_catalog = current_database()").fetchall()}
    assert not {"mother_person_number", "father_person_number", "person_number"} & cols
    vital.execute("DETACH restricted")
    try:
        store.assert_no_identifiers(vital)
    finally:
        vital.execute("ATTACH ':memory:' AS restricted")
    assert {"mother_person_number", "father_person_number"} <= store.DIRECT_IDENTIFIERS


def test_register_without_parent_columns_says_so():
    # the example register has no parent columns: Fay's 2022 birth cannot be classified
    con, _ = build_example(settings=example_settings(reference_year=2022))
    t = _cells(con, "toolkit_table_3_4")
    assert (t["T"], t["U"], t["A"] + t["B"]) == (1, 1, 0)
    notes = con.execute("SELECT DISTINCT notes FROM toolkit_table_3_4").fetchall()[0][0]
    assert notes.startswith("PARENTS ABSENT") and "mother_person_number" in notes
    assert con.execute("SELECT DISTINCT parent_link FROM births").fetchall() == [("NOT_SUPPLIED",)]
    assert _cells(con, "toolkit_table_3_5")["T"] == 0
    con.close()


def test_present_population_hand_counted():
    """Physically in the country on the day (example world, see tests/example_world.py):
    2022-03-10: Ben (in since 2021), Chen (a tourist, in 2022-03-01..14), Dora (first crossing an
    EXIT in 2023: in until then), Eli (never crossed, registered) — not Ana (abroad 2020-03 to
    2022-06), Fay (not born), Gus (first crossing an ENTRY in 2024) → 4;
    2022-12-31: Ana, Ben, Dora, Eli, Fay → 5; 2023-12-31: Ana, Ben, Fay (Dora left, Eli died) → 3."""
    con, _ = build_example()
    got = dict(con.execute("SELECT reference_date, persons FROM stocks WHERE population = "
                           "'PRESENT_POPULATION' AND breakdown = 'total' ORDER BY 1").fetchall())
    assert got == {D(2022, 3, 10): 4, D(2022, 12, 31): 5, D(2023, 12, 31): 3}
    # beside the residents on 2022-03-10 (Ben, Dora, Eli; Ana had emigrated): the tourist Chen is
    # present without being resident
    res = dict(con.execute("SELECT reference_date, persons FROM stocks WHERE population = "
                           "'RESIDENT' AND breakdown = 'total' ORDER BY 1").fetchall())
    assert res[D(2022, 3, 10)] == 3
    con.close()
