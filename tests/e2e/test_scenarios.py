"""Whole scenarios through the ``walletchaos`` CLI, as a user runs them."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reports import wallet_metrics
from walletchaos import history
from walletchaos.ops import TRANSFER_FS

CLI = [sys.executable, "-m", "walletchaos"]


def run_cli(*args: str, out: Path, timeout: int = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args, "--out", str(out)], capture_output=True, text=True, timeout=timeout, check=False
    )


def leftovers() -> set[str]:
    """Processes and clusters a run may leave behind (it must leave none)."""
    found = subprocess.run(
        ["pgrep", "-af", "reference_wallet|gowallet|toxiproxy-server|walletchaos.load|walletchaos-pg-"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    return {line.split(" ", 1)[1] for line in found if "pgrep" not in line} | set(
        glob.glob("/tmp/walletchaos-pg-*")
    )


def verdict_of(out: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((out / "latest" / "verdict.json").read_text())  # type: ignore[no-any-return]


def test_smoke_passes_and_leaves_a_complete_run_directory(tmp_path: Path) -> None:
    before = leftovers()
    done = run_cli("run", "scenarios/smoke.yaml", out=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    run_dir = (tmp_path / "latest").resolve()
    assert run_dir.parent.name == "smoke" and "run directory:" in done.stdout
    for name in (
        "scenario.yaml",
        "scenario.json",
        "plan.json",
        "run.json",
        "history.jsonl",
        "audit.json",
        "ledger.jsonl",
        "verdict.json",
        "junit.xml",
        "summary.md",
        "report.html",
        "logs/load.log",
        "logs/wallet0.log",
        "logs/postgres.log",
        "logs/toxiproxy.log",
    ):
        assert (run_dir / name).is_file(), name
    verdict = verdict_of(tmp_path)
    assert verdict["valid"] == "valid" and verdict["stats"]["ops"] > 500
    assert {"walletchaos", "wallet", "wallet defects", "postgresql", "toxiproxy", "haproxy"} <= set(
        verdict["versions"]
    )
    load_log = (run_dir / "logs/load.log").read_text()
    assert "phase baseline" in load_log and "phase decay" in load_log and "done:" in load_log
    assert {r["name"] for r in verdict["results"]} >= {
        "conservation",
        "exactly_once",
        "durability",
        "lockout",
    }
    assert json.loads((run_dir / "audit.json").read_text())["ledger"] == "ledger.jsonl"
    postings = [json.loads(line) for line in (run_dir / "ledger.jsonl").read_text().splitlines()]
    assert len(postings) >= verdict["stats"]["ledger_postings"] > 0 and sum(p["delta"] for p in postings) == 0
    records = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    faults = [r for r in records if r["process"] == "nemesis"]
    assert [r["f"] for r in faults if r["type"] == "ok"] == ["apply", "heal", "apply", "heal"]
    # one clock: time 0 of the history is the moment the load process started its shape, and faults land
    # `at` seconds after it; the report draws the fault bands at those same times
    start = next(r for r in records if r["f"] == "load_start" and r["type"] == "ok")
    assert start["value"] == {"reported": True} and start["time"] == 0
    applies = [r for r in faults if r["f"] == "apply" and r["type"] == "invoke"]
    late = [r["time"] / 1e9 - r["value"]["planned_at"] for r in applies]
    assert len(late) == 2 and all(0 <= s < 0.25 for s in late), late
    assert [f["invoked_s"] for f in verdict["faults"]] == [r["time"] / 1e9 for r in applies]
    wallet = wallet_metrics.build(run_dir)  # each replica's /metrics, once a second
    assert wallet.charted and set(wallet.pool_in_use) == {0, 1}, wallet  # the smoke runs 2 replicas
    assert wallet.failed >= 1, "the killed replica's missed scrapes are recorded as gaps"
    served = sum(v or 0 for status, rates in wallet.requests.items() if status[0] == "2" for v in rates)
    assert 0.5 * verdict["stats"]["ok"] < served < 2 * verdict["stats"]["ok"], (served, verdict["stats"])
    assert "the bottom two rows are what the replicas said" in (run_dir / "report.html").read_text()
    assert leftovers() <= before, "the run left processes or clusters behind"
    again = subprocess.run([*CLI, "analyze", str(run_dir)], capture_output=True, text=True, check=False)
    assert again.returncode == 0 and json.loads((run_dir / "verdict.json").read_text())["valid"] == "valid"


def test_bad_deploy_is_caught_naming_the_invariant(tmp_path: Path) -> None:
    done = run_cli("run", "scenarios/bad_deploy.yaml", "--json", out=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    violated = {r["name"] for r in verdict_of(tmp_path)["results"] if r["valid"] == "invalid"}
    assert "exactly_once" in violated
    doc = json.loads(done.stdout)  # --json: stdout is the verdict document alone, the rest went to stderr
    assert doc["valid"] == "invalid" and doc["exit_code"] == 1 and Path(doc["run_dir"]).is_dir()
    assert "exactly_once" in {r["name"] for r in doc["results"] if r["valid"] == "invalid"}
    assert (
        "exactly_once" in done.stderr
        and "re-run with: walletchaos run scenarios/bad_deploy.yaml --seed 3" in done.stderr
    )


@pytest.mark.parametrize(
    "name",
    [
        "db_outage",
        "db_blackhole",
        "network_lag",
        "flash_sale",
        "lockout_attack",
        "singles_day",
        "failover_sync",
    ],
)
def test_shipped_scenario_passes_on_the_correct_wallet(tmp_path: Path, name: str) -> None:
    done = run_cli("run", f"scenarios/{name}.yaml", out=tmp_path)
    verdict = verdict_of(tmp_path)
    bad = [(r["name"], r["summary"]) for r in verdict["results"] if r["valid"] != "valid"]
    assert done.returncode == 0, (bad, done.stderr[-2000:])
    # the run directory reads back (its scenario.json included: an open-model one did not) to the same verdict
    again = subprocess.run(
        [*CLI, "analyze", str(tmp_path / "latest")], capture_output=True, text=True, check=False
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert verdict_of(tmp_path)["valid"] == "valid"
    if name == "db_blackhole":  # timeouts: the audit settled by key the keys history.pair leaves unknown
        run = tmp_path / "latest"
        audit = json.loads((run / "audit.json").read_text())
        outcomes: dict[str, set[str]] = {}
        for c in history.pair(history.read(run / "history.jsonl")):
            if c.f in TRANSFER_FS and c.key:
                outcomes.setdefault(c.key, set()).add(c.type)
        unknown = {k for k, seen in outcomes.items() if "info" in seen and "ok" not in seen}
        assert unknown, "the blackhole left no transfer unknown: the settling was not exercised"
        assert set(audit["resolutions"]) | set(audit["unresolved"]) == unknown
    if name == "lockout_attack":  # 5 s sessions: clients renew them, and expired ones are probed and refused
        records = [
            json.loads(line) for line in (tmp_path / "latest" / "history.jsonl").read_text().splitlines()
        ]
        probes = {(r["process"], r["op"]) for r in records if r.get("value", {}).get("probe") == "expired"}
        answers = [
            r["status"] for r in records if (r["process"], r["op"]) in probes and r["type"] != "invoke"
        ]
        assert answers and set(answers) <= {401}, answers
        own = [r for r in records if r["type"] != "invoke" and r.get("f") in ("pay", "p2p", "balance")]
        assert not [r for r in own if r.get("status") == 401], "a renewed session was refused"


def test_validate_reports_a_broken_file_with_location(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nload:\n  shape:\n    - {phase: p, for: 30 sec, users: 2}\n")
    done = subprocess.run([*CLI, "validate", str(broken)], capture_output=True, text=True, check=False)
    assert done.returncode == 254
    assert f"{broken}:4:" in done.stderr and "load.shape[0].for" in done.stderr


def _labelled_containers() -> list[str]:
    from walletchaos.errors import InfraError
    from walletchaos.stack.containers import LABEL, engine

    try:
        client = engine()
    except InfraError as exc:
        pytest.skip(f"DOCKER ENGINE UNAVAILABLE, docker runtime NOT TESTED: {exc}")
    return [c.name for c in client.containers.list(all=True, filters={"label": LABEL})]


@pytest.mark.parametrize("runtime", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_ctrl_c_heals_and_stops_everything(tmp_path: Path, runtime: str) -> None:
    before = leftovers()
    containers_before = _labelled_containers() if runtime == "docker" else []
    proc = subprocess.Popen(
        [*CLI, "run", "scenarios/db_outage.yaml", "--runtime", runtime, "--out", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    history_started = False
    while time.monotonic() < deadline and not history_started:  # interrupt during the outage itself
        time.sleep(0.5)
        history_started = any(tmp_path.glob("db_outage/*/client-history.jsonl"))
    time.sleep(12)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, out + err
    assert "interrupted" in out
    history = (tmp_path / "latest" / "history.jsonl").read_text()
    heals = [json.loads(line) for line in history.splitlines() if '"heal"' in line and '"type":"ok"' in line]
    assert heals and heals[-1]["value"]["reason"] == "final"
    assert leftovers() <= before
    if runtime == "docker":
        assert _labelled_containers() == containers_before == []


def test_abort_if_stops_the_load_early_and_is_named(tmp_path: Path) -> None:
    scenario = tmp_path / "doomed.yaml"
    scenario.write_text("""\
name: doomed
description: PostgreSQL stays down far longer than anyone should keep hammering it.
wallet: {replicas: 1}
accounts: {users: 20, merchants: 2, attack_targets: 0}
load:
  shape: [{phase: flat, for: 60s, users: 10, rate: 4}]
faults:
  - {at: 3s, for: 50s, fault: process.stop, target: postgres}
abort_if: {error_rate: 0.5, for: 3s}
""")
    started = time.monotonic()
    done = run_cli("run", str(scenario), out=tmp_path / "runs")
    assert time.monotonic() - started < 45, "the load should have stopped soon after the abort condition held"
    assert done.returncode == 1, done.stdout + done.stderr
    verdict = verdict_of(tmp_path / "runs")
    aborted = next(r for r in verdict["results"] if r["name"] == "abort_if")
    assert aborted["valid"] == "invalid" and aborted["first"]["error_rate"] == 0.5


def test_a_wallet_that_cannot_start_is_an_invalid_wallet_with_its_log_tail(tmp_path: Path) -> None:
    before = leftovers()
    scenario = tmp_path / "crashy.yaml"
    scenario.write_text("""\
name: crashy
wallet: {replicas: 1, defects: [crash_on_start]}
accounts: {users: 4, merchants: 1, attack_targets: 0}
load:
  shape: [{phase: p, for: 5s, users: 2}]
""")
    done = run_cli("run", str(scenario), out=tmp_path / "runs", timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "exited during start-up" in done.stdout and "crash_on_start" in done.stdout
    meta = json.loads((tmp_path / "runs" / "latest" / "run.json").read_text())
    assert meta["exit_code"] == 1 and "crash_on_start" in meta["wallet_error"]
    assert leftovers() <= before


def test_expectations_fail_a_wallet_without_database_timeouts(tmp_path: Path) -> None:
    """db_blackhole says what it expects during its fault (answers within 1.2 s at p99); the reference
    wallet carrying `no_db_timeouts` waits on its unreachable database instead, and the run says so by
    name. (The smoke's 50 ms of latency cannot tell the two apart: the one-round-trip wallet serves 99.9%
    of requests under it with or without timeouts; timeouts matter when the database hangs.)"""
    import yaml

    scenario = yaml.safe_load(Path("scenarios/db_blackhole.yaml").read_text())
    scenario["wallet"]["defects"] = ["no_db_timeouts"]
    path = tmp_path / "blackhole_no_timeouts.yaml"
    path.write_text(yaml.safe_dump(scenario))
    done = run_cli("run", str(path), out=tmp_path / "runs")
    results = {r["name"]: r for r in verdict_of(tmp_path / "runs")["results"]}
    assert done.returncode == 1, done.stdout[-2000:]
    expect = results["expect: network.timeout on db"]
    assert expect["valid"] == "invalid" and "p99" in expect["summary"], expect


def test_an_asynchronous_failover_that_loses_acknowledged_transfers_is_caught(tmp_path: Path) -> None:
    """failover_async must fail on durability with the lost transfers and the RPO named per failover; a run
    whose failover happened to lose nothing is "not exercised" (exit 2), never a pass."""
    done = run_cli("run", "scenarios/failover_async.yaml", out=tmp_path)
    results = {r["name"]: r for r in verdict_of(tmp_path)["results"]}
    rpo = results["rpo: process.failover on postgres"]
    if done.returncode == 2:
        assert rpo["valid"] == "unknown" and "not exercised" in rpo["summary"], rpo
        assert results["durability"]["valid"] == "valid"
        return
    assert done.returncode == 1, done.stdout[-2000:]
    lost = results["durability"]
    assert lost["valid"] == "invalid" and lost["count"] >= 1 and lost["first"]["type"] == "ok"
    assert rpo["valid"] == "invalid" and rpo["count"] == lost["count"]
    assert results["conservation"]["valid"] == "valid", "what remains is still conserved"


WEB = """\
name: web_ui
wallet: {replicas: 1}
accounts: {users: 10, merchants: 2}
load:
  shape:
    - {phase: steady, for: 8s, users: 5, rate: 4}
"""


def test_run_with_web_serves_locusts_ui_on_the_loopback_while_the_load_runs(tmp_path: Path) -> None:
    import socket

    import httpx

    scenario = tmp_path / "web_ui.yaml"
    scenario.write_text(WEB)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        busy = run_cli("run", str(scenario), "--web", "--web-port", str(port), out=tmp_path / "busy")
        assert busy.returncode == 254 and f"--web-port {port}" in busy.stderr, busy.stderr
        assert not (tmp_path / "busy").exists(), "nothing started"
    proc = subprocess.Popen(
        [*CLI, "run", str(scenario), "--web", "--web-port", str(port), "--out", str(tmp_path / "runs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: dict[str, object] = {}
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and not seen:
        time.sleep(0.5)
        try:
            stats = httpx.get(f"http://127.0.0.1:{port}/stats/requests", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            continue
        names = {row["name"] for row in stats["stats"] if row["num_requests"] > 0}
        if "pay" in names or "p2p" in names:
            seen = {"names": names, "state": stats["state"]}
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out
    assert seen and seen["state"] == "running", seen
    assert f"Locust web UI on http://127.0.0.1:{port}" in out
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # the UI is gone with the load
