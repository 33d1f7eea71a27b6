"""A tiny hand-made world with known answers: restricted `std_*` tables and `person_links`.

Used by the tests of reglink.tables and to check every query of docs/queries.md. Home country
NZL, rule 12-16 (W=487, N=365), observed until 2024-12-31. Seven persons, worked by hand:

- P1 Ana: native-born citizen (born 1990-05-10, registered at birth). EXIT 2020-03-01 (to AUS,
  WORK), ENTRY 2022-06-01 (RETURN_HOME): EMIGRATION 2020-03-01 at 29, IMMIGRATION 2022-06-01 at
  32 (a returning citizen and native-born).
- P2 Ben: born in GBR 1985-12-31, GBR citizen; permit RESIDENCE/WORK 2021-01-10..2026-01-09;
  ENTRY 2021-01-15; registered 2021-02-01 (after the entry: rule default NON_RESIDENT);
  naturalised 2023-07-01. IMMIGRATION 2021-01-15 at 35, citizenship GBR, reason WORK (permit).
- P3 Chen: CHN tourist, ENTRY 2022-03-01, EXIT 2022-03-15: a 14-day non-resident stay.
- P4 Dora: born in AUS, AUS citizen, registered 2015-01-01 (immigration, no crossing seen);
  EXIT 2023-02-01 (to AUS): EMIGRATION 2023-02-01; deregistered 2023-03-01 (emigration).
- P5 Eli: native-born citizen born 1950-02-02, no crossings, died 2023-08-20.
- P6 Fay: born 2022-04-10 in NZL, registered at birth, no crossings.
- P7 Gus: born in IND 1995-07-01, IND citizen, ENTRY 2024-06-01 (SETTLE) with a permit valid
  2024-05-20..2027-05-19: a provisional IMMIGRATION (214 days observed, permit as evidence).

Residents on 2022-12-31: P1, P5, P6 (native-born citizens), P2, P4 (foreign-born foreign).
Year 2023: P4 emigrates, P5 dies, P2 naturalises; on 2023-12-31: P1, P6 (native-born citizens),
P2 (foreign-born citizen). The accounting identity holds (residual 0) for every cell.
"""
from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

D = dt.date


def _person_cols(given: str, sur: str, sex: str, dob: dt.date | None, cob: str, cit: str) -> dict:
    return {"given_names": given, "surname": sur, "sex": sex, "date_of_birth": dob,
            "dob_year": dob.year if dob else None, "dob_month": dob.month if dob else None,
            "dob_day": dob.day if dob else None, "country_of_birth": cob, "citizenship": cit}


def border_rows() -> list[dict]:
    def b(rid, key, direction, date, reason, cor, od, person):
        return {"record_id": rid, "_key": key, "direction": direction, "crossing_date": date,
                "travel_reason": reason, "country_of_residence": cor, "origin_destination": od,
                "transport_mode": "AIR", "document_number": f"DOC{rid}", **person}
    ana = _person_cols("Ana", "Smith", "F", D(1990, 5, 10), "NZL", "NZL")
    ben = _person_cols("Ben", "Jones", "M", D(1985, 12, 31), "GBR", "GBR")
    chen = _person_cols("Chen", "Li", "M", D(1970, 1, 1), "CHN", "CHN")
    dora = _person_cols("Dora", "Brown", "F", D(1980, 3, 3), "AUS", "AUS")
    gus = _person_cols("Gus", "Patel", "M", D(1995, 7, 1), "IND", "IND")
    return [
        b("B1", "P1", "EXIT", D(2020, 3, 1), "WORK", "NZL", "AUS", ana),
        b("B2", "P1", "ENTRY", D(2022, 6, 1), "RETURN_HOME", "NZL", "AUS", ana),
        b("B3", "P2", "ENTRY", D(2021, 1, 15), "WORK", "GBR", "GBR", ben),
        b("B4", "P3", "ENTRY", D(2022, 3, 1), "HOLIDAY", "CHN", "CHN", chen),
        b("B5", "P3", "EXIT", D(2022, 3, 15), "HOLIDAY", "CHN", "CHN", chen),
        b("B6", "P4", "EXIT", D(2023, 2, 1), "OTHER", "AUS", "AUS", dora),
        b("B7", "P7", "ENTRY", D(2024, 6, 1), "SETTLE", "IND", "IND", gus),
    ]


def register_rows() -> list[dict]:
    def r(rid, key, person, reg, reason, prev=None, dereg=None, dreason=None, nxt=None, nat=None):
        return {"record_id": rid, "_key": key, "person_number": f"PN{rid}", "registration_date": reg,
                "registration_reason": reason, "previous_country": prev, "deregistration_date": dereg,
                "deregistration_reason": dreason, "next_country": nxt, "naturalisation_date": nat,
                "region": "R1", "address": "1 Main St", **person}
    return [
        r("R1", "P1", _person_cols("Ana", "Smith", "F", D(1990, 5, 10), "NZL", "NZL"), D(1990, 5, 10), "BIRTH"),
        r("R2", "P2", _person_cols("Ben", "Jones", "M", D(1985, 12, 31), "GBR", "NZL"), D(2021, 2, 1),
          "IMMIGRATION", prev="GBR", nat=D(2023, 7, 1)),
        r("R4", "P4", _person_cols("Dora", "Brown", "F", D(1980, 3, 3), "AUS", "AUS"), D(2015, 1, 1),
          "IMMIGRATION", prev="AUS", dereg=D(2023, 3, 1), dreason="EMIGRATION", nxt="AUS"),
        r("R5", "P5", _person_cols("Eli", "King", "M", D(1950, 2, 2), "NZL", "NZL"), D(1950, 2, 2), "BIRTH",
          dereg=D(2023, 8, 20), dreason="DEATH"),
        r("R6", "P6", _person_cols("Fay", "Smith", "F", D(2022, 4, 10), "NZL", "NZL"), D(2022, 4, 10), "BIRTH"),
    ]


def permit_rows() -> list[dict]:
    def p(rid, key, person, kind, purpose, start, end):
        return {"record_id": rid, "_key": key, "permit_number": f"PM{rid}", "permit_kind": kind,
                "purpose": purpose, "issue_date": start, "valid_from": start, "valid_to": end, **person}
    return [
        p("M2", "P2", _person_cols("Ben", "Jones", "M", D(1985, 12, 31), "GBR", "GBR"), "RESIDENCE", "WORK",
          D(2021, 1, 10), D(2026, 1, 9)),
        p("M7", "P7", _person_cols("Gus", "Patel", "M", D(1995, 7, 1), "IND", "IND"), "RESIDENCE", "FAMILY",
          D(2024, 5, 20), D(2027, 5, 19)),
    ]


def asylum_rows() -> list[dict]:
    return []


def asylum_example() -> dict[str, list[dict]]:
    """World kwargs adding P9 Ivo: born in SYR, ENTRY 2023-03-01 (ASYLUM), applies for asylum
    2023-03-05, recognised as a refugee 2023-09-01, stays: IMMIGRATION 2023-03-01; and a
    Samoan seasonal worker P10 Sione: three WORK stays of 3-4 months in 2022-2024."""
    ivo = _person_cols("Ivo", "Haddad", "M", D(1988, 8, 8), "SYR", "SYR")
    sione = _person_cols("Sione", "Tui", "M", D(1990, 1, 20), "WSM", "WSM")
    border = border_rows() + [
        {"record_id": "B11", "_key": "P9", "direction": "ENTRY", "crossing_date": D(2023, 3, 1),
         "travel_reason": "ASYLUM", "country_of_residence": "SYR", "origin_destination": "TUR",
         "transport_mode": "AIR", "document_number": None, **ivo}]
    for i, (a, b) in enumerate([(D(2022, 1, 10), D(2022, 4, 20)), (D(2023, 1, 12), D(2023, 5, 1)),
                                (D(2024, 1, 8), D(2024, 4, 30))]):
        for j, (direction, day) in enumerate((("ENTRY", a), ("EXIT", b))):
            border.append({"record_id": f"S{i}{j}", "_key": "P10", "direction": direction,
                           "crossing_date": day, "travel_reason": "WORK", "country_of_residence": "WSM",
                           "origin_destination": "WSM", "transport_mode": "AIR",
                           "document_number": "WS1", **sione})
    asylum = [{"record_id": "A9", "_key": "P9", "case_number": "C9", "application_date": D(2023, 3, 5),
               "decision": "REFUGEE", "decision_date": D(2023, 9, 1), "document_number": None, **ivo}]
    return {"border": border, "asylum": asylum}


def write_world(con: duckdb.DuckDBPyConnection, restricted: str = "restricted",
                border: list[dict] | None = None, register: list[dict] | None = None,
                permits: list[dict] | None = None, asylum: list[dict] | None = None) -> None:
    """Create std_* tables in the `restricted` catalog and person_links in the main one.

    Each row carries `_key`, the person it belongs to (what linkage would find)."""
    tables = {
        "border_crossings": border_rows() if border is None else border,
        "population_register": register_rows() if register is None else register,
        "permits": permit_rows() if permits is None else permits,
        "asylum_register": asylum_rows() if asylum is None else asylum,
    }
    links = []
    for source, rows in tables.items():
        if not rows:
            continue
        df = pl.DataFrame(rows, infer_schema_length=None).with_columns(pl.lit(source).alias("source"))
        links.append(df.select(pl.lit(source).alias("source"), pl.col("record_id").cast(pl.String),
                               pl.col("_key").alias("person_key"), pl.lit(1.0).alias("match_probability")))
        con.register("_t", df.drop("_key"))
        con.execute(f"CREATE OR REPLACE TABLE {restricted}.std_{source} AS SELECT * FROM _t")
        con.unregister("_t")
    con.register("_l", pl.concat(links))
    con.execute("CREATE OR REPLACE TABLE person_links AS SELECT * FROM _l")
    con.unregister("_l")


def example_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with an in-memory restricted store attached as `restricted`."""
    con = duckdb.connect()
    con.execute("ATTACH ':memory:' AS restricted")
    return con


def example_settings(**overrides) -> "TableSettings":
    """The settings the example world is worked by hand for (NZL, 12-16, observed 2024-12-31)."""
    from reglink.tables.settings import TableSettings

    base = dict(home_country="NZL", observed_until=D(2024, 12, 31),
                reference_dates=[D(2022, 3, 10), D(2022, 12, 31), D(2023, 12, 31)])
    base.update(overrides)
    return TableSettings(**base)


def build_example(settings=None, **world) -> tuple[duckdb.DuckDBPyConnection, dict[str, int]]:
    """The example world written and every table built in memory: (connection, row counts)."""
    from reglink.tables.build import build_all

    con = example_connection()
    write_world(con, **world)
    counts = build_all(con, settings or example_settings())
    return con, counts
