"""The process-tree sampler behind every stage's peak memory (`reglink.measure`)."""
from __future__ import annotations

import subprocess
import sys
import threading

from reglink.measure import tree_pids, tree_rss


def test_a_child_started_by_another_thread_is_in_the_tree():
    """The JVM starts Spark's Python workers from one of its threads, not the main one, and
    that thread lives on (as here: it waits until the tree is read; once the thread that
    started a child ends, the kernel's per-thread children lists may miss the child)."""
    started: list[subprocess.Popen] = []
    ready, done = threading.Event(), threading.Event()

    def starter() -> None:
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]))
        ready.set()
        done.wait(30)

    t = threading.Thread(target=starter)
    t.start()
    ready.wait(30)
    try:
        assert started[0].pid in tree_pids()
        assert tree_rss() > 0
    finally:
        done.set()
        t.join()
        started[0].kill()
        started[0].wait()


def test_a_process_that_ended_is_walked_without_error():
    """A sampler walks the tree while processes end: an ended one counts itself only, with no
    memory and no error (a process ending between the listing of /proc and the read of its
    threads raised FileNotFoundError and stopped a benchmark's sampling thread)."""
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    assert tree_pids(p.pid) == [p.pid]
    assert tree_rss(p.pid) == 0
