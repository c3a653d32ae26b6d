"""Shared by the bench scripts that measure the reference wallet alone: a throwaway PostgreSQL cluster
(the local runtime's settings) and the wallet started on it, both stopped on exit, on Ctrl-C and on SIGTERM
(``_child``; each resource registers its undo with the harness's ``Teardown`` the moment it exists)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import _child
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from walletchaos.stack.postgres import PostgresCluster, _as_owner  # noqa: E402
from walletchaos.stack.proc import ManagedProcess, descendants, free_port, wait_until  # noqa: E402
from walletchaos.teardown import Teardown  # noqa: E402

ADMIN = "bench-admin-token"


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by ``root`` and its live descendants."""
    total = 0
    for pid in [root, *descendants(root)]:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK")


def pg(cluster: PostgresCluster, tool: str, *args: str, capture: bool = True) -> str:
    """Runs one of the cluster's client tools (pgbench, psql) as its owner against database postgres."""
    argv = [str(cluster.bindir / tool), "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", *args]
    return subprocess.run(argv, capture_output=capture, text=True, check=True, **_as_owner()).stdout or ""


@contextlib.contextmanager
def cluster() -> Iterator[PostgresCluster]:
    with Teardown() as undo:
        c = PostgresCluster.fresh(free_port(), tag="bench")
        undo.push("stop the bench's PostgreSQL and delete its directory", c.destroy)
        c.init()
        yield c


@contextlib.contextmanager
def wallet(c: PostgresCluster, workers: int = 1) -> Iterator[tuple[ManagedProcess, str]]:
    """The reference wallet on ``c`` (KDF made cheap for the set-up's logins); yields it and its URL."""
    port = free_port()
    work = _child.workdir("walletchaos-bench-")
    proc = ManagedProcess(
        "wallet",
        [sys.executable, "-m", "reference_wallet", "--port", str(port), "--database-url", c.dsn,
         "--workers", str(workers), "--set", "kdf_log2_n=4"],
        work / "wallet.log", env={"WALLET_ADMIN_TOKEN": ADMIN}, cwd=str(ROOT),
    )  # fmt: skip
    with Teardown() as undo:
        proc.start()
        undo.push("stop the bench's wallet", proc.stop)
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 30, "the wallet's /readyz")
        yield proc, url
