"""verdict.json, schema ``walletchaos.verdict/v1``:

    {"schema": "walletchaos.verdict/v1", "scenario", "seed", "runtime", "valid": "valid|invalid|unknown",
     "exit_code", "rerun", "clock": "load_start|harness", "stats": {...},
     "load": {"by_op": [row], "by_phase": [row]},  row: {"name", "count", "seconds", "per_s", "ok", "failed",
              "unknown", "failed_share", "unknown_share", "p50_ms", "p95_ms", "p99_ms"} (reports/summary.py)
     "balancer": {"wallet<i>": {"responses": {"2xx", ...}, "wretr", "wredis", "econ", "eresp", "chkdown",
                  "downtime", "status"}} | null  (HAProxy's counters at the end of the load),
     "faults": [{"name", "target", "invoked_s", "applied_s", "heal_invoked_s", "healed_s", "healed_ok",
                 "recovery_s" (from heal_invoked_s)}],
     "results": [{"name", "kind": "invariant|evidence|recovery|slo", "valid", "summary", "count",
                  "first", "worst", "last", "details", "formula"}]}

Times are seconds on the run's one clock: 0 is the start of the load (``clock: load_start``, the time 0 of
the fault schedule, so a fault ``at: 6s`` is near 6); set-up before it is negative. Runs recorded before the
history had a ``load_start`` op count from the harness's start (``clock: harness``). Additive changes keep
v1; anything else bumps the version.
"""

from __future__ import annotations

from typing import Any

from walletchaos import judge
from walletchaos.ops import Fn
from walletchaos.store import StoredRun

from . import summary

SCHEMA = "walletchaos.verdict/v1"


def faults(verdict: judge.Verdict) -> list[dict[str, Any]]:
    recovery = {
        r.details.get("fault", "") + "@" + str(r.details.get("applied_s")): r.details.get("recovery_s")
        for r in verdict.results
        if r.kind == "recovery"
    }
    return [
        {
            "name": w.name,
            "target": w.target,
            "invoked_s": w.begin / 1e9,
            "applied_s": w.start / 1e9,
            "heal_invoked_s": (w.heal_begin if w.heal_begin is not None else w.end) / 1e9,
            "healed_s": w.end / 1e9,
            "healed_ok": w.healed_ok,
            "recovery_s": recovery.get(f"{w.name}@{w.start / 1e9}"),
            "applied": w.applied,
            "healed": w.healed,
        }
        for w in verdict.windows
    ]


def harness(run: StoredRun) -> tuple[dict[str, Any] | None, str]:
    """From the history's records other than client calls: the balancer's per-replica counters recorded at
    the end of the load (None: no balancer) and the clock of its times (``load_start`` when it has a
    load_start op)."""
    others = run.columns().others
    done = (r for r in others if r["f"] == Fn.BALANCER and r["type"] == "ok")
    replicas = next((r.get("value", {}).get("replicas") for r in done), None)
    return replicas, "load_start" if any(r["f"] == Fn.LOAD_START for r in others) else "harness"


def render(run: StoredRun, verdict: judge.Verdict) -> dict[str, Any]:
    body = verdict.to_json()
    replicas, clock = harness(run)
    return {
        "schema": SCHEMA,
        "scenario": run.scenario.name,
        "description": run.scenario.description,
        "seed": run.meta.get("seed"),
        "runtime": run.meta.get("runtime"),
        "valid": body["valid"],
        "exit_code": verdict.exit_code,
        "rerun": run.meta.get("rerun"),
        "versions": run.meta.get("versions"),
        "clock": clock,
        "stats": body["stats"],
        "load": summary.build(run).to_json(),
        "balancer": replicas,
        "faults": faults(verdict),
        "results": body["results"],
    }
