"""A run for dashboards: ``metrics.om`` (OpenMetrics text, one sample per check, fault, operation and
phase, stamped with the load's start on the wall clock: ``promtool tsdb create-blocks-from openmetrics``
imports it) and ``grafana-annotations.json`` (one region per fault window and per recovery window, in the
body Grafana's ``POST /api/annotations`` takes; the README shows the one-line import)."""

from __future__ import annotations

import math
from typing import Any

from walletchaos import judge
from walletchaos.store import StoredRun

VALID = {"valid": 1, "invalid": 0}


def _labels(**labels: Any) -> str:
    def esc(v: Any) -> str:
        return str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in labels.items()) + "}"


def render(run: StoredRun, verdict: judge.Verdict, data: dict[str, Any]) -> str:
    start = run.meta.get("load_started_at")
    stamp = f" {start:.3f}" if isinstance(start, int | float) else ""
    run_labels = {"scenario": data["scenario"], "seed": data["seed"], "runtime": data["runtime"]}
    families: list[tuple[str, str, str, list[tuple[dict[str, Any], float]]]] = [
        (
            "walletchaos_run",
            "info",
            "One run: its scenario, seed, runtime and verdict.",
            [({**run_labels, "verdict": data["valid"]}, 1)],
        ),
        (
            "walletchaos_check_valid",
            "gauge",
            "1 a check held, 0 it was violated, NaN unknown or not exercised.",
            [
                ({**run_labels, "check": r["name"], "kind": r["kind"]}, VALID.get(r["word"], math.nan))
                for r in data["results"]
                if r["counted"]
            ],
        ),
        (
            "walletchaos_check_violations",
            "gauge",
            "Offending operations per check.",
            [({**run_labels, "check": r["name"]}, r["count"]) for r in data["results"] if r["counted"]],
        ),
        (
            "walletchaos_fault_recovery_seconds",
            "gauge",
            "Recovery after each fault's heal was invoked (NaN: it did not recover).",
            [
                (
                    {**run_labels, "fault": f["name"], "target": f["target"], "at": round(f["invoked_s"], 1)},
                    math.nan if f.get("recovery_s") is None else f["recovery_s"],
                )
                for f in data["faults"]
            ],
        ),
        (
            "walletchaos_ops",
            "gauge",
            "Completed operations per operation type and outcome.",
            [
                ({**run_labels, "op": row["name"], "outcome": outcome}, row[outcome])
                for row in data["load"]["by_op"]
                for outcome in ("ok", "failed", "unknown")
            ],
        ),
        (
            "walletchaos_latency_seconds",
            "gauge",
            "Latency from the intended start, every outcome, per operation type.",
            [
                ({**run_labels, "op": row["name"], "quantile": q}, row[f"p{q[2:]}_ms"] / 1000)
                for row in data["load"]["by_op"]
                for q in ("0.50", "0.95", "0.99")
                if row.get(f"p{q[2:]}_ms") is not None
            ],
        ),
        (
            "walletchaos_phase_ops_per_second",
            "gauge",
            "Throughput per load phase.",
            [({**run_labels, "phase": row["name"]}, row["per_s"]) for row in data["load"]["by_phase"]],
        ),
    ]
    lines = []
    for name, kind, help_, samples in families:
        lines += [f"# TYPE {name} {kind}", f"# HELP {name} {help_}"]
        suffix = "_info" if kind == "info" else ""
        lines += [f"{name}{suffix}{_labels(**labels)} {value}{stamp}" for labels, value in samples]
    return "\n".join(lines) + "\n# EOF\n"


def grafana_annotations(run: StoredRun, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Grafana annotations (epoch milliseconds) for each fault window and recovery window; none when the
    run did not record the wall-clock moment its load started (runs from before that was stored)."""
    start = run.meta.get("load_started_at")
    if not isinstance(start, int | float):
        return []

    def ms(s: float) -> int:
        return round((start + s) * 1000)

    tags = ["walletchaos", data["scenario"]]
    out = []
    for f in data["faults"]:
        out.append(
            {
                "time": ms(f["invoked_s"]),
                "timeEnd": ms(f["healed_s"]),
                "isRegion": True,
                "tags": [*tags, "fault", f["name"]],
                "text": f"walletchaos {data['scenario']}: {f['name']} on {f['target']} (seed {data['seed']})",
            }
        )
        heal = f.get("heal_invoked_s", f["healed_s"])
        if f.get("recovery_s"):
            out.append(
                {
                    "time": ms(heal),
                    "timeEnd": ms(heal + f["recovery_s"]),
                    "isRegion": True,
                    "tags": [*tags, "recovery", f["name"]],
                    "text": f"recovery after {f['name']} on {f['target']}: {f['recovery_s']:.1f}s",
                }
            )
    return out
