"""Standardise values for linkage and statistics — set-based polars expressions.

Names: NFKC, Latin transliteration (unidecode), upper case, punctuation removed, single spaces;
the original text is kept beside. Transliteration runs on the *distinct* non-ASCII values only
(names repeat a lot), everything else is vectorised; date parsing and code look-ups run once
per distinct value and are joined back (`per_distinct`, `on_distinct`). Dates: parsed against the register's
format into year/month/day parts so partial dates of birth (`1980`, `1980-05`, `1980-00-00`)
are recognised rather than lost, and impossible ones (`2023-02-30`) told apart from
unparseable text. Codes: the mapping's local codes, a few universal aliases, upper case.
"""
from __future__ import annotations

import re

import polars as pl
from unidecode import unidecode

from reglink.errors import ReglinkError

# Aliases every register may use for the canonical code lists (applied after the mapping).
CODE_ALIASES: dict[str, dict[str, str]] = {
    "sex": {"MALE": "M", "FEMALE": "F", "MAN": "M", "WOMAN": "F", "OTHER": "X",
            "INDETERMINATE": "X", "UNSPECIFIED": "X"},
    "direction": {"IN": "ENTRY", "OUT": "EXIT", "ARRIVAL": "ENTRY", "DEPARTURE": "EXIT",
                  "ARR": "ENTRY", "DEP": "EXIT"},
    "document_type": {"ID": "ID_CARD", "ID CARD": "ID_CARD", "IDCARD": "ID_CARD",
                      "P": "PASSPORT", "TRAVEL DOCUMENT": "TRAVEL_DOCUMENT"},
    "travel_reason": {"RETURN HOME": "RETURN_HOME", "RETURNING HOME": "RETURN_HOME"},
}


def on_distinct(s: pl.Series, fn) -> pl.Series:
    """Apply a Series -> Series function to the distinct values only and map back (names,
    addresses and document numbers repeat: a traveller crosses many times)."""
    uniq = s.unique().drop_nulls()
    if len(uniq) * 2 > len(s):
        return fn(s).alias(s.name)
    return s.replace_strict(uniq, fn(uniq), default=None, return_dtype=pl.String).alias(s.name)


def per_distinct(df: pl.DataFrame, col: str, fn) -> pl.DataFrame:
    """Add the columns `fn` derives from `col` by running it on a frame of `col`'s distinct
    values and joining back (a date column of millions of rows has a few thousand values)."""
    uniq = df.select(pl.col(col).unique())
    if uniq.height * 2 > df.height:
        return fn(df)
    return df.join(fn(uniq), on=col, how="left", nulls_equal=True, maintain_order="left")


def std_text(s: pl.Series) -> pl.Series:
    """Comparison form of a name or address: Latin, upper case, no punctuation, single spaces."""
    return on_distinct(s.cast(pl.String), _std_text)


def _std_text(s: pl.Series) -> pl.Series:
    s = s.str.normalize("NFKC")
    non_ascii = s.filter(s.str.contains(r"[^\x00-\x7F]")).unique().drop_nulls()
    if len(non_ascii):
        latin = pl.Series([unidecode(v) for v in non_ascii.to_list()], dtype=pl.String)
        s = s.replace(non_ascii, latin)
    s = (s.str.to_uppercase()
         .str.replace_all(r"['’`´]", "")
         .str.replace_all(r"[^A-Z0-9]+", " ")
         .str.strip_chars())
    return s.replace("", None)


def sorted_tokens(given: pl.Series, surname: pl.Series) -> pl.Series:
    """given + surname, tokens sorted: `SMITH JOHN` and `JOHN SMITH` compare equal."""
    df = pl.DataFrame({"g": given, "s": surname})
    pairs = df.unique().with_columns(
        pl.concat_str([pl.col("g"), pl.col("s")], separator=" ", ignore_nulls=True)
        .str.split(" ").list.sort().list.join(" ").replace("", None).alias("full_name_std"))
    return df.join(pairs, on=["g", "s"], how="left", nulls_equal=True,
                   maintain_order="left").get_column("full_name_std")


def alnum_upper(s: pl.Series) -> pl.Series:
    """Document numbers and postcodes: upper case, letters and digits only."""
    return on_distinct(s.cast(pl.String),
                       lambda u: _std_text(u).str.replace_all(" ", "").replace("", None))


_DIRECTIVES = {"%Y": r"(?P<y>\d{4})", "%m": r"(?P<m>\d{1,2})", "%d": r"(?P<d>\d{1,2})"}


def format_regex(fmt: str) -> str:
    """A strftime date format (only %Y %m %d and literals) as an anchored regex."""
    out, i = [], 0
    while i < len(fmt):
        tok = fmt[i:i + 2]
        if tok in _DIRECTIVES:
            out.append(_DIRECTIVES[tok])
            i += 2
        elif fmt[i] == "%":
            raise ReglinkError(f"date format {fmt!r}: only %Y, %m and %d are supported")
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    # a time of day after the date (Parquet timestamps, `2024-01-05T10:00`) is ignored
    return "^" + "".join(out) + r"(?:[T ].*)?$"


def parse_date(df: pl.DataFrame, col: str, fmt: str, partial_ok: bool) -> pl.DataFrame:
    """Add `<col>__y/m/d` (ints), `<col>__date` and `<col>__status` to a frame of strings.

    status: null (empty), `ok`, `partial` (year or year-month only, or 00 parts), `impossible`
    (well-formed but no such day), `unparseable`. Done in stages over columns so each regex
    runs once per value (repeating the expressions inline costs 30x more).
    """
    rx = format_regex(fmt)
    raw = pl.col(col)
    y, m, d = f"{col}__y", f"{col}__m", f"{col}__d"
    groups = raw.str.extract_groups(rx)
    df = df.with_columns(
        groups.struct.field("y").cast(pl.Int32, strict=False).alias(y),
        groups.struct.field("m").cast(pl.Int32, strict=False).alias(m),
        groups.struct.field("d").cast(pl.Int32, strict=False).alias(d),
    )
    if partial_ok:  # ISO partial forms accepted whatever the register's full-date format
        short = raw.str.extract_groups(r"^(?P<y>\d{4})(?:-(?P<m>\d{2}))?$")
        df = df.with_columns(
            short.struct.field("y").cast(pl.Int32, strict=False).alias("_py"),
            short.struct.field("m").cast(pl.Int32, strict=False).alias("_pm"),
        ).with_columns(
            pl.coalesce(pl.col(y), pl.col("_py")).alias(y),
            pl.when(pl.col(y).is_null() & pl.col("_py").is_not_null())
            .then(pl.coalesce(pl.col("_pm"), pl.lit(0, pl.Int32))).otherwise(pl.col(m)).alias(m),
            pl.when(pl.col(y).is_null() & pl.col("_py").is_not_null())
            .then(pl.lit(0, pl.Int32)).otherwise(pl.col(d)).alias(d),
        ).drop("_py", "_pm")
    ok_parts = (pl.col(m).is_between(1, 12) & pl.col(d).is_between(1, 31))
    df = df.with_columns(
        pl.when(ok_parts).then(pl.date(pl.col(y), pl.col(m), 1)).alias("_first"))
    full = pl.when(pl.col(d) <= pl.col("_first").dt.month_end().dt.day()).then(
        pl.col("_first") + pl.duration(days=pl.col(d) - 1))
    df = df.with_columns(full.alias(f"{col}__date")).drop("_first")
    is_partial = (pl.col(m) == 0) | (pl.col(d) == 0)
    status = (
        pl.when(raw.is_null()).then(None)
        .when(pl.col(y).is_null()).then(pl.lit("unparseable"))
        .when(is_partial & (pl.col(m) <= 12) & (pl.col(d) <= 31)).then(pl.lit("partial"))
        .when(pl.col(f"{col}__date").is_null()).then(pl.lit("impossible"))
        .otherwise(pl.lit("ok"))
    )
    return df.with_columns(
        status.alias(f"{col}__status"),
        pl.when(pl.col(m) > 0).then(pl.col(m)).alias(m),
        pl.when(pl.col(d) > 0).then(pl.col(d)).alias(d),
    )


def code_values(s: pl.Series, column: str, local: dict[str, str]) -> pl.Series:
    """Local codes → canonical: the mapping's table (exact, then case-insensitive), aliases."""
    if local:
        s = s.replace(local)
        upper_local = {k.upper(): v for k, v in local.items()}
        s = s.str.to_uppercase().replace(upper_local)
    s = s.str.to_uppercase().str.strip_chars()
    aliases = CODE_ALIASES.get(column)
    if aliases:
        s = s.replace(aliases)
    return s
