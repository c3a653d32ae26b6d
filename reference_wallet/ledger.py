"""Money operations: transfers (the correct path and the defect variants), reads, audit.

The correct transfer is ONE transaction holding ONE statement, ``wallet_transfer`` (sql/002_transfer.sql):
per-key advisory lock, idempotency lookup, the payer's row locked (the payee is credited in one of its
credit slots, so a hot merchant does not serialize payments), refund, funds and risk checks, then the
transfer, both ledger postings (summing to zero) and both balances. The statement is its own transaction,
one round trip (a refusal writes nothing). The defect catalog turns the function's knobs or splits the
transaction; it never has a second copy of the rules. A balance is read from the ``account_balances`` view
everywhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg

from .config import Settings
from .db import Database
from .errors import ApiError

AUDIT_DEADLINE_S = 60.0  # audit reads scan whole tables: they get their own, longer deadline
LEDGER = """
SELECT json_build_object('seq', seq, 'transfer_id', transfer_id, 'idempotency_key', idempotency_key,
                         'account', account_id, 'delta', delta, 'created_at', created_at)::text
FROM ledger ORDER BY seq"""
"""One NDJSON line per posting, rendered by PostgreSQL (no per-row Python objects beyond one str)."""
LEDGER_BATCH = 5_000
SNAPSHOT = "SELECT id, balance FROM account_balances ORDER BY id"
"""account_balances (sql/001_schema.sql): an account's row plus its credit slots, the one definition."""
# audit_lies: hide transfers with id % 7 = 0 from the ledger and take their deltas out of the balances
LYING_LEDGER = LEDGER.replace("ORDER BY", "WHERE transfer_id % 7 <> 0 ORDER BY")
LYING_SNAPSHOT = """
SELECT a.id, (a.balance - coalesce(h.d, 0))::bigint AS balance FROM account_balances a
LEFT JOIN (SELECT account_id, sum(delta) AS d FROM ledger WHERE transfer_id % 7 = 0 GROUP BY account_id) h
ON h.account_id = a.id ORDER BY a.id"""
ACCOUNT = "SELECT id, balance, currency, kind FROM account_balances WHERE id = $1"
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


TRANSFER = "SELECT outcome, detail, t FROM wallet_transfer(" + ", ".join(f"${i}" for i in range(1, 17)) + ")"
"""sql/002_transfer.sql: the whole transfer in one statement (the caller's transaction commits it)."""
CREDIT_LEG = """
WITH l AS (INSERT INTO ledger (transfer_id, idempotency_key, account_id, delta) VALUES ($1, $2, $3, $4))
UPDATE accounts SET balance = balance + $4 WHERE id = $3"""
FIND_KEY = """
SELECT id, idempotency_key, request_hash, from_id, to_id, amount, currency, refund_of, created_at
FROM transfers WHERE idempotency_key = $1 AND ($2::bigint IS NULL OR from_id = $2 OR to_id = $2)
ORDER BY (from_id = $2) DESC NULLS LAST, id LIMIT 1"""
REFUSALS = {
    "idempotency_key_in_progress": (409, "another request with this key is running"),
    "idempotency_key_reused": (409, "this key was used with a different request body"),
    "unknown_account": (404, "no account {detail}"),
    "account_locked": (423, "the source account is locked"),
    "currency_mismatch": (422, "currency must be {detail}"),
    "unknown_transfer": (404, "no transfer {refund_of} to refund"),
    "refund_mismatch": (422, "a refund goes from the payee back to the payer"),
    "refund_exceeds_original": (422, "refunds would exceed the original amount"),
    "insufficient_funds": (422, "balance is lower than the amount"),
}


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
        if not self.s.has("ack_without_apply"):
            # One round trip: the statement is its own transaction (PostgreSQL commits it before answering;
            # a refusal wrote nothing). Once it is sent, a failure may follow its commit: unknown (500).
            state["committing"] = True
            return await self._decide(conn, req, bump)
        started = time.monotonic()
        async with conn.transaction():
            answer = await self._decide(conn, req, bump)
            if time.monotonic() - started > self.s.slow_db_s:
                raise Unapplied(answer)  # rolls the transaction back, answers 201 anyway
            state["committing"] = True
        return answer

    async def _decide(
        self, conn: asyncpg.Connection, req: TransferRequest, bump: int = 0, legs: str = "both"
    ) -> dict[str, Any]:
        """The transfer's statement in the caller's transaction: its answer, or the refusal raised."""
        s = self.s
        row = await conn.fetchrow(
            TRANSFER,
            req.key,
            req.digest(),
            req.source,
            req.target,
            req.amount,
            req.currency,
            req.refund_of,
            s.risk_max_per_transfer,
            s.risk_max_tps,
            s.risk_max_per_day,
            req.amount + bump,
            not s.has("double_apply"),
            not s.has("lost_update"),
            s.overdraft_limit if s.has("transient_overdraft") else 0,
            not s.has("over_refund"),
            legs,
        )
        outcome = row["outcome"]
        if outcome in ("ok", "replay"):
            return render(row["t"])
        if outcome == "risk_limited":
            self._count(row["detail"])
            raise ApiError(
                429, "risk_limited", f"risk rule '{row['detail']}' refused this transfer", rule=row["detail"]
            )
        status, text = REFUSALS[outcome]
        raise ApiError(status, outcome, text.format(detail=row["detail"], refund_of=req.refund_of))

    # -- defect variants -----------------------------------------------------------------------------------
    async def _non_atomic(self, req: TransferRequest) -> Any:
        async def debit(conn: asyncpg.Connection, state: dict[str, bool]) -> Any:
            async with conn.transaction():
                answer = await self._decide(conn, req, legs="debit")
                state["committing"] = True
            return answer

        async def credit(conn: asyncpg.Connection, state: dict[str, bool], out: dict[str, Any]) -> Any:
            async with conn.transaction():
                await conn.execute(CREDIT_LEG, out["id"], req.key, req.target, req.amount)
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
            answer = await self._decide(conn, req)
        except BaseException:
            await tx.rollback()
            await self.db.pool.release(conn)
            raise
        task = asyncio.create_task(self._commit_later(conn, tx))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return answer

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
        row = await self.db.run(lambda conn, _: conn.fetchrow(ACCOUNT, account_id))
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

    async def ledger_chunks(self) -> AsyncIterator[bytes]:
        """The ledger as NDJSON chunks of LEDGER_BATCH postings, from one snapshot through a server-side
        cursor: memory stays bounded whatever the ledger's size. Opening it (and the first batch) raises a
        503 when the database cannot answer; a failure later cuts the stream short (the client sees an
        incomplete chunked body, never a shorter ledger that looks complete)."""
        batches = await self.db.stream(
            LYING_LEDGER if self.s.has("audit_lies") else LEDGER, LEDGER_BATCH, AUDIT_DEADLINE_S
        )

        async def chunks() -> AsyncIterator[bytes]:
            async for rows in batches:
                yield ("\n".join(r[0] for r in rows) + "\n").encode()

        return chunks()
