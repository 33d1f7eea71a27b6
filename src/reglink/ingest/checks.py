"""Row checks and typing of one chunk: what is a hard failure (quarantine) and what is soft.

Hard (the row goes to quarantine with reason and column): a required value missing, a code not
in the canonical list, a country no spelling of which is known, a date that cannot be parsed,
is impossible or outside a plausible range, dates out of order (valid_from after valid_to,
an event before birth), a ragged row, a duplicate record_id (found across chunks by the
caller). Soft (counted and reported): a partial date of birth; low completeness (per column,
judged on the whole extract by the expectation suite).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from reglink.ingest.countries import to_alpha3
from reglink.ingest.mapping import Mapping
from reglink.ingest.standardise import (alnum_upper, code_values, on_distinct, parse_date,
                                        per_distinct, sorted_tokens, std_text)
from reglink.schemas import SourceSchema

MIN_DATE = dt.date(1880, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)
ISCO_RE = r"^\d{1,4}$"

# reasons (stable names: they appear in quality_quarantine and docs/validation.md)
MISSING_REQUIRED = "missing_required"
UNKNOWN_CODE = "unknown_code"
UNKNOWN_COUNTRY = "unknown_country"
UNPARSEABLE_DATE = "unparseable_date"
IMPOSSIBLE_DATE = "impossible_date"
INCOMPLETE_DATE = "incomplete_date"
DATE_OUT_OF_RANGE = "date_out_of_range"
DATE_ORDER = "date_order"
DUPLICATE_RECORD_ID = "duplicate_record_id"
RAGGED_ROW = "ragged_row"
SUITE_FAILURE = "expectation_failed"
AFTER_OBSERVED_UNTIL = "after_observed_until"
FUTURE_DATE = "future_date"
CONTROL_CHARACTER = "control_character"
IMPLAUSIBLE_AGE = "implausible_age"
HARD_REASONS = (MISSING_REQUIRED, UNKNOWN_CODE, UNKNOWN_COUNTRY, UNPARSEABLE_DATE,
                IMPOSSIBLE_DATE, INCOMPLETE_DATE, DATE_OUT_OF_RANGE, DATE_ORDER,
                DUPLICATE_RECORD_ID, RAGGED_ROW, AFTER_OBSERVED_UNTIL, FUTURE_DATE,
                CONTROL_CHARACTER, IMPLAUSIBLE_AGE)
# dates of things that have happened when the extract is made (a permit's end may lie ahead)
PAST_DATES = ("crossing_date", "registration_date", "deregistration_date", "naturalisation_date",
              "application_date", "decision_date", "issue_date")
# the date a record describes, for the age of its person (first present)
RECORD_DATES = ("crossing_date", "application_date", "valid_from", "issue_date",
                "registration_date")
MAX_AGE = 120  # the oldest verified human lived 122 years
# C0 control characters and DEL, but not tab, line feed and carriage return (an address may
# hold a line break): a NUL inside a surname is a corrupted record, not a name
CONTROL_RE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
PARTIAL_DOB = "partial_date_of_birth"  # soft
ORIGIN_IS_HOME = "origin_destination_is_home_country"  # soft

FAILURE_SCHEMA = {"row_number": pl.Int64, "reason": pl.String, "column": pl.String,
                  "value": pl.String}


@dataclass
class ChunkResult:
    typed: pl.DataFrame  # every row of the chunk, canonical + standardised columns
    failures: pl.DataFrame  # long: row_number, reason, column, value (hard failures)
    soft: dict[str, int]  # soft warning -> rows


def _fail(df: pl.DataFrame, cond: pl.Expr, reason: str, column: str | None,
          value: pl.Expr | None = None) -> pl.DataFrame:
    v = value if value is not None else (pl.col(column).cast(pl.String) if column else pl.lit(None))
    return df.filter(cond).select(
        pl.col("row_number"), pl.lit(reason).alias("reason"),
        pl.lit(column, pl.String).alias("column"), v.cast(pl.String).alias("value"))


def check_chunk(raw: pl.DataFrame, sch: SourceSchema, mapping: Mapping,
                today: dt.date | None = None, home_country: str | None = None,
                observed_until: dt.date | None = None) -> ChunkResult:
    """Type, standardise and check one chunk of all-string canonical columns.
    `observed_until`: the last day the data cover; a crossing after it is quarantined."""
    today = today or dt.date.today()
    present = [c for c in sch.names if c in raw.columns]
    df = raw.with_columns([pl.lit(None, pl.String).alias(c) for c in sch.names
                           if c not in raw.columns])
    fails: list[pl.DataFrame] = []
    soft: dict[str, int] = {}

    for col in sch.required:
        fails.append(_fail(df, pl.col(col).is_null(), MISSING_REQUIRED, col))

    # dates: parse into parts + status, then range checks
    date_cols = [c.name for c in sch.columns if c.kind == "date" and c.name in present]
    # a date already failed for its range (or for lying ahead) is not compared again -- with
    # another date or as an age: one wrong value, one reason
    failed_range: dict[str, pl.Expr] = {}
    for col in date_cols:
        dob = col == "date_of_birth"
        df = per_distinct(df, col, lambda u, c=col, d=dob: parse_date(
            u, c, mapping.date_format_for(c), partial_ok=d))
        st = pl.col(f"{col}__status")
        fails.append(_fail(df, st == "unparseable", UNPARSEABLE_DATE, col))
        fails.append(_fail(df, st == "impossible", IMPOSSIBLE_DATE, col))
        if dob:
            soft[PARTIAL_DOB] = int(df.select((st == "partial").sum()).item())
        else:
            fails.append(_fail(df, st == "partial", INCOMPLETE_DATE, col))
        upper = min(today, MAX_DATE) if dob else MAX_DATE
        y = pl.col(f"{col}__y")
        d = pl.col(f"{col}__date")
        out = (d < MIN_DATE) | (d > upper) | ((st == "partial") & ((y < MIN_DATE.year) | (y > upper.year)))
        fails.append(_fail(df, out.fill_null(False), DATE_OUT_OF_RANGE, col))
        failed_range[col] = out.fill_null(False)

        if col in PAST_DATES:  # in the future when the extract is checked: a keying error
            future = (d > today).fill_null(False) & ~out.fill_null(False)
            fails.append(_fail(df, future, FUTURE_DATE, col))
            failed_range[col] = failed_range[col] | future
        if col == "crossing_date" and observed_until is not None:
            fails.append(_fail(df, ((d > observed_until) & (d <= today)).fill_null(False),
                               AFTER_OBSERVED_UNTIL, col,
                               pl.format("{} after observed_until {}", pl.col(col),
                                         pl.lit(observed_until.isoformat()))))

    if "date_of_birth" in date_cols:
        ref = next((c for c in RECORD_DATES if c in date_cols), None)
        at = pl.col(f"{ref}__date") if ref else pl.lit(today)
        at = pl.coalesce(at, pl.lit(today)) if ref else at
        age = at.dt.year() - pl.col("date_of_birth__y")
        implausible = (age > MAX_AGE).fill_null(False) & ~failed_range["date_of_birth"]
        if ref:
            implausible = implausible & ~failed_range[ref]
        fails.append(_fail(df, implausible, IMPLAUSIBLE_AGE, "date_of_birth",
                           pl.format("{} (over {} years old on {})", pl.col("date_of_birth"),
                                     pl.lit(MAX_AGE), at.cast(pl.String))))

    for c in sch.columns:  # control characters in any text value
        if c.name in present and df.schema[c.name] == pl.String:
            fails.append(_fail(df, pl.col(c.name).str.contains(CONTROL_RE).fill_null(False),
                               CONTROL_CHARACTER, c.name,
                               pl.col(c.name).str.replace_all(CONTROL_RE, "\uFFFD")))

    # codes, countries, ISCO
    typed_cols: list[pl.Series] = []
    for c in sch.columns:
        if c.name not in present:
            continue
        s = df.get_column(c.name)
        if c.kind == "code":
            v = on_distinct(s, lambda u, n=c.name: code_values(u, n, mapping.codes.get(n, {})))
            typed_cols.append(v)
            bad = v.is_not_null() & ~v.is_in(list(c.codes))
            fails.append(_fail(df.with_columns(bad.alias("_bad")), pl.col("_bad"), UNKNOWN_CODE,
                               c.name))
        elif c.kind == "country":
            v = to_alpha3(s, mapping.countries)
            typed_cols.append(v)
            bad = s.is_not_null() & v.is_null()
            fails.append(_fail(df.with_columns(bad.alias("_bad")), pl.col("_bad"),
                               UNKNOWN_COUNTRY, c.name))
        elif c.kind == "isco":
            fails.append(_fail(df, pl.col(c.name).is_not_null() & ~pl.col(c.name).str.contains(ISCO_RE),
                               UNKNOWN_CODE, c.name))
    df = df.with_columns(typed_cols)
    if home_country and "origin_destination" in present:
        # a crossing comes from / goes to another country: the home country here is a data error
        soft[ORIGIN_IS_HOME] = int(df.select((pl.col("origin_destination") == home_country).sum()).item())

    # date order (partial dates of birth compared on the year)
    for a, b in sch.date_order:
        if a not in date_cols or b not in date_cols:
            continue
        da, db = pl.col(f"{a}__date"), pl.col(f"{b}__date")
        bad = (da > db).fill_null(False)
        if a == "date_of_birth":
            bad = bad | (pl.col(f"{a}__y") > pl.col(f"{b}__y")).fill_null(False)
        bad = bad & ~failed_range[a] & ~failed_range[b]
        fails.append(_fail(df, bad, DATE_ORDER, b,
                           pl.format("{} {} before {} {}", pl.lit(b), pl.col(b), pl.lit(a), pl.col(a))))

    failures = pl.concat([f.cast(FAILURE_SCHEMA) for f in fails], how="vertical") if fails else \
        pl.DataFrame(schema=FAILURE_SCHEMA)
    return ChunkResult(typed=_typed_frame(df, sch, date_cols), failures=failures, soft=soft)


def _typed_frame(df: pl.DataFrame, sch: SourceSchema, date_cols: list[str]) -> pl.DataFrame:
    """Canonical columns typed (dates DATE) + the standardised columns linkage reads."""
    exprs: list[pl.Expr] = [pl.col("row_number")]
    for c in sch.columns:
        if c.kind == "date":
            if c.name in date_cols:
                exprs.append(pl.col(f"{c.name}__date").alias(c.name))
            else:
                exprs.append(pl.lit(None, pl.Date).alias(c.name))
        else:
            exprs.append(pl.col(c.name).cast(pl.String))
    if "other_columns" in df.columns:  # columns outside the schema, kept as delivered (topic P)
        exprs.append(pl.col("other_columns"))
    out = df.select(exprs)
    names = set(sch.names)
    std: list[pl.Series] = []
    g = std_text(df.get_column("given_names")).alias("given_names_std")
    s = std_text(df.get_column("surname")).alias("surname_std")
    std += [g, s, sorted_tokens(g, s)]
    if "date_of_birth" in date_cols:
        std += [df.get_column("date_of_birth__y").alias("dob_year"),
                df.get_column("date_of_birth__m").alias("dob_month"),
                df.get_column("date_of_birth__d").alias("dob_day")]
    else:
        std += [pl.Series(n, [None] * df.height, dtype=pl.Int32)
                for n in ("dob_year", "dob_month", "dob_day")]
    std.append(df.get_column("date_of_birth").alias("date_of_birth_raw"))
    if "document_number" in names:
        std.append(alnum_upper(df.get_column("document_number")).alias("document_number_std"))
    if "postcode" in names:
        std.append(alnum_upper(df.get_column("postcode")).alias("postcode_std"))
    for col in ("address", "locality"):
        if col in names:
            std.append(std_text(df.get_column(col)).alias(f"{col}_std"))
    return out.with_columns(std)
