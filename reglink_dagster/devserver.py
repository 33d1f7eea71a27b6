"""Start `dg dev` on a free port, wait for it, screenshot a page in headless Chromium, stop it.

Used by tests/test_pipeline_ui.py and by hand:
    .venv/bin/python -m reglink_dagster.devserver --config demo/reglink.yaml --home demo/.dagster \\
        --out graph.png
The server is stopped through its own process group (it was started in a new session).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(home: Path | None, config: Path | None, port: int | None = None,
          log: Path | None = None, tool: str = "dg") -> tuple[subprocess.Popen, int]:
    """`<tool> dev` on `home`; tool "run" is `./run dev` as a user starts it, which picks the
    home itself (the config's `<warehouse folder>/.dagster`) when `home` is None."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "REGLINK_CONFIG")}
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        if not (home / "dagster.yaml").exists():
            shutil.copy(Path(__file__).with_name("dagster.yaml"), home / "dagster.yaml")
        env["DAGSTER_HOME"] = str(home.resolve())
    if config is not None:
        env["REGLINK_CONFIG"] = str(config.resolve())
    # dg or dagster: both read the project's pyproject; ./run dev: dg dev after ./run's set-up
    argv = ([str(ROOT / "run"), "dev"] if tool == "run"
            else [str(ROOT / ".venv" / "bin" / tool), "dev"])
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen([*argv, "--port", str(port), "--host", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc, port


def graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                 data=json.dumps({"query": query}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


ASSETS_QUERY = "{ assetNodes { assetKey { path } groupName } }"


def wait_ready(proc: subprocess.Popen, port: int, timeout: float = 240) -> list[dict]:
    """Until the code location has loaded and serves its asset nodes."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dg dev exited with code {proc.returncode}")
        try:
            nodes = graphql(port, ASSETS_QUERY).get("data", {}).get("assetNodes") or []
            if nodes:
                return nodes
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = exc
        time.sleep(2)
    raise TimeoutError(f"dg dev not ready on port {port} after {timeout}s ({last})")


def dismiss_welcome(port: int) -> None:
    """The UI greets a new instance with a community pop-up over the graph; mark it seen."""
    graphql(port, "mutation { setNuxSeen }")


def stop(proc: subprocess.Popen) -> None:
    """Stop dg dev and the webserver, daemon and code server it started (its process group)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def screenshot(url: str, out: Path, size: str = "1600,1000", budget_ms: int = 15000,
               timeout: float = 180) -> Path:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise FileNotFoundError("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                        f"--screenshot={out}", f"--window-size={size}",
                        f"--virtual-time-budget={budget_ms}", url],
                       check=True, timeout=timeout, capture_output=True)
    return out


def dom(url: str, budget_ms: int = 20000, timeout: float = 180) -> str:
    """The page's DOM after its scripts ran (the UI is a single-page app: the HTML served is
    an empty shell, what a user reads is built from GraphQL answers)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise FileNotFoundError("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        res = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                              "--window-size=1600,1000", f"--virtual-time-budget={budget_ms}",
                              "--dump-dom", url],
                             check=True, timeout=timeout, capture_output=True, text=True)
    return res.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=None)
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("dagster-asset-graph.png"))
    ap.add_argument("--path", default="/asset-groups")
    ap.add_argument("--tool", default="dg", choices=["dg", "dagster"])
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="dagster-home-"))
    proc, port = start(home, args.config, log=home / "dg-dev.log", tool=args.tool)
    try:
        nodes = wait_ready(proc, port)
        print(f"{args.tool} dev on port {port}: {len(nodes)} assets")
        dismiss_welcome(port)
        screenshot(f"http://127.0.0.1:{port}{args.path}", args.out)
        print(f"screenshot: {args.out}")
    finally:
        stop(proc)


if __name__ == "__main__":
    main()
