"""The synthetic world keeps its own promises: canonical schemas, every record traceable to its
true person, true crossings that alternate, registers cut at observed_until, deterministic."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from reglink.config import load_config
from reglink.schemas import SCHEMAS
from reglink.synth import generate
from reglink.synth.commands import synth_command
from reglink.errors import UsageError

PERSONS = 3000


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world") / "w"
    generate(out, persons=PERSONS, years=6, seed=7)
    return out


def _reg(world: Path, source: str) -> pl.DataFrame:
    return pl.read_parquet(world / f"{source}.parquet")


def _truth(world: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(world / "truth" / f"{name}.parquet")


def _valid(world: Path, source: str) -> pl.DataFrame:
    """A register without the records its `invalid` noise made invalid on purpose (truth noise
    `invalid:<column>`; tests/test_synth_invalid.py checks those reach the quarantine)."""
    marked = _truth(world, "record_person").filter(
        (pl.col("source") == source) & pl.col("noise").str.contains("invalid:", literal=True))
    return _reg(world, source).join(marked.select("record_id"), on="record_id", how="anti")


def test_registers_have_canonical_columns_codes_and_unique_ids(world: Path):
    for source, sch in SCHEMAS.items():
        df = _reg(world, source)
        assert df.columns == sch.names, source
        assert df.height > 0, source
        assert df["record_id"].n_unique() == df.height, f"{source}: record ids not unique"
        df = _valid(world, source)  # the codes and dates below hold except where made invalid
        for col in sch.required:
            assert df[col].null_count() == 0, f"{source}.{col} has nulls"
        for c in sch.columns:
            values = df[c.name].drop_nulls()
            if c.codes:
                bad = set(values.unique()) - set(c.codes)
                assert not bad, f"{source}.{c.name}: {bad}"
            if c.kind == "country":
                assert values.str.contains(r"^[A-Z]{3}$").all(), f"{source}.{c.name}"
        # partial dates of birth only in the documented forms
        dob = df["date_of_birth"].drop_nulls()
        assert dob.str.contains(r"^\d{4}-\d{2}-\d{2}$").all()


def test_every_record_traces_to_one_true_person(world: Path):
    rp = _truth(world, "record_person")
    persons = _truth(world, "persons")
    assert rp.select("source", "record_id").is_unique().all()
    for source in SCHEMAS:
        ids = _reg(world, source)["record_id"]
        mine = rp.filter(pl.col("source") == source)["record_id"]
        assert ids.sort().equals(mine.sort()), source
    assert rp["person_id"].is_in(persons["person_id"].implode()).all()
    # a population-register number belongs to one true person (duplicates get their own number)
    pr = _reg(world, "population_register").join(
        rp.filter(pl.col("source") == "population_register"), on="record_id")
    per_number = pr.group_by("person_number").agg(pl.col("person_id").n_unique())
    assert (per_number["person_id"] == 1).all()
    # passport numbers are never shared between true persons
    bc = _reg(world, "border_crossings").join(
        rp.filter(pl.col("source") == "border_crossings"), on="record_id")
    per_doc = bc.group_by("document_number").agg(pl.col("person_id").n_unique())
    assert (per_doc["person_id"] == 1).all()


def test_true_crossings_alternate_from_the_initial_status(world: Path):
    x = _truth(world, "crossings").sort("person_id", "seq")
    st = _truth(world, "initial_status")
    assert st["person_id"].n_unique() == PERSONS
    x = x.join(st, on="person_id").with_columns(
        prev=pl.col("direction").shift(1).over("person_id"),
        prev_date=pl.col("crossing_date").shift(1).over("person_id"))
    assert x.filter(pl.col("prev") == pl.col("direction")).height == 0
    assert x.filter(pl.col("prev_date") > pl.col("crossing_date")).height == 0
    first = x.filter(pl.col("seq") == 1)
    # the first crossing leaves where the person is at the start ...
    wrong = first.filter(pl.col("in_country_at_start") != (pl.col("direction") == "EXIT"))
    assert wrong.height == 0
    # ... which is usually, not always, what the residence status says: residents on a trip when
    # the data start come back (ENTRY), visitors in the country leave (EXIT)
    away = first.filter(pl.col("in_country_at_start") != (pl.col("initial_status") == "RESIDENT"))
    assert 0 < away.height < 0.1 * first.height
    assert set(away["direction"].unique()) == {"ENTRY", "EXIT"}
    # seq numbers 1..n per person without gaps
    gaps = x.group_by("person_id").agg(ok=(pl.col("seq").max() == pl.len()))
    assert gaps["ok"].all()
    # same-day crossings exist (day trips, daily commuters) and are ordered by seq
    assert x.filter(pl.col("prev_date") == pl.col("crossing_date")).height > 0


def test_border_records_match_their_true_crossing_and_misses_are_marked(world: Path):
    x = _truth(world, "crossings")
    bc = _reg(world, "border_crossings")
    valid = _valid(world, "border_crossings")  # an invalid record may carry a wrong date
    w = json.loads((world / "truth" / "world.json").read_text())
    until = dt.date.fromisoformat(w["observed_until"])
    assert valid["crossing_date"].max() <= until
    assert valid["crossing_date"].min() >= dt.date.fromisoformat(w["start"])
    # the truth runs at least 16 months beyond the registers
    assert x["crossing_date"].max() > until + dt.timedelta(days=487)
    assert (x["observed"] == (x["crossing_date"] <= until)).all()
    assert x.filter(pl.col("recorded") & ~pl.col("observed")).height == 0
    assert (x["recorded"] == x["record_id"].is_not_null()).all()
    joined = x.filter(pl.col("recorded")).join(bc, on="record_id", suffix="_rec")
    assert joined.height == x["recorded"].sum()
    same = joined.filter(pl.col("record_id").is_in(valid["record_id"].implode()))
    assert (same["direction"] == same["direction_rec"]).all()
    assert (same["crossing_date"] == same["crossing_date_rec"]).all()
    # every non-duplicate border record is one true crossing
    rp = _truth(world, "record_person").filter(pl.col("source") == "border_crossings")
    assert rp.filter(~pl.col("duplicate")).height == joined.height


def test_profiles_and_world_file(world: Path):
    persons = _truth(world, "persons")
    w = json.loads((world / "truth" / "world.json").read_text())
    assert w["home_country"] == "NZL" and w["seed"] == 7 and w["persons"] == PERSONS
    assert sum(w["profiles"].values()) == PERSONS
    got = set(persons["profile"].unique())
    assert {"native_resident", "immigrant_new", "student", "seasonal_worker", "tourist", "commuter",
            "asylum_seeker", "birth", "child", "permit_no_show"} <= got
    # babies are born in the period, children share their parent's surname
    births = persons.filter(pl.col("profile") == "birth")
    assert births["birth_date"].is_not_null().all()
    kids = persons.filter(pl.col("parent_id").is_not_null()).join(
        persons.select("person_id", parent_surname="surname"), left_on="parent_id", right_on="person_id")
    assert (kids["surname"] == kids["parent_surname"]).all()
    # commuters: many crossings, few persons
    x = _truth(world, "crossings").join(persons.select("person_id", "profile"), on="person_id")
    per = x.group_by("profile").agg(n=pl.len(), p=pl.col("person_id").n_unique())
    commute = per.filter(pl.col("profile") == "commuter").row(0, named=True)
    assert commute["n"] / commute["p"] > 100
    # permit no-shows have permits but never cross
    ns = persons.filter(pl.col("profile") == "permit_no_show")["person_id"]
    assert x.filter(pl.col("person_id").is_in(ns.implode())).height == 0
    rp = _truth(world, "record_person")
    assert rp.filter((pl.col("source") == "permits") & pl.col("person_id").is_in(ns.implode())).height > 0


def test_pipeline_config_points_at_the_extracts(world: Path):
    cfg = load_config(world / "reglink.yaml")
    w = json.loads((world / "truth" / "world.json").read_text())
    assert cfg.home_country == "NZL"
    assert cfg.observed_until == dt.date.fromisoformat(w["observed_until"])
    assert set(cfg.extracts) == set(SCHEMAS)
    assert all(p.exists() for p in cfg.extracts.values())
    assert cfg.warehouse == (world / "reglink.duckdb").resolve()


def test_truth_events_follow_the_rules(world: Path):
    ev = _truth(world, "events")
    if ev.height == 0:
        pytest.skip("rule engine not available when the world was generated")
    x = _truth(world, "crossings")
    persons = _truth(world, "persons")
    assert set(ev["rule"].unique()) == {"12-16", "6-12", "9-12", "12-12"}
    # every event is a true crossing of that person on that day with that sequence number
    j = ev.join(x, left_on=["person_id", "event_date", "seq"],
                right_on=["person_id", "crossing_date", "seq"], how="left")
    assert j["direction"].null_count() == 0
    assert ((j["event_type"] == "IMMIGRATION") == (j["direction"] == "ENTRY")).all()
    # the register period is final: at least 16 months of truth after each event in it
    assert not ev.filter(pl.col("final_in_register_period") & pl.col("provisional")).height
    # seasonal workers (4-7 months a year) migrate under 6-12 but hardly under 12-16
    seas = ev.join(persons, on="person_id").filter(pl.col("profile") == "seasonal_worker")
    n6 = seas.filter(pl.col("rule") == "6-12").height
    n12 = seas.filter(pl.col("rule") == "12-16").height
    assert n6 > 3 * max(n12, 1)


def test_same_seed_same_world_other_seed_other_world(tmp_path: Path):
    a = generate(tmp_path / "a", persons=400, years=3, seed=11, events=False)
    b = generate(tmp_path / "b", persons=400, years=3, seed=11, events=False)
    c = generate(tmp_path / "c", persons=400, years=3, seed=12, events=False)
    assert a.counts == b.counts
    for f in ["border_crossings", "permits", "population_register", "asylum_register",
              "truth/crossings", "truth/persons", "truth/record_person"]:
        da, db = pl.read_parquet(a.out / f"{f}.parquet"), pl.read_parquet(b.out / f"{f}.parquet")
        assert da.equals(db), f
    assert not pl.read_parquet(a.out / "truth/persons.parquet").equals(
        pl.read_parquet(c.out / "truth/persons.parquet"))


def test_csv_format_and_chunking(tmp_path: Path):
    res = generate(tmp_path / "csv", persons=500, years=2, seed=3, fmt="csv",
                   scenario={"chunk_persons": 150}, events=False)
    for source, sch in SCHEMAS.items():
        df = pl.read_csv(res.out / f"{source}.csv", infer_schema=False)
        assert df.columns == sch.names
        assert df.height == res.counts[source]
        assert df["record_id"].n_unique() == df.height  # unique across chunks
    persons = pl.read_parquet(res.out / "truth/persons.parquet")
    assert persons["person_id"].to_list() == list(range(1, 501))
    assert "csv" in (res.out / "reglink.yaml").read_text()


def test_command_replaces_atomically_and_refuses_foreign_folders(tmp_path: Path, capsys):
    out = tmp_path / "w"
    synth_command(persons=200, years=2, seed=1, out=out)
    synth_command(persons=250, years=2, seed=1, out=out)  # a second run replaces the world
    assert json.loads((out / "truth/world.json").read_text())["persons"] == 250
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(UsageError, match="not empty"):
        synth_command(persons=10, years=1, seed=1, out=other)
    with pytest.raises(UsageError, match="--format"):
        synth_command(persons=10, years=1, seed=1, out=tmp_path / "x", fmt="xlsx")


def test_bad_scenarios_fail_with_one_line_naming_the_file(tmp_path: Path):
    from reglink.errors import ReglinkError

    bad = tmp_path / "s.yaml"
    bad.write_text("noise:\n  border_crossings:\n    missing_exit: 3\n")
    with pytest.raises(ReglinkError, match=r"s\.yaml: noise\.border_crossings\.missing_exit: 3"):
        generate(tmp_path / "w", persons=10, scenario=bad)
    bad.write_text("nois: {}\n")
    with pytest.raises(ReglinkError, match="unknown scenario key"):
        generate(tmp_path / "w", persons=10, scenario=bad)
    with pytest.raises(ReglinkError, match="scenario file not found"):
        generate(tmp_path / "w", persons=10, scenario=tmp_path / "none.yaml")


def test_world_is_written_without_events_when_the_engine_fails(tmp_path: Path, monkeypatch):
    import reglink.synth.truth_events as te

    monkeypatch.setattr(te, "engine_available", lambda: False)
    res = generate(tmp_path / "w", persons=300, years=2, seed=2)
    assert res.counts["events"] == 0
    assert "not importable" in res.world["events"]
    ev = pl.read_parquet(res.out / "truth/events.parquet")
    assert ev.height == 0 and {"person_id", "event_type", "rule"} <= set(ev.columns)
    assert res.counts["border_crossings"] > 0


def test_dates_within_a_record_are_in_the_schema_order(world: Path):
    """The registers' own consistency rules hold (ingest would quarantine a violation)."""
    for source, sch in SCHEMAS.items():
        df = _valid(world, source)
        for early, late in sch.date_order:
            e = pl.col(early)
            if early == "date_of_birth":
                e = pl.col(early).str.to_date("%Y-%m-%d", strict=False)  # partial dates -> null
            bad = df.filter(e > pl.col(late))
            assert bad.height == 0, f"{source}: {early} after {late} in {bad.height} rows"
