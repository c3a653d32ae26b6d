"""``make bench``: every figure of issue 11 that has a script, one after the other (never two at once: they
share the machine's two cores), then one table. Each script's own output is shown as it runs.

    .venv/bin/python bench/run_all.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from _child import reaped

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    ("wallet_vs_pgbench.py", ["--workers", "2"], ["--seconds", "5", "--clients", "8"]),
    ("ledger_stream.py", [], ["--postings", "50000"]),
    ("hot_merchant.py", [], []),
    ("peak_rate.py", [], ["--rates", "200,400", "--seconds", "15"]),
    ("load_spread.py", [], ["--seconds", "10"]),
    ("judge_scaling.py", ["100000"], ["10000"]),  # 100k and 1M transfers, from files
    ("run_end.py", ["100000"], ["10000"]),
    ("load_overhead.py", ["--seconds", "40", "--rounds", "3"], ["--seconds", "8"]),  # median of 3 pairs
    ("run_cost.py", [], []),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter runs (noisier figures)")
    args = ap.parse_args()
    rows: list[list[str]] = []
    started = time.monotonic()
    for script, full, quick in SCRIPTS:
        print(f"\n== {script}", flush=True)
        argv = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        with reaped(subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=HERE.parent), 240) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("FIGURE\t"):
                    rows.append(line.rstrip("\n").split("\t")[1:])
                else:
                    print(line, end="", flush=True)
            proc.wait()
        if proc.returncode != 0:
            rows.append([script, "FAILED", f"exit {proc.returncode}", "", ""])
    head = ["figure", "value", "baseline (same run)", "ratio", "goal"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    cores = len(os.sched_getaffinity(0))
    took = time.monotonic() - started
    print(f"\nwalletchaos bench, {time.strftime('%Y-%m-%d')}, {platform.node()}: {cores} cores, {took:.0f} s")
    for r in [head, ["-" * w for w in widths], *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    return 1 if any(r[1] == "FAILED" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
