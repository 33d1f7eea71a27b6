"""Which pipeline stages are installed, found by name so the graph loads while one is missing.

Each stage is a function another package owns (docs/architecture.md). A stage that cannot be
imported is recorded with its reason and its assets are left out of the graph: visibly absent
in the UI and in `reglink run`'s summary, never replaced by a stand-in.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Callable

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Stage:
    name: str
    module: str
    attr: str
    # extra folders whose content changes the stage's output (suites, mappings, models)
    data_dirs: tuple[str, ...] = ()


STAGES: dict[str, Stage] = {
    "ingest": Stage("ingest", "reglink.ingest", "ingest_extract", ("expectations",)),
    "linkage": Stage("linkage", "reglink.linkage", "link_persons"),
    "tables": Stage("tables", "reglink.tables", "build_tables"),
    "quality": Stage("quality", "reglink.quality", "build_report"),
}


@cache
def _load(name: str) -> tuple[Callable[..., Any] | None, str | None]:
    st = STAGES[name]
    try:
        mod = importlib.import_module(st.module)
    except Exception as exc:  # noqa: BLE001 - any import failure means "not available"
        return None, f"{st.module} cannot be imported ({type(exc).__name__}: {exc})"
    fn = getattr(mod, st.attr, None)
    if fn is None:
        return None, f"{st.module}.{st.attr} does not exist yet"
    return fn, None


def get(name: str) -> Callable[..., Any]:
    fn, reason = _load(name)
    if fn is None:
        raise RuntimeError(f"stage {name} is not available: {reason}")
    return fn


def available(name: str) -> bool:
    """Cheap, import-free check (loading the code location must stay fast): the stage's
    package exists and its __init__ names the function. The import happens at run time."""
    return _static_reason(name) is None


def _static_reason(name: str) -> str | None:
    st = STAGES[name]
    try:
        spec = importlib.util.find_spec(st.module)
    except (ImportError, ValueError) as exc:
        return f"{st.module} cannot be found ({exc})"
    if spec is None or spec.origin is None:
        return f"{st.module} is not installed yet"
    try:
        text = Path(spec.origin).read_text(encoding="utf-8")
    except OSError as exc:
        return f"{st.module}: {exc}"
    if st.attr not in text:
        return f"{st.module}.{st.attr} does not exist yet"
    return None


def missing() -> dict[str, str]:
    """Stage name -> why it is not in the graph."""
    return {n: r for n in STAGES if (r := _static_reason(n)) is not None}


@cache
def code_version(name: str) -> str:
    """A hash of the stage's source files (and data folders): a code change re-runs it."""
    st = STAGES[name]
    h = hashlib.sha256()
    spec = importlib.util.find_spec(st.module)
    roots: list[Path] = []
    if spec is not None and spec.submodule_search_locations:
        roots += [Path(p) for p in spec.submodule_search_locations]
    elif spec is not None and spec.origin:
        roots.append(Path(spec.origin))
    roots += [PROJECT_ROOT / d for d in st.data_dirs]
    # shared definitions every stage depends on
    import reglink
    base = Path(reglink.__file__).parent
    roots += [base / "schemas.py", base / "rules"]
    for root in roots:
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for f in files:
            if f.is_file() and f.suffix in {".py", ".json", ".yaml", ".yml", ".sql"}:
                h.update(str(f.relative_to(root.parent)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]
