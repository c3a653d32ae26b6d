"""What a fault may touch, independent of the runtime: both runtimes implement these, so a scenario
runs unchanged on local processes or containers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import InfraError
from ..targets import split_target
from .balancer import Balancer
from .proc import free_port
from .toxiproxy import ToxiproxyClient

__all__ = ["Replica", "Service", "Stack", "StackHandle", "Targets", "Version", "split_target"]


class Service(Protocol):
    """A process or container the harness started: PostgreSQL or one wallet replica."""

    name: str

    def kill(self) -> None: ...
    def stop(self) -> None: ...
    def start(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def is_up(self) -> bool: ...


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

    def wire_ingress(
        self, replica_ports: list[int], start_balancer: Callable[[list[str]], Balancer] | None
    ) -> None:
        """One Toxiproxy link ``ingress{i}`` in front of each replica; then either the clients use those
        links directly (pinned, ``start_balancer`` None), or a balancer is started over them and the
        clients reach it through the link ``ingress``:  load -> [ingress] -> HAProxy -> [ingress{i}]."""
        links = []
        for i, port in enumerate(replica_ports):
            listen = free_port()
            self.toxiproxy.create_proxy(f"ingress{i}", f"127.0.0.1:{listen}", f"127.0.0.1:{port}")
            links.append(f"127.0.0.1:{listen}")
        self.links = [f"http://{link}" for link in links]
        if start_balancer is None:
            self.ingress_urls = list(self.links)
            return
        self.balancer = start_balancer(links)
        front = free_port()
        self.toxiproxy.create_proxy("ingress", f"127.0.0.1:{front}", f"127.0.0.1:{self.balancer.port}")
        self.ingress_urls = [f"http://127.0.0.1:{front}"]

    def failover(self) -> dict[str, Any]:
        raise InfraError("this runtime has no PostgreSQL standby (database: {standby: true}, local runtime)")

    def rebuild_standby(self) -> dict[str, Any]:
        raise InfraError("this runtime has no PostgreSQL standby (database: {standby: true}, local runtime)")

    def proxies(self, link: str) -> list[str]:
        base, index = split_target(link)
        if base in ("db", "replication"):
            return [base]
        names = [f"ingress{i}" for i in range(len(self.replicas()))]
        if self.balancer is not None and index is None:
            return ["ingress"]  # the clients' link to the balancer
        return names if index is None else [names[self._checked(index, len(names))]]

    def services(self, target: str) -> list[Service]:
        base, index = split_target(target)
        if base == "postgres":
            return [self.postgres()]
        replicas = self.replicas()
        return list(replicas) if index is None else [replicas[self._checked(index, len(replicas))]]

    @property
    def admin_url(self) -> str:
        """A live replica's direct address (no toxics) for set-up and the final audit."""
        for replica in self.replicas():
            if replica.is_up():
                return replica.url
        raise InfraError("no wallet replica is running for the audit")

    @staticmethod
    def _checked(index: int, count: int) -> int:
        if index >= count:
            raise InfraError(f"target index {index} but only {count} replica(s)")
        return index
