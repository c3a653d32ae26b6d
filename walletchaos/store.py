"""Run directories: ``runs/<scenario>/<UTC time>/`` holding everything needed to re-judge and re-render a
run without any service; ``runs/latest`` and ``runs/<scenario>/latest`` point at the newest."""

from __future__ import annotations

import contextlib
import json
import os
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import gcpause, history
from .errors import ScenarioError
from .scenario import Scenario

if TYPE_CHECKING:
    from .judge.columns import Columns


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
    history: history.File | list[dict[str, Any]]
    """Its records: the run directory's ``history.File`` (read again on each pass), or records in memory."""
    audit: dict[str, Any]
    meta: dict[str, Any]
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """What reports derive from the run, made once (``reports.calls.once``)."""

    def columns(self) -> Columns:
        """The run's client calls as the judge's columns (``judge.columns.Columns``): its history read once,
        on first use, for the judge and every report; closed by ``close`` or when the run is collected."""
        if "columns" not in self.cache:
            from .judge.columns import Columns

            cols = self.cache["columns"] = Columns(self.history)
            self.cache["close columns"] = weakref.finalize(self, cols.close)  # its undo, run once
        return self.cache["columns"]  # type: ignore[no-any-return]

    def close(self) -> None:
        """Closes the columns, if they were read (their finalizer: it runs once, whoever comes first)."""
        self.cache.pop("columns", None)
        release = self.cache.pop("close columns", None)
        if release is not None:
            release()


LEDGER = "ledger.jsonl"
"""The audit's ledger beside ``audit.json``, one posting per line as the wallet streamed it."""


def write_audit(run: Path, audit: dict[str, Any]) -> None:
    """``audit.json``; its ledger (a file in the run directory) is named by its file name."""
    ledger = audit.get("ledger")
    write_json(run / "audit.json", {**audit, "ledger": ledger.name} if isinstance(ledger, Path) else audit)


def read_audit(run: Path) -> dict[str, Any]:
    """``audit.json`` with its ledger: the path of its file in the run directory, or the postings inline (a
    run directory written before the ledger had a file of its own)."""
    with gcpause.paused():  # an inline ledger: a dict per posting
        audit: dict[str, Any] = json.loads((run / "audit.json").read_text())
    ledger = audit.get("ledger")
    if isinstance(ledger, str):
        if ledger != LEDGER or not (run / ledger).is_file():
            raise ScenarioError(
                [f"{run / 'audit.json'}: ledger: expected the file {LEDGER!r} beside it, got {ledger!r}"]
            )
        audit["ledger"] = run / ledger
    return audit


def load_run(path: Path) -> StoredRun:
    """A stored run, its history checked record by record (a HistoryError, worded as a ScenarioError, for the
    first broken line) but not held: reports and the judge read the file."""
    path = path.resolve()
    needed = ["scenario.json", "history.jsonl", "audit.json", "run.json"]
    missing = [n for n in needed if not (path / n).is_file()]
    if missing:
        raise ScenarioError([f"{path}: not a complete run directory (missing {', '.join(missing)})"])
    scenario = Scenario.model_validate(json.loads((path / "scenario.json").read_text()))
    records = history.File(path / "history.jsonl")
    try:
        records.check()
    except history.HistoryError as exc:
        raise ScenarioError([f"not a walletchaos history: {exc}"]) from None
    return StoredRun(path, scenario, records, read_audit(path), json.loads((path / "run.json").read_text()))
