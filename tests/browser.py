"""Headless Chromium for tests: just enough of the DevTools protocol over
--remote-debugging-pipe (fds 3 and 4), no extra packages. Used by the tests that look at the
quality report (and other pages) in a real browser and keep screenshots of them; they skip
where Chromium is not installed (`apt-get install -y chromium`)."""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed")
PNG = b"\x89PNG\r\n\x1a\n"


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

    def tab(self, width: int, height: int, javascript: bool = False) -> str:
        """A new tab of `width` x `height` CSS pixels (scripts off unless `javascript`); its
        session id."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=s)
        if not javascript:
            self.call("Emulation.setScriptExecutionDisabled", {"value": True}, session=s)
        self.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height,
                  "deviceScaleFactor": 1, "mobile": False}, session=s)
        return s

    def open(self, session: str, page: Path | str) -> int:
        """Load a file (or URL) in the tab and wait for its load event; the document's node id."""
        url = page.as_uri() if isinstance(page, Path) else page
        self.call("Page.navigate", {"url": url}, session=session, event="Page.loadEventFired")
        return self.call("DOM.getDocument", session=session)["root"]["nodeId"]

    def select(self, session: str, doc: int, selector: str) -> list[int]:
        """Node ids of the elements `selector` matches in the document `doc`."""
        return self.call("DOM.querySelectorAll", {"nodeId": doc, "selector": selector},
                         session=session)["nodeIds"]

    def screenshot(self, session: str, width: int | None = None,
                   height: float | None = None) -> bytes:
        """A PNG of the viewport, or of the top `width` x `height` pixels of the whole page."""
        params: dict = {"format": "png"}
        if width is not None and height is not None:
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
        return base64.b64decode(self.call("Page.captureScreenshot", params, session=session)["data"])


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the duration of the block, killed after."""
    b = Browser()
    try:
        yield b
    finally:
        b.close()
