"""The docker runtime: PostgreSQL, Toxiproxy and wallet replicas as containers on host networking
(127.0.0.1), wired exactly like the local runtime so every scenario runs unchanged.

Every container carries ``walletchaos.run=<run id>`` and ``walletchaos.pid=<harness pid>``; the harness
touches only containers with its own run label, removes them at the end (also on Ctrl-C), and at start
removes containers of earlier runs whose harness process is gone (crashed runs).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from ..errors import InfraError, WalletError
from ..scenario import Scenario
from . import reference
from .balancer import Balancer
from .balancer import config as balancer_config
from .base import PostgresNode, Replica, Service, Targets, Version
from .proc import free_port, http_ok, port_open, wait_until
from .toxiproxy import LOG_ENV, ToxiproxyClient, toxiproxy_version
from .wallet import wallet_env

LABEL = "walletchaos.run"
IMAGES = {
    "wallet": "walletchaos/wallet:latest",
    "postgres": "walletchaos/postgres:latest",
    "toxiproxy": "walletchaos/toxiproxy:latest",
    "haproxy": "walletchaos/haproxy:latest",
}
EXAMPLE_IMAGES = {"gowallet": "walletchaos/gowallet:latest"}
"""Built beside the harness's images as an example of a user's own wallet image; no run needs it."""


def engine() -> Any:
    """A Docker SDK client, or InfraError saying how to get an engine."""
    import docker

    try:
        client = docker.from_env(version="auto", timeout=30)
        client.ping()
        return client
    except Exception as exc:
        raise InfraError(
            f"no Docker engine reachable ({exc.__class__.__name__}): run `make setup-docker`, which "
            "installs docker.io and starts dockerd --bridge=none --iptables=false"
        ) from exc


def remove_stale(client: Any) -> list[str]:
    """Remove containers of earlier runs whose harness process no longer exists."""
    removed = []
    for c in client.containers.list(all=True, filters={"label": LABEL}):
        pid = int(c.labels.get("walletchaos.pid", "0") or 0)
        if pid and _alive(pid):
            continue  # a run in progress (possibly our own)
        with contextlib.suppress(Exception):
            c.remove(force=True)
            removed.append(c.name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class ContainerService:
    """kill / stop / start / pause / resume of one container through the Docker API."""

    def __init__(self, name: str, container: Any, ready: Any) -> None:
        self.name, self.container, self._ready = name, container, ready

    def kill(self) -> None:
        self.container.kill()

    def stop(self) -> None:
        self.container.stop(timeout=5)

    def start(self) -> None:
        self.container.start()
        wait_until(self._ready, 30, f"container {self.container.name}")

    def pause(self) -> None:
        self.container.pause()

    def resume(self) -> None:
        self.container.unpause()

    def is_up(self) -> bool:
        self.container.reload()
        return bool(self.container.status == "running") and bool(self._ready())


class PostgresContainer(ContainerService):
    """PostgreSQL in a container (the primary, or a standby: ``STANDBY_OF`` in the image's entrypoint);
    SQL runs inside it as the superuser over its own socket."""

    BIN = "/usr/lib/postgresql/15/bin"

    def __init__(self, name: str, container: Any, port: int) -> None:
        self.port = port
        super().__init__(name, container, lambda: port_open(port))

    def sql(self, query: str) -> str:
        argv = [f"{self.BIN}/psql", "-h", "/var/run/walletchaos", "-p", str(self.port), "-U", "postgres"]
        done = self.container.exec_run([*argv, "-v", "ON_ERROR_STOP=1", "-Atqc", query], demux=True)
        out, err = done.output
        if done.exit_code != 0:
            said = (err or out or b"").decode(errors="replace").strip()[-300:]
            raise InfraError(f"psql in {self.container.name}: {said}")
        return (out or b"").decode(errors="replace").strip()

    def promote(self, timeout_s: float = 20) -> None:
        self.sql(f"SELECT pg_promote(true, {int(timeout_s)})")
        wait_until(
            lambda: self.sql("SELECT pg_is_in_recovery()") == "f", timeout_s, f"{self.name} to promote"
        )

    def streaming_to(self, standby: str) -> str | None:
        out = self.sql(f"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{standby}'")
        return out or None


class WalletContainer(ContainerService):
    """One replica: the reference wallet image carrying defects, or your ``wallet.image`` given the values of
    the command placeholders in its environment (HOST, PORT, DATABASE_URL, ADMIN_TOKEN, REPLICA)."""

    def __init__(self, stack: DockerStack, index: int, version: Version) -> None:
        self.stack, self.index, self._version = stack, index, version
        self.port = free_port()
        super().__init__(
            f"wallet{index}", self._create(), lambda: http_ok(f"http://127.0.0.1:{self.port}/healthz")
        )

    @property
    def version(self) -> Version:
        return self._version

    def running_version(self) -> Version:
        if self._version.image is None:
            return Version(tuple(reference.read_defects(self.url)))
        self.container.reload()
        return Version(image=str(self.container.attrs.get("Config", {}).get("Image", "?")))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _create(self) -> Any:
        s, v = self.stack, self._version
        if v.image is not None:
            wallet = s.scenario.wallet
            values = {"host": "127.0.0.1", "port": str(self.port), "database_url": s.db_url}
            values |= {"admin_token": s.admin_token, "replica": str(self.index)}
            env = wallet_env(values, wallet.settings, wallet.env)
            return s.run_container(v.image, f"wallet{self.index}", None, env)
        argv = ["--host", "127.0.0.1", "--port", str(self.port), "--database-url", s.db_url]
        argv += reference.args(v.defects, s.scenario.wallet.settings)
        env = {"WALLET_ADMIN_TOKEN": s.admin_token}
        return s.run_container(IMAGES["wallet"], f"wallet{self.index}", argv, env)

    def wait_ready(self, timeout_s: float) -> None:
        def ready() -> bool:
            if self._exited():
                raise self._exit_error()
            return http_ok(f"http://127.0.0.1:{self.port}/readyz")

        wait_until(ready, timeout_s, f"{self.name} container (GET /readyz answering 200)")

    def redeploy(self, version: Version) -> None:
        """Replace the container with one running ``version`` (liveness only: the database may be down)."""
        if version.command is not None:
            raise InfraError("a command deploy runs on the local runtime")
        self.stack.save_logs(self.container)
        with contextlib.suppress(Exception):
            self.container.remove(force=True)
        self._version = version
        self.container = self._create()
        wait_until(lambda: self._ready() or self._exited(), 30, f"wallet{self.index} to start")
        if self._exited():
            raise self._exit_error()

    def _exit_error(self) -> WalletError:
        logs = self.container.logs(tail=15).decode(errors="replace").rstrip()
        return WalletError(f"wallet{self.index} exited during start-up ({self._version.describe()}):\n{logs}")

    def _exited(self) -> bool:
        self.container.reload()
        return bool(self.container.status in ("exited", "dead"))


class DockerStack(Targets):
    """The same handle as LocalStack; ``close()`` removes every container of this run."""

    def __init__(self, scenario: Scenario, run_dir: Path, admin_token: str, run_id: str = "") -> None:
        self.scenario, self.run_dir, self.admin_token = scenario, run_dir, admin_token
        self.run_id = run_id or f"{scenario.name}-{run_dir.name}".lower().replace(".", "-")
        self.logs = run_dir / "logs"
        self.client: Any = None
        self.containers: list[Any] = []
        self.ingress_urls: list[str] = []
        self.links: list[str] = []
        self._replicas: list[WalletContainer] = []
        self._standbys = 0
        self._toxiproxy: ToxiproxyClient | None = None
        self._haproxy: Any = None
        self.db_url = ""

    @property
    def toxiproxy(self) -> ToxiproxyClient:
        assert self._toxiproxy is not None
        return self._toxiproxy

    def run_container(
        self, image: str, name: str, command: list[str] | None, env: dict[str, str] | None = None
    ) -> Any:
        """Run ``image`` (pulled if a registry has it and it is not here) under this run's label."""
        import docker.errors

        try:
            container = self.client.containers.run(
                image,
                command,
                name=f"wc-{self.run_id}-{name}",
                detach=True,
                network_mode="host",
                init=True,
                environment=env or {},
                labels={LABEL: self.run_id, "walletchaos.pid": str(os.getpid()), "walletchaos.role": name},
            )
        except docker.errors.NotFound as exc:  # ImageNotFound included: not here, and not pullable
            raise WalletError(f"image {image} is not on this engine and could not be pulled: {exc}") from None
        self.containers.append(container)
        return container

    def start(self) -> None:
        self.client = engine()
        remove_stale(self.client)
        needed = [IMAGES["postgres"], IMAGES["toxiproxy"]]
        needed += [IMAGES["wallet"]] if self.scenario.wallet.image is None else []
        needed += [IMAGES["haproxy"]] if self.scenario.wallet.balancer == "haproxy" else []
        missing = [i for i in needed if not self.client.images.list(name=i)]
        if missing:
            raise InfraError(
                f"images missing: {', '.join(missing)}; run `walletchaos images build [--offline-base]`"
            )
        pg_port, tp_port = free_port(), free_port()
        pg = self.run_container(IMAGES["postgres"], "postgres", [], {"PGPORT": str(pg_port)})
        self.pg = PostgresContainer("postgres", pg, pg_port)
        wait_until(lambda: port_open(pg_port), 60, "the PostgreSQL container")
        self.run_container(
            IMAGES["toxiproxy"], "toxiproxy", ["-host", "127.0.0.1", "-port", str(tp_port)], LOG_ENV
        )
        self._toxiproxy = ToxiproxyClient(f"http://127.0.0.1:{tp_port}")
        wait_until(lambda: http_ok(f"http://127.0.0.1:{tp_port}/version"), 30, "the Toxiproxy container")
        db = self.link("db", f"127.0.0.1:{pg_port}")
        if self.scenario.database.standby:  # the standby streams through its own link: a fault target
            self.replication_port = free_port()
            self.toxiproxy.create_proxy(
                "replication", f"127.0.0.1:{self.replication_port}", f"127.0.0.1:{pg_port}"
            )
            wait_until(lambda: self._accepting(self.pg), 30, "PostgreSQL to accept connections")
            self.follow(None, self.pg, timeout_s=60)
        self.db_url = f"postgresql://wallet:wallet@{db}/wallet"
        wallet = self.scenario.wallet
        version = Version(tuple(sorted(wallet.defects)), image=wallet.image)
        for i in range(wallet.replicas):
            replica = WalletContainer(self, i, version)
            replica.wait_ready(wallet.start_timeout if wallet.image else max(60.0, wallet.start_timeout))
            self._replicas.append(replica)
        balanced = wallet.balancer == "haproxy"
        self.wire_ingress([r.port for r in self._replicas], self._start_haproxy if balanced else None)

    def _start_haproxy(self, servers: list[str]) -> Balancer:
        haproxy = Balancer(free_port(), free_port())
        cfg = balancer_config(haproxy.port, haproxy.stats_port, servers)
        self._haproxy = container = self.run_container(
            IMAGES["haproxy"], "haproxy", None, {"HAPROXY_CONFIG": cfg}
        )

        def up() -> bool:
            container.reload()
            if container.status in ("exited", "dead"):
                tail = container.logs(tail=10).decode(errors="replace").rstrip()
                raise InfraError(f"the HAProxy container exited at start:\n{tail}")
            return http_ok(f"http://127.0.0.1:{haproxy.stats_port}/stats")

        wait_until(up, 30, "the HAProxy container")
        return haproxy

    def replicas(self) -> list[Replica]:
        return list(self._replicas)

    def postgres(self) -> Service:
        assert self.pg is not None
        return self.pg

    @staticmethod
    def _accepting(node: Any) -> bool:
        try:
            return bool(node.sql("SELECT 1") == "1")
        except InfraError:
            return False

    def clone_standby(self, node: PostgresNode | None, primary: PostgresNode) -> PostgresNode:
        """A new standby container, cloned through the ``replication`` link by its entrypoint (STANDBY_OF);
        the old one (a failed primary, rebuilt) is removed first, its log kept."""
        if isinstance(node, PostgresContainer):
            self.save_logs(node.container)
            with contextlib.suppress(Exception):
                node.container.remove(force=True)
        self._standbys += 1
        port = free_port()
        env = {
            "PGPORT": str(port),
            "STANDBY_OF": f"127.0.0.1:{self.replication_port}",
            "APPLICATION_NAME": "standby",
        }
        container = self.run_container(IMAGES["postgres"], f"standby{self._standbys}", [], env)
        standby = PostgresContainer("standby", container, port)

        def up() -> bool:
            container.reload()
            if container.status in ("exited", "dead"):
                tail = container.logs(tail=10).decode(errors="replace").rstrip()
                raise InfraError(
                    f"the standby container exited (pg_basebackup through the replication link):\n{tail}"
                )
            return port_open(port) and self._accepting(standby)

        wait_until(up, 60, "the PostgreSQL standby container")
        return standby

    def versions(self) -> dict[str, str]:
        engine_version = self.client.version().get("Version", "?") if self.client else "?"
        out = {"runtime": "docker", "engine": engine_version, "toxiproxy": toxiproxy_version(self.toxiproxy)}
        if isinstance(self.pg, PostgresContainer):
            with contextlib.suppress(Exception):
                said = self.pg.container.exec_run([f"{PostgresContainer.BIN}/postgres", "--version"])
                out["postgresql"] = said.output.decode(errors="replace").strip()
        if self._haproxy is not None:
            with contextlib.suppress(Exception):
                said = self._haproxy.exec_run(["haproxy", "-v"]).output.decode(errors="replace")
                out["haproxy"] = said.removeprefix("HAProxy version ").split(" ")[0]
        return out

    def save_logs(self, container: Any) -> None:
        with contextlib.suppress(Exception):
            self.logs.mkdir(parents=True, exist_ok=True)
            role = container.labels.get("walletchaos.role", container.name)
            with open(self.logs / f"{role}.log", "ab") as f:
                f.write(container.logs())

    def close(self) -> list[str]:
        if self._toxiproxy is not None:
            self._toxiproxy.close()
        if self.client is None:
            return []
        for container in self.client.containers.list(all=True, filters={"label": f"{LABEL}={self.run_id}"}):
            with contextlib.suppress(Exception):
                container.unpause()
            self.save_logs(container)
            with contextlib.suppress(Exception):
                container.remove(force=True)
        return []
