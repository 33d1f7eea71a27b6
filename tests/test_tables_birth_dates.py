"""No warehouse date equals a person's date of birth (unless it is the first of a month, which
month precision cannot tell apart): dates of birth stay in the restricted store."""
from __future__ import annotations

import datetime as dt

from reglink.tables.coarsen import person_date_columns
from example_world import border_rows, build_example, register_rows


def _world() -> dict:
    """Ana's birth registered on her birthday under reason OTHER (the BIRTH rule misses it),
    and baby Fay (born 2022-04-10) leaves the country on the day she is born."""
    register = register_rows()
    for r in register:
        if r["record_id"] == "R1":
            r["registration_reason"] = "OTHER"
    fay = next(r for r in register if r["record_id"] == "R6")
    person = {k: fay[k] for k in ("given_names", "surname", "sex", "date_of_birth",
                                  "country_of_birth", "citizenship")}
    border = border_rows() + [
        {"record_id": "BF1", "_key": "P6", "direction": "EXIT", "crossing_date": dt.date(2022, 4, 10),
         "travel_reason": "FAMILY", "country_of_residence": "NZL", "origin_destination": "AUS",
         "transport_mode": "AIR", "document_number": None, **person}]
    return {"register": register, "border": border}


def _leaks(con) -> list[tuple]:
    con.execute("""CREATE OR REPLACE TEMP TABLE _dob_check AS
        SELECT DISTINCT l.person_key, CAST(s.date_of_birth AS DATE) AS d
        FROM restricted.std_population_register s JOIN person_links l
          ON l.source = 'population_register' AND l.record_id = CAST(s.record_id AS VARCHAR)
        UNION SELECT DISTINCT l.person_key, CAST(s.date_of_birth AS DATE)
        FROM restricted.std_border_crossings s JOIN person_links l
          ON l.source = 'border_crossings' AND l.record_id = CAST(s.record_id AS VARCHAR)""")
    out = []
    for table, column in person_date_columns(con):
        out += [(table, column, *r) for r in con.execute(
            f'SELECT t.person_key, t."{column}" FROM "{table}" t JOIN _dob_check b '
            f'ON b.person_key = t.person_key AND b.d = t."{column}" '
            f'WHERE day(t."{column}") <> 1').fetchall()]
    return out


def test_no_person_date_equals_a_date_of_birth():
    con, _ = build_example(**_world())
    try:
        assert ("persons", "registration_date") in person_date_columns(con)
        assert ("residence_spells", "spell_start") in person_date_columns(con)
        assert _leaks(con) == []
        ana = con.execute("SELECT registration_date FROM persons WHERE person_key = 'P1'").fetchall()
        assert ana == [(dt.date(1990, 5, 1),)]  # coarsened to the month, not dropped
        fay = con.execute("SELECT crossing_date FROM crossings WHERE person_key = 'P6' "
                          "AND direction = 'EXIT'").fetchall()
        assert fay == [(dt.date(2022, 4, 1),)]
    finally:
        con.close()


def test_aggregates_are_counted_from_the_exact_dates():
    """Coarsening comes after every table is built: flows and stocks do not move."""
    from reglink.tables.build import build_all
    from example_world import example_connection, example_settings, write_world

    con, _ = build_example(**_world())
    plain = example_connection()
    write_world(plain, **_world())
    import reglink.tables.coarsen as coarsen
    saved = coarsen.coarsen_birth_dates
    coarsen.coarsen_birth_dates = lambda c: {}
    try:
        build_all(plain, example_settings())
    finally:
        coarsen.coarsen_birth_dates = saved
    for table in ("flows", "stocks"):
        q = f"SELECT * FROM {table} ORDER BY ALL"
        assert con.execute(q).fetchall() == plain.execute(q).fetchall(), table
    con.close()
    plain.close()
