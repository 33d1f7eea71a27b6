"""The reglink code location: `dg dev` / `dagster dev` load `defs` from here.

Everything is discovered from `reglink_dagster/defs/` (dg's defs-folder convention; the same
autoloading `load_from_defs_folder` does, pointed at this folder because dg looks for a
project's root module under src/, where reglink itself lives). `reglink run` executes the jobs
of this same object in-process (reglink_dagster.orchestration)."""
from __future__ import annotations

from pathlib import Path

import dagster as dg

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dg.definitions
def defs() -> dg.Definitions:
    import reglink_dagster.defs

    return dg.ComponentTree.from_module(defs_module=reglink_dagster.defs,
                                        project_root=PROJECT_ROOT).build_defs()
