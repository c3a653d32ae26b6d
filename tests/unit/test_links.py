"""Which links go through Toxiproxy: only those a fault of the scenario acts on (every proxied byte costs
CPU); the others are direct connections. Pure: no stack is started."""

from __future__ import annotations

from typing import Any

import pytest

from walletchaos.errors import InfraError
from walletchaos.scenario import Scenario
from walletchaos.stack.base import Targets, link_proxies

LINKS = ["ingress", "ingress0", "ingress1", "db", "replication"]


def proxied(faults: list[tuple[str, str]], **scenario: Any) -> list[str]:
    targets = Targets()
    targets.scenario = Scenario.model_validate(
        {
            "name": "links",
            "load": {"shape": [{"phase": "p", "for": "10s", "users": 1}]},
            "wallet": {"replicas": 2, **scenario.pop("wallet", {})},
            "faults": [{"at": "1s", "for": "1s", "fault": f, "target": t} for f, t in faults],
            **scenario,
        }
    )
    return [link for link in LINKS if targets.proxied(link)]


def test_a_scenario_without_faults_proxies_nothing() -> None:
    assert proxied([]) == []


def test_a_process_or_deploy_fault_needs_no_link() -> None:
    assert (
        proxied([("process.kill", "wallet[1]"), ("process.restart", "postgres"), ("deploy", "wallet")]) == []
    )


def test_ingress_is_the_balancers_front_link_or_every_replica_link_when_pinned() -> None:
    assert proxied([("network.latency", "ingress")]) == ["ingress"]
    assert proxied([("network.latency", "ingress")], wallet={"balancer": "none"}) == ["ingress0", "ingress1"]
    assert proxied([("network.down", "ingress[1]")]) == ["ingress1"]


def test_the_db_link_when_faulted_and_both_database_links_with_a_standby() -> None:
    assert proxied([("network.latency", "db")]) == ["db"]
    assert proxied([], database={"standby": True}) == ["db", "replication"]


def test_an_index_beyond_the_replicas_names_no_link_and_fails_when_applied() -> None:
    assert proxied([("network.latency", "ingress[5]")]) == []
    with pytest.raises(InfraError, match="only 2 replica"):
        link_proxies("ingress[5]", 2, balanced=True)
