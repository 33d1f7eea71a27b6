"""The report in a real browser with JavaScript disabled: headless Chromium driven over the
DevTools protocol (a pipe, no extra packages). Skipped where Chromium is not installed
(`apt-get install -y chromium`)."""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

import pytest

from reglink.quality import build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed")


class Browser:
    """Just enough of the DevTools protocol over --remote-debugging-pipe (fds 3 and 4)."""

    def __init__(self):
        r1, self.w = os.pipe()
        self.r, w2 = os.pipe()
        self.udd = tempfile.mkdtemp()

        hi = max(r1, w2, self.w, self.r) + 1  # above every pipe end, so no copy clobbers one

        def fds():
            os.dup2(r1, hi), os.dup2(w2, hi + 1), os.dup2(hi, 3), os.dup2(hi + 1, 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={self.udd}", "--remote-debugging-pipe"],
            preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(r1), os.close(w2)
        self.buf, self.n = b"", 0

    def call(self, method, params=None, session=None, event=None, timeout=60):
        self.n += 1
        msg = {"id": self.n, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        want, end = self.n, time.time() + timeout
        got = None
        while time.time() < end:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                m = json.loads(raw)
                if m.get("id") == want:
                    got = m
                if event and m.get("method") == event:
                    event = None
            if got is not None and event is None:
                assert "error" not in got, got
                return got.get("result", {})
            if not select.select([self.r], [], [], 1.0)[0]:
                continue
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the DevTools pipe during {method}")
            self.buf += chunk
        raise TimeoutError(method)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.udd, ignore_errors=True)


def test_pages_render_with_javascript_disabled(tmp_path):
    from test_quality_report import make_run

    cfg = make_run(tmp_path)
    index = build_report(cfg, strict=True)
    b = Browser()
    try:
        target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        b.call("Page.enable", session=s)
        b.call("Emulation.setScriptExecutionDisabled", {"value": True}, session=s)
        b.call("Emulation.setDeviceMetricsOverride", {"width": 1400, "height": 2000,
               "deviceScaleFactor": 1, "mobile": False}, session=s)
        for page in (index, cfg.reports / "register-border_crossings.html"):
            b.call("Page.navigate", {"url": page.as_uri()}, session=s, event="Page.loadEventFired")
            doc = b.call("DOM.getDocument", session=s)["root"]["nodeId"]
            html = page.read_text()
            for selector, expected in (("table", html.count("<table")),
                                       ("svg[role=img]", html.count("<svg"))):
                nodes = b.call("DOM.querySelectorAll", {"nodeId": doc, "selector": selector},
                               session=s)["nodeIds"]
                assert len(nodes) == expected > 0, (page.name, selector)
            png = base64.b64decode(b.call("Page.captureScreenshot", {"format": "png"},
                                          session=s)["data"])
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # not a blank page
    finally:
        b.close()


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
    b = Browser()
    try:
        target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        b.call("Page.enable", session=s)
        b.call("Emulation.setScriptExecutionDisabled", {"value": True}, session=s)
        b.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 1000,
               "deviceScaleFactor": 1, "mobile": False}, session=s)
        heights = {}
        for page in (index, reports / "register-border_crossings.html"):
            b.call("Page.navigate", {"url": page.as_uri()}, session=s, event="Page.loadEventFired")
            size = b.call("Page.getLayoutMetrics", session=s)["cssContentSize"]
            heights[page.name] = size["height"]
            doc = b.call("DOM.getDocument", session=s)["root"]["nodeId"]
            folded = b.call("DOM.querySelectorAll", {"nodeId": doc, "selector": "details:not([open])"},
                            session=s)["nodeIds"]
            assert len(folded) >= 3, page.name
            png = base64.b64decode(b.call("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": 1280, "height": min(size["height"], 12000),
                         "scale": 1}}, session=s)["data"])
            assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
            (reports / f"screenshot-{page.stem}.png").write_bytes(png)
        assert heights["index.html"] < 9000, heights
        text = index.read_text(encoding="utf-8")
        assert "In short" in text and "False matches (two different people joined)" in text
        assert "<script" not in text and "https://" not in text.split("<body", 1)[1].split("References")[0]
    finally:
        b.close()
