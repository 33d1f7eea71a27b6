"""Stock-flow coherence: the warehouse `accounting` table's residual per subpopulation and
year (stock at start + immigration - emigration + births - deaths +/- citizenship changes -
stock at end), shown rather than hidden (UN Secretary-General report 2020 para 25-34: aligning flows with stocks)."""
from __future__ import annotations

import polars as pl

from reglink.quality.stores import Stores, pick, q


def accounting_residuals(st: Stores) -> pl.DataFrame | None:
    """subpopulation, year, residual, and the residual relative to the stock at end when the
    table carries one. Column names are matched loosely (year/period, subpopulation/group)."""
    cols = st.columns("warehouse", "accounting")
    if not cols:
        return None
    year = pick(cols, "year", "period", "reference_year")
    sub = pick(cols, "subpopulation", "population_group", "group", "subgroup")
    res = pick(cols, "residual")
    if year is None or res is None:
        return None
    end = pick(cols, "stock_end", "end_stock", "stock_at_end", "closing_stock")
    sub_expr = f"CAST({q(sub)} AS VARCHAR)" if sub else "'all'"
    end_expr = f"sum({q(end)})" if end else "NULL"
    df = st.sql("warehouse", f"""SELECT {sub_expr} AS subpopulation,
        CAST({q(year)} AS VARCHAR) AS year, sum({q(res)}) AS residual,
        {end_expr} AS stock_end FROM accounting GROUP BY ALL ORDER BY 1, 2""")
    return df.with_columns(
        pl.col("residual").cast(pl.Float64), pl.col("stock_end").cast(pl.Float64)).with_columns(
        pl.when(pl.col("stock_end") > 0).then(pl.col("residual") / pl.col("stock_end"))
        .otherwise(None).alias("residual_share_of_stock_end"))


def provisional_periods(st: Stores) -> pl.DataFrame | None:
    """Yearly immigration and emigration with their status: final, or provisional (windows
    still open) with the final events, expected migrations, estimate and 95 % interval; None
    when flows has no estimate columns."""
    cols = st.columns("warehouse", "flows")
    if not cols or "status" not in cols:
        return None
    return st.sql("warehouse", """SELECT period AS year, event_type, status, persons,
        persons_final, round(persons_expected, 1) AS persons_expected,
        round(persons_provisional_estimate, 1) AS estimate, round(ci_low, 1) AS ci_low,
        round(ci_high, 1) AS ci_high
        FROM flows WHERE period_type = 'year' AND breakdown = 'total'
          AND event_type IN ('IMMIGRATION', 'EMIGRATION') ORDER BY period, event_type""")
