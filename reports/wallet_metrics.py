"""The wallet-side series of a run, from ``metrics.jsonl`` (``walletchaos.scrape``): what the replicas said
about themselves, aligned on the run's clock in 1 s bins. Charted when the wallet uses the reference
wallet's names; any other wallet's samples stay in metrics.jsonl for the user's own tools.

* requests/s by status: ``wallet_requests_total{endpoint="/v1/...",status=...}`` summed over replicas
  (the health checks and the scrapes themselves left out), and each replica's own requests/s (its traffic
  through the balancer over time);
* database errors/s by kind: ``wallet_db_errors_total{kind=...}`` summed over replicas;
* pool connections in use per replica: ``wallet_pool_connections - wallet_pool_idle_connections``.

A counter's rate is its rise since the same replica's previous scrape over the time between them; a counter
that went down (a restarted replica) counts from zero. A failed scrape is a gap, never a zero."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from walletchaos.scrape import read

KEY = re.compile(r"^(?P<name>[^{]+)(?:\{(?P<labels>.*)\})?$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
REQUESTS, DB_ERRORS = "wallet_requests_total", "wallet_db_errors_total"
POOL, IDLE = "wallet_pool_connections", "wallet_pool_idle_connections"


def split(key: str) -> tuple[str, dict[str, str]]:
    m = KEY.match(key)
    if m is None:
        return key, {}
    return m["name"], dict(LABEL.findall(m["labels"] or ""))


@dataclass
class WalletSeries:
    bins: list[float] = field(default_factory=list)
    requests: dict[str, list[float | None]] = field(default_factory=dict)  # status -> rate per bin
    db_errors: dict[str, list[float | None]] = field(default_factory=dict)  # kind -> rate per bin
    pool_in_use: dict[int, tuple[list[float], list[float]]] = field(default_factory=dict)  # replica -> t, v
    per_replica: dict[int, list[float | None]] = field(default_factory=dict)  # replica -> /v1 requests/s
    scrapes: int = 0
    failed: int = 0
    absent: list[int] = field(default_factory=list)

    @property
    def charted(self) -> bool:
        return bool(self.requests or self.pool_in_use)


def rises(
    lines: list[dict[str, Any]],
    name: str,
    group: Callable[[dict[str, str]], str],
    keep: Callable[[dict[str, str]], bool],
    first_from_zero: bool = False,
) -> Iterator[tuple[float, float | None, str, float]]:
    """Per scrape and group of the counter ``name`` (its samples that ``keep`` summed by ``group`` of their
    labels): (t, seconds since the same replica's previous scrape or None, group, rise since then). A counter
    that went down (a restarted replica) rose from zero; a replica's first scrape rose from zero only with
    ``first_from_zero`` (a window that starts at a restart), else it has nothing to rise from."""
    prev: dict[tuple[int, str], tuple[float, float]] = {}
    for line in lines:
        samples, r, t = line.get("samples"), line["replica"], float(line["t"])
        if samples is None:
            continue
        totals: dict[str, float] = defaultdict(float)
        for key, value in samples.items():
            n, labels = split(key)
            if n == name and keep(labels):
                totals[group(labels)] += value
        for g, total in totals.items():
            before = prev.get((r, g))
            prev[(r, g)] = (t, total)
            if before is None:
                if first_from_zero:
                    yield t, None, g, total
                continue
            if t > before[0]:
                yield t, t - before[0], g, total - before[1] if total >= before[1] else total


def _counter_rates(
    lines: list[dict[str, Any]], name: str, label: str, keep: Callable[[dict[str, str]], bool]
) -> dict[str, dict[int, float]]:
    """label value -> {bin: summed rate over replicas}."""
    out: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for t, seconds, g, rise in rises(lines, name, lambda labels: labels.get(label, "?"), keep):
        if seconds:
            out[g][math.floor(t)] += rise / seconds
    return out


def on_v1(labels: dict[str, str]) -> bool:
    """The wallet's API traffic: not its health checks, nor the scrapes themselves."""
    return labels.get("endpoint", "").startswith("/v1")


def build(run_dir: Path) -> WalletSeries:
    return series(read(run_dir / "metrics.jsonl"))


def series(lines: list[dict[str, Any]]) -> WalletSeries:
    """The series of a run's ``metrics.jsonl`` lines (``walletchaos.scrape.read``)."""
    s = WalletSeries()
    s.scrapes = sum(1 for x in lines if "samples" in x)
    s.failed = sum(1 for x in lines if "error" in x)
    s.absent = sorted({int(x["replica"]) for x in lines if "absent" in x})
    if not s.scrapes:
        return s
    times = [float(x["t"]) for x in lines if "samples" in x]
    s.bins = [float(b) for b in range(math.floor(min(times)), math.floor(max(times)) + 1)]
    for target, name, label, keep in (
        (s.requests, REQUESTS, "status", on_v1),
        (s.db_errors, DB_ERRORS, "kind", lambda labels: True),
    ):
        for value_label, per_bin in sorted(_counter_rates(lines, name, label, keep).items()):
            target[value_label] = [per_bin.get(int(b)) for b in s.bins]
    for replica in sorted({int(x["replica"]) for x in lines if "samples" in x}):
        mine = [x for x in lines if x["replica"] == replica]
        total = _counter_rates(mine, REQUESTS, "", on_v1).get("?", {})  # every status: one key
        if total:
            s.per_replica[replica] = [total.get(int(b)) for b in s.bins]
    for line in lines:
        samples = line.get("samples") or {}
        if POOL in samples and IDLE in samples:
            t, v = s.pool_in_use.setdefault(int(line["replica"]), ([], []))
            t.append(float(line["t"]))
            v.append(samples[POOL] - samples[IDLE])
    return s
