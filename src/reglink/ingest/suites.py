"""Great Expectations suites, one per register, kept as JSON files under `expectations/`.

The suites are the declared contract of each register (required columns, code lists, country
codes, date ranges and order, uniqueness, completeness per Annex 2 topic). They are generated
from `reglink.schemas` (`python -m reglink.ingest.suites` rewrites the files) and may then be
edited by the NSO: the files are what runs. Each expectation's `meta` says what a failure means:

- `severity: hard` — row-level; the rows GX lists in `unexpected_index_list` are quarantined
  with `meta.reason`.
- `severity: report` — aggregate evidence shown in the report (date ranges, record uniqueness);
  the whole-extract row checks that quarantine are done by `checks.py` and ingest.
- `severity: soft` — completeness of a field (share non-empty) below `min_value`: counted and
  reported over the whole extract, never quarantined.
- `severity: reglink` — reglink's own row checks (checks.py, duplicate ids, ragged rows), one
  `expect_column_values_to_be_null` per column on `<column> (reglink checks)`, which holds a
  `reason: value` per quarantined value: judged at the end on what reglink held back, so the
  Data Docs verdict is reglink's verdict; they never quarantine anything themselves.

GX 1.x validates pandas frames. It judges the rows that passed parsing (checks on typed values,
not the parse errors again), but not row by row: `SuiteRunner` summarises them chunk by chunk
and GX validates one compact batch of distinct values per extract (docs/validation.md, "How it
runs"), which gives the same verdicts, counts and quarantined rows.
"""
from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from reglink.ingest.checks import (DATE_ORDER, FAILURE_SCHEMA, HARD_REASONS, ISCO_RE, MAX_DATE,
                                   MIN_DATE, MISSING_REQUIRED, RAGGED_ROW, SUITE_FAILURE,
                                   UNKNOWN_CODE, UNKNOWN_COUNTRY)
from reglink.errors import Problem, ReglinkError
from reglink.schemas import REGISTERS, SCHEMAS, SourceSchema

if TYPE_CHECKING:
    from reglink.ingest.ingest import IngestSummary

SUITE_DIR = Path(os.environ.get("REGLINK_EXPECTATIONS",
                                Path(__file__).resolve().parents[3] / "expectations"))
LOW_COMPLETENESS = "low_completeness"
# reglink's own row checks (checks.py, duplicates, ragged rows) as expectations: GX judges a
# column of 'reason: value' per quarantined value, so the Data Docs verdict is reglink's verdict
REGLINK_SEVERITY = "reglink"
CHECKS_SUFFIX = " (reglink checks)"
ROW_CHECKS = "row"  # ragged rows: no column of their own
DOCS_ROWS_CAP = 50_000  # quarantined rows one by one in the Data Docs batch; beyond, per value


def checks_column(column: str | None) -> str:
    """The Data Docs column holding reglink's verdicts on `column` (None: whole rows)."""
    return f"{column or ROW_CHECKS}{CHECKS_SUFFIX}"

def _exp(type_: str, severity: str, reason: str | None = None, **kwargs: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"severity": severity}
    if reason:
        meta["reason"] = reason
    return {"type": type_, "kwargs": kwargs, "meta": meta}


def build_suite(sch: SourceSchema) -> dict[str, Any]:
    """The default suite of a register, from its canonical schema."""
    ex: list[dict[str, Any]] = []
    for c in sch.columns:
        if c.required:
            ex.append(_exp("expect_column_to_exist", "report", column=c.name))
            ex.append(_exp("expect_column_values_to_not_be_null", "hard", MISSING_REQUIRED,
                           column=c.name))
    for c in sch.columns:
        if c.kind == "code":
            ex.append(_exp("expect_column_values_to_be_in_set", "hard", UNKNOWN_CODE,
                           column=c.name, value_set=list(c.codes)))
        elif c.kind == "country":
            ex.append(_exp("expect_column_values_to_match_regex", "hard", UNKNOWN_COUNTRY,
                           column=c.name, regex="^[A-Z]{3}$"))
        elif c.kind == "isco":
            ex.append(_exp("expect_column_values_to_match_regex", "hard", UNKNOWN_CODE,
                           column=c.name, regex=ISCO_RE))
        elif c.kind == "date":
            lo, hi = f"{MIN_DATE.isoformat()}T00:00:00", f"{MAX_DATE.isoformat()}T00:00:00"
            ex.append(_exp("expect_column_min_to_be_between", "report", column=c.name,
                           min_value=lo, max_value=hi))
            ex.append(_exp("expect_column_max_to_be_between", "report", column=c.name,
                           min_value=lo, max_value=hi))
    for earlier, later in sch.date_order:
        ex.append(_exp("expect_column_pair_values_a_to_be_greater_than_b", "hard", DATE_ORDER,
                       column_A=later, column_B=earlier, or_equal=True,
                       ignore_row_if="either_value_is_missing"))
    ex.append(_exp("expect_column_values_to_be_unique", "report", column="record_id"))
    floors = REGISTERS[sch.name].completeness if sch.name in REGISTERS else {}
    for col, share in floors.items():
        e = _exp("expect_column_proportion_of_non_null_values_to_be_between", "soft",
                 LOW_COMPLETENESS, column=col, min_value=share)
        annex = sch.column(col).annex2
        if annex:
            e["meta"]["annex2_topic"] = annex
        ex.append(e)
    for col in [*sch.names, None]:  # reglink's own row checks, one per column (+ whole rows)
        e = _exp("expect_column_values_to_be_null", REGLINK_SEVERITY,
                 column=checks_column(col))
        e["meta"]["checks"] = "reglink.ingest.checks: " + ", ".join(
            r for r in HARD_REASONS if r != RAGGED_ROW or col is None)
        e["meta"]["notes"] = ("the values reglink holds back in this column, as 'reason: value'; "
                              "a failure here is a quarantined row")
        ex.append(e)
    return {"name": sch.name, "expectations": ex,
            "meta": {"generated_by": "reglink.ingest.suites", "contract": "docs/reference.md#register-extracts",
                     "docs": "docs/validation.md"}}


def suite_path(source: str, folder: Path | None = None) -> Path:
    return (folder or SUITE_DIR) / f"{source}.json"


def load_suite(source: str, folder: Path | None = None) -> dict[str, Any]:
    """The suite file of a register (the default built from the schema if the file is absent)."""
    path = suite_path(source, folder)
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return build_suite(SCHEMAS[source])


def write_suites(folder: Path = SUITE_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, sch in SCHEMAS.items():
        p = folder / f"{name}.json"
        p.write_text(json.dumps(build_suite(sch), indent=2) + "\n", encoding="utf-8")
        out.append(p)
    return out


def completeness_verdicts(suite: dict[str, Any], summary: IngestSummary) -> list[dict[str, Any]]:
    """Soft completeness expectations judged on the whole extract (not per chunk)."""
    out = []
    for e in suite["expectations"]:
        if e["type"] != "expect_column_proportion_of_non_null_values_to_be_between":
            continue
        col = e["kwargs"]["column"]
        share = summary.completeness.get(col, 0.0)
        lo = e["kwargs"].get("min_value") or 0.0
        out.append({"expectation": e["type"], "column": col, "severity": "soft",
                    "reason": e["meta"].get("reason", LOW_COMPLETENESS),
                    "annex2_topic": e["meta"].get("annex2_topic"), "min_value": lo,
                    "observed": share, "success": share >= lo})
    return out


# -- how each expectation is executed at scale ----------------------------------------------
# A row's outcome depends only on its own values in the expectation's column(s): judged once per
# distinct value, failing values mapped back to rows by a join, counts from value counts.
VALUE_WISE = frozenset({
    "expect_column_values_to_not_be_null", "expect_column_values_to_be_null",
    "expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex",
    "expect_column_values_to_match_regex_list", "expect_column_values_to_not_match_regex_list",
    "expect_column_values_to_match_like_pattern", "expect_column_values_to_not_match_like_pattern",
    "expect_column_values_to_be_between", "expect_column_value_lengths_to_be_between",
    "expect_column_value_lengths_to_equal", "expect_column_values_to_match_strftime_format",
    "expect_column_values_to_be_dateutil_parseable", "expect_column_values_to_be_json_parseable",
})
# ... where only null or not matters (or that the column is there at all): one value and a
# null stand for the whole column
NULLNESS = frozenset({"expect_column_values_to_not_be_null", "expect_column_values_to_be_null",
                      "expect_column_to_exist"})
# aggregates whose value (and so the verdict and the observed value) repeating rows cannot change
DISTINCT_INVARIANT = frozenset({
    "expect_column_min_to_be_between", "expect_column_max_to_be_between",
    "expect_column_distinct_values_to_be_in_set", "expect_column_distinct_values_to_contain_set",
    "expect_column_distinct_values_to_equal_set", "expect_column_unique_value_count_to_be_between",
})
PAIR_VALUE_WISE = frozenset({"expect_column_pair_values_to_be_equal",
                             "expect_column_pair_values_to_be_in_set"})
# A > B (or >=) for each row: for one value of B, the row with the smallest A decides whether any
# row fails, so the compact batch carries (B, min A) and the rows of a failing B are re-checked
PAIR_MONOTONE = "expect_column_pair_values_a_to_be_greater_than_b"
UNIQUE = "expect_column_values_to_be_unique"
REGLINK_INDEX = "reglink_index"  # meta key: the expectation's position in the suite file


def _plan_kind(e: dict[str, Any]) -> str:
    """How an expectation runs: on distinct values (`column`, `nullness`, `aggregate`, `pair`,
    `pair_min`, `unique`), not at all (`soft`: judged on the extract's totals), or on every row
    as delivered chunk by chunk (`rows`: any type not known to be safe to compact)."""
    t, kw = e["type"], e.get("kwargs", {})
    severity = (e.get("meta") or {}).get("severity", "hard")
    if severity == "soft":
        return "soft"
    if severity == REGLINK_SEVERITY:  # judged on reglink's own failures at the end (`final`)
        return REGLINK_SEVERITY
    if kw.get("mostly") not in (None, 1, 1.0):  # a share of rows: needs the rows
        return "rows"
    if t in NULLNESS and "column" in kw:
        return "nullness"
    if t in VALUE_WISE and "column" in kw:
        return "column"
    if t in DISTINCT_INVARIANT and "column" in kw:
        return "aggregate"
    if t == PAIR_MONOTONE and "column_A" in kw and "column_B" in kw:
        return "pair_min"
    if t in PAIR_VALUE_WISE and "column_A" in kw and "column_B" in kw:
        return "pair"
    if t == UNIQUE and severity != "hard" and "column" in kw:  # within-frame: never row failures
        return "unique"
    return "rows"


def _merge_counts(parts: list[pl.DataFrame], keys: list[str]) -> pl.DataFrame:
    """Sum the `n` of value-count frames (one per chunk) per distinct key."""
    return pl.concat(parts).group_by(keys).agg(pl.col("n").sum())


def _pad(reps: dict[str, pl.Series], pad_null: set[str]) -> pl.DataFrame:
    """The compact batch: every representative column padded to one height (by repeating its
    first value, which adds no new value and so changes no verdict, or with nulls)."""
    height = max([len(s) for s in reps.values()] + [1])
    idx = np.arange(height)
    cols: dict[str, pl.Series] = {"row_number": pl.Series("row_number", idx, dtype=pl.Int64)}
    for name, s in reps.items():
        n = len(s)
        if n == height:
            cols[name] = s.alias(name)
        elif name in pad_null or n == 0:
            cols[name] = s.extend_constant(None, height - n).alias(name)
        else:
            cols[name] = s.gather(np.where(idx < n, idx, 0)).alias(name)
    return pl.DataFrame(cols)


class SuiteRunner:
    """Runs a register's suite over a whole extract without handing GX every row.

    The rows that pass reglink's own checks are summarised chunk by chunk (`observe`): per column
    its distinct values and their counts, per date pair the smallest A per B, per uniqueness
    column its repeated values. At the end (`finish`) GX validates one compact batch built from
    that summary with the suite (columns of pair and uniqueness expectations renamed so each
    gets its own representative rows); failing representatives are mapped back to row counts.
    Expectation types not known to be safe on distinct values run on every row as before (the
    `rows` plan). Hard failures found on the compact batch are located by a second read
    (`recheck`): GX validates only the suspect rows of each chunk, so row failures, their values
    and counts are exactly those of validating every row. With `docs_dir`, the compact batch
    runs through a Checkpoint that updates GX Data Docs there."""

    def __init__(self, source: str, sch: SourceSchema, docs_dir: Path | None = None,
                 suite_dir: Path | None = None) -> None:
        warnings.filterwarnings("ignore", module="great_expectations")
        logging.getLogger("great_expectations").setLevel(logging.CRITICAL)
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.source = source
        self.sch = sch
        self.suite_dict = load_suite(source, suite_dir)
        self._file = str(suite_path(source, suite_dir))
        declared = self.suite_dict.get("expectations", [])
        self._objs = self._expectations(declared)  # validates every declared expectation
        self.plan = [(i, e, _plan_kind(e)) for i, e in enumerate(declared)]
        self.stats: dict[int, dict[str, Any]] = {}
        self.rows_seen = 0
        self._counts: dict[str, list[pl.DataFrame]] = {}  # column -> value counts per chunk
        self._nullness: dict[str, list[pl.DataFrame]] = {}
        self._pairs: dict[int, list[pl.DataFrame]] = {}
        self._uniques: dict[int, list[pl.DataFrame]] = {}
        self._suspects: dict[int, pl.DataFrame | None] = {}  # expectation -> failing values
        self._recheck_suite: Any = None
        # the compact batch's columns, pad rule, expectations and renames (`finish`, `final`)
        self._compact: tuple[dict[str, pl.Series], set[str], list[int], dict[int, Any]] = (
            {}, set(), [], {})
        if docs_dir is not None:
            docs_dir.mkdir(parents=True, exist_ok=True)
            ctx = gx.get_context(mode="file", project_root_dir=str(docs_dir))
        else:
            ctx = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.ctx = ctx
        self._gx = gx
        ds_name = "reglink_extracts"
        try:
            ds = ctx.data_sources.get(ds_name)
        except Exception:  # noqa: BLE001 - GX raises its own lookup errors
            ds = ctx.data_sources.add_pandas(ds_name)
        try:
            asset = ds.get_asset(source)
        except Exception:  # noqa: BLE001
            asset = ds.add_dataframe_asset(source)
        try:
            self.batch_def = asset.get_batch_definition("chunk")
        except Exception:  # noqa: BLE001
            self.batch_def = asset.add_batch_definition_whole_dataframe("chunk")
        self.result_format = {"result_format": "COMPLETE",
                              "unexpected_index_column_names": ["row_number"],
                              "partial_unexpected_count": 20}
        self.docs_dir = docs_dir
        self.checkpoint = None
        self._rows_suite = self._add_suite(f"{source}__rows",
                                           [i for i, _, k in self.plan if k == "rows"])

    # -- suites -------------------------------------------------------------------------------
    def _expectations(self, declared: list[dict[str, Any]]) -> list[Any]:
        """Each expectation of the file as a GX object; a bad one is a one-line error naming it
        (GX itself would log a traceback and silently drop it)."""
        return [self._domain_obj(e, i) for i, e in enumerate(declared)]

    def _domain_obj(self, e: dict[str, Any], i: int, kwargs: dict[str, Any] | None = None) -> Any:
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration)
        try:  # meta carries the declared position: GX returns results in its own order
            cfg = ExpectationConfiguration(type=e["type"], kwargs=kwargs or e.get("kwargs", {}),
                                           meta={**e.get("meta", {}), REGLINK_INDEX: i})
            return cfg.to_domain_obj()
        except Exception as exc:  # noqa: BLE001 - GX raises many kinds here
            msg = str(exc).splitlines()[0] if str(exc) else repr(exc)
            raise ReglinkError(Problem(self._file, f"expectation {i + 1} ({e.get('type')}): {msg}")) from None

    def _add_suite(self, name: str, indexes: list[int],
                   renamed: dict[int, dict[str, Any]] | None = None) -> Any:
        """Register a suite of some of the declared expectations (kwargs optionally rewritten
        onto the compact batch's columns); None when there is nothing to run."""
        if not indexes:
            return None
        declared = self.suite_dict["expectations"]
        exps = [self._domain_obj(declared[i], i, (renamed or {}).get(i)) for i in indexes]
        try:
            self.ctx.suites.delete(name)
        except Exception:  # noqa: BLE001
            pass
        suite = self.ctx.suites.add(self._gx.ExpectationSuite(
            name=name, expectations=exps, meta=self.suite_dict.get("meta", {})))
        suite._reglink_index = list(indexes)
        return suite

    def _run(self, suite: Any, pdf, docs: bool = False):
        """Validate a pandas batch; with `docs`, through the Checkpoint that updates the Data
        Docs (summary format there: value counts, not the compact batch's row indexes)."""
        if docs and self.docs_dir is not None:
            gx = self._gx
            for name, store in ((f"{self.source}_checkpoint", self.ctx.checkpoints),
                                (f"{self.source}_chunks", self.ctx.validation_definitions)):
                try:
                    store.delete(name)
                except Exception:  # noqa: BLE001
                    pass
            vd = self.ctx.validation_definitions.add(gx.ValidationDefinition(
                name=f"{self.source}_chunks", data=self.batch_def, suite=suite))
            self.checkpoint = self.ctx.checkpoints.add(gx.Checkpoint(
                name=f"{self.source}_checkpoint", validation_definitions=[vd],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
                result_format={"result_format": "SUMMARY",
                               "partial_unexpected_count": DOCS_ROWS_CAP}))
            cp = self.checkpoint.run(batch_parameters={"dataframe": pdf})
            return next(iter(cp.run_results.values()))
        batch = self.batch_def.get_batch(batch_parameters={"dataframe": pdf})
        return batch.validate(suite, result_format=self.result_format)

    def _pandas(self, typed: pl.DataFrame):
        cols = ["row_number", *[c for c in self.sch.names if c in typed.columns]]
        return typed.select(cols).to_pandas(use_pyarrow_extension_array=False)

    def _stat(self, i: int, cfg_type: str, column: str | None) -> dict[str, Any]:
        meta = self.suite_dict["expectations"][i].get("meta") or {}
        return self.stats.setdefault(i, {
            "expectation": cfg_type, "column": column, "severity": meta.get("severity", "hard"),
            "reason": meta.get("reason"), "success": True, "unexpected_rows": 0,
            "evaluated_rows": 0, "error": None, "observed": None})

    def _validate_rows(self, suite: Any, typed: pl.DataFrame, evaluated: bool) -> pl.DataFrame:
        """GX on these very rows (the `rows` plan, and the re-check of suspect rows): hard
        failures as (row_number, reason, column, value), statistics added up."""
        if suite is None or typed.is_empty():
            return pl.DataFrame(schema=FAILURE_SCHEMA)
        pdf = self._pandas(typed)
        result = self._run(suite, pdf)
        rows: list[dict[str, Any]] = []
        for r in result.results:
            cfg = r.expectation_config
            i = int(cfg.meta[REGLINK_INDEX])
            meta = cfg.meta or {}
            column = cfg.kwargs.get("column") or cfg.kwargs.get("column_A")
            st = self._stat(i, cfg.type, column)
            if evaluated:
                st["evaluated_rows"] += len(pdf)
            res = r.result or {}
            # an aggregate over rows where the column holds no value at all has nothing to
            # judge: GX reports it failed with no observed value; not a data problem
            no_values = ("unexpected_count" not in res and column in pdf.columns
                         and not pdf[column].notna().any())
            st["success"] = st["success"] and (bool(r.success) or no_values)
            if r.exception_info and r.exception_info.get("raised_exception"):
                st["error"] = r.exception_info.get("exception_message")
                continue
            st["unexpected_rows"] += int(res.get("unexpected_count") or 0)
            if res.get("observed_value") is not None and not no_values:
                st["observed"] = str(res["observed_value"])
            if st["severity"] != "hard" or r.success:
                continue
            reason = meta.get("reason") or SUITE_FAILURE
            for item in res.get("unexpected_index_list") or []:
                value = item.get(column) if isinstance(item, dict) else None
                rows.append({"row_number": int(item["row_number"]), "reason": reason,
                             "column": column, "value": None if value is None else str(value)})
        return pl.DataFrame(rows, schema=FAILURE_SCHEMA) if rows else pl.DataFrame(schema=FAILURE_SCHEMA)

    # -- pass 1: summarise every chunk ----------------------------------------------------------
    def observe(self, typed: pl.DataFrame) -> pl.DataFrame:
        """Take one chunk of rows that passed the own checks into the summary; run the `rows`
        plan on it. Returns the `rows` plan's hard failures (none for the generated suites)."""
        if typed.is_empty():
            return pl.DataFrame(schema=FAILURE_SCHEMA)
        self.rows_seen += typed.height
        cols = set(typed.columns)
        counted: set[str] = set()
        for i, e, kind in self.plan:
            kw = e.get("kwargs", {})
            if kind in ("column", "aggregate") and kw["column"] in cols:
                c = kw["column"]
                if c not in counted:  # one value count per column and chunk
                    counted.add(c)
                    self._counts.setdefault(c, []).append(typed.group_by(c).agg(pl.len().alias("n")))
            elif kind == "nullness" and kw["column"] in cols:
                c = kw["column"]
                self._nullness.setdefault(c, []).append(typed.select(
                    pl.col(c).drop_nulls().first().alias("rep"),
                    pl.col(c).is_not_null().sum().cast(pl.Int64).alias("nonnull"),
                    pl.col(c).is_null().sum().cast(pl.Int64).alias("nulls")))
            elif kind == "pair_min" and {kw["column_A"], kw["column_B"]} <= cols:
                a, b = kw["column_A"], kw["column_B"]
                both = pl.col(a).is_not_null() & pl.col(b).is_not_null()
                self._pairs.setdefault(i, []).append(pl.concat([
                    typed.filter(both).group_by(b).agg(pl.col(a).min(), pl.len().alias("n")),
                    typed.filter(~both).group_by(a, b).agg(pl.len().alias("n")),
                ], how="diagonal").select(a, b, "n"))
            elif kind == "pair" and {kw["column_A"], kw["column_B"]} <= cols:
                a, b = kw["column_A"], kw["column_B"]
                self._pairs.setdefault(i, []).append(typed.group_by(a, b).agg(pl.len().alias("n")))
            elif kind == "unique" and kw["column"] in cols:
                c = kw["column"]
                self._uniques.setdefault(i, []).append(
                    typed.filter(pl.col(c).is_not_null()).group_by(c).agg(pl.len().alias("n")))
        return self._validate_rows(self._rows_suite, typed, evaluated=True)

    # -- the compact batch --------------------------------------------------------------------
    def finish(self) -> bool:
        """Validate the compact batch once; True when some rows must be re-checked (`recheck`)
        to find which fail (hard failures, or counts the summary cannot give)."""
        if self.rows_seen == 0:
            return False
        reps: dict[str, pl.Series] = {}  # compact column -> representatives (before padding)
        pad_null: set[str] = set()
        counts: dict[int, pl.Series] = {}  # expectation -> rows behind each representative
        renamed: dict[int, dict[str, Any]] = {}
        keys: dict[int, pl.DataFrame] = {}  # expectation -> its representatives' values
        merged: dict[str, pl.DataFrame] = {}
        for c, parts in self._counts.items():
            merged[c] = _merge_counts(parts, [c]).sort(c, nulls_last=False)
        for c, parts in self._nullness.items():
            if c in merged:
                continue
            t = pl.concat(parts)
            rep = t.get_column("rep").drop_nulls()
            vals = (rep.head(1) if len(rep) else pl.Series(c, [], dtype=t.schema["rep"]))
            nonnull, nulls = int(t["nonnull"].sum()), int(t["nulls"].sum())
            frame = pl.DataFrame({c: vals}).with_columns(pl.lit(nonnull, pl.Int64).alias("n"))
            if nulls:
                frame = pl.concat([frame, pl.DataFrame({c: pl.Series(c, [None], dtype=vals.dtype),
                                                        "n": [nulls]})])
            merged[c] = frame
        for c, frame in merged.items():
            reps[c] = frame.get_column(c)
        compact: list[int] = []
        for i, e, kind in self.plan:
            kw = e.get("kwargs", {})
            if kind in ("column", "nullness", "aggregate"):
                compact.append(i)
                c = kw["column"]
                if c in merged:
                    counts[i] = merged[c].get_column("n")
                    keys[i] = merged[c].select(c)
            elif kind in ("pair", "pair_min") and i in self._pairs:
                a, b = kw["column_A"], kw["column_B"]
                t = self._pairs[i]
                if kind == "pair_min":
                    both = pl.concat(t).filter(pl.col(a).is_not_null() & pl.col(b).is_not_null())
                    rest = pl.concat(t).filter(~(pl.col(a).is_not_null() & pl.col(b).is_not_null()))
                    frame = pl.concat([both.group_by(b).agg(pl.col(a).min(), pl.col("n").sum()).select(a, b, "n"),
                                       rest.group_by(a, b).agg(pl.col("n").sum())])
                else:
                    frame = _merge_counts(t, [a, b])
                ra, rb = f"{a}@{i + 1}", f"{b}@{i + 1}"
                reps[ra], reps[rb] = frame.get_column(a).alias(ra), frame.get_column(b).alias(rb)
                renamed[i] = {**kw, "column_A": ra, "column_B": rb}
                counts[i] = frame.get_column("n")
                keys[i] = frame.select(a, b)
                compact.append(i)
            elif kind == "unique" and i in self._uniques:
                c = kw["column"]
                dup = _merge_counts(self._uniques[i], [c]).filter(pl.col("n") > 1)
                rc = f"{c}@{i + 1}"
                # every repeated value twice, padded with nulls (which uniqueness ignores)
                reps[rc] = pl.concat([dup.get_column(c), dup.get_column(c)]).alias(rc)
                pad_null.add(rc)
                renamed[i] = {**kw, "column": rc}
                n = dup.get_column("n").cast(pl.Int64)
                counts[i] = pl.concat([n, pl.zeros(dup.height, pl.Int64, eager=True)])
                compact.append(i)
        batch = _pad(reps, pad_null)
        # kept for the Data Docs run at the end (`final`), with reglink's verdicts beside them
        self._compact = (reps, pad_null, compact, renamed)
        suite = self._add_suite(self.source, compact, renamed)
        if suite is None:
            return False
        pdf = batch.to_pandas(use_pyarrow_extension_array=False)
        result = self._run(suite, pdf)
        declared = self.suite_dict["expectations"]
        recheck = False
        for r in result.results:
            i = int(r.expectation_config.meta[REGLINK_INDEX])
            e, kind = declared[i], self.plan[i][2]
            kw = e.get("kwargs", {})
            column = kw.get("column") or kw.get("column_A")
            st = self._stat(i, e["type"], column)
            st["evaluated_rows"] = self.rows_seen
            res = r.result or {}
            gx_col = (renamed.get(i) or kw).get("column") or (renamed.get(i) or kw).get("column_A")
            no_values = ("unexpected_count" not in res and gx_col in pdf.columns
                         and not pdf[gx_col].notna().any())
            st["success"] = bool(r.success) or no_values
            if r.exception_info and r.exception_info.get("raised_exception"):
                st["error"] = r.exception_info.get("exception_message")
                continue
            if res.get("observed_value") is not None and not no_values:
                st["observed"] = str(res["observed_value"])
            if kind == "aggregate" or r.success:
                continue
            failing = sorted({int(item["row_number"]) for item in res.get("unexpected_index_list") or []})
            n_rep = len(counts.get(i, []))
            failing = np.unique(np.where(np.asarray(failing) < n_rep, failing, 0)) if n_rep else []
            if kind == "unique":
                st["unexpected_rows"] = int(counts[i].gather(failing).sum()) if len(failing) else 0
                continue
            if kind in ("column", "nullness", "pair"):
                st["unexpected_rows"] = int(counts[i].gather(failing).sum()) if len(failing) else 0
            if st["severity"] == "hard" or kind == "pair_min":
                self._suspects[i] = keys[i][failing] if i in keys and len(failing) else None
                recheck = recheck or self._suspects[i] is not None
        again = [i for i, v in self._suspects.items() if v is not None]
        for i in again:  # their row counts come from the re-check of the rows
            self.stats[i]["unexpected_rows"] = 0
        self._recheck_suite = self._add_suite(f"{self.source}__recheck", again)
        return recheck

    # -- pass 2: the rows behind failing representatives --------------------------------------
    def recheck(self, typed: pl.DataFrame) -> pl.DataFrame:
        """GX on the rows of one chunk whose values failed on the compact batch: their hard
        failures exactly as validating every row would find them."""
        suite = self._recheck_suite
        if suite is None or typed.is_empty():
            return pl.DataFrame(schema=FAILURE_SCHEMA)
        declared = self.suite_dict["expectations"]
        hit = pl.lit(False)
        for i in suite._reglink_index:
            kw, kind = declared[i].get("kwargs", {}), self.plan[i][2]
            bad = self._suspects[i]
            if kind == "pair_min":  # every row of a failing B (and the failing null patterns)
                a, b = kw["column_A"], kw["column_B"]
                hit = hit | pl.col(b).is_in(bad.get_column(b).drop_nulls().implode()) | pl.struct(a, b).is_in(
                    bad.filter(pl.col(a).is_null() | pl.col(b).is_null()).select(pl.struct(a, b)).to_series().implode())
            else:
                for c in bad.columns:
                    vals = bad.get_column(c)
                    hit = hit | pl.col(c).is_in(vals.drop_nulls().implode())
                    if vals.null_count():
                        hit = hit | pl.col(c).is_null()
        return self._validate_rows(suite, typed.filter(hit), evaluated=False)

    # -- the verdict: reglink's own checks beside GX's, in the Data Docs --------------------
    def final(self, failing_values: pl.DataFrame) -> None:
        """Judge the `reglink` expectations on the extract's quarantined values (reason,
        column, value, rows: every own check, duplicates and ragged rows included) and, with
        `docs_dir`, validate the compact batch with them through the Checkpoint that writes the
        Data Docs: an extract reglink holds rows of is never 'Succeeded' there. Each value
        stands for its rows (one batch row per row up to DOCS_ROWS_CAP, so GX's counts are
        reglink's), nulls pad the rest."""
        own = failing_values.filter(pl.col("reason").is_in(list(HARD_REASONS)))
        mine = [(i, e) for i, e, k in self.plan if k == REGLINK_SEVERITY]
        if not mine:
            return
        reps, pad_null, compact, renamed = self._compact
        reps, pad_null = dict(reps), set(pad_null)
        repeat = int(own["rows"].sum() or 0) <= DOCS_ROWS_CAP
        known = {checks_column(c) for c in self.sch.names}
        for i, e in mine:
            col = e.get("kwargs", {}).get("column", "")
            canonical = col[:-len(CHECKS_SUFFIX)] if col.endswith(CHECKS_SUFFIX) else col
            part = own.filter(pl.col("column").is_null() if col not in known
                              else pl.col("column") == canonical)
            label = pl.when(pl.col("value").is_null()).then(pl.col("reason")).otherwise(
                pl.format("{}: {}", pl.col("reason"), pl.col("value")))
            vals = part.select(label.alias(col), "rows")
            if repeat and vals.height:
                vals = vals.select(pl.col(col).repeat_by("rows").explode())
            reps[col] = vals.get_column(col).cast(pl.String)
            pad_null.add(col)
            st = self._stat(i, e["type"], col)
            st.update(success=part.is_empty(), unexpected_rows=int(part["rows"].sum() or 0),
                      evaluated_rows=self.rows_seen)
        if self.docs_dir is None:
            return
        idx = compact + [i for i, _ in mine]
        suite = self._add_suite(f"{self.source}", idx, renamed)
        self._run(suite, _pad(reps, pad_null).to_pandas(use_pyarrow_extension_array=False),
                  docs=True)

    def results(self, summary: IngestSummary) -> list[dict[str, Any]]:
        """Per-expectation outcome over the whole extract (soft ones judged on the totals)."""
        out = [self.stats[i] for i, _, k in self.plan if k != "soft" and i in self.stats]
        return out + completeness_verdicts(self.suite_dict, summary)

    def docs_index(self) -> Path | None:
        if self.checkpoint is None:
            return None
        root = Path(self.ctx.root_directory)
        index = root / "uncommitted" / "data_docs" / "local_site" / "index.html"
        return index if index.exists() else None


if __name__ == "__main__":
    for p in write_suites():
        print(p)
