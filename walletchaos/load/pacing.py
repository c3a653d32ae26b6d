"""Pacing of one closed-model user, without Locust: ``rate`` ops/s at the user's own phase of the period,
each interval jittered by +-10%, with at most 1 s of backlog caught up after a stall (coordinated omission).
Users that share a rate thus spread their intended starts over the period instead of firing together."""

from __future__ import annotations

import random

BACKLOG_NS = 10**9
JITTER = 0.1


class Pacer:
    def __init__(self, seed: str, now: int, rate: float) -> None:
        self.rng = random.Random(seed)
        self.phase = self.rng.random()
        self.next = 0
        self.restart(now, rate)

    def restart(self, now: int, rate: float) -> None:
        """Pace afresh from ``now`` at this user's own phase of the period (after a time without pacing,
        e.g. an open phase: its last planned start would otherwise count as a backlog of latency)."""
        self.next = now + int(self.phase * 1e9 / rate)

    def take(self, now: int, rate: float) -> int:
        """The intended start of the op about to run; schedules the one after it."""
        intended = self.next
        period = 1e9 / rate
        floor = now - BACKLOG_NS
        if self.next < floor:  # caught up after a stall: back to this user's own phase
            self.next = floor + int(self.phase * period)
        self.next += int(period * self.rng.uniform(1 - JITTER, 1 + JITTER))
        return intended
