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


def _counter_rates(
    lines: list[dict[str, Any]], name: str, label: str, keep: Any
) -> dict[str, dict[int, float]]:
    """label value -> {bin: summed rate over replicas}."""
    prev: dict[tuple[int, str], tuple[float, float]] = {}
    out: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for line in lines:
        samples, r, t = line.get("samples"), line["replica"], float(line["t"])
        if samples is None:
            continue
        totals: dict[str, float] = defaultdict(float)
        for key, value in samples.items():
            n, labels = split(key)
            if n == name and keep(labels):
                totals[labels.get(label, "?")] += value
        for value_label, total in totals.items():
            before = prev.get((r, value_label))
            prev[(r, value_label)] = (t, total)
            if before is None or t <= before[0]:
                continue
            rise = total - before[1] if total >= before[1] else total  # a restart resets the counter
            out[value_label][math.floor(t)] += rise / (t - before[0])
    return out


def build(run_dir: Path) -> WalletSeries:
    lines = read(run_dir / "metrics.jsonl")
    s = WalletSeries()
    s.scrapes = sum(1 for x in lines if "samples" in x)
    s.failed = sum(1 for x in lines if "error" in x)
    s.absent = sorted({int(x["replica"]) for x in lines if "absent" in x})
    if not s.scrapes:
        return s
    times = [float(x["t"]) for x in lines if "samples" in x]
    s.bins = [float(b) for b in range(math.floor(min(times)), math.floor(max(times)) + 1)]
    on_v1 = lambda labels: labels.get("endpoint", "").startswith("/v1")  # noqa: E731
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
