"""HAProxy in front of two real replicas (the local runtime's default wiring): one ingress for the clients,
per-replica links behind it, health checks that take a killed replica out and put it back, and requests
that never reached a replica retried on the other one."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import local_stack
from tests.conftest import make_fault as fault
from walletchaos.stack.local import LocalStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    yield from local_stack(tmp_path_factory, "balanced", wallet={"replicas": 2})


def statuses(url: str, n: int) -> list[int]:
    out = []
    with httpx.Client(timeout=3) as http:
        for _ in range(n):
            try:
                out.append(http.get(url).status_code)
            except httpx.HTTPError:
                out.append(0)
    return out


def served(stack: LocalStack) -> dict[str, int]:
    assert stack.balancer is not None
    return {name: s["responses"]["2xx"] for name, s in stack.balancer.stats().items()}


def test_one_ingress_in_front_of_the_balancer_and_a_link_per_replica(stack: LocalStack) -> None:
    assert stack.balancer is not None and len(stack.ingress_urls) == 1 and len(stack.links) == 2
    assert stack.proxies("ingress") == ["ingress"] and stack.proxies("ingress[1]") == ["ingress1"]
    before = served(stack)
    assert statuses(stack.ingress_urls[0] + "/readyz", 40) == [200] * 40
    after = served(stack)
    assert all(after[r] > before[r] for r in ("wallet0", "wallet1")), (before, after)  # both replicas serve


def test_a_killed_replica_costs_no_request_and_comes_back(stack: LocalStack) -> None:
    front = stack.ingress_urls[0] + "/readyz"
    f = fault(stack, "process.kill", "wallet[1]")
    f.apply()
    try:
        assert statuses(front, 60) == [200] * 60  # retried on wallet0 until the health checks take it out
        assert stack.balancer is not None
        deadline = time.monotonic() + 5
        while stack.balancer.stats()["wallet1"]["status"] != "DOWN":
            assert time.monotonic() < deadline, "the health checks never took the killed replica out"
            time.sleep(0.1)
        assert stack.balancer.stats()["wallet1"]["chkdown"] >= 1
    finally:
        f.heal()
    deadline = time.monotonic() + 10
    while stack.balancer.stats()["wallet1"]["status"] != "UP":
        assert time.monotonic() < deadline, "the restarted replica was not put back"
        time.sleep(0.1)
    before = served(stack)["wallet1"]
    assert statuses(front, 40) == [200] * 40
    assert served(stack)["wallet1"] > before, "the restarted replica serves again"


def test_latency_on_the_ingress_is_the_clients_link_to_the_balancer(stack: LocalStack) -> None:
    f = fault(stack, "network.latency", "ingress", latency=300)
    assert set(f.apply()) == {"ingress"}
    try:
        started = time.monotonic()
        assert statuses(stack.ingress_urls[0] + "/healthz", 1) == [200]
        assert time.monotonic() - started >= 0.3
    finally:
        f.heal()
    assert stack.toxiproxy.toxics("ingress") == []
