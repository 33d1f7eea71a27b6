"""Wall time and peak memory of a stage, so a data engineer sees which stage needs resources.

`Meter` samples the resident memory (RSS) of this process and its children from /proc while a
stage runs (a background thread, every 0.2 s): the peak a stage reaches, not the process's
lifetime maximum that `getrusage` reports. On systems without /proc it reports time only.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _children(pid: int) -> list[int]:
    """Children started by any thread of `pid` (the JVM forks Spark's Python workers from one of
    its threads, not the main one)."""
    out: list[int] = []
    try:  # the process may end while it is walked: then it has no children left
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            out.extend(int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split())
        except OSError:
            pass
    return out


def tree_pids(pid: int | None = None) -> list[int]:
    """A process and all its descendants (this process by default)."""
    out, todo = [], [os.getpid() if pid is None else pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(_children(p))
    return out


def tree_rss(pid: int | None = None) -> int:
    """RSS in bytes of a process and all its descendants (this process by default)."""
    return sum(_rss(p) for p in tree_pids(pid))


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of process `pid` so far, without its reaped children."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return sum(int(f) for f in fields[11:13]) / _TICK


def release_memory() -> None:
    """Hand memory a finished stage freed back to the system: a garbage collection, then glibc's
    `malloc_trim` (freed blocks otherwise stay in the process: after linkage at 1 M persons
    about 4.7 GB of RSS that the next stage could not use). A no-op where glibc is absent."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Meter:
    """`with Meter() as m: ...` then `m.seconds`, `m.peak_bytes`, `m.metadata()`."""

    def __init__(self, interval: float = 0.2, pid: int | None = None) -> None:
        self.interval, self.pid = interval, pid
        self.seconds = 0.0
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_bytes = max(self.peak_bytes, tree_rss(self.pid))

    def __enter__(self) -> "Meter":
        self._t0 = time.perf_counter()
        self.peak_bytes = tree_rss(self.pid)
        self._thread = threading.Thread(target=self._sample, name="reglink-meter", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_bytes = max(self.peak_bytes, tree_rss(self.pid))
        self.seconds = time.perf_counter() - self._t0

    @property
    def peak_gb(self) -> float:
        return self.peak_bytes / 1e9

    def metadata(self) -> dict[str, float]:
        """What an asset reports: `seconds`, `peak_rss_gb`."""
        return {"seconds": round(self.seconds, 1), "peak_rss_gb": round(self.peak_gb, 2)}

    def describe(self) -> str:
        return f"{self.seconds:.1f}s, peak {self.peak_gb:.1f} GB"
