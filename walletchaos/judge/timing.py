"""Recovery time per fault and the SLOs outside fault windows, from client ops bucketed by invoke time."""

from __future__ import annotations

from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from ..durations import fmt_span
from ..history import TRANSFER_FS
from ..ops import AVAILABILITY_FS
from ..targets import split_target
from .facts import Facts, FaultWindow
from .model import Result

BUCKET_NS = 100_000_000

AVAILABILITY = "f IN (" + ", ".join(f"'{f}'" for f in AVAILABILITY_FS) + ")"
"""The client calls that count for availability (attackers' calls fail by design)."""
UNAVAILABLE = "(type = 'info' OR (type = 'fail' AND (coalesce(status, 0) >= 500 OR status = 401)))"
"""``facts.unavailable`` of an availability call (each is sent with its user's own session): info, a 5xx,
or a 401."""


def overlapping(begin: int, end: int) -> str:
    """Calls whose execution [invoke, completion] overlapped [begin, end] (never completed: open-ended)."""
    return f'(start <= {int(end)} AND coalesce("end", {int(end)}) >= {int(begin)})'


def _outside(windows: list[tuple[int, int]]) -> str:
    """Calls whose whole execution [invoke, completion] overlaps no window: an op in flight when a fault
    began was hit by it."""
    return " AND ".join(
        [f'NOT (start <= {int(b)} AND coalesce("end", start) >= {int(a)})' for a, b in windows] or ["true"]
    )


def buckets(f: Facts, start: int, end: int) -> list[tuple[int, int]]:
    """(ok-ish, total) per 100 ms bucket of invoke time in [start, end) over the availability calls."""
    n = max(0, (end - start + BUCKET_NS - 1) // BUCKET_NS)
    out = [(0, 0)] * n
    for b, good, total in f.db.rows(
        f"""SELECT (start - ?) // {BUCKET_NS} AS b, count(*) FILTER (WHERE NOT {UNAVAILABLE}), count(*)
        FROM calls WHERE {AVAILABILITY} AND start >= ? AND start < ? GROUP BY b""",
        start,
        start,
        end,
    ):
        out[b] = (good, total)
    return out


def recovery_time(f: Facts, heal: int, load_end: int, success: float, hold_ns: int) -> float | None:
    """Seconds from ``heal`` to the first moment t after which every non-empty bucket in [t, t + hold) has
    a success ratio >= ``success`` (and at least one bucket has ops). None when never within the run.
    ``recovery_checks`` passes the heal's invoke, so the time a restart takes to come back counts."""
    series = buckets(f, heal, load_end)
    hold = max(1, hold_ns // BUCKET_NS)
    for i in range(0, max(0, len(series) - hold + 1)):
        window = [(a, t) for a, t in series[i : i + hold] if t]
        if window and all(a / t >= success for a, t in window):
            return i * BUCKET_NS / 1e9
    return None


def time_to_detect(f: Facts, w: FaultWindow, success: float) -> float | None:
    """Seconds from the fault's apply invoke to the first 100 ms bucket (by invoke time, up to the heal's
    completion) whose success ratio fell below ``success``: how soon clients felt it. None when no bucket
    did (a fault that only slowed the wallet down)."""
    for i, (good, total) in enumerate(buckets(f, w.begin, w.end)):
        if total and good / total < success:
            return i * BUCKET_NS / 1e9
    return None


def _kth_latency(f: Facts, where: str, latency: str, k: int) -> float:
    """The k-th smallest (from 0) of the ``latency`` (an SQL expression, ns) of the calls ``where`` selects,
    in seconds."""
    sql = f"SELECT {latency} AS lat FROM calls WHERE {where} ORDER BY lat LIMIT 1 OFFSET ?"
    return int(f.db.one(sql, k)) / 1e9


def _median_latency(f: Facts, where: str) -> float:
    """sorted(latencies of the ok calls)[n // 2], where a completion at 0 counts as none."""
    n = f.db.one(f"SELECT count(*) FROM calls WHERE {where} AND type = 'ok'")
    latency = 'CASE WHEN coalesce("end", 0) = 0 THEN start ELSE "end" END - start'
    return _kth_latency(f, f"{where} AND type = 'ok'", latency, n // 2) if n else 0.0


def _nth_latency(f: Facts, where: str, end: str, n: int) -> float:
    """The 99th percentile as the judge takes it: sorted latencies[min(n - 1, int(n * 0.99))], in seconds,
    where a call never completed ends at ``end`` (an SQL expression)."""
    return _kth_latency(f, where, f'coalesce("end", {end}) - start', min(n - 1, int(n * 0.99)))


def on_path(target: str) -> str:
    """The availability calls that travelled the faulted path: for ``ingress[i]`` / ``wallet[i]``, the calls
    of clients pinned to replica i (``value.via``); for every other target, all of them."""
    _, index = split_target(target)
    if index is None:
        return AVAILABILITY
    via = "(asked -> '$.via')"
    return (
        f"{AVAILABILITY} AND ({via} IS NULL OR (json_type({via}) IN ('BIGINT', 'UBIGINT') "
        f"AND {via}::HUGEINT = {int(index)}))"
    )


def _share(f: Facts, where: str) -> tuple[int, int]:
    """(calls, unavailable calls) among the calls ``where`` selects."""
    n, bad = f.db.rows(f"SELECT count(*), count(*) FILTER (WHERE {UNAVAILABLE}) FROM calls WHERE {where}")[0]
    return int(n), int(bad)


def fault_effect(f: Facts, w: FaultWindow) -> tuple[bool, str]:
    """Whether the fault showed an effect in the history, and what: client ops on the faulted path (see
    ``on_path``) that overlapped its window were unavailable more often (+1 point and at least one), or
    their median latency rose to >= 1.5x the median of the path's ops outside every fault window + 2 ms;
    for a deploy, the new version read back on some replica; behind a balancer that masked it from the
    clients, what the balancer saw of the faulted replicas (``balancer_effect``)."""
    if w.name == "deploy" and w.applied.get("rolled_out"):
        return True, f"version read back on {', '.join(w.applied['rolled_out'])}"
    path = on_path(w.target)
    inside = f"{path} AND {overlapping(w.begin, w.end)}"
    n_in, bad_in = _share(f, inside)
    if not n_in:
        return False, "no client op ran on the faulted path during the fault"
    outside = f"{path} AND {_outside([(x.begin, x.end) for x in f.windows])}"
    n_out, bad_out = _share(f, outside)
    share_in = bad_in / n_in
    share_out = bad_out / n_out if n_out else 0.0
    if bad_in and share_in >= share_out + 0.01:
        return True, f"{share_in:.0%} unavailable during the fault vs {share_out:.0%} outside"
    med_in, med_out = _median_latency(f, inside), _median_latency(f, outside)
    if med_in >= 1.5 * med_out + 0.002:
        return True, f"median latency {fmt_span(med_in)} during the fault vs {fmt_span(med_out)} outside"
    absorbed = balancer_effect(f, w.target)
    if absorbed:
        return True, absorbed
    return False, (
        f"no observable effect: {share_in:.0%} unavailable (outside {share_out:.0%}), median latency "
        f"{fmt_span(med_in)} (outside {fmt_span(med_out)}) over {n_in} op(s)"
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
    transfers = ", ".join(f"'{fn}'" for fn in TRANSFER_FS)
    unknown, applied = f.db.rows(
        f"""SELECT count(DISTINCT key), count(DISTINCT key) FILTER (WHERE key IN (SELECT key FROM ledger))
        FROM calls WHERE f IN ({transfers}) AND type = 'info' AND key IS NOT NULL
        AND {overlapping(w.begin, w.end)}"""
    )[0]
    return {"unknown_transfers": int(unknown), "unknown_applied": int(applied)}


def recovery_checks(f: Facts) -> list[Result]:
    """Per fault: recovery_time(heal invoked) <= slo.recovery.max, with the time to detect (apply invoked ->
    first bucket below the success ratio) and to recover (apply invoked -> the success ratio held again
    after that first bad bucket: the RTO, also for a failover whose apply is what restores service). Unknown
    when the run ended too soon to tell, and inconclusive (unknown) when the fault showed no effect in the
    history (see ``fault_effect``)."""
    slo = f.scenario.slo.recovery
    results = []
    for w in f.windows:
        heal = w.heal_begin if w.heal_begin is not None else w.end
        hold = int(slo.hold * 1e9)
        rt = recovery_time(f, heal, f.load_end, slo.success, hold)
        name = f"recovery: {w.label}"
        took_effect, effect = fault_effect(f, w)
        detect = time_to_detect(f, w, slo.success)
        rto = None
        if detect is not None:  # time to recover: from the apply's invoke through the outage it caused
            back = recovery_time(f, w.begin + int(detect * 1e9), f.load_end, slo.success, hold)
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
    outside = f"{AVAILABILITY} AND {_outside([(w.begin - BUCKET_NS, w.end + grace) for w in f.windows])}"
    ops, unavailable = _share(f, outside)
    hist = HdrHistogram(1, 3_600_000_000, 3)
    for micros, count in f.db.rows(
        f"""SELECT greatest(1, ("end" - coalesce(intended, start)) // 1000) AS us, count(*) FROM calls
        WHERE {outside} AND type = 'ok' AND "end" IS NOT NULL GROUP BY us"""
    ):
        hist.record_value(int(micros), int(count))
    p99 = hist.get_value_at_percentile(99) / 1e6 if hist.get_total_count() else None
    return OutsideStats(ops, unavailable, p99)


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
    results = []
    for w in f.windows:
        if w.target.split("[")[0] not in DB_TARGETS:
            continue
        inside = f"{AVAILABILITY} AND {overlapping(w.begin, w.end)}"
        n, unknown = f.db.rows(
            f"SELECT count(*), count(*) FILTER (WHERE type = 'info') FROM calls WHERE {inside}"
        )[0]
        name = f"fail fast: {w.label}"
        if not n:
            results.append(Result(name, "slo", None, "no client op ran during the fault", exercised=0))
            continue
        p99 = _nth_latency(f, inside, str(int(w.end)), n)
        share = unknown / n
        ok = share <= bound.unknown_share and p99 <= bound.p99
        results.append(
            Result(
                name,
                "slo",
                ok,
                f"{share:.0%} unknown (bound {bound.unknown_share:.0%}), p99 {fmt_span(p99)} "
                f"(bound {fmt_span(bound.p99)}) over {n} op(s)",
                0 if ok else unknown or 1,
                None if ok else {"index": w.apply_index, "fault": w.name},
                details={"ops": n, "unknown": unknown, "unknown_share": share, "p99_s": p99},
                exercised=n,
            )
        )
    return results


def expect_checks(f: Facts) -> list[Result]:
    """Per fault with ``expect``: over the client ops (pay, p2p, refund, balance) whose execution overlapped
    [apply invoked, heal invoked], available ops / ops >= expect.availability and p99 of latency
    (completion - invoke, every outcome; never completed: up to the heal) <= expect.p99."""
    results = []
    for w in f.windows:
        spec = f.scenario.faults[w.action].expect if 0 <= w.action < len(f.scenario.faults) else None
        if spec is None:
            continue
        until = w.heal_begin if w.heal_begin is not None else w.end
        inside = f"{AVAILABILITY} AND {overlapping(w.begin, until)}"
        n, bad = _share(f, inside)
        name = f"expect: {w.label}"
        if not n:
            results.append(Result(name, "slo", None, "no client op ran during the fault", exercised=0))
            continue
        share = 1 - bad / n
        p99 = _nth_latency(f, inside, f"greatest({int(until)}, start)", n)
        parts, ok = [], True
        if spec.availability is not None:
            ok = ok and share >= spec.availability
            parts.append(f"availability {share:.1%} (expected >= {spec.availability:.0%})")
        if spec.p99 is not None:
            ok = ok and p99 <= spec.p99
            parts.append(f"p99 {fmt_span(p99)} (expected <= {fmt_span(spec.p99)})")
        first = None
        if bad and not ok:
            first = f.db.calls(
                f"idx = (SELECT idx FROM calls WHERE {inside} AND {UNAVAILABLE} ORDER BY start, idx LIMIT 1)"
            )[0]
        results.append(
            Result(
                name,
                "slo",
                ok,
                f"{', '.join(parts)} over {n} op(s) during the fault",
                0 if ok else max(1, bad),
                None if ok or first is None else {"index": first.index, "f": first.f, "status": first.status},
                details={"ops": n, "unavailable": bad, "availability": share, "p99_s": p99},
                formula=expect_checks.__doc__ or "",
                exercised=n,
            )
        )
    return results
