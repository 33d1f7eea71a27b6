"""Disclosure control that survives arithmetic: on the demo world, no suppressed cell of any
pub_* table can be worked out from that table's published cells by the single-unknown
equations of its additive structure (totals = sum of parts per row, column and margin; the
accounting identity; the toolkit formulas; year = quarters = months), repeated until nothing new."""
from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from reglink.tables import disclosure, protect


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    from reglink_dagster.orchestration import run_demo

    folder = tmp_path_factory.mktemp("demo")
    run_demo(persons=5000, seed=1, directory=folder, years=6)
    return folder / "reglink.duckdb"


def _pair(con, table: str, counts: tuple[str, ...]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The unprotected table and its publication copy, rows aligned on the non-count columns
    (the columns hidden with a row, protect.WITH_ROW, are neither: they are checked apart)."""
    with_row = protect.WITH_ROW.get(table, ())
    cols = [c for c in con.sql(f'SELECT * FROM "{table}" LIMIT 0').columns
            if c not in counts and c not in with_row]
    order = ", ".join(f'"{c}"' for c in cols)
    raw = con.sql(f'SELECT * FROM "{table}" ORDER BY {order}').pl()
    pub = con.sql(f'SELECT * FROM "pub_{table}" ORDER BY {order}').pl()
    assert raw.select(cols).equals(pub.select(cols)), table
    return raw, pub


def test_no_suppressed_cell_is_recoverable(demo: Path):
    con = duckdb.connect(str(demo), read_only=True)
    tables = {r[0][4:] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'pub_%'").fetchall()}
    assert tables == set(protect.PROTECTED)
    hidden_total = 0
    for table, (key, counts) in protect.PROTECTED.items():
        counts = tuple(c for c in counts if c in con.sql(f'SELECT * FROM "{table}" LIMIT 0').columns)
        raw, pub = _pair(con, table, counts)
        rels = disclosure.relations(table, raw, counts)
        assert rels, f"{table}: no additive structure found"
        truth = {(i, c): v for c in counts for i, v in enumerate(raw[c].to_list())}
        published = {(i, c): v for c in counts for i, v in enumerate(pub[c].to_list())}
        hidden = [cell for cell, v in published.items() if v is None]
        hidden_total += len(hidden)
        # a published cell is the true value (suppression hides, never perturbs)
        assert all(v == truth[cell] for cell, v in published.items() if v is not None), table
        recovered = {cell: v for cell, v in disclosure.recover(rels, published).items()
                     if v == truth[cell]}
        assert recovered == {}, (table, len(recovered), len(hidden))
        for c in protect.WITH_ROW.get(table, ()):  # hidden with the row, else the true value
            shown = pub.filter(~pl.col("suppressed"))
            assert pub.filter(pl.col("suppressed"))[c].null_count() == pub["suppressed"].sum(), c
            assert shown[c].equals(raw.filter(~pub["suppressed"])[c]), c
    assert hidden_total > 0
    con.close()


def test_the_known_leaks_are_among_the_attacked_relations(demo: Path):
    """The accounting identity (residual published) and toolkit 3.2's T = A + B + U."""
    con = duckdb.connect(str(demo), read_only=True)
    raw, _ = _pair(con, "accounting", protect.PROTECTED["accounting"][1])
    rels = disclosure.relations("accounting", raw, protect.PROTECTED["accounting"][1])
    assert sum(1 for r in rels if len(r.cells) == 9) == raw.height  # one identity per row
    raw, _ = _pair(con, "toolkit_table_3_2", ("persons",))
    rels = disclosure.relations("toolkit_table_3_2", raw, ("persons",))
    cells = dict(enumerate(raw["cell"].to_list()))
    assert any(sorted(cells[r] for r, _ in rel.cells) == ["A", "B", "T", "U"] for rel in rels)
    con.close()


def test_primary_suppression_alone_would_leak():
    """The attack is real: without complements, a total minus its published parts gives a
    suppressed cell back."""
    frame = pl.DataFrame({"breakdown": ["total", "sex", "sex"], "sex": [None, "F", "M"],
                          "persons": [9, 2, 7]})
    rels = disclosure.relations("stocks", frame, ("persons",))
    assert disclosure.recover(rels, {(0, "persons"): 9, (1, "persons"): None,
                                     (2, "persons"): 7}) == {(1, "persons"): 2}
    pub = protect.suppress_frame("stocks", frame, "persons", ("persons",), 5)
    assert pub["persons"].to_list() == [9, None, None]
