"""Client outcome classification and the fault families against an in-memory fake of the stack."""

from __future__ import annotations

from typing import Any

import pytest

from walletchaos import fault as registry
from walletchaos.load.outcome import classify


@pytest.mark.parametrize(
    ("f", "status", "body", "kind"),
    [
        ("pay", 201, {}, "ok"),
        ("pay", 422, {"error": "insufficient_funds"}, "fail"),
        ("pay", 503, {"error": "unavailable"}, "fail"),
        ("pay", 500, {"error": "commit_unknown"}, "info"),
        ("pay", 0, {}, "info"),
        ("pay", 504, {}, "info"),
        ("pay", 409, {"error": "idempotency_key_in_progress"}, "info"),
        ("pay", 409, {"error": "idempotency_key_reused"}, "fail"),
        ("balance", 200, {}, "ok"),
        ("attack", 423, {}, "fail"),
        ("login", 502, {}, "info"),
    ],
)
def test_classify(f: str, status: int, body: dict[str, Any], kind: str) -> None:
    assert classify(f, status, body) == kind


class FakeToxiproxy:
    """In-memory stand-in for the Toxiproxy adapter (unit tests only)."""

    def __init__(self, proxies: list[str], drop_attributes: bool = False) -> None:
        self._toxics: dict[str, list[dict[str, Any]]] = {p: [] for p in proxies}
        self.enabled = dict.fromkeys(proxies, True)
        self.drop_attributes = drop_attributes  # simulates a server that ignored what we asked

    def add_toxic(
        self, proxy: str, name: str, kind: str, stream: str, attributes: dict[str, Any]
    ) -> dict[str, Any]:
        toxic = {
            "name": name,
            "type": kind,
            "stream": stream,
            "attributes": {} if self.drop_attributes else attributes,
        }
        self._toxics[proxy].append(toxic)
        return toxic

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return list(self._toxics[proxy])

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._toxics[proxy] = [t for t in self._toxics[proxy] if t["name"] != name]

    def set_enabled(self, proxy: str, enabled: bool) -> dict[str, Any]:
        self.enabled[proxy] = enabled
        return {"enabled": enabled}


class FakeStack:
    def __init__(self, **kw: Any) -> None:
        self.toxiproxy = FakeToxiproxy(["db", "ingress0", "ingress1"], **kw)

    def proxies(self, link: str) -> list[str]:
        return {"db": ["db"], "ingress": ["ingress0", "ingress1"], "ingress[1]": ["ingress1"]}[link]


def test_network_fault_applies_reads_back_and_heals() -> None:
    from faults.network import NetworkFault

    stack = FakeStack()
    fault = NetworkFault("latency", "ingress", {"latency": 80, "stream": "upstream"}, stack)  # type: ignore[arg-type]
    applied = fault.apply()
    assert set(applied) == {"ingress0", "ingress1"}
    assert applied["ingress0"]["attributes"] == {"latency": 80, "jitter": 0}
    assert applied["ingress0"]["stream"] == "upstream"
    fault.heal()
    assert stack.toxiproxy.toxics("ingress0") == [] and stack.toxiproxy.toxics("db") == []
    down = NetworkFault("down", "ingress[1]", {}, stack)  # type: ignore[arg-type]
    down.apply()
    assert stack.toxiproxy.enabled == {"db": True, "ingress0": True, "ingress1": False}
    down.heal()
    assert all(stack.toxiproxy.enabled.values())


def test_network_fault_refuses_a_toxic_that_was_not_applied_as_asked() -> None:
    from faults.network import NetworkFault
    from walletchaos.errors import InfraError

    fault = NetworkFault("latency", "db", {"latency": 80}, FakeStack(drop_attributes=True))  # type: ignore[arg-type]
    with pytest.raises(InfraError, match="not applied as asked"):
        fault.apply()


def test_registry_lists_every_family_through_entry_points() -> None:
    names = registry.all_names()
    for toxic in (
        "latency",
        "bandwidth",
        "slow_close",
        "timeout",
        "reset_peer",
        "slicer",
        "limit_data",
        "down",
    ):
        assert f"network.{toxic}" in names
    assert {"process.kill", "process.stop", "process.pause", "process.restart", "deploy"} <= set(names)


def test_check_spec_suggests_and_validates() -> None:
    assert registry.check_spec({"fault": "proces.kill", "target": "postgres"})[0][1].endswith(
        "did you mean 'process.kill'? (run `walletchaos list-faults`)"
    )
    assert registry.check_spec({"fault": "process.kill", "target": "wallet[1]"}) == []
    assert registry.check_spec({"fault": "network.down", "target": "ingress[0]"}) == []
    assert registry.check_spec({"fault": "network.latency", "target": "postgres"})[0][0] == "target"
