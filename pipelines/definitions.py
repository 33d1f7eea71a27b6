"""The reglink code location: `dg dev` / `dagster dev` load `defs` from here.

Everything is discovered from `pipelines/defs/` (dg's defs-folder convention; the same
autoloading `load_from_defs_folder` does, pointed at this folder because dg looks for a
project's root module under src/, where reglink itself lives). `reglink run` executes the jobs
of this same object in-process (reglink.orchestration)."""
from __future__ import annotations

from pathlib import Path

import dagster as dg

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dg.definitions
def defs() -> dg.Definitions:
    import pipelines.defs

    return dg.ComponentTree.from_module(defs_module=pipelines.defs,
                                        project_root=PROJECT_ROOT).build_defs()
