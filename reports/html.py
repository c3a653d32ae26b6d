"""report.html (placeholder until the reports issue lands the full timeline)."""

from __future__ import annotations

from walletchaos import judge
from walletchaos.store import StoredRun


def render(run: StoredRun, verdict: judge.Verdict) -> str:
    return f"<html><body><h1>{run.scenario.name}</h1><p>{verdict.valid}</p></body></html>"
