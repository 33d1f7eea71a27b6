"""Deliveries: which extract file holds register R for delivery D.

A delivery is one partition of the `deliveries` DynamicPartitionsDefinition. Two kinds:
- `baseline`: the extracts named in the config YAML (`extracts:`), as `reglink run` reads them;
- `<name>` (e.g. `2025-06`, the reference month): files dropped in the landing folder as
  `<landing>/<name>/<register>.csv|.parquet`. The sensor watches that folder.

An extract's identity (sha256) is `reglink.ingest.ingest.file_sha256`; storing a delivery's
ingest result is `reglink.ingest.store_writer.store_result`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from reglink.config import PipelineConfig
from reglink.schemas import SOURCES

BASELINE = "baseline"
EXTENSIONS = (".parquet", ".csv")
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Delivery:
    register: str
    key: str
    path: Path

    @property
    def signature(self) -> str:
        """Cheap change detector for the sensor cursor: size and modification time."""
        st = self.path.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"


def landing_deliveries(cfg: PipelineConfig) -> list[Delivery]:
    if cfg.landing is None or not cfg.landing.is_dir():
        return []
    out: list[Delivery] = []
    for folder in sorted(p for p in cfg.landing.iterdir() if p.is_dir()):
        if not KEY_RE.match(folder.name) or folder.name == BASELINE:
            continue
        for register in SOURCES:
            for ext in EXTENSIONS:
                f = folder / f"{register}{ext}"
                if f.is_file():
                    out.append(Delivery(register, folder.name, f))
                    break
    return out


def all_deliveries(cfg: PipelineConfig) -> list[Delivery]:
    base = [Delivery(r, BASELINE, Path(p)) for r, p in cfg.extracts.items()]
    return base + landing_deliveries(cfg)


def find(cfg: PipelineConfig, register: str, key: str) -> Delivery | None:
    for d in all_deliveries(cfg):
        if d.register == register and d.key == key:
            return d
    return None
