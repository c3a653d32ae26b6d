"""Time series for the report, computed from the stored history alone."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from walletchaos.judge.columns import Columns
from walletchaos.judge.facts import unavailable
from walletchaos.store import StoredRun

from . import calls


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


def build(run: StoredRun, target_points: int = 240) -> Series:
    """The run's series, made once per run (``calls.once``)."""
    return calls.once(run, f"series{target_points}", lambda cols: _build(cols, target_points))


def _build(cols: Columns, target_points: int) -> Series:
    """Over every completed client call: buckets of ``bucket_ns`` on whole multiples of it on the run's clock,
    about ``target_points`` of them, and in each the completions per second by outcome, the p50/p99 latency
    (coordinated-omission corrected: from the intended start) over all outcomes and the p99 per outcome
    (q-th of a bucket's n sorted latencies: the one at min(n - 1, floor(n * q))), and the errors by class."""
    done = 'FROM calls WHERE "end" IS NOT NULL'
    first, last = cols.rows(f'SELECT min(start), max(coalesce(nullif("end", 0), start)) {done}')[0]
    if first is None:
        return Series([], [], [], [], [], [], Counter(), 1.0)
    bucket_ns = max(250_000_000, (last - first) // target_points)
    bucket_ns = int(round(bucket_ns / 250_000_000) * 250_000_000)
    start = first // bucket_ns * bucket_ns  # buckets on whole multiples of the bucket on the run's clock
    n = (last - start) // bucket_ns + 1
    x = f"""SELECT (coalesce(nullif("end", 0), start) - {start}) // {bucket_ns} AS b, type,
        ("end" - coalesce(intended, start)) / 1e6 AS ms {done}"""
    counts = {k: [0] * n for k in OUTCOMES}
    for b, kind, count in cols.rows(f"SELECT b, type, count(*) FROM ({x}) GROUP BY ALL"):
        counts[kind][b] = count

    def pick(n: str, q: float) -> str:
        return f"least({n} - 1, floor({n} * {q})::BIGINT)"

    picked: dict[str, list[float | None]] = {k: [None] * n for k in ("p50", "p99", *OUTCOMES)}
    for b, name, ms in cols.rows(
        f"""WITH r AS (SELECT b, type, ms,
                row_number() OVER (PARTITION BY b ORDER BY ms) - 1 AS i, count(*) OVER (PARTITION BY b) AS n,
                row_number() OVER (PARTITION BY b, type ORDER BY ms) - 1 AS ti,
                count(*) OVER (PARTITION BY b, type) AS tn
            FROM ({x}))
        SELECT b, 'p50', ms FROM r WHERE i = {pick("n", 0.5)}
        UNION ALL SELECT b, 'p99', ms FROM r WHERE i = {pick("n", 0.99)}
        UNION ALL SELECT b, type, ms FROM r WHERE ti = {pick("tn", 0.99)}"""
    ):
        picked[name][b] = ms
    errors: Counter[str] = Counter()
    for c in cols.each_call("""type <> 'ok' AND "end" IS NOT NULL"""):
        if unavailable(c) or c.f not in ("attack", "unauthorized"):
            errors[f"{c.f} {c.status} {(c.done or {}).get('error') or c.type}"] += 1
    per_s = 1e9 / bucket_ns
    rate = {k: [v * per_s for v in counts[k]] for k in counts}
    return Series(
        t=[(start + i * bucket_ns) / 1e9 for i in range(n)],
        ok=rate["ok"],
        fail=rate["fail"],
        info=rate["info"],
        p50_ms=picked["p50"],
        p99_ms=picked["p99"],
        errors=errors,
        bucket_s=bucket_ns / 1e9,
        p99_by_outcome={k: picked[k] for k in OUTCOMES},
    )
