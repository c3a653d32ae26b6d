"""The load summary people expect from k6 and Locust, from the stored history alone: per operation type and
per load phase, the count, throughput, p50/p95/p99 latency and the shares of failed and unknown outcomes.

Latency is coordinated-omission corrected (completion - intended start) and taken over every op that
completed, whatever its outcome: a replica kill answered by fast refusals or slow timeouts shows in the
percentiles instead of leaving only the lucky successes. Ops that never completed (the run ended first) are
counted as unknown and have no latency. An op belongs to the phase in which it was meant to start (its
intended start on the load clock, time 0 = the load's start).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from walletchaos.history import Call
from walletchaos.plan import make_plan
from walletchaos.store import StoredRun

from .series import client_calls

ALL = "all"


@dataclass(frozen=True)
class Row:
    name: str
    count: int
    seconds: float
    ok: int
    failed: int
    unknown: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def per_s(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    @property
    def failed_share(self) -> float:
        return self.failed / self.count if self.count else 0.0

    @property
    def unknown_share(self) -> float:
        return self.unknown / self.count if self.count else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "per_s": round(self.per_s, 2),
            "failed_share": round(self.failed_share, 4),
            "unknown_share": round(self.unknown_share, 4),
        }


@dataclass(frozen=True)
class Summary:
    by_op: list[Row]
    by_phase: list[Row]

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {"by_op": [r.to_json() for r in self.by_op], "by_phase": [r.to_json() for r in self.by_phase]}


def _intended(c: Call) -> int:
    return int(c.invoke.get("intended", c.start))


def _row(name: str, calls: Iterable[Call], seconds: float) -> Row:
    hist = HdrHistogram(1, 3_600_000_000, 3)  # microseconds, up to an hour
    counts = {"ok": 0, "fail": 0, "info": 0}
    n = 0
    for c in calls:
        n += 1
        counts[c.type] += 1
        if c.end is not None:
            hist.record_value(max(1, (c.end - _intended(c)) // 1000))

    def pct(q: float) -> float | None:
        return hist.get_value_at_percentile(q) / 1000 if hist.get_total_count() else None

    return Row(name, n, seconds, counts["ok"], counts["fail"], counts["info"], pct(50), pct(95), pct(99))


def build(run: StoredRun) -> Summary:
    calls = client_calls(run)
    load_end = max((c.end or c.start for c in calls), default=0) / 1e9
    span = max(load_end, 1e-9)
    ops = sorted({c.f for c in calls})
    by_op = [_row(op, (c for c in calls if c.f == op), span) for op in ops]
    phases = make_plan(run.scenario, run.meta.get("seed")).phases
    by_phase = []
    for i, (name, start, end) in enumerate(phases):
        first, last = i == 0, i == len(phases) - 1
        lo, hi = start * 1e9, end * 1e9

        def inside(c: Call, lo: float = lo, hi: float = hi, first: bool = first, last: bool = last) -> bool:
            t = _intended(c)
            return (first or t >= lo) and (last or t < hi)

        seconds = max(0.0, (load_end if last else min(end, load_end)) - start)
        by_phase.append(_row(name, (c for c in calls if inside(c)), seconds))
    total = _row(ALL, calls, span)
    return Summary([*by_op, total], [*by_phase, total] if len(by_phase) > 1 else by_phase)


HEADER = ("", "count", "ops/s", "p50", "p95", "p99", "failed", "unknown")


def cells(row: dict[str, Any]) -> tuple[str, ...]:
    """One row of ``Summary.to_json`` (as verdict.json holds it) as text, the same in report.html, summary.md
    and the terminal."""

    def ms(v: float | None) -> str:
        return "-" if v is None else (f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms")

    return (
        str(row["name"]),
        str(row["count"]),
        f"{row['per_s']:.1f}",
        ms(row["p50_ms"]),
        ms(row["p95_ms"]),
        ms(row["p99_ms"]),
        f"{row['failed_share']:.1%}",
        f"{row['unknown_share']:.1%}",
    )


TABLES = (("by_op", "operation"), ("by_phase", "phase"))
"""The two tables of a summary: key in ``to_json`` and what its first column names."""
