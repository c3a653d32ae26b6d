"""HAProxy in front of the replicas (``wallet.balancer: haproxy``, the default), wired on both runtimes as

    load -> [ingress] -> HAProxy -> [ingress{i}] -> wallet{i}

so ``ingress`` is the clients' link to the balancer and ``ingress[i]`` the balancer's link to replica i:
network faults keep their meaning, and a killed or redeployed replica costs what it costs behind a real
balancer. What the harness chose, as a payment team would run it:

- health checks: ``GET /readyz`` every 500 ms through the replica's own link, down after 2 failures, up
  after 2 successes (a replica whose database is unreachable takes no traffic);
- ``balance leastconn``: a slow replica (a slicer, a hot shard) gets fewer requests; a replica that comes
  back gets its share over 2 s (``slowstart``), not the whole queue at once;
- ``retries 2`` with ``option redispatch 1`` and ``retry-on conn-failure empty-response``: a request that
  could not reach a replica, or got no byte back, is sent to another one. A transfer resent this way carries
  its idempotency key, so the contract makes it safe; a wallet that applies it twice is caught by
  ``exactly_once`` like any client retry. Answers with a status (a 503, a 500) are passed on, not retried;
- the stats listener (``/stats;csv`` and Prometheus ``/metrics``) on its own loopback port: per-replica
  traffic is read from it at the end of the load and recorded in the history (op ``balancer``).
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path
from typing import Any

import httpx

from ..errors import InfraError
from .proc import ManagedProcess, free_port, http_ok, wait_until

STATS_FIELDS = ("status", "econ", "eresp", "wretr", "wredis", "chkdown", "downtime")
RESPONSE_CLASSES = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")


def max_connections() -> int:
    """What the file-descriptor limit allows (HAProxy needs about two per connection: client and server
    side), up to 10,000. Read from this process; a container on the same engine inherits the same limit."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 10_000 if hard == resource.RLIM_INFINITY else max(256, min(10_000, (hard - 200) // 2))


def config(port: int, stats_port: int, servers: list[str]) -> str:
    """The haproxy.cfg for ``servers`` (host:port of each replica's ingress link, in replica order)."""
    lines = [
        "global",
        f"  maxconn {max_connections()}",
        "  log stdout format raw local0 notice",
        "defaults",
        "  mode http",
        "  log global",
        "  option dontlog-normal",
        "  timeout connect 1s",
        "  timeout client 60s",
        "  timeout server 30s",
        "  timeout check 2s",
        "  retries 2",
        "  option redispatch 1",
        "  retry-on conn-failure empty-response",
        "frontend wallet",
        f"  bind 127.0.0.1:{port}",
        "  default_backend replicas",
        "backend replicas",
        "  balance leastconn",
        "  option httpchk GET /readyz",
        "  http-check expect status 200",
        "  default-server inter 500ms fastinter 250ms downinter 500ms fall 2 rise 2 slowstart 2s",
        *(f"  server wallet{i} {address} check" for i, address in enumerate(servers)),
        "listen stats",
        f"  bind 127.0.0.1:{stats_port}",
        "  http-request use-service prometheus-exporter if { path /metrics }",
        "  stats enable",
        "  stats uri /stats",
    ]
    return "\n".join(lines) + "\n"


def parse_stats(text: str) -> dict[str, dict[str, Any]]:
    """Per replica (``wallet{i}``) from HAProxy's CSV: responses by class, retries and redispatches, checks
    that took it down, seconds it was down, and its state at the time."""
    rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("pxname") != "replicas" or row.get("svname") in ("FRONTEND", "BACKEND"):
            continue
        stats: dict[str, Any] = {k: _number(row.get(k, "")) for k in STATS_FIELDS}
        stats["responses"] = {k.removeprefix("hrsp_"): _number(row.get(k, "")) for k in RESPONSE_CLASSES}
        out[str(row["svname"])] = stats
    return out


def _number(value: str) -> int | str:
    return int(value) if value.isdigit() else value


class Balancer:
    """A running HAProxy: its front port and stats port, whatever runs it."""

    def __init__(self, port: int, stats_port: int) -> None:
        self.port, self.stats_port = port, stats_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout_s: float = 15) -> None:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{self.stats_port}/stats"), timeout_s, "HAProxy")

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per-replica counters now (InfraError when the stats listener does not answer)."""
        try:
            r = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2)
            r.raise_for_status()
        except httpx.HTTPError as exc:
            raise InfraError(f"HAProxy stats: {exc.__class__.__name__}: {exc}") from exc
        return parse_stats(r.text)


def binary() -> str:
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(p).is_file()), None
    )
    if found is None:
        raise InfraError("haproxy not found: run `make setup` (installs Debian's haproxy package)")
    return found


def version() -> str:
    import subprocess

    done = subprocess.run([binary(), "-v"], capture_output=True, text=True, check=False)
    first = done.stdout.splitlines()[0] if done.stdout else "?"
    return first.removeprefix("HAProxy version ").split(" ")[0]


class HAProxyProcess(Balancer):
    """HAProxy as a local process (the local runtime), its config in the run's directory."""

    def __init__(self, servers: list[str], run_dir: Path) -> None:
        super().__init__(free_port(), free_port())
        path = run_dir / "haproxy.cfg"
        path.write_text(config(self.port, self.stats_port, servers))
        self.proc = ManagedProcess(
            "haproxy", [binary(), "-db", "-f", str(path)], run_dir / "logs/haproxy.log"
        )

    def start(self) -> None:
        self.proc.start()
        try:
            self.wait_ready()
        except InfraError:
            if not self.proc.running:
                tail = self.proc.log_path.read_text(errors="replace")[-800:]
                raise InfraError(f"HAProxy exited at start:\n{tail}") from None
            raise

    def stop(self) -> None:
        self.proc.stop()
