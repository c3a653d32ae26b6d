"""Recovery time per fault and the SLOs outside fault windows, from client ops bucketed by invoke time."""

from __future__ import annotations

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from ..durations import fmt_span
from ..history import Call
from .facts import AVAILABILITY_FS, Facts, unavailable
from .model import Result

BUCKET_NS = 100_000_000


def _availability_calls(f: Facts) -> list[Call]:
    return [c for c in f.calls if c.f in AVAILABILITY_FS]


def buckets(calls: list[Call], start: int, end: int) -> list[tuple[int, int]]:
    """(ok-ish, total) per 100 ms bucket of invoke time in [start, end)."""
    n = max(0, (end - start + BUCKET_NS - 1) // BUCKET_NS)
    out = [[0, 0] for _ in range(n)]
    for c in calls:
        if start <= c.start < end:
            b = out[(c.start - start) // BUCKET_NS]
            b[1] += 1
            b[0] += 0 if unavailable(c) else 1
    return [(a, t) for a, t in out]


def recovery_time(calls: list[Call], heal: int, load_end: int, success: float, hold_ns: int) -> float | None:
    """Seconds from heal to the first moment t after which every non-empty bucket in [t, t + hold) has a
    success ratio >= ``success`` (and at least one bucket has ops). None when never within the run."""
    series = buckets(calls, heal, load_end)
    hold = max(1, hold_ns // BUCKET_NS)
    for i in range(0, max(0, len(series) - hold + 1)):
        window = [(a, t) for a, t in series[i : i + hold] if t]
        if window and all(a / t >= success for a, t in window):
            return i * BUCKET_NS / 1e9
    return None


def recovery_checks(f: Facts) -> list[Result]:
    """Per fault: recovery_time(heal) <= slo.recovery.max. Unknown when the run ended too soon to tell."""
    slo = f.scenario.slo.recovery
    calls = _availability_calls(f)
    results = []
    for w in f.windows:
        rt = recovery_time(calls, w.end, f.load_end, slo.success, int(slo.hold * 1e9))
        name = f"recovery: {w.label}"
        details = {
            "fault": w.name,
            "target": w.target,
            "applied_s": w.start / 1e9,
            "healed_s": w.end / 1e9,
            "recovery_s": rt,
            "bound_s": slo.max,
        }
        first = {"index": w.apply_index, "fault": w.name}
        if rt is None:
            enough = (f.load_end - w.end) / 1e9 >= slo.max + slo.hold
            results.append(
                Result(
                    name,
                    "recovery",
                    False if enough else None,
                    "never recovered" if enough else "run ended before recovery could be judged",
                    1 if enough else 0,
                    first,
                    details=details,
                )
            )
        else:
            ok = rt <= slo.max
            results.append(
                Result(
                    name,
                    "recovery",
                    ok,
                    f"recovered in {fmt_span(rt)} (bound {fmt_span(slo.max)})",
                    0 if ok else 1,
                    None if ok else first,
                    details=details,
                )
            )
    return results


def _outside(c: Call, windows: list[tuple[int, int]]) -> bool:
    """True when the op's whole execution [invoke, completion] overlaps no window: an op in flight when a
    fault began was hit by it."""
    end = c.end if c.end is not None else c.start
    return not any(c.start <= b and end >= a for a, b in windows)


@dataclass(frozen=True)
class OutsideStats:
    """Ops outside [apply invoked - 100 ms, heal + recovery.max] of every fault."""

    ops: int
    unavailable: int
    p99_s: float | None

    @property
    def error_rate(self) -> float:
        return self.unavailable / self.ops if self.ops else 0.0


def outside_stats(f: Facts) -> OutsideStats:
    """p99 of coordinated-omission-corrected latency (completion - intended start) of ok ops, and the
    unavailable count, over availability ops outside every fault window."""
    grace = int(f.scenario.slo.recovery.max * 1e9)
    windows = [(w.begin - BUCKET_NS, w.end + grace) for w in f.windows]
    calls = [c for c in _availability_calls(f) if _outside(c, windows)]
    hist = HdrHistogram(1, 3_600_000_000, 3)
    for c in calls:
        if c.type == "ok" and c.end is not None:
            hist.record_value(max(1, (c.end - int(c.invoke.get("intended", c.start))) // 1000))
    p99 = hist.get_value_at_percentile(99) / 1e6 if hist.get_total_count() else None
    return OutsideStats(len(calls), sum(1 for c in calls if unavailable(c)), p99)


def slo_checks(f: Facts, stats: OutsideStats | None = None) -> list[Result]:
    """Outside [apply, heal + recovery.max] of every fault: p99 of coordinated-omission-corrected latency
    (completion - intended start) of ok ops <= slo.latency_p99, and unavailable/total <= slo.error_rate."""
    slo = f.scenario.slo
    stats = stats or outside_stats(f)
    results = []
    p99 = stats.p99_s
    if slo.latency_p99 is not None:
        ok = p99 is not None and p99 <= slo.latency_p99
        summary = (
            f"p99 {fmt_span(p99)} (bound {fmt_span(slo.latency_p99)})" if p99 is not None else "no ok ops"
        )
        results.append(
            Result(
                "slo: latency p99",
                "slo",
                ok if p99 is not None else None,
                summary,
                0 if ok else 1,
                details={"p99_s": p99, "bound_s": slo.latency_p99, "ops": stats.ops},
            )
        )
    if slo.error_rate is not None:
        rate = stats.error_rate
        ok = rate <= slo.error_rate
        results.append(
            Result(
                "slo: error rate",
                "slo",
                ok if stats.ops else None,
                f"{rate:.2%} unavailable outside fault windows (bound {slo.error_rate:.2%})",
                stats.unavailable if not ok else 0,
                details={"rate": rate, "bound": slo.error_rate, "ops": stats.ops},
            )
        )
    return results
