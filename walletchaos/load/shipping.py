"""What a distributed load needs beyond Locust, without Locust (unit-testable): the clock a worker reads
and the master's accounting of the history records its workers shipped."""

from __future__ import annotations

import hmac
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def worker_origin(origin_ns: int, master_now_ns: int, master_boot: str, here: str | None = None) -> int:
    """The origin that makes a worker's ``Recorder.now()`` read the master's clock: the harness's own
    origin on the same boot of the same machine (one monotonic clock), else this machine's monotonic time
    minus the master's reading when it sent the config (off by that message's one-way delay)."""
    here = boot_id() if here is None else here
    if master_boot and master_boot == here:
        return origin_ns
    return time.monotonic_ns() - master_now_ns


def unreachable(ingress_urls: list[str], master_boot: str, here: str | None = None) -> list[str]:
    """The run's wallet addresses a worker cannot use: loopback ones, when the worker is not on the
    master's machine (its own 127.0.0.1 is another host's wallet, or nothing)."""
    here = boot_id() if here is None else here
    if master_boot and master_boot == here:
        return []
    loopback = ("127.", "localhost", "[::1]", "::1")
    return [u for u in ingress_urls if (urlsplit(u).hostname or "").startswith(loopback)]


def claims_local(hello: Any, token: str) -> bool:
    """Whether a worker's hello carries the run's seat token (a worker this load process started). Anything
    a stray worker sends (no data, not an object, a non-ASCII or non-string token) is simply not a claim."""
    claimed = hello.get("token") if isinstance(hello, dict) else None
    return isinstance(claimed, str) and hmac.compare_digest(claimed.encode(), token.encode())


class Seats:
    """The workers' seats (indexes 0..expected-1) by Locust node id: the first ``local`` for the workers the
    load process started on this machine, the rest for workers joining from elsewhere, so a stray worker
    cannot take a local worker's seat by saying hello first. A worker that leaves before the load (it
    refused the run) gives its seat back with why, so another can take it and the master can say why the run
    is short of workers."""

    def __init__(self, expected: int, local: int = 0) -> None:
        self.expected, self.local = expected, local
        self.taken: dict[str, int] = {}
        self.refused: dict[str, str] = {}

    def take(self, node: str, local: bool = False) -> int | None:
        """The node's seat (the same one again if it asks twice), or None when every seat of its kind (local
        or remote) is taken."""
        if node in self.taken:
            return self.taken[node]
        kind = range(self.local) if local else range(self.local, self.expected)
        free = sorted(set(kind) - set(self.taken.values()))
        if not free:
            return None
        self.taken[node] = free[0]
        return free[0]

    def give_back(self, node: str, why: str) -> None:
        self.taken.pop(node, None)
        self.refused[node] = why

    @property
    def full(self) -> bool:
        return len(self.taken) >= self.expected

    def short(self) -> str:
        """Why the run is short of workers, e.g. "only 0 of 1 workers joined (1 refused: ...)"."""
        out = f"only {len(self.taken)} of {self.expected} workers joined"
        if self.refused:
            reasons = "; ".join(f"{node}: {why}" for node, why in self.refused.items())
            out += f" ({len(self.refused)} refused: {reasons})"
        return out


class Accounting:
    """Per worker: the records that arrived and, once its users stopped, what it said it shipped."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.got: dict[int, dict[str, int]] = {}
        self.done: dict[int, dict[str, Any]] = {}

    def received(self, index: int, lines: int) -> None:
        got = self.got.setdefault(index, {"records": 0, "batches": 0})
        got["records"] += lines
        got["batches"] += 1

    def said(self, data: dict[str, Any]) -> None:
        self.done[int(data["index"])] = data

    @property
    def all_said(self) -> bool:
        return len(self.done) >= self.expected

    def summary(self) -> dict[str, Any]:
        """Received vs reported per worker, the records missing in all, and how many workers reported."""
        per: list[dict[str, Any]] = []
        missing = 0
        for i in range(self.expected):
            got = self.got.get(i, {"records": 0, "batches": 0})
            said = self.done.get(i)
            per.append(
                {
                    "index": i,
                    "received": got["records"],
                    "reported": said["records"] if said else None,
                    "batches_received": got["batches"],
                    "batches_reported": said["batches"] if said else None,
                }
            )
            if said:
                missing += max(0, int(said["records"]) - got["records"])
        return {
            "expected": self.expected,
            "reported": len(self.done),
            "records_missing": missing,
            "workers": per,
        }

    def counts(self) -> dict[str, dict[str, int]]:
        """The open model's arrivals and drops summed over the workers (none unless every worker said)."""
        if not self.all_said:
            return {}
        out: dict[str, dict[str, int]] = {"arrivals": {}, "dropped": {}}
        for said in self.done.values():
            for key in out:
                for phase, n in (said.get(key) or {}).items():
                    out[key][phase] = out[key].get(phase, 0) + int(n)
        return out
