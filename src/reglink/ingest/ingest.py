"""Ingest one extract (`ingest_extract`) or every configured one (`ingest_all`).

One streaming pass per extract: read a chunk of strings → type, standardise and check it
(polars, value work once per distinct value) → add its rows to the summary the register's
expectation suite is run on once at the end (suites.SuiteRunner) → split into accepted rows
(streamed to a Parquet file, so no extract is ever whole in memory) and quarantine. A second
read happens only when the suite fails rows the own checks passed. Duplicate record_ids are
found across chunks at the end. The books always balance: rows_in = rows_accepted +
rows_quarantined, recorded with the file's sha256 so an identical re-delivery is recognised
and not ingested twice. Chunk size and the spill folder follow the run's budget.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from reglink import store
from reglink.config import Budget, home_zone, machine_memory
from reglink.errors import Problem, ReglinkError, UsageError
from reglink.ingest.checks import (DUPLICATE_RECORD_ID, FAILURE_SCHEMA, HARD_REASONS, RAGGED_ROW,
                                   check_chunk)
from reglink.ingest.mapping import Mapping, load_mapping
from reglink.ingest.reader import ExtractReader
from reglink.ingest.store_writer import (BASELINE, delivery_extract_ids, delivery_rows,
                                         ensure_log_tables, log_ingest, remove_delivery,
                                         write_result)
from reglink.schemas import SOURCES, schema

log = logging.getLogger("reglink.ingest")

_REASON_ORDER = {r: i for i, r in enumerate(HARD_REASONS)}
DETAIL_CAP = 100_000  # quarantined rows whose details `validate` keeps (counts are always exact)


@dataclass
class IngestSummary:
    """The books of one extract: what came in, what was kept, what was held back and why."""

    source: str
    file: str
    sha256: str
    rows_in: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    by_reason: dict[tuple[str, str | None], int] = field(default_factory=dict)  # (reason, column) -> rows
    soft: dict[str, int] = field(default_factory=dict)  # soft warning -> rows
    completeness: dict[str, float] = field(default_factory=dict)  # column -> share non-empty
    present_columns: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    expectations: list[dict[str, Any]] = field(default_factory=list)  # suite results
    # distinct failing values: reason, column, value, rows (what a mapping needs to add)
    failing_values: pl.DataFrame | None = None
    home_country: str | None = None  # None: not given, the checks that need it were skipped
    home_country_from: str = ""  # where validate took it from (--home-country, a config)
    time_zone: str | None = None  # zone-aware timestamps were dated in it (None: their own)
    status: str = "ingested"  # ingested | unchanged
    details_truncated: bool = False  # validate kept the details of the first DETAIL_CAP rows only
    ingested_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    @property
    def extract_id(self) -> str:
        return self.sha256[:16]

    @property
    def reasons(self) -> dict[str, int]:
        """reason -> rows (a row failing two checks counts under both)."""
        out: dict[str, int] = {}
        for (reason, _), n in self.by_reason.items():
            out[reason] = out.get(reason, 0) + n
        return out

    def balanced(self) -> bool:
        return self.rows_in == self.rows_accepted + self.rows_quarantined


class IngestResult:
    """One ingested extract. The accepted rows (`clean`) may live in a Parquet file written
    chunk by chunk (`clean_file`): they are read into memory only when `clean` is asked for,
    and the store writer loads the file into DuckDB without passing through Python."""

    def __init__(self, source: str, clean: pl.DataFrame | None = None,
                 quarantine: pl.DataFrame | None = None, summary: IngestSummary | None = None,
                 failures: pl.DataFrame | None = None, *, clean_file: Path | None = None) -> None:
        self.source = source
        self._clean = clean
        self.clean_file = clean_file
        self.quarantine = quarantine if quarantine is not None else pl.DataFrame()
        self.summary = summary
        # every hard failure, long form (row_number, reason, column, value): a row may fail twice
        self.failures = failures if failures is not None else pl.DataFrame(schema=FAILURE_SCHEMA)

    @property
    def clean(self) -> pl.DataFrame:
        if self._clean is None:
            return pl.read_parquet(self.clean_file) if self.clean_file is not None else pl.DataFrame()
        return self._clean

    @clean.setter
    def clean(self, frame: pl.DataFrame) -> None:
        self._clean, self.clean_file = frame, None

    def clean_rows(self) -> pl.DataFrame | Path:
        """The accepted rows as they are held: the Parquet file, else the frame."""
        return self.clean_file if self._clean is None and self.clean_file is not None else self.clean

    def __repr__(self) -> str:
        return f"IngestResult({self.source!r}, summary={self.summary!r})"


def chunk_bytes(budget: Budget | None) -> int:
    """Raw bytes one chunk may hold: a 32nd of what Python frames may use (a chunk's typed,
    standardised and checked copies take several times its raw size), within 16-256 MiB."""
    frame = budget.frame_bytes if budget is not None else int(machine_memory() * 0.6 * 0.5)
    return int(min(max(frame // 32, 16 << 20), 256 << 20))


class _Spill:
    """Accepted rows written chunk by chunk to a Parquet file in a private folder of the
    budget's temp directory (removed with the result that owns it)."""

    def __init__(self, budget: Budget | None) -> None:
        parent = None
        if budget is not None:
            budget.temp_directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            parent = str(budget.temp_directory)
        self.dir = Path(tempfile.mkdtemp(prefix="ingest_", dir=parent))
        self.path = self.dir / "clean.parquet"
        self._writer: pq.ParquetWriter | None = None
        self._schema = None
        self.rows = 0

    def write(self, frame: pl.DataFrame) -> None:
        table = frame.to_arrow()
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.path, self._schema, compression="lz4")
        elif table.schema != self._schema:
            table = table.cast(self._schema)
        self._writer.write_table(table)
        self.rows += frame.height

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def rows_of(self, row_numbers: pl.Series) -> pl.DataFrame:
        return pl.scan_parquet(self.path).filter(pl.col("row_number").is_in(row_numbers.implode())).collect()

    def drop(self, row_numbers: pl.Series) -> None:
        """Remove rows (found failing after they were written): one streaming rewrite."""
        if not len(row_numbers):
            return
        tmp = self.dir / "clean.next.parquet"
        (pl.scan_parquet(self.path).filter(~pl.col("row_number").is_in(row_numbers.implode()))
         .sink_parquet(tmp, compression="lz4"))
        tmp.replace(self.path)
        self.rows = pq.ParquetFile(self.path).metadata.num_rows

    def attach(self, owner: object) -> None:
        weakref.finalize(owner, shutil.rmtree, str(self.dir), True)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _quarantine_rows(failures: pl.DataFrame, raw: pl.DataFrame) -> pl.DataFrame:
    """One row per failing input row: first reason (by severity order) + all reasons + raw."""
    if failures.is_empty():
        return pl.DataFrame()
    order = failures.with_columns(
        pl.col("reason").replace_strict(_REASON_ORDER, default=len(_REASON_ORDER),
                                        return_dtype=pl.Int32).alias("_o"))
    # stable: of two failures of one severity, the first check made comes first (deterministic)
    per_row = (order.sort(["row_number", "_o"], maintain_order=True)
               .group_by("row_number", maintain_order=True)
               .agg(pl.col("reason").first(), pl.col("column").first(), pl.col("value").first(),
                    pl.format("{}:{}", pl.col("reason"), pl.col("column").fill_null("-"))
                    .unique(maintain_order=True).str.join(";").alias("reasons")))
    raw_cols = raw.rename({c: f"raw_{c}" for c in raw.columns if c != "row_number"})
    return per_row.join(raw_cols, on="row_number", how="left")


@dataclass
class _HeldBack:
    """What an extract holds back as it is checked: per-reason counts and distinct failing
    values (always exact, in the summary), and the quarantine rows and failures themselves
    (with `keep_rows=False`, the details of the first DETAIL_CAP rows only)."""

    summary: IngestSummary
    keep_rows: bool
    rows: list[pl.DataFrame] = field(default_factory=list)  # quarantine rows, per chunk
    failures: list[pl.DataFrame] = field(default_factory=list)
    values: list[pl.DataFrame] = field(default_factory=list)
    count_held: int = 0  # rows quarantined (exact, whatever detail is kept)
    detail_rows: int = 0

    def count(self, failures: pl.DataFrame) -> int:
        """Add a failure frame to the per-reason counts and the distinct failing values; the
        number of distinct rows in it."""
        once = failures.unique(["row_number", "reason", "column"])
        self.values.append(once.group_by("reason", "column", "value").len("rows"))
        if len(self.values) > 64:  # keep the running tally small: one frame of distinct values
            self.values[:] = [_sum_values(self.values)]
        by_reason = self.summary.by_reason
        for reason, column, n in once.group_by("reason", "column").len().iter_rows():
            by_reason[(reason, column)] = by_reason.get((reason, column), 0) + int(n)
        return failures.get_column("row_number").n_unique()

    def hold_back(self, failures: pl.DataFrame, raw: pl.DataFrame) -> None:
        """Count failing rows and keep their quarantine details (up to DETAIL_CAP rows)."""
        n = self.count(failures)
        self.count_held += n
        if self.keep_rows or self.detail_rows < DETAIL_CAP:  # validate on a huge broken file:
            self.rows.append(_quarantine_rows(failures, raw))  # counts stay exact, details stop
            self.failures.append(failures)
            self.detail_rows += n
        else:
            self.summary.details_truncated = True

    def add_reason(self, failures: pl.DataFrame) -> None:
        """One more reason for rows already held back for something else."""
        self.count(failures)
        self.failures.append(failures)
        self.rows = [_add_reason(q, failures) for q in self.rows]

    def quarantine(self, source: str, extract_id: str) -> pl.DataFrame:
        """The quarantine table: one row per row held back, in row order, the register's raw
        values beside the reasons."""
        q = pl.concat(self.rows, how="diagonal_relaxed").sort("row_number") if self.rows \
            else pl.DataFrame()
        if q.is_empty():
            q = pl.DataFrame(schema={"row_number": pl.Int64, "reason": pl.String,
                                     "column": pl.String, "value": pl.String, "reasons": pl.String})
        q = q.with_columns(
            (pl.col("raw_record_id") if "raw_record_id" in q.columns
             else pl.lit(None, pl.String)).alias("record_id"),
            pl.lit(source).alias("source"), pl.lit(extract_id).alias("extract_id"))
        front = ["source", "extract_id", "row_number", "record_id", "reason", "column", "value",
                 "reasons"]
        return q.select(*front, *[c for c in q.columns if c not in front])


def _suite_runner(source: str, sch, docs_dir: Path | None, suite_dir: Path | None):
    """The register's expectation suite, ready to observe chunks; a suite GX cannot read is
    one line naming its file, no traceback."""
    from reglink.ingest.suites import SuiteRunner, suite_path
    try:
        return SuiteRunner(source, sch, docs_dir=docs_dir, suite_dir=suite_dir)
    except ReglinkError:
        raise
    except Exception as exc:  # a hand-edited suite GX cannot read: one line, no traceback
        raise ReglinkError(Problem(str(suite_path(source, suite_dir)), "expectation suite cannot be "
                                   f"loaded: {str(exc).splitlines()[0] if str(exc) else exc!r}")) from None


def _batches(reader: ExtractReader, progress: bool, title: str):
    """The reader's chunks, with a progress bar on the terminal when asked."""
    if not progress:
        yield from reader.batches()
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    unit = "rows" if reader.fmt == "parquet" else "bytes"
    with Progress(TextColumn(title), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(unit, total=reader.total)
        for chunk in reader.batches():
            yield chunk
            bar.update(task, completed=reader.done)


def _ragged_failures(reader: ExtractReader) -> pl.DataFrame:
    """Rows with the wrong number of fields, with their raw text."""
    return pl.DataFrame({
        "row_number": [r.row for r in reader.ragged],
        "reason": [RAGGED_ROW] * len(reader.ragged),
        "column": [None] * len(reader.ragged),
        "value": [f"{r.actual} fields, expected {r.expected}: {r.text}" for r in reader.ragged],
    }, schema=FAILURE_SCHEMA)


def _duplicate_failures(ids: pl.DataFrame) -> pl.DataFrame:
    """Rows repeating a record_id seen in an earlier row of the extract (the first occurrence
    stays): the failure rows, with `_q` (already held back for something else)."""
    dup = (ids.sort("row_number").filter(pl.col("record_id").is_not_null())
           .filter(~pl.col("record_id").is_first_distinct()))
    first = ids.filter(pl.col("record_id").is_in(dup["record_id"].implode())).group_by(
        "record_id").agg(pl.col("row_number").min().alias("_first"))
    d = dup.join(first, on="record_id")
    return d.select("row_number", pl.lit(DUPLICATE_RECORD_ID).alias("reason"),
                    pl.lit("record_id").alias("column"),
                    pl.format("{} (first in row {})", pl.col("record_id"), pl.col("_first"))
                    .alias("value"), "_q").cast({**FAILURE_SCHEMA, "_q": pl.Boolean})


def ingest_extract(source: str, path: str | Path, *, mapping: Mapping | str | Path | None = None,
                   home_country: str | None = None, keep_rows: bool = True, suite: bool = True,
                   progress: bool = False, docs_dir: Path | None = None,
                   suite_dir: Path | None = None, budget: Budget | None = None,
                   time_zone: str | None = None,
                   observed_until: dt.date | None = None) -> IngestResult:
    """Read, standardise and check one extract. `keep_rows=False` (validate on a huge file)
    keeps only counts and the quarantine, never the accepted rows; otherwise they are written
    to a Parquet file as they are checked (in `budget`'s temp directory; chunks sized to it).
    `time_zone` dates tz-aware timestamps (default: the home country's principal zone);
    `observed_until` is the last day the data cover: a crossing after it is quarantined.
    Without `home_country` the check that needs it is skipped (the summary records it)."""
    try:
        sch = schema(source)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    path = Path(path)
    if mapping is None:
        mp = Mapping(source=source)
    elif isinstance(mapping, Mapping):
        mp = mapping
    else:
        mp = load_mapping(mapping, source)
    batch = chunk_bytes(budget)
    zone = time_zone or (home_zone(home_country) if home_country else None)
    reader = ExtractReader(path, sch, mp, batch_bytes=batch, time_zone=zone)
    summary = IngestSummary(source=source, file=str(path), sha256=file_sha256(path),
                            present_columns=list(reader.columns),
                            ignored_columns=list(reader.ignored), home_country=home_country,
                            time_zone=zone)
    runner = _suite_runner(source, sch, docs_dir, suite_dir) if suite else None

    def suite_step(step, *args):
        """A suite step, GX's own errors reported as one line naming the suite file."""
        try:
            return step(*args)
        except ReglinkError:
            raise
        except Exception as exc:  # noqa: BLE001 - GX internals; reported as one line
            from reglink.ingest.suites import suite_path
            raise ReglinkError(Problem(str(suite_path(source, suite_dir)), "expectation suite failed "
                                       f"to run: {str(exc).splitlines()[0] if str(exc) else exc!r}")) from None

    spill = _Spill(budget) if keep_rows else None
    held = _HeldBack(summary, keep_rows)
    ids_parts: list[pl.DataFrame] = []
    nonnull: dict[str, int] = {c: 0 for c in sch.names}
    rows_seen = 0
    extra = [pl.lit(source).alias("source"), pl.lit(summary.extract_id).alias("extract_id")]

    def checked(chunk: pl.DataFrame):
        res = check_chunk(chunk, sch, mp, home_country=home_country, observed_until=observed_until)
        bad = res.failures.get_column("row_number").unique()
        return res, bad, res.typed.filter(~pl.col("row_number").is_in(bad.implode()))

    # 1. one streaming pass: type and check each chunk, accepted rows to the spill file
    for chunk in _batches(reader, progress, f"[bold]{source}[/] {path.name}"):
        rows_seen += chunk.height
        for c, n in chunk.select(*[pl.col(c).is_not_null().sum() for c in reader.columns]).row(0, named=True).items():
            nonnull[c] += int(n)
        res, _, parsed = checked(chunk)
        failures = res.failures
        if runner is not None:  # the suite sees the rows that parsed: checks on typed values
            failures = pl.concat([failures, suite_step(runner.observe, parsed)], how="vertical")
        for k, v in res.soft.items():
            summary.soft[k] = summary.soft.get(k, 0) + v
        bad_rows = failures.get_column("row_number").unique()
        if spill is not None:
            spill.write(res.typed.filter(~pl.col("row_number").is_in(bad_rows.implode()))
                        .with_columns(extra))
        if not failures.is_empty():
            held.hold_back(failures, chunk)
        ids_parts.append(res.typed.select("row_number", "record_id",
                                          pl.col("row_number").is_in(bad_rows.implode()).alias("_q")))

    ids = pl.concat(ids_parts) if ids_parts else pl.DataFrame(
        schema={"row_number": pl.Int64, "record_id": pl.String, "_q": pl.Boolean})
    dropped: list[pl.Series] = []  # accepted rows found failing after they were written

    # 2. the suite, once on the summary of every chunk; a second read only when it fails rows
    if runner is not None and suite_step(runner.finish):
        ids, dropped = _recheck_with_suite(
            held, ids, ExtractReader(path, sch, mp, batch_bytes=batch, time_zone=zone).batches(),
            checked, lambda parsed: suite_step(runner.recheck, parsed))

    # 3. ragged rows: quarantined with their raw text
    if reader.ragged:
        rag = _ragged_failures(reader)
        held.rows.append(_quarantine_rows(rag, pl.DataFrame({"row_number": rag["row_number"]})))
        held.failures.append(rag)
        held.count_held += held.count(rag)

    # 4. duplicate record_ids across the whole extract: the first occurrence stays
    _hold_back_duplicates(held, ids, spill, dropped, [c for c in sch.names if c in reader.columns])
    quarantine = held.quarantine(source, summary.extract_id)

    # 5. the books
    summary.rows_in = rows_seen + len(reader.ragged)
    summary.rows_quarantined = held.count_held
    summary.rows_accepted = summary.rows_in - summary.rows_quarantined
    if not summary.details_truncated and quarantine.height != held.count_held:
        raise ReglinkError(Problem(str(path), f"row accounting failed: {quarantine.height} "
                                   f"quarantine rows kept but {held.count_held} counted"))
    summary.failing_values = _sum_values(held.values)
    if runner is not None:  # reglink's verdicts beside GX's (and the Data Docs, when asked)
        suite_step(runner.final, summary.failing_values)
    data_rows = max(rows_seen, 1)
    summary.completeness = {c: nonnull[c] / data_rows for c in sch.names}
    if runner is not None:
        summary.expectations = runner.results(summary)

    result = IngestResult(source=source, quarantine=quarantine, summary=summary)
    if spill is not None:
        _keep_accepted(spill, result, dropped, sch, mp, extra, path)
    else:
        result.clean = pl.DataFrame()
    result.failures = (pl.concat(held.failures).unique(maintain_order=True).sort("row_number")
                       if held.failures else pl.DataFrame(schema=FAILURE_SCHEMA))
    return result


def _recheck_with_suite(held: _HeldBack, ids: pl.DataFrame, chunks, checked, recheck
                        ) -> tuple[pl.DataFrame, list[pl.Series]]:
    """The second read, when the suite's verdict on the whole extract fails rows: each chunk's
    parsed rows rechecked (`recheck`); rows already held back get one more reason, the others
    are held back and listed to come out of the accepted rows. (ids with `_q` updated, the
    rows to drop from the accepted ones.)"""
    dropped: list[pl.Series] = []
    for chunk in chunks:
        _, _, parsed = checked(chunk)
        gx_fail = recheck(parsed)
        if gx_fail.is_empty():
            continue
        rows = gx_fail.get_column("row_number").unique()
        already = ids.filter(pl.col("row_number").is_in(rows.implode()) & pl.col("_q"))["row_number"]
        if len(already):  # held back by a suite check run on every row: one more reason
            held.add_reason(gx_fail.filter(pl.col("row_number").is_in(already.implode())))
            gx_fail = gx_fail.filter(~pl.col("row_number").is_in(already.implode()))
        if not gx_fail.is_empty():
            held.hold_back(gx_fail, chunk)
            dropped.append(gx_fail.get_column("row_number").unique())
    if dropped:
        gone = pl.concat(dropped)
        ids = ids.with_columns(pl.col("_q") | pl.col("row_number").is_in(gone.implode()))
    return ids, dropped


def _hold_back_duplicates(held: _HeldBack, ids: pl.DataFrame, spill: "_Spill | None",
                          dropped: list[pl.Series], columns: list[str]) -> None:
    """Hold back the rows repeating an earlier row's record_id: rows accepted so far are taken
    out of the spill file (into `dropped`, their raw values read back from it); rows already
    held back get one more reason."""
    dup = _duplicate_failures(ids)
    if dup.is_empty():
        return
    dfail = dup.drop("_q")
    held.failures.append(dfail)
    newly = dup.filter(~pl.col("_q")).get_column("row_number")
    already = dup.filter(pl.col("_q")).get_column("row_number")
    held.count(dfail)
    held.count_held += len(newly)
    moved: pl.DataFrame | None = None
    if spill is not None and len(newly):
        spill.close()
        moved = spill.rows_of(newly)
        dropped.append(newly)
    raw_moved = (moved.select("row_number", *[pl.col(c).cast(pl.String) for c in columns])
                 if moved is not None else pl.DataFrame({"row_number": newly}))
    new_q = _quarantine_rows(dfail.filter(pl.col("row_number").is_in(newly.implode())), raw_moved)
    if not new_q.is_empty():
        held.rows.append(new_q)
    if len(already):
        # add the reason to rows already held back for something else
        held.rows = [_add_reason(q, dfail.filter(pl.col("row_number").is_in(already.implode())))
                     for q in held.rows]


def _keep_accepted(spill: "_Spill", result: IngestResult, dropped: list[pl.Series], sch, mp,
                   extra: list[pl.Expr], path: Path) -> None:
    """The accepted rows: the spill file less the rows found failing after they were written,
    attached to the result; its rows must be the books' accepted rows."""
    if spill.rows == 0 and spill._writer is None:  # no chunk at all: the empty typed layout
        spill.write(check_chunk(pl.DataFrame({"row_number": []}, schema={"row_number": pl.Int64}),
                                sch, mp).typed.with_columns(extra))
    spill.close()
    if dropped:
        spill.drop(pl.concat(dropped))
    spill.attach(result)
    result.clean_file = spill.path
    if spill.rows != result.summary.rows_accepted:
        raise ReglinkError(Problem(str(path), f"row accounting failed: {spill.rows} "
                                   f"accepted rows kept but {result.summary.rows_accepted} expected"))


VALUES_SCHEMA = {"reason": pl.String, "column": pl.String, "value": pl.String, "rows": pl.Int64}


def _sum_values(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Distinct failing values with their row counts, most frequent first per reason and
    column (exact whatever detail the quarantine keeps)."""
    if not parts:
        return pl.DataFrame(schema=VALUES_SCHEMA)
    return (pl.concat([p.cast(VALUES_SCHEMA) for p in parts])
            .group_by("reason", "column", "value").agg(pl.col("rows").sum())
            .sort(["reason", "column", "rows", "value"], descending=[False, False, True, False],
                  nulls_last=True))


def _add_reason(q: pl.DataFrame, extra: pl.DataFrame) -> pl.DataFrame:
    add = extra.select("row_number", pl.format("{}:{}", pl.col("reason"), pl.col("column"))
                       .alias("_add"))
    return (q.join(add, on="row_number", how="left")
            .with_columns(pl.when(pl.col("_add").is_not_null())
                          .then(pl.format("{};{}", pl.col("reasons"), pl.col("_add")))
                          .otherwise(pl.col("reasons")).alias("reasons"))
            .drop("_add"))


# -- the pipeline stage ----------------------------------------------------------------------

def settings_sha256(source: str, mapping: Path | None, suites: bool) -> str:
    """What besides the file decides the result: the mapping and the suite (when run)."""
    from reglink.ingest.suites import suite_path

    h = hashlib.sha256(f"{source}|suites={suites}".encode())
    for p in (mapping, suite_path(source) if suites else None):
        if p is not None and Path(p).is_file():
            h.update(Path(p).read_bytes())
    return h.hexdigest()


def _unchanged(wh, rs, source: str, sha: str, settings: str) -> bool:
    """True when the last ingest of `source` was this very file, read with the same mapping
    and suite, and its tables are in place."""
    rows = wh.execute("SELECT sha256, settings_sha256 FROM ingest_log WHERE source = ? AND "
                      "status = 'ingested' ORDER BY ingested_at DESC LIMIT 1", [source]).fetchall()
    row = rows[0] if rows else None
    if row is None or row[0] != sha or row[1] != settings:
        return False
    held = delivery_extract_ids(rs, f"std_{source}", BASELINE)
    return held is not None and held <= {sha[:16]}


def _summary_from_log(wh, source: str, path: Path, sha: str) -> IngestSummary:
    r = wh.execute("SELECT rows_in, rows_accepted, rows_quarantined FROM ingest_log "
                   "WHERE source = ? AND sha256 = ? AND status = 'ingested' "
                   "ORDER BY ingested_at DESC LIMIT 1", [source, sha]).fetchall()[0]
    s = IngestSummary(source=source, file=str(path), sha256=sha, rows_in=r[0],
                      rows_accepted=r[1], rows_quarantined=r[2], status="unchanged")
    for reason, column, n in wh.execute(
            'SELECT reason, "column", rows FROM quality_quarantine WHERE source = ? AND extract_id = ?',
            [source, sha[:16]]).fetchall():
        s.by_reason[(reason, column)] = n
    return s


def expectations_enabled(cfg) -> bool:
    """Run the GX suites during `ingest_all`? Config key `ingest_expectations` (default true),
    overridden by the environment variable REGLINK_INGEST_EXPECTATIONS=0/1. The polars row
    checks run either way; the suites add their own checks and the quality_expectations table."""
    env = os.environ.get("REGLINK_INGEST_EXPECTATIONS")
    if env is not None:
        return env.strip().lower() not in ("0", "false", "no", "off")
    raw = getattr(cfg, "raw", {}) or {}
    return bool(raw.get("ingest_expectations", True))


def _is_empty_extract(exc: ReglinkError) -> bool:
    return any("no data rows" in p.message for p in exc.problems)


def ingest_all(cfg) -> dict[str, IngestResult]:
    """Ingest every configured extract into the restricted store (std_*, quarantine_*) and log
    it in the warehouse (ingest_log, quality_*), as the `baseline` delivery (store_writer). A
    register missing from the config is reported, not fatal; an unchanged re-delivery is not
    re-read; an extract with a header and no rows is left out with a warning."""
    results: dict[str, IngestResult] = {}
    use_suites = expectations_enabled(cfg)
    budget = cfg.budget
    wh = store.connect(cfg.warehouse)
    rs = budget.apply(store.connect(cfg.restricted_path))
    try:
        ensure_log_tables(wh)
        for source in SOURCES:
            path = cfg.extracts.get(source)
            if path is None:
                log.warning("%s: no extract configured; the register is left out", source)
                continue
            path = Path(path)
            sha = file_sha256(path) if path.is_file() else ""
            mapping = cfg.mappings.get(source)
            settings = settings_sha256(source, mapping, use_suites)
            if sha and _unchanged(wh, rs, source, sha, settings):
                summary = _summary_from_log(wh, source, path, sha)
                clean = delivery_rows(rs, f"std_{source}", BASELINE)
                quarantine = delivery_rows(rs, f"quarantine_{source}", BASELINE)
                log_ingest(wh, summary, settings)
                log.info("%s: %s unchanged since the last ingest (sha256 %s); not re-read",
                         source, path, sha[:16])
                results[source] = IngestResult(source, clean, quarantine, summary)
                continue
            try:
                res = ingest_extract(source, path, mapping=mapping, home_country=cfg.home_country,
                                     suite=use_suites, budget=budget, time_zone=cfg.zone,
                                     observed_until=cfg.observed_until)
            except ReglinkError as exc:
                if not _is_empty_extract(exc):
                    raise
                # delivered with a header and no rows (a small country's asylum register in a
                # quiet month): reported like a missing register, and no stale rows survive
                log.warning("%s: %s has no data rows; the register is left out", source, path)
                for table in (f"std_{source}", f"quarantine_{source}"):
                    remove_delivery(rs, table, BASELINE, drop_if_empty=True)
                continue
            write_result(wh, rs, res, delivery=BASELINE, settings_sha=settings)
            s = res.summary
            log.info("%s: %d rows in, %d accepted, %d quarantined", source, s.rows_in,
                     s.rows_accepted, s.rows_quarantined)
            results[source] = res
        store.assert_no_identifiers(wh)
    finally:
        wh.close()
        rs.close()
    return results
