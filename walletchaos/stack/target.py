"""A wallet already running on this host (scenario ``target:``): the harness starts only Toxiproxy, with one
ingress proxy in front of the wallet when a fault of the scenario acts on the ingress, wired  load ->
[ingress0] -> the wallet at the URL (else the load uses the URL directly). It owns no wallet process and no
database, so only ingress network faults apply (``validate`` refuses the others)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import httpx

from ..errors import InfraError, ScenarioError
from ..scenario import Scenario, Target
from ..targets import split_target
from .base import Replica, Service
from .local import ProcessStack
from .proc import wait_until


class TargetStack(ProcessStack):
    def __init__(self, scenario: Scenario, run_dir: Path, admin_token: str, run_id: str = "") -> None:
        super().__init__(scenario, run_dir, admin_token, run_id)
        assert scenario.target is not None
        self.target = scenario.target

    def start(self) -> None:
        """The CLI has checked the wallet (``check_target``) before anything started."""
        self.start_toxiproxy()
        if not any(split_target(f.target)[0] == "ingress" for f in self.scenario.faults):
            self.ingress_urls.append(self.target.url)  # no fault acts on the ingress: no proxy (no CPU)
            return
        host, port = self.target.address
        self.add_ingress(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")

    @property
    def admin_url(self) -> str:
        return self.target.url

    def replicas(self) -> list[Replica]:
        return []

    def proxies(self, link: str) -> list[str]:
        if link.partition("[")[0] != "ingress" or link not in ("ingress", "ingress[0]"):
            raise InfraError(f"'{link}': a target has one ingress link and nothing else")
        return ["ingress0"]

    def postgres(self) -> Service:
        raise InfraError("a target's database is not the harness's")

    def versions(self) -> dict[str, str]:
        return {"runtime": "target", "target": self.target.url, **super().versions()}


def admin_token(target: Target) -> str:
    """The admin token from the environment variable the scenario names (else ScenarioError, 254)."""
    token = os.environ.get(target.admin_token_env, "")
    if not token:
        raise ScenarioError([f"target.admin_token_env: ${target.admin_token_env} is not set (or empty)"])
    return token


def check_target(target: Target, timeout_s: float) -> None:
    """Before anything starts: the admin token is in the environment, the wallet answers GET /readyz with 200
    (else InfraError, 255) and takes the token (an unknown key by-key is 404 for the admin; else 254)."""
    token = admin_token(target)
    last = "no answer"

    def ready() -> bool:
        nonlocal last
        try:
            r = httpx.get(target.url + "/readyz", timeout=2)
        except httpx.HTTPError as exc:
            last = f"{exc.__class__.__name__}: {exc}"
            return False
        last = f"HTTP {r.status_code}"
        return r.status_code == 200

    try:
        wait_until(ready, timeout_s, f"{target.url}/readyz", interval_s=0.2)
    except InfraError:
        raise InfraError(
            f"target {target.url}: GET /readyz did not answer 200 within {timeout_s:g}s ({last})"
        ) from None
    key = f"walletchaos-token-check-{secrets.token_hex(6)}"
    try:
        r = httpx.get(
            f"{target.url}/v1/transfers/by-key/{key}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
    except httpx.HTTPError as exc:
        raise InfraError(f"target {target.url}: {exc.__class__.__name__}: {exc}") from None
    if r.status_code in (401, 403):
        env = target.admin_token_env
        raise ScenarioError([f"target.admin_token_env: ${env} is refused by {target.url} ({r.status_code})"])
    if r.status_code != 404:
        raise InfraError(
            f"target {target.url}: GET /v1/transfers/by-key/<unknown> as admin answered {r.status_code}, "
            "not 404: does it speak wallet contract v1?"
        )
