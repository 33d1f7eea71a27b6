"""`dg dev` serves the reglink code location with no set-up beyond DAGSTER_HOME, and the asset
graph renders in a real headless browser (issue 7). Starts the server on a free port and
stops it through its own process group."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reglink_dagster import devserver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    # the code location must load even when the config does not exist yet
    proc, port = devserver.start(home, home / "no-such-config.yaml", log=home / "dg-dev.log")
    try:
        nodes = devserver.wait_ready(proc, port)
        yield {"port": port, "nodes": nodes, "home": home}
    finally:
        devserver.stop(proc)
    assert proc.poll() is not None


def test_dg_dev_serves_the_asset_graph_by_stage(server):
    groups = {tuple(n["assetKey"]["path"]): n["groupName"] for n in server["nodes"]}
    assert groups[("raw", "border_crossings")] == "extracts"
    assert groups[("validated", "permits")] == "validated"
    assert groups[("linkage", "person_links")] == "linkage"
    assert groups[("events", "migration_events")] == "events"
    assert groups[("quality", "report")] == "quality"
    data = devserver.graphql(server["port"], "{ repositoriesOrError { ... on RepositoryConnection { nodes { "
                             "sensors { name } schedules { name } } } } }")["data"]
    repo = data["repositoriesOrError"]["nodes"][0]
    assert {s["name"] for s in repo["sensors"]} == {"landing_sensor", "derived_after_delivery"}
    assert [s["name"] for s in repo["schedules"]] == ["monthly_derived_tables"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_asset_graph_renders_in_headless_chromium(server, tmp_path):
    devserver.dismiss_welcome(server["port"])
    out = devserver.screenshot(
        f"http://127.0.0.1:{server['port']}/assets/quality/report?view=lineage"
        "&lineageScope=upstream&lineageDepth=10", tmp_path / "graph.png")
    assert out.exists() and out.stat().st_size > 20_000  # a rendered page, not a blank one
    assert Path(out).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
