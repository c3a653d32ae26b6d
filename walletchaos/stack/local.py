"""The local runtime: a throwaway PostgreSQL cluster, the real Toxiproxy server and N wallet replicas as
processes on 127.0.0.1, wired  load -> [ingress{i}] -> wallet{i} -> [db] -> PostgreSQL."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ..scenario import Scenario
from ..teardown import Teardown
from .balancer import Balancer, HAProxyProcess
from .balancer import version as haproxy_version
from .base import PostgresNode, Replica, Service, Targets
from .postgres import PostgresCluster
from .proc import free_port
from .toxiproxy import ToxiproxyClient, ToxiproxyServer, toxiproxy_version
from .wallet import WalletProcess


class ProcessStack(Targets):
    """What every runtime of local processes shares: the Toxiproxy server process, ingress proxies and one
    teardown (``close()`` stops everything started, in reverse order; idempotent, never raises)."""

    def __init__(self, scenario: Scenario, run_dir: Path, admin_token: str, run_id: str = "") -> None:
        self.scenario, self.run_dir, self.admin_token = scenario, run_dir, admin_token
        self.run_id = run_id
        self.logs = run_dir / "logs"
        self.server: ToxiproxyServer | None = None
        self.ingress_urls: list[str] = []
        self.links: list[str] = []
        self.undo = Teardown()

    @property
    def toxiproxy(self) -> ToxiproxyClient:
        assert self.server is not None
        return self.server.client

    def start_toxiproxy(self) -> ToxiproxyClient:
        self.server = ToxiproxyServer(self.logs / "toxiproxy.log")
        self.undo.push("stop Toxiproxy", self.server.stop)
        return self.server.start()

    def add_ingress(self, upstream: str) -> None:
        """The next ``ingress{i}`` proxy, from a free loopback port to ``upstream`` (host:port)."""
        port = free_port()
        self.toxiproxy.create_proxy(f"ingress{len(self.ingress_urls)}", f"127.0.0.1:{port}", upstream)
        self.ingress_urls.append(f"http://127.0.0.1:{port}")

    def versions(self) -> dict[str, str]:
        return {"toxiproxy": toxiproxy_version(self.toxiproxy) if self.server else "?"}

    def close(self) -> list[str]:
        """Stop everything started, in reverse order; returns the undos that failed (never raises)."""
        return self.undo.close()


class LocalStack(ProcessStack):
    """Start with ``start()``; ``close()`` stops everything it started (idempotent, never raises)."""

    def __init__(self, scenario: Scenario, run_dir: Path, admin_token: str, run_id: str = "") -> None:
        super().__init__(scenario, run_dir, admin_token, run_id)
        self.pg: PostgresCluster | None = None
        """The primary (after a failover: the promoted standby)."""
        self.standby: PostgresCluster | None = None
        self.replication_port = 0
        self.wallets: list[WalletProcess] = []

    def start(self) -> None:
        """Each resource registers its undo the moment it exists (``close`` runs them in reverse)."""
        self.undo.push("delete the PostgreSQL cluster directory", self._destroy_cluster)  # before it exists
        self.pg = PostgresCluster.fresh(free_port(), self.run_id)
        self.pg.init()
        self.undo.push("stop PostgreSQL", self.pg.stop)
        api = self.start_toxiproxy()
        db = self.link("db", f"127.0.0.1:{self.pg.port}")
        if self.scenario.database.standby:  # the standby streams through its own link: a fault target
            self.replication_port = free_port()
            api.create_proxy("replication", f"127.0.0.1:{self.replication_port}", f"127.0.0.1:{self.pg.port}")
            self.standby = PostgresCluster.fresh(free_port(), self.run_id)
            self.standby.name = "standby"
            self.undo.push("stop the PostgreSQL standby", self.standby.stop)
            self.follow(self.standby, self.pg)
        cfg = self.scenario.wallet
        for i in range(cfg.replicas):
            wallet = WalletProcess(
                f"wallet{i}",
                free_port(),
                self.pg.dsn_via(int(db.rpartition(":")[2])),
                self.admin_token,
                self.logs / f"wallet{i}.log",
                cfg.defects,
                cfg.settings,
                cfg.command,
                extra_env=cfg.env,
            )
            self.wallets.append(wallet)
            self.undo.push(f"stop wallet{i}", wallet.stop)  # before it starts: it may be killed while waiting
            wallet.start(wait_s=cfg.start_timeout, ready=True)
        balanced = cfg.balancer == "haproxy"
        self.wire_ingress([w.port for w in self.wallets], self._start_haproxy if balanced else None)

    def _start_haproxy(self, servers: list[str]) -> Balancer:
        haproxy = HAProxyProcess(servers, self.run_dir)
        self.undo.push("stop HAProxy", haproxy.stop)
        haproxy.start()
        return haproxy

    def clone_standby(self, node: PostgresNode | None, primary: PostgresNode) -> PostgresNode:
        """The standby's directory (or the failed primary's) is emptied and cloned with pg_basebackup -R."""
        assert isinstance(node, PostgresCluster) and isinstance(primary, PostgresCluster)
        node.clone_as_standby_of(primary, via_port=self.replication_port)
        return node

    def _destroy_cluster(self) -> None:
        """Keep the server log, stop the server, delete the directory. An interrupted initdb may leave its
        bootstrap backend writing for a moment (killing initdb does not kill it): retry until it is gone.
        A directory created but not yet assigned is found by the run's own prefix."""
        clusters = [c for c in (self.pg, self.standby) if c is not None]
        for cluster in clusters:
            with contextlib.suppress(OSError):
                self.logs.mkdir(parents=True, exist_ok=True)
                shutil.copy(cluster.base / "postgres.log", self.logs / f"{cluster.name}.log")
            cluster.stop()
        dirs = [c.base for c in clusters]
        if self.run_id:
            dirs += Path(tempfile.gettempdir()).glob(f"walletchaos-pg-{self.run_id}-*")
        deadline = time.monotonic() + 10
        while any(d.exists() for d in dirs) and time.monotonic() < deadline:
            for d in dirs:
                shutil.rmtree(d, ignore_errors=True)
            time.sleep(0.2 if any(d.exists() for d in dirs) else 0)

    def replicas(self) -> list[Replica]:
        return list(self.wallets)

    def postgres(self) -> Service:
        assert self.pg is not None
        return self.pg

    def versions(self) -> dict[str, str]:
        out = {"runtime": "local", **super().versions()}
        if self.balancer is not None:
            out["haproxy"] = haproxy_version()
        if self.pg is not None:
            out["postgresql"] = subprocess.run(
                [str(self.pg.bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
            ).stdout.strip()
            out["postgres_bin"] = str(self.pg.bindir)
        return out
