"""Accounts and sessions: admin creation, login with lockout after repeated failures."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import asyncpg

from .auth import TokenSigner, hash_password, verify_password
from .config import Settings
from .db import Database
from .errors import ApiError

LOGIN_ROW = """
SELECT id, password_hash, extract(epoch FROM locked_until - now()) AS locked_for
FROM accounts WHERE username = $1"""


RECENT_FAILURES = (
    "SELECT count(*) FROM login_failures WHERE account_id=$1 AND at > now() - make_interval(secs => $2)"
)


class Accounts:
    def __init__(self, db: Database, settings: Settings, signer: TokenSigner) -> None:
        self.db, self.s, self.signer = db, settings, signer
        self._dummy_hash = hash_password("not-a-real-password", settings.kdf_log2_n)

    async def create(self, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = [a["username"] for a in specs]
        if len(set(names)) != len(names):
            twice = next(n for n in names if names.count(n) > 1)
            raise ApiError(409, "username_taken", f"username '{twice}' appears twice in this request")
        hashes = await asyncio.gather(
            *(asyncio.to_thread(hash_password, a["password"], self.s.kdf_log2_n) for a in specs)
        )
        rows = [
            (a["username"], h, a["kind"], self.s.currency, a["balance"])
            for a, h in zip(specs, hashes, strict=True)
        ]

        async def insert(conn: asyncpg.Connection, state: dict[str, bool]) -> list[dict[str, Any]]:
            async with conn.transaction():
                taken = await conn.fetch(
                    "SELECT username FROM accounts WHERE username = ANY($1::text[])", names
                )
                if taken:
                    raise ApiError(409, "username_taken", f"username '{taken[0]['username']}' is taken")
                out = [
                    dict(
                        await conn.fetchrow(
                            "INSERT INTO accounts (username, password_hash, kind, currency, balance)"
                            " VALUES ($1, $2, $3, $4, $5) RETURNING id, username",
                            *row,
                        )
                    )
                    for row in rows
                ]
                state["committing"] = True
            return out

        return await self.db.run(insert, deadline_s=60.0)  # type: ignore[no-any-return]

    async def login(self, username: str, password: str) -> dict[str, Any]:
        row = await self.db.run(lambda conn, _: conn.fetchrow(LOGIN_ROW, username))
        if row is None:  # the same work as a wrong password (KDF, then a transaction): no user oracle
            await asyncio.to_thread(verify_password, password, self._dummy_hash)
            await self.db.run(lambda conn, state: self._settle_nobody(conn))
            raise ApiError(401, "invalid_credentials", "wrong username or password")
        if row["locked_for"] is not None and row["locked_for"] > 0:
            raise self._locked(float(row["locked_for"]))
        good = await asyncio.to_thread(verify_password, password, row["password_hash"])
        # the KDF takes a while: re-check the lock under the row lock, or a lock set meanwhile is bypassed
        await self.db.run(lambda conn, state: self._settle(conn, state, row["id"], good))
        if not good:
            raise ApiError(401, "invalid_credentials", "wrong username or password")
        return {
            "token": self.signer.issue(row["id"]),
            "account_id": row["id"],
            "expires_in": self.signer.ttl_s,
        }

    async def _settle(
        self, conn: asyncpg.Connection, state: dict[str, bool], account_id: int, good: bool
    ) -> None:
        """Under the account row lock: refuse if locked meanwhile; reset the count on success; on failure
        count it and lock the account at the threshold (starting a new count)."""
        async with conn.transaction():
            locked_for = await conn.fetchval(
                "SELECT extract(epoch FROM locked_until - now()) FROM accounts WHERE id=$1 FOR UPDATE",
                account_id,
            )
            if locked_for is not None and locked_for > 0:
                raise self._locked(float(locked_for))
            if good:
                await conn.execute("DELETE FROM login_failures WHERE account_id=$1", account_id)
            else:
                await self._count_failure(conn, account_id)
            state["committing"] = True

    async def _settle_nobody(self, conn: asyncpg.Connection) -> None:
        """As many round trips as ``_settle`` for a failure, touching nothing."""
        async with conn.transaction():
            await conn.fetchval("SELECT 1 FROM accounts WHERE id = 0 FOR UPDATE")
            await conn.fetchval("SELECT 0")
            await conn.fetchval(RECENT_FAILURES, 0, self.s.lockout_window_s)

    async def _count_failure(self, conn: asyncpg.Connection, account_id: int) -> None:
        await conn.execute("INSERT INTO login_failures (account_id) VALUES ($1)", account_id)
        failures = await conn.fetchval(RECENT_FAILURES, account_id, self.s.lockout_window_s)
        if failures >= self.s.lockout_threshold and not self.s.has("no_lockout"):
            await conn.execute(
                "UPDATE accounts SET locked_until = now() + make_interval(secs => $2) WHERE id=$1",
                account_id,
                10 * 365 * 86400.0 if self.s.has("lock_never_released") else self.s.lockout_duration_s,
            )
            await conn.execute("DELETE FROM login_failures WHERE account_id=$1", account_id)

    @staticmethod
    def _locked(seconds: float) -> ApiError:
        retry = max(1, math.ceil(seconds))
        return ApiError(
            423, "account_locked", f"too many failed logins; retry in {retry}s", retry_after=retry
        )
