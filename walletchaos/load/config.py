"""The load process's input, one validated model on both sides: the engine builds it and writes
``load-config.json``; the load process reads it back through the same model, and so does every Locust
worker from the master's ``wc_config`` message. A field either side does not know, or a value out of
range, is an error naming it before any load starts, not a dict key read wrong in the middle of a run.

The shape and the op mix are the scenario's own ``Load`` model (validated once more on the way in); the
rest is what the engine learned while starting the stack: where the wallet listens, the throwaway
accounts, the run's clock origin and tag.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ..scenario import Load


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Account(_Model):
    id: int | str
    """The wallet's id for it, as the wallet gave it (opaque: a number or a string)."""
    username: str = Field(min_length=1)
    password: str = Field(min_length=1)


class Accounts(_Model):
    users: list[Account] = Field(min_length=1)
    merchants: list[Account] = Field(min_length=1)
    attack_targets: list[Account] = []
    hot_merchant_share: float = Field(0.0, ge=0, le=1)


class Workers(_Model):
    """Locust's distributed mode (``run --workers``): workers started here, workers joining from elsewhere,
    where the master listens for them (port 0: any free one), and how long it waits for all of them."""

    local: int = Field(0, ge=0, le=64)
    remote: int = Field(0, ge=0, le=64)
    port: int = Field(0, ge=0, le=65535)
    bind: str = "127.0.0.1"
    wait: float = Field(60.0, ge=1, le=3600)

    @property
    def total(self) -> int:
        return self.local + self.remote


class Seat(_Model):
    """A worker's place in a distributed load, set by the master for each worker it configures."""

    index: int = Field(ge=0)
    count: int = Field(ge=1)
    master_now_ns: int
    """The master's clock when it sent this (a worker on another machine sets its origin from it)."""
    boot_id: str
    """The master's boot: a worker on the same boot shares the harness's monotonic clock exactly."""


class LoadConfig(_Model):
    ingress_urls: list[str] = Field(min_length=1)
    """Where the users send requests (the balancer, or one link per replica when ``pinned``)."""
    pinned: bool
    """No balancer: each user keeps to one ingress link, so one replica."""
    origin_ns: int
    """The harness's monotonic origin: every history time is ``monotonic_ns - origin_ns``."""
    seed: int
    tag: str = Field(min_length=1)
    """In every idempotency key of this run."""
    accounts: Accounts
    currency: str = Field(min_length=1)
    load: Load
    history: Path | None = None
    """The client history file (the load process writes it; a worker ships its records instead)."""
    web_port: int | None = Field(None, ge=1, le=65535)
    workers: Workers | None = None
    seat: Seat | None = None

    def to_json(self) -> str:
        """The document the other side validates (fields left unset stay unset, so that the shape's
        either-``rate``-or-``arrivals`` rule reads the same on both sides)."""
        return self.model_dump_json(by_alias=True, exclude_unset=True)

    def for_worker(self, seat: Seat) -> LoadConfig:
        """What a worker is sent: no history file, web UI or workers of its own; its seat."""
        data = self.model_dump(mode="json", by_alias=True, exclude_unset=True)
        for key in ("history", "web_port", "workers"):
            data.pop(key, None)
        return LoadConfig.model_validate({**data, "seat": seat.model_dump(mode="json")})
