"""``walletchaos compare BASELINE RUN``: deltas between stored runs of one scenario, for gating a release
against the last one. Each side is one run directory or a folder of them (``walletchaos run --repeat N``
with its own ``--out``): a folder's runs are its noise. Only runs of the same scenario compare (same content
but the description; the same seed unless told otherwise): anything else is refused.

A regression is: a worse verdict (the worst run of each side); a check some run violates that no baseline run
violated, so invalid vs invalid still fails on a new violation; a timing outside the baseline's range by more
than its slack: a fault's recovery (the run side's median above the baseline's slowest by more than the
recovery slack, or no recovery at all where every baseline run recovered), the outside-fault error rate
(above the baseline's highest by more than the error slack) and the outside-fault p99 (above the baseline's
highest by more than the p99 slack, relative, and 20 ms)."""

from __future__ import annotations

import statistics
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


def _recoveries(v: judge.Verdict) -> dict[str, tuple[float | None, bool]]:
    """Per fault (its recovery check's name, ``#2`` for a second window of the same fault): the recovery
    time, and whether the recovery check was violated."""
    out: dict[str, tuple[float | None, bool]] = {}
    for r in v.results:
        if r.kind == "recovery":
            label, n = r.name, 2
            while label in out:
                label, n = f"{r.name} #{n}", n + 1
            out[label] = (r.details.get("recovery_s"), r.counted and r.valid is False)
    return out


def run_dirs(path: Path) -> list[Path]:
    """``path`` itself when it is a run directory, else the run directories right inside it (links such as
    ``latest`` skipped: they would count a run twice), oldest first."""
    if (path / "history.jsonl").is_file():
        return [path]
    found = (
        sorted(
            p for p in path.iterdir() if p.is_dir() and not p.is_symlink() and (p / "history.jsonl").is_file()
        )
        if path.is_dir()
        else []
    )
    if not found:
        raise ScenarioError(
            [f"{path}: not a run directory, and no run directory (with history.jsonl) inside"]
        )
    return found


@dataclass
class Side:
    path: Path
    runs: list[StoredRun]
    verdicts: list[judge.Verdict]

    @classmethod
    def load(cls, path: Path) -> Side:
        pairs = [judged(p) for p in run_dirs(path)]
        for run, _ in pairs:
            run.close()  # its columns: a comparison reads the verdicts, and a folder may hold many runs
        return cls(path, [r for r, _ in pairs], [v for _, v in pairs])

    @property
    def worst(self) -> bool | None:
        return max((v.valid for v in self.verdicts), key=RANK.__getitem__)

    def label(self) -> str:
        return str(self.path) if len(self.runs) == 1 else f"{self.path} ({len(self.runs)} runs)"


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


def _words(verdicts: list[judge.Verdict], name: str) -> tuple[str, bool]:
    """How a side's runs judged one check ("valid", or "valid 2, invalid 1"), and whether any violated."""
    words = [r.word for v in verdicts for r in v.results if r.name == name and r.counted]
    if not words:
        return "-", False
    counts = {w: words.count(w) for w in dict.fromkeys(words)}
    text = next(iter(counts)) if len(counts) == 1 else ", ".join(f"{w} {n}" for w, n in counts.items())
    return text, "invalid" in counts


def _range(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if len(values) == 1 or lo == hi else f"{fmt.format(lo)}..{fmt.format(hi)}"


def compare(base_dir: Path, run_dir: Path, slack: Slack, other_seed: bool = False) -> list[Row]:
    base, run = Side.load(base_dir), Side.load(run_dir)
    for stored in base.runs[1:] + run.runs:
        comparable(base.runs[0], stored, other_seed)
    rows = [
        Row(
            "verdict",
            validity_word(base.worst),
            validity_word(run.worst),
            "",
            RANK[run.worst] > RANK[base.worst],
        )
    ]
    names = list(  # the recovery checks are the per-fault rows below
        dict.fromkeys(
            r.name
            for v in base.verdicts + run.verdicts
            for r in v.results
            if r.counted and r.kind != "recovery"
        )
    )
    for name in names:
        (b, b_bad), (r, r_bad) = _words(base.verdicts, name), _words(run.verdicts, name)
        rows.append(Row(name, b, r, "new violation" if r_bad and not b_bad else "", r_bad and not b_bad))
    rows += _recovery_rows(base, run, slack)
    rows += _load_rows(base, run, slack)
    return rows


def _recovery_rows(base: Side, run: Side, slack: Slack) -> list[Row]:
    """One row per fault: its recovery time (baseline range, run median); a regression when the median is
    past the baseline's slowest by more than the slack, when the fault no longer recovers where every
    baseline run did, or when its recovery check is violated and no baseline run's was."""
    rows = []
    b_rec, r_rec = [_recoveries(v) for v in base.verdicts], [_recoveries(v) for v in run.verdicts]
    for label in dict.fromkeys(k for rec in b_rec + r_rec for k in rec):
        b = [x for rec in b_rec if label in rec and (x := rec[label][0]) is not None]
        r = [x for rec in r_rec if label in rec and (x := rec[label][0]) is not None]
        b_bad = any(rec[label][1] for rec in b_rec if label in rec)
        r_bad = any(rec[label][1] for rec in r_rec if label in rec)
        new = r_bad and not b_bad
        if b and r:
            mid = statistics.median(r)
            slower = mid - max(b) > slack.recovery_s
            delta = f"{mid - max(b):+.1f}s" + (", new violation" if new else "")
            rows.append(Row(label, _range(b, "{:.1f}s"), f"{mid:.1f}s", delta, slower or new))
        else:
            lost = len(b) == len(base.verdicts) and not r and any(label in rec for rec in r_rec)
            delta = "no recovery" if lost else ("new violation" if new else "")
            rows.append(Row(label, _range(b, "{:.1f}s") if b else "-", "-", delta, lost or new))
    return rows


def _load_rows(base: Side, run: Side, slack: Slack) -> list[Row]:
    rows = []
    be = [v.stats.get("error_rate_outside_faults", 0.0) for v in base.verdicts]
    re_ = statistics.median(v.stats.get("error_rate_outside_faults", 0.0) for v in run.verdicts)
    rows.append(
        Row(
            "error rate outside faults",
            _range([x * 100 for x in be], "{:.2f}%"),
            f"{re_:.2%}",
            f"{re_ - max(be):+.2%}",
            re_ - max(be) > slack.error_rate,
        )
    )
    bp = [p for v in base.verdicts if (p := v.stats.get("p99_s_outside_faults"))]
    rp = [p for v in run.verdicts if (p := v.stats.get("p99_s_outside_faults"))]
    if bp and rp:
        hi, mid = max(bp), statistics.median(rp)
        rows.append(
            Row(
                "p99 outside faults",
                _range([p * 1000 for p in bp], "{:.0f}ms"),
                f"{mid * 1000:.0f}ms",
                f"{(mid / hi - 1):+.0%}",
                mid > hi * (1 + slack.p99_rel) and mid - hi > 0.02,
            )
        )
    return rows
