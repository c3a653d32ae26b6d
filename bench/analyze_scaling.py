"""What a long run costs after its load: `walletchaos analyze` and `walletchaos report` on a run directory of
N and 10*N transfers (bench/judge_scaling.py's synthetic history, written as a run writes it: history.jsonl,
ledger.jsonl, audit.json naming it), each command in a process of its own, with its time and peak RSS. Bounded
memory shows as a peak that does not grow tenfold with the history (DuckDB spills beyond its limit).
Not in `make bench` (1M takes ~4 minutes here).

    .venv/bin/python bench/analyze_scaling.py [N]      # default 100000: 100k and 1M transfers
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import _child

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _figure import figure
from judge_scaling import write

from tests.unit.builders import scenario
from walletchaos import store

MEASURE = """import resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"""
"""Runs a command and prints its wall time and peak RSS (MB): the one child of this process."""


def run_dir(transfers: int, path: Path) -> Path:
    """A run directory as ``walletchaos run`` leaves it, of ``transfers`` transfers."""
    write(transfers, path)
    audit = json.loads((path / "audit.json").read_text())
    store.write_audit(path, {**audit, "ledger": path / store.LEDGER})
    store.write_json(path / "scenario.json", scenario().model_dump(mode="json", by_alias=True))
    store.write_json(path / "run.json", {"seed": 1, "runtime": "local", "exit_code": 0})
    return path


def measured(*command: str) -> tuple[float, float]:
    command = (sys.executable, "-c", MEASURE, *command)
    done = _child.run(list(command), check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seconds, mb = done.stdout.split()
    return float(seconds), float(mb)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    cli = str(Path(sys.executable).with_name("walletchaos"))
    rows = {}
    for size in (n, 10 * n):
        with tempfile.TemporaryDirectory(prefix="walletchaos-analyze-bench-") as tmp:
            run = run_dir(size, Path(tmp))
            rows[size] = {name: measured(cli, name, str(run)) for name in ("analyze", "report")}
        for name, (seconds, mb) in rows[size].items():
            print(f"{name} of {size} transfers: {seconds:.1f} s, {mb:.0f} MB peak")
    (small_s, small_mb), (big_s, big_mb) = rows[n]["analyze"], rows[10 * n]["analyze"]
    growth = f"time x{big_s / small_s:.1f}, peak memory x{big_mb / small_mb:.1f}"
    print(f"analyze {n} -> {10 * n}: {growth} (linear = 10x)")
    figure(
        f"analyze, {10 * n} transfers",
        f"{big_s:.0f} s, {big_mb:.0f} MB peak (report {rows[10 * n]['report'][0]:.0f} s)",
        f"{n}: {small_s:.1f} s, {small_mb:.0f} MB",
        big_mb / small_mb,
        "memory bounded (x << 10)",
    )


if __name__ == "__main__":
    main()
