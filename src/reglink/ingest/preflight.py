"""Checks on an extract file before any reader opens it.

Encoding: the streaming CSV reader meets a byte that is not UTF-8 in a background read-ahead
thread; stopping it there left that thread running into interpreter exit, which aborted the
process (exit 134) in about half the runs. Decoding the file once first, in plain Python, finds
the first bad byte with its row and column and stops before any reader thread exists.
"""
from __future__ import annotations

import codecs
import csv
from pathlib import Path

from reglink.errors import Problem, ReglinkError
from reglink.ingest.mapping import Mapping
from reglink.ingest.reader import _locate_bad_bytes, file_format

CHUNK = 8 << 20


def _is_utf8(encoding: str) -> bool:
    try:
        return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")
    except LookupError:
        return False


def check_encoding(path: Path, mapping: Mapping) -> None:
    """Raise ReglinkError (row, column, byte) when a CSV extract meant to be UTF-8 is not."""
    path = Path(path)
    if not path.is_file() or file_format(path) != "csv" or not _is_utf8(mapping.encoding):
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as f:
            while block := f.read(CHUNK):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ReglinkError(_locate_bad_bytes(path, mapping.delimiter, _header(path, mapping))) from None


def _header(path: Path, mapping: Mapping) -> list[str]:
    """The header's canonical column names ([] when the header itself is not UTF-8)."""
    with path.open("rb") as f:
        first = f.readline()
    try:
        text = first.decode("utf-8").lstrip("\ufeff").rstrip("\r\n")
    except UnicodeDecodeError:
        return []
    row = next(csv.reader([text], delimiter=mapping.delimiter), [])
    return [mapping.canonical_name(h) for h in row]
