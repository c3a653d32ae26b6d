"""Bad deploys: roll another wallet version onto the replicas one by one, then roll back at the scheduled
heal or as soon as the client error rate passes ``rollback_on_error_rate``. A version is the reference
wallet carrying ``params.defects``, or your wallet's ``params.command`` (local runtime) or ``params.image``
(docker runtime)."""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar

from walletchaos.errors import InfraError
from walletchaos.fault import Fault, Problems
from walletchaos.stack import reference
from walletchaos.stack.base import Version
from walletchaos.stack.wallet import template_problem

IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,255}")


class DeployFault(Fault):
    family = "deploy"
    kinds: ClassVar[dict[str, str]] = {
        "deploy": "replace replicas with another version: params.defects (reference), .command or .image"
    }
    targets = ("wallet",)
    color = "#b07aa1"

    @classmethod
    def check_params(cls, kind: str, params: dict[str, Any]) -> Problems:
        problems: Problems = [
            (
                "params",
                f"unknown parameter '{k}' for deploy (valid: defects, command, rollback_on_error_rate)",
            )
            for k in params
            if k not in ("defects", "command", "image", "rollback_on_error_rate")
        ]
        if sum(k in params for k in ("defects", "command", "image")) != 1:
            problems.append(("params", "give exactly one of defects (reference wallet), command or image"))
        image = params.get("image")
        if "image" in params and not (isinstance(image, str) and IMAGE.fullmatch(image)):
            problems.append(("params", "image: an image reference such as registry/name:tag"))
        if "command" in params:
            command = params["command"]
            problem = template_problem(command) if isinstance(command, str) else "a command line (string)"
            if problem:
                problems.append(("params", f"command: {problem}"))
        if "defects" in params:
            defects = params["defects"]
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
        self.previous: dict[str, Version] = {}
        command, image = self.params.get("command"), self.params.get("image")
        defects = tuple(sorted(self.params.get("defects") or ()))
        self.version = (
            Version(command=command) if command else Version(image=image) if image else Version(defects)
        )

    def apply(self) -> dict[str, Any]:
        rolled, failed = [], []
        began, rolled_after = time.monotonic(), {}
        for replica in self.stack.replicas():
            self.previous[replica.name] = replica.version
            try:
                replica.redeploy(self.version)
                rolled.append(replica.name)
                rolled_after[replica.name] = round(time.monotonic() - began, 3)
                self.progress(f"deploy: {replica.name} now runs the new version")
            except InfraError as exc:
                self.progress(f"deploy: {replica.name} did not become ready: rollout halted")
                failed.append({"replica": replica.name, "error": str(exc)[:200]})
                break  # a rolling deploy halts at the first replica that does not become ready
        return {
            "rolled_out": rolled,
            "rolled_after_s": rolled_after,  # live on each replica this long after the apply's invoke
            "failed": failed,
            **self.version.describe(),
            "running": {name: self._read_back(name, self.version) for name in rolled},
        }

    def heal(self) -> dict[str, Any]:
        restored, began, restored_after = [], time.monotonic(), {}
        for replica in self.stack.replicas():
            if replica.name in self.previous:
                replica.redeploy(self.previous[replica.name])
                restored.append(replica.name)
                restored_after[replica.name] = round(time.monotonic() - began, 3)
                self.progress(f"rollback: {replica.name} runs its previous version again")
        running = {name: self._read_back(name, self.previous[name]) for name in restored}
        return {"rolled_back": restored, "restored_after_s": restored_after, "running": running}

    def _read_back(self, name: str, expected: Version) -> dict[str, object]:
        """Ask the replica what it runs; a mismatch is an error, not a guess."""
        replica = next(r for r in self.stack.replicas() if r.name == name)
        found = replica.running_version()
        if found != expected:
            raise InfraError(f"{name} runs {found.describe()}, expected {expected.describe()}")
        return found.describe()

    def should_heal_early(self, error_rate: float) -> str | None:
        limit = self.params.get("rollback_on_error_rate")
        if limit is not None and error_rate >= limit:
            return f"error rate {error_rate:.0%} >= {limit:.0%}"
        return None
