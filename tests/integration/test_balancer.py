"""HAProxy in front of two real replicas (the local runtime's default wiring): one ingress for the clients,
per-replica links behind it, health checks that take a killed replica out and put it back, and requests
that never reached a replica retried on the other one."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import faults_on, local_stack
from tests.conftest import make_fault as fault
from walletchaos.errors import InfraError
from walletchaos.stack.local import LocalStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # a fault on the clients' link to the balancer (its tests apply one there), none on the replicas' links
    yield from local_stack(tmp_path_factory, "balanced", wallet={"replicas": 2}, faults=faults_on("ingress"))


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


def test_only_the_links_a_fault_names_go_through_toxiproxy(stack: LocalStack) -> None:
    """The scenario faults ``ingress`` (the balancer's front link): that link is a Toxiproxy proxy; the
    replicas' links and the db link, which no fault names, are direct connections (no proxy, no CPU)."""
    front = stack.toxiproxy.proxy("ingress")
    assert stack.ingress_urls == [f"http://{front['listen']}"] and front["enabled"]
    assert stack.links == [f"http://127.0.0.1:{w.port}" for w in stack.wallets]
    for name in ("ingress0", "ingress1", "db"):
        with pytest.raises(InfraError, match="404"):
            stack.toxiproxy.proxy(name)
    assert stack.pg is not None and f"127.0.0.1:{stack.pg.port}/" in stack.wallets[0].database_url


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
