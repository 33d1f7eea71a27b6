"""`reglink query` reads the warehouse's tables and nothing else: DuckDB is locked (no file, no
ATTACH, no extension, no setting change), every other statement is refused with exit 2 and one
line saying why; the terminal says how many rows there were and how many it showed."""
from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from reglink.cli import app


@pytest.fixture()
def wh(tmp_path: Path) -> Path:
    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE flows AS SELECT i AS period, i * 10 AS persons FROM range(120) t(i)")
    con.close()
    (tmp_path / "secret.csv").write_text("name,dob\nAna,1990-01-02\n")
    return path


def _q(wh: Path, *args: str):
    return CliRunner().invoke(app, ["query", "--warehouse", str(wh), *args])


REFUSED = [
    "SELECT * FROM read_csv('{d}/secret.csv')",
    "SELECT * FROM '{d}/secret.csv'",
    "SELECT * FROM read_text('{d}/secret.csv')",
    "SELECT * FROM glob('{d}/*')",
    "SELECT * FROM query_table('flows')",
    "ATTACH '{d}/other.duckdb' AS o",
    "COPY flows TO '{d}/out.csv'",
    "EXPORT DATABASE '{d}/exp'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "RESET lock_configuration",
    "PRAGMA version",
    "CREATE TABLE x AS SELECT 1",
    "CREATE TEMP TABLE x AS SELECT 1",
    "INSERT INTO flows VALUES (1, 1)",
    "DELETE FROM flows",
    "DROP TABLE flows",
    "SELECT 1; SELECT 2",
    "CALL pragma_version()",
]


@pytest.mark.parametrize("sql", REFUSED)
def test_refused_statement_exits_2_with_one_line(wh: Path, sql: str):
    res = _q(wh, sql.format(d=wh.parent))
    assert res.exit_code == 2, (sql, res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("reglink: query"), res.stderr
    assert "Ana" not in res.stdout
    assert not (wh.parent / "out.csv").exists() and not (wh.parent / "exp").exists()
    con = duckdb.connect(str(wh), read_only=True)
    assert con.execute("SELECT count(*) FROM flows").fetchall() == [(120,)]
    con.close()


def test_duckdb_itself_is_locked(wh: Path):
    from reglink.query import connect_locked

    con = connect_locked(wh)
    try:
        got = dict(con.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
            "'autoload_known_extensions', 'autoinstall_known_extensions', "
            "'allow_community_extensions', 'lock_configuration', 'access_mode')").fetchall())
        assert got == {"enable_external_access": "false", "autoload_known_extensions": "false",
                       "autoinstall_known_extensions": "false",
                       "allow_community_extensions": "false", "lock_configuration": "true",
                       "access_mode": "read_only"}
        # the lock holds even without the statement check in front of it
        for sql in (f"SELECT * FROM read_csv('{wh.parent}/secret.csv')",
                    f"ATTACH '{wh.parent}/o.duckdb'", "SET enable_external_access = true"):
            with pytest.raises(duckdb.Error):
                con.execute(sql)
    finally:
        con.close()


def test_counts_rows_and_shows_max_rows(wh: Path):
    res = _q(wh, "SELECT * FROM flows ORDER BY period", "--max-rows", "5")
    assert res.exit_code == 0, res.stderr
    assert "120 rows, 5 shown" in res.stderr
    assert sum(ln.startswith("│") for ln in res.stdout.splitlines()) == 5


def test_out_writes_the_full_result(wh: Path, tmp_path: Path):
    for name in ("all.csv", "all.parquet"):
        out = tmp_path / name
        res = _q(wh, "SELECT * FROM flows", "--out", str(out))
        assert res.exit_code == 0, res.stderr
        frame = pl.read_csv(out) if name.endswith(".csv") else pl.read_parquet(out)
        assert frame.height == 120
        assert f"written to {out}" in res.stderr
    bad = _q(wh, "SELECT 1", "--out", str(tmp_path / "x.duckdb"))
    assert bad.exit_code == 2 and "give a .csv or .parquet" in bad.stderr


def test_plain_selects_still_work(wh: Path):
    for sql in ("FROM flows LIMIT 1", "SHOW TABLES", "DESCRIBE flows", "SUMMARIZE flows",
                "WITH a AS (SELECT persons FROM flows) SELECT sum(persons) FROM a"):
        res = _q(wh, sql)
        assert res.exit_code == 0, (sql, res.stderr)


def test_missing_warehouse_is_wrong_usage(tmp_path: Path):
    res = _q(tmp_path / "none.duckdb", "SELECT 1")
    assert res.exit_code == 2 and "warehouse not found" in res.stderr
