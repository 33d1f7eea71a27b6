"""The two declarations: registers (reglink.schemas) and warehouse tables (reglink.tables.catalog).

A register is one declaration: a fifth register, written as one spec file and one mapping,
goes through the whole pipeline (ingest, linkage, tables, quality report) with no other file
of the project touched. Every table the pipeline builds is as declared, and a table that
differs from its declaration is reported.

The fake register is a school-enrolment register in its own layout (German column names,
its own sex codes, DD.MM.YYYY dates): the enrolments of some people of the population register,
so linkage has someone to find.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

SPEC = '''
from reglink.schemas import SEX, Column, Register, SourceSchema

REGISTER = Register(
    SourceSchema(
        "school_enrolments",
        (
            Column("record_id", "text", required=True),
            Column("pupil_number", "text", required=True, identifier=True),
            Column("given_names", "text", identifier=True),
            Column("surname", "text", identifier=True),
            Column("sex", "code", codes=SEX),
            Column("date_of_birth", "date", identifier=True),
            Column("citizenship", "country"),
            Column("enrolment_date", "date", required=True),
        ),
        date_order=(("date_of_birth", "enrolment_date"),),
    ),
    "School enrolment register", "Z",
    event_dates=("enrolment_date",),
    precedence=5, record_date="enrolment_date",
    completeness={"sex": 0.9, "date_of_birth": 0.9},
    link_minimums={"population_register": 0.5},
)
'''

MAPPING = '''
source: school_enrolments
delimiter: ";"
columns:
  Kennung: record_id
  Schuelernummer: pupil_number
  Vorname: given_names
  Nachname: surname
  Geschlecht: sex
  Geburtsdatum: date_of_birth
  Staatsangehoerigkeit: citizenship
  Einschulung: enrolment_date
codes:
  sex: {m: M, w: F, d: X}
date_format: "%d.%m.%Y"
'''

PERSONS = 400
PUPILS = 60


@pytest.fixture(scope="module")
def fifth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic world plus the fifth register, run through `reglink run` in a fresh process
    (the declaration is read when the register list is first imported)."""
    from reglink.synth.generate import generate

    out = tmp_path_factory.mktemp("fifth")
    generate(out, persons=PERSONS, years=4, seed=5)
    (out / "school_register.py").write_text(SPEC)
    (out / "school_enrolments.yaml").write_text(MAPPING)
    pop = pl.read_parquet(out / "population_register.parquet")
    pupils = (pop.filter(pl.col("date_of_birth").is_not_null() & pl.col("sex").is_not_null())
              .unique("person_number", keep="first", maintain_order=True).head(PUPILS))
    dob = pl.col("date_of_birth").str.to_date("%Y-%m-%d", strict=False)
    pupils.select(
        Kennung=pl.format("SE{}", pl.int_range(pl.len()) + 1),
        Schuelernummer=pl.format("S-{}", pl.col("person_number")),
        Vorname="given_names", Nachname="surname",
        Geschlecht=pl.col("sex").replace_strict({"M": "m", "F": "w", "X": "d"}),
        Geburtsdatum=dob.dt.strftime("%d.%m.%Y"),
        Staatsangehoerigkeit="citizenship",
        Einschulung=dob.dt.offset_by("6y").dt.strftime("%d.%m.%Y"),
    ).write_csv(out / "schueler.csv", separator=";")
    cfg = yaml.safe_load((out / "reglink.yaml").read_text())
    cfg["extracts"]["school_enrolments"] = "schueler.csv"
    cfg["mappings"] = {"school_enrolments": "school_enrolments.yaml"}
    (out / "reglink.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "REGLINK_REGISTERS": str(out / "school_register.py"),
           "DAGSTER_HOME": str(out / ".dagster")}
    run = subprocess.run([sys.executable, "-m", "reglink.cli", "run", "--config",
                          str(out / "reglink.yaml")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (out / "run.log").write_text(run.stdout + run.stderr)
    return out


def _rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_fifth_register_is_ingested(fifth: Path) -> None:
    """Every enrolment reaches the restricted store, typed and with its codes mapped, and the
    ingest log of the warehouse counts it."""
    restricted = fifth / "reglink.restricted.duckdb"
    n, males, dated = _rows(restricted, "SELECT count(*), count(*) FILTER (WHERE sex = 'M'), "
                            "count(enrolment_date) FROM std_school_enrolments")[0]
    assert n == PUPILS and dated == PUPILS and 0 < males < PUPILS
    logged = _rows(fifth / "reglink.duckdb",
                   "SELECT sum(rows_accepted) FROM ingest_log WHERE source = 'school_enrolments'")
    assert logged[0][0] == PUPILS
    assert "school_enrolments" in (fifth / "run.log").read_text()


def test_fifth_register_is_linked(fifth: Path) -> None:
    """Its records get person keys, and most pupils are the person of a population-register
    record they were made from (the same person_number inside the pupil number)."""
    db = fifth / "reglink.duckdb"
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute(f"ATTACH '{fifth / 'reglink.restricted.duckdb'}' AS rs (READ_ONLY)")
        keyed, same = con.execute("""
            SELECT count(DISTINCT s.record_id),
                   count(DISTINCT s.record_id) FILTER (WHERE lp.person_key = ls.person_key)
            FROM rs.std_school_enrolments s
            JOIN person_links ls ON ls.source = 'school_enrolments'
                 AND CAST(ls.record_id AS VARCHAR) = CAST(s.record_id AS VARCHAR)
            LEFT JOIN rs.std_population_register p
                 ON 'S-' || p.person_number = s.pupil_number
            LEFT JOIN person_links lp ON lp.source = 'population_register'
                 AND CAST(lp.record_id AS VARCHAR) = CAST(p.record_id AS VARCHAR)""").fetchall()[0]
    finally:
        con.close()
    assert keyed == PUPILS
    assert same >= 0.8 * PUPILS


def test_fifth_register_is_in_the_quality_report(fifth: Path) -> None:
    """Its own page, with its title and Annex 1 row, and a link from the index."""
    reports = fifth / "reports"
    page = (reports / "register-school_enrolments.html").read_text()
    assert "School enrolment register" in page
    assert "Z — School enrolment register" in page
    assert "enrolment_date" in page  # timeliness of its event date
    assert "register-school_enrolments.html" in (reports / "index.html").read_text()


# -- the warehouse tables: declared once (reglink.tables.catalog) -----------------------------

def test_every_built_table_is_as_declared(fifth: Path) -> None:
    """The pipeline's warehouse holds the tables of every stage exactly as declared: names,
    column order and types."""
    from reglink.tables import catalog

    con = duckdb.connect(str(fifth / "reglink.duckdb"), read_only=True)
    try:
        assert catalog.differences(con) == []
        built = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'main'").fetchall()}
    finally:
        con.close()
    # the stages the declaration names all wrote their tables (register_stays only without a
    # border register; births_parents only with parents' numbers)
    for stage in ("ingest", "linkage", "tables", "quality"):
        assert set(catalog.tables(stage)) & built, stage
    assert {"persons", "flows", "stocks", "accounting", "pub_flows"} <= built


def test_a_table_that_differs_from_its_declaration_fails(fifth: Path, tmp_path: Path) -> None:
    """A column added, dropped or retyped, or a table nobody declared, is reported by name."""
    from reglink.tables import catalog

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        con.execute(f"ATTACH '{fifth / 'reglink.duckdb'}' AS built (READ_ONLY)")
        for t in ("accounting", "stocks", "persons"):
            con.execute(f"CREATE TABLE {t} AS SELECT * FROM built.{t}")
        assert catalog.differences(con) == []
        con.execute("ALTER TABLE accounting ADD COLUMN end_stock BIGINT")
        con.execute("ALTER TABLE stocks DROP COLUMN persons")
        con.execute("ALTER TABLE persons ALTER birth_year TYPE BIGINT")
        con.execute("CREATE TABLE flows_by_guess AS SELECT 1 AS x")
        got = catalog.differences(con)
    finally:
        con.close()
    assert sorted(g.split(":")[0] for g in got) == ["accounting", "flows_by_guess", "persons",
                                                    "stocks"]
    assert "end_stock BIGINT" in next(g for g in got if g.startswith("accounting"))


def test_dagster_table_assets_come_from_the_declaration() -> None:
    """Each table of the tables stage belongs to the one Dagster asset its declaration names,
    and the assets' specs are the declared steps (no table-name prefixes guessed)."""
    from reglink_dagster.defs.derived import TABLE_ASSETS
    from reglink.tables import catalog

    assert [k for k, *_ in TABLE_ASSETS] == [s.key for s in catalog.STEPS]
    owned = [t for _, _, tables, _ in TABLE_ASSETS for t in tables]
    assert len(owned) == len(set(owned))
    assert set(owned) == {t for t in catalog.tables("tables") if catalog.asset_of(t)}
    assert catalog.asset_of("register_stays") == ("events", "migration_events")
    assert catalog.asset_of("pub_toolkit_table_3_5_grid") == ("tables", "publication")


def test_the_build_runs_the_declared_steps_in_dependency_order() -> None:
    """The in-process build is the declared graph: every step's function exists, every
    Dagster asset of the tables stage is written by some step, and no step runs before a step
    writing an asset it depends on (one step may write an asset and the asset built from it:
    the crossings pass writes the residence spells)."""
    from reglink.tables import catalog, steps

    assert all(callable(getattr(steps, s.function, None)) for s in catalog.BUILD)
    first = {}
    for i, s in enumerate(catalog.BUILD):
        for a in s.assets:
            first.setdefault(a, i)
    assert set(first) == {s.key for s in catalog.STEPS}
    for step in catalog.STEPS:
        for dep in step.depends_on:
            assert first[dep] <= first[step.key], (step.key, dep)
