"""Each fault family against the real stack (Toxiproxy server, PostgreSQL, wallet processes): applied,
observed from the client side, healed."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import faults_on, local_stack
from tests.conftest import make_fault as fault
from walletchaos.stack.local import LocalStack
from walletchaos.stack.proc import http_ok


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # each replica's link reached directly (no balancer); the tests fault every ingress link and the db link
    wallet = {"replicas": 2, "balancer": "none"}
    yield from local_stack(tmp_path_factory, "faults", wallet=wallet, faults=faults_on("ingress", "db"))


def get(url: str, timeout: float = 3.0) -> tuple[int, float]:
    started = time.monotonic()
    try:
        status = httpx.get(url, timeout=timeout).status_code
    except httpx.HTTPError:
        status = 0
    return status, time.monotonic() - started


def ready(url: str) -> tuple[int, float]:
    return get(url + "/readyz")


def test_latency_on_ingress_is_observed_and_healed(stack: LocalStack) -> None:
    url = stack.ingress_urls[0]
    assert ready(url)[1] < 0.2
    f = fault(stack, "network.latency", "ingress", latency=400)
    applied = f.apply()
    assert applied["ingress0"]["attributes"]["latency"] == 400
    status, took = ready(url)
    assert status == 200 and took >= 0.4
    f.heal()
    assert stack.toxiproxy.toxics("ingress0") == []
    assert ready(url)[1] < 0.2


def test_latency_on_the_db_link_slows_database_calls(stack: LocalStack) -> None:
    direct = stack.wallets[0].url  # no ingress toxic: only the db link is slow
    f = fault(stack, "network.latency", "db", latency=150)
    f.apply()
    try:
        status, took = ready(direct)
        assert status == 200 and took >= 0.15
    finally:
        f.heal()
    assert ready(direct)[1] < 0.15


@pytest.mark.parametrize(
    ("toxic", "params"),
    [
        ("timeout", {"timeout": 0}),
        ("reset_peer", {"timeout": 0}),
        ("limit_data", {"bytes": 10}),
        ("down", {}),
    ],
)
def test_breaking_toxics_cut_the_ingress_and_heal(
    stack: LocalStack, toxic: str, params: dict[str, int]
) -> None:
    url = stack.ingress_urls[1]
    f = fault(stack, f"network.{toxic}", "ingress[1]", **params)
    f.apply()
    try:
        status, _ = get(url + "/healthz", timeout=1.0)
        assert status == 0, f"{toxic}: request should fail, got {status}"
    finally:
        f.heal()
    assert get(url + "/healthz")[0] == 200
    assert get(stack.ingress_urls[0] + "/healthz")[0] == 200  # the other replica's link was never touched


@pytest.mark.parametrize(
    ("toxic", "params"),
    [
        ("bandwidth", {"rate": 1}),
        ("slicer", {"average_size": 8, "size_variation": 4, "delay": 50000}),
        ("slow_close", {"delay": 300}),
    ],
)
def test_degrading_toxics_are_applied_as_asked(stack: LocalStack, toxic: str, params: dict[str, int]) -> None:
    f = fault(stack, f"network.{toxic}", "ingress[0]", **params)
    applied = f.apply()["ingress0"]
    try:
        assert applied["type"] == toxic and all(applied["attributes"][k] == v for k, v in params.items())
        if toxic == "slicer":
            status, took = get(stack.ingress_urls[0] + "/healthz", timeout=10)
            # the response's ~150 bytes in 8-byte slices, 50 ms apart (openapi.json's ~15 KB took 35 s)
            assert status == 200 and took > 0.3
    finally:
        f.heal()
    assert stack.toxiproxy.toxics("ingress0") == []


@pytest.mark.parametrize("action", ["kill", "stop", "pause", "restart"])
def test_process_faults_on_postgres(stack: LocalStack, action: str) -> None:
    direct = stack.wallets[0].url
    f = fault(stack, f"process.{action}", "postgres")
    f.apply()
    try:
        if action != "restart":
            assert ready(direct)[0] == 503
    finally:
        f.heal()
    deadline = time.monotonic() + 10
    while ready(direct)[0] != 200:
        assert time.monotonic() < deadline, "wallet did not reconnect by itself"
        time.sleep(0.1)


@pytest.mark.parametrize("action", ["kill", "stop", "pause"])
def test_process_faults_on_a_wallet_replica(stack: LocalStack, action: str) -> None:
    url = stack.ingress_urls[1]
    f = fault(stack, f"process.{action}", "wallet[1]")
    f.apply()
    try:
        assert get(url + "/healthz", timeout=1.0)[0] == 0
        assert get(stack.ingress_urls[0] + "/healthz")[0] == 200
    finally:
        f.heal()
    deadline = time.monotonic() + 15
    while not http_ok(url + "/healthz"):
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_deploy_rolls_out_a_defect_and_rolls_back(stack: LocalStack) -> None:
    f = fault(stack, "deploy", "wallet", defects=["double_apply"])
    out = f.apply()
    assert out["rolled_out"] == ["wallet0", "wallet1"] and out["failed"] == []
    for w in stack.wallets:
        assert httpx.get(w.url + "/version").json()["defects"] == ["double_apply"]
    assert f.should_heal_early(0.9) is None
    f.heal()
    for w in stack.wallets:
        assert httpx.get(w.url + "/version").json()["defects"] == []


def test_a_version_that_crashes_on_start_halts_the_rollout(stack: LocalStack) -> None:
    f = fault(stack, "deploy", "wallet", defects=["crash_on_start"], rollback_on_error_rate=0.5)
    out = f.apply()
    try:
        assert out["rolled_out"] == [] and out["failed"][0]["replica"] == "wallet0"
        assert f.should_heal_early(0.6) is not None
        assert get(stack.ingress_urls[1] + "/healthz")[0] == 200  # the rollout stopped at the first replica
    finally:
        f.heal()
    assert all(http_ok(w.url + "/healthz") for w in stack.wallets)
