"""The open model's schedule: when each arrival of the arrival-rate phases is due, as data (no Locust).

A phase with ``arrivals: 800`` starts 800 operations per second whatever the wallet does; ``[200, 800]``
ramps the rate linearly over the phase (k6's constant- and ramping-arrival-rate). Intervals are 1/rate,
each jittered by +-10% from the seed so that arrivals do not tick like a metronome, yet the count per
phase is the rate's integral. Standard library only at run time: the load process imports it under gevent.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ..scenario import Phase

T = TypeVar("T")

JITTER = 0.1


def rate_at(phase: Phase, elapsed_s: float) -> float:
    """The phase's arrival rate (per second) ``elapsed_s`` into it."""
    arrivals = phase.arrivals
    if arrivals is None:
        return 0.0  # a closed phase
    if isinstance(arrivals, int | float):
        return float(arrivals)
    start, end = (float(a) for a in arrivals)
    return start + (end - start) * min(1.0, max(0.0, elapsed_s / float(phase.for_)))


def schedule(phases: list[Phase], start_ns: int, seed: str) -> Iterator[tuple[int, str]]:
    """(due time in ns, phase name) of every arrival, in time order; closed phases have none."""
    rng = random.Random(seed)
    phase_start = float(start_ns)
    for phase in phases:
        length = phase.for_ * 1e9
        if phase.arrivals is not None:
            t = phase_start
            while True:
                rate = rate_at(phase, (t - phase_start) / 1e9)
                t += 1e9 / rate * rng.uniform(1 - JITTER, 1 + JITTER)
                if t >= phase_start + length:
                    break
                yield int(t), phase.phase
        phase_start += length


def phase_at(phases: list[Phase], start_ns: int, now_ns: int) -> Phase | None:
    """The phase running at ``now_ns`` (None before the start and after the end)."""
    t = start_ns
    for phase in phases:
        t += int(phase.for_ * 1e9)
        if start_ns <= now_ns < t:
            return phase
    return None


def share(items: Iterable[T], index: int, workers: int) -> Iterator[T]:
    """Worker ``index`` of ``workers``'s share of a schedule: every item whose number % workers == index
    (together the workers run each arrival once, in the same order and at the same times)."""
    for n, item in enumerate(items):
        if n % workers == index:
            yield item


class ShapeClock:
    """Which phase runs at a time, from the shape's start on the run's clock: the same answer in the load
    process and in every worker, without Locust's shape state (which lives on the master only)."""

    def __init__(self, phases: list[Phase]) -> None:
        self.phases = phases
        self.start_ns: int | None = None

    def phase(self, now: int) -> Phase:
        """The phase at ``now``; the first before the start, the last after the end."""
        if self.start_ns is None or now < self.start_ns:
            return self.phases[0]
        return phase_at(self.phases, self.start_ns, now) or self.phases[-1]

    def ended(self, now: int) -> bool:
        """Whether the whole shape is over at ``now``."""
        return self.start_ns is not None and now >= self.start_ns + int(
            sum(p.for_ for p in self.phases) * 1e9
        )

    def rate(self, now: int) -> float:
        """The closed model's ops/s per user at ``now``."""
        return float(self.phase(now).rate)
