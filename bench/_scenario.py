"""Shared by the bench scripts that measure the whole stack: run one scenario (given as a dict) through
``walletchaos run`` and read back what it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import _child
import yaml

ROOT = Path(__file__).resolve().parents[1]


def run(scenario: dict[str, Any], work: Path) -> tuple[Path, list[dict[str, Any]]]:
    """Runs ``scenario`` (exit status ignored: the caller judges what it measures) and returns the run
    directory and its history records."""
    path = work / f"{scenario['name']}.yaml"
    path.write_text(yaml.safe_dump(scenario))
    out = work / scenario["name"]
    done = _child.run(
        [sys.executable, "-m", "walletchaos", "run", str(path), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    history = out / "latest" / "history.jsonl"
    if not history.exists():
        sys.exit(
            f"{scenario['name']}: no history was written (exit {done.returncode}):\n{done.stderr[-2000:]}"
        )
    records = [json.loads(line) for line in history.read_text().splitlines()]
    return (out / "latest").resolve(), records


SECOND = 10**9


def client_ops(
    records: list[dict[str, Any]], fs: set[str], since: int = 0, until: int | None = None
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(invoke, completion) pairs of the load's users for functions ``fs`` whose intended start lies in
    [since, until); the completion is ok, fail or info (unknown)."""
    invokes = {
        (r["process"], r["op"]): r
        for r in records
        if r["type"] == "invoke" and isinstance(r["process"], int) and r["f"] in fs
    }
    pairs = []
    for r in records:
        inv = invokes.get((r["process"], r["op"])) if r["type"] != "invoke" else None
        if inv is not None and since <= inv["intended"] < (until if until is not None else 1 << 62):
            pairs.append((inv, r))
    return pairs


def percentile(values: list[int], q: float) -> float:
    """The q-quantile (nearest rank) of ``values`` in ms (values in ns), NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] / 1e6
