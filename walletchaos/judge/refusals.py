"""Refusals the history proves wrong. A definite refusal is an answer, but not when the replayed state
shows the wallet had no reason for it: those are violations, not "available" answers."""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..history import Call
from .columns import TRANSFERS
from .facts import SESSION_FS, Facts, aid
from .model import Result
from .money import op


def no_wrong_refusals(f: Facts) -> Result:
    """A definite refusal is wrong when:
    - 404 ``unknown_account`` / ``not_found`` names only accounts the run created (transfers, owner reads);
    - 401 answers an op sent with the user's own session (contract: a token is valid on every replica and
      across restarts until it expires; the harness logs in again when a login fails);
    - 422 ``insufficient_funds`` when the payer's balance covered the amount at every point the refusal
      could have been decided: between the last posting surely committed before the call (its transfer
      was acknowledged before the call began) and the first surely after (its transfer was sent after
      the call ended), in the account's ledger order.
    info outcomes are not refusals and are ignored."""
    known = set(f.initial)
    offenders, checked = [], 0
    positions = f.account_orders
    for c in f.db.calls("type = 'fail' AND status IN (401, 404, 422)"):
        error = str((c.done or {}).get("error") or "")
        if c.status == 404 and error in ("unknown_account", "not_found") and c.f in SESSION_FS:
            checked += 1
            named = [aid(c.value[k]) for k in ("from", "to", "account") if k in c.value]
            if named and all(a in known for a in named):
                offenders.append(op(c, problem="404 for accounts that exist"))
        elif c.status == 401 and c.f in SESSION_FS:
            checked += 1
            offenders.append(op(c, problem="401 to the user's own session"))
        elif c.status == 422 and error == "insufficient_funds":
            checked += 1
            window = possible_balances(f, positions, aid(c.value["from"]), c)
            low = min(window) if window and aid(c.value["from"]) in known else None
            if low is not None and low >= int(c.value["amount"]):
                offenders.append(op(c, problem="422 insufficient_funds but the balance covered it", low=low))
    return Result.from_offenders(
        "no_wrong_refusals",
        "invariant",
        offenders,
        f"none of {checked} refusal(s) contradicted by the history",
        "{n} refusal(s) the history proves wrong",
        None,
        no_wrong_refusals.__doc__ or "",
        checked,
    )


@dataclass
class AccountOrder:
    """One account's ledger order, indexed by time: the balance after each posting (index 0 = initial),
    the postings sorted by when their transfer was first acknowledged (with a running max of positions),
    and by when it was first sent (with a running min from the end); ``keys`` are the postings' keys."""

    balances: list[int]
    acked: list[int] = field(default_factory=list)
    acked_max: list[int] = field(default_factory=list)
    sent: list[int] = field(default_factory=list)
    sent_min: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)

    def bounds(self, start: int, end: int) -> tuple[int, int]:
        """The ledger positions (inclusive) the account may have been at during [start, end]."""
        i = bisect.bisect_left(self.acked, start)  # acknowledged strictly before start
        lo = self.acked_max[i - 1] if i else 0
        j = bisect.bisect_right(self.sent, end)  # first sent strictly after end
        hi = self.sent_min[j] - 1 if j < len(self.sent) else len(self.balances) - 1
        return lo, hi

    def window(self, start: int, end: int) -> list[int]:
        """Balances the account may have had during [start, end]."""
        lo, hi = self.bounds(start, end)
        return self.balances[lo : hi + 1]

    def holding(self, start: int, end: int, balance: int) -> list[int]:
        """The positions during [start, end] at which the account held ``balance``, in ledger order."""
        lo, hi = self.bounds(start, end)
        return [p for p in range(lo, hi + 1) if self.balances[p] == balance]


def account_orders(f: Facts) -> dict[str, AccountOrder]:
    """Per account with postings, its ledger order (``seq`` order) with when each posting's transfer was
    first acknowledged and first sent (computed once per judge run, three checks read it)."""
    out: dict[str, AccountOrder] = {}
    rows = f.db.rows(
        f"""WITH kt AS (SELECT key, min("end") FILTER (WHERE type = 'ok' AND "end" IS NOT NULL) AS ack,
                min(start) AS sent FROM calls WHERE {TRANSFERS} GROUP BY key)
        SELECT l.account, list(l.delta ORDER BY l.ord), list(kt.ack ORDER BY l.ord), list(kt.sent ORDER BY l.ord),
            list(l.key ORDER BY l.ord)
        FROM ledger l LEFT JOIN kt USING (key) GROUP BY l.account"""
    )
    for account, deltas, acks, sents, keys in rows:
        order = AccountOrder(list(itertools.accumulate(deltas, initial=f.initial.get(account, 0))), keys=keys)
        acked = sorted((t, p) for p, t in enumerate(acks, 1) if t is not None)
        sent = sorted((t, p) for p, t in enumerate(sents, 1) if t is not None)
        order.acked = [t for t, _ in acked]
        order.acked_max = list(itertools.accumulate((p for _, p in acked), max))
        order.sent = [t for t, _ in sent]
        order.sent_min = list(itertools.accumulate((p for _, p in reversed(sent)), min))[::-1]
        out[account] = order
    return out


class Read(NamedTuple):
    """An acknowledged balance read that returned an integer balance (``facts.read_balance``)."""

    index: int
    start: int
    end: int | None
    process: str
    account: str
    balance: int


def reads(f: Facts) -> list[Read]:
    """Every acknowledged balance read with an integer balance, by invoke time (history order on ties)."""
    return [
        Read(*row)
        for row in f.db.rows(
            """SELECT idx, start, "end", process, aid(account), balance::HUGEINT FROM calls
            WHERE f = 'balance' AND type = 'ok' AND json_type(balance) IN ('BIGINT', 'UBIGINT')
            ORDER BY start, idx"""
        )
    ]


def worded(f: Facts, found: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Offending ops found by index, as evidence (``op``), in the order found."""
    calls = {
        c.index: c for c in f.db.calls("idx IN (SELECT unnest(?::BIGINT[]))", sorted({i for i, _ in found}))
    }
    return [op(calls[i], **what) for i, what in found]


def possible_balances(f: Facts, positions: dict[str, AccountOrder], account: str, c: Call) -> list[int]:
    """The balances ``account`` may have had while ``c`` ran: in ledger order, from the last posting whose
    transfer was acknowledged before ``c`` began to the one before the first posting whose transfer was
    first sent after ``c`` ended."""
    order = positions.get(account) or AccountOrder([f.initial.get(account, 0)])
    return order.window(c.start, c.end if c.end is not None else 1 << 62)


def reads_in_order(f: Facts) -> Result:
    """Every ok balance read of account a shows a balance a held at some point while the read ran:
    value in possible_balances(a, read), i.e. at or after every transfer acknowledged before the read
    began (a credit or debit completed earlier is reflected) and before every transfer first sent after
    it ended (no read from the future). And reads are monotonic per session: a later read by the same
    client never shows an earlier point of the account's ledger order than the one before it (the latest
    position matching it is before the earliest position matching the previous read). Accounts whose
    stored balance differs from the ledger are left to balances_match_ledger."""
    positions = f.account_orders
    consistent = {a for a in f.initial if not f.snapshot or f.snapshot.get(a) == f.replay.get(a)}
    found: list[tuple[int, dict[str, Any]]] = []  # (index, what) of each offending read
    checked = 0
    last: dict[tuple[object, str], tuple[int, Read]] = {}  # (client, account) -> earliest position, read
    for c in reads(f):
        if c.account not in consistent:
            continue
        checked += 1
        order = positions.get(c.account) or AccountOrder([f.initial.get(c.account, 0)])
        end = c.end if c.end is not None else 1 << 62
        window = order.window(c.start, end)
        balance = c.balance
        if window and balance not in window:
            found.append((c.index, {"balance": balance, "possible": [min(window), max(window)]}))
            continue
        # per client: a read after the previous one ended sits at or after the previous read's position
        session = (c.process, c.account)
        held = order.holding(c.start, end, balance)
        floor, previous = last.get(session, (0, None))
        after = [p for p in held if p >= floor]
        if (
            previous is not None
            and previous.end is not None
            and previous.end < c.start
            and held
            and not after
        ):
            found.append(
                (c.index, {"balance": balance, "problem": "went back", "previous_read": previous.index})
            )
            after = held
        if after:
            last[session] = (after[0], c)
    offenders = worded(f, found)
    return Result.from_offenders(
        "reads_in_order",
        "invariant",
        offenders,
        f"all {checked} balance read(s) show a balance held while they ran, never going back per client",
        "{n} read(s) of a balance the account never held while they ran, or behind the client's last read",
        None,
        reads_in_order.__doc__ or "",
        checked,
    )
