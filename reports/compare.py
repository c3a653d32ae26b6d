"""``walletchaos compare BASELINE RUN``: deltas between two stored runs of a scenario, for gating a release
against the last one. A regression is: a worse verdict; a fault whose recovery got slower by more than the
recovery slack (or that no longer recovers); an outside-fault error rate up by more than the error slack;
an outside-fault p99 up by more than the p99 slack (relative) and 20 ms."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from walletchaos import judge
from walletchaos.judge.model import validity_word

from . import judged

RANK = {True: 0, None: 1, False: 2}


@dataclass(frozen=True)
class Slack:
    recovery_s: float = 1.0
    error_rate: float = 0.005
    p99_rel: float = 0.25


@dataclass(frozen=True)
class Row:
    metric: str
    base: Any
    run: Any
    delta: str
    regression: bool


def _recoveries(v: judge.Verdict) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for r in v.results:
        if r.kind == "recovery":
            label, n = r.name, 2
            while label in out:
                label, n = f"{r.name} #{n}", n + 1
            out[label] = r.details.get("recovery_s")
    return out


def compare(base_dir: Path, run_dir: Path, slack: Slack) -> list[Row]:
    _, base = judged(base_dir)
    _, run = judged(run_dir)
    rows = [
        Row(
            "verdict",
            validity_word(base.valid),
            validity_word(run.valid),
            "",
            RANK[run.valid] > RANK[base.valid],
        )
    ]
    base_rec, run_rec = _recoveries(base), _recoveries(run)
    for label in sorted(set(base_rec) | set(run_rec)):
        b, r = base_rec.get(label), run_rec.get(label)
        if b is not None and r is not None:
            rows.append(Row(label, f"{b:.1f}s", f"{r:.1f}s", f"{r - b:+.1f}s", r - b > slack.recovery_s))
        else:
            rows.append(Row(label, _s(b), _s(r), "", b is not None and r is None and label in run_rec))
    be, re_ = (
        base.stats.get("error_rate_outside_faults", 0.0),
        run.stats.get("error_rate_outside_faults", 0.0),
    )
    rows.append(
        Row(
            "error rate outside faults",
            f"{be:.2%}",
            f"{re_:.2%}",
            f"{re_ - be:+.2%}",
            re_ - be > slack.error_rate,
        )
    )
    bp, rp = base.stats.get("p99_s_outside_faults"), run.stats.get("p99_s_outside_faults")
    if bp and rp:
        rows.append(
            Row(
                "p99 outside faults",
                f"{bp * 1000:.0f}ms",
                f"{rp * 1000:.0f}ms",
                f"{(rp / bp - 1):+.0%}",
                rp > bp * (1 + slack.p99_rel) and rp - bp > 0.02,
            )
        )
    return rows


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"
