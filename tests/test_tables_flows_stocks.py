"""flows, stocks, accounting and the toolkit tables on the hand-worked example world."""
import datetime as dt

import pytest

from example_world import _person_cols, build_example, register_rows

D = dt.date


@pytest.fixture(scope="module")
def world():
    """The example world built once for the tests that only read it."""
    con, _ = build_example()
    yield con
    con.close()


def _flow(con, period, event_type, breakdown="total", **cell):
    where = " AND ".join(f"{k} = '{v}'" for k, v in cell.items()) or "TRUE"
    rows = con.execute(
        f"SELECT persons FROM flows WHERE period = '{period}' AND event_type = '{event_type}' "
        f"AND breakdown = '{breakdown}' AND {where}").fetchall()
    return rows[0][0] if rows else 0


def test_flows_per_period_and_cell(world):
    con = world
    assert _flow(con, "2022", "IMMIGRATION") == 1
    assert _flow(con, "2022-Q2", "IMMIGRATION") == 1 and _flow(con, "2022-06", "IMMIGRATION") == 1
    assert _flow(con, "2022-05", "IMMIGRATION") == 0
    assert _flow(con, "2022", "RETURNING_CITIZEN") == 1 and _flow(con, "2022", "RETURNING_NATIVE_BORN") == 1
    assert _flow(con, "2021", "RETURNING_CITIZEN") == 0  # Ben was a GBR citizen when he came
    assert _flow(con, "2023", "EMIGRATION", "sex", sex="F") == 1
    assert _flow(con, "2023", "EMIGRATION", "sex", sex="M") == 0
    assert _flow(con, "2021", "IMMIGRATION", "citizenship+country_of_birth",
                 citizenship="GBR", country_of_birth="GBR") == 1
    assert _flow(con, "2020", "EMIGRATION", "age_group", age_group="25-34") == 1
    assert _flow(con, "2021", "IMMIGRATION", "reason", reason="WORK") == 1
    assert _flow(con, "2023", "EMIGRATION", "country", country="AUS") == 1
    assert _flow(con, "2024", "IMMIGRATION", "subpopulation", subpopulation="FOREIGN_BORN_FOREIGN_CITIZEN") == 1
    prov = con.execute("SELECT provisional_events FROM flows WHERE period = '2024' "
                       "AND event_type = 'IMMIGRATION' AND breakdown = 'total'").fetchall()[0][0]
    assert prov == 1
    # every breakdown of a period adds up to its total
    bad = con.execute("""
      SELECT f.period, f.event_type, f.breakdown FROM flows f JOIN flows t
        ON t.period = f.period AND t.event_type = f.event_type AND t.breakdown = 'total'
      WHERE f.breakdown IN ('sex', 'age_group', 'subpopulation', 'citizenship')
      GROUP BY f.period, f.event_type, f.breakdown, t.persons HAVING sum(f.persons) <> t.persons""").fetchall()
    assert bad == []


def _stock(con, date, population, breakdown="total", **cell):
    where = " AND ".join(f"{k} = '{v}'" for k, v in cell.items()) or "TRUE"
    rows = con.execute(
        f"SELECT persons FROM stocks WHERE reference_date = DATE '{date}' AND population = '{population}' "
        f"AND breakdown = '{breakdown}' AND {where}").fetchall()
    return rows[0][0] if rows else 0


def test_stocks_at_reference_dates(world):
    con = world
    # 2022-03-10: Ana abroad (emigrant), Ben, Dora, Eli resident; Fay not born; Chen visiting
    assert _stock(con, "2022-03-10", "RESIDENT") == 3
    assert _stock(con, "2022-03-10", "EMIGRANT_POPULATION") == 1
    assert _stock(con, "2022-03-10", "EMIGRANT_POPULATION", "country", country="AUS") == 1
    assert _stock(con, "2022-03-10", "TEMPORARY_POPULATION") == 1
    assert _stock(con, "2022-12-31", "TEMPORARY_POPULATION") == 0
    # 2022-12-31: Ana back, Fay born
    assert _stock(con, "2022-12-31", "RESIDENT", "subpopulation", subpopulation="NATIVE_BORN_CITIZEN") == 3
    assert _stock(con, "2022-12-31", "RESIDENT", "subpopulation",
                  subpopulation="FOREIGN_BORN_FOREIGN_CITIZEN") == 2
    assert _stock(con, "2022-12-31", "IMMIGRANT_POPULATION") == 2
    assert _stock(con, "2022-12-31", "RETURNED_MIGRANTS") == 1
    # 2023-12-31: Dora left (foreign-born foreign citizen: not in the emigrant population), Eli died,
    # Ben naturalised
    assert _stock(con, "2023-12-31", "RESIDENT") == 3
    assert _stock(con, "2023-12-31", "RESIDENT", "subpopulation", subpopulation="FOREIGN_BORN_CITIZEN") == 1
    assert _stock(con, "2023-12-31", "EMIGRANT_POPULATION") == 0
    assert _stock(con, "2023-12-31", "IMMIGRANT_POPULATION") == 1
    assert _stock(con, "2023-12-31", "RESIDENT", "age_group", age_group="0-14") == 1  # Fay


def test_accounting_identity_holds_on_consistent_data(world):
    con = world
    rows = con.execute("SELECT year, subpopulation, stock_start, emigration, deaths, citizenship_acquired, "
                       "citizenship_lost, stock_end, residual FROM accounting WHERE year = 2023").fetchall()
    cells = {r[1]: r[2:] for r in rows}
    assert cells["NATIVE_BORN_CITIZEN"] == (3, 0, 1, 0, 0, 2, 0)  # Eli died
    assert cells["FOREIGN_BORN_FOREIGN_CITIZEN"] == (2, 1, 0, 0, 1, 0, 0)  # Dora left, Ben naturalised
    assert cells["FOREIGN_BORN_CITIZEN"] == (0, 0, 0, 1, 0, 1, 0)
    assert cells["TOTAL"] == (5, 1, 1, 1, 1, 3, 0)
    assert con.execute("SELECT count(*) FROM accounting WHERE residual <> 0").fetchall()[0][0] == 0
    births = con.execute("SELECT births FROM accounting WHERE year = 2022 AND subpopulation = 'TOTAL'").fetchall()
    assert births[0][0] == 1  # Fay


def test_accounting_residual_shows_a_missing_crossing():
    """Hana registered as an immigrant in 2023 but her entry crossing is missing: she is in the
    end-of-year stock without an immigration, and the residual says so."""
    hana = _person_cols("Hana", "Sato", "F", D(1992, 9, 9), "JPN", "JPN")
    reg = register_rows() + [{"record_id": "R8", "_key": "P8", "person_number": "PN8",
                              "registration_date": D(2023, 5, 1), "registration_reason": "IMMIGRATION",
                              "previous_country": "JPN", "deregistration_date": None,
                              "deregistration_reason": None, "next_country": None,
                              "naturalisation_date": None, "region": "R1", "address": "2 Main St", **hana}]
    con, _ = build_example(register=reg)
    r = con.execute("SELECT immigration, stock_end, residual FROM accounting "
                    "WHERE year = 2023 AND subpopulation = 'FOREIGN_BORN_FOREIGN_CITIZEN'").fetchall()[0]
    assert r == (0, 1, 1)


def test_toolkit_tables_3_1_to_3_3(world):
    con = world
    t31 = {r[0]: r[1:] for r in con.execute(
        "SELECT cell, persons, reference_year FROM toolkit_table_3_1").fetchall()}
    # reference year: observed until 2024-12-31 minus W-1 = 2023-08-31, so 2022 is the last full year
    assert {k: v[0] for k, v in t31.items()} == {
        "A": 3, "B": 2, "C": 3, "D": 2, "E": 3, "F": 0, "G": 0, "H": 2, "I": 0, "J": 0, "U": 0, "T": 5}
    assert t31["A"][1] == 2022
    t32 = dict(con.execute("SELECT cell, persons FROM toolkit_table_3_2").fetchall())
    assert (t32["A"], t32["E"], t32["T"]) == (1, 1, 1)
    order = [r[0] for r in con.execute("SELECT cell FROM toolkit_table_3_3").fetchall()]
    assert order == ["A", "B", "C", "D", "E", "F", "G", "H", "U", "T"]
    # the questionnaire's grid: citizens / naturalised / foreign citizens / total x native, foreign
    grid = con.execute("SELECT row_order, native_born, foreign_born, total FROM toolkit_table_3_1_grid").fetchall()
    assert grid == [(1, 3, 0, 3), (2, 0, 0, 0), (3, 0, 2, 2), (4, 3, 2, 5)]
    assert len(con.execute("SELECT * FROM toolkit_table_3_2_grid").fetchall()) == 3  # no I/J row


def test_toolkit_reference_year_from_config():
    from example_world import example_settings

    con, _ = build_example(settings=example_settings(reference_year=2023))
    t31 = dict(con.execute("SELECT cell, persons FROM toolkit_table_3_1").fetchall())
    assert (t31["E"], t31["G"], t31["J"], t31["H"]) == (2, 1, 1, 0)  # Ben naturalised
    t33 = dict(con.execute("SELECT cell, persons FROM toolkit_table_3_3").fetchall())
    assert (t33["H"], t33["T"]) == (1, 1)  # Dora


def test_temporary_mobility_and_asylum(world):
    con = world
    r = con.execute("SELECT persons, stays, person_days FROM temporary_mobility WHERE year = 2022 "
                    "AND mobility_type = 'NON_RESIDENT_STAY' AND category = 'ALL' "
                    "AND breakdown = 'purpose+duration_band' AND purpose = 'HOLIDAY' "
                    "AND duration_band = '8-30 days'").fetchall()
    assert r == [(1, 1, 14)]  # Chen: 1 to 15 March, exit day out
    assert con.execute("SELECT count(*) FROM asylum_flows").fetchall()[0][0] == 0


def test_accounting_counts_every_birth():
    """Twins: Fay's sister Gia, registered at birth the same day, is a second birth."""
    gia = _person_cols("Gia", "Smith", "F", D(2022, 4, 10), "NZL", "NZL")
    reg = register_rows() + [{"record_id": "R11", "_key": "P11", "person_number": "PN11",
                              "registration_date": D(2022, 4, 10), "registration_reason": "BIRTH",
                              "previous_country": None, "deregistration_date": None,
                              "deregistration_reason": None, "next_country": None,
                              "naturalisation_date": None, "region": "R1", "address": "1 Main St", **gia}]
    con, _ = build_example(register=reg)
    r = con.execute("SELECT births, stock_end, residual FROM accounting "
                    "WHERE year = 2022 AND subpopulation = 'NATIVE_BORN_CITIZEN'").fetchall()
    assert r == [(2, 4, 0)]


def test_flows_by_sex_and_citizenship(world):
    """Men and women of each citizenship: a cell per (sex, citizenship), adding up to the
    `sex` and the `citizenship` cells of the same period and flow."""
    con = world
    assert _flow(con, "2021", "IMMIGRATION", "sex+citizenship", sex="M", citizenship="GBR") == 1
    assert _flow(con, "2023", "EMIGRATION", "sex+citizenship", sex="F", citizenship="AUS") == 1  # Dora
    assert _flow(con, "2022", "RETURNING_CITIZEN", "sex+citizenship", sex="F", citizenship="NZL") == 1
    assert _flow(con, "2023", "EMIGRATION", "sex+citizenship", sex="M", citizenship="AUS") == 0
    cells = con.execute("SELECT count(*) FROM flows WHERE breakdown = 'sex+citizenship'").fetchall()[0][0]
    assert cells > 0
    for margin in ("sex", "citizenship"):
        bad = con.execute(f"""
          SELECT m.period_type, m.period, m.event_type, m.{margin}, m.persons FROM flows m
          LEFT JOIN flows c ON c.period_type = m.period_type AND c.period = m.period
           AND c.event_type = m.event_type
           AND c.breakdown = 'sex+citizenship' AND c.{margin} = m.{margin}
          WHERE m.breakdown = '{margin}'
          GROUP BY ALL HAVING coalesce(sum(c.persons), 0) <> m.persons""").fetchall()
        assert bad == [], margin


def test_stocks_carry_the_four_subpopulations_with_zeros(world):
    """A filter for the four subpopulations returns four rows, zeros included, at every
    reference date and population; the zeros add nothing to any total."""
    con = world
    from reglink.tables.stocks import SUBPOPULATIONS

    per = con.execute("""
      SELECT reference_date, population, count(*) FILTER (WHERE subpopulation IN ?),
             sum(persons) FILTER (WHERE subpopulation IN ?)
      FROM stocks WHERE breakdown = 'subpopulation' GROUP BY ALL""",
                      [list(SUBPOPULATIONS), list(SUBPOPULATIONS)]).fetchall()
    totals = dict(((d, p), n) for d, p, n in con.execute(
        "SELECT reference_date, population, persons FROM stocks WHERE breakdown = 'total'").fetchall())
    assert per and {n for _, _, n, _ in per} == {4}
    assert {(d, p) for d, p, _, _ in per} == set(totals)
    unknown = dict(((d, p), n) for d, p, n in con.execute(
        "SELECT reference_date, population, persons FROM stocks WHERE breakdown = 'subpopulation' "
        "AND subpopulation = 'UNKNOWN'").fetchall())
    for d, p, _, s in per:
        assert s + unknown.get((d, p), 0) == totals[(d, p)]
    # the immigrant population holds no native-born citizen by definition: a zero row, not none
    assert con.execute("""SELECT persons FROM stocks WHERE reference_date = DATE '2022-12-31'
        AND population = 'IMMIGRANT_POPULATION' AND breakdown = 'subpopulation'
        AND subpopulation = 'NATIVE_BORN_CITIZEN'""").fetchall() == [(0,)]
    # subpopulation × sex: the four for each sex counted at that date and population
    grid = con.execute("""
      SELECT s.reference_date, s.population, s.sex, count(*) FROM stocks s
      WHERE s.breakdown = 'subpopulation+sex' AND s.subpopulation IN ? GROUP BY ALL""",
                       [list(SUBPOPULATIONS)]).fetchall()
    sexes = con.execute("SELECT count(*) FROM stocks WHERE breakdown = 'sex'").fetchall()[0][0]
    assert len(grid) == sexes and {n for *_, n in grid} == {4}
