"""The docker runtime against a real Docker engine: every container fault applied, observed and healed;
labels, stale-container removal and clean-up. Skipped (loudly) only when no engine can be started."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import docker_stack, faults_on
from walletchaos import fault as registry
from walletchaos.errors import InfraError
from walletchaos.stack.containers import LABEL, DockerStack, engine, remove_stale
from walletchaos.stack.proc import http_ok

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    try:
        return engine()
    except InfraError as exc:
        pytest.skip(f"DOCKER ENGINE UNAVAILABLE, docker runtime NOT TESTED: {exc}")


@pytest.fixture(scope="module")
def stack(client, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerStack]:  # type: ignore[no-untyped-def]
    yield from docker_stack(
        tmp_path_factory, "dockerfaults", wallet={"replicas": 2}, faults=faults_on("ingress[0]")
    )


def apply_heal(stack: DockerStack, name: str, target: str, **params: object):  # type: ignore[no-untyped-def]
    cls, kind = registry.resolve(name)
    return cls(kind, target, dict(params), stack)


def status(url: str, timeout: float = 2.0) -> int:
    try:
        return httpx.get(url, timeout=timeout).status_code
    except httpx.HTTPError:
        return 0


def wait_ready(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not http_ok(url):
        assert time.monotonic() < deadline, f"{url} not ready"
        time.sleep(0.2)


def test_containers_are_labelled_and_use_host_networking(client, stack: DockerStack) -> None:  # type: ignore[no-untyped-def]
    mine = client.containers.list(filters={"label": f"{LABEL}={stack.run_id}"})
    roles = {c.labels["walletchaos.role"] for c in mine}
    assert roles == {"postgres", "toxiproxy", "haproxy", "wallet0", "wallet1"}
    assert all(c.attrs["HostConfig"]["NetworkMode"] == "host" for c in mine)
    assert status(stack.ingress_urls[0] + "/readyz") == 200  # through the HAProxy container
    assert stack.balancer is not None and set(stack.balancer.stats()) == {"wallet0", "wallet1"}


@pytest.mark.parametrize("action", ["kill", "stop", "pause", "restart"])
def test_container_faults_on_postgres(stack: DockerStack, action: str) -> None:
    direct = stack.admin_url
    f = apply_heal(stack, f"process.{action}", "postgres")
    f.apply()
    try:
        if action != "restart":
            assert status(direct + "/readyz") == 503
    finally:
        f.heal()
    wait_ready(direct + "/readyz")


@pytest.mark.parametrize("action", ["kill", "stop", "pause", "restart"])
def test_container_faults_on_a_wallet_replica(stack: DockerStack, action: str) -> None:
    """The replica's own link fails; the balancer routes around it (a paused replica holds the requests it
    got until the health checks take it out, as a hung process does behind a real balancer)."""
    url, front = stack.links[1], stack.ingress_urls[0]
    f = apply_heal(stack, f"process.{action}", "wallet[1]")
    f.apply()
    try:
        if action != "restart":
            assert status(url + "/healthz", timeout=1.0) == 0
            assert stack.balancer is not None
            deadline = time.monotonic() + 8
            while stack.balancer.stats()["wallet1"]["status"] != "DOWN":
                assert time.monotonic() < deadline, "the balancer kept a dead replica"
                time.sleep(0.2)
        assert [status(front + "/healthz") for _ in range(10)] == [200] * 10
    finally:
        f.heal()
    wait_ready(url + "/readyz")


def test_network_fault_through_the_toxiproxy_container(stack: DockerStack) -> None:
    f = apply_heal(stack, "network.down", "ingress[0]")
    f.apply()
    try:
        assert status(stack.links[0] + "/healthz", timeout=1.0) == 0
    finally:
        f.heal()
    assert status(stack.links[0] + "/healthz") == 200


def test_bad_deploy_replaces_containers_and_rolls_back(stack: DockerStack) -> None:
    f = apply_heal(stack, "deploy", "wallet", defects=["double_apply"])
    assert f.apply()["rolled_out"] == ["wallet0", "wallet1"]
    try:
        for url in stack.links:
            wait_ready(url + "/healthz")
            assert httpx.get(url + "/version").json()["defects"] == ["double_apply"]
    finally:
        f.heal()
    for url in stack.links:
        wait_ready(url + "/readyz")
        assert httpx.get(url + "/version").json()["defects"] == []


def test_stale_containers_of_dead_runs_are_removed_and_live_ones_kept(client, stack: DockerStack) -> None:  # type: ignore[no-untyped-def]
    from walletchaos.stack.containers import IMAGES

    stale = client.containers.create(
        IMAGES["toxiproxy"],
        ["-version"],
        name="wc-stale-test",
        labels={LABEL: "stale", "walletchaos.pid": "999999"},
        network_mode="host",
    )
    removed = remove_stale(client)
    assert stale.name in removed
    assert client.containers.list(filters={"label": f"{LABEL}={stack.run_id}"}), (
        "a live run's containers stay"
    )
