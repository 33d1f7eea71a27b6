"""The report in a real browser with JavaScript disabled: headless Chromium driven over the
DevTools protocol (tests/browser.py). Skipped where Chromium is not installed
(`apt-get install -y chromium`)."""
from __future__ import annotations

import pytest

from browser import PNG, chromium, needs_chromium
from reglink.quality import build_report

pytestmark = needs_chromium


def test_pages_render_with_javascript_disabled(tmp_path):
    from test_quality_report import make_run

    cfg = make_run(tmp_path)
    index = build_report(cfg, strict=True)
    with chromium() as b:
        s = b.tab(1400, 2000)
        for page in (index, cfg.reports / "register-border_crossings.html"):
            doc = b.open(s, page)
            html = page.read_text()
            for selector, expected in (("table", html.count("<table")),
                                       ("svg[role=img]", html.count("<svg"))):
                assert len(b.select(s, doc, selector)) == expected > 0, (page.name, selector)
            png = b.screenshot(s)
            assert png[:8] == PNG and len(png) > 20_000  # not a blank page


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_report_in_a_browser_short_folded_and_offline(tmp_path):
    """After a demo run: the overview page with JavaScript off is a few screens, not 16,000
    px (tables folded in <details>), the linkage verdict is on it, the charts render, and a
    full-page screenshot is kept beside the report for a reader to look at."""
    from reglink_dagster.orchestration import run_demo

    run_demo(persons=600, seed=3, directory=tmp_path / "demo", years=4)
    reports = tmp_path / "demo" / "reports"
    index = reports / "index.html"
    with chromium() as b:
        s = b.tab(1280, 1000)
        heights = {}
        for page in (index, reports / "register-border_crossings.html"):
            doc = b.open(s, page)
            size = b.call("Page.getLayoutMetrics", session=s)["cssContentSize"]
            heights[page.name] = size["height"]
            assert len(b.select(s, doc, "details:not([open])")) >= 3, page.name
            png = b.screenshot(s, 1280, min(size["height"], 12000))
            assert png[:8] == PNG and len(png) > 50_000
            (reports / f"screenshot-{page.stem}.png").write_bytes(png)
        assert heights["index.html"] < 9000, heights
        text = index.read_text(encoding="utf-8")
        assert "In short" in text and "False matches (two different people joined)" in text
        assert "<script" not in text and "https://" not in text.split("<body", 1)[1].split("References")[0]
