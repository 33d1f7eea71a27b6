"""The rich consoles of the command line: they wrap lines only on a terminal.

Piped to a file or another program, rich takes the width to be 80 columns and breaks long
lines there, in the middle of a path or a SQL statement, so a log cannot be searched or copied
from. Off a terminal every line is written whole (soft wrap) and tables get PIPE_WIDTH columns
before they fold a cell.
"""
from __future__ import annotations

from typing import Any

from rich.console import Console

PIPE_WIDTH = 240


def console(*, stderr: bool = False, **kwargs: Any) -> Console:
    """A Console that wraps at the terminal's width on a terminal and nowhere else."""
    c = Console(stderr=stderr, **kwargs)
    if c.is_terminal:
        return c
    kwargs.setdefault("soft_wrap", True)
    return Console(stderr=stderr, width=PIPE_WIDTH, **kwargs)
