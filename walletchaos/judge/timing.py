"""Recovery time per fault and the SLOs outside fault windows, from client ops bucketed by invoke time."""

from __future__ import annotations

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from ..durations import fmt_span
from ..history import TRANSFER_FS, Call
from ..ops import AVAILABILITY_FS
from ..targets import split_target
from .facts import Facts, FaultWindow, unavailable
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
    """Seconds from ``heal`` to the first moment t after which every non-empty bucket in [t, t + hold) has
    a success ratio >= ``success`` (and at least one bucket has ops). None when never within the run.
    ``recovery_checks`` passes the heal's invoke, so the time a restart takes to come back counts."""
    series = buckets(calls, heal, load_end)
    hold = max(1, hold_ns // BUCKET_NS)
    for i in range(0, max(0, len(series) - hold + 1)):
        window = [(a, t) for a, t in series[i : i + hold] if t]
        if window and all(a / t >= success for a, t in window):
            return i * BUCKET_NS / 1e9
    return None


def time_to_detect(calls: list[Call], w: FaultWindow, success: float) -> float | None:
    """Seconds from the fault's apply invoke to the first 100 ms bucket (by invoke time, up to the heal's
    completion) whose success ratio fell below ``success``: how soon clients felt it. None when no bucket
    did (a fault that only slowed the wallet down)."""
    for i, (good, total) in enumerate(buckets(calls, w.begin, w.end)):
        if total and good / total < success:
            return i * BUCKET_NS / 1e9
    return None


def overlapping(calls: list[Call], begin: int, end: int) -> list[Call]:
    """Ops whose execution [invoke, completion] overlapped [begin, end] (never completed: open-ended)."""
    return [c for c in calls if c.start <= end and (c.end if c.end is not None else end) >= begin]


def _median_latency(calls: list[Call]) -> float:
    lat = sorted((c.end or c.start) - c.start for c in calls if c.type == "ok")
    return lat[len(lat) // 2] / 1e9 if lat else 0.0


def on_path(calls: list[Call], target: str) -> list[Call]:
    """The ops that travelled the faulted path: for ``ingress[i]`` / ``wallet[i]``, the ops of clients
    pinned to replica i (``value.via``); for every other target, all ops."""
    _, index = split_target(target)
    if index is None:
        return calls
    return [c for c in calls if c.invoke.get("value", {}).get("via", index) == index]


def fault_effect(f: Facts, w: FaultWindow) -> tuple[bool, str]:
    """Whether the fault showed an effect in the history, and what: client ops on the faulted path (see
    ``on_path``) that overlapped its window were unavailable more often (+1 point and at least one), or
    their median latency rose to >= 1.5x the median of the path's ops outside every fault window + 2 ms;
    for a deploy, the new version read back on some replica; behind a balancer that masked it from the
    clients, what the balancer saw of the faulted replicas (``balancer_effect``)."""
    if w.name == "deploy" and w.applied.get("rolled_out"):
        return True, f"version read back on {', '.join(w.applied['rolled_out'])}"
    calls = on_path(_availability_calls(f), w.target)
    inside = overlapping(calls, w.begin, w.end)
    if not inside:
        return False, "no client op ran on the faulted path during the fault"
    spans = [(x.begin, x.end) for x in f.windows]
    outside = [c for c in calls if _outside(c, spans)]
    bad_in = sum(1 for c in inside if unavailable(c))
    share_in = bad_in / len(inside)
    share_out = sum(1 for c in outside if unavailable(c)) / len(outside) if outside else 0.0
    if bad_in and share_in >= share_out + 0.01:
        return True, f"{share_in:.0%} unavailable during the fault vs {share_out:.0%} outside"
    med_in, med_out = _median_latency(inside), _median_latency(outside)
    if med_in >= 1.5 * med_out + 0.002:
        return True, f"median latency {fmt_span(med_in)} during the fault vs {fmt_span(med_out)} outside"
    absorbed = balancer_effect(f, w.target)
    if absorbed:
        return True, absorbed
    return False, (
        f"no observable effect: {share_in:.0%} unavailable (outside {share_out:.0%}), median latency "
        f"{fmt_span(med_in)} (outside {fmt_span(med_out)}) over {len(inside)} op(s)"
    )


def balancer_effect(f: Facts, target: str) -> str:
    """What the balancer saw of a fault behind it (``wallet[i]`` / ``ingress[i]``, or every replica): health
    checks that took a replica down, requests it retried or redispatched, connection and response errors.
    A balancer that masks a replica kill from every client still shows it here; these counters cover the
    whole load, so they attribute to the fault only what happened to the faulted replicas. Empty: none."""
    base, index = split_target(target)
    if not f.balancer or base not in ("wallet", "ingress") or (base == "ingress" and index is None):
        return ""
    names = [f"wallet{index}"] if index is not None else sorted(f.balancer)
    seen = [f.balancer[n] for n in names if n in f.balancer]

    def total(key: str) -> int:
        return sum(int(s.get(key) or 0) for s in seen if str(s.get(key) or "0").isdigit())

    downs, retried, errors = total("chkdown"), total("wretr"), total("econ") + total("eresp")
    if not (downs or retried or errors):
        return ""
    return (
        f"the balancer took {', '.join(names)} down {downs} time(s) and retried {retried} request(s) "
        f"elsewhere after {errors} connection/response error(s)"
    )


def unknown_applied(f: Facts, w: FaultWindow) -> dict[str, int]:
    """Transfer keys with an unknown outcome (``info``) during the fault window, and how many of them the
    ledger shows were in fact applied: what "unknown" meant under this fault."""
    keys = {
        c.key
        for c in overlapping([c for c in f.calls if c.f in TRANSFER_FS and c.type == "info"], w.begin, w.end)
    }
    keys.discard(None)
    return {"unknown_transfers": len(keys), "unknown_applied": sum(1 for k in keys if k in f.ledger_keys)}


def recovery_checks(f: Facts) -> list[Result]:
    """Per fault: recovery_time(heal invoked) <= slo.recovery.max, with the time to detect (apply invoked ->
    first bucket below the success ratio) and to recover (apply invoked -> the success ratio held again
    after that first bad bucket: the RTO, also for a failover whose apply is what restores service). Unknown
    when the run ended too soon to tell, and inconclusive (unknown) when the fault showed no effect in the
    history (see ``fault_effect``)."""
    slo = f.scenario.slo.recovery
    calls = _availability_calls(f)
    results = []
    for w in f.windows:
        heal = w.heal_begin if w.heal_begin is not None else w.end
        hold = int(slo.hold * 1e9)
        rt = recovery_time(calls, heal, f.load_end, slo.success, hold)
        name = f"recovery: {w.label}"
        took_effect, effect = fault_effect(f, w)
        detect = time_to_detect(calls, w, slo.success)
        rto = None
        if detect is not None:  # time to recover: from the apply's invoke through the outage it caused
            back = recovery_time(calls, w.begin + int(detect * 1e9), f.load_end, slo.success, hold)
            rto = None if back is None else round(detect + back, 3)
        details = {
            "fault": w.name,
            "target": w.target,
            "applied_s": w.start / 1e9,
            "heal_invoked_s": heal / 1e9,
            "healed_s": w.end / 1e9,
            "recovery_s": rt,
            "bound_s": slo.max,
            "time_to_detect_s": detect,
            "time_to_recover_s": rto if detect is not None else 0.0,
            "effect": effect,
            **unknown_applied(f, w),
        }
        first = {"index": w.apply_index, "fault": w.name}
        if not took_effect:
            results.append(
                Result(name, "recovery", None, f"inconclusive: {effect}", details=details, exercised=0)
            )
        elif rt is None:
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


def rpo_checks(f: Facts) -> list[Result]:
    """Per ``process.failover``: the acknowledged transfers the ledger lacks afterwards (the durability
    check's offenders: the RPO in transfers). Synchronous replication must lose none. An asynchronous
    failover that lost none this run did not exercise what it is there for: unknown ("not exercised"),
    never a pass by luck. The count covers the whole run (one failover per run reads cleanly)."""
    from .money import durability

    out: list[Result] = []
    failovers = [w for w in f.windows if w.name == "process.failover"]
    lost = durability(f).count if failovers else 0  # one ledger pass for the run, whatever the failovers
    for w in failovers:
        mode = f.scenario.database.replication
        name = f"rpo: {w.label}"
        details = {"fault": w.name, "replication": mode, "lost_acknowledged": lost}
        if lost:
            out.append(
                Result(
                    name,
                    "evidence",
                    False,
                    f"RPO {lost} acknowledged transfer(s) lost by the {mode} failover (evidence: durability)",
                    lost,
                    {"index": w.apply_index, "fault": w.name},
                    details=details,
                )
            )
        elif mode == "sync":
            out.append(
                Result(name, "evidence", True, "RPO 0: no acknowledged transfer lost", details=details)
            )
        else:
            summary = "not exercised: the asynchronous failover lost no acknowledged transfer this run"
            out.append(Result(name, "evidence", None, summary, details=details, exercised=0))
    return out


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


DB_TARGETS = ("db", "postgres")


def fail_fast_checks(f: Facts) -> list[Result]:
    """Per fault on the database (``db`` link or ``postgres``): over the client ops whose execution
    overlapped [apply invoked, heal completed], unknown (info) ops / ops <= slo.fail_fast.unknown_share
    and p99 of latency (completion - invoke, every outcome; an op never completed counts as the fault's
    length) <= slo.fail_fast.p99. A wallet that hangs while its database is gone fails; fast 503s pass."""
    bound = f.scenario.slo.fail_fast
    calls = _availability_calls(f)
    results = []
    for w in f.windows:
        if w.target.split("[")[0] not in DB_TARGETS:
            continue
        inside = overlapping(calls, w.begin, w.end)
        name = f"fail fast: {w.label}"
        if not inside:
            results.append(Result(name, "slo", None, "no client op ran during the fault", exercised=0))
            continue
        unknown = sum(1 for c in inside if c.type == "info")
        lat = sorted((c.end if c.end is not None else w.end) - c.start for c in inside)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1e9
        share = unknown / len(inside)
        ok = share <= bound.unknown_share and p99 <= bound.p99
        results.append(
            Result(
                name,
                "slo",
                ok,
                f"{share:.0%} unknown (bound {bound.unknown_share:.0%}), p99 {fmt_span(p99)} "
                f"(bound {fmt_span(bound.p99)}) over {len(inside)} op(s)",
                0 if ok else unknown or 1,
                None if ok else {"index": w.apply_index, "fault": w.name},
                details={"ops": len(inside), "unknown": unknown, "unknown_share": share, "p99_s": p99},
                exercised=len(inside),
            )
        )
    return results


def expect_checks(f: Facts) -> list[Result]:
    """Per fault with ``expect``: over the client ops (pay, p2p, refund, balance) whose execution overlapped
    [apply invoked, heal invoked], available ops / ops >= expect.availability and p99 of latency
    (completion - invoke, every outcome; never completed: up to the heal) <= expect.p99."""
    calls = _availability_calls(f)
    results = []
    for w in f.windows:
        spec = f.scenario.faults[w.action].expect if 0 <= w.action < len(f.scenario.faults) else None
        if spec is None:
            continue
        until = w.heal_begin if w.heal_begin is not None else w.end
        inside = overlapping(calls, w.begin, until)
        name = f"expect: {w.label}"
        if not inside:
            results.append(Result(name, "slo", None, "no client op ran during the fault", exercised=0))
            continue
        bad = [c for c in inside if unavailable(c)]
        share = 1 - len(bad) / len(inside)
        lat = sorted((c.end if c.end is not None else max(until, c.start)) - c.start for c in inside)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1e9
        parts, ok = [], True
        if spec.availability is not None:
            ok = ok and share >= spec.availability
            parts.append(f"availability {share:.1%} (expected >= {spec.availability:.0%})")
        if spec.p99 is not None:
            ok = ok and p99 <= spec.p99
            parts.append(f"p99 {fmt_span(p99)} (expected <= {fmt_span(spec.p99)})")
        first = min(bad, key=lambda c: c.start) if bad else None
        results.append(
            Result(
                name,
                "slo",
                ok,
                f"{', '.join(parts)} over {len(inside)} op(s) during the fault",
                0 if ok else max(1, len(bad)),
                None if ok or first is None else {"index": first.index, "f": first.f, "status": first.status},
                details={"ops": len(inside), "unavailable": len(bad), "availability": share, "p99_s": p99},
                formula=expect_checks.__doc__ or "",
                exercised=len(inside),
            )
        )
    return results
