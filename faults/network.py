"""Network faults through the real Toxiproxy: every toxic, up- or downstream, and a proxy taken down,
on the ``ingress`` links (load -> wallet replica) and the ``db`` link (wallets -> PostgreSQL)."""

from __future__ import annotations

from typing import Any, ClassVar

from walletchaos.errors import InfraError
from walletchaos.fault import Fault, Problems

# toxic -> its attributes with defaults (Toxiproxy v2 names and units)
TOXICS: dict[str, dict[str, int]] = {
    "latency": {"latency": 100, "jitter": 0},
    "bandwidth": {"rate": 100},
    "slow_close": {"delay": 1000},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 64, "size_variation": 32, "delay": 1000},
    "limit_data": {"bytes": 1024},
}
DOC = {
    "latency": "add latency (ms) with jitter (ms) to every chunk",
    "bandwidth": "limit throughput to rate KB/s",
    "slow_close": "delay closing connections by delay ms",
    "timeout": "stop all data; close after timeout ms (0 = never: a blackhole)",
    "reset_peer": "reset connections (TCP RST) after timeout ms",
    "slicer": "slice data into small chunks with delay us between them",
    "limit_data": "close connections after bytes bytes",
    "down": "take the proxy down: existing connections closed, new ones refused",
}


class NetworkFault(Fault):
    family = "network"
    kinds: ClassVar[dict[str, str]] = DOC
    targets = ("ingress", "db", "replication")
    color = "#f28e2b"

    @classmethod
    def check_params(cls, kind: str, params: dict[str, Any]) -> Problems:
        allowed = {*TOXICS.get(kind, {}), "stream"}
        problems: Problems = [
            ("params", f"unknown parameter '{k}' for network.{kind} (valid: {', '.join(sorted(allowed))})")
            for k in params
            if k not in allowed
        ]
        if params.get("stream", "downstream") not in ("upstream", "downstream"):
            problems.append(("params", "stream must be 'upstream' or 'downstream'"))
        problems += [
            ("params", f"{k} must be a non-negative integer")
            for k, v in params.items()
            if k != "stream" and not (isinstance(v, int) and not isinstance(v, bool) and v >= 0)
        ]
        return problems

    def _toxic_name(self) -> str:
        return f"wc_{self.kind}_{self.params.get('stream', 'downstream')}"

    def apply(self) -> dict[str, Any]:
        api, applied = self.stack.toxiproxy, {}
        for proxy in self.stack.proxies(self.target):
            if self.kind == "down":
                applied[proxy] = {"enabled": api.set_enabled(proxy, False)["enabled"]}
                continue
            attrs = {**TOXICS[self.kind], **{k: v for k, v in self.params.items() if k != "stream"}}
            api.add_toxic(
                proxy, self._toxic_name(), self.kind, self.params.get("stream", "downstream"), attrs
            )
            found = [t for t in api.toxics(proxy) if t["name"] == self._toxic_name()]
            if not found or found[0]["attributes"] != {**found[0]["attributes"], **attrs}:
                raise InfraError(f"toxic {self._toxic_name()} on {proxy} not applied as asked: {found}")
            applied[proxy] = found[0]
        return applied

    def heal(self) -> dict[str, Any]:
        api, healed = self.stack.toxiproxy, {}
        for proxy in self.stack.proxies(self.target):
            if self.kind == "down":
                healed[proxy] = {"enabled": api.set_enabled(proxy, True)["enabled"]}
                continue
            if any(t["name"] == self._toxic_name() for t in api.toxics(proxy)):
                api.remove_toxic(proxy, self._toxic_name())
            healed[proxy] = {"toxics": [t["name"] for t in api.toxics(proxy)]}
        return healed
