"""`reglink run` on a broken delivery: exit 1, one line naming the file the register owner
delivered (not the pipeline's archived copy), the row and the problem, and no traceback."""
from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from reglink.cli import app


def test_run_names_the_delivered_file_on_a_broken_extract(tmp_path: Path):
    (tmp_path / "bc.csv").write_text("record_id;direction;crossing_date\n1;ENTRY;2024-01-01\n")
    (tmp_path / "c.yaml").write_text(
        "home_country: NZL\nextracts:\n  border_crossings: bc.csv\nwarehouse: w.duckdb\n"
        "reports: r/\n")
    res = CliRunner().invoke(app, ["run", "--config", str(tmp_path / "c.yaml")])
    assert res.exit_code == 1
    err = res.stderr
    assert f"{tmp_path / 'bc.csv'}: row 0: wrong delimiter" in err
    assert "archive" not in err and "Traceback" not in err
    assert "not run because an upstream step failed" in err
