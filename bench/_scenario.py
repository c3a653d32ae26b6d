"""Shared by the bench scripts that measure the whole stack: run one scenario (given as a dict) through
``walletchaos run`` and read back what it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def run(scenario: dict[str, Any], work: Path) -> tuple[Path, list[dict[str, Any]]]:
    """Runs ``scenario`` (exit status ignored: the caller judges what it measures) and returns the run
    directory and its history records."""
    path = work / f"{scenario['name']}.yaml"
    path.write_text(yaml.safe_dump(scenario))
    out = work / scenario["name"]
    done = subprocess.run(
        [sys.executable, "-m", "walletchaos", "run", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    history = out / "latest" / "history.jsonl"
    if not history.exists():
        sys.exit(
            f"{scenario['name']}: no history was written (exit {done.returncode}):\n{done.stderr[-2000:]}"
        )
    records = [json.loads(line) for line in history.read_text().splitlines()]
    return (out / "latest").resolve(), records
