"""`reglink validate SOURCE FILE [--report DIR]` — the register owner's check of an extract.

Exit codes (docs/reference.md#commands): 0 when every row is accepted (soft warnings such as partial
dates of birth or low completeness do not fail it), 1 when any row is quarantined or the file
cannot be read, 2 on wrong usage (unknown SOURCE, missing mapping file).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from reglink.console import console
from reglink.errors import Problem, ReglinkError, UsageError
from reglink.ingest.ingest import ingest_extract
from reglink.ingest.mapping import Mapping, load_mapping
from reglink.ingest.preflight import check_encoding
from reglink.ingest.report import print_summary, problem_lines, write_report
from reglink.schemas import SOURCES, schema


def validate_command(source: str, file: Path, report_dir: Path | None, mapping: Path | None,
                     home_country: str = "NZL") -> int:
    if source not in SOURCES:
        raise UsageError(f"unknown SOURCE {source!r}: expected one of {', '.join(SOURCES)}")
    sch = schema(source)
    mp = load_mapping(mapping, source) if mapping is not None else Mapping(source=source)
    err = console(stderr=True)
    docs_dir = report_dir  # GX makes its file context in DIR/gx
    check_encoding(file, mp)  # before any reader thread starts (see preflight)
    try:
        res = ingest_extract(source, file, mapping=mp, home_country=home_country,
                             keep_rows=False, suite=True, progress=err.is_terminal,
                             docs_dir=docs_dir)
    except (ReglinkError, UsageError):
        raise
    except Exception as exc:  # a case no check foresaw: still one line, no traceback
        if os.environ.get("REGLINK_DEBUG"):
            raise
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ReglinkError(Problem(str(file), f"cannot validate: {type(exc).__name__}: {first} "
                                   "(set REGLINK_DEBUG=1 for the details)")) from None
    index = None
    if report_dir is not None:
        docs_index = _docs_index(docs_dir)
        index = write_report(res, sch, mp, report_dir, docs_index)
    for line in problem_lines(res, sch, mp):
        print(f"reglink: {line}", file=sys.stderr)
    print_summary(res, sch, console(), report=index)
    return 1 if res.summary.rows_quarantined else 0


def _docs_index(docs_dir: Path | None) -> Path | None:
    if docs_dir is None:
        return None
    hits = sorted(docs_dir.glob("**/data_docs/local_site/index.html"))
    return hits[0] if hits else None
