"""Refusals the history proves wrong. A definite refusal is an answer, but not when the replayed state
shows the wallet had no reason for it: those are violations, not "available" answers.

Both checks here (and ``access.read_your_writes``) read each account's ledger order, indexed by time: the
``positions`` table holds every posting of the run's accounts at its position p (1, 2, ... in ``seq``
order; 0 is the initial balance) with the balance after it, its key, and when its transfer was first
acknowledged and first sent. A call that ran during [start, end] may have seen the account at the
positions ``lo..hi``: from the last posting whose transfer was acknowledged before the call began to the
one before the first posting whose transfer was first sent after it ended (``bounds``)."""

from __future__ import annotations

from typing import Any, NamedTuple

from .facts import SESSION_FS, Facts, aid
from .model import Result
from .money import op

NEVER = 1 << 62
"""End of an operation whose completion was never seen: it may take effect at any later time."""


def positions(f: Facts) -> None:
    """Makes the ``positions`` and ``accounts`` tables once per judge run (``Columns.positions``)."""
    f.db.positions(f.initial)


def _reads(f: Facts) -> tuple[str, list[str]]:
    """SQL of every acknowledged integer balance read of an account whose stored balance matches the ledger
    (``consistent``), as (cid, account, start, stop, ...), and its parameter."""
    return (
        f"""SELECT idx AS cid, aid(account) AS account, start, coalesce("end", {NEVER}) AS stop, "end",
        process, balance::HUGEINT AS balance FROM calls
        WHERE f = 'balance' AND type = 'ok' AND json_type(balance) IN ('BIGINT', 'UBIGINT')
        AND aid(account) IN (SELECT unnest(?::VARCHAR[]))""",
        consistent(f, list(f.initial)),
    )


def _refusals(f: Facts) -> tuple[str, list[str]]:
    """SQL of every 422 insufficient_funds of a payer the run created, as (cid, account, start, stop,
    amount), and its parameter."""
    return (
        f"""SELECT idx AS cid, aid("from") AS account, start, coalesce("end", {NEVER}) AS stop, amount
        FROM calls WHERE type = 'fail' AND {_INSUFFICIENT}
        AND aid("from") IN (SELECT unnest(?::VARCHAR[]))""",
        sorted(f.initial),
    )


_INSUFFICIENT = "(status = 422 AND (error ->> '$') = 'insufficient_funds')"


def bounds(f: Facts) -> str:
    """The table of every read (``_reads``) and refusal (``_refusals``) by cid with ``lo``/``hi``, the
    positions (inclusive) its account may have been at while it ran, and the account's ``initial`` balance:
    lo is the greatest position whose transfer was acknowledged before start (0: none), hi the position
    before the least one whose transfer was first sent after stop (all of them: none). Each is one window
    over the account's positions and the calls together, by time: a call sees the positions before it in
    that order (at the same time, a call comes first: the bounds are strict). Made once."""
    positions(f)
    (reads, accounts), (refusals, payers) = _reads(f), _refusals(f)
    calls = "SELECT account, {t} AS t, true AS call, NULL AS p, cid FROM c"
    posted = "SELECT account, {t} AS t, false, p, NULL FROM positions WHERE {t} IS NOT NULL"
    return f.db.table(
        "bounds",
        f"""WITH c AS (SELECT cid, account, start, stop FROM ({reads})
            UNION ALL SELECT cid, account, start, stop FROM ({refusals})),
        l AS (SELECT cid, max(p) OVER (PARTITION BY account ORDER BY t, call DESC ROWS UNBOUNDED PRECEDING)
                AS lo
            FROM ({calls.format(t="start")} UNION ALL {posted.format(t="ack")}) QUALIFY call),
        h AS (SELECT cid, min(p) OVER (PARTITION BY account ORDER BY t DESC, call DESC
                ROWS UNBOUNDED PRECEDING) AS after
            FROM ({calls.format(t="stop")} UNION ALL {posted.format(t="sent")}) QUALIFY call)
        SELECT c.cid, coalesce(l.lo, 0) AS lo, coalesce(h.after - 1, coalesce(a.postings, 0)) AS hi,
            coalesce(a.initial, 0) AS initial
        FROM c JOIN l USING (cid) JOIN h USING (cid) LEFT JOIN accounts a USING (account)""",
        accounts,
        payers,
    )


def window_range(low: Any, high: Any, lo: int, initial: int) -> list[int]:
    """[min, max] of the balances an account held at positions lo..hi, from the least and greatest balance
    after its postings there (None: none) and its initial balance (position 0)."""
    held = [int(b) for b in (low, high) if b is not None] + ([initial] if lo == 0 else [])
    return [min(held), max(held)]


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
    session = ", ".join(f"'{fn}'" for fn in SESSION_FS)
    error = "(error ->> '$')"
    branches = (
        f"(status = 404 AND {error} IN ('unknown_account', 'not_found') AND f IN ({session}))",
        f"(status = 401 AND f IN ({session}))",
        _INSUFFICIENT,
    )
    checked = f.db.one(f"SELECT count(*) FROM calls WHERE type = 'fail' AND ({' OR '.join(branches)})")
    offenders = []
    for c in f.db.calls(f"type = 'fail' AND ({branches[0]} OR {branches[1]})"):
        if c.status == 404:
            named = [aid(c.value[k]) for k in ("from", "to", "account") if k in c.value]
            if named and all(a in f.initial for a in named):
                offenders.append(op(c, problem="404 for accounts that exist"))
        else:
            offenders.append(op(c, problem="401 to the user's own session"))
    refusals, payers = _refusals(f)
    covered = dict(
        f.db.rows(
            f"""WITH b AS (SELECT * FROM ({refusals}) JOIN {bounds(f)} USING (cid))
            SELECT cid, low FROM (
                SELECT b.cid, b.amount, least(min(p.balance), CASE WHEN b.lo = 0 THEN b.initial END) AS low
                FROM b LEFT JOIN positions p
                    ON p.account = b.account AND p.p BETWEEN greatest(b.lo, 1) AND b.hi
                WHERE b.lo <= b.hi GROUP BY b.cid, b.amount, b.lo, b.initial)
            WHERE TRY_CAST(amount AS HUGEINT) IS NULL OR low >= TRY_CAST(amount AS HUGEINT)""",
            payers,
        )
    )
    for c in f.db.calls("idx IN (SELECT unnest(?::BIGINT[]))", sorted(covered)):
        low = int(covered[c.index])
        if low >= int(c.value["amount"]):
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


class Read(NamedTuple):
    """An acknowledged balance read of an integer balance (a 200 whose body was cut off holds none a check
    can use: histories written before the load classified those as unknown), with the positions of its
    account's ledger order, among those it may have seen, at which the account held its balance (0: the
    initial balance)."""

    idx: int
    start: int
    end: int | None
    process: str
    account: str
    balance: int
    held: list[int]


def consistent(f: Facts, accounts: list[str]) -> list[str]:
    """The accounts whose stored balance equals the ledger's replay (the others are left to
    balances_match_ledger)."""
    return sorted(a for a in accounts if not f.snapshot or f.snapshot.get(a) == f.replay.get(a))


def held_reads(f: Facts) -> str:
    """The table of every acknowledged balance read of an account whose stored balance matches the ledger
    (``consistent``) with an integer balance, its positions lo..hi (``bounds``), whether the initial balance
    matches it (``at_initial``: lo is 0 and it equals the initial balance), and the positions in lo..hi at
    which the account held its balance: how many (``n``), the least (``first``) and, when more than one,
    all of them (``many``). Made once."""
    reads, accounts = _reads(f)
    return f.db.table(
        "held_reads",
        f"""WITH b AS (SELECT * FROM ({reads}) JOIN {bounds(f)} USING (cid))
        SELECT b.cid, any_value(b.start) AS start, any_value(b."end") AS "end",
            any_value(b.process) AS process, any_value(b.account) AS account,
            any_value(b.balance) AS balance, any_value(b.lo) AS lo, any_value(b.hi) AS hi,
            any_value(b.initial) AS initial,
            any_value(b.lo = 0 AND b.initial = b.balance) AS at_initial, min(p.p) AS first, count(p.p) AS n,
            CASE WHEN count(p.p) > 1 THEN list(p.p ORDER BY p.p) END AS many
        FROM b LEFT JOIN positions p
            ON p.account = b.account AND p.balance = b.balance AND p.p BETWEEN b.lo AND b.hi
        GROUP BY b.cid""",
        accounts,
    )


def reads_in_order(f: Facts) -> Result:
    """Every ok balance read of account a shows a balance a held at some point while the read ran:
    value in possible_balances(a, read), i.e. at or after every transfer acknowledged before the read
    began (a credit or debit completed earlier is reflected) and before every transfer first sent after
    it ended (no read from the future). And reads are monotonic per session: a later read by the same
    client never shows an earlier point of the account's ledger order than the one before it (the latest
    position matching it is before the earliest position matching the previous read). Accounts whose
    stored balance differs from the ledger are left to balances_match_ledger."""
    reads = held_reads(f)
    checked = f.db.one(f"SELECT count(*) FROM {reads}")
    # (start, index, what) of each offending read: those of a balance the account never held while they
    # ran, straight from SQL
    found: list[tuple[int, int, dict[str, Any]]] = [
        (start, idx, {"balance": int(balance), "possible": window_range(low, high, lo, int(initial))})
        for idx, start, balance, lo, initial, low, high in f.db.rows(
            f"""SELECT r.cid, r.start, r.balance, r.lo, r.initial, min(p.balance), max(p.balance)
            FROM {reads} r LEFT JOIN positions p
                ON p.account = r.account AND p.p BETWEEN greatest(r.lo, 1) AND r.hi
            WHERE r.lo <= r.hi AND r.n = 0 AND NOT r.at_initial
            GROUP BY r.cid, r.start, r.balance, r.lo, r.initial"""
        )
    ]
    # and those that went back per client: the fold below, on the sessions (client, account) where a read
    # could have: one whose reads match more than one position each, or match positions that decrease
    # (a session whose reads each match one position, never decreasing, never goes back)
    suspects = f"""SELECT DISTINCT process, account FROM (
            SELECT process, account, held, h,
                lag(h) OVER (PARTITION BY process, account ORDER BY start, cid) AS before
            FROM (SELECT *, n + at_initial::INT AS held, CASE WHEN at_initial THEN 0 ELSE first END AS h
                FROM {reads}) WHERE held > 0)
        WHERE held > 1 OR h < before"""
    last: dict[tuple[str, str], tuple[int, Read]] = {}  # (client, account) -> earliest position, read
    for idx, start, end, process, account, balance, at_initial, first, many in f.db.stream(
        f"""SELECT cid, start, "end", process, account, balance, at_initial, first, many FROM {reads}
        SEMI JOIN ({suspects}) s USING (process, account) ORDER BY start, cid"""
    ):
        matched = many if many is not None else [] if first is None else [first]
        c = Read(idx, start, end, process, account, int(balance), ([0] if at_initial else []) + matched)
        # per client: a read after the previous one ended sits at or after the previous read's position
        session = (c.process, c.account)
        floor, previous = last.get(session, (0, None))
        after = [p for p in c.held if p >= floor]
        if (
            previous is not None
            and previous.end is not None
            and previous.end < c.start
            and c.held
            and not after
        ):
            what = {"balance": c.balance, "problem": "went back", "previous_read": previous.idx}
            found.append((c.start, c.idx, what))
            after = c.held
        if after:
            last[session] = (after[0], c)
    found.sort(key=lambda x: (x[0], x[1]))
    offenders = worded(f, [(idx, what) for _, idx, what in found])
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


def worded(f: Facts, found: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Offending ops found by index, as evidence (``op``), in the order found."""
    indexes = sorted({i for i, _ in found})
    calls = {c.index: c for c in f.db.calls("idx IN (SELECT unnest(?::BIGINT[]))", indexes)}
    return [op(calls[i], **what) for i, what in found]
