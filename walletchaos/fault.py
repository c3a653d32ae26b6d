"""The fault protocol and the fault families by name.

A family is a timed action with a mandatory heal, verified after applying (read back). Families live
outside the core (the ``faults`` package ships three) and are found only through the
``walletchaos.faults`` entry-point group, so the core never imports them.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from typing import Any, ClassVar

from .stack.base import StackHandle, split_target
from .targets import SINGLE

Problems = list[tuple[str, str]]  # (field, message)


class Fault(ABC):
    """One family. ``kinds`` maps each kind to a one-line description; ``targets`` lists valid bases.

    ``apply`` and ``heal`` return what was actually done (read back from the system), recorded in the
    history. ``heal`` must be safe to call again and after a partial ``apply``.
    """

    family: ClassVar[str]
    kinds: ClassVar[dict[str, str]]
    targets: ClassVar[tuple[str, ...]]
    color: ClassVar[str] = "#999999"
    """How the report shades this family's windows."""

    def __init__(self, kind: str, target: str, params: dict[str, Any], stack: StackHandle) -> None:
        self.kind, self.target, self.params, self.stack = kind, target, params, stack
        self.progress: Callable[[str], None] = lambda message: None
        """Says a step of a long apply or heal (the live view shows it; a deploy, replica by replica)."""

    @classmethod
    def check(cls, kind: str, target: str, params: dict[str, Any]) -> Problems:
        """Static validation (no services): unknown targets or params."""
        problems: Problems = []
        try:
            base, _ = split_target(target)
            if base not in cls.targets:
                raise ValueError
        except ValueError:
            valid = ", ".join(t if t in SINGLE else f"{t}, {t}[i]" for t in cls.targets)
            problems.append(("target", f"'{target}' is not a target of {cls.family} faults (valid: {valid})"))
        return problems + cls.check_params(kind, params)

    @classmethod
    def check_params(cls, kind: str, params: dict[str, Any]) -> Problems:
        return []

    @abstractmethod
    def apply(self) -> dict[str, Any]: ...

    @abstractmethod
    def heal(self) -> dict[str, Any]: ...

    def should_heal_early(self, error_rate: float) -> str | None:
        """A reason to heal before the scheduled time (deploy rollback triggers), or None."""
        return None


@cache
def families() -> dict[str, type[Fault]]:
    found: dict[str, type[Fault]] = {}
    for ep in entry_points(group="walletchaos.faults"):
        cls = ep.load()
        found[cls.family] = cls
    return found


def all_names() -> list[str]:
    return sorted(
        f"{fam}.{kind}" if kind != fam else fam for fam, cls in families().items() for kind in cls.kinds
    )


def resolve(name: str) -> tuple[type[Fault], str]:
    """``network.latency`` -> (NetworkFault, "latency"); ``deploy`` -> (DeployFault, "deploy")."""
    family, _, kind = name.partition(".")
    cls = families().get(family)
    kind = kind or family
    if cls is None or kind not in cls.kinds:
        close = difflib.get_close_matches(name, all_names(), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise KeyError(f"unknown fault '{name}'{hint} (run `walletchaos list-faults`)")
    return cls, kind


def check_spec(spec: dict[str, Any]) -> Problems:
    name, target, params = spec.get("fault"), spec.get("target"), spec.get("params") or {}
    if not isinstance(name, str) or not isinstance(target, str) or not isinstance(params, dict):
        return []  # the model validation already reports missing or mistyped fields
    try:
        cls, kind = resolve(name)
    except KeyError as exc:
        return [("fault", str(exc.args[0]))]
    return cls.check(kind, target, params)
