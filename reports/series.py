"""Time series for the report, computed from the stored history alone."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from walletchaos.history import CLIENT_FS, Call, pair
from walletchaos.judge.facts import unavailable
from walletchaos.store import StoredRun


@dataclass
class Series:
    t: list[float]  # bucket starts, seconds on the run's clock (0 = the load's start)
    ok: list[float]  # ops/s completed ok in the bucket
    fail: list[float]
    info: list[float]
    p50_ms: list[float | None]  # over every op completed in the bucket, whatever its outcome
    p99_ms: list[float | None]
    errors: Counter[str]
    bucket_s: float
    p99_by_outcome: dict[str, list[float | None]] = field(default_factory=dict)
    """p99 per outcome (ok / fail / info): a kill shows as slow or fast failures, not as fine successes."""


OUTCOMES = ("ok", "fail", "info")


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
    start = start // bucket_ns * bucket_ns  # buckets on whole multiples of the bucket on the run's clock
    n = (end - start) // bucket_ns + 1
    counts = {k: [0] * n for k in OUTCOMES}
    latencies: dict[str, list[list[float]]] = {k: [[] for _ in range(n)] for k in OUTCOMES}
    errors: Counter[str] = Counter()
    for c in calls:
        b = ((c.end or c.start) - start) // bucket_ns
        counts[c.type][b] += 1
        latencies[c.type][b].append(((c.end or 0) - int(c.invoke.get("intended", c.start))) / 1e6)
        if c.type != "ok" and (unavailable(c) or c.f not in ("attack", "unauthorized")):
            errors[f"{c.f} {c.status} {(c.done or {}).get('error') or c.type}"] += 1
    per_s = 1e9 / bucket_ns
    rate = {k: [v * per_s for v in counts[k]] for k in counts}
    return Series(
        t=[(start + i * bucket_ns) / 1e9 for i in range(n)],
        ok=rate["ok"],
        fail=rate["fail"],
        info=rate["info"],
        p50_ms=[_percentile([v for k in OUTCOMES for v in latencies[k][i]], 0.5) for i in range(n)],
        p99_ms=[_percentile([v for k in OUTCOMES for v in latencies[k][i]], 0.99) for i in range(n)],
        errors=errors,
        bucket_s=bucket_ns / 1e9,
        p99_by_outcome={k: [_percentile(list(b), 0.99) for b in latencies[k]] for k in OUTCOMES},
    )
