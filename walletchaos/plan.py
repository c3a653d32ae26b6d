"""The plan: one seeded resolution of a scenario. Same scenario + seed -> the same plan."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from walletchaos import fault as registry

from .scenario import Scenario


@dataclass(frozen=True)
class FaultAction:
    """One fault on the timeline: applied ``at`` seconds after load start, healed at ``heal_at``."""

    index: int
    name: str
    target: str
    params: dict[str, Any]
    at: float
    heal_at: float

    @property
    def family(self) -> str:
        return self.name.split(".")[0]


@dataclass(frozen=True)
class Plan:
    seed: int
    duration: float
    faults: tuple[FaultAction, ...]
    phases: tuple[tuple[str, float, float], ...]
    """(phase name, start, end) in seconds after load start."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def make_plan(scenario: Scenario, seed: int | None = None) -> Plan:
    seed = scenario.seed if seed is None else seed
    rng = random.Random(seed)
    faults = []
    for i, spec in enumerate(scenario.faults):
        registry.resolve(spec.fault)  # validated already; fails loudly if not
        at = rng.uniform(*spec.at) if isinstance(spec.at, tuple) else spec.at
        at = round(at, 3)
        faults.append(
            FaultAction(i, spec.fault, spec.target, dict(spec.params), at, round(at + spec.for_, 3))
        )
    phases, start = [], 0.0
    for p in scenario.load.shape:
        phases.append((p.phase, start, start + p.for_))
        start += p.for_
    return Plan(seed, scenario.load.duration, tuple(sorted(faults, key=lambda f: f.at)), tuple(phases))
