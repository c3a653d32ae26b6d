"""What a fault may touch, independent of the runtime: both runtimes implement these, so a scenario
runs unchanged on local processes or containers."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import InfraError
from ..targets import split_target
from .balancer import Balancer
from .proc import free_port, wait_until
from .toxiproxy import ToxiproxyClient

if TYPE_CHECKING:
    from ..scenario import Scenario

__all__ = [
    "PostgresNode",
    "Replica",
    "Service",
    "Stack",
    "StackHandle",
    "Targets",
    "Version",
    "split_target",
]


class Service(Protocol):
    """A process or container the harness started: PostgreSQL or one wallet replica."""

    name: str

    def kill(self) -> None: ...
    def stop(self) -> None: ...
    def start(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def is_up(self) -> bool: ...


class PostgresNode(Service, Protocol):
    """A PostgreSQL server the harness runs (a local cluster or a container), primary or standby."""

    port: int

    def sql(self, query: str) -> str:
        """One statement as the superuser; its output, unaligned (InfraError on failure)."""

    def promote(self) -> None:
        """A standby becomes a primary, waited for until it takes writes."""

    def streaming_to(self, standby: str) -> str | None:
        """On a primary: the sync_state of the standby with that application_name, or None."""


@dataclass(frozen=True)
class Version:
    """What a replica runs: the reference wallet carrying ``defects``, or your ``command`` or ``image``."""

    defects: tuple[str, ...] = ()
    command: str | None = None
    image: str | None = None

    def describe(self) -> dict[str, object]:
        if self.command is not None:
            return {"command": self.command}
        return {"image": self.image} if self.image is not None else {"defects": list(self.defects)}


class Replica(Service, Protocol):
    @property
    def version(self) -> Version: ...

    def running_version(self) -> Version:
        """What the replica runs, read back from the system (its /version, or its process's command
        line); raises InfraError when it cannot be read."""

    @property
    def url(self) -> str:
        """The replica's own address, bypassing its ingress proxy."""

    def redeploy(self, version: Version) -> None:
        """Restart as ``version``; raises InfraError when it does not become live."""


class StackHandle(Protocol):
    @property
    def toxiproxy(self) -> ToxiproxyClient: ...

    def proxies(self, link: str) -> list[str]:
        """Toxiproxy proxy names for ``ingress``, ``ingress[i]``, ``db`` or ``replication``."""

    def services(self, target: str) -> list[Service]:
        """``postgres``, ``wallet`` (every replica) or ``wallet[i]``."""

    def replicas(self) -> list[Replica]: ...

    balancer: Balancer | None
    """HAProxy in front of the replicas (``wallet.balancer: haproxy``), else None: clients pinned."""

    def failover(self) -> dict[str, Any]:
        """Kill the PostgreSQL primary, promote the standby, point the db link at it (process.failover)."""

    def rebuild_standby(self) -> dict[str, Any]:
        """Rebuild the failed primary as the new primary's standby: two nodes again."""


class Stack(StackHandle, Protocol):
    """A whole runtime: what the orchestrator starts, drives and always closes."""

    ingress_urls: list[str]

    @property
    def admin_url(self) -> str: ...

    def start(self) -> None: ...
    def versions(self) -> dict[str, str]: ...
    def close(self) -> list[str]:
        """Stop everything started (idempotent, never raises); returns the undos that failed."""


LINKS = ("ingress", "db", "replication")
"""The links a fault can act on (``network`` faults: Toxiproxy)."""


def link_proxies(link: str, replicas: int, balanced: bool) -> list[str]:
    """The Toxiproxy proxy names behind a link target: ``db``, ``replication``; ``ingress[i]`` is
    ``ingress{i}``; ``ingress`` is the balancer's front link ``ingress`` when there is one, else every
    ``ingress{i}``."""
    base, index = split_target(link)
    if base in ("db", "replication"):
        return [base]
    names = [f"ingress{i}" for i in range(replicas)]
    if balanced and index is None:
        return ["ingress"]  # the clients' link to the balancer
    return names if index is None else [names[checked(index, replicas)]]


def checked(index: int, count: int) -> int:
    """A target's replica index, or InfraError when there are fewer replicas."""
    if index >= count:
        raise InfraError(f"target index {index} but only {count} replica(s)")
    return index


class Targets:
    """Resolves scenario targets (``ingress[i]``, ``db``, ``postgres``, ``wallet[i]``) identically on every
    runtime, and wires the ingress the same way on each; a runtime provides ``replicas()``, ``postgres()``
    and a way to start the balancer."""

    balancer: Balancer | None = None
    ingress_urls: list[str]
    """What clients use: the balancer's link ``ingress``, or (pinned) every ``ingress{i}``."""
    links: list[str]
    """Replica i through its own link ``ingress{i}`` (the balancer's path to it), in replica order."""

    def replicas(self) -> list[Replica]:
        raise NotImplementedError

    def postgres(self) -> Service:
        raise NotImplementedError

    @property
    def toxiproxy(self) -> ToxiproxyClient:
        raise NotImplementedError

    def proxied(self, proxy: str) -> bool:
        """Whether the link named ``proxy`` (``ingress``, ``ingress{i}``, ``db``, ``replication``) goes
        through Toxiproxy: when a fault of the scenario acts on it (its target's ``proxies``), and ``db``
        and ``replication`` with a standby (a failover repoints them). Every proxied byte costs CPU: at
        600 ops/s the three links of a balanced stack took a quarter of one of this machine's two cores.
        A link no fault can act on is a direct connection."""
        if proxy in ("db", "replication") and self.scenario.database.standby:
            return True
        balanced, replicas = self.scenario.wallet.balancer == "haproxy", self.scenario.wallet.replicas
        for fault in self.scenario.faults:
            if split_target(fault.target)[0] not in LINKS:
                continue
            with contextlib.suppress(InfraError):  # an index beyond the replicas fails when applied
                if proxy in link_proxies(fault.target, replicas, balanced):
                    return True
        return False

    def link(self, proxy: str, upstream: str) -> str:
        """``upstream`` (host:port) as the clients of link ``proxy`` reach it: through a new Toxiproxy proxy
        when ``proxied(proxy)``, else directly."""
        if not self.proxied(proxy):
            return upstream
        listen = f"127.0.0.1:{free_port()}"
        self.toxiproxy.create_proxy(proxy, listen, upstream)
        return listen

    def wire_ingress(
        self, replica_ports: list[int], start_balancer: Callable[[list[str]], Balancer] | None
    ) -> None:
        """A link ``ingress{i}`` in front of each replica; then either the clients use those links directly
        (pinned, ``start_balancer`` None), or a balancer is started over them and the clients reach it
        through the link ``ingress``:  load -> [ingress] -> HAProxy -> [ingress{i}]. Each link is a
        Toxiproxy proxy when a fault can act on it (``proxied``)."""
        links = [self.link(f"ingress{i}", f"127.0.0.1:{port}") for i, port in enumerate(replica_ports)]
        self.links = [f"http://{link}" for link in links]
        if start_balancer is None:
            self.ingress_urls = list(self.links)
            return
        self.balancer = start_balancer(links)
        self.ingress_urls = [f"http://{self.link('ingress', f'127.0.0.1:{self.balancer.port}')}"]

    # -- PostgreSQL primary and standby (``database: {standby: true}``), the same on every runtime -------
    scenario: Scenario
    pg: PostgresNode | None = None
    """The primary (after a failover: the promoted standby)."""
    standby: PostgresNode | None = None
    replication_port = 0
    """The ``replication`` link's listen port: the standby streams through it (a network fault target)."""

    def clone_standby(self, node: PostgresNode | None, primary: PostgresNode) -> PostgresNode:
        """Runtime hook: a fresh base backup of ``primary`` through the replication link, started as the
        standby named "standby" (``node``, the old one, is discarded first: nothing it had comes back)."""
        raise InfraError("this runtime has no PostgreSQL standby")

    def follow(self, node: PostgresNode | None, primary: PostgresNode, timeout_s: float = 30) -> str:
        """Make a standby stream from ``primary`` through the ``replication`` link (pointed at it) and wait
        until it does (sync: until it is the synchronous standby, so acknowledged commits are on both).
        Returns the replication state."""
        self.toxiproxy.set_upstream("replication", f"127.0.0.1:{primary.port}")
        standby = self.standby = self.clone_standby(node, primary)
        sync = self.scenario.database.replication == "sync"
        primary.sql(f"ALTER SYSTEM SET synchronous_standby_names = '{standby.name if sync else ''}'")
        primary.sql("SELECT pg_reload_conf()")
        wanted = "sync" if sync else "async"
        wait_until(
            lambda: primary.streaming_to(standby.name) == wanted, timeout_s, f"{standby.name} to stream"
        )
        return wanted

    def failover(self) -> dict[str, Any]:
        """Kill the primary, promote the standby, point the db link at it. Until the heal rebuilds a
        standby the new primary runs alone: with sync replication it must not wait for a standby that is
        not there, so it acknowledges commits by itself meanwhile (as an operator's failover does)."""
        if self.standby is None or self.pg is None:
            raise InfraError("no PostgreSQL standby: database: {standby: true}")
        old, new = self.pg, self.standby
        started = time.monotonic()
        old.kill()
        new.promote()
        new.sql("ALTER SYSTEM SET synchronous_standby_names = ''")
        new.sql("SELECT pg_reload_conf()")
        self.toxiproxy.set_upstream("db", f"127.0.0.1:{new.port}")
        old.name, new.name = "standby", "postgres"
        self.pg, self.standby = new, old
        return {
            "killed": f"port {old.port}",
            "promoted": f"port {new.port}",
            "took_s": round(time.monotonic() - started, 3),
        }

    def rebuild_standby(self) -> dict[str, Any]:
        """The failed primary is discarded and cloned from the new primary (a fresh base backup)."""
        if self.standby is None or self.pg is None:
            raise InfraError("no PostgreSQL standby: database: {standby: true}")
        if self.standby.is_up() and self.pg.streaming_to(self.standby.name):
            return {"standby": "already streaming"}
        started = time.monotonic()
        state = self.follow(self.standby, self.pg)
        return {"standby": state, "took_s": round(time.monotonic() - started, 3)}

    def proxies(self, link: str) -> list[str]:
        return link_proxies(link, len(self.replicas()), self.balancer is not None)

    def services(self, target: str) -> list[Service]:
        base, index = split_target(target)
        if base == "postgres":
            return [self.postgres()]
        replicas = self.replicas()
        return list(replicas) if index is None else [replicas[checked(index, len(replicas))]]

    @property
    def admin_url(self) -> str:
        """A live replica's direct address (no toxics) for set-up and the final audit."""
        for replica in self.replicas():
            if replica.is_up():
                return replica.url
        raise InfraError("no wallet replica is running for the audit")
