"""Bad deploys: roll a wallet version carrying defects onto the replicas one by one, then roll back at
the scheduled heal or as soon as the client error rate passes ``rollback_on_error_rate``."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from walletchaos.errors import InfraError
from walletchaos.fault import Fault, Problems
from walletchaos.stack import reference


class DeployFault(Fault):
    family = "deploy"
    kinds: ClassVar[dict[str, str]] = {"deploy": "replace replicas with a version carrying params.defects"}
    targets = ("wallet",)
    color = "#b07aa1"

    @classmethod
    def check_params(cls, kind: str, params: dict[str, Any]) -> Problems:
        problems: Problems = [
            ("params", f"unknown parameter '{k}' for deploy (valid: defects, rollback_on_error_rate)")
            for k in params
            if k not in ("defects", "rollback_on_error_rate")
        ]
        defects = params.get("defects", [])
        if not isinstance(defects, list) or not defects:
            problems.append(("params", "defects: a non-empty list of defect names"))
        else:
            catalog = reference.known_defects()
            problems += [
                ("params", f"unknown defect {d!r} (known: {', '.join(sorted(catalog))})")
                for d in defects
                if not isinstance(d, str) or d not in catalog
            ]
        rate = params.get("rollback_on_error_rate")
        if rate is not None and not (isinstance(rate, int | float) and 0 < rate <= 1):
            problems.append(("params", "rollback_on_error_rate must be a number in (0, 1]"))
        return problems

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.previous: dict[str, list[str]] = {}

    def apply(self) -> dict[str, Any]:
        rolled, failed = [], []
        for replica in self.stack.replicas():
            self.previous[replica.name] = list(replica.defects)
            try:
                replica.redeploy(sorted(self.params["defects"]))
                rolled.append(replica.name)
            except InfraError as exc:
                failed.append({"replica": replica.name, "error": str(exc)[:200]})
                break  # a rolling deploy halts at the first replica that does not become ready
        return {
            "rolled_out": rolled,
            "failed": failed,
            "defects": sorted(self.params["defects"]),
            "running": self._read_back(rolled, sorted(self.params["defects"])),
        }

    def heal(self) -> dict[str, Any]:
        restored = []
        for replica in self.stack.replicas():
            if replica.name in self.previous:
                replica.redeploy(self.previous[replica.name])
                restored.append(replica.name)
        running = {name: self._read_back([name], self.previous[name])[name] for name in restored}
        return {"rolled_back": restored, "running": running}

    def _read_back(self, names: list[str], expected: list[str]) -> dict[str, list[str]]:
        """Ask each replica which defects it runs (GET /version); a mismatch is an error, not a guess."""
        found = {}
        for replica in self.stack.replicas():
            if replica.name not in names:
                continue
            try:
                found[replica.name] = sorted(httpx.get(replica.url + "/version", timeout=2).json()["defects"])
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                raise InfraError(f"{replica.name}: cannot read /version after deploy: {exc}") from exc
            if found[replica.name] != sorted(expected):
                raise InfraError(f"{replica.name} runs {found[replica.name]}, expected {sorted(expected)}")
        return found

    def should_heal_early(self, error_rate: float) -> str | None:
        limit = self.params.get("rollback_on_error_rate")
        if limit is not None and error_rate >= limit:
            return f"error rate {error_rate:.0%} >= {limit:.0%}"
        return None
