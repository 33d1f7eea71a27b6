"""Standardised register frames for linkage outside the pipeline (tests, benchmarks).

In the pipeline `link_persons` reads `std_<source>` tables that ingest wrote. Tests and
benchmarks read extract files directly: through `reglink.ingest.ingest_extract` when ingest is
installed, else through `standardise_minimal`, a small stand-in that adds the same standardised
columns (docs/architecture.md) so linkage can be developed and measured on its own.
"""
from __future__ import annotations

from pathlib import Path

import polars as pl
from unidecode import unidecode

from reglink.schemas import SOURCES


def _std_text(s: pl.Series) -> pl.Series:
    s = s.cast(pl.String).str.normalize("NFKC")
    non_ascii = s.filter(s.str.contains(r"[^\x00-\x7F]")).unique().drop_nulls()
    if len(non_ascii):
        s = s.replace(non_ascii, pl.Series([unidecode(v) for v in non_ascii.to_list()]))
    s = (s.str.to_uppercase().str.replace_all(r"['’`´]", "")
         .str.replace_all(r"[^A-Z0-9]+", " ").str.strip_chars())
    return s.replace("", None)


def standardise_minimal(source: str, df: pl.DataFrame) -> pl.DataFrame:
    """Canonical extract -> canonical columns + the standardised linkage columns."""
    out = df.with_columns(pl.lit(source).alias("source"), pl.col("record_id").cast(pl.String))
    cols = out.columns
    if "given_names" in cols:
        out = out.with_columns(_std_text(out["given_names"]).alias("given_names_std"))
    if "surname" in cols:
        out = out.with_columns(_std_text(out["surname"]).alias("surname_std"))
    if "given_names_std" in out.columns or "surname_std" in out.columns:
        g = pl.col("given_names_std") if "given_names_std" in out.columns else pl.lit(None, pl.String)
        s = pl.col("surname_std") if "surname_std" in out.columns else pl.lit(None, pl.String)
        out = out.with_columns(
            pl.concat_str([g, s], separator=" ", ignore_nulls=True).str.split(" ")
            .list.sort().list.join(" ").replace("", None).alias("full_name_std"))
    if "date_of_birth" in cols:
        raw = pl.col("date_of_birth").cast(pl.String)
        parts = raw.str.extract_groups(r"^(?P<y>\d{4})(?:-(?P<m>\d{2}))?(?:-(?P<d>\d{2}))?")
        out = out.with_columns(
            parts.struct.field("y").cast(pl.Int32, strict=False).alias("dob_year"),
            parts.struct.field("m").cast(pl.Int32, strict=False).alias("dob_month"),
            parts.struct.field("d").cast(pl.Int32, strict=False).alias("dob_day"),
        ).with_columns(
            pl.when(pl.col("dob_month") == 0).then(None).otherwise(pl.col("dob_month")).alias("dob_month"),
            pl.when(pl.col("dob_day") == 0).then(None).otherwise(pl.col("dob_day")).alias("dob_day"),
            raw.str.to_date("%Y-%m-%d", strict=False).alias("date_of_birth"),
        )
    if "document_number" in cols:
        out = out.with_columns(_std_text(out["document_number"]).str.replace_all(" ", "")
                               .alias("document_number_std"))
    for c in ("postcode", "address", "locality"):
        if c in cols:
            std = _std_text(out[c])
            if c == "postcode":
                std = std.str.replace_all(" ", "")
            out = out.with_columns(std.alias(f"{c}_std"))
    for c in ("sex", "citizenship", "country_of_birth", "document_country"):
        if c in cols:
            out = out.with_columns(pl.col(c).cast(pl.String).str.to_uppercase().alias(c))
    return out


def _read(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    return pl.read_csv(path, infer_schema=False)


def std_frames_from_extracts(extracts: dict[str, Path], home_country: str = "NZL",
                             use_ingest: bool = True) -> dict[str, pl.DataFrame]:
    """source -> standardised frame, via ingest when available (else the stand-in)."""
    ingest = None
    if use_ingest:
        try:
            from reglink.ingest import ingest_extract as ingest  # type: ignore[attr-defined]
        except ImportError:
            ingest = None
    out = {}
    for source, path in extracts.items():
        if ingest is not None:
            out[source] = ingest(source, Path(path), home_country=home_country, suite=False).clean
        else:
            out[source] = standardise_minimal(source, _read(Path(path)))
    return out


def extracts_in(directory: Path) -> dict[str, Path]:
    """The register extracts present in a synthetic-world folder (any subset)."""
    found = {}
    for s in SOURCES:
        for ext in (".parquet", ".csv"):
            p = Path(directory) / f"{s}{ext}"
            if p.exists():
                found[s] = p
                break
    return found
