"""False alarms of the judge on the correct wallet: runs the shipped scenarios that must pass (smoke,
flash_sale, db_outage, db_blackhole, network_lag, lockout_attack) with consecutive seeds and prints how
many runs were not VALID, with the checks that flagged. The goal is zero. Not part of `make test`
(about 40 s a run).

    .venv/bin/python bench/false_alarms.py [RUNS] [--out DIR]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import _child

SCENARIOS = ("smoke", "flash_sale", "db_outage", "db_blackhole", "network_lag", "lockout_attack")


def main(runs: int, out: Path) -> int:
    alarms = 0
    for i in range(runs):
        name = SCENARIOS[i % len(SCENARIOS)]
        seed = 1000 + i
        argv = [sys.executable, "-m", "walletchaos", "run", f"scenarios/{name}.yaml"]
        done = _child.run(
            [*argv, "--seed", str(seed), "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        verdict_path = out / "latest" / "verdict.json"
        flagged = []
        if verdict_path.exists() and done.returncode in (0, 1, 2):
            verdict = json.loads(verdict_path.read_text())
            flagged = [
                f"{r['name']}: {r['summary']}"
                for r in verdict["results"]
                if r["valid"] != "valid" and r.get("counted", True)
            ]
        alarms += done.returncode != 0
        status = "ok" if done.returncode == 0 else f"ALARM (exit {done.returncode})"
        print(f"{i + 1:2d}/{runs} {name:15s} seed {seed}: {status}", *flagged, sep="\n      ", flush=True)
    print(f"false alarms: {alarms} of {runs} runs on the correct wallet (goal: 0)")
    return 1 if alarms else 0


if __name__ == "__main__":
    args = sys.argv[1:]
    out = Path(args[args.index("--out") + 1]) if "--out" in args else _child.workdir("wc-fa-")
    count = int(args[0]) if args and args[0].isdigit() else 20
    sys.exit(main(count, out))
