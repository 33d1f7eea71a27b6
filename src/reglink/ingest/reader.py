"""Read an extract (CSV or Parquet) in chunks of all-string columns, checking its shape first.

Why all strings: type inference would silently turn `007` into 7 or a bad date into null, and
the validator must see exactly what the register owner delivered. Why chunks: extracts run to
several GB; only one chunk is in memory at a time, its size set by the caller (`batch_bytes`,
from the run's memory budget). Every structural failure —
empty file, wrong encoding, wrong delimiter, duplicate or missing header, ragged rows — is
reported as one line naming the file, row and column. Ragged rows do not stop the read: they
go to quarantine with their raw text, so no row is lost.

Row numbers are 1-based data rows as the owner sees them in an editor: the header is row 0 and
data row N is line N+1 of the file (blank lines count as lines but are not records).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from reglink.errors import Problem, ReglinkError
from reglink.ingest.mapping import Mapping
from reglink.schemas import SourceSchema

CSV_BLOCK_BYTES = 32 << 20
PARQUET_BATCH_ROWS = 250_000
_OTHER_DELIMITERS = (";", "\t", "|", ",")


@dataclass
class RaggedRow:
    row: int  # 1-based data row
    expected: int
    actual: int
    text: str


OTHER_COLUMNS = "other_columns"  # the extract's columns outside the schema, as JSON


def file_format(path: Path) -> str:
    """'parquet' or 'csv', by extension or, failing that, by the Parquet magic bytes."""
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".txt", ".tsv"):
        return "csv"
    with path.open("rb") as f:
        return "parquet" if f.read(4) == b"PAR1" else "csv"


def _locate_bad_bytes(path: Path, delimiter: str, header: list[str]) -> Problem:
    """Find the first byte sequence that is not UTF-8: its data row and column."""
    line_no = 0
    with path.open("rb") as f:
        for line_no, raw in enumerate(f):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                before = raw[: exc.start].decode("utf-8", errors="replace")
                col_index = before.count(delimiter)
                col = header[col_index] if col_index < len(header) else None
                bad = raw[exc.start: exc.start + 1].hex().upper()
                return Problem(str(path), f"not valid UTF-8 (byte 0x{bad}); save the extract as "
                               "UTF-8 or set `encoding:` in its mapping", row=line_no, column=col)
    return Problem(str(path), "not valid UTF-8; save the extract as UTF-8 or set `encoding:` "
                   "in its mapping")


def local_dates(df: pl.DataFrame, time_zone: str | None) -> pl.DataFrame:
    """Timestamps that carry a zone (Parquet's UTC instants) as dates in `time_zone`; naive
    timestamps keep their date."""
    if not time_zone:
        return df
    aware = [c for c, t in df.schema.items() if isinstance(t, pl.Datetime) and t.time_zone]
    if not aware:
        return df
    return df.with_columns(pl.col(c).dt.convert_time_zone(time_zone).dt.date() for c in aware)


@dataclass
class ExtractReader:
    """One extract file, opened and checked; iterate `batches()` for the rows."""

    path: Path
    sch: SourceSchema
    mapping: Mapping
    fmt: str = ""
    raw_header: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # canonical names, file order
    ignored: list[str] = field(default_factory=list)  # columns not in the schema
    total: int = 0  # bytes (CSV) or rows (Parquet), for the progress display
    done: int = 0
    ragged: list[RaggedRow] = field(default_factory=list)
    batch_bytes: int | None = None  # a smaller chunk than the defaults (the memory budget's)
    # where the dates of tz-aware timestamps are taken (a crossing at 01:00 in Auckland is
    # stored as the previous day in UTC); None keeps each timestamp's own zone
    time_zone: str | None = None

    def __post_init__(self) -> None:
        f = str(self.path)
        if not self.path.exists():
            raise ReglinkError(Problem(f, "file not found"))
        if self.path.is_dir():
            raise ReglinkError(Problem(f, "is a folder, not an extract file"))
        if self.path.stat().st_size == 0:
            raise ReglinkError(Problem(f, "file is empty (no header row, no data)"))
        self.fmt = file_format(self.path)
        if self.fmt == "parquet":
            self._open_parquet()
        else:
            self._open_csv()
        self._check_columns()

    # -- header -------------------------------------------------------------------------------
    def _open_parquet(self) -> None:
        try:
            self._pq = pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise ReglinkError(Problem(str(self.path), f"not a readable Parquet file: "
                                       f"{str(exc).splitlines()[0]}")) from None
        self.raw_header = list(self._pq.schema_arrow.names)
        self.total = self._pq.metadata.num_rows
        if self.total == 0:
            raise ReglinkError(Problem(str(self.path), "has no data rows"))

    def _open_csv(self) -> None:
        f = str(self.path)
        enc = self.mapping.encoding
        with self.path.open("rb") as fh:
            head = fh.read(1 << 20)
        if head.startswith(b"PK\x03\x04"):
            raise ReglinkError(Problem(f, "is a zip or Excel workbook, not CSV or Parquet: save "
                                       "it as CSV UTF-8 (comma-delimited)"))
        first, _, rest = head.partition(b"\n")
        try:
            text = first.decode(enc).lstrip("\ufeff").rstrip("\r")
        except (UnicodeDecodeError, LookupError):
            raise ReglinkError(_locate_bad_bytes(self.path, self.mapping.delimiter, [])
                               if enc.lower().replace("-", "") == "utf8" else
                               Problem(f, f"header is not valid {enc}", row=0)) from None
        if not text.strip():
            raise ReglinkError(Problem(f, "the first line is empty: expected a header row", row=0))
        delim = self.mapping.delimiter
        header = next(csv.reader(io.StringIO(text), delimiter=delim))
        if len(header) == 1:
            for other in _OTHER_DELIMITERS:
                if other != delim and other in text:
                    name = {"\t": "tab", ";": "';'", "|": "'|'", ",": "','"}[other]
                    raise ReglinkError(Problem(
                        f, f"wrong delimiter: the header is {name}-separated but {delim!r} is "
                        f"expected; deliver a comma-separated file or set `delimiter:` in the "
                        f"mapping", row=0))
        if not rest.strip(b"\r\n \t") and len(head) < (1 << 20):
            raise ReglinkError(Problem(f, "has a header but no data rows", row=1))
        self.raw_header = header
        self.total = self.path.stat().st_size

    def _check_columns(self) -> None:
        f = str(self.path)
        seen: dict[str, str] = {}
        problems: list[Problem] = []
        names = set(self.sch.names)
        for raw in self.raw_header:
            canon = self.mapping.canonical_name(raw)
            if not raw.strip():
                problems.append(Problem(f, "header has an empty column name", row=0))
                continue
            if canon in seen:
                what = (f"duplicate column {raw!r} in the header" if seen[canon] == raw else
                        f"columns {seen[canon]!r} and {raw!r} both map to {canon!r}")
                problems.append(Problem(f, what, row=0, column=canon))
                continue
            seen[canon] = raw
            if canon in names:
                self.columns.append(canon)
            else:
                self.ignored.append(raw)
        for req in self.sch.required:
            if req not in seen:
                local = [k for k, v in self.mapping.columns.items() if v == req]
                hint = f" (the mapping reads it from {local[0]!r})" if local else ""
                problems.append(Problem(f, f"missing required column{hint} (the register's columns: "
                                           f"docs/reference.md#{self.sch.name})", row=0, column=req))
        if problems:
            raise ReglinkError(*problems)

    # -- rows ---------------------------------------------------------------------------------
    def batches(self) -> Iterator[pl.DataFrame]:
        """Chunks with canonical String columns (empty → null) and `row_number` (Int64); the
        extract's columns outside the schema, if any, kept together in `other_columns` (a JSON
        object of their non-empty values: Annex 2 topic P, "other", is not dropped)."""
        it = self._parquet_batches() if self.fmt == "parquet" else self._csv_batches()
        for df in it:
            keep = []
            if self.ignored:
                vals = [pl.col(raw).cast(pl.String).str.strip_chars().replace("", None).alias(raw)
                        for raw in self.ignored]
                keep.append(pl.when(pl.any_horizontal([v.is_not_null() for v in vals]))
                            .then(pl.struct(vals).struct.json_encode())
                            .otherwise(None).alias(OTHER_COLUMNS))
            for raw in self.raw_header:
                canon = self.mapping.canonical_name(raw)
                if canon not in self.columns:
                    continue
                e = pl.col(raw)
                if df.schema[raw].is_temporal():  # typed Parquet dates: in the mapping's format
                    e = e.dt.strftime(self.mapping.date_format_for(canon))
                keep.append(e.cast(pl.String).str.strip_chars().replace("", None).alias(canon))
            yield df.select(pl.col("row_number"), *keep)

    def parquet_batch_rows(self) -> int:
        """Rows per Parquet chunk: PARQUET_BATCH_ROWS, fewer when `batch_bytes` of uncompressed
        data hold fewer (at least 10,000)."""
        if self.batch_bytes is None:
            return PARQUET_BATCH_ROWS
        md = self._pq.metadata
        size = sum(md.row_group(i).total_byte_size for i in range(md.num_row_groups))
        per_row = max(size / max(md.num_rows, 1), 1.0)
        return min(PARQUET_BATCH_ROWS, max(int(self.batch_bytes / per_row), 10_000))

    def _parquet_batches(self) -> Iterator[pl.DataFrame]:
        start = 1
        for batch in self._pq.iter_batches(batch_size=self.parquet_batch_rows()):
            df = pl.from_arrow(batch)
            assert isinstance(df, pl.DataFrame)
            df = local_dates(df, self.time_zone)
            n = df.height
            df = df.with_columns(pl.int_range(start, start + n, dtype=pl.Int64).alias("row_number"))
            start += n
            self.done += n
            yield df

    def _csv_batches(self) -> Iterator[pl.DataFrame]:
        f = str(self.path)
        width = len(self.raw_header)
        names = [f"c{i}" for i in range(width)]  # pyarrow needs unique names; real ones later

        def on_invalid(row: pacsv.InvalidRow) -> str:
            number = (row.number - 1) if row.number is not None else -1
            self.ragged.append(RaggedRow(number, row.expected_columns, row.actual_columns,
                                         row.text[:300]))
            return "skip"

        fh = self.path.open("rb")

        def fail(exc: Exception) -> ReglinkError:
            msg = str(exc)
            if "utf8" in msg.lower():
                return ReglinkError(_locate_bad_bytes(
                    self.path, self.mapping.delimiter,
                    [self.mapping.canonical_name(h) for h in self.raw_header]))
            return ReglinkError(Problem(f, f"cannot parse CSV: {msg.splitlines()[0]}"))

        try:
            try:
                reader = self._open_reader(fh, names, on_invalid)
            except pa.ArrowInvalid as exc:
                raise fail(exc) from None
            good = 0
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except pa.ArrowInvalid as exc:
                    raise fail(exc) from None
                n = batch.num_rows
                if n == 0:
                    continue
                # data rows of the good rows: the k-th good row skips every invalid row before it
                bad = np.array(sorted(r.row for r in self.ragged), dtype=np.int64)
                k = np.arange(good + 1, good + n + 1, dtype=np.int64)
                shift = np.searchsorted(bad - np.arange(len(bad)), k, side="right") if len(bad) else 0
                rows = k + shift
                good += n
                df = pl.from_arrow(batch)
                assert isinstance(df, pl.DataFrame)
                df = df.rename(dict(zip(names, self.raw_header)))
                df = df.with_columns(pl.Series("row_number", rows, dtype=pl.Int64))
                # blank lines come through as all-empty rows: lines, not records
                blank = pl.all_horizontal([pl.col(h) == "" for h in self.raw_header])
                df = df.filter(~blank)
                self.done = fh.tell()
                yield df
        finally:
            fh.close()
        self.done = self.total

    def _open_reader(self, fh, names: list[str], on_invalid) -> pacsv.CSVStreamingReader:
        return pacsv.open_csv(
            fh,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=False,
                                           block_size=min(self.batch_bytes or CSV_BLOCK_BYTES,
                                                          CSV_BLOCK_BYTES),
                                           encoding=self.mapping.encoding),
            parse_options=pacsv.ParseOptions(delimiter=self.mapping.delimiter,
                                             ignore_empty_lines=False,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
