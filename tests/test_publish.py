"""The publication folder: every pub_* table as CSV and SDMX-CSV with its structure, and
metadata.json, read back (SDMX with pysdmx, the library that wrote it) and compared with the
warehouse's pub_* tables, suppressed cells included."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from reglink.config import config_from_mapping
from reglink.publish.sdmx import SPECIAL_CODES, component_id, layout_of
from reglink.tables import build_tables
from example_world import write_world


def _world(tmp_path: Path, **extra) -> object:
    cfg = config_from_mapping({"home_country": "NZL", "rule": "12-16", "observed_until": "2024-12-31",
                               "warehouse": "wh.duckdb",
                               "small_cell": {"method": "suppress", "threshold": 3}, **extra},
                              tmp_path)
    con = duckdb.connect(str(cfg.warehouse))
    con.execute(f"ATTACH '{cfg.restricted_path}' AS restricted")
    write_world(con)
    con.execute("DETACH restricted")
    con.close()
    build_tables(cfg)
    return cfg


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    cfg = _world(tmp_path_factory.mktemp("pub"))
    con = duckdb.connect(str(cfg.warehouse), read_only=True)
    yield cfg, con, cfg.parquet_path / "publication"
    con.close()


def _pub_tables(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                      "WHERE table_name LIKE 'pub_%' ORDER BY 1").fetchall()]


def _decoders(structure: Path) -> dict[str, dict[str, str]]:
    """Code list id -> {code: value in the warehouse}, from the structure message as read."""
    from pysdmx.io import read_sdmx
    from pysdmx.model import Codelist

    msg = read_sdmx(str(structure), validate=True)  # against the SDMX-ML 3.0 schemas
    return {cl.id.removeprefix("CL_"): {c.id: c.name for c in cl.items}
            for cl in msg.structures if isinstance(cl, Codelist)}


def test_every_pub_table_in_every_format(published):
    cfg, con, folder = published
    tables = _pub_tables(con)
    assert len(tables) >= 10
    for t in tables:
        name = t.removeprefix("pub_")
        for suffix in (".parquet", ".csv", ".sdmx.csv"):
            assert (folder / f"{name}{suffix}").is_file(), f"{name}{suffix}"
        csv = pl.read_csv(folder / f"{name}.csv", infer_schema_length=0)  # all text
        db = con.sql(f'SELECT * FROM "{t}"').pl()
        assert csv.columns == db.columns and csv.height == db.height, name
        # suppressed counts are empty in the CSV exactly where they are NULL in the table
        if "persons" in db.columns:
            assert csv["persons"].null_count() == db["persons"].null_count(), name
    assert (folder / "structure.xml").is_file() and (folder / "metadata.json").is_file()
    assert not list(folder.glob("pub_*"))


def test_sdmx_csv_reads_back_as_the_table(published):
    """Each SDMX-CSV, read with pysdmx against structure.xml and decoded through its code
    lists, holds exactly the rows and values of the pub_* table (NULLs where suppressed)."""
    from pysdmx.io import get_datasets

    cfg, con, folder = published
    decode = _decoders(folder / "structure.xml")
    checked = 0
    for t in _pub_tables(con):
        lay = layout_of(con, t)
        db = con.sql(f'SELECT * FROM "{t}"').pl()
        if db.height == 0:  # an empty table is a header line (pysdmx's reader wants a row)
            header = (folder / f"{lay.table}.sdmx.csv").read_text(encoding="utf-8").splitlines()
            assert len(header) == 1 and header[0].startswith("STRUCTURE,STRUCTURE_ID,ACTION,")
            continue
        ds = get_datasets(str(folder / f"{lay.table}.sdmx.csv"), str(folder / "structure.xml"))
        assert len(ds) == 1 and ds[0].short_urn.endswith(f"{lay.dsd_id}(1.0)")
        back = pl.from_pandas(ds[0].data)  # typed by the structure: codes as text, counts as numbers
        assert back.height == db.height, t
        cols = []
        for c in db.columns:
            cid = component_id(c)
            col, want = back[cid], db.schema[c]
            if c in lay.dims:
                col = col.replace_strict(decode[cid], default=None)
            elif c in lay.special:
                inverse = {v: k for k, v in SPECIAL_CODES[cid].items()}
                col = col.replace_strict(inverse, default=None, return_dtype=want)
            col = col.str.to_date() if want == pl.Date else col.cast(want)
            cols.append(col.alias(c))
        got = pl.DataFrame(cols)
        key = [c for c in db.columns]
        assert got.sort(key, nulls_last=True).equals(db.sort(key, nulls_last=True)), t
        checked += 1
    assert checked >= 10


def test_suppressed_cells_stay_hidden_in_sdmx(published):
    """Cells withheld in pub_stocks are empty in SDMX, flagged CONF_STATUS C; and the values the
    unprotected table holds for them (1 or 2 persons at threshold 3) appear nowhere."""
    cfg, con, folder = published
    sdmx = pl.read_csv(folder / "stocks.sdmx.csv", infer_schema_length=0)
    hidden = sdmx.filter(pl.col("CONF_STATUS") == "C")
    n = con.execute("SELECT count(*) FROM pub_stocks WHERE suppressed").fetchall()[0][0]
    assert n > 0 and hidden.height == n and hidden["PERSONS"].null_count() == n
    small = con.execute("SELECT count(*) FROM stocks WHERE persons BETWEEN 1 AND 2").fetchall()[0][0]
    assert small > 0
    assert sdmx.filter(pl.col("PERSONS").is_in(["1", "2"])).height == 0


def test_metadata_beside_the_tables(published):
    cfg, con, folder = published
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert meta["licence"]["id"] == "CC-BY-4.0" and meta["licence"]["url"].startswith("https://")
    assert meta["residence_rule"]["name"] == "12-16" and meta["residence_rule"]["threshold_days"] == 365
    assert meta["observed_until"] == "2024-12-31"
    assert meta["disclosure_control"]["method"] == "suppress"
    assert meta["disclosure_control"]["threshold"] == 3 and "1 to 2 persons" in meta["disclosure_control"]["rule"]
    # a year with any provisional flows cell is listed; the data end in 2024, so 2024 is one
    years = sorted({r[0] for r in con.execute(
        "SELECT period FROM flows WHERE period_type = 'year' AND status = 'provisional'").fetchall()})
    assert "2024" in years and meta["provisional"]["years"] == years
    assert set(meta["tables"]) == {t.removeprefix("pub_") for t in _pub_tables(con)}
    flows = meta["tables"]["flows"]
    assert flows["files"] == {"csv": "flows.csv", "sdmx_csv": "flows.sdmx.csv", "parquet": "flows.parquet"}
    assert flows["rows"] == con.execute("SELECT count(*) FROM pub_flows").fetchall()[0][0]
    assert flows["rows_suppressed"] == con.execute(
        "SELECT count(*) FROM pub_flows WHERE suppressed").fetchall()[0][0]
    assert set(flows["provisional_periods"]) >= set(years)
    assert flows["columns"]["persons"]["definition"] and flows["definition"].startswith("Immigrations")
    assert flows["sdmx"]["dataflow"] == "NZL:DF_FLOWS(1.0)"


def test_licence_and_agency_from_config(tmp_path: Path):
    cfg = _world(tmp_path, publication={"licence": "CC0-1.0", "agency": "STATS_NZ"})
    folder = cfg.parquet_path / "publication"
    meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    assert meta["licence"] == {"id": "CC0-1.0", "url": "https://creativecommons.org/publicdomain/zero/1.0/"}
    assert meta["tables"]["stocks"]["sdmx"]["data_structure"] == "STATS_NZ:DSD_STOCKS(1.0)"
    assert "STATS_NZ:DSD_STOCKS(1.0)" in (folder / "stocks.sdmx.csv").read_text(encoding="utf-8")
