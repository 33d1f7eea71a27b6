"""Completeness and validity per field, the data types a register collects (toolkit Annex 1,
footnote 5) and, for the border register, the Annex 2 topic table.

Computed in DuckDB over the restricted `std_<source>` table; only counts leave the store.
"""
from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

import polars as pl
import pycountry

from reglink.quality.stores import Stores, q
from reglink.schemas import Column, register, schema

EARLIEST_DATE = dt.date(1900, 1, 1)

# Annex 1 footnote 5: the four kinds of data a source may collect.
DATA_TYPES: dict[str, tuple[str, ...]] = {
    "1. Biographical information": (
        "given_names", "surname", "sex", "date_of_birth", "country_of_birth", "address",
        "locality", "postcode", "region",
    ),
    "2. Socioeconomic information": ("occupation",),
    "3. Identity information and migratory status": (
        "document_type", "document_number", "document_country", "citizenship", "person_number",
        "case_number", "permit_number", "permit_kind", "purpose", "issue_date", "valid_from",
        "valid_to", "naturalisation_date", "country_of_residence", "application_date",
        "decision", "decision_date",
    ),
    "4. Information on the movement": (
        "direction", "crossing_date", "origin_destination", "travel_reason", "transport_mode",
        "border_point", "registration_date", "registration_reason", "previous_country",
        "deregistration_date", "deregistration_reason", "next_country",
    ),
}

# Annex 2 topics as worded in the toolkit (UN toolkit 2021, Annex 2).
ANNEX2_TOPICS: dict[str, str] = {
    "A": "Whether movement is entry or exit",
    "B": "Date of movement (exit/entry)",
    "C": "Sex",
    "D": "Date of birth",
    "E": "Country of birth",
    "F": "Given name(s) and Surname(s)",
    "G": "Citizenship",
    "H": "Country of residence",
    "I": "Type of identification",
    "J": "Number of identification",
    "K": "Origin / Destination",
    "L": "Reason of travel",
    "M": "Occupation",
    "N": "Transport mode of travel",
    "O": "Border control point",
}


@lru_cache(maxsize=1)
def alpha3_codes() -> tuple[str, ...]:
    """ISO 3166-1 alpha-3 codes plus the ICAO codes for stateless/refugee travellers."""
    codes = {c.alpha_3 for c in pycountry.countries}
    return tuple(sorted(codes | {"XXA", "XXB", "XXC", "XXX"}))


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _filled_expr(col: str, raw: str | None) -> str:
    """A value counts as filled when it is non-null and, for text, not blank."""
    target = raw or col
    return f"({q(target)} IS NOT NULL AND trim(CAST({q(target)} AS VARCHAR)) <> '')"


def validity_rule(c: Column, observed_until: dt.date) -> tuple[str, str]:
    """(SQL predicate on a filled value, its description) for one canonical column."""
    v = f"CAST({q(c.name)} AS VARCHAR)"
    if c.kind == "code":
        return f"upper(trim({v})) IN ({_sql_list(c.codes)})", "in the code list " + "/".join(c.codes)
    if c.kind == "country":
        return f"upper(trim({v})) IN ({_sql_list(alpha3_codes())})", "an ISO 3166-1 alpha-3 code"
    if c.kind == "isco":
        return f"regexp_full_match(trim({v}), '[0-9]{{1,4}}')", "an ISCO-08 code (1-4 digits)"
    if c.kind == "date":
        lo, hi = EARLIEST_DATE.isoformat(), observed_until.isoformat()
        return (f"TRY_CAST({q(c.name)} AS DATE) BETWEEN DATE '{lo}' AND DATE '{hi}'",
                f"a complete date between {lo} and {hi}")
    return "TRUE", "any non-blank text"


def field_quality(st: Stores, source: str, observed_until: dt.date,
                  home_country: str = "NZL") -> pl.DataFrame:
    """One row per canonical column of the register: present, filled, valid (counts, shares).

    Completeness = filled / records. Validity = valid / filled. A date column whose raw text is
    kept beside it (`<col>_raw`) counts as filled when the text is present, and as valid only
    when it parsed to a complete date in range (partial dates of birth are filled, not valid).
    For fields that apply to some records only (the register's `applicable_when`), completeness_applicable is
    filled / applicable records; for the others it equals completeness.
    """
    home = home_country.replace("'", "''")
    table = f"std_{source}"
    cols = set(st.columns("restricted", table))
    sch = schema(source)
    reg = register(source)
    parts, meta = [], []
    for c in sch.columns:
        if c.name not in cols:
            meta.append((c, False, "", ""))
            continue
        raw = f"{c.name}_raw" if f"{c.name}_raw" in cols else None
        pred, desc = validity_rule(c, observed_until)
        filled = _filled_expr(c.name, raw)
        valid = f"({filled} AND {q(c.name)} IS NOT NULL AND {pred})" if c.kind != "text" else filled
        i = len(parts)
        cond = reg.applicable_when.get(c.name)
        needed = set(re.findall(r"[a-z_]+(?= (?:=|<>|IS))", cond[0])) if cond else set()
        app = cond[0].format(home=home) if cond and needed <= cols else "TRUE"
        parts.append(f"count(*) FILTER (WHERE {filled}) AS f{i}, "
                     f"count(*) FILTER (WHERE {valid}) AS v{i}, "
                     f"count(*) FILTER (WHERE {app}) AS a{i}, "
                     f"count(*) FILTER (WHERE {app} AND {filled}) AS af{i}")
        meta.append((c, True, desc, cond[1] if app != "TRUE" else "all records"))
    total_sql = "count(*) AS n" + "".join(", " + p for p in parts)
    counts = st.sql("restricted", f"SELECT {total_sql} FROM {q(table)}").row(0, named=True)
    n = counts["n"]
    rows, i = [], 0
    for c, present, desc, applies in meta:
        if present:
            filled, valid = counts[f"f{i}"], counts[f"v{i}"]
            app, app_filled = counts[f"a{i}"], counts[f"af{i}"]
            i += 1
        else:
            filled = valid = app = app_filled = 0
        rows.append({
            "source": source, "field": c.name, "kind": c.kind, "required": c.required,
            "annex2": c.annex2 or "", "present": present, "records": n,
            "filled": filled, "completeness": (filled / n) if n else None,
            "valid": valid, "validity": (valid / filled) if filled else None,
            "validity_rule": desc if present else "column not delivered",
            "applies_to": applies, "applicable_records": app,
            "completeness_applicable": (app_filled / app) if app else None,
        })
    return pl.DataFrame(rows, schema_overrides={"completeness": pl.Float64, "validity": pl.Float64,
                                                "completeness_applicable": pl.Float64})


def data_types(fields: pl.DataFrame) -> pl.DataFrame:
    """Annex 1 'data type collected': which footnote-5 kinds the register carries, by field."""
    filled = {r["field"]: r["completeness"] or 0.0 for r in fields.iter_rows(named=True)
              if r["present"]}
    rows = []
    for kind, names in DATA_TYPES.items():
        have = [f for f in names if filled.get(f, 0.0) > 0]
        rows.append({"data_type": kind, "collected": bool(have),
                     "fields": ", ".join(have) if have else "—"})
    return pl.DataFrame(rows)


def annex2_table(fields: pl.DataFrame) -> pl.DataFrame:
    """Toolkit Annex 2, topics A–O, for the border register: present (Y/N) and share filled.

    A topic carried by several columns (F: given names and surname; I: document type and
    issuing country) is present when any is delivered; its share filled is the lowest of them,
    since the topic is only complete when all its parts are.
    """
    rows = []
    for letter, topic in ANNEX2_TOPICS.items():
        part = fields.filter(pl.col("annex2") == letter)
        present = part.filter(pl.col("present"))
        shares = [s for s in present["completeness"].to_list() if s is not None]
        rows.append({
            "topic": letter, "description": topic,
            "columns": ", ".join(part["field"].to_list()),
            "included": "Y" if present.height and shares and max(shares) > 0 else "N",
            "share_filled": min(shares) if shares else 0.0,
        })
    return pl.DataFrame(rows)
