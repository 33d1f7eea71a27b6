"""Every SQL query of docs/queries.md runs against a built warehouse and answers correctly on the
hand-worked example world (tests/example_world.py, plus an asylum seeker and a seasonal worker)."""
import datetime as dt
import re
from pathlib import Path

import pytest

from example_world import asylum_example, build_example

DOC = Path(__file__).resolve().parents[1] / "docs" / "queries.md"


def _queries() -> list[tuple[str, int, str]]:
    """(question letter, index within the question, sql) for every ```sql block."""
    out, letter, k = [], None, 0
    for block in re.split(r"(?m)^### ", DOC.read_text(encoding="utf-8"))[1:]:
        letter = block.split(".", 1)[0].strip()
        for k, sql in enumerate(re.findall(r"```sql\n(.*?)```", block, flags=re.S)):
            out.append((letter, k, sql.strip().rstrip(";")))
    return out


QUERIES = _queries()


@pytest.fixture(scope="module")
def warehouse():
    con, _ = build_example(**asylum_example())
    yield con
    con.close()


def test_the_doc_covers_the_answerable_questions():
    letters = {q[0] for q in QUERIES}
    expected = {"A", "B", "C", "D", "E", "F", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "U", "V",
                "W", "X", "Y", "Z", "AA", "AB", "AC"}
    assert expected <= letters, expected - letters


@pytest.mark.parametrize("letter,k,sql", QUERIES, ids=[f"{q[0]}{q[1]}" for q in QUERIES])
def test_query_runs(warehouse, letter, k, sql):
    rows = warehouse.execute(sql).fetchall()
    assert isinstance(rows, list)


def _run(con, letter, k=0):
    sql = next(q[2] for q in QUERIES if q[0] == letter and q[1] == k)
    return con.execute(sql).fetchall()


def test_answers_on_the_example_world(warehouse):
    con = warehouse
    # A: Ben 2021, Ana 2022, Ivo 2023, Gus 2024 (provisional)
    assert _run(con, "A") == [("2021", 1), ("2022", 1), ("2023", 1), ("2024", 1)]
    assert ("2021", "GBR", "GBR", 1) in _run(con, "B")
    assert ("2023", "WORK", 0) not in _run(con, "D") and ("2021", "WORK", 1) in _run(con, "D")
    assert _run(con, "K") == [(2023, "GBR", 1)]  # Ben
    assert _run(con, "L")[0] == ("2020", "NZL", "NZL", 1)  # Ana
    n = _run(con, "N")
    assert (dt.date(2022, 3, 10), "AUS", 1) in n  # Ana in Australia
    assert _run(con, "Q", 0) == [("2022", "RETURNING_CITIZEN", 1), ("2022", "RETURNING_NATIVE_BORN", 1)]
    assert _run(con, "R") == [(2022, "RETURN_HOME", 1)]
    assert _run(con, "S") == [(2022, "F", "25-34", 1)]
    assert (dt.date(2022, 3, 10), 2) in _run(con, "U", 0)  # Chen visiting, Sione working
    assert _run(con, "W") == [(2023, "APPLICATION", 1), (2023, "ENTRY_DECLARING_ASYLUM", 1)]
    assert _run(con, "AC") == [(2023, 1, 1)]  # Ivo applied and was recognised in 2023
    aa = _run(con, "AA")
    # Sione: three work stays of 100, 109 and 113 days, one per year, seasonal each year
    assert (2022, "SEASONAL_WORKER", "3-6 months", 1, 1, 100) in aa
    assert (2024, "ALL", "3-6 months", 1, 1, 113) in aa
    e = _run(con, "E")
    # on 2023-12-31: Ben (foreign-born, naturalised, region R1) and Ivo (not in the register)
    assert e == [("R1", 1), ("UNKNOWN", 1)]
