"""The wallet's own audit, cross-checked: its snapshot against itself, against the run's accounts, against
the snapshots taken during the load, and against what each account's owner sees."""

from __future__ import annotations

from typing import Any

from .facts import Facts, aid
from .model import Result


def audit_consistent(f: Facts) -> Result:
    """The final audit is quiet and self-consistent: the two ledger reads around the snapshot agreed
    (``audit.ledger_stable``; otherwise unknown), snapshot.total == sum(snapshot accounts), and every account
    the run created is in the snapshot. Every snapshot taken during the load (ok ``snapshot`` ops) is
    internally consistent too (total == sum of its accounts) and conserves the initial total of the run's
    accounts (sum over them == sum of their initial balances): a stale or cached total is caught."""
    snap = f.audit.get("snapshot")
    if not snap:
        return Result("audit_consistent", "invariant", None, "no audit snapshot")
    if f.audit.get("ledger_stable") is False:
        reason = f.audit.get("ledger_unstable_reason", "the ledger changed between reads")
        return Result("audit_consistent", "invariant", None, f"audit not quiet: {reason}")
    offenders: list[dict[str, Any]] = []
    listed = sum(int(a["balance"]) for a in snap["accounts"])
    if int(snap.get("total", listed)) != listed:
        offenders.append({"index": None, "snapshot": "final", "total": snap.get("total"), "sum": listed})
    missing = sorted(set(f.initial) - {aid(a["id"]) for a in snap["accounts"]})
    if missing:
        offenders.append({"index": None, "snapshot": "final", "missing_accounts": missing[:50]})
    initial_total = sum(f.initial.values())
    taken = [c for c in f.snapshots if c.type == "ok"]
    for c in taken:
        v = (c.done or {}).get("value") or {}
        balances = {aid(a): int(b) for a, b in (v.get("balances") or {}).items()}
        run_sum = sum(balances.get(a, 0) for a in f.initial)
        if int(v.get("total", 0)) != int(v.get("sum", 0)) or run_sum != initial_total:
            offenders.append(
                {
                    "index": c.index,
                    "t_s": round(c.start / 1e9, 3),
                    "snapshot": "during load",
                    "total": v.get("total"),
                    "sum": v.get("sum"),
                    "run_accounts_sum": run_sum,
                    "initial_total": initial_total,
                }
            )
    return Result.from_offenders(
        "audit_consistent",
        "invariant",
        offenders,
        f"final snapshot and {len(taken)} snapshot(s) during the load consistent and conserved",
        "{n} audit snapshot(s) inconsistent or not conserving money",
        None,
        audit_consistent.__doc__ or "",
        1 + len(taken),
    )


def users_see_audit(f: Facts) -> Result:
    """What owners see equals what the audit says: after the run, every account the run created is read
    through its owner's own session (``audit.owner_reads``: account -> balance, or the refusal), and
    owner_read[a] == snapshot[a]. A wallet whose audit lies consistently is caught by its users. Accounts
    whose owner could not log in (locked by the attack, say) are counted as not read, not as violations."""
    reads = f.audit.get("owner_reads")
    if f.snapshot is None or reads is None:
        return Result("users_see_audit", "invariant", None, "no owner reads or snapshot in the audit")
    offenders, read = [], 0
    for account, seen in sorted(reads.items()):
        if not isinstance(seen, dict) or "balance" not in seen:
            continue
        read += 1
        stored = f.snapshot.get(aid(account))
        if stored is None or int(seen["balance"]) != stored:
            offenders.append(
                {"index": None, "account": account, "owner_sees": seen["balance"], "audit_says": stored}
            )
    return Result.from_offenders(
        "users_see_audit",
        "invariant",
        offenders,
        f"{read} owner read(s) equal the audit ({len(reads) - read} account(s) could not be read)",
        "{n} account(s) whose owner sees another balance than the audit",
        None,
        users_see_audit.__doc__ or "",
        read,
    )
