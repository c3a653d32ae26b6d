"""Interrupts at random moments and kills, counted: runs a small scenario N times, sends SIGINT or SIGTERM
at a random moment of each run, then kills M runs with SIGKILL and runs `walletchaos clean` (or, every other
time, the next run) after each. Prints how many left anything behind (processes, cluster directories, load
configs, containers) and how many ended otherwise than exit 2 with `interrupted: true`. Goal: 0 and 0.

    .venv/bin/python bench/interrupts.py [--runtime local|docker] [--interrupts 20] [--kills 5]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import _child

SCENARIO = """\
name: chaos_bench
wallet: {replicas: 2, settings: {lockout_window_s: 30, lockout_duration_s: 3}}
accounts: {users: 20, merchants: 2, attack_targets: 1}
load:
  shape: [{phase: flat, for: 14s, users: 8, rate: 4}]
faults:
  - {at: 2s, for: 3s, fault: network.latency, target: db, params: {latency: 20}}
  - {at: 6s, for: 2s, fault: process.kill, target: "wallet[1]"}
slo:
  recovery: {max: 4s, success: 0.9, hold: 1s}
"""
CLI = [sys.executable, "-m", "walletchaos"]


def leftovers() -> set[str]:
    procs = subprocess.run(
        ["pgrep", "-af", "reference_wallet|toxiproxy-server|walletchaos.load|walletchaos-pg-"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    found = {p.split(" ", 1)[1] for p in procs if "pgrep" not in p}
    found |= set(glob.glob("/tmp/walletchaos-pg-*")) | set(glob.glob("/tmp/wc-bench-*/**/load-config.json"))
    containers = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=walletchaos.run"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found | {f"container {c}" for c in containers.stdout.split()}


def start(scenario: Path, out: Path, runtime: str) -> subprocess.Popen[str]:
    argv = [*CLI, "run", str(scenario), "--runtime", runtime, "--out", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def interrupt_once(scenario: Path, out: Path, runtime: str, rng: random.Random) -> list[str]:
    before = leftovers()
    proc = start(scenario, out, runtime)
    time.sleep(rng.uniform(0.5, 40.0 if runtime == "docker" else 25.0))
    sig = rng.choice([signal.SIGINT, signal.SIGTERM])
    if proc.poll() is None:
        os.kill(proc.pid, sig)
    stdout, stderr = proc.communicate(timeout=300)
    problems = []
    run_dir = sorted(out.glob("chaos_bench/*"))[-1]
    meta = json.loads((run_dir / "run.json").read_text()) if (run_dir / "run.json").exists() else {}
    finished_first = meta.get("interrupted") is False and proc.returncode == meta.get("exit_code")
    if not finished_first and (proc.returncode != 2 or not meta.get("interrupted")):
        problems.append(f"exit {proc.returncode}, run.json interrupted={meta.get('interrupted')}")
    if "Traceback" in stdout + stderr:
        problems.append("traceback")
    if problems:  # keep what the run printed, for the reader of the bench
        (run_dir / "bench-output.txt").write_text(stdout + "\n--- stderr ---\n" + stderr)
        problems.append(f"output in {run_dir / 'bench-output.txt'}")
    left = leftovers() - before
    if left:
        problems.append(f"left {sorted(left)[:3]}")
    return problems


def kill_once(scenario: Path, out: Path, runtime: str, rng: random.Random, then_run: bool) -> list[str]:
    before = leftovers()
    proc = start(scenario, out, runtime)
    time.sleep(rng.uniform(3.0, 15.0 if runtime == "local" else 30.0))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    if then_run:
        subprocess.run(
            [*CLI, "run", str(scenario), "--runtime", runtime, "--out", str(out)], capture_output=True
        )
    else:
        subprocess.run([*CLI, "clean"], capture_output=True)
    time.sleep(1)
    left = leftovers() - before
    return [f"left {sorted(left)[:3]}"] if left else []


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", default="local")
    ap.add_argument("--interrupts", type=int, default=20)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = _child.workdir("wc-bench-")
    scenario = work / "chaos_bench.yaml"
    scenario.write_text(SCENARIO)
    bad_interrupts = bad_kills = 0
    for i in range(args.interrupts):
        problems = interrupt_once(scenario, work / "runs", args.runtime, rng)
        bad_interrupts += bool(problems)
        print(f"interrupt {i + 1:2d}/{args.interrupts}: {problems if problems else 'ok'}", flush=True)
    for i in range(args.kills):
        problems = kill_once(scenario, work / "runs", args.runtime, rng, then_run=i % 2 == 1)
        bad_kills += bool(problems)
        print(f"kill      {i + 1:2d}/{args.kills}: {problems if problems else 'ok'}", flush=True)
    print(
        f"{args.runtime}: {args.interrupts - bad_interrupts}/{args.interrupts} interrupted runs and "
        f"{args.kills - bad_kills}/{args.kills} killed runs left nothing behind"
    )
    return 1 if bad_interrupts or bad_kills else 0


if __name__ == "__main__":
    sys.exit(main())
