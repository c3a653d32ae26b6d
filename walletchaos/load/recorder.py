"""Appends client ops (invoke + completion) to a JSONL file and keeps per-second live counters."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any, TextIO

from ..ops import Fn, Kind, Op

UNAVAILABLE_STATUSES = (0, 500, 502, 503, 504)


class Recorder:
    def __init__(self, out: TextIO, origin_ns: int) -> None:
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

    def take_window(self) -> dict[str, Any]:
        """Counters since the last call: ok/fail/info, unavailable share and the CO-corrected p99 (ms)."""
        w, self.window = self.window, self._fresh()
        lat = sorted(w.pop("latencies"))
        w["p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None
        total = w["ok"] + w["fail"] + w["info"]
        w["error_rate"] = (w["unavailable"] / total) if total else 0.0
        return w

    def _write(self, rec: dict[str, Any]) -> None:
        self.out.write(json.dumps(rec, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self.out.flush()
        self.out.close()
