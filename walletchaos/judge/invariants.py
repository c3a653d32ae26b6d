"""Money and security invariants over the history and the final audit. Each docstring states the formula
and how unknown (info) outcomes are treated."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from ..history import Call
from .facts import Facts
from .model import Result


def _op(call: Call, **extra: Any) -> dict[str, Any]:
    return {
        "index": call.index,
        "f": call.f,
        "key": call.key,
        "type": call.type,
        "status": call.status,
        **extra,
    }


def _unknown(name: str, why: str) -> Result:
    return Result(name, "invariant", None, why)


def conservation(f: Facts) -> Result:
    """sum(final snapshot balances) == sum(initial balances). Transfers move money, never create or destroy
    it; info ops do not matter because any applied transfer is zero-sum."""
    if f.snapshot is None:
        return _unknown("conservation", "no audit snapshot")
    before, after = sum(f.initial.values()), sum(f.snapshot.values())
    if before == after:
        return Result("conservation", "invariant", True, f"total {after} conserved")
    return Result(
        "conservation",
        "invariant",
        False,
        f"total changed by {after - before:+d}",
        1,
        details={"initial_total": before, "final_total": after, "difference": after - before},
    )


def durability(f: Facts) -> Result:
    """For every key with an ok transfer: the ledger holds a transfer with that key whose postings are
    -amount on ``from`` and +amount on ``to`` (both legs). info ops are not acknowledged: not required."""
    ledger = f.ledger_keys
    offenders = []
    for key, calls in f.by_key.items():
        ok = next((c for c in calls if c.type == "ok"), None)
        if ok is None:
            continue
        v = ok.value
        legs = [
            sorted((int(p["account"]), int(p["delta"])) for p in posts)
            for posts in ledger.get(key, {}).values()
        ]
        want = sorted([(int(v["from"]), -int(v["amount"])), (int(v["to"]), int(v["amount"]))])
        if want not in legs:
            offenders.append(_op(ok, found_legs=legs[:2], amount=v["amount"]))
    return Result.from_offenders(
        "durability",
        "invariant",
        offenders,
        "every acknowledged transfer has both legs",
        "{n} acknowledged transfer(s) missing or incomplete in the ledger",
        "amount",
        durability.__doc__ or "",
    )


def exactly_once(f: Facts) -> Result:
    """For every idempotency key: |distinct transfer ids in the ledger| <= 1, however often it was sent."""
    calls = f.by_key
    offenders = []
    for key, transfers in f.ledger_keys.items():
        if len(transfers) > 1 and key in calls:
            offenders.append(_op(calls[key][0], applied=len(transfers), sent=len(calls[key])))
    return Result.from_offenders(
        "exactly_once",
        "invariant",
        offenders,
        "no key applied twice",
        "{n} key(s) applied more than once",
        "applied",
        exactly_once.__doc__ or "",
    )


def failed_not_applied(f: Facts) -> Result:
    """For every key whose calls ALL failed definitely (no ok, no info): the key is absent from the ledger.
    Keys with any info call are excluded: their outcome is unknown by definition."""
    ledger = f.ledger_keys
    offenders = [
        _op(calls[0], attempts=len(calls))
        for key, calls in f.by_key.items()
        if all(c.type == "fail" for c in calls) and key in ledger
    ]
    return Result.from_offenders(
        "failed_not_applied",
        "invariant",
        offenders,
        "no failed transfer was applied",
        "{n} definitely failed transfer(s) applied anyway",
        None,
        failed_not_applied.__doc__ or "",
    )


def no_phantoms(f: Facts) -> Result:
    """Every ledger key was sent by some client call: keys(ledger) is a subset of keys(history)."""
    sent = set(f.by_key)
    offenders = [
        {"index": None, "seq": posts[0]["seq"], "key": key, "account": posts[0]["account"]}
        for key, transfers in f.ledger_keys.items()
        if key not in sent
        for posts in transfers.values()
    ]
    return Result.from_offenders(
        "no_phantoms",
        "invariant",
        offenders,
        "no ledger entry without a request",
        "{n} ledger transfer(s) nobody asked for",
        None,
        no_phantoms.__doc__ or "",
    )


def balances_match_ledger(f: Facts) -> Result:
    """For every account a: snapshot[a] == initial[a] + sum(delta of postings on a)."""
    if f.snapshot is None:
        return _unknown("balances_match_ledger", "no audit snapshot")
    replay = f.replay
    offenders = [
        {"index": None, "account": a, "stored": b, "replayed": replay.get(a, 0), "diff": b - replay.get(a, 0)}
        for a, b in sorted(f.snapshot.items())
        if b != replay.get(a, 0)
    ]
    return Result.from_offenders(
        "balances_match_ledger",
        "invariant",
        offenders,
        "stored balances equal ledger replay",
        "{n} account(s) whose balance differs from the ledger",
        "diff",
        balances_match_ledger.__doc__ or "",
    )


def no_negative_balances(f: Facts) -> Result:
    """snapshot[a] >= 0 for every account, and every ok balance read returned >= 0."""
    offenders = [{"index": None, "account": a, "balance": b} for a, b in (f.snapshot or {}).items() if b < 0]
    offenders += [
        _op(c, balance=c.value.get("balance"))
        for c in f.calls
        if c.f == "balance" and c.type == "ok" and (c.value.get("balance") or 0) < 0
    ]
    return Result.from_offenders(
        "no_negative_balances",
        "invariant",
        offenders,
        "no negative balance",
        "{n} negative balance(s)",
        "balance",
        no_negative_balances.__doc__ or "",
    )


def authorization(f: Facts) -> Result:
    """No account is debited except by its owner: no ``unauthorized`` call is ok, and every ledger debit of
    account a belongs to a key sent by a session of a (``value.as == a``)."""
    by_key = {k: cs[0] for k, cs in f.by_key.items()}
    offenders = [_op(c) for c in f.calls if c.f == "unauthorized" and c.type == "ok"]
    for post in f.ledger:
        call = by_key.get(post["idempotency_key"])
        if (
            int(post["delta"]) < 0
            and call is not None
            and int(call.value.get("as", -1)) != int(post["account"])
        ):
            offenders.append(_op(call, debited=post["account"], acting_as=call.value.get("as")))
    return Result.from_offenders(
        "authorization",
        "invariant",
        offenders,
        "only owners debited their accounts",
        "{n} debit(s) by someone other than the owner",
        None,
        authorization.__doc__ or "",
    )


def lockout(f: Facts) -> Result:
    """Lock engages: once ``threshold`` failed logins (401) that were surely counted together have
    completed, every login invoked after the last of them completed (t_N) and answered before
    start_N + duration (the earliest the lock may end) answers 423; a 201 or 401 there is a violation.
    Release: no 423 carries a retry_after longer than the configured duration (+1 s rounding).
    Failures are surely counted together when each was invoked after the last reset the client could see
    (a 201 or 423 completing resets the count), within ``window`` of t_N, and no 201/423 was in flight
    during their span (the wallet may have applied it in between). This under-counts under concurrency,
    never over-counts. info logins are ignored."""
    s = f.scenario.wallet.settings
    rule = (
        int(s.get("lockout_threshold", 5)),
        int(float(s.get("lockout_window_s", 900)) * 1e9),
        int(float(s.get("lockout_duration_s", 900)) * 1e9),
    )
    per_account: dict[int, list[Call]] = defaultdict(list)
    for c in f.calls:
        if c.f in ("login", "attack") and c.type != "info" and c.end is not None:
            per_account[int(c.value["account"])].append(c)
    offenders = []
    for calls in per_account.values():
        offenders += _lockout_account(calls, *rule)
    return Result.from_offenders(
        "lockout",
        "invariant",
        offenders,
        "lockout engaged and released as configured",
        "{n} login(s) that broke the lockout rule",
        None,
        lockout.__doc__ or "",
    )


def _lockout_account(calls: list[Call], threshold: int, window: int, duration: int) -> list[dict[str, Any]]:
    events = sorted(
        [(c.start, 0, i) for i, c in enumerate(calls)] + [(c.end or 0, 1, i) for i, c in enumerate(calls)]
    )
    offenders: list[dict[str, Any]] = []
    failures: list[Call] = []
    resets = [(c.start, c.end or 0) for c in calls if c.status in (201, 423)]  # each may reset the count
    reset_at, lock = -1, (-1, -1)
    lock_at_invoke: dict[int, tuple[int, int]] = {}
    for t, completing, i in events:
        c = calls[i]
        if not completing:
            lock_at_invoke[i] = lock
            continue
        start_lock, end_lock = lock_at_invoke[i]
        if start_lock < c.start and (c.end or 0) < end_lock and c.status in (201, 401):
            offenders.append(_op(c, expected=423, locked_for_s=round((end_lock - c.start) / 1e9, 2)))
        if c.status == 423 and float(c.value.get("retry_after") or 0) > duration / 1e9 + 1:
            offenders.append(
                _op(c, expected=f"retry_after <= {duration / 1e9:g}s", got=c.value.get("retry_after"))
            )
        if c.status in (201, 423):
            reset_at, failures = t, []
        elif c.status == 401 and c.start > reset_at:
            failures = [x for x in failures if x.start > t - window] + [c]
            overlapped = any(a <= t and b >= failures[0].start for a, b in resets)  # in flight, maybe first
            if len(failures) >= threshold and not overlapped:
                lock, reset_at, failures = (t, c.start + duration), t, []
    return offenders


def read_your_writes(f: Facts) -> Result:
    """A balance read by a session that started after its own acknowledged debit of that account returns a
    balance at or after that debit in the account's ledger order: read in {B_j : j >= k}, where B_j is the
    replayed balance after the j-th posting and k the position of the debit. Accounts whose stored balance
    does not match the ledger are left to balances_match_ledger."""
    replay = f.replay
    history = _balance_history(f)
    consistent = {a for a in history if not f.snapshot or f.snapshot.get(a) == replay.get(a)}
    offenders = []
    latest_debit: dict[tuple[Any, int], Call] = {}
    for c in sorted(f.calls, key=lambda c: c.start):
        proc = c.invoke["process"]
        if c.type == "ok" and c.f in ("pay", "p2p") and c.key:
            latest_debit[(proc, int(c.value["from"]))] = c
        if c.f == "balance" and c.type == "ok" and int(c.value["account"]) in consistent:
            account = int(c.value["account"])
            debit = latest_debit.get((proc, account))
            if debit is None or debit.end is None or debit.end >= c.start or debit.key is None:
                continue
            key_at, last_seen = history[account]
            at = key_at.get(debit.key)
            if at is not None and last_seen.get(int(c.value["balance"]), -1) < at:
                offenders.append(_op(c, balance=c.value["balance"], after_key=debit.key))
    return Result.from_offenders(
        "read_your_writes",
        "invariant",
        offenders,
        "no stale balance read",
        "{n} read(s) older than the reader's own acknowledged transfer",
        None,
        read_your_writes.__doc__ or "",
    )


def _balance_history(f: Facts) -> dict[int, tuple[dict[str, int], dict[int, int]]]:
    """Per account, in ledger order: the position of each key's first posting, and for each balance value
    the last position after which the account held it (B_j for the j-th posting)."""
    out: dict[int, tuple[dict[str, int], dict[int, int]]] = {}
    balance = dict(f.initial)
    positions: dict[int, int] = defaultdict(int)
    for post in sorted(f.ledger, key=lambda p: int(p["seq"])):
        account = int(post["account"])
        key_at, last_seen = out.setdefault(account, ({}, {}))
        balance[account] = balance.get(account, 0) + int(post["delta"])
        position = positions[account]
        positions[account] += 1
        key_at.setdefault(post["idempotency_key"], position)
        last_seen[balance[account]] = position
    return out


INVARIANT_CHECKS: dict[str, Callable[[Facts], Result]] = {
    fn.__name__: fn
    for fn in (
        conservation,
        durability,
        exactly_once,
        failed_not_applied,
        no_phantoms,
        balances_match_ledger,
        no_negative_balances,
        authorization,
        lockout,
        read_your_writes,
    )
}
