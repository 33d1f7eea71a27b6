"""A hook so `reglink run` can show progress while the asset graph executes in-process.

Assets call `notify`; under `dg dev` nobody listens and it does nothing."""
from __future__ import annotations

from typing import Callable

Listener = Callable[[str, str, str], None]  # (asset, status, detail)
_listeners: list[Listener] = []


def notify(asset: str, status: str, detail: str = "") -> None:
    for fn in list(_listeners):
        fn(asset, status, detail)


def add(fn: Listener) -> None:
    _listeners.append(fn)


def remove(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)
