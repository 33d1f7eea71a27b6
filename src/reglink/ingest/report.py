"""What a register owner sees: the terminal summary, the problem lines, the HTML report."""
from __future__ import annotations

import html
import json
import os
from pathlib import Path

import polars as pl
from rich.console import Console
from rich.table import Table

from reglink.errors import Problem
from reglink.ingest.ingest import IngestResult
from reglink.ingest.mapping import Mapping
from reglink.schemas import SourceSchema
from reglink.secure import spreadsheet_safe

MAX_LINES_PER_REASON = 20
VALUES_SHOWN = 10  # distinct failing values per reason and column on the terminal
VALUES_IN_REPORT = 200  # ... in the HTML report (all of them in failing_values.csv)

ADVICE: dict[str, str] = {
    "missing_required": "fill the value in the source system, or drop the record from the extract",
    "unknown_code": "use a canonical code or add the local code to the mapping's `codes:`",
    "unknown_country": "use ISO 3166 alpha-3/alpha-2/numeric or an English name, or add the "
                       "spelling to the mapping's `countries:`",
    "unparseable_date": "write dates as YYYY-MM-DD, or set `date_format:`/`dates:` in the mapping",
    "impossible_date": "correct the date in the source system (no such day)",
    "incomplete_date": "only date_of_birth may be partial; give the full date",
    "date_out_of_range": "correct the date (before 1880, after 2100, or a birth in the future)",
    "date_order": "correct one of the two dates: they are in the wrong order",
    "duplicate_record_id": "give every record its own record_id (the first occurrence is kept)",
    "ragged_row": "the row has too many or too few fields: check quoting and delimiters",
    "expectation_failed": "see the expectation in the HTML report",
    "low_completeness": "fill the field where the source system has it",
}


def problem_message(reason: str, column: str | None, value: str | None, sch: SourceSchema,
                    mapping: Mapping) -> str:
    v = repr(value) if value is not None else ""
    if reason == "missing_required":
        return "missing required value"
    if reason == "unknown_code" and column:
        c = sch.column(column)
        expected = ", ".join(c.codes) if c.codes else "an ISCO-08 code of 1 to 4 digits"
        return f"unknown code {v} (expected {expected})"
    if reason == "unknown_country":
        return f"unknown country {v} (expected an ISO 3166-1 code or country name)"
    if reason == "unparseable_date" and column:
        return f"cannot read date {v} (expected {mapping.date_format_for(column)})"
    if reason == "impossible_date":
        return f"no such date {v}"
    if reason == "incomplete_date":
        return f"incomplete date {v} (only date_of_birth may be partial)"
    if reason == "date_out_of_range":
        return f"date {v} out of range"
    if reason == "date_order":
        return f"dates out of order: {value}"
    if reason == "duplicate_record_id":
        return f"duplicate record_id {value}"
    if reason == "ragged_row":
        return f"wrong number of fields: {value}"
    return f"{reason} {v}".strip()


def problem_lines(res: IngestResult, sch: SourceSchema, mapping: Mapping,
                  limit: int = MAX_LINES_PER_REASON) -> list[str]:
    """One line per quarantined row (at most `limit` per reason, then a count of the rest)."""
    q = res.failures
    if q.is_empty():
        return []
    lines: list[str] = []
    f = res.summary.file
    for (reason,), part in q.sort("row_number").group_by(["reason"], maintain_order=True):
        for row in part.head(limit).iter_rows(named=True):
            lines.append(str(Problem(f, problem_message(reason, row["column"], row["value"], sch,
                                                        mapping),
                                     row=row["row_number"], column=mapping.label(row["column"]))))
        if part.height > limit:
            lines.append(f"{f}: … and {part.height - limit} more rows with {reason}")
    return lines


def home_country_line(s) -> str:
    """Which country of measurement the checks used, and where it came from: never silent."""
    if s.home_country:
        origin = f" (from {s.home_country_from})" if s.home_country_from else ""
        return f"home country {s.home_country}{origin}"
    return ("home country not given (--home-country CODE or --config FILE): the check that a "
            "crossing's origin or destination is another country was skipped, and zone-aware "
            "timestamps were dated in their own zone")


def failing_values(res: IngestResult, per_group: int | None = None) -> pl.DataFrame:
    """Per reason and column, the distinct failing values with their rows, most frequent
    first; `per_group` keeps the first so many (a column `more_values` counts the rest)."""
    fv = res.summary.failing_values
    if fv is None or fv.is_empty():
        return pl.DataFrame(schema={"reason": pl.String, "column": pl.String,
                                    "value": pl.String, "rows": pl.Int64,
                                    "more_values": pl.Int64})
    fv = fv.with_columns(pl.len().over("reason", "column").cast(pl.Int64).alias("_n"),
                         pl.int_range(pl.len(), dtype=pl.Int64).over("reason", "column").alias("_i"))
    keep = per_group if per_group is not None else 1 << 62
    return (fv.filter(pl.col("_i") < keep)
            # on the last row shown of each group: how many values were left out
            .with_columns(pl.when(pl.col("_i") == pl.min_horizontal("_n", pl.lit(keep)) - 1)
                          .then((pl.col("_n") - keep).clip(lower_bound=0)).otherwise(0)
                          .cast(pl.Int64).alias("more_values"))
            .drop("_n", "_i"))


def print_summary(res: IngestResult, sch: SourceSchema, console: Console | None = None,
                  report: Path | None = None, mapping: Mapping | None = None) -> None:
    console = console or Console()
    mapping = mapping or Mapping(source=sch.name)
    s = res.summary
    verdict = "[green]valid[/]" if s.rows_quarantined == 0 else "[red]has errors[/]"
    console.print(f"[bold]{s.source}[/] {s.file} — {verdict}")
    console.print(f"sha256 {s.sha256}")
    console.print(home_country_line(s))
    console.print(f"rows read {s.rows_in:,} · accepted {s.rows_accepted:,} · quarantined "
                  f"{s.rows_quarantined:,}")
    if s.ignored_columns:
        console.print(f"ignored columns (not in the {s.source} schema): "
                      f"{', '.join(s.ignored_columns)}")
    if s.by_reason:
        t = Table(title="quarantined rows by reason", title_justify="left")
        t.add_column("reason")
        t.add_column("column")
        t.add_column("rows", justify="right")
        t.add_column("what to do")
        for (reason, column), n in sorted(s.by_reason.items(), key=lambda kv: -kv[1]):
            t.add_row(reason, mapping.label(column) or "–", f"{n:,}", ADVICE.get(reason, ""))
        console.print(t)
        fv = failing_values(res, VALUES_SHOWN)
        if fv.height:
            t = Table(title="distinct failing values per column (what a mapping needs)",
                      title_justify="left")
            for h in ("column", "reason", "value", "rows"):
                t.add_column(h, justify="right" if h == "rows" else "left")
            for r in fv.iter_rows(named=True):
                t.add_row(mapping.label(r["column"]) or "–", r["reason"],
                          "(empty)" if r["value"] is None else repr(r["value"]), f"{r['rows']:,}")
                if r["more_values"] and r["more_values"] > 0:
                    t.add_row("", "", f"… {r['more_values']:,} more values", "")
            console.print(t)
    if s.details_truncated:
        console.print("[yellow]note[/]: so many rows failed that details were kept for the first "
                      "quarantined rows only; the counts above are exact")
    warn = {k: v for k, v in s.soft.items() if v}
    for k, v in warn.items():
        console.print(f"[yellow]warning[/]: {v:,} rows with {k.replace('_', ' ')} (accepted)")
    thresholds = {e["column"]: e for e in s.expectations if e["severity"] == "soft"}
    t = Table(title="completeness per field", title_justify="left")
    t.add_column("column")
    t.add_column("Annex 2")
    t.add_column("filled", justify="right")
    t.add_column("expected ≥", justify="right")
    for c in sch.columns:
        share = s.completeness.get(c.name, 0.0)
        e = thresholds.get(c.name)
        low = e is not None and not e["success"]
        mark = "[yellow]" if low else ""
        end = "[/]" if low else ""
        present = c.name in s.present_columns
        t.add_row((mapping.label(c.name) or c.name) + ("" if present else " (absent)"), c.annex2 or "",
                  f"{mark}{share:.1%}{end}", f"{e['min_value']:.0%}" if e else "")
    console.print(t)
    failed = [e for e in s.expectations if e["severity"] != "soft" and not e["success"]]
    for e in failed:
        found = (f"{e['unexpected_rows']:,} unexpected rows" if e.get("unexpected_rows")
                 else f"observed {e.get('observed') or e.get('error') or 'no value'}")
        console.print(f"expectation {e['expectation']} on {mapping.label(e['column'])}: {found} "
                      f"({e['severity']})")
    if report is not None:
        console.print(f"report: {report}")


def write_report(res: IngestResult, sch: SourceSchema, mapping: Mapping, folder: Path,
                 docs_index: Path | None) -> Path:
    """index.html (own summary, links to the GX Data Docs), summary.json, quarantine.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    s = res.summary
    q = res.quarantine
    if not q.is_empty():
        spreadsheet_safe(q).write_csv(folder / "quarantine.csv")
    fv_all = failing_values(res)
    if fv_all.height:
        spreadsheet_safe(fv_all.drop("more_values").with_columns(
            pl.col("column").map_elements(mapping.source_name, return_dtype=pl.String)
            .alias("source_column"))).write_csv(folder / "failing_values.csv")
    data = {
        "source": s.source, "file": s.file, "sha256": s.sha256, "rows_in": s.rows_in,
        "rows_accepted": s.rows_accepted, "rows_quarantined": s.rows_quarantined,
        "quarantined_by_reason": [{"reason": r, "column": c, "rows": n}
                                  for (r, c), n in sorted(s.by_reason.items(), key=lambda kv: -kv[1])],
        "home_country": s.home_country, "home_country_from": s.home_country_from,
        "failing_values": [{**r, "source_column": mapping.source_name(r["column"])}
                           for r in fv_all.drop("more_values").to_dicts()],
        "soft_warnings": s.soft, "completeness": s.completeness,
        "ignored_columns": s.ignored_columns, "expectations": s.expectations,
    }
    (folder / "summary.json").write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    e = html.escape
    rows_reason = "".join(
        f"<tr><td>{e(r)}</td><td>{e(mapping.label(c) or '–')}</td><td class=n>{n:,}</td><td>{e(ADVICE.get(r, ''))}</td></tr>"
        for (r, c), n in sorted(s.by_reason.items(), key=lambda kv: -kv[1]))
    thresholds = {x["column"]: x for x in s.expectations if x["severity"] == "soft"}
    rows_comp = "".join(
        f"<tr class='{'low' if c.name in thresholds and not thresholds[c.name]['success'] else ''}'>"
        f"<td>{e(mapping.label(c.name) or c.name)}</td><td>{e(c.annex2 or '')}</td>"
        f"<td class=n>{s.completeness.get(c.name, 0.0):.1%}</td>"
        f"<td class=n>{(str(round(thresholds[c.name]['min_value'] * 100)) + '%') if c.name in thresholds else ''}</td></tr>"
        for c in sch.columns)
    rows_exp = "".join(
        f"<tr class='{'' if x['success'] else 'low'}'><td>{e(x['expectation'])}</td>"
        f"<td>{e(str(mapping.label(x['column'])))}</td><td>{e(x['severity'])}</td>"
        f"<td>{'pass' if x['success'] else 'FAIL'}</td>"
        f"<td class=n>{x.get('unexpected_rows', '')}</td><td>{e(str(x.get('observed') or ''))}</td></tr>"
        for x in s.expectations)
    fv = failing_values(res, VALUES_IN_REPORT)
    groups = []
    for (reason, column), part in fv.group_by(["reason", "column"], maintain_order=True):
        more = int(part["more_values"].sum())
        rows = "".join(f"<tr><td>{'<i>(empty)</i>' if v is None else e(repr(v))}</td>"
                       f"<td class=n>{n:,}</td></tr>" for v, n in zip(part["value"], part["rows"]))
        tail = (f"<p>… and {more:,} more values: all in <a href='failing_values.csv'>"
                "failing_values.csv</a></p>" if more else "")
        groups.append(f"<details open><summary><b>{e(mapping.label(column) or '–')}</b> — "
                      f"{e(reason)}: {part.height + more:,} distinct values, "
                      f"{int(part['rows'].sum()):,} rows shown</summary>"
                      f"<table><tr><th>value<th>rows</tr>{rows}</table>{tail}</details>")
    values_html = "".join(groups) or "<p>none</p>"
    problems = "".join(f"<li>{e(line)}</li>" for line in problem_lines(res, sch, mapping))
    docs = ""
    if docs_index is not None:
        rel = os.path.relpath(docs_index, folder)
        docs = (f"<p>Great Expectations Data Docs (the suite's verdict, reglink's own checks "
                f"included; readable offline): <a href='{e(rel)}'>{e(rel)}</a></p>")
    verdict = "valid" if s.rows_quarantined == 0 else "has errors"
    page = f"""<!doctype html><html lang=en><meta charset=utf-8>
<title>reglink validate: {e(s.source)}</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:2em auto}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}
.n{{text-align:right}}.low{{background:#fff3cd}}h1 small{{font-weight:normal}}</style>
<h1>{e(s.source)} <small>{e(Path(s.file).name)} — {verdict}</small></h1>
<p>sha256 <code>{e(s.sha256)}</code> · {e(home_country_line(s))}</p>
<p>rows read <b>{s.rows_in:,}</b> · accepted <b>{s.rows_accepted:,}</b> · quarantined <b>{s.rows_quarantined:,}</b>
{'· <a href="quarantine.csv">quarantine.csv</a>' if not q.is_empty() else ''}</p>
{docs}
<h2>Quarantined rows by reason</h2>
<table><tr><th>reason<th>column<th>rows<th>what to do</tr>{rows_reason or '<tr><td colspan=4>none</td></tr>'}</table>
<h2>Distinct failing values per column</h2>
<p>What a mapping needs: each value held back, with the rows it held back
({'<a href="failing_values.csv">failing_values.csv</a> has them all' if fv.height else 'none'}).</p>
{values_html}
<h2>Soft warnings</h2><ul>{''.join(f'<li>{e(k)}: {v:,} rows</li>' for k, v in s.soft.items()) or '<li>none</li>'}</ul>
<h2>Completeness per field</h2>
<table><tr><th>column<th>Annex 2 topic<th>filled<th>expected at least</tr>{rows_comp}</table>
<h2>Expectations</h2>
<table><tr><th>expectation<th>column<th>severity<th>result<th>unexpected rows<th>observed</tr>{rows_exp}</table>
<h2>Problems (first {MAX_LINES_PER_REASON} per reason)</h2><ul>{problems or '<li>none</li>'}</ul>
<p>Checks and what to do about each: docs/validation.md in the reglink repository.</p>
</html>"""
    index = folder / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
