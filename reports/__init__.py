"""Renderers from a stored run directory alone (no services): verdict.json, terminal summary, junit.xml,
summary.md and report.html. ``write_all`` writes every file; each renderer is a pure function of the run."""

from __future__ import annotations

import os
from contextlib import closing
from pathlib import Path

from walletchaos import judge
from walletchaos.store import StoredRun, load_run, write_json

from . import html, junit, markdown, openmetrics, verdict_json


def judged(run_dir: Path) -> tuple[StoredRun, judge.Verdict]:
    run = load_run(run_dir)
    return run, judge.check(run.scenario, run.columns(), run.audit)  # checked by load_run; read once


def write_all(run_dir: Path, single_file: bool = False) -> judge.Verdict:
    """Re-judge a stored run and write every report (``walletchaos report``)."""
    run, verdict = judged(run_dir)
    with closing(run):
        render_all(run, verdict, single_file)
    return verdict


def render_all(run: StoredRun, verdict: judge.Verdict, single_file: bool = False) -> None:
    """Write every report of a run that was just judged (``walletchaos run``: no second judging)."""
    data = verdict_json.render(run, verdict)
    write_json(run.path / "verdict.json", data)
    (run.path / "metrics.om").write_text(openmetrics.render(run, verdict, data))
    write_json(run.path / "grafana-annotations.json", openmetrics.grafana_annotations(run, data))
    (run.path / "junit.xml").write_text(junit.render(run, verdict))
    summary = markdown.render(run, verdict)
    (run.path / "summary.md").write_text(summary)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    marker = run.path / ".step-summary"  # once per run and job: re-rendering (report, analyze) adds nothing
    if step_summary and not (marker.exists() and marker.read_text() == step_summary):
        with open(step_summary, "a") as f:
            f.write(summary + "\n")
        marker.write_text(step_summary)
    (run.path / "report.html").write_text(html.render(run, verdict, single_file))
