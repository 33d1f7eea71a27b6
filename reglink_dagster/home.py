"""The Dagster home `./run dev` and `./run dg` use, made ready before Dagster starts.

    .venv/bin/python -m reglink_dagster.home CONFIG    prints the home's path

One home for the command line and the UI: `<warehouse folder>/.dagster` of the config, where
`reglink run` records its runs ($DAGSTER_HOME overrides it; `.dagster` in the project while the
config does not exist yet). A new home gets `reglink_dagster/dagster.yaml`; one made by an earlier
version gets the settings it lacks (no welcome pop-up), nothing else changed. Every delivery in
the landing folder is added to the `deliveries` partitions, so a month can be backfilled
(`dg launch --job reglink_delivery --partition 2025-06`) as soon as its folder is there,
before any sensor tick or `reglink run` has seen it.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SETTINGS = Path(__file__).with_name("dagster.yaml")
# settings a home made by an earlier version may lack: (top-level key, block appended)
ADDED_SETTINGS = (("nux", "nux:\n  enabled: false\n"),)


def home_for(config: Path) -> Path:
    """$DAGSTER_HOME, else the config's `<warehouse folder>/.dagster`, else `.dagster` in the
    project (no config yet, or one that does not load: the runs then fail with the reason)."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    if config.is_file():
        from reglink.config import load_config

        try:
            return load_config(config).warehouse.parent / ".dagster"
        except Exception:  # noqa: BLE001 - the code location reports the config's problem
            pass
    return PROJECT / ".dagster"


def prepare(home: Path) -> None:
    """Create the home with the project's instance settings, or add the ones it lacks."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists():
        shutil.copy(SETTINGS, target)
        return
    text = target.read_text(encoding="utf-8")
    keys = {line.split(":", 1)[0] for line in text.splitlines() if line[:1].isalpha()}
    missing = [block for key, block in ADDED_SETTINGS if key not in keys]
    if missing:
        target.write_text(text.rstrip("\n") + "\n" + "".join(missing), encoding="utf-8")


def register_landed(home: Path, config: Path) -> list[str]:
    """Add every landed delivery folder not yet known to the `deliveries` partitions (what the
    landing sensor does on its next tick); the new partition keys."""
    if not config.is_file():
        return []
    from reglink.config import load_config

    from reglink_dagster import deliveries as dl

    try:
        keys = sorted({d.key for d in dl.landing_deliveries(load_config(config))})
    except Exception:  # noqa: BLE001 - a broken config is reported where it is used
        return []
    if not keys:
        return []
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        new = [k for k in keys if not instance.has_dynamic_partition("deliveries", k)]
        if new:
            instance.add_dynamic_partitions("deliveries", new)
    return new


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m reglink_dagster.home CONFIG", file=sys.stderr)
        return 2
    config = Path(argv[0])
    home = home_for(config).resolve()
    prepare(home)
    new = register_landed(home, config)
    if new:
        print(f"deliveries found in the landing folder: {', '.join(new)}", file=sys.stderr)
    print(home)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
