"""Owner-only files: the one place that decides how restricted data sit on disk.

The restricted store, its write-ahead log, DuckDB's spill files and the archive of deliveries
hold names, dates of birth and document numbers. They are created readable by their owner only
(folders 0700, files 0600), whatever the process umask, and tightened again when reopened, so
a store made by an older version or copied in with loose modes is repaired on the next write.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path
from typing import Iterator

from reglink.errors import Problem, ReglinkError

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
OWNER_ONLY_UMASK = 0o077


@contextlib.contextmanager
def owner_only() -> Iterator[int]:
    """Everything created inside is owner-only (umask 077); yields the umask it replaced."""
    old = os.umask(OWNER_ONLY_UMASK)
    try:
        yield old
    finally:
        os.umask(old)


def private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) as an owner-only folder; tighten it if it exists.
    A folder someone else owns, or a symbolic link in its place (a trap laid in a shared
    /tmp), is refused: restricted data would land where another user can read them."""
    path = Path(path)
    with owner_only():
        path.mkdir(parents=True, exist_ok=True)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise ReglinkError(Problem(str(path), "is a symbolic link or not a folder; restricted "
                                              "data are not written there"))
    if st.st_uid != os.getuid():
        raise ReglinkError(Problem(str(path), f"belongs to another user (uid {st.st_uid}); "
                                              "restricted data are not written there"))
    os.chmod(path, PRIVATE_DIR)
    return path


def make_private(path: Path) -> None:
    """Owner-only mode on a file or folder and on a DuckDB file's companions (.wal, .tmp)."""
    path = Path(path)
    for p in (path, path.with_name(path.name + ".wal"), path.with_name(path.name + ".tmp")):
        if p.is_dir() and not p.is_symlink():
            os.chmod(p, PRIVATE_DIR)
        elif p.is_file() and not p.is_symlink():
            os.chmod(p, PRIVATE_FILE)


def private_copy(src: Path, dest: Path) -> Path:
    """A real, owner-only copy of `src` at `dest` (never a link: the copy must not change when
    the landing file is edited or replaced in place). Written aside, then renamed into place."""
    private_dir(dest.parent)
    part = dest.with_name(dest.name + f".part{os.getpid()}")
    with owner_only():
        shutil.copyfile(src, part, follow_symlinks=False)
    os.chmod(part, PRIVATE_FILE)
    os.replace(part, dest)
    return dest


def regular_file_problem(path: Path) -> str | None:
    """Why `path` cannot be taken as an extract (a symlink, a folder, a device, a FIFO), or
    None for a plain regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "extract file not found"
    except OSError as exc:
        return f"cannot read the extract: {exc.strerror}"
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link; deliver the file itself, not a link to it"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file (a folder, device, socket or pipe); deliver a plain file"
    return None


def publish_mode(path: Path, umask: int) -> None:
    """Give a public output (warehouse, Parquet exports, reports) the modes the caller's umask
    would have given it, after it was created owner-only."""
    path = Path(path)
    if not path.exists():
        return
    targets = [path] + (sorted(path.rglob("*")) if path.is_dir() else [])
    for p in targets:
        if p.is_symlink():
            continue
        os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~umask)


# a cell starting with one of these is run as a formula by spreadsheet programs
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: "pl.DataFrame") -> "pl.DataFrame":
    """Text cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) get a
    leading apostrophe: a register value such as `=HYPERLINK(...)` in a CSV opened by a
    register owner must stay text. Numbers and dates are left as they are."""
    import polars as pl

    starts = "^[" + "".join("\\" + c if c in "-+" else c for c in FORMULA_START) + "]"
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(starts)).then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c)).alias(c)
        for c, t in frame.schema.items() if t == pl.String)
