"""One run at a time per warehouse, and a warehouse that changes all at once.

`run_lock`: an exclusive `flock` on `<warehouse>.lock`, which records the holder (pid, host,
start time). The kernel drops the lock when the holder dies, so a killed run never leaves a
stale lock; a second run exits 1 naming the holder.

`staged_warehouse`: the run writes a copy (`<warehouse>.staging`) and, when it ends, renames
it over the warehouse in one step. A reader opens the old file or the new one, never a run's
half; a run killed part-way leaves the warehouse as it was.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Iterator

from reglink.errors import Problem, ReglinkError

STAGING_ENV = "REGLINK_WAREHOUSE_STAGING"  # the warehouse whose staging copy this run writes


def lock_path(warehouse: Path) -> Path:
    return Path(warehouse).with_name(Path(warehouse).name + ".lock")


def staging_path(warehouse: Path) -> Path:
    return Path(warehouse).with_name(Path(warehouse).name + ".staging")


@contextlib.contextmanager
def run_lock(warehouse: Path) -> Iterator[Path]:
    """Hold the warehouse's run lock; ReglinkError naming the holder when another run has it."""
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReglinkError(Problem(str(warehouse), f"another run holds the warehouse: "
                                                       f"{_holder(path)} (lock {path})")) from None
        holder = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started": dt.datetime.now().astimezone().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the flock


def _holder(path: Path) -> str:
    try:
        h = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        h = {}
    if not h:
        return "a run that has not yet written its name"
    return f"pid {h.get('pid')} on host {h.get('host')}, started {h.get('started')}"


def _checkpointed(warehouse: Path) -> None:
    """Fold a write-ahead log left by a crash into the file, so the copy is whole."""
    if warehouse.with_name(warehouse.name + ".wal").exists():
        import duckdb

        duckdb.connect(str(warehouse)).close()


@contextlib.contextmanager
def staged_warehouse(warehouse: Path) -> Iterator[Path]:
    """Yield the staging copy to write; rename it over the warehouse when the block ends
    normally, drop it when it raises."""
    warehouse = Path(warehouse)
    staging = staging_path(warehouse)
    for p in (staging, staging.with_name(staging.name + ".wal")):
        p.unlink(missing_ok=True)
    if warehouse.exists():
        _checkpointed(warehouse)
        shutil.copy2(warehouse, staging)
    try:
        yield staging
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    if staging.with_name(staging.name + ".wal").exists():
        _checkpointed(staging)
    if staging.exists():
        os.replace(staging, warehouse)
