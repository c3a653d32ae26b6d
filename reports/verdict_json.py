"""verdict.json, schema ``walletchaos.verdict/v1``:

    {"schema": "walletchaos.verdict/v1", "scenario", "seed", "runtime", "valid": "valid|invalid|unknown",
     "exit_code", "rerun", "stats": {...},
     "faults": [{"name", "target", "invoked_s", "applied_s", "healed_s", "healed_ok", "recovery_s"}],
     "results": [{"name", "kind": "invariant|evidence|recovery|slo", "valid", "summary", "count",
                  "first", "worst", "last", "details", "formula"}]}

Times are seconds since the run's origin. Additive changes keep v1; anything else bumps the version.
"""

from __future__ import annotations

from typing import Any

from walletchaos import judge
from walletchaos.store import StoredRun

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
            "healed_s": w.end / 1e9,
            "healed_ok": w.healed_ok,
            "recovery_s": recovery.get(f"{w.name}@{w.start / 1e9}"),
            "applied": w.applied,
            "healed": w.healed,
        }
        for w in verdict.windows
    ]


def render(run: StoredRun, verdict: judge.Verdict) -> dict[str, Any]:
    body = verdict.to_json()
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
        "stats": body["stats"],
        "faults": faults(verdict),
        "results": body["results"],
    }
