"""Refusals the history proves wrong. A definite refusal is an answer, but not when the replayed state
shows the wallet had no reason for it: those are violations, not "available" answers."""

from __future__ import annotations

from ..history import Call
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
    positions = _positions(f)
    for c in f.calls:
        if c.type != "fail":
            continue
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
            low = _lowest_possible_balance(f, positions, c)
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


def _positions(f: Facts) -> dict[str, tuple[list[int], dict[str, list[int]]]]:
    """Per account: balances after each posting in ledger order (index 0 = initial), and for each key the
    positions of its postings."""
    out: dict[str, tuple[list[int], dict[str, list[int]]]] = {}
    for account, posts in f.postings_by_account.items():
        balances = [f.initial.get(account, 0)]
        at: dict[str, list[int]] = {}
        for post in posts:
            balances.append(balances[-1] + int(post["delta"]))
            at.setdefault(post["idempotency_key"], []).append(len(balances) - 1)
        out[account] = (balances, at)
    return out


def _lowest_possible_balance(
    f: Facts, positions: dict[str, tuple[list[int], dict[str, list[int]]]], c: Call
) -> int | None:
    account = aid(c.value["from"])
    if account not in f.initial:
        return None
    balances, at = positions.get(account, ([f.initial[account]], {}))
    lo, hi = 0, len(balances) - 1
    for key, spots in at.items():
        calls = f.by_key.get(key, [])
        acked_before = any(x.type == "ok" and x.end is not None and x.end < c.start for x in calls)
        sent_after = bool(calls) and min(x.start for x in calls) > (c.end or 0)
        if acked_before:
            lo = max(lo, max(spots))
        elif sent_after:
            hi = min(hi, min(spots) - 1)
    return min(balances[lo : hi + 1]) if lo <= hi else None
