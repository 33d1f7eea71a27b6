"""Every shell command that README.md and docs/*.md print works as printed.

A new user copies commands from the docs after the two set-up commands (`./run demo`,
`./run test`); one that fails ("dg: command not found", an unknown partition) costs them the
afternoon. So every fenced ```bash block is cut into commands and each is run from the
repository root on one small demo world shared by the module, and must exit 0. Placeholders
the docs use (`crossings.csv`, `DIR`, `/data/nso/reglink.yaml`, `demo/`) are replaced by the
demo's paths, and sizes by small ones (`--persons 300`, `--runs 1`), nothing else. Long-running
servers (`./run dev`) are started, checked to serve the demo's runs, and stopped.

One test function on purpose: under pytest-xdist a module fixture would build the world once
per worker.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest

from reglink_dagster.devserver import graphql

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DEMO_PERSONS = 1000
# commands the test does not run, each with the reason; keep this list short
NOT_RUN = {
    "--extra spark": "installs optional software (Spark) into the project environment",
}
# a command's output is kept only for a failure message
TAIL = 1500
GUARD = "REGLINK_DOCS_COMMANDS_TEST"


@dataclass
class DocCommand:
    """One command as printed, where it is printed, and what the test runs instead."""

    where: str
    printed: str


def doc_commands() -> list[DocCommand]:
    """The commands of every ```bash block, in the order a reader meets them (README first)."""
    out: list[DocCommand] = []
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"^```(?:bash|sh|shell)\n(.*?)^```", text, re.M | re.S):
            line_no = text.count("\n", 0, m.start()) + 2
            buf: list[str] = []
            for line in m.group(1).splitlines():
                if not buf and (not line.strip() or line.lstrip().startswith("#")):
                    continue
                buf.append(line)
                joined = "\n".join(buf)
                if joined.endswith("\\"):
                    continue
                try:  # a quoted argument may span lines (the SQL of `reglink query`)
                    shlex.split(joined, comments=True)
                except ValueError:
                    continue
                out.append(DocCommand(f"{path.relative_to(ROOT)}:{line_no}", joined))
                buf = []
    return out


def argv_of(command: str) -> list[str]:
    """The words of a command after its leading VAR=value assignments."""
    words = shlex.split(command, comments=True)
    while words and re.match(r"^[A-Z_]+=", words[0]):
        words = words[1:]
    return words


def strip_comments(command: str) -> str:
    """The command without its `# ...` remarks (so options can be appended): a `#` after
    whitespace and outside quotes starts a remark that runs to the end of its line."""
    out, quote, skipping = [], "", False
    for i, ch in enumerate(command):
        if skipping:
            if ch == "\n":
                skipping = False
                out.append(ch)
            continue
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or command[i - 1].isspace()):
            skipping = True
            continue
        out.append(ch)
    return "\n".join(line.rstrip() for line in "".join(out).splitlines()).strip()


def substitute(command: str, w: dict[str, Path]) -> str:
    """The printed command with the docs' placeholders replaced by the demo world's paths."""
    subs = [
        (r"/data/nso/reglink\.yaml", f"{w['demo']}/reglink.yaml"),
        (r"(?<![\w./-])demo/", f"{w['demo']}/"),
        (r"(?<![\w./-])crossings\.csv", str(w["clean_csv"])),
        (r"(?<![\w./-])out/", f"{w['tmp']}/out/"),
        (r"(?<![\w./-])events\.parquet", f"{w['tmp']}/events.parquet"),
        (r"(?<![\w./-])/tmp/bench/w100k\b", str(w["demo"])),
        (r"(?<![\w./-])/tmp/w100k(-std)?\b", lambda m: f"{w['tmp']}/w100k{m.group(1) or ''}"),
        (r"--world W\b", f"--world {w['demo']}"),
        (r"(?<![\w./-])/tmp/w-std\b", f"{w['tmp']}/w-std"),
        (r"\bDIR\b", f"{w['tmp']}/synth"),
        (r"--persons \d+", "--persons 300"),
        (r"--runs \d+", "--runs 1"),
    ]
    for pattern, repl in subs:
        command = re.sub(pattern, repl, command)
    return command


def run(command: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run one command in its own process group, so a hung one is stopped with all it started."""
    proc = subprocess.Popen(["bash", "-c", command], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n(stopped after {timeout:.0f} s)"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def clean_env() -> dict[str, str]:
    """The user's shell after set-up: no Dagster home or config chosen beforehand."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DAGSTER_HOME", "REGLINK_CONFIG", "REGLINK_FORCE")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def make_world(tmp: Path, env: dict[str, str]) -> dict[str, Path]:
    """The demo (what `./run demo` makes, smaller), a clean extract, and a month's delivery."""
    demo = tmp / "demo"
    res = run(f"./run demo --persons {DEMO_PERSONS} --dir {demo}", env)
    assert res.returncode == 0, res.stderr[-TAIL:]
    # an extract a register owner would deliver: the demo's border register without the
    # records the generator made invalid on purpose (those make `validate` exit 1, rightly)
    invalid = (pl.read_parquet(demo / "truth" / "record_person.parquet")
               .filter(pl.col("noise").str.contains("invalid"))["record_id"])
    clean = tmp / "clean_crossings.csv"
    (pl.read_parquet(demo / "border_crossings.parquet")
     .filter(~pl.col("record_id").is_in(invalid.implode())).write_csv(clean))
    # a later month's delivery of permits, so a month partition exists to backfill; the docs'
    # own `reglink run` takes it in
    month = demo / "landing" / "2025-06"
    month.mkdir(parents=True, exist_ok=True)
    permits = pl.read_parquet(demo / "permits.parquet").filter(
        ~pl.col("record_id").is_in(invalid.implode())).head(5)
    permits.with_columns(pl.format("PM202506{}", pl.int_range(pl.len()).cast(pl.Utf8))
                         .alias("record_id")).write_csv(month / "permits.csv")
    return {"tmp": tmp, "demo": demo, "clean_csv": clean}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_server(command: str, env: dict[str, str], tmp: Path) -> str | None:
    """Start a server command, wait until it serves the demo's runs, stop it. None when fine,
    else what went wrong."""
    port = free_port()
    log = tmp / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(["bash", "-c", f"{command} --port {port} --host 127.0.0.1"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    problem: str | None = "did not serve within 240 s"
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            if proc.poll() is not None:
                problem = f"exited with code {proc.returncode}"
                break
            try:
                data = graphql(port, "{ assetNodes { id } shouldShowNux "
                                     "runsOrError { ... on Runs { results { runId } } } }")["data"]
            except Exception as exc:  # noqa: BLE001 - not up yet
                problem = f"did not serve within 240 s (last: {exc})"
                time.sleep(2)
                continue
            if not data["assetNodes"]:
                time.sleep(2)
                continue
            runs = data["runsOrError"].get("results") or []
            problem = None
            if not runs:
                problem = "serves, but shows none of the demo's runs (another Dagster home?)"
            elif data["shouldShowNux"]:
                problem = "serves, but a fresh instance would greet users with the pop-up"
            break
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and what it started: its own group
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
    if problem:
        problem += "\n" + log.read_text(errors="replace")[-TAIL:]
    return problem


@pytest.mark.skipif(os.environ.get(GUARD) == "1", reason="already inside a documented command")
def test_every_documented_command_works(tmp_path):
    env = clean_env()
    env[GUARD] = "1"  # `./run test` below must never start this test again
    commands = doc_commands()
    assert len(commands) >= 15, "the parser found too few commands in the docs"
    # benchmarks append to the tracked result files; leave them as they were
    results = {p: p.read_bytes() for p in (ROOT / "bench" / "results").glob("*")}
    failures: list[str] = []
    done: set[str] = set()
    timings: list[str] = []
    try:
        world = make_world(tmp_path, env)
        # the docs' default config is the demo's (`demo/reglink.yaml`); here the demo is in tmp
        env["REGLINK_CONFIG"] = f"{world['demo']}/reglink.yaml"
        for cmd in commands:
            argv = argv_of(cmd.printed)
            if any(key in cmd.printed for key in NOT_RUN):
                continue
            if argv[:2] == ["./run", "demo"] and len(argv) == 2:
                continue  # the world above was made by this very command (with --persons, --dir)
            command = strip_comments(substitute(cmd.printed, world))
            # a variable set to what the environment already holds changes nothing
            for var, value in env.items():
                command = command.replace(f"{var}={value} ", "")
            if command in done:
                continue  # printed twice (README and a docs page): run once
            done.add(command)
            if argv[:2] == ["./run", "test"]:
                # the suite inside the suite: check the entry point collects it, not a rerun
                command = f"{command} --collect-only -q -p no:cacheprovider"
            if argv[:2] == ["./run", "dev"]:
                problem = check_server(command, env, tmp_path)
                if problem:
                    failures.append(f"{cmd.where}: {cmd.printed}\n  {problem}")
                continue
            t0 = time.perf_counter()
            res = run(command, env)
            timings.append(f"{time.perf_counter() - t0:6.1f}s {command[:100]}")
            if res.returncode != 0:
                failures.append(f"{cmd.where}: {cmd.printed}\n  ran: {command}\n  exit "
                                f"{res.returncode}\n{(res.stdout + res.stderr)[-TAIL:]}")
    finally:
        for p, data in results.items():
            p.write_bytes(data)
    print("\n".join(timings))
    assert not failures, "documented commands that fail:\n\n" + "\n\n".join(failures)
