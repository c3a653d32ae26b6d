"""The fault protocol: a timed action with a mandatory heal, verified after applying (read back)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from walletchaos.stack.base import StackHandle, split_target

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

    @classmethod
    def check(cls, kind: str, target: str, params: dict[str, Any]) -> Problems:
        """Static validation (no services): unknown targets or params."""
        problems: Problems = []
        try:
            base, _ = split_target(target)
            if base not in cls.targets:
                raise ValueError
        except ValueError:
            valid = ", ".join(f"{t}, {t}[i]" if t != "db" and t != "postgres" else t for t in cls.targets)
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
