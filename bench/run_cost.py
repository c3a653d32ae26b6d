"""P4, the fixed cost of a run, and P5, fault timing against the schedule, from one short run through
``walletchaos run`` (2 replicas behind HAProxy, 10 s of load, a replica kill at 3 s and db latency at 6 s).

P4: the run's wall time minus its load, split into set-up (stack, accounts: the history's times before the
load's start) and after the load (heal, audit, judge, reports); baseline: the load's own duration.
P5: how late each fault's apply was invoked against its `at:` on the load's clock; baseline: the 250 ms the
e2e test allows.

    .venv/bin/python bench/run_cost.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _figure import figure
from _scenario import SECOND, run

LOAD_S = 10
SCENARIO = {
    "name": "run_cost",
    "wallet": {"replicas": 2},
    "accounts": {"users": 50, "merchants": 5},
    "load": {"shape": [{"phase": "steady", "for": f"{LOAD_S}s", "users": 20, "rate": 5}]},
    "faults": [
        {"at": "3s", "for": "2s", "fault": "process.kill", "target": "wallet[1]"},
        {"at": "6s", "for": "2s", "fault": "network.latency", "target": "db", "params": {"latency": 20}},
    ],
}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="wc-cost-") as tmp:
        started, started_wall = time.monotonic(), time.time()
        run_dir, records = run(SCENARIO, Path(tmp))
        wall = time.monotonic() - started
        meta = json.loads((run_dir / "run.json").read_text())
    setup = meta["load_started_at"] - started_wall  # process start, stack, accounts, load process start
    load = next(r["time"] for r in records if r["f"] == "load_exit" and r["type"] == "ok") / SECOND
    after = wall - setup - load
    fixed = wall - load
    print(f"wall {wall:.1f} s = set-up {setup:.1f} s + load {load:.1f} s + after the load {after:.1f} s")
    figure(
        "P4 fixed cost of a run (2 replicas)",
        f"{fixed:.1f} s (set-up {setup:.1f}, after {after:.1f})",
        f"load {load:.1f} s",
        fixed / load,
        "small against the load",
    )
    applies = [
        r for r in records if r["process"] == "nemesis" and r["f"] == "apply" and r["type"] == "invoke"
    ]
    late_ms = [(r["time"] / SECOND - r["value"]["planned_at"]) * 1000 for r in applies]
    print("fault apply invoked, ms after its `at`:", [round(x, 1) for x in late_ms])
    worst = max(late_ms, default=float("nan"))
    figure(
        "P5 fault timing vs schedule", f"max {worst:.0f} ms late", "250 ms allowed", worst / 250, "< 250 ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
