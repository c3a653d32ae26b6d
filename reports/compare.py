"""``walletchaos compare BASELINE RUN``: deltas between two stored runs of a scenario, for gating a release
against the last one. Only runs of the same scenario compare (same content but the description; the same
seed unless told otherwise): anything else is refused. A regression is: a worse verdict; a check the
baseline passed (or had no result for) that the run violates, so invalid vs invalid still fails on a new
violation; a fault whose recovery got slower by more than the recovery slack (or that no longer recovers);
an outside-fault error rate up by more than the error slack; an outside-fault p99 up by more than the p99
slack (relative) and 20 ms."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from walletchaos import judge
from walletchaos.errors import ScenarioError
from walletchaos.judge.model import validity_word
from walletchaos.store import StoredRun

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


def comparable(base: StoredRun, run: StoredRun, other_seed: bool = False) -> None:
    """Raises ScenarioError (exit 254) unless the two runs ran the same scenario (and seed)."""
    b = base.scenario.model_dump(mode="json", exclude={"description", "seed"})
    r = run.scenario.model_dump(mode="json", exclude={"description", "seed"})
    if b != r:
        fields = ", ".join(k for k in sorted(set(b) | set(r)) if b.get(k) != r.get(k))
        raise ScenarioError(
            [
                f"{run.path}: scenario {run.scenario.name!r} is not the baseline's {base.scenario.name!r} "
                f"(differs in: {fields}); compare runs of one scenario"
            ]
        )
    seeds = base.meta.get("seed", base.scenario.seed), run.meta.get("seed", run.scenario.seed)
    if seeds[0] != seeds[1] and not other_seed:
        raise ScenarioError(
            [
                f"{run.path}: seed {seeds[1]} is not the baseline's {seeds[0]}: the op sequence and fault "
                "moments differ; pass --other-seed to compare anyway"
            ]
        )


def compare(base_dir: Path, run_dir: Path, slack: Slack, other_seed: bool = False) -> list[Row]:
    stored_base, base = judged(base_dir)
    stored_run, run = judged(run_dir)
    comparable(stored_base, stored_run, other_seed)
    rows = [
        Row(
            "verdict",
            validity_word(base.valid),
            validity_word(run.valid),
            "",
            RANK[run.valid] > RANK[base.valid],
        )
    ]
    before = {r.name: r for r in base.results if r.counted}
    for result in run.results:
        was = before.get(result.name)
        if result.counted and result.valid is False and (was is None or was.valid is not False):
            rows.append(Row(result.name, was.word if was else "-", result.word, "new violation", True))
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
