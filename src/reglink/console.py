"""The rich consoles of the command line: they wrap lines only on a terminal.

Piped to a file or another program, rich takes the width to be 80 columns and breaks long
lines there, in the middle of a path or a SQL statement, so a log cannot be searched or copied
from. Off a terminal every line is written whole (soft wrap) and tables get PIPE_WIDTH columns
before they fold a cell.
"""
from __future__ import annotations

import os
import sys
from typing import Any, TextIO

from rich.console import Console

PIPE_WIDTH = 240


def console(*, stderr: bool = False, **kwargs: Any) -> Console:
    """A Console that wraps at the terminal's width on a terminal and nowhere else."""
    c = Console(stderr=stderr, **kwargs)
    if c.is_terminal:
        return c
    kwargs.setdefault("soft_wrap", True)
    return Console(stderr=stderr, width=PIPE_WIDTH, **kwargs)


def unredirected_stderr() -> TextIO:
    """A text stream on a duplicate of standard error's file descriptor, taken now.

    What is written to it reaches the terminal (or the log file) even while a library has
    pointed descriptor 2 elsewhere: Dagster's in-process runs capture each step's output so,
    and copy it back through a `tail` process that is stopped when the step ends -- on a
    loaded machine before it copied the last lines, so `reglink run` lost the progress line
    drawn as a run's last step ended. Where standard error has no descriptor (a test's
    in-memory capture), standard error itself. The caller closes it (`close_unredirected`)."""
    try:
        fd = os.dup(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return sys.stderr
    return os.fdopen(fd, "w", buffering=1, errors="replace",
                     encoding=getattr(sys.stderr, "encoding", None) or "utf-8")


def close_unredirected(stream: TextIO) -> None:
    """Close a stream `unredirected_stderr` opened (never standard error itself)."""
    if stream is not sys.stderr:
        stream.close()
