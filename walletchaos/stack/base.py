"""What a fault may touch, independent of the runtime: both runtimes implement these, so a scenario
runs unchanged on local processes or containers."""

from __future__ import annotations

from typing import Protocol

from .toxiproxy import ToxiproxyClient


class Service(Protocol):
    """A process or container the harness started: PostgreSQL or one wallet replica."""

    name: str

    def kill(self) -> None: ...
    def stop(self) -> None: ...
    def start(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def is_up(self) -> bool: ...


class Replica(Service, Protocol):
    @property
    def defects(self) -> list[str]: ...

    def redeploy(self, defects: list[str]) -> None:
        """Restart as the version carrying ``defects``; raises InfraError when it does not become ready."""


class StackHandle(Protocol):
    @property
    def toxiproxy(self) -> ToxiproxyClient: ...

    def proxies(self, link: str) -> list[str]:
        """Toxiproxy proxy names for ``ingress``, ``ingress[i]`` or ``db``."""

    def services(self, target: str) -> list[Service]:
        """``postgres``, ``wallet`` (every replica) or ``wallet[i]``."""

    def replicas(self) -> list[Replica]: ...


class Stack(StackHandle, Protocol):
    """A whole runtime: what the orchestrator starts, drives and always closes."""

    ingress_urls: list[str]

    @property
    def admin_url(self) -> str: ...

    def start(self) -> None: ...
    def versions(self) -> dict[str, str]: ...
    def close(self) -> None: ...
