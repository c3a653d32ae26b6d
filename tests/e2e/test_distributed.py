"""Locust's distributed mode through the CLI: ``run --workers 2`` gives one merged, accounted history;
a worker joining with ``walletchaos worker --master`` takes part; a dead worker makes the verdict unknown."""

from __future__ import annotations

import collections
import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import psutil

from tests.e2e.test_scenarios import CLI, leftovers, run_cli, verdict_of

SCENARIO = """\
name: distributed
wallet: {replicas: 1}
accounts: {users: 20, merchants: 2}
load:
  shape:
    - {phase: steady, for: 12s, users: 10, rate: 4}
"""


def client_records(run_dir: Path) -> list[dict]:  # type: ignore[type-arg]
    lines = (run_dir / "history.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if isinstance(r["process"], int)]


def shipped(run_dir: Path) -> dict:  # type: ignore[type-arg]
    """The load's accounting of its workers' records (``load_exit``)."""
    records = map(json.loads, (run_dir / "history.jsonl").read_text().splitlines())
    exit_ = next(r for r in records if r["f"] == "load_exit" and r["type"] == "ok")
    return exit_["value"]["distributed"]  # type: ignore[no-any-return]


def test_two_workers_give_one_history_with_every_record_accounted_for(tmp_path: Path) -> None:
    scenario = tmp_path / "distributed.yaml"
    scenario.write_text(SCENARIO)
    before = leftovers()
    done = run_cli("run", str(scenario), "--workers", "2", "--json", out=tmp_path / "runs")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run_dir = (tmp_path / "runs" / "latest").resolve()
    results = {r["name"]: r for r in verdict_of(tmp_path / "runs")["results"]}
    complete = results["history complete"]
    assert complete["valid"] == "valid", complete
    accounting = shipped(run_dir)
    assert accounting["expected"] == accounting["reported"] == 2 and accounting["records_missing"] == 0
    records = client_records(run_dir)
    by_worker = collections.Counter(r["process"] % 2 for r in records)
    assert by_worker[0] > 100 and by_worker[1] > 100, by_worker  # both workers sent load
    assert [w["received"] for w in accounting["workers"]] == [by_worker[0], by_worker[1]]
    assert len({r["process"] for r in records}) == 10, "ten users, one number each across the workers"
    pairs = collections.Counter((r["process"], r["op"], r["type"] == "invoke") for r in records)
    assert max(pairs.values()) == 1, "no two records share an op id"
    invokes = sum(1 for r in records if r["type"] == "invoke")
    assert invokes == len(records) / 2, "every invoke has its completion"
    assert results["conservation"]["valid"] == "valid"
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["rerun"].endswith("--workers 2") and meta["workers"]["local"] == 2, meta["rerun"]
    assert leftovers() <= before, "workers stopped with the load"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    """The distributed scenario run in the background (``args``: the worker flags), out in tmp_path/runs."""
    scenario = tmp_path / "distributed.yaml"
    scenario.write_text(SCENARIO)
    return subprocess.Popen(
        [*CLI, "run", str(scenario), *args, "--out", str(tmp_path / "runs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _descendants(proc: subprocess.Popen[str], *words: str) -> list[psutil.Process]:
    """The run's live descendant processes whose command line has every word (a child that exits or is a
    zombie while being looked at, e.g. a short-lived initdb, is skipped, not an error)."""
    found = []
    for p in psutil.Process(proc.pid).children(recursive=True):
        try:
            if all(w in p.cmdline() for w in words):
                found.append(p)
        except psutil.Error:
            continue
    return found


def _workers_of(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    return _descendants(proc, "walletchaos.load", "--worker")


def test_a_worker_joining_from_the_command_line_takes_part(tmp_path: Path) -> None:
    port = _free_port()
    run = _start(tmp_path, "--workers", "1", "--remote-workers", "1", "--master-port", str(port))
    try:
        assert _wait_for(lambda: len(_workers_of(run)) == 1, 120), "the local worker started"
        joined = subprocess.run(
            [*CLI, "worker", "--master", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=180
        )
        out, _ = run.communicate(timeout=180)
    finally:
        run.kill()
    assert run.returncode == 0, out[-3000:]
    assert joined.returncode == 0, joined.stderr[-3000:]
    assert "worker 1 of 2 configured" in joined.stderr or "worker 0 of 2 configured" in joined.stderr
    accounting = shipped((tmp_path / "runs" / "latest").resolve())
    assert accounting["reported"] == 2 and accounting["records_missing"] == 0
    assert all(w["received"] > 100 for w in accounting["workers"]), accounting


def test_a_worker_beyond_the_expected_ones_is_sent_away_and_the_run_stays_whole(tmp_path: Path) -> None:
    """The stray worker says hello before the run's own worker has even started: it must still not take
    the seat kept for the run's own worker."""
    port = _free_port()
    started = time.monotonic()
    extra = subprocess.Popen(
        [*CLI, "worker", "--master", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = _start(tmp_path, "--workers", "1", "--master-port", str(port))
    try:
        _, extra_err = extra.communicate(timeout=120)
        took = time.monotonic() - started
        out, _ = run.communicate(timeout=180)
    finally:
        run.kill()
        extra.kill()
    assert extra.returncode == 3, extra_err[-2000:]
    assert "already has every worker it expects" in extra_err, extra_err[-2000:]
    assert took < 60, f"the extra worker waited {took:.0f} s for a config that never comes"
    assert run.returncode == 0, out[-3000:]
    accounting = shipped((tmp_path / "runs" / "latest").resolve())
    assert accounting["expected"] == 1 and accounting["reported"] == 1 and accounting["records_missing"] == 0
    load_log = (tmp_path / "runs" / "latest" / "logs" / "load.log").read_text()
    assert "remote worker" in load_log and "sent away" in load_log
    assert "worker 0 of 1 configured" in load_log


def test_a_worker_that_dies_makes_the_verdict_unknown_naming_it(tmp_path: Path) -> None:
    run = _start(tmp_path, "--workers", "2")
    try:
        phase = tmp_path / "runs" / "distributed"
        assert _wait_for(lambda: any(p.read_text().strip() == "load" for p in phase.glob("*/phase")), 120), (
            "the load started"
        )
        time.sleep(4)  # into the load: the worker has shipped records and has more in flight
        victims = _workers_of(run)
        assert len(victims) == 2
        victims[0].send_signal(signal.SIGKILL)
        out, _ = run.communicate(timeout=240)
    finally:
        run.kill()
    assert run.returncode == 2, out[-3000:]
    results = {r["name"]: r for r in verdict_of(tmp_path / "runs")["results"]}
    complete = results["history complete"]
    assert complete["valid"] == "unknown" and "never said how many they shipped" in complete["summary"], (
        complete
    )
    assert "history complete" in out


def test_a_run_whose_workers_never_join_tested_nothing_and_says_so(tmp_path: Path) -> None:
    scenario = tmp_path / "distributed.yaml"
    scenario.write_text(SCENARIO)
    port = str(_free_port())
    done = run_cli(
        "run",
        str(scenario),
        "--remote-workers",
        "1",
        "--master-port",
        port,
        "--workers-wait",
        "5",
        out=tmp_path / "runs",
    )
    assert done.returncode == 2, done.stdout[-3000:]  # unknown: was VALID on zero operations
    assert "only 0 of 1 workers joined: no load" in done.stdout
    results = {r["name"]: r for r in verdict_of(tmp_path / "runs")["results"]}
    assert (
        results["load ran"]["valid"] == "unknown" and "nothing was tested" in results["load ran"]["summary"]
    )


def test_a_load_process_killed_outright_leaves_no_worker_behind(tmp_path: Path) -> None:
    before = leftovers()
    run = _start(tmp_path, "--workers", "2")
    try:
        assert _wait_for(lambda: len(_workers_of(run)) == 2, 120), "the workers started"
        time.sleep(3)
        workers = _workers_of(run)
        master = next(p for p in _descendants(run, "walletchaos.load") if p not in workers)
        master.send_signal(signal.SIGKILL)  # no chance to tell its workers
        out, _ = run.communicate(timeout=240)
    finally:
        run.kill()
    assert run.returncode == 2, out[-3000:]
    results = {r["name"]: r for r in verdict_of(tmp_path / "runs")["results"]}
    assert (
        results["load ran"]["valid"] == "unknown" and "exited with code -9" in results["load ran"]["summary"]
    )
    assert leftovers() <= before, "the workers went with their load process"
