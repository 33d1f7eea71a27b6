"""`reglink synth`: write a synthetic world to a folder, atomically (a temporary sibling folder is
renamed into place, so a reader never sees half a world)."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import typer

from reglink.errors import UsageError


def synth_command(persons: int, years: int, seed: int, out: Path, scenario: Path | None = None,
                  fmt: str = "parquet") -> None:
    from reglink.synth.generate import generate

    fmt = fmt.lower()
    if fmt not in ("parquet", "csv"):
        raise UsageError(f"--format: {fmt!r} is not parquet or csv")
    if persons < 1 or years < 1:
        raise UsageError("--persons and --years must be at least 1")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / "truth" / "world.json").exists():
        raise UsageError(f"--out: {out} is not empty and is not a reglink synth output; choose another folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        res = generate(tmp, persons=persons, years=years, seed=seed, scenario=scenario, fmt=fmt)
        os.chmod(tmp, 0o755)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    c = res.counts
    typer.echo(
        f"synthetic world: {persons} persons, {years} years "
        f"({res.world['start']} to {res.world['observed_until']}), seed {seed} -> {out}\n"
        f"  border_crossings {c['border_crossings']:,}  permits {c['permits']:,}  "
        f"population_register {c['population_register']:,}  asylum_register {c['asylum_register']:,}\n"
        f"  truth: crossings {c['crossings']:,}  events {c.get('events', 0):,}  "
        f"({res.seconds:.1f} s)"
    )
    if "failed" in res.world.get("events", "") or "not importable" in res.world.get("events", ""):
        typer.echo(f"reglink: warning: truth events not written: {res.world['events']}", err=True)
