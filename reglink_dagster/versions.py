"""Change detection with Dagster's own records: code versions and data versions.

Each asset declares a `code_version` (a hash of the library package it calls and the data
folders that shape its output) and materialises with a `data_version` that hashes everything
its output depends on: the extract's sha256, the upstream assets' data versions, the config
keys it reads and its code version. When the data version it would write equals the one of its
latest materialisation in the Dagster instance (and its outputs are still in place), the asset
reports "unchanged" instead of rebuilding. The instance is the one beside the warehouse, so
`reglink run` and `dg dev` share this memory; no bookkeeping table lives in the warehouse.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
from functools import cache
from pathlib import Path
from typing import Any

import dagster as dg

DATA_VERSION_TAG = "dagster/data_version"  # the tag Dagster records `data_version=` under
PROJECT_ROOT = Path(__file__).resolve().parent.parent

# stage -> (the library package its asset calls, data folders that change its output)
STAGE_CODE: dict[str, tuple[str, tuple[str, ...]]] = {
    "ingest": ("reglink.ingest", ("expectations",)),
    "linkage": ("reglink.linkage", ()),
    "tables": ("reglink.tables", ()),
    "quality": ("reglink.quality", ()),
}


@cache
def code_version(stage: str) -> str:
    """A hash of the stage's source files, its data folders and the shared declarations
    (schemas, rules): a code change re-runs the stage, an unchanged checkout does not."""
    module, data_dirs = STAGE_CODE[stage]
    spec = importlib.util.find_spec(module)
    roots: list[Path] = []
    if spec is not None and spec.submodule_search_locations:
        roots += [Path(p) for p in spec.submodule_search_locations]
    elif spec is not None and spec.origin:
        roots.append(Path(spec.origin))
    roots += [PROJECT_ROOT / d for d in data_dirs]
    base = Path(importlib.util.find_spec("reglink").origin).parent
    roots += [base / "schemas.py", base / "rules"]
    h = hashlib.sha256()
    for root in roots:
        files = sorted(root.rglob("*")) if root.is_dir() else [root]
        for f in files:
            if f.is_file() and f.suffix in {".py", ".json", ".yaml", ".yml", ".sql"}:
                h.update(str(f.relative_to(root.parent)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


def fingerprint(*parts: Any) -> str:
    """A data version from the parts an output depends on (JSON-serialised, order kept)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\x1f")
    return h.hexdigest()[:24]


def latest(instance: dg.DagsterInstance, key: dg.AssetKey,
           partition: str | None = None) -> dg.AssetMaterialization | None:
    """The asset's (or one partition's) latest materialisation in the instance, or None."""
    flt = dg.AssetRecordsFilter(asset_key=key,
                                asset_partitions=[partition] if partition is not None else None)
    records = instance.fetch_materializations(flt, limit=1).records
    return records[0].asset_materialization if records else None


def data_version(mat: dg.AssetMaterialization | None) -> str | None:
    """The data version a materialisation was recorded with."""
    return None if mat is None else (mat.tags or {}).get(DATA_VERSION_TAG)


def value(mat: dg.AssetMaterialization | None, name: str, default: Any = None) -> Any:
    """One metadata value of a materialisation (its plain Python value)."""
    if mat is None or name not in mat.metadata:
        return default
    return mat.metadata[name].value


def partition_versions(instance: dg.DagsterInstance, keys: list[dg.AssetKey],
                       partitions: list[str]) -> list[tuple[str, str, str]]:
    """(asset, partition, data version) of every materialised partition of `keys`: what a
    derived asset is built from."""
    out = []
    for key in keys:
        for p in partitions:
            v = data_version(latest(instance, key, p))
            if v is not None:
                out.append((key.to_user_string(), p, v))
    return out
