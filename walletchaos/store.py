"""Run directories: ``runs/<scenario>/<UTC time>/`` holding everything needed to re-judge and re-render a
run without any service; ``runs/latest`` and ``runs/<scenario>/latest`` point at the newest."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import gcpause, history
from .errors import ScenarioError
from .scenario import Scenario


def new_run_dir(base: Path, scenario: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")[:-4] + "Z"
    run = base / scenario / stamp
    run.mkdir(parents=True)
    for link, target in (
        (base / "latest", Path(scenario) / stamp),
        (base / scenario / "latest", Path(stamp)),
    ):
        tmp = link.with_name(link.name + ".tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(target)
        os.replace(tmp, link)
    return run


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


@dataclass
class StoredRun:
    path: Path
    scenario: Scenario
    history: list[dict[str, Any]]
    audit: dict[str, Any]
    meta: dict[str, Any]


def load_run(path: Path) -> StoredRun:
    path = path.resolve()
    needed = ["scenario.json", "history.jsonl", "audit.json", "run.json"]
    missing = [n for n in needed if not (path / n).is_file()]
    if missing:
        raise ScenarioError([f"{path}: not a complete run directory (missing {', '.join(missing)})"])
    scenario = Scenario.model_validate(json.loads((path / "scenario.json").read_text()))
    try:
        records = history.read(path / "history.jsonl")
    except history.HistoryError as exc:
        raise ScenarioError([f"not a walletchaos history: {exc}"]) from None
    with gcpause.paused():  # the audit's ledger: a dict per posting
        audit = json.loads((path / "audit.json").read_text())
    return StoredRun(path, scenario, records, audit, json.loads((path / "run.json").read_text()))
