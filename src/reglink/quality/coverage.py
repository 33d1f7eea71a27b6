"""Coverage (which sub-populations a register holds, how it registers and de-registers) and
timeliness (how far behind the extract date its events run) — toolkit Annex 1 columns
"Coverage (sub-population groups included/excluded), rules for registration/de-registration"
and "Quality of the data".
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from reglink.quality.stores import Stores, q
from reglink.schemas import REGISTERS

# Below this share of records a sub-population is reported as excluded (or nearly so).
INCLUDED_MIN_SHARE = 0.01

def coverage(st: Stores, source: str, home_country: str) -> pl.DataFrame:
    """Records by sub-population: citizens/foreigners, native/foreign-born, sex, and the
    register's own code lists; each group flagged included or excluded (< 1 % of records)."""
    table = f"std_{source}"
    cols = set(st.columns("restricted", table))
    home = home_country.replace("'", "''")
    dims: list[tuple[str, str]] = []
    if "citizenship" in cols:
        dims.append(("citizenship", f"CASE WHEN citizenship IS NULL THEN 'unknown' "
                     f"WHEN citizenship = '{home}' THEN 'citizen' ELSE 'foreign citizen' END"))
    if "country_of_birth" in cols:
        dims.append(("birthplace", f"CASE WHEN country_of_birth IS NULL THEN 'unknown' "
                     f"WHEN country_of_birth = '{home}' THEN 'native-born' ELSE 'foreign-born' END"))
    if "citizenship" in cols and "country_of_birth" in cols:
        dims.append(("subpopulation (toolkit table 3.1)",
                     f"CASE WHEN citizenship IS NULL OR country_of_birth IS NULL THEN 'unknown' "
                     f"ELSE concat(CASE WHEN country_of_birth = '{home}' THEN 'native-born' "
                     f"ELSE 'foreign-born' END, ' ', CASE WHEN citizenship = '{home}' "
                     f"THEN 'citizen' ELSE 'foreign citizen' END) END"))
    if "sex" in cols:
        dims.append(("sex", "coalesce(CAST(sex AS VARCHAR), 'unknown')"))
    for c in REGISTERS[source].coverage_codes:
        if c in cols:
            label = "not recorded" if c.startswith("deregistration") else "unknown"
            dims.append((c, f"coalesce(CAST({q(c)} AS VARCHAR), '{label}')"))
    if not dims:
        return pl.DataFrame(schema={"dimension": pl.String, "group": pl.String,
                                    "records": pl.Int64, "share": pl.Float64, "status": pl.String})
    union = " UNION ALL ".join(
        f"SELECT '{d}' AS dimension, {expr} AS \"group\", count(*) AS records "
        f"FROM {q(table)} GROUP BY ALL" for d, expr in dims)
    df = st.sql("restricted", f"SELECT * FROM ({union})")
    df = df.with_columns(
        (pl.col("records") / pl.col("records").sum().over("dimension")).alias("share"))
    order = {d: i for i, (d, _) in enumerate(dims)}
    return (df.with_columns(
        pl.when(pl.col("group").is_in(["unknown", "not recorded"])).then(pl.lit("value missing"))
        .when(pl.col("share") >= INCLUDED_MIN_SHARE).then(pl.lit("included"))
        .otherwise(pl.lit("excluded or nearly (< 1 %)")).alias("status"),
        pl.col("dimension").replace_strict(order, return_dtype=pl.Int64).alias("_o"))
        .sort(["_o", "records"], descending=[False, True]).drop("_o")
        .with_columns(pl.col("records").cast(pl.Int64)))


def reference_date(st: Stores, observed_until: dt.date | None) -> dt.date:
    """The date the data are taken to cover: the configured observed_until, else the latest
    event date in any standardised register, else today."""
    if observed_until is not None:
        return observed_until
    latest: list[dt.date] = []
    for source, dates in ((n, r.event_dates) for n, r in REGISTERS.items()):
        cols = set(st.columns("restricted", f"std_{source}"))
        for d in dates:
            if d in cols:
                v = st.sql("restricted", f"SELECT max(TRY_CAST({q(d)} AS DATE)) AS m "
                           f"FROM {q('std_' + source)}")["m"][0]
                if v is not None:
                    latest.append(v)
    return max(latest) if latest else dt.date.today()


def study_start(st: Stores, ref: dt.date) -> dt.date:
    """First day of the period the run studies: the first border crossing, else five years
    before the reference date. Registers hold records far older (births registered decades
    ago); rates and monthly series are taken over this period only."""
    cols = set(st.columns("restricted", "std_border_crossings"))
    if "crossing_date" in cols:
        v = st.sql("restricted", "SELECT min(TRY_CAST(crossing_date AS DATE)) AS m "
                   "FROM std_border_crossings")["m"][0]
        if v is not None and v <= ref:
            return v
    return ref - dt.timedelta(days=5 * 365)


def timeliness(st: Stores, source: str, ref: dt.date) -> pl.DataFrame:
    """Per event-date column: first and last month, days from the last event to the reference
    date, records dated after it, and the count in the final 90 days against the register's
    average 90 days over the study period (well below 1 suggests late registration)."""
    table = f"std_{source}"
    cols = set(st.columns("restricted", table))
    start = study_start(st, ref)
    rows = []
    for d in REGISTERS[source].event_dates:
        if d not in cols:
            continue
        r = st.sql("restricted", f"""
            WITH e AS (SELECT TRY_CAST({q(d)} AS DATE) AS d FROM {q(table)})
            SELECT count(d) AS dated, min(d) AS first_date, max(d) AS last_date,
                   count(*) FILTER (WHERE d > ?::DATE) AS after_reference,
                   count(*) FILTER (WHERE d BETWEEN ?::DATE AND ?::DATE) AS in_period,
                   count(*) FILTER (WHERE d > ?::DATE - INTERVAL 90 DAY AND d <= ?::DATE) AS last_90
            FROM e""", [ref, start, ref, ref, ref]).row(0, named=True)
        span = (ref - start).days + 1
        expected = r["in_period"] * 90 / span if span > 90 and r["in_period"] else None
        rows.append({
            "source": source, "event_date": d, "records_dated": r["dated"],
            # months, not days: the first/last date of one record could be a date of birth
            "first_month": _month(r["first_date"]), "last_month": _month(r["last_date"]),
            "reference_date": ref,
            "days_last_event_to_reference": (ref - r["last_date"]).days if r["last_date"] else None,
            "records_after_reference": r["after_reference"],
            "records_in_study_period": r["in_period"],
            "records_last_90_days": r["last_90"],
            "last_90_days_vs_average": (r["last_90"] / expected) if expected else None,
        })
    return pl.DataFrame(rows, schema_overrides={"last_90_days_vs_average": pl.Float64,
                                                "days_last_event_to_reference": pl.Int64})


def _month(d: dt.date | None) -> str | None:
    return d.strftime("%Y-%m") if d else None


def monthly_counts(st: Stores, source: str, ref: dt.date | None = None) -> pl.DataFrame:
    """Records per month of each event date over the study period (months without records
    are zero): the time series behind the timeliness chart."""
    table = f"std_{source}"
    cols = set(st.columns("restricted", table))
    dates = [d for d in REGISTERS[source].event_dates if d in cols]
    empty = pl.DataFrame(schema={"event_date": pl.String, "month": pl.String, "records": pl.Int64})
    if not dates:
        return empty
    ref = ref or reference_date(st, None)
    start = study_start(st, ref)
    counts = " UNION ALL ".join(
        f"SELECT '{d}' AS event_date, date_trunc('month', TRY_CAST({q(d)} AS DATE)) AS month "
        f"FROM {q(table)} WHERE TRY_CAST({q(d)} AS DATE) BETWEEN DATE '{start}' AND DATE '{ref}'"
        for d in dates)
    names = ", ".join(f"('{d}')" for d in dates)
    df = st.sql("restricted", f"""
        WITH m AS (SELECT CAST(generate_series AS DATE) AS month FROM generate_series(
                       date_trunc('month', DATE '{start}'), DATE '{ref}', INTERVAL 1 MONTH)),
             e(event_date) AS (VALUES {names}),
             c AS (SELECT event_date, month, count(*) AS records FROM ({counts}) GROUP BY ALL)
        SELECT e.event_date, m.month, coalesce(c.records, 0) AS records
        FROM e CROSS JOIN m LEFT JOIN c ON c.event_date = e.event_date AND c.month = m.month
        ORDER BY 1, 2""")
    return (df.with_columns(pl.col("month").cast(pl.Date).dt.strftime("%Y-%m"),
                            pl.col("records").cast(pl.Int64)))
