"""Deliveries: which extract file holds register R for delivery D.

A delivery is one partition of the `deliveries` DynamicPartitionsDefinition. Two kinds:
- `baseline`: the extracts named in the config YAML (`extracts:`), as `reglink run` reads them;
- `<name>` (e.g. `2025-06`, the reference month): files dropped in the landing folder as
  `<landing>/<name>/<register>.csv|.parquet`. The sensor watches that folder.

An extract's identity (sha256) is `reglink.ingest.ingest.file_sha256`; storing a delivery's
ingest result is `reglink.ingest.store_writer.store_result`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from reglink import secure
from reglink.config import PipelineConfig
from reglink.errors import Problem
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
        try:
            st = self.path.lstat()
        except OSError:
            return "missing"
        return f"{st.st_size}:{st.st_mtime_ns}"


def _register_files(folder: Path) -> dict[str, list[Path]]:
    """The files in a landing folder that name a register (any letter case), per register."""
    names = {f"{r}{ext}": r for r in SOURCES for ext in EXTENSIONS}
    out: dict[str, list[Path]] = {}
    for f in sorted(folder.iterdir()):
        register = names.get(f.name.lower())
        if register is not None:
            out.setdefault(register, []).append(f)
    return out


def landing_deliveries(cfg: PipelineConfig) -> list[Delivery]:
    """One Delivery per register per landed folder (the first file when a folder holds two for
    one register: `problems` refuses that delivery)."""
    if cfg.landing is None or not cfg.landing.is_dir():
        return []
    out: list[Delivery] = []
    for folder in sorted(p for p in cfg.landing.iterdir() if p.is_dir()):
        if not KEY_RE.match(folder.name) or folder.name == BASELINE or folder.is_symlink():
            continue  # `problems` says why
        for register, files in sorted(_register_files(folder).items()):
            out.append(Delivery(register, folder.name, files[0]))
    return out


def _as_written(cfg: PipelineConfig, register: str) -> Path:
    """A configured extract's path as the config wrote it (made absolute, symbolic links not
    followed), so a link is seen as a link."""
    raw = (cfg.raw.get("extracts") or {}).get(register)
    if raw and cfg.config_path is not None:
        return Path(os.path.abspath(cfg.config_path.parent / Path(str(raw)).expanduser()))
    return Path(cfg.extracts[register])


def all_deliveries(cfg: PipelineConfig) -> list[Delivery]:
    base = [Delivery(r, BASELINE, _as_written(cfg, r)) for r in cfg.extracts]
    return base + landing_deliveries(cfg)


def extract_problem(d: Delivery) -> Problem | None:
    """Why a delivery's file cannot be taken (missing, a symbolic link, not a regular file),
    naming the file, the register and the delivery."""
    why = secure.regular_file_problem(d.path)
    return Problem(str(d.path), f"{why} ({d.register}, delivery {d.key})") if why else None


def problems(cfg: PipelineConfig) -> list[Problem]:
    """Every reason to refuse the deliveries as they stand: a file that is not a plain regular
    file, or two files for one register in one landed delivery (which one is meant?)."""
    out = [p for d in all_deliveries(cfg) if (p := extract_problem(d))]
    if cfg.landing is not None and cfg.landing.is_dir():
        for folder in sorted(p for p in cfg.landing.iterdir() if p.is_dir()):
            if folder.name.startswith("."):
                continue  # hidden: system files, not a delivery
            if folder.is_symlink():
                out.append(Problem(str(folder), "is a symbolic link; a delivery is a folder of "
                                                "its own in the landing folder"))
                continue
            if not KEY_RE.match(folder.name) or folder.name == BASELINE:
                out.append(Problem(str(folder), "is not a delivery name (letters, digits, . _ - "
                                                "such as 2025-06; not 'baseline'); nothing in it "
                                                "would be read"))
                continue
            known = {f"{r}{ext}" for r in SOURCES for ext in EXTENSIONS}
            for f in sorted(folder.iterdir()):
                if f.suffix.lower() in EXTENSIONS and f.name.lower() not in known:
                    out.append(Problem(str(f), "names no register; call it <register>.csv or "
                                               f".parquet with a register among {', '.join(SOURCES)}"))
            for register, files in sorted(_register_files(folder).items()):
                if len(files) > 1:
                    out.append(Problem(str(folder), f"delivery {folder.name} has {len(files)} "
                                       f"files for {register} ({', '.join(f.name for f in files)})"
                                       "; deliver one"))
    return out


def find(cfg: PipelineConfig, register: str, key: str) -> Delivery | None:
    for d in all_deliveries(cfg):
        if d.register == register and d.key == key:
            return d
    return None
