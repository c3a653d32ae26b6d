"""Ctrl-C / SIGTERM at every phase of a run: every fault healed, every process stopped, the cluster directory
and load-config.json deleted, run.json says interrupted, exit 2, no traceback, no report path to a file
that was not written. The test hook WALLETCHAOS_PAUSE_AT holds the run at the phase named."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_scenarios import leftovers

TINY = """\
name: tiny
wallet: {replicas: 2, settings: {lockout_window_s: 30, lockout_duration_s: 3}}
accounts: {users: 10, merchants: 2, attack_targets: 1}
load:
  shape: [{phase: flat, for: 8s, users: 6, rate: 4}]
faults:
  - {at: 1s, for: 20s, fault: network.latency, target: db, params: {latency: 20}}
"""


def _phase(run_root: Path) -> str | None:
    found = list(run_root.glob("tiny/*/phase"))
    return found[0].read_text().strip() if found else None


DOCKER = pytest.mark.docker


def _containers() -> set[str]:
    from walletchaos.errors import InfraError
    from walletchaos.stack.containers import LABEL, engine

    try:
        client = engine()
    except InfraError as exc:
        pytest.skip(f"DOCKER ENGINE UNAVAILABLE, docker runtime NOT TESTED: {exc}")
    return {c.name for c in client.containers.list(all=True, filters={"label": LABEL})}


@pytest.mark.parametrize(
    ("phase", "sig", "runtime"),
    [
        ("start", signal.SIGINT, "local"),
        ("accounts", signal.SIGTERM, "local"),
        ("load", signal.SIGINT, "local"),
        ("heal", signal.SIGTERM, "local"),
        ("audit", signal.SIGINT, "local"),
        ("judge", signal.SIGINT, "local"),
        ("report", signal.SIGTERM, "local"),
        # a pair, as `timeout -s INT` sends (the command, then its group) or a bench script's Ctrl-C then its
        # SIGTERM to this child: the second must not cut the clean-up of the first short
        ("load", (signal.SIGINT, signal.SIGTERM), "local"),
        pytest.param("start", signal.SIGTERM, "docker", marks=DOCKER),
        pytest.param("heal", signal.SIGINT, "docker", marks=DOCKER),
        pytest.param("audit", signal.SIGTERM, "docker", marks=DOCKER),
    ],
)
def test_an_interrupt_at_any_phase_leaves_nothing_behind(
    tmp_path: Path, phase: str, sig: int | tuple[int, int], runtime: str
) -> None:
    before = leftovers()
    containers_before = _containers() if runtime == "docker" else set()
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    runs = tmp_path / "runs"
    env = {**os.environ, "WALLETCHAOS_PAUSE_AT": phase}
    proc = subprocess.Popen(
        [sys.executable, "-m", "walletchaos", "run", str(scenario), "--out", str(runs), "--runtime", runtime],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 120
    while _phase(runs) != phase and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert _phase(runs) == phase, f"the run never reached {phase}"
    if phase == "load":
        time.sleep(3)  # a fault is active now
    for i, each in enumerate(sig if isinstance(sig, tuple) else (sig,)):
        time.sleep(0.02 * i)
        os.kill(proc.pid, each)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 2, out + err
    assert "Traceback" not in out + err
    run_dir = next(runs.glob("tiny/*"))
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["interrupted"] is True and meta["exit_code"] == 2
    assert not (run_dir / "load-config.json").exists()
    assert not (run_dir / "report.html").exists() and "report.html" not in out
    assert leftovers() <= before, "the interrupted run left processes or clusters behind"
    if runtime == "docker":
        assert _containers() <= containers_before, "the interrupted run left containers behind"
    history = (run_dir / "history.jsonl").read_text().splitlines()
    applies = [json.loads(r) for r in history if '"nemesis"' in r and '"apply"' in r and '"ok"' in r]
    heals = [json.loads(r) for r in history if '"nemesis"' in r and '"heal"' in r and '"ok"' in r]
    assert len(heals) == len(applies), "every applied fault was healed"


def _start_and_kill(runs: Path, scenario: Path, phase: str) -> Path:
    env = {**os.environ, "WALLETCHAOS_PAUSE_AT": phase}
    proc = subprocess.Popen(
        [sys.executable, "-m", "walletchaos", "run", str(scenario), "--out", str(runs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 120
    while _phase(runs) != phase and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _phase(runs) == phase
    os.kill(proc.pid, signal.SIGKILL)  # nothing runs in the harness now
    proc.wait(timeout=10)
    return next(runs.glob("tiny/*"))


@pytest.mark.parametrize("then", ["clean", "next run"])
def test_what_a_killed_harness_left_is_removed_by_clean_or_the_next_run(tmp_path: Path, then: str) -> None:
    before = leftovers()
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    runs = tmp_path / "runs"
    run_dir = _start_and_kill(runs, scenario, "heal")  # load done, a fault still active
    left = leftovers() - before
    assert any("reference_wallet" in x for x in left) and any("walletchaos-pg-" in x for x in left), left
    assert (run_dir / "load-config.json").exists()
    if then == "clean":
        done = subprocess.run([sys.executable, "-m", "walletchaos", "clean"], capture_output=True, text=True)
        assert (
            done.returncode == 0 and "removed process" in done.stdout and "removed directory" in done.stdout
        )
    else:
        done = subprocess.run(
            [sys.executable, "-m", "walletchaos", "run", str(scenario), "--out", str(tmp_path / "next")],
            capture_output=True,
            text=True,
        )
        assert "removed a leftover of a killed run" in done.stdout, done.stdout + done.stderr
    time.sleep(1)  # PostgreSQL backends notice their postmaster is gone
    assert leftovers() <= before, leftovers() - before
    assert not (run_dir / "load-config.json").exists()
