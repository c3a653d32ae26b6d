"""The wallet's own view of a run: every replica's Prometheus ``/metrics`` scraped once a second during the
load into ``RUN_DIR/metrics.jsonl``, one line per replica and scrape, on the run's clock (seconds since the
load started):

    {"t": 3.01, "replica": 0, "samples": {"wallet_pool_connections": 10.0, ...}}
    {"t": 4.02, "replica": 1, "error": "ConnectError"}     (the replica is down: a gap, not a zero)
    {"t": 0.0, "replica": 2, "absent": 404}               (no /metrics there: not asked again)

Every sample but histogram buckets and ``_created`` stamps is kept, whatever the wallet calls it; the
report charts the reference wallet's names (``reports/wallet_metrics.py``). Scrapes go to each replica's
own address (no toxics), a replica at a time with a short timeout, so a hung replica costs one slot."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

SKIPPED_SUFFIXES = ("_bucket", "_created")


def parse(text: str) -> dict[str, float]:
    """Prometheus text exposition -> {'name{label="v",...}': value}, buckets and created stamps dropped."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith(SKIPPED_SUFFIXES):
                continue
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = float(sample.value)
    return out


class MetricsScraper:
    def __init__(
        self,
        urls: Callable[[], list[str]],
        path: Path,
        clock: Callable[[], float],
        interval_s: float = 1.0,
        timeout_s: float = 0.5,
    ) -> None:
        self.urls, self.path, self.clock = urls, path, clock
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.absent: set[int] = set()
        self.lines = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="metrics", daemon=True)
        self._out: IO[str] | None = None

    def start(self) -> None:
        self._out = open(self.path, "a")  # noqa: SIM115 - closed by stop()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self._out is not None:
            self._out.close()
            self._out = None

    def _loop(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            next_at = time.monotonic()
            while not self._stop.is_set():
                try:
                    urls = self.urls()
                except Exception:  # the stack is being torn down: nothing to scrape this tick
                    urls = []
                for i, url in enumerate(urls):
                    if i not in self.absent and not self._stop.is_set():
                        self._write(self.scrape(client, i, url))
                next_at += self.interval_s
                self._stop.wait(max(0.0, next_at - time.monotonic()))

    def scrape(self, client: httpx.Client, replica: int, url: str) -> dict[str, Any]:
        t = round(self.clock(), 3)
        try:
            r = client.get(url + "/metrics")
        except httpx.HTTPError as exc:
            return {"t": t, "replica": replica, "error": exc.__class__.__name__}
        if r.status_code in (404, 405):
            self.absent.add(replica)
            return {"t": t, "replica": replica, "absent": r.status_code}
        if r.status_code != 200:
            return {"t": t, "replica": replica, "error": f"HTTP {r.status_code}"}
        try:
            return {"t": t, "replica": replica, "samples": parse(r.text)}
        except ValueError as exc:  # not Prometheus text: say so once, do not ask again
            self.absent.add(replica)
            return {"t": t, "replica": replica, "absent": f"unparsable: {str(exc)[:80]}"}

    def _write(self, line: dict[str, Any]) -> None:
        if self._out is not None:
            self._out.write(json.dumps(line) + "\n")
            self._out.flush()
            self.lines += 1


def read(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    with open(path) as f:
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a crash
    return out
