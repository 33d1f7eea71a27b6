"""persons: attributes consolidated across linked records by source precedence, then frequency."""
import datetime as dt

import polars as pl

from reglink.tables import persons
from example_world import _person_cols, example_connection, permit_rows, register_rows, write_world

D = dt.date


def _border(rid, key, sex, cob, cit, dob=D(1980, 1, 2)):
    p = _person_cols("X", "Y", sex, dob, cob, cit)
    return {"record_id": rid, "_key": key, "direction": "ENTRY", "crossing_date": D(2022, 1, 1),
            "travel_reason": "HOLIDAY", "country_of_residence": cob, "origin_destination": cob,
            "document_number": "D" + rid, **p}


def _frame(con):
    return con.sql("SELECT * FROM persons ORDER BY person_key").pl()


def test_precedence_then_frequency():
    con = example_connection()
    # Q1: three border records (sex M, M, F; cob IND, IND, IDN) and a permit saying F / no cob.
    border = [_border("b1", "Q1", "M", "IND", "IND"), _border("b2", "Q1", "M", "IND", "IND"),
              _border("b3", "Q1", "F", "IDN", "IND")]
    permit = [{**permit_rows()[0], "record_id": "m1", "_key": "Q1", "sex": "F", "country_of_birth": None,
               "citizenship": "IND"}]
    # Q2: border records only, a tie in frequency is broken by the most recent record
    border += [_border("b4", "Q2", "F", "FRA", "FRA"),
               {**_border("b5", "Q2", "F", "DEU", "DEU"), "crossing_date": D(2023, 1, 1)}]
    write_world(con, border=border, register=[], permits=permit, asylum=[])
    assert persons.build_persons(con, "NZL") == 2
    p = _frame(con)
    q1, q2 = p.row(0, named=True), p.row(1, named=True)
    assert q1["sex"] == "F"  # permit outranks two border records
    assert q1["country_of_birth"] == "IND"  # permit has none: most frequent border value
    # the permit (born 1985) outranks the border records (born 1980)
    assert q1["birth_year"] == 1985 and q1["is_native_born"] is False and q1["is_citizen"] is False
    assert (q1["records"], q1["border_records"], q1["permit_records"]) == (4, 3, 1)
    assert q2["country_of_birth"] == "DEU" and q2["citizenship"] == "DEU"  # tie: most recent
    assert q1["in_population_register"] is None  # no population register at all


def test_register_outranks_and_naturalisation_history():
    con = example_connection()
    write_world(con)
    persons.build_persons(con, "NZL")
    ben = _frame(con).filter(pl.col("person_key") == "P2").row(0, named=True)
    # register says NZL (current), the permit and the border record say GBR (before)
    assert ben["citizenship"] == "NZL" and ben["citizenship_before_naturalisation"] == "GBR"
    assert ben["naturalisation_date"] == D(2023, 7, 1) and ben["is_citizen"] is True
    assert ben["registration_reason"] == "IMMIGRATION" and ben["previous_country"] == "GBR"
    eli = _frame(con).filter(pl.col("person_key") == "P5").row(0, named=True)
    assert eli["death_date"] == D(2023, 8, 20)
    # a registration at birth is the date of birth: coarsened to the month in the warehouse
    fay = _frame(con).filter(pl.col("person_key") == "P6").row(0, named=True)
    assert fay["registration_date"] == D(2022, 4, 1) and fay["birth_year"] == 2022


def test_no_identifier_reaches_persons():
    from reglink.store import is_identifier_column

    con = example_connection()
    write_world(con)
    persons.build_persons(con, "NZL")
    cols = [r[0] for r in con.execute("DESCRIBE persons").fetchall()]
    assert not [c for c in cols if is_identifier_column(c)]
    # the full date of birth is only in a TEMP table (gone with the connection)
    temp = con.execute("SELECT table_schema FROM information_schema.tables "
                       "WHERE table_name = '_person_birth'").fetchall()
    assert temp and all(t[0] == "main" for t in temp)  # DuckDB lists temp tables under 'main'
    assert con.execute("SELECT database_name FROM duckdb_tables() WHERE table_name = '_person_birth'"
                       ).fetchall()[0][0] == "temp"


def test_missing_registers_give_null_register_columns():
    con = example_connection()
    write_world(con, register=[], permits=[], asylum=[])
    n = persons.build_persons(con, "NZL")
    assert n == 5  # P1, P2, P3, P4, P7 cross the border
    p = _frame(con)
    assert p["registration_date"].null_count() == n and p["naturalisation_date"].null_count() == n
    assert register_rows()  # the full example has a register: only this test drops it
