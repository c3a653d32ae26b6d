"""Time series for the report, computed from the stored history alone."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from walletchaos.history import CLIENT_FS, Call, pair
from walletchaos.judge.facts import unavailable
from walletchaos.store import StoredRun


@dataclass
class Series:
    t: list[float]  # bucket starts, seconds since the run origin
    ok: list[float]  # ops/s completed ok in the bucket
    fail: list[float]
    info: list[float]
    p50_ms: list[float | None]
    p99_ms: list[float | None]
    errors: Counter[str]
    bucket_s: float


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values.sort()
    return values[min(len(values) - 1, int(len(values) * q))]


def client_calls(run: StoredRun) -> list[Call]:
    return [c for c in pair(run.history) if c.f in CLIENT_FS]


def build(run: StoredRun, target_points: int = 240) -> Series:
    calls = [c for c in client_calls(run) if c.end is not None]
    if not calls:
        return Series([], [], [], [], [], [], Counter(), 1.0)
    start = min(c.start for c in calls)
    end = max(c.end or c.start for c in calls)
    bucket_ns = max(250_000_000, (end - start) // target_points)
    bucket_ns = int(round(bucket_ns / 250_000_000) * 250_000_000)
    n = (end - start) // bucket_ns + 1
    counts = {k: [0] * n for k in ("ok", "fail", "info")}
    latencies: list[list[float]] = [[] for _ in range(n)]
    errors: Counter[str] = Counter()
    for c in calls:
        b = ((c.end or c.start) - start) // bucket_ns
        counts[c.type][b] += 1
        if c.type == "ok":
            latencies[b].append(((c.end or 0) - int(c.invoke.get("intended", c.start))) / 1e6)
        elif unavailable(c) or c.f not in ("attack", "unauthorized"):
            errors[f"{c.f} {c.status} {(c.done or {}).get('error') or c.type}"] += 1
    per_s = 1e9 / bucket_ns
    rate = {k: [v * per_s for v in counts[k]] for k in counts}
    return Series(
        t=[(start + i * bucket_ns) / 1e9 for i in range(n)],
        ok=rate["ok"],
        fail=rate["fail"],
        info=rate["info"],
        p50_ms=[_percentile(list(b), 0.5) for b in latencies],
        p99_ms=[_percentile(list(b), 0.99) for b in latencies],
        errors=errors,
        bucket_s=bucket_ns / 1e9,
    )
