"""Money operations: transfers (the correct path and the defect variants), reads, audit.

The correct transfer is ONE transaction: per-key advisory lock, idempotency lookup, both account rows locked
in id order (no deadlocks), funds/risk checks, then one statement that writes the transfer, both ledger
postings (summing to zero) and both balances.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from .config import Settings
from .db import Database
from .errors import ApiError

AUDIT_DEADLINE_S = 60.0  # audit reads scan whole tables: they get their own, longer deadline
LEDGER = "SELECT seq, transfer_id, idempotency_key, account_id, delta, created_at FROM ledger ORDER BY seq"
SNAPSHOT = "SELECT id, balance FROM accounts ORDER BY id"
# audit_lies: hide transfers with id % 7 = 0 from the ledger and take their deltas out of the balances
LYING_LEDGER = LEDGER.replace("ORDER BY", "WHERE transfer_id % 7 <> 0 ORDER BY")
LYING_SNAPSHOT = """
SELECT a.id, (a.balance - coalesce(h.d, 0))::bigint AS balance FROM accounts a
LEFT JOIN (SELECT account_id, sum(delta) AS d FROM ledger WHERE transfer_id % 7 = 0 GROUP BY account_id) h
ON h.account_id = a.id ORDER BY a.id"""
LONG_STATEMENTS = "SET LOCAL statement_timeout = 60000"


@dataclass(frozen=True)
class TransferRequest:
    key: str
    owner: int
    source: int
    target: int
    amount: int
    currency: str
    refund_of: int | None

    def digest(self) -> str:
        fields = [self.owner, self.source, self.target, self.amount, self.currency, self.refund_of]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()


LOCK_ACCOUNTS = """
SELECT id, balance, currency, coalesce(locked_until > now(), false) AS locked
FROM accounts WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE"""
READ_ACCOUNTS = (
    "SELECT id, balance, currency, coalesce(locked_until > now(), false) AS locked "
    "FROM accounts WHERE id = ANY($1::bigint[]) ORDER BY id"
)
FIND_KEY = """
SELECT id, idempotency_key, request_hash, from_id, to_id, amount, currency, refund_of, created_at
FROM transfers WHERE idempotency_key = $1 AND ($2::bigint IS NULL OR from_id = $2 OR to_id = $2)
ORDER BY (from_id = $2) DESC NULLS LAST, id LIMIT 1"""
FIND_OWN_KEY = """
SELECT id, idempotency_key, request_hash, from_id, to_id, amount, currency, refund_of, created_at
FROM transfers WHERE idempotency_key = $1 AND from_id = $2 ORDER BY id LIMIT 1"""
INSERT_TRANSFER = """
INSERT INTO transfers (idempotency_key, request_hash, from_id, to_id, amount, currency, refund_of)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, idempotency_key, from_id, to_id, amount, currency, refund_of, created_at"""
POST = "INSERT INTO ledger (transfer_id, idempotency_key, account_id, delta) VALUES ($1, $2, $3, $4)"
WRITE_ALL = (
    """
WITH t AS ("""
    + INSERT_TRANSFER
    + """),
l AS (INSERT INTO ledger (transfer_id, idempotency_key, account_id, delta)
      SELECT t.id, $1, v.a, v.d FROM t, (VALUES ($3::bigint, -$5::bigint), ($4::bigint, $5::bigint)) v(a, d)),
u AS (UPDATE accounts SET balance = balance + CASE WHEN id = $3 THEN -$5::bigint ELSE $5::bigint END
      WHERE id IN ($3, $4))
SELECT * FROM t"""
)
WRITE_ABSOLUTE = WRITE_ALL.replace(
    "balance + CASE WHEN id = $3 THEN -$5::bigint ELSE $5::bigint END",
    "CASE WHEN id = $3 THEN $8::bigint ELSE $9::bigint END",
)
RISK = """
SELECT count(*) FILTER (WHERE created_at > now() - interval '1 second') AS recent,
       coalesce(sum(amount), 0) AS today
FROM transfers WHERE from_id = $1 AND created_at > now() - interval '1 day'"""
REFUND_BASE = """
SELECT from_id, to_id, amount,
       (SELECT coalesce(sum(amount), 0) FROM transfers r WHERE r.refund_of = t.id) AS refunded
FROM transfers t WHERE id = $1 FOR UPDATE"""


def render(row: asyncpg.Record) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "idempotency_key": row["idempotency_key"],
        "from": row["from_id"],
        "to": row["to_id"],
        "amount": row["amount"],
        "currency": row["currency"],
        "status": "committed",
        "created_at": row["created_at"].isoformat(),
    }
    if row["refund_of"] is not None:
        out["refund_of"] = row["refund_of"]
    return out


class Unapplied(Exception):
    """ack_without_apply: carries the 201 answer of a transfer whose transaction is being rolled back."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__("acknowledged without applying")
        self.answer = answer


class Ledger:
    def __init__(self, db: Database, settings: Settings, count: Any) -> None:
        self.db, self.s, self._count = db, settings, count
        self._cache: dict[int, tuple[float, dict[str, Any]]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._seen: dict[tuple[int, str], None] = {}  # retry_wrong_amount: keys this process received

    # -- transfers ---------------------------------------------------------------------------------------
    async def transfer(self, req: TransferRequest) -> dict[str, Any]:
        if req.owner != req.source:
            raise ApiError(403, "not_owner", "only the owner of 'from' may transfer from it")
        if self.s.has("ack_before_commit"):
            return await self._ack_before_commit(req)  # type: ignore[no-any-return]
        if self.s.has("non_atomic"):
            return await self._non_atomic(req)  # type: ignore[no-any-return]
        bump = 0
        if self.s.has("retry_wrong_amount"):
            seen = (req.source, req.key)
            bump = 1 if seen in self._seen else 0
            self._seen[seen] = None
            while len(self._seen) > 100_000:
                self._seen.pop(next(iter(self._seen)))
        try:
            return await self.db.run(lambda conn, state: self._one_transaction(conn, state, req, bump))  # type: ignore[no-any-return]
        except Unapplied as defect:  # ack_without_apply: the transaction was rolled back
            return defect.answer

    async def _one_transaction(
        self, conn: asyncpg.Connection, state: dict[str, bool], req: TransferRequest, bump: int = 0
    ) -> Any:
        started = time.monotonic()
        async with conn.transaction():
            replay = await self._idempotency(conn, req)
            if replay is not None:
                return replay
            rows = await self._checks(conn, req)
            if self.s.has("lost_update"):
                row = await self._write_absolute(conn, req, rows)
            else:
                args = self._insert_args(req)
                if bump:  # retry_wrong_amount: the stored request hash stays the original's
                    args = (*args[:4], req.amount + bump, *args[5:])
                row = await conn.fetchrow(WRITE_ALL, *args)
            if self.s.has("ack_without_apply") and time.monotonic() - started > self.s.slow_db_s:
                raise Unapplied(render(row))  # rolls the transaction back, answers 201 anyway
            state["committing"] = True
        return render(row)

    async def _write_absolute(
        self, conn: asyncpg.Connection, req: TransferRequest, rows: dict[int, asyncpg.Record]
    ) -> asyncpg.Record:
        """lost_update: balances computed in Python from an unlocked read, written back as absolutes."""
        await asyncio.sleep(0.005)
        new_source = rows[req.source]["balance"] - req.amount
        new_target = rows[req.target]["balance"] + req.amount
        return await conn.fetchrow(WRITE_ABSOLUTE, *self._insert_args(req), new_source, new_target)

    def _insert_args(self, req: TransferRequest) -> tuple[Any, ...]:
        return (req.key, req.digest(), req.source, req.target, req.amount, req.currency, req.refund_of)

    async def _idempotency(self, conn: asyncpg.Connection, req: TransferRequest) -> dict[str, Any] | None:
        """Serialise one key (409 while another request holds it) and replay a stored result."""
        if self.s.has("double_apply"):
            return None
        # keys are scoped per paying account: another user's key is neither revealed nor blocked
        got = await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))",
            req.key,
            str(req.source),
        )
        if not got:
            raise ApiError(409, "idempotency_key_in_progress", "another request with this key is running")
        existing = await conn.fetchrow(FIND_OWN_KEY, req.key, req.source)
        if existing is None:
            return None
        if existing["request_hash"] != req.digest():
            raise ApiError(409, "idempotency_key_reused", "this key was used with a different request body")
        return render(existing)

    async def _checks(self, conn: asyncpg.Connection, req: TransferRequest) -> dict[int, asyncpg.Record]:
        query = READ_ACCOUNTS if self.s.has("lost_update") else LOCK_ACCOUNTS
        rows = {r["id"]: r for r in await conn.fetch(query, [req.source, req.target])}
        missing = [a for a in (req.source, req.target) if a not in rows]
        if missing:
            raise ApiError(404, "unknown_account", f"no account {missing[0]}")
        if rows[req.source]["locked"]:
            raise ApiError(423, "account_locked", "the source account is locked")
        if any(r["currency"] != req.currency for r in rows.values()):
            raise ApiError(422, "currency_mismatch", f"currency must be {rows[req.source]['currency']}")
        if req.refund_of is not None:
            await self._check_refund(conn, req)
        allowance = self.s.overdraft_limit if self.s.has("transient_overdraft") else 0
        if rows[req.source]["balance"] + allowance < req.amount:
            raise ApiError(422, "insufficient_funds", "balance is lower than the amount")
        await self._check_risk(conn, req)
        return rows

    async def _check_refund(self, conn: asyncpg.Connection, req: TransferRequest) -> None:
        base = await conn.fetchrow(REFUND_BASE, req.refund_of)
        if base is None:
            raise ApiError(404, "unknown_transfer", f"no transfer {req.refund_of} to refund")
        if (base["from_id"], base["to_id"]) != (req.target, req.source):
            raise ApiError(422, "refund_mismatch", "a refund goes from the payee back to the payer")
        if base["refunded"] + req.amount > base["amount"] and not self.s.has("over_refund"):
            raise ApiError(422, "refund_exceeds_original", "refunds would exceed the original amount")

    async def _check_risk(self, conn: asyncpg.Connection, req: TransferRequest) -> None:
        s = self.s
        if s.risk_max_per_transfer and req.amount > s.risk_max_per_transfer:
            self._risk("per_transfer")
        if not (s.risk_max_tps or s.risk_max_per_day):
            return
        stats = await conn.fetchrow(RISK, req.source)
        if s.risk_max_tps and stats["recent"] >= s.risk_max_tps:
            self._risk("frequency")
        if s.risk_max_per_day and stats["today"] + req.amount > s.risk_max_per_day:
            self._risk("daily_amount")

    def _risk(self, rule: str) -> None:
        self._count(rule)
        raise ApiError(429, "risk_limited", f"risk rule '{rule}' refused this transfer", rule=rule)

    # -- defect variants -----------------------------------------------------------------------------------
    async def _non_atomic(self, req: TransferRequest) -> Any:
        async def debit(conn: asyncpg.Connection, state: dict[str, bool]) -> Any:
            async with conn.transaction():
                replay = await self._idempotency(conn, req)
                if replay is not None:
                    return replay
                await self._checks(conn, req)
                row = await conn.fetchrow(INSERT_TRANSFER, *self._insert_args(req))
                await conn.execute(POST, row["id"], req.key, req.source, -req.amount)
                await conn.execute(
                    "UPDATE accounts SET balance = balance - $2 WHERE id = $1", req.source, req.amount
                )
                state["committing"] = True
            return render(row)

        async def credit(conn: asyncpg.Connection, state: dict[str, bool], out: dict[str, Any]) -> Any:
            async with conn.transaction():
                await conn.execute(POST, out["id"], req.key, req.target, req.amount)
                await conn.execute(
                    "UPDATE accounts SET balance = balance + $2 WHERE id = $1", req.target, req.amount
                )
                state["committing"] = True
            return out

        out = await self.db.run(debit)
        await asyncio.sleep(self.s.defect_gap_s)
        return await self.db.run(lambda conn, state: credit(conn, state, out))

    async def _ack_before_commit(self, req: TransferRequest) -> Any:
        assert self.db.pool is not None
        conn = await self.db.pool.acquire(timeout=self.s.acquire_timeout_s)
        tx = conn.transaction()
        try:
            await tx.start()
            replay = await self._idempotency(conn, req)
            if replay is None:
                await self._checks(conn, req)
                row = await conn.fetchrow(WRITE_ALL, *self._insert_args(req))
        except BaseException:
            await tx.rollback()
            await self.db.pool.release(conn)
            raise
        task = asyncio.create_task(self._commit_later(conn, tx))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return replay if replay is not None else render(row)

    async def _commit_later(self, conn: asyncpg.Connection, tx: Any) -> None:
        assert self.db.pool is not None
        try:
            await asyncio.sleep(self.s.defect_gap_s)
            await tx.commit()
        except Exception:
            conn.terminate()
        finally:
            await self.db.pool.release(conn)

    # -- reads ---------------------------------------------------------------------------------------------
    async def account(self, account_id: int) -> dict[str, Any]:
        if self.s.has("stale_read"):
            hit = self._cache.get(account_id)
            if hit and hit[0] > time.monotonic():
                return hit[1]
        row = await self.db.run(
            lambda conn, _: conn.fetchrow(
                "SELECT id, balance, currency, kind FROM accounts WHERE id=$1", account_id
            )
        )
        if row is None:
            raise ApiError(404, "not_found", f"no account {account_id}")
        out = dict(row)
        if self.s.has("stale_read"):
            self._cache[account_id] = (time.monotonic() + self.s.stale_cache_s, out)
        return out

    async def by_key(self, key: str, account: int | None = None) -> asyncpg.Record | None:
        """The transfer under ``key``: any (admin, ``account`` None) or one ``account`` paid or received."""
        row = await self.db.run(lambda conn, _: conn.fetchrow(FIND_KEY, key, account))
        return None if row is not None and self._hidden(row["id"]) else row

    def _hidden(self, transfer_id: int) -> bool:
        return self.s.has("audit_lies") and transfer_id % 7 == 0

    async def snapshot(self) -> dict[str, Any]:
        async def read(conn: asyncpg.Connection, _: Any) -> dict[str, Any]:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                await conn.execute(LONG_STATEMENTS)
                as_of = await conn.fetchval("SELECT now()")
                rows = await conn.fetch(LYING_SNAPSHOT if self.s.has("audit_lies") else SNAPSHOT)
            accounts = [dict(r) for r in rows]
            return {
                "as_of": as_of.isoformat(),
                "total": sum(a["balance"] for a in accounts),
                "accounts": accounts,
            }

        return await self.db.run(read, deadline_s=AUDIT_DEADLINE_S)  # type: ignore[no-any-return]

    async def ledger_lines(self) -> list[bytes]:
        async def read(conn: asyncpg.Connection, _: Any) -> list[bytes]:
            async with conn.transaction(readonly=True):
                await conn.execute(LONG_STATEMENTS)
                rows = await conn.fetch(LYING_LEDGER if self.s.has("audit_lies") else LEDGER)
            return [
                json.dumps(
                    {
                        "seq": r["seq"],
                        "transfer_id": r["transfer_id"],
                        "idempotency_key": r["idempotency_key"],
                        "account": r["account_id"],
                        "delta": r["delta"],
                        "created_at": r["created_at"].isoformat(),
                    }
                ).encode()
                + b"\n"
                for r in rows
            ]

        return await self.db.run(read, deadline_s=AUDIT_DEADLINE_S)  # type: ignore[no-any-return]
