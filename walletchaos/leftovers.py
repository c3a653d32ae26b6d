"""What a harness killed with SIGKILL leaves behind, found and removed by the next run or `walletchaos clean`.

Nothing runs in a process killed with SIGKILL, so every run leaves a record while it lives:

- a state file ``$WALLETCHAOS_STATE_DIR/<run id>.json`` (default ``/tmp/walletchaos-state``) naming the
  harness's pid and start time, and every path to delete (cluster directory, load config);
- the environment variable ``WALLETCHAOS_RUN=<run id>`` in every process the run starts (PostgreSQL and
  its backends, Toxiproxy, wallet replicas, the load process), so they are found in /proc even when the
  harness died before writing their pid anywhere;
- the label ``walletchaos.run=<run id>`` on every container (docker runtime; see ``stack.containers``).

A record whose harness is gone (no such pid, or a pid reused by another process) is swept: its marked
processes are killed, its paths deleted, its containers removed, and the record itself deleted. Live runs
are never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
from pathlib import Path
from typing import Any

MARK = "WALLETCHAOS_RUN"


def state_dir() -> Path:
    return Path(os.environ.get("WALLETCHAOS_STATE_DIR", "/tmp/walletchaos-state"))


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class RunRecord:
    """The live record of one run; ``remove`` when the run has cleaned up after itself."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.path = state_dir() / f"{run_id}.json"
        pid = os.getpid()
        self.data: dict[str, Any] = {"run_id": run_id, "pid": pid, "started": start_time(pid), "paths": []}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write()

    @property
    def env(self) -> dict[str, str]:
        """The marker every process of this run carries."""
        return {MARK: self.run_id}

    def add_path(self, path: Path) -> None:
        self.data["paths"].append(str(path))
        self._write()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def _write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data))
        tmp.replace(self.path)


def _alive(record: dict[str, Any]) -> bool:
    started = start_time(int(record.get("pid", 0)))
    return started is not None and started == record.get("started")


def marked_processes(run_id: str) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose environment carries ``WALLETCHAOS_RUN=run_id``."""
    needle = f"{MARK}={run_id}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        found.append((int(entry), cmd))
    return found


def sweep(containers: bool = False) -> list[str]:
    """Remove what runs whose harness is gone left behind; returns one line per thing removed."""
    removed: list[str] = []
    for path in sorted(state_dir().glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if _alive(record):
            continue
        run_id = str(record.get("run_id"))
        for pid, cmd in marked_processes(run_id):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                removed.append(f"process {pid}: {cmd[:120]}")
        for pattern in record.get("paths", []):
            removed += _remove(pattern)
        path.unlink(missing_ok=True)
    if containers:
        removed += _containers()
    return removed


def _remove(pattern: str) -> list[str]:
    """Delete a recorded path, or every path matching a recorded glob pattern (a cluster directory)."""
    removed = []
    parent, name = os.path.split(pattern)
    for p in Path(parent).glob(name) if any(c in name for c in "*?[") else [Path(pattern)]:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(f"directory {p}")
        elif p.exists():
            p.unlink(missing_ok=True)
            removed.append(f"file {p}")
    return removed


def _containers() -> list[str]:
    """Containers of runs whose harness is gone (the docker runtime's own stale-run sweep); nothing to do,
    and no time spent, where no Docker engine socket exists."""
    if not Path(
        os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock").removeprefix("unix://")
    ).exists():
        return []
    from .errors import InfraError
    from .stack.containers import engine, remove_stale

    try:
        client = engine()
    except InfraError:
        return []
    return [f"container {name}" for name in remove_stale(client)]
