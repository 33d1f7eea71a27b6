"""Generate a synthetic world: registers in the canonical schemas plus the truth.

Persons are simulated in chunks (scenario `chunk_persons`); every chunk has its own random
stream derived from (seed, chunk number), so the same seed gives the same world, and a chunk's
arrays are freed before the next one starts.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from reglink.schemas import REGISTERS, SOURCES, TRAVEL_REASON
from reglink.synth import registers as regs
from reglink.synth.hard_cases import apply_hard_cases
from reglink.synth.identity import addresses, passport_plan, true_names
from reglink.synth.movements import KIND, make_crossings
from reglink.synth.names import load_names
from reglink.synth.people import PROFILES, make_persons
from reglink.synth.scenario import data_file, load_scenario, read_yaml
from reglink.synth.timeline import NEVER, Period, date_of
from reglink.synth.truth_events import TruthEvents
from reglink.synth.writer import Sink, register_schema
from reglink.synth import noise as nz

# the registers the synthesiser writes (those declared with a record-id prefix), in the
# declared order, and the column each one's records are ordered by
PREFIX = {n: r.synth_prefix for n, r in REGISTERS.items() if r.synth_prefix}
SORT_BY = {n: r.synth_sort for n, r in REGISTERS.items() if r.synth_prefix}
INVALID_STREAM = 7  # tags the random streams of the invalid-record noise (noise.invalid_records)
HARD_STREAM = 8  # tags the random streams of the hard cases (namesakes, twins, juniors)

PERSONS_SCHEMA = {
    "person_id": pl.Int64, "profile": pl.Utf8, "sex": pl.Utf8, "date_of_birth": pl.Date,
    "country_of_birth": pl.Utf8, "citizenship": pl.Utf8, "naturalisation_date": pl.Date,
    "birth_date": pl.Date, "death_date": pl.Date, "parent_id": pl.Int64,
    "resident_at_start": pl.Boolean, "given_names": pl.Utf8, "surname": pl.Utf8,
    "name_group": pl.Utf8, "hard_case": pl.Utf8,
}
RECORD_SCHEMA = {"source": pl.Utf8, "record_id": pl.Utf8, "person_id": pl.Int64,
                 "duplicate": pl.Boolean, "noise": pl.Utf8}
CROSSING_SCHEMA = {"person_id": pl.Int64, "direction": pl.Utf8, "crossing_date": pl.Date,
                   "seq": pl.Int32, "kind": pl.Utf8, "travel_reason": pl.Utf8, "observed": pl.Boolean,
                   "recorded": pl.Boolean, "record_id": pl.Utf8}
STATUS_SCHEMA = {"person_id": pl.Int64, "initial_status": pl.Utf8, "in_country_at_start": pl.Boolean}


@dataclass
class SynthResult:
    out: Path
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    world: dict[str, Any] = field(default_factory=dict)


def generate(out: str | Path, persons: int, years: int = 6, seed: int = 1,
             scenario: str | Path | dict | None = None, fmt: str = "parquet",
             events: bool = True) -> SynthResult:
    """Write a synthetic world into `out` (registers, truth/, reglink.yaml); see
    docs/synthetic.md. `scenario`: a YAML path or a mapping of overrides merged over
    synthetic/default.yaml. Registers are written as `fmt` (parquet or csv); the truth is
    always Parquet. Returns the row counts per output."""
    t_start = time.perf_counter()
    scen = load_scenario(scenario)
    period = Period.from_scenario(scen, years)
    pools = load_names()
    places = read_yaml(data_file("places.yaml"))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    truth = out / "truth"
    truth.mkdir(exist_ok=True)
    sinks = {s: Sink(out / s, register_schema(s), fmt) for s in PREFIX}
    t_sinks = {
        "persons": Sink(truth / "persons", PERSONS_SCHEMA),
        "record_person": Sink(truth / "record_person", RECORD_SCHEMA),
        "crossings": Sink(truth / "crossings", CROSSING_SCHEMA),
        "initial_status": Sink(truth / "initial_status", STATUS_SCHEMA),
    }
    ev = TruthEvents(truth / "events", period) if events else None
    counters = {s: 0 for s in PREFIX}
    counters["permit_number"] = 0
    counters["case_number"] = 0
    chunk = max(1, int(scen["chunk_persons"]))
    profile_totals = np.zeros(len(PROFILES), np.int64)
    for ci, first in enumerate(range(0, persons, chunk)):
        n = min(chunk, persons - first)
        rng = np.random.default_rng([int(seed), ci])
        a = make_persons(rng, scen, period, n, pools)
        # a stream of its own: the rates change nothing but the persons they touch
        apply_hard_cases(np.random.default_rng([int(seed), ci, HARD_STREAM]), a, scen, period, pools)
        profile_totals += np.bincount(a["profile"], minlength=len(PROFILES))
        pid = np.arange(first, first + n, dtype=np.int64) + 1
        passport_plan(rng, a, scen, period)
        addr = addresses(rng, n, places)
        addr_old = addresses(rng, n, places)
        x = make_crossings(rng, a, scen, period)
        border, recorded, observed = regs.border_register(rng, a, x, pid, scen, period, pools, places)
        frames = {
            "border_crossings": border,
            "population_register": regs.population_register(rng, a, pid, scen, period, pools, addr),
            "permits": regs.permits_register(rng, a, x, pid, scen, period, pools, addr, addr_old),
            "asylum_register": regs.asylum_register(rng, a, pid, scen, period, pools),
        }
        xrow_record = _write_registers(frames, len(x["idx"]), rng, (int(seed), ci), scen, counters,
                                       sinks, t_sinks["record_person"])
        t_sinks["crossings"].write(nz.frame({
            "person_id": pid[x["idx"]],
            "direction": pl.Series(["ENTRY", "EXIT"]).gather(x["dir"]),
            "crossing_date": nz.days_to_date(x["day"]),
            "seq": x["seq"],
            "kind": pl.Series(list(KIND)).gather(x["kind"]),
            "travel_reason": pl.Series(list(TRAVEL_REASON)).gather(x["reason"]),
            "observed": observed,
            "recorded": recorded,
            "record_id": xrow_record,
        }))
        t_sinks["persons"].write(_persons_frame(a, pid, pools, period))
        status = nz.frame({"person_id": pid,
                               "initial_status": np.where(a["home0"], "RESIDENT", "NON_RESIDENT")})
        t_sinks["initial_status"].write(status.with_columns(in_country_at_start=pl.Series(a["in0"])))
        if ev is not None:
            ev.add(pid[x["idx"]], x, status)
        del a, x, frames, border
    counts = {}
    for name, s in {**sinks, **t_sinks}.items():
        s.close()
        counts[name] = s.rows
    events_note = "not requested"
    if ev is not None:
        counts["events"] = ev.close()
        events_note = ev.error or "derived with reglink.rules.engine.derive_events on the true crossings"
    world = _world(period, seed, persons, years, fmt, profile_totals, counts, events_note,
                   scenario, scen)
    (truth / "world.json").write_text(json.dumps(world, indent=2), encoding="utf-8")
    _write_config(out, period, fmt)
    return SynthResult(out=out, counts=counts, seconds=time.perf_counter() - t_start, world=world)


def _write_registers(frames: dict[str, pl.DataFrame], n_crossings: int, rng: np.random.Generator,
                     chunk_seed: tuple[int, int], scen: dict, counters: dict[str, int],
                     sinks: dict[str, Sink], record_person: Sink) -> pl.Series:
    """One chunk's register records written: shuffled within their sort date, numbered on from
    `counters`, some made invalid (a random stream of their own per chunk and register), and
    their persons in truth/record_person. The record_id of each true crossing (null: not
    recorded), for truth/crossings."""
    xrow_record = pl.Series("record_id", [None] * n_crossings, dtype=pl.Utf8)
    for source, df in frames.items():
        if df.height == 0:
            continue
        df = df.with_columns(_r=pl.Series(rng.random(df.height))).sort([SORT_BY[source], "_r"])
        ids = counters[source] + np.arange(df.height) + 1
        df = df.with_columns(record_id=pl.lit(PREFIX[source]) + pl.Series(ids).cast(pl.Utf8).str.zfill(10))
        counters[source] += df.height
        if source == "permits":
            df = _permit_numbers(df, counters)
        if source == "asylum_register":
            df = _case_numbers(df, counters)
        # invalid records: a stream of their own per (chunk, register), so the rate changes
        # nothing but the records it corrupts
        inv_rng = np.random.default_rng([*chunk_seed, INVALID_STREAM, SOURCES.index(source) + 1])
        df, invalid = nz.invalid_records(inv_rng, df, source,
                                         float(scen["noise"][source].get("invalid", 0.0)))
        df = df.with_columns(_noise=nz.add_label(df.get_column("_noise"), invalid))
        if source == "border_crossings":
            orig = df.filter(~pl.col("_dup"))
            xrow_record = xrow_record.scatter(orig["_xrow"].to_numpy(), orig["record_id"])
        sinks[source].write(df)
        record_person.write(df.select(
            source=pl.lit(source), record_id="record_id", person_id="_pid",
            duplicate="_dup", noise="_noise"))
    return xrow_record


def _world(period: Period, seed: int, persons: int, years: int, fmt: str,
           profile_totals: np.ndarray, counts: dict[str, int], events_note: str,
           scenario: str | Path | dict | None, scen: dict) -> dict:
    """truth/world.json: the world's period, seed, sizes, counts and scenario."""
    return {
        "home_country": period.home,
        "start": date_of(period.start).isoformat(),
        "observed_until": date_of(period.observed_until).isoformat(),
        "end": date_of(period.end).isoformat(),
        "seed": int(seed),
        "persons": int(persons),
        "years": int(years),
        "format": fmt,
        "profiles": {p: int(c) for p, c in zip(PROFILES, profile_totals)},
        "counts": counts,
        "events": events_note,
        "scenario_file": (str(scenario) if isinstance(scenario, (str, Path)) else
                          "synthetic/default.yaml" + (" + overrides" if scenario else "")),
        "scenario": json.loads(json.dumps(scen, default=str)),
        "notes": ("Registers hold what happened from start to observed_until. truth/crossings "
                  "runs to `end` (observed = false after observed_until) so that truth events "
                  "under every preset rule are final for the register period."),
    }


def _write_config(out: Path, period: Period, fmt: str) -> None:
    """reglink.yaml beside the registers: a pipeline config pointing at them."""
    cfg = {
        "home_country": period.home,
        "rule": "12-16",
        "observed_until": date_of(period.observed_until).isoformat(),
        "extracts": {s: f"{s}.{fmt}" for s in PREFIX},
        "warehouse": "reglink.duckdb",
        "reports": "reports/",
    }
    (out / "reglink.yaml").write_text(
        "# Pipeline config for this synthetic world (docs/reference.md#pipeline-configuration); written by reglink synth.\n"
        + yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")


def _permit_numbers(df: pl.DataFrame, counters: dict[str, int]) -> pl.DataFrame:
    c = counters["permit_number"] + np.arange(df.height) + 1
    counters["permit_number"] += df.height
    v = (c * 48_271_487 + 7_654_321) % 100_000_000  # bijective: unique numbers
    prefix = pl.col("permit_kind").str.slice(0, 1) + pl.lit("P")
    return df.with_columns(permit_number=prefix + pl.Series(v).cast(pl.Utf8).str.zfill(8))


def _case_numbers(df: pl.DataFrame, counters: dict[str, int]) -> pl.DataFrame:
    c = counters["case_number"] + np.arange(df.height) + 1
    counters["case_number"] += df.height
    return df.with_columns(case_number=pl.lit("AS") + pl.col("application_date").dt.year().cast(pl.Utf8)
                           + pl.lit("-") + pl.Series(c).cast(pl.Utf8).str.zfill(7))


def _persons_frame(a: dict[str, np.ndarray], pid: np.ndarray, pools, period: Period) -> pl.DataFrame:
    g, s = true_names(pools, a)
    born_in = a["dob"] >= period.start

    def opt(days: np.ndarray, mask: np.ndarray) -> pl.Series:
        return nz.days_to_date(np.where(mask, days, 0)).to_frame("d").select(
            pl.when(pl.Series(mask)).then(pl.col("d"))).to_series()

    return nz.frame({
        "person_id": pid,
        "profile": np.array(PROFILES)[a["profile"]],
        "sex": a["sex"],
        "date_of_birth": nz.days_to_date(a["dob"]),
        "country_of_birth": a["cob"],
        "citizenship": a["cit"],
        "naturalisation_date": opt(a["nat_date"], a["nat_date"] < NEVER),
        "birth_date": opt(a["dob"], born_in),
        "death_date": opt(a["death"], a["death"] < NEVER),
        "parent_id": np.where(a["parent"] >= 0, pid[0] + a["parent"], -1),
        "resident_at_start": a["home0"] & ~born_in,
        "given_names": g.astype(str),
        "surname": s.astype(str),
        "name_group": np.array(pools.groups)[a["name_group"]],
        "hard_case": a["hard_case"],
    }).with_columns(parent_id=pl.when(pl.col("parent_id") >= 0).then(pl.col("parent_id")))
