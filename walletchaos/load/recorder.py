"""Appends client ops (invoke + completion) to a JSONL file and keeps per-second live counters."""

from __future__ import annotations

import itertools
import time
from typing import Any, Protocol

from ..history import as_line
from ..ops import Fn, Kind, Op

UNAVAILABLE_STATUSES = (0, 500, 502, 503, 504)


class Sink(Protocol):
    def write(self, text: str, /) -> Any: ...
    def flush(self) -> Any: ...
    def close(self) -> Any: ...


class Recorder:
    def __init__(self, out: Sink, origin_ns: int) -> None:
        self.out, self.origin_ns = out, origin_ns
        self._ids = itertools.count()
        self.completed = 0
        self.window: dict[str, Any] = self._fresh()

    @staticmethod
    def _fresh() -> dict[str, Any]:
        return {"ok": 0, "fail": 0, "info": 0, "unavailable": 0, "latencies": []}

    def now(self) -> int:
        return time.monotonic_ns() - self.origin_ns

    def invoke(self, process: int, f: str, value: dict[str, Any], intended: int | None = None) -> int:
        op = next(self._ids)
        now = self.now()
        start = now if intended is None else min(intended, now)
        self._write(Op(process, op, Kind.INVOKE, Fn(f), now, value, intended=start).record())
        return op

    def complete(
        self,
        process: int,
        op: int,
        f: str,
        kind: str,
        status: int,
        error: str | None,
        value: dict[str, Any] | None,
        intended: int,
    ) -> None:
        now = self.now()
        self._write(Op(process, op, Kind(kind), Fn(f), now, value or None, status, error or None).record())
        self.completed += 1
        self.window[kind] += 1
        if kind == "info" or status in UNAVAILABLE_STATUSES:
            self.window["unavailable"] += 1
        if kind == "ok":
            self.window["latencies"].append((now - intended) / 1e6)

    def take_raw(self) -> dict[str, Any]:
        """The live counters since the last call, as they are (a worker ships them to the load process)."""
        w, self.window = self.window, self._fresh()
        return w

    def absorb(self, text: str, window: dict[str, Any]) -> None:
        """Records and live counters a worker shipped: the records join this history file, the counters
        this window (the load process of a distributed run writes the one merged history)."""
        self.out.write(text)
        self.merge(window)
        self.completed += sum(int(window.get(k, 0)) for k in ("ok", "fail", "info"))

    def merge(self, window: dict[str, Any]) -> None:
        """Add live counters (as ``take_raw`` gives them) to this window."""
        for k in ("ok", "fail", "info", "unavailable"):
            self.window[k] += int(window.get(k, 0))
        self.window["latencies"] += window.get("latencies", [])

    def take_window(self) -> dict[str, Any]:
        """Counters since the last call: ok/fail/info, unavailable share and the CO-corrected p99 (ms)."""
        w = self.take_raw()
        lat = sorted(w.pop("latencies"))
        w["p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None
        total = w["ok"] + w["fail"] + w["info"]
        w["error_rate"] = (w["unavailable"] / total) if total else 0.0
        return w

    def _write(self, rec: dict[str, Any]) -> None:
        self.out.write(as_line(rec))

    def flush(self) -> None:
        """The records written so far reach the file (the load process flushes every second)."""
        self.out.flush()

    def close(self) -> None:
        self.out.flush()
        self.out.close()


class Outbox:
    """A worker's history file stand-in: records are kept until shipped (``drain``) to the load process."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> None:
        self.lines.append(text)

    def drain(self) -> tuple[str, int]:
        """The records written since the last drain, as one text, and how many."""
        text, self.lines = "".join(self.lines), []
        return text, text.count("\n")

    def undrain(self, text: str, count: int) -> None:
        """Put back a drained batch that could not be sent (it goes first in the next one)."""
        if count:
            self.lines.insert(0, text)  # drain counts lines by their newline, so a batch counts as its lines

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
