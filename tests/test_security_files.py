"""The restricted store, its spill folders and the archive of deliveries are readable by their
owner only (folders 0700, files 0600); the archive is a real copy, not a link to the landing
file; an extract that is a symbolic link or not a regular file is refused with one line."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from reglink import secure, store
from reglink.cli import app
from reglink.errors import ReglinkError


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


@pytest.fixture(scope="module")
def ran(tmp_path_factory) -> Path:
    """A small world run end to end under a permissive umask (what a careless shell has)."""
    synth = pytest.importorskip("reglink.synth")
    out = tmp_path_factory.mktemp("secworld")
    synth.generate(out, persons=150, years=3, seed=11, fmt="csv", events=False)
    old = os.umask(0o002)
    try:
        res = CliRunner().invoke(app, ["run", "--config", str(out / "reglink.yaml")])
    finally:
        os.umask(old)
    assert res.exit_code == 0, res.stderr
    return out


def test_restricted_store_is_owner_only(ran: Path):
    assert _mode(ran / "reglink.restricted.duckdb") == 0o600
    assert not (ran / "reglink.restricted.duckdb.wal").exists()


def test_archive_is_an_owner_only_real_copy(ran: Path):
    archive = ran / "archive"
    assert _mode(archive) == 0o700
    files = [p for p in archive.rglob("*") if p.is_file()]
    assert len(files) == 4
    for p in archive.rglob("*"):
        assert _mode(p) == (0o700 if p.is_dir() else 0o600), p
    for f in files:
        st = os.stat(f)
        assert st.st_nlink == 1  # not a hard link to the landing file
        register = f.parent.parent.name
        assert st.st_ino != os.stat(ran / f"{register}.csv").st_ino


def test_table_build_spills_to_an_owner_only_folder(ran: Path):
    assert _mode(ran / "tmp") == 0o700


def test_linkage_spill_folder_is_owner_only(tmp_path: Path):
    from reglink.linkage.link import linkage_connection

    con = linkage_connection("64MB", tmp_path / "spill")
    try:
        spill = Path(con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0])
    finally:
        con.close()
    assert _mode(spill) == 0o700 and _mode(spill.parent) == 0o700


def test_a_loose_restricted_store_is_tightened_when_opened(tmp_path: Path):
    path = tmp_path / "r.duckdb"
    duckdb.connect(str(path)).close()
    os.chmod(path, 0o644)
    store.connect(path, private=True).close()
    assert _mode(path) == 0o600


def test_a_symlink_in_place_of_a_private_folder_is_refused(tmp_path: Path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "spill").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ReglinkError, match="symbolic link"):
        secure.private_dir(tmp_path / "spill")


def _config(tmp_path: Path) -> Path:
    (tmp_path / "real.csv").write_text("record_id,direction,crossing_date\nB1,ENTRY,2024-01-02\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("home_country: NZL\nextracts:\n  border_crossings: bc.csv\n"
                   "warehouse: out/w.duckdb\nreports: r/\n")
    return cfg


@pytest.mark.parametrize("kind", ["symlink", "fifo", "folder"])
def test_an_extract_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str):
    cfg = _config(tmp_path)
    bc = tmp_path / "bc.csv"
    {"symlink": lambda: bc.symlink_to(tmp_path / "real.csv"), "fifo": lambda: os.mkfifo(bc),
     "folder": lambda: bc.mkdir()}[kind]()
    res = CliRunner().invoke(app, ["run", "--config", str(cfg)])
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"reglink: {bc}: "), res.stderr
    assert ("symbolic link" if kind == "symlink" else "not a regular file") in lines[0]
    assert not (tmp_path / "out" / "archive").exists()


def test_a_symlink_in_the_landing_folder_is_refused(tmp_path: Path):
    cfg = _config(tmp_path)
    (tmp_path / "bc.csv").write_text("record_id,direction,crossing_date\nB1,ENTRY,2024-01-02\n")
    month = tmp_path / "landing" / "2025-01"
    month.mkdir(parents=True)
    (month / "permits.csv").symlink_to("/etc/passwd")
    cfg.write_text(cfg.read_text() + "landing: landing\n")
    res = CliRunner().invoke(app, ["run", "--config", str(cfg)])
    assert res.exit_code == 1 and "symbolic link" in res.stderr
    assert "delivery 2025-01" in res.stderr


def test_the_restricted_store_spill_folder_is_owner_only(tmp_path: Path):
    path = tmp_path / "r.duckdb"
    store.connect(path, private=True).close()
    assert _mode(tmp_path / "r.duckdb.tmp") == 0o700


def test_landing_mistakes_are_named_not_skipped(tmp_path: Path):
    """A hurried register owner's typo, a folder that is a link, a folder name that is not a
    delivery: each refused in one line instead of being silently left out."""
    cfg = _config(tmp_path)
    (tmp_path / "bc.csv").write_text("record_id,direction,crossing_date\nB1,ENTRY,2024-01-02\n")
    landing = tmp_path / "landing"
    (landing / "2025-01").mkdir(parents=True)
    (landing / "2025-01" / "permit.csv").write_text("record_id\nP1\n")
    (landing / "June 2025").mkdir()
    (landing / "elsewhere").mkdir()
    (landing / "2025-02").symlink_to(landing / "elsewhere")
    (landing / ".hidden").mkdir()
    cfg.write_text(cfg.read_text() + "landing: landing\n")
    res = CliRunner().invoke(app, ["run", "--config", str(cfg)])
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert lines == [
        f"reglink: {landing / '2025-01' / 'permit.csv'}: names no register; call it "
        "<register>.csv or .parquet with a register among border_crossings, permits, "
        "population_register, asylum_register",
        f"reglink: {landing / '2025-02'}: is a symbolic link; a delivery is a folder of its own "
        "in the landing folder",
        f"reglink: {landing / 'June 2025'}: is not a delivery name (letters, digits, . _ - such "
        "as 2025-06; not 'baseline'); nothing in it would be read",
    ]


def test_no_date_of_birth_reaches_the_warehouse_through_expectations(ran: Path):
    """The suites observe the earliest and latest date of birth; the warehouse keeps shares
    and counts of identifier columns, never their values."""
    con = duckdb.connect(str(ran / "reglink.duckdb"), read_only=True)
    try:
        rows = con.execute('SELECT "column", observed FROM quality_expectations '
                           "WHERE observed IS NOT NULL").fetchall()
    finally:
        con.close()
    assert rows
    for column, observed in rows:
        if store.is_identifier_column(column):
            float(observed)  # a number, not a date or a name
