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


# -- after a demo run: the UI started as users start it shows the demo's runs ------------------

DEMO_PERSONS = 300


@pytest.fixture(scope="module")
def demo_ui(tmp_path_factory):
    """`reglink demo` (as `./run demo` runs it), then `./run dev` on the demo's config with no
    DAGSTER_HOME set: the UI must find the run history the demo wrote by itself."""
    import subprocess

    from reglink_dagster.devserver import ROOT

    folder = tmp_path_factory.mktemp("demo_ui")
    demo = folder / "demo"
    res = subprocess.run([str(ROOT / ".venv" / "bin" / "reglink"), "demo", "--persons",
                          str(DEMO_PERSONS), "--dir", str(demo)],
                         cwd=ROOT, capture_output=True, text=True, timeout=1500)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    home = demo / ".dagster"  # where `reglink run` keeps the run history: beside the warehouse
    assert (home / "dagster.yaml").is_file()
    proc, port = devserver.start(None, demo / "reglink.yaml", log=folder / "run-dev.log",
                                 tool="run")
    try:
        devserver.wait_ready(proc, port, timeout=900)  # ./run's set-up, then dg dev
        yield {"port": port, "home": home, "demo": demo, "log": folder / "run-dev.log"}
    finally:
        devserver.stop(proc)


@pytest.mark.timeout(2400)  # the demo run is in it
def test_one_dagster_home_without_telemetry_or_popup(demo_ui):
    """The home `reglink run` made is the one `./run dev` serves, from the project's instance
    settings: nothing sent anywhere, no welcome pop-up (not dismissed here: never shown)."""
    import dagster as dg

    from reglink_dagster.devserver import ROOT

    home = demo_ui["home"]
    assert (home / "dagster.yaml").read_text() == (ROOT / "reglink_dagster" / "dagster.yaml").read_text()
    assert f"Dagster home: {home}" in demo_ui["log"].read_text()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert not instance.telemetry_enabled
        assert not instance.nux_enabled
        assert instance.freshness_enabled
        assert instance.get_run_records(), "the demo recorded no run"
    data = devserver.graphql(demo_ui["port"], "{ shouldShowNux }")["data"]
    assert data["shouldShowNux"] is False


RUNS_QUERY = "{ runsOrError { ... on Runs { results { runId jobName status } } } }"
ASSET_QUERY = """{ assetNodes { assetKey { path }
  assetMaterializations(limit: 1) { runId timestamp }
  internalFreshnessPolicy { ... on CronFreshnessPolicy { deadlineCron lowerBoundDeltaSeconds } }
} }"""


@pytest.mark.timeout(2400)
@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_ui_lists_the_demos_runs_and_materialisations(demo_ui, tmp_path):
    port = demo_ui["port"]
    runs = devserver.graphql(port, RUNS_QUERY)["data"]["runsOrError"]["results"]
    assert runs and all(r["status"] == "SUCCESS" for r in runs), runs
    assert {r["jobName"] for r in runs} == {"reglink_all"}
    nodes = {"/".join(n["assetKey"]["path"]): n
             for n in devserver.graphql(port, ASSET_QUERY)["data"]["assetNodes"]}
    run_ids = {r["runId"] for r in runs}
    for key in ("linkage/person_links", "tables/flows", "events/migration_events",
                "quality/report"):
        [mat] = nodes[key]["assetMaterializations"]
        assert mat["runId"] in run_ids, key
        assert nodes[key]["internalFreshnessPolicy"] == {"deadlineCron": "0 6 3 * *",
                                                         "lowerBoundDeltaSeconds": 86400}, key
    assert nodes["raw/permits"]["internalFreshnessPolicy"] is None

    # the pages a user opens, as rendered: the Runs list and an asset's page
    base = f"http://127.0.0.1:{port}"
    runs_dom = devserver.dom(f"{base}/runs", timeout=600)
    assert "No runs found" not in runs_dom
    assert all(r["runId"][:8] in runs_dom for r in runs), "a demo run missing from /runs"
    asset_dom = devserver.dom(f"{base}/assets/tables/flows", timeout=600)
    assert "Never materialized" not in asset_dom
    assert "Materialized" in asset_dom or "materialized" in asset_dom
    for name, path in (("runs", "/runs"), ("flows", "/assets/tables/flows"),
                       ("report-lineage", "/assets/quality/report?view=lineage")):
        png = devserver.screenshot(f"{base}{path}", tmp_path / f"dagster-{name}.png",
                                  timeout=600)  # a loaded machine
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
