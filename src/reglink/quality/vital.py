"""Births and their parents (toolkit table 3.4): how many births the population register lets
reglink classify by the parents' country of birth and citizenship, and why the rest cannot be.

Table 3.4 depends on optional parent numbers in the register; a register delivered without them
still gives births, but none can be classified. The report says so in words, not only by an
empty cell (Bangkok workshop conclusions 2019, para 9: coverage and quality of each source made available to users)."""
from __future__ import annotations

import polars as pl

from reglink.quality.stores import Stores


def births_parents(st: Stores) -> pl.DataFrame | None:
    """birth_year, births, and births per `parent_link` (LINKED, NUMBER_NOT_FOUND,
    NO_PARENT_NUMBER, NOT_SUPPLIED), with the share linked; None without a `births` table."""
    if not st.has("warehouse", "births"):
        return None
    return st.sql("warehouse", """
      SELECT CAST(birth_year AS VARCHAR) AS birth_year, count(*) AS births,
             count(*) FILTER (WHERE parent_link = 'LINKED') AS parent_linked,
             count(*) FILTER (WHERE parent_link = 'NUMBER_NOT_FOUND') AS number_not_found,
             count(*) FILTER (WHERE parent_link = 'NO_PARENT_NUMBER') AS no_parent_number,
             count(*) FILTER (WHERE parent_link = 'NOT_SUPPLIED') AS parents_not_supplied,
             count(*) FILTER (WHERE parent_link = 'LINKED') / count(*) AS linked_share
      FROM births GROUP BY 1 ORDER BY 1""")


def births_parents_summary(table: pl.DataFrame | None) -> str:
    """One sentence for the report: parents absent from the extract, or how many were found."""
    if table is None or table.height == 0:
        return "No births are recorded in the population register."
    total = int(table["births"].sum())
    if int(table["parents_not_supplied"].sum()) == total:
        return ("Parent numbers are ABSENT: the population register extract has no "
                "mother_person_number or father_person_number column, so toolkit table 3.4 cannot "
                f"classify any of its {total:,} births by the parents (all in cell U).")
    linked = int(table["parent_linked"].sum())
    return (f"A parent was found for {linked:,} of {total:,} registered births ({linked / total:.0%}) "
            "through the register's own numbers; the others are in cell U of table 3.4.")
