"""True migration events: the rule engine applied to the TRUE crossings with the true initial
status, under every preset rule, observed to the end of the simulated horizon (so every event in
the register period is final)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from reglink.rules.rule import PRESETS
from reglink.synth.timeline import Period, date_of
from reglink.synth.writer import Sink

EVENTS_SCHEMA = {"person_id": pl.Int64, "event_type": pl.Utf8, "event_date": pl.Date,
                 "provisional": pl.Boolean, "rule": pl.Utf8, "seq": pl.Int32,
                 "final_in_register_period": pl.Boolean}


def engine_available() -> bool:
    try:
        from reglink.rules.engine import derive_events  # noqa: F401
    except ImportError:
        return False
    return True


class TruthEvents:
    """Collects events chunk by chunk (events are per person, so chunks are independent)."""

    def __init__(self, path: Path, period: Period) -> None:
        self.period = period
        self.available = engine_available()
        self.error: str | None = None if self.available else "reglink.rules.engine not importable"
        self.sink = Sink(path, EVENTS_SCHEMA)

    def add(self, person_id: np.ndarray, x: dict[str, np.ndarray], status: pl.DataFrame) -> None:
        if not self.available or len(person_id) == 0:
            return
        from reglink.rules.engine import derive_events

        crossings = pl.DataFrame({
            "person_id": person_id,
            "direction": pl.Series(["ENTRY", "EXIT"]).gather(x["dir"]),
            "crossing_date": pl.Series(x["day"].astype(np.int32)).cast(pl.Date),
            "sequence": x["seq"],
        })
        end = date_of(self.period.end)
        last_final = date_of(self.period.observed_until)
        for name, rule in PRESETS.items():
            try:
                ev = derive_events(crossings, rule, observed_until=end, initial_status=status)
            except Exception as exc:  # the engine is another package: never lose the world over it
                self.available = False
                self.error = f"rule engine failed on rule {name}: {type(exc).__name__}: {exc}"
                return
            if ev.height == 0:
                continue
            ev = ev.with_columns(rule=pl.lit(name), seq=pl.col("sequence"),
                                 final_in_register_period=pl.col("event_date") <= pl.lit(last_final))
            self.sink.write(ev)

    def close(self) -> int:
        self.sink.close()
        return self.sink.rows
