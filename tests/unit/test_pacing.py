"""Closed-model pacing spreads users over the period (no lockstep) and keeps their rate."""

from __future__ import annotations

from collections import Counter

from walletchaos.load.pacing import Pacer

S = 10**9


def starts(users: int, rate: float, seconds: int) -> list[int]:
    pacers = [Pacer(f"7:{n}:pace", 0, rate) for n in range(users)]
    out = []
    for p in pacers:
        now = 0
        while p.next < seconds * S:
            now = max(now, p.next)  # the user sleeps until its next start, then the op takes no time
            out.append(p.take(now, rate))
    return out


def test_users_spawned_together_spread_their_starts_over_the_period() -> None:
    spread = starts(200, 1.0, 10)
    slots = Counter((s % S) // (10 * 10**6) for s in spread if s >= 2 * S)  # 10 ms slots of a second
    assert max(slots.values()) / sum(slots.values()) < 0.05  # lockstep would put ~100% in one slot
    assert len(slots) > 90


def test_the_rate_is_kept() -> None:
    assert abs(len(starts(50, 4.0, 20)) / 20 - 200) < 10


def test_after_a_stall_a_user_catches_up_at_most_one_second_and_keeps_its_phase() -> None:
    p = Pacer("7:1:pace", 0, 2.0)
    for _ in range(3):
        p.take(p.next, 2.0)
    late = 30 * S  # the op took 30 s (a frozen database)
    backlog = [p.take(late, 2.0) for _ in range(4)]
    assert backlog[0] < late and late - backlog[1] <= S  # the first is the one that was due; then 1 s back
    offset = ((backlog[1] - (late - S)) / (S / 2)) % 1  # where in its period the user resumed
    assert min(abs(offset - p.phase), 1 - abs(offset - p.phase)) < 0.15  # its own phase (+-10% jitter)


def test_a_restart_paces_afresh_so_an_idle_spell_is_not_counted_as_latency() -> None:
    pacer = Pacer("1:0:pace", 0, 2.0)
    pacer.take(pacer.next, 2.0)
    idle_until = 12 * 10**9  # e.g. an open phase where this user ran arrivals, not its own pacing
    stale = pacer.next
    pacer.restart(idle_until, 4.0)
    intended = pacer.take(pacer.next, 4.0)
    assert stale < 10**9 and idle_until <= intended < idle_until + 250_000_000, "within one 4/s period"
