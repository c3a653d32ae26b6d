"""summary.md for pull requests (also appended to $GITHUB_STEP_SUMMARY when set)."""

from __future__ import annotations

import json

from walletchaos import judge
from walletchaos.judge.model import validity_word
from walletchaos.store import StoredRun

from . import summary

ICON = {True: "✅", False: "❌", None: "❔"}
WORD_ICON = {"valid": "✅", "invalid": "❌", "unknown": "❔", "not exercised": "⚪"}


def load_tables(load: dict[str, list[dict[str, object]]]) -> list[str]:
    """The load summary (``summary.TABLES``) as markdown tables."""
    lines: list[str] = []
    for key, first in summary.TABLES:
        lines += [
            "",
            f"| {first} | " + " | ".join(summary.HEADER[1:]) + " |",
            "|---" * len(summary.HEADER) + "|",
        ]
        lines += ["| " + " | ".join(summary.cells(row)) + " |" for row in load.get(key, [])]
    return lines


def render(run: StoredRun, verdict: judge.Verdict) -> str:
    s = verdict.stats
    lines = [
        f"## walletchaos: `{run.scenario.name}` is "
        f"**{validity_word(verdict.valid).upper()}** {ICON[verdict.valid]}",
        "",
        f"{run.scenario.description.strip()}" if run.scenario.description else "",
        "",
        f"seed `{run.meta.get('seed')}`, runtime `{run.meta.get('runtime')}`, {s.get('ops')} ops "
        f"({s.get('throughput')} ops/s), {s.get('faults')} fault(s). Re-run: `{run.meta.get('rerun')}`",
        "",
        "| check | result | summary |",
        "|---|---|---|",
    ]
    lines += [f"| {r.name} | {WORD_ICON[r.word]} {r.word} | {r.summary} |" for r in verdict.results]
    lines += ["", "Load (latency from the intended start, over every completed op; time 0 = load start):"]
    lines += load_tables(summary.build(run).to_json())
    for r in verdict.violated():
        lines += [
            "",
            f"<details><summary>{r.name}: {r.summary}</summary>",
            "",
            "```json",
            json.dumps({"first": r.first, "worst": r.worst, "last": r.last}, indent=2, default=str),
            "```",
            "</details>",
        ]
    return "\n".join(lines) + "\n"
