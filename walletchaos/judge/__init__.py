"""The judge: a function ``check(scenario, history, audit) -> Verdict`` of its inputs alone; the clock only
times each checker for the reports (JUnit ``time``), never in a decision.

The client calls and the ledger are read into columns (``columns.Columns``: an embedded DuckDB, memory
bounded, spilling to its own temporary directory, removed when the verdict is made); every invariant is a
small function over ``Facts`` with its formula in the docstring, which queries those columns for the
offending rows and words them in Python. A checker that raises yields validity ``unknown`` (never a crash
of the harness); the verdict takes the worst validity.
"""

from __future__ import annotations

import time
from typing import Any

from .. import gcpause
from ..scenario import Scenario
from .columns import Columns, Records
from .facts import Facts
from .invariants import INVARIANT_CHECKS
from .model import Result, Verdict, worst
from .timing import (
    OutsideStats,
    expect_checks,
    fail_fast_checks,
    outside_stats,
    recovery_checks,
    rpo_checks,
    slo_checks,
)

__all__ = ["Result", "Verdict", "check"]


def _guarded(name: str, kind: str, fn: Any, *args: Any) -> list[Result]:
    started = time.perf_counter()  # reported (JUnit's time), never part of a decision
    try:
        out = fn(*args)
        out = out if isinstance(out, list) else [out]
    except Exception as exc:  # a crashing checker is unknown, not a harness crash
        out = [Result(name, kind, None, f"checker crashed: {exc.__class__.__name__}: {exc}")]
    for r in out:
        r.seconds = (time.perf_counter() - started) / len(out)
    return out


def check(scenario: Scenario, history: Records | Columns, audit: dict[str, Any]) -> Verdict:
    """The verdict on a run: ``history`` is its records, its JSONL file (``history.jsonl``), or its columns
    already read (``StoredRun.columns``: one read of a long history for the judge and the reports, which
    the judgement leaves as it found them); the audit's ``ledger`` is its postings or their JSONL file."""
    if isinstance(history, Columns):
        columns, release = history, history.reset  # the caller's, left for the reports
    else:
        columns = Columns(history)
        release = columns.close
    try:
        with gcpause.paused():  # millions of small containers, no cycles
            return _judge(scenario, Facts.build(scenario, columns, audit))
    finally:
        release()


def _judge(scenario: Scenario, facts: Facts) -> Verdict:
    results: list[Result] = []
    asked = scenario.invariants != "all"
    for name in scenario.checked_invariants():
        results += [_exercised(r, asked) for r in _guarded(name, "invariant", INVARIANT_CHECKS[name], facts)]
    results += _guarded("load ran", "evidence", _load_ran, facts)
    results += _guarded("history complete", "evidence", _shipped, facts)
    results += _guarded("evidence_resolved", "evidence", _evidence, facts)
    results += _guarded("faults_healed", "evidence", _healed, facts)
    results += _guarded("faults_applied", "evidence", _applied, facts)
    results += _guarded("deploy rollout", "deploy", _rollouts, facts)
    results += _guarded("abort_if", "slo", _aborted, facts)
    results += _guarded("arrivals", "slo", _arrivals, facts)
    results += _guarded("recovery", "recovery", recovery_checks, facts)
    results += _guarded("rpo", "evidence", rpo_checks, facts)
    results += _guarded("fail fast", "slo", fail_fast_checks, facts)
    results += _guarded("expect", "slo", expect_checks, facts)
    try:
        outside: OutsideStats | None = outside_stats(facts)
    except Exception:  # the SLO checks below then report it as unknown
        outside = None
    results += _guarded("slo", "slo", slo_checks, facts, outside)
    stats = {
        **facts.summary(),
        "unknown_applied": sum(1 for t in facts.resolved.values() if t is not None),
        "unknown_not_applied": sum(1 for t in facts.resolved.values() if t is None),
        "p99_s_outside_faults": outside.p99_s if outside else None,
        "error_rate_outside_faults": round(outside.error_rate, 6) if outside else None,
    }
    return Verdict(worst(r.valid for r in results if r.counted), results, stats, facts.windows)


def _exercised(r: Result, asked: bool) -> Result:
    """A check that nothing exercised is never a confident pass: "not exercised", unknown when the scenario
    asked for it by name, shown but not counted when it came with the default ``all``."""
    if r.valid is True and r.exercised == 0:
        r.valid, r.counted = None, asked
        r.summary = f"not exercised: {r.summary}"
    return r


def _arrivals(f: Facts) -> list[Result]:
    """Open-model phases: dropped / due <= slo.dropped, where an arrival is dropped when every user of the
    phase's pool was busy at its due time (counted by the load process). Without the bound the share is
    shown, not judged; without the load's count (it did not end cleanly) the check is unknown."""
    phases = [p.phase for p in f.scenario.load.shape if p.open]
    if not phases:
        return []
    if "arrivals" not in f.load_exit:
        reason = "the load process did not report its arrivals (it did not end cleanly)"
        return [Result("arrivals", "slo", None, reason, formula=_arrivals.__doc__ or "")]
    due, dropped = f.load_exit["arrivals"], f.load_exit.get("dropped", {})
    total, lost = sum(due.values()), sum(dropped.values())
    share = lost / total if total else 0.0
    per_phase = ", ".join(f"{p} {dropped.get(p, 0)}/{due.get(p, 0)}" for p in phases)
    summary = f"{lost} of {total} arrivals dropped ({share:.1%}; {per_phase})"
    bound = f.scenario.slo.dropped
    details = {"arrivals": due, "dropped": dropped, "share": share, "bound": bound}
    if bound is None:
        summary += "; not judged: the scenario sets no slo.dropped"
        shown = Result("arrivals", "slo", True, summary, lost, details=details, exercised=total)
        shown.counted = False
        return [shown]
    return [
        Result(
            "arrivals",
            "slo",
            share <= bound,
            f"{summary}, bound {bound:.1%}",
            lost,
            details=details,
            formula=_arrivals.__doc__ or "",
            exercised=total,
        )
    ]


def _rollouts(f: Facts) -> list[Result]:
    """Every deploy rolled out: a replica that did not become ready on the new version (or an apply that
    raised) is a violation named in the verdict, with the replica and its error."""
    out = []
    for w in f.windows:
        if w.name != "deploy":
            continue
        failed = list(w.applied.get("failed") or [])
        if not w.applied_ok:
            failed.append({"replica": "?", "error": "the deploy action itself failed"})
        rolled = ", ".join(w.applied.get("rolled_out") or []) or "none"
        out.append(
            Result(
                f"deploy rollout: {w.label}",
                "deploy",
                not failed,
                f"rolled out on {rolled}" + (f"; failed on {failed[0]['replica']}" if failed else ""),
                len(failed),
                {"index": w.apply_index, **failed[0]} if failed else None,
                details={"failed": failed, "rolled_out": w.applied.get("rolled_out")},
            )
        )
    return out


def _evidence(f: Facts) -> Result:
    """Every unknown (info) transfer key was resolved by the by-key reconciliation after the run, and each
    answer agrees with the ledger: GET /v1/transfers/by-key/k is 200 iff k is in the ledger. (Whether the
    200's body matches the request and the ledger's transfer id is ``answers_match_ledger``.)"""
    keys = sorted(f.resolved)
    ledger = set(
        f.db.keys("SELECT DISTINCT key FROM ledger WHERE key IN (SELECT unnest(?::VARCHAR[]))", keys)
    )
    first = dict(
        f.db.rows(
            "SELECT key, first FROM keys WHERE key IN (SELECT unnest(?::VARCHAR[]))",
            keys,
        )
    )
    contradictions = [
        {
            "index": first.get(k),
            "key": k,
            "by_key": "applied" if t else "404",
            "ledger": "present" if k in ledger else "absent",
        }
        for k, t in sorted(f.resolved.items())
        if (t is not None) != (k in ledger)
    ]
    if contradictions:
        return Result.from_offenders(
            "evidence_resolved",
            "evidence",
            contradictions,
            "",
            "{n} by-key answer(s) contradict the ledger",
            None,
            _evidence.__doc__ or "",
        )
    unresolved = sorted(f.unresolved_keys)
    if not unresolved:
        return Result("evidence_resolved", "evidence", True, f"{len(f.resolved)} unknown outcome(s) resolved")
    return Result(
        "evidence_resolved",
        "evidence",
        None,
        f"{len(unresolved)} unknown outcome(s) could not be resolved",
        count=len(unresolved),
        details={"keys": unresolved[:20]},
    )


def _applied(f: Facts) -> Result:
    """Every fault of the scenario was applied (unless the run was aborted first), and the fault scheduler
    did not fail internally: otherwise the verdict is unknown with the reason, never valid."""
    crashes = [
        r for r in f.db.others if r.get("process") == "nemesis" and r.get("f") == "crash" and "error" in r
    ]
    if crashes:
        return Result(
            "faults_applied", "evidence", None, f"the fault scheduler failed: {crashes[0]['error']}"
        )
    planned, applied = len(f.scenario.faults), len(f.windows)
    if applied < planned and f.abort is None:
        return Result(
            "faults_applied", "evidence", None, f"only {applied} of {planned} planned fault(s) were applied"
        )
    return Result("faults_applied", "evidence", True, f"{applied} of {planned} planned fault(s) applied")


def _aborted(f: Facts) -> list[Result]:
    """abort_if is a bound: a run the harness had to stop early violated it."""
    rule = f.scenario.abort_if
    if rule is None:
        return []
    if f.abort is None:
        return [
            Result(
                "abort_if",
                "slo",
                True,
                f"the error rate never held >= {rule.error_rate:.0%} for {rule.for_:g}s",
            )
        ]
    return [
        Result(
            "abort_if",
            "slo",
            False,
            f"load stopped at {f.abort.start / 1e9:.1f}s: "
            f"error rate >= {rule.error_rate:.0%} for {rule.for_:g}s",
            1,
            {"index": f.abort.index, **f.abort.value},
        )
    ]


def _load_ran(f: Facts) -> Result:
    """The load ran as planned: client ops > 0, and the load process ended with exit 0 or was stopped by
    abort_if. A run with no client op tested nothing, and one whose load process failed tested part of its
    plan: both unknown, never valid, however many checks found nothing wrong."""
    formula = _load_ran.__doc__ or ""
    code = f.load_exit.get("returncode")
    if not f.ops:
        return Result(
            "load ran", "evidence", None, "no client operation was made: nothing was tested", formula=formula
        )
    if code not in (0, None) and f.abort is None:
        summary = f"the load process exited with code {code} after {f.ops} client operation(s)"
        return Result("load ran", "evidence", None, summary, details=f.load_exit, formula=formula)
    return Result(
        "load ran",
        "evidence",
        True,
        f"{f.ops} client operation(s)",
        formula=formula,
        exercised=f.ops,
    )


def _shipped(f: Facts) -> list[Result]:
    """Distributed load (``run --workers``): received == reported for every worker, where a worker reports
    how many history records it shipped once its users stopped and the load process counts what arrived. A
    missing record or a worker that never reported leaves the history incomplete: unknown, never valid."""
    d = f.load_exit.get("distributed")
    if not d:
        return []
    received = sum(int(w["received"]) for w in d["workers"])
    silent = [w["index"] for w in d["workers"] if w["reported"] is None]
    missing = int(d["records_missing"])
    formula = _shipped.__doc__ or ""
    if silent or missing:
        summary = f"{missing} history record(s) missing"
        if silent:
            summary += f"; worker(s) {', '.join(map(str, silent))} never said how many they shipped"
        return [Result("history complete", "evidence", None, summary, missing, details=d, formula=formula)]
    summary = f"{received} records from {d['expected']} worker(s), as many as they shipped"
    return [
        Result("history complete", "evidence", True, summary, details=d, formula=formula, exercised=received)
    ]


def _healed(f: Facts) -> Result:
    """Every applied fault has a successful heal in the history; a failed heal makes the verdict unknown."""
    bad = [w for w in f.windows if not w.healed_ok]
    if not bad:
        return Result("faults_healed", "evidence", True, f"{len(f.windows)} fault(s) applied and healed")
    return Result(
        "faults_healed",
        "evidence",
        None,
        f"{len(bad)} fault(s) not healed cleanly",
        count=len(bad),
        details={"faults": [w.label for w in bad]},
    )
