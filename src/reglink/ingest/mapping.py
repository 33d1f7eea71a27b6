"""Source mappings (config/mappings/*.yaml): a country's own extract layout → canonical schema.

A mapping says how to read the file (delimiter, encoding), which of its columns is which
canonical column, how its local codes translate (`E`/`S` → `ENTRY`/`EXIT`), how it writes dates
(`%d/%m/%Y`) and any country spellings the ISO lookup does not know. A file already in the
canonical layout needs no mapping (`Mapping()` is the identity).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reglink.errors import ReglinkError, UsageError
from reglink.schemas import SOURCES, schema

ISO_DATE = "%Y-%m-%d"


@dataclass
class Mapping:
    """How one register's extract maps onto its canonical schema."""

    source: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    columns: dict[str, str] = field(default_factory=dict)  # their name -> canonical name
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # canonical col -> {local: canonical}
    date_format: str = ISO_DATE  # default for every date column
    dates: dict[str, str] = field(default_factory=dict)  # canonical col -> format
    countries: dict[str, str] = field(default_factory=dict)  # extra spelling -> alpha-3
    path: Path | None = None

    def date_format_for(self, column: str) -> str:
        return self.dates.get(column, self.date_format)

    def source_name(self, canonical: str | None) -> str | None:
        """The extract's own name of a canonical column (`Staatsangehoerigkeit` for
        `citizenship`), else the canonical name: messages speak the owner's language."""
        if canonical is None:
            return None
        for theirs, ours in self.columns.items():
            if ours == canonical:
                return theirs.strip()
        return canonical

    def label(self, canonical: str | None) -> str | None:
        """`Staatsangehoerigkeit (citizenship)` where the mapping renames, else `citizenship`."""
        theirs = self.source_name(canonical)
        return theirs if theirs == canonical else f"{theirs} ({canonical})"

    def canonical_name(self, raw: str) -> str:
        """The canonical name of a header cell (renamed, else trimmed and lower-cased)."""
        if raw in self.columns:
            return self.columns[raw]
        stripped = raw.strip()
        if stripped in self.columns:
            return self.columns[stripped]
        return stripped.lower()


def _str_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ReglinkError(f"{where} must be a mapping of names to names")
    return {str(k): str(v) for k, v in value.items()}


def load_mapping(path: str | Path, source: str | None = None) -> Mapping:
    """Read a mapping YAML; every problem is one ReglinkError line naming the file and key."""
    path = Path(path)
    if not path.exists():
        raise UsageError(f"{path}: mapping file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ReglinkError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ReglinkError(f"{path}: a mapping file must be a YAML mapping")
    declared = data.get("source")
    if declared is not None and declared not in SOURCES:
        raise ReglinkError(f"{path}: source: unknown register {declared!r}; expected one of "
                           f"{', '.join(SOURCES)}")
    if source is not None and declared is not None and declared != source:
        raise UsageError(f"{path}: this mapping is for {declared}, not {source}")
    m = Mapping(
        source=declared or source,
        delimiter=str(data.get("delimiter", ",")),
        encoding=str(data.get("encoding", "utf-8")),
        columns=_str_map(data.get("columns"), f"{path}: columns"),
        date_format=str(data.get("date_format", ISO_DATE)),
        dates=_str_map(data.get("dates"), f"{path}: dates"),
        countries=_str_map(data.get("countries"), f"{path}: countries"),
        path=path,
    )
    if len(m.delimiter) != 1:
        raise ReglinkError(f"{path}: delimiter: must be one character, got {m.delimiter!r}")
    codes = data.get("codes") or {}
    if not isinstance(codes, dict):
        raise ReglinkError(f"{path}: codes must map canonical columns to code maps")
    m.codes = {str(col): _str_map(cmap, f"{path}: codes: {col}") for col, cmap in codes.items()}
    if m.source is not None:
        sch = schema(m.source)
        bad = [c for c in list(m.columns.values()) + list(m.codes) + list(m.dates)
               if c not in sch.names]
        # a wrong mapping is wrong usage (exit 2), not bad data: the owner fixes the mapping
        if bad:
            raise UsageError(f"{path}: {', '.join(sorted(set(bad)))}: not a column of "
                             f"{m.source}; its columns are {', '.join(sch.names)} "
                             f"(docs/reference.md#{m.source})")
        for col, cmap in m.codes.items():
            c = sch.column(col)
            if c.codes:
                wrong = sorted({v for v in cmap.values() if v not in c.codes})
                if wrong:
                    raise UsageError(f"{path}: codes: {col}: {', '.join(wrong)} not in "
                                     f"{', '.join(c.codes)} (docs/reference.md#{m.source})")
    return m
