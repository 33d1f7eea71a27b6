"""Chunked writers: each output file is appended chunk by chunk (Parquet row groups or CSV
blocks) under a fixed schema, so memory is bounded by one chunk whatever the world's size."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from reglink.schemas import SCHEMAS

DATE_COLS = {"crossing_date", "issue_date", "valid_from", "valid_to", "registration_date",
             "deregistration_date", "naturalisation_date", "application_date", "decision_date"}


def register_schema(source: str) -> dict[str, pl.DataType]:
    """Output dtypes of a register: dates as Date except date of birth (partial dates are text)."""
    return {c: (pl.Date if c in DATE_COLS else pl.Utf8) for c in SCHEMAS[source].names}


class Sink:
    """Append polars frames to one Parquet or CSV file under a fixed schema."""

    def __init__(self, path: Path, schema: dict[str, pl.DataType], fmt: str = "parquet") -> None:
        self.path = path.with_suffix("." + fmt)
        self.schema = schema
        self.fmt = fmt
        self.rows = 0
        self._pq: pq.ParquetWriter | None = None
        self._started = False

    def write(self, df: pl.DataFrame) -> None:
        df = df.select([pl.col(c).cast(t) if c in df.columns else pl.lit(None, dtype=t).alias(c)
                        for c, t in self.schema.items()])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.fmt == "parquet":
            table = df.to_arrow()
            if self._pq is None:
                self._pq = pq.ParquetWriter(str(self.path), table.schema, compression="zstd")
            self._pq.write_table(table.cast(self._pq.schema))
        else:
            with open(self.path, "a" if self._started else "w", encoding="utf-8", newline="") as fh:
                df.write_csv(fh, include_header=not self._started)
        self._started = True
        self.rows += df.height

    def close(self) -> None:
        if self._pq is not None:
            self._pq.close()
        elif not self._started:  # an empty extract still has its header / schema
            self._started = False
            empty = pl.DataFrame(schema=self.schema)
            if self.fmt == "parquet":
                empty.write_parquet(self.path)
            else:
                empty.write_csv(self.path)
