"""`reglink validate SOURCE FILE [--report DIR]` — the register owner's check of an extract.

Exit codes (docs/reference.md#exit-codes): 0 when every row is accepted (soft warnings such as
partial dates of birth or low completeness do not fail it), 1 when any row is quarantined or the
file cannot be read, 2 on wrong usage (unknown SOURCE, a bad mapping file or --home-country).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from reglink.console import console
from reglink.errors import Problem, ReglinkError, UsageError
from reglink.ingest.datadocs import make_offline
from reglink.ingest.ingest import ingest_extract
from reglink.ingest.mapping import Mapping, load_mapping
from reglink.ingest.preflight import check_encoding
from reglink.ingest.report import print_summary, problem_lines, write_report
from reglink.schemas import SOURCES, schema


def resolve_home_country(home_country: str | None, config: Path | None,
                         mapping: Path | None, source: str) -> tuple[str | None, str, Path | None]:
    """The country of measurement and where it came from: `--home-country`, else the
    configuration's `home_country`, else none (never a silent default: the checks that need
    it are skipped and the summary says so). Also the register's mapping from the config when
    `--mapping` is not given."""
    import pycountry

    from reglink.config import load_config

    cfg = load_config(config) if config is not None else None
    if mapping is None and cfg is not None:
        mapping = cfg.mappings.get(source)
    if home_country is not None:
        code = home_country.strip().upper()
        if len(code) != 3 or pycountry.countries.get(alpha_3=code) is None:
            raise UsageError(f"--home-country: {home_country!r} is not an ISO 3166-1 alpha-3 "
                             "code (e.g. NZL, DEU) (docs/reference.md#reglink-validate)")
        return code, "--home-country", mapping
    if cfg is not None:
        return cfg.home_country, f"home_country of {config}", mapping
    return None, "not given", mapping


def validate_command(source: str, file: Path, report_dir: Path | None, mapping: Path | None,
                     home_country: str | None = None, config: Path | None = None) -> int:
    if source not in SOURCES:
        raise UsageError(f"unknown SOURCE {source!r}: expected one of {', '.join(SOURCES)}")
    sch = schema(source)
    home_country, home_from, mapping = resolve_home_country(home_country, config, mapping, source)
    mp = load_mapping(mapping, source) if mapping is not None else Mapping(source=source)
    err = console(stderr=True)
    docs_dir = report_dir  # GX makes its file context in DIR/gx
    check_encoding(file, mp)  # before any reader thread starts (see preflight)
    try:
        res = ingest_extract(source, file, mapping=mp, home_country=home_country,
                             keep_rows=False, suite=True, progress=err.is_terminal,
                             docs_dir=docs_dir)
        res.summary.home_country_from = home_from
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
        if docs_index is not None:  # CDN stylesheets and scripts out, a plain index in
            make_offline(docs_index.parent)
        index = write_report(res, sch, mp, report_dir, docs_index)
    for line in problem_lines(res, sch, mp):
        print(f"reglink: {line}", file=sys.stderr)
    # a pipe or a log file gets whole lines (no wrapping mid-path), a terminal its own width
    print_summary(res, sch, console(), report=index, mapping=mp)
    return 1 if res.summary.rows_quarantined else 0


def _docs_index(docs_dir: Path | None) -> Path | None:
    if docs_dir is None:
        return None
    hits = sorted(docs_dir.glob("**/data_docs/local_site/index.html"))
    return hits[0] if hits else None
