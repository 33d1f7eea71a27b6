"""Great Expectations suites, one per register, kept as JSON files under `expectations/`.

The suites are the declared contract of each register (required columns, code lists, country
codes, date ranges and order, uniqueness, completeness per Annex 2 topic). They are generated
from `reglink.schemas` (`python -m reglink.ingest.suites` rewrites the files) and may then be
edited by the NSO: the files are what runs. Each expectation's `meta` says what a failure means:

- `severity: hard` — row-level; the rows GX lists in `unexpected_index_list` are quarantined
  with `meta.reason`.
- `severity: report` — aggregate or per-chunk evidence shown in the report (date ranges, record
  uniqueness within a chunk); the whole-extract row checks are done by `checks.py`.
- `severity: soft` — completeness of a field (share non-empty) below `min_value`: counted and
  reported over the whole extract, never quarantined.

GX 1.x validates pandas frames; ingest hands it each chunk of rows that passed parsing, so a
suite adds checks on typed values rather than repeating the parse errors.
"""
from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from reglink.ingest.checks import (DATE_ORDER, FAILURE_SCHEMA, ISCO_RE, MAX_DATE, MIN_DATE,
                                   MISSING_REQUIRED, SUITE_FAILURE, UNKNOWN_CODE, UNKNOWN_COUNTRY)
from reglink.errors import Problem, ReglinkError
from reglink.schemas import SCHEMAS, SourceSchema

if TYPE_CHECKING:
    from reglink.ingest.ingest import IngestSummary

SUITE_DIR = Path(os.environ.get("REGLINK_EXPECTATIONS",
                                Path(__file__).resolve().parents[3] / "expectations"))
LOW_COMPLETENESS = "low_completeness"

# Minimum share of rows with a value, per column, below which the extract gets a soft warning.
# Border register: toolkit Annex 2 topics (seed 000); the core linkage fields of the others.
COMPLETENESS: dict[str, dict[str, float]] = {
    "border_crossings": {
        "sex": 0.95, "date_of_birth": 0.95, "country_of_birth": 0.5, "given_names": 0.95,
        "surname": 0.95, "citizenship": 0.95, "country_of_residence": 0.5,
        "document_type": 0.8, "document_number": 0.9, "document_country": 0.8,
        "origin_destination": 0.5, "travel_reason": 0.3, "occupation": 0.1,
        "transport_mode": 0.5, "border_point": 0.5,
    },
    "permits": {"sex": 0.95, "date_of_birth": 0.95, "given_names": 0.95, "surname": 0.95,
                "citizenship": 0.95, "country_of_birth": 0.5, "valid_to": 0.5,
                "document_number": 0.5},
    "population_register": {"sex": 0.98, "date_of_birth": 0.98, "given_names": 0.98,
                            "surname": 0.98, "country_of_birth": 0.9, "citizenship": 0.9,
                            "registration_date": 0.9},
    "asylum_register": {"sex": 0.95, "date_of_birth": 0.8, "given_names": 0.95,
                        "surname": 0.95, "citizenship": 0.9, "decision": 0.5},
}


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
    for col, share in COMPLETENESS.get(sch.name, {}).items():
        e = _exp("expect_column_proportion_of_non_null_values_to_be_between", "soft",
                 LOW_COMPLETENESS, column=col, min_value=share)
        annex = sch.column(col).annex2
        if annex:
            e["meta"]["annex2_topic"] = annex
        ex.append(e)
    return {"name": sch.name, "expectations": ex,
            "meta": {"generated_by": "reglink.ingest.suites", "contract": "CONTRACTS.md section 1",
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


class SuiteRunner:
    """Runs a register's suite on pandas chunks; collects row failures and per-expectation
    statistics. With `docs_dir`, runs through a Checkpoint that updates GX Data Docs there."""

    def __init__(self, source: str, sch: SourceSchema, docs_dir: Path | None = None,
                 suite_dir: Path | None = None) -> None:
        warnings.filterwarnings("ignore", module="great_expectations")
        logging.getLogger("great_expectations").setLevel(logging.CRITICAL)
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.source = source
        self.sch = sch
        self.suite_dict = load_suite(source, suite_dir)
        self.stats: dict[int, dict[str, Any]] = {}
        self.chunks = 0
        if docs_dir is not None:
            docs_dir.mkdir(parents=True, exist_ok=True)
            ctx = gx.get_context(mode="file", project_root_dir=str(docs_dir))
        else:
            ctx = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        self.ctx = ctx
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
        # only expectations whose columns the frame has (a suite may name optional columns)
        suite = gx.ExpectationSuite(name=source, expectations=self._expectations(source, suite_dir),
                                    meta=self.suite_dict.get("meta", {}))
        try:
            ctx.suites.delete(source)
        except Exception:  # noqa: BLE001
            pass
        self.suite = ctx.suites.add(suite)
        self.result_format = {"result_format": "COMPLETE",
                              "unexpected_index_column_names": ["row_number"],
                              "partial_unexpected_count": 20}
        self.checkpoint = None
        if docs_dir is not None:
            for name in (f"{source}_checkpoint",):
                try:
                    ctx.checkpoints.delete(name)
                except Exception:  # noqa: BLE001
                    pass
            try:
                ctx.validation_definitions.delete(f"{source}_chunks")
            except Exception:  # noqa: BLE001
                pass
            vd = ctx.validation_definitions.add(
                gx.ValidationDefinition(name=f"{source}_chunks", data=self.batch_def,
                                        suite=self.suite))
            self.checkpoint = ctx.checkpoints.add(gx.Checkpoint(
                name=f"{source}_checkpoint", validation_definitions=[vd],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
                result_format=self.result_format))

    def _expectations(self, source: str, suite_dir: Path | None) -> list[Any]:
        """Each expectation of the file as a GX object; a bad one is a one-line error naming it
        (GX itself would log a traceback and silently drop it)."""
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration)

        out = []
        for i, e in enumerate(self.suite_dict.get("expectations", [])):
            try:
                cfg = ExpectationConfiguration(type=e["type"], kwargs=e.get("kwargs", {}),
                                               meta=e.get("meta", {}))
                out.append(cfg.to_domain_obj())
            except Exception as exc:  # noqa: BLE001 - GX raises many kinds here
                msg = str(exc).splitlines()[0] if str(exc) else repr(exc)
                raise ReglinkError(Problem(str(suite_path(source, suite_dir)),
                                           f"expectation {i + 1} ({e.get('type')}): {msg}")) from None
        return out

    def _pandas(self, typed: pl.DataFrame):
        cols = ["row_number", *[c for c in self.sch.names if c in typed.columns]]
        return typed.select(cols).to_pandas(use_pyarrow_extension_array=False)

    def validate(self, typed: pl.DataFrame) -> pl.DataFrame:
        """Validate one chunk of typed rows; the hard failures as (row_number, reason, column,
        value) rows."""
        if typed.is_empty():
            return pl.DataFrame(schema=FAILURE_SCHEMA)
        pdf = self._pandas(typed)
        if self.checkpoint is not None:
            cp = self.checkpoint.run(batch_parameters={"dataframe": pdf})
            result = next(iter(cp.run_results.values()))
        else:
            batch = self.batch_def.get_batch(batch_parameters={"dataframe": pdf})
            result = batch.validate(self.suite, result_format=self.result_format)
        self.chunks += 1
        rows: list[dict[str, Any]] = []
        for i, r in enumerate(result.results):
            cfg = r.expectation_config
            meta = cfg.meta or {}
            kw = cfg.kwargs
            column = kw.get("column") or kw.get("column_A")
            st = self.stats.setdefault(i, {
                "expectation": cfg.type, "column": column, "severity": meta.get("severity", "hard"),
                "reason": meta.get("reason"), "success": True, "unexpected_rows": 0,
                "evaluated_rows": 0, "error": None, "observed": None})
            st["evaluated_rows"] += len(pdf)
            res = r.result or {}
            # an aggregate expectation (a column's min or max in a range) over a chunk where the
            # column holds no value at all has nothing to judge: GX reports it failed with no
            # observed value (e.g. a permits extract of open-ended residence permits, valid_to
            # all empty); that is not a data problem
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

    def results(self, summary: IngestSummary) -> list[dict[str, Any]]:
        """Per-expectation outcome over the whole extract (soft ones judged on the totals)."""
        out = [s for s in self.stats.values() if s["severity"] != "soft"]
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
