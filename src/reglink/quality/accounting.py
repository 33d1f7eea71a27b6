"""Stock-flow coherence: the warehouse `accounting` table's residual per subpopulation and
year (stock at start + immigration - emigration + births - deaths +/- citizenship changes -
stock at end), shown rather than hidden (UN Secretary-General report 2020 para 25-34: aligning flows with stocks)."""
from __future__ import annotations

import polars as pl

from reglink.quality.stores import Stores


def accounting_residuals(st: Stores) -> pl.DataFrame | None:
    """subpopulation, year, residual, and the residual relative to the stock at end (the
    columns the tables stage declares for `accounting`)."""
    if not st.has("warehouse", "accounting"):
        return None
    df = st.sql("warehouse", """SELECT CAST(subpopulation AS VARCHAR) AS subpopulation,
        CAST(year AS VARCHAR) AS year, sum(residual) AS residual,
        sum(stock_end) AS stock_end FROM accounting GROUP BY ALL ORDER BY 1, 2""")
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
