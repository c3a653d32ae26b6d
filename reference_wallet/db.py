"""PostgreSQL access: a bounded pool with timeouts, migrations that retry until the database is there,
and one helper that turns every database failure into a definite 503 or an honest "unknown"."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import asyncpg

from .config import Settings
from .errors import ApiError, CommitUnknown, unavailable

log = logging.getLogger("reference_wallet.db")

DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.QueryCanceledError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's default reset (advisory unlock all, CLOSE ALL, UNLISTEN, RESET
    ALL: one more round trip per request). Nothing here leaves session state behind: advisory locks are
    transaction-scoped, settings are ``SET LOCAL``, the migration's session lock is released in ``finally``
    and a connection that saw an error is terminated. asyncpg still rolls back an open transaction."""


def _schema_sql() -> str:
    """Every file of sql/ in name order (001_schema.sql, 002_transfer.sql, ...)."""
    folder = resources.files("reference_wallet").joinpath("sql")
    return "\n".join(
        f.read_text() for f in sorted(folder.iterdir(), key=lambda f: f.name) if f.name.endswith(".sql")
    )


class Database:
    """Owns the pool. ``ready`` is true once migrations ran and the last probe reached the database."""

    def __init__(self, settings: Settings, on_error: Any = None) -> None:
        self.s = settings
        self.pool: asyncpg.Pool | None = None
        self.migrated = False
        self._on_error = on_error or (lambda kind: None)
        self._abandoned: set[asyncio.Future[Any]] = set()

    async def start(self) -> None:
        slow = self.s.has("no_db_timeouts")
        server_settings = {"application_name": "reference_wallet"}
        if not slow:
            server_settings |= {
                "statement_timeout": str(self.s.statement_timeout_ms),
                "lock_timeout": str(self.s.lock_timeout_ms),
                "idle_in_transaction_session_timeout": "10000",
            }
        self.pool = await asyncpg.create_pool(
            self.s.database_url,
            min_size=0,
            max_size=self.s.pool_size,
            timeout=3600 if slow else self.s.connect_timeout_s,
            command_timeout=None,  # the per-request deadline in run() bounds every call instead
            server_settings=server_settings,
            max_inactive_connection_lifetime=30,
            reset=_keep_session,
        )

    async def migrate_forever(self, interval_s: float = 0.5) -> None:
        """Apply the schema, retrying until the database answers (the wallet starts while it is down)."""
        while not self.migrated:
            try:
                async with self.connection() as conn:
                    await conn.execute("SELECT pg_advisory_lock(815)")
                    try:
                        await conn.execute(_schema_sql())
                    finally:
                        await conn.execute("SELECT pg_advisory_unlock(815)")
                await self._warm()
                self.migrated = True
                log.info("schema ready")
            except Exception as exc:  # any failure: keep trying, readiness stays false
                log.warning("migration waiting for database: %s", exc.__class__.__name__)
                await asyncio.sleep(interval_s)

    async def _warm(self) -> None:
        """Open the pool's connections before readiness says yes: a replica that joins under load (restarted
        behind the balancer) would otherwise open them all inside requests' acquire timeouts and answer
        503 for its first second (measured: ~30 requests of the smoke's replica restart)."""
        assert self.pool is not None
        held = []
        try:
            for _ in range(self.s.pool_size):
                held.append(await self.pool.acquire(timeout=self.s.connect_timeout_s * 5))
        except Exception as exc:  # a cold pool is slower, not wrong: readiness does not wait on it
            log.warning("pool warm-up stopped after %d connection(s): %s", len(held), exc.__class__.__name__)
        finally:
            for conn in held:
                await self.pool.release(conn)

    async def close(self) -> None:
        if self.pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.pool.close(), 2)

    async def probe(self) -> bool:
        """Readiness: migrated and the database answers within the request deadline (never hangs)."""

        async def ping() -> None:
            async with self.connection() as conn:
                await conn.fetchval("SELECT 1")

        try:
            await self._within(ping(), self.s.request_deadline_s)
            return self.migrated
        except Exception:
            return False

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; a connection that saw an error is terminated, never reused half-broken. A
        refusal (ApiError: insufficient funds, a conflict...) is an answer the statement gave, not an error of
        the connection: it goes back to the pool. (Terminating it cost a reconnect per refusal: in a soak
        whose users ran low on funds, 422s churned ~10 connections a second and p99 rose to 1.8 s.)"""
        assert self.pool is not None
        timeout = None if self.s.has("no_db_timeouts") else self.s.acquire_timeout_s
        conn = await self.pool.acquire(timeout=timeout)
        try:
            yield conn
        except ApiError:
            raise
        except BaseException:
            conn.terminate()
            raise
        finally:
            await self.pool.release(conn)

    async def _within(self, work: Any, deadline_s: float) -> Any:
        """``work`` within the deadline, WITHOUT waiting for it to finish cancelling: a query in flight when
        the link went dark cancels by opening another connection to the server, which hangs too, and
        ``wait_for`` would wait for that (measured: 2 s answers during a blackhole). The abandoned task
        terminates its connection when its cancellation lands."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=deadline_s)
        if task in done:
            return task.result()
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(self._forget)
        raise TimeoutError

    def _forget(self, task: asyncio.Future[Any]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned query's error is not "never retrieved"

    async def stream(self, query: str, batch: int, deadline_s: float) -> AsyncIterator[list[Any]]:
        """Batches of ``query``'s rows through a server-side cursor in one read-only REPEATABLE READ
        transaction (one snapshot). Opening it and the first batch run under the deadline with run()'s
        mapping to a 503, so nothing is sent when the database cannot answer; each later batch gets the
        deadline too. The connection is held until the last batch (or the reader going away)."""
        if not self.migrated:
            raise unavailable("database not ready")
        assert self.pool is not None
        pool = self.pool

        async def open_cursor() -> tuple[asyncpg.Connection, Any, list[Any]]:
            conn = await pool.acquire(timeout=self.s.acquire_timeout_s)
            try:
                await conn.execute(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
                    f"SET LOCAL statement_timeout = {int(deadline_s * 1000)}"
                )
                cursor = await conn.cursor(query)
                return conn, cursor, await cursor.fetch(batch)
            except BaseException:
                conn.terminate()
                await pool.release(conn)
                raise

        try:
            conn, cursor, first = await self._within(open_cursor(), deadline_s)
        except DB_ERRORS as exc:
            self._on_error(exc.__class__.__name__)
            raise unavailable(f"database unavailable ({exc.__class__.__name__})") from exc

        async def batches() -> AsyncIterator[list[Any]]:
            try:
                rows = first
                while rows:
                    yield rows
                    rows = await self._within(cursor.fetch(batch), deadline_s) if len(rows) == batch else []
                await conn.execute("COMMIT")
            except BaseException:
                conn.terminate()
                raise
            finally:
                await pool.release(conn)

        return batches()

    async def run(self, work: Any, deadline_s: float | None = None) -> Any:
        """Run ``work(conn)`` under the request deadline, mapping failures to definite or unknown outcomes.

        ``work`` sets ``state["committing"] = True`` right before COMMIT: a failure after that point may have
        committed, so it raises CommitUnknown (500) instead of a 503 that would claim nothing was applied.
        """
        if not self.migrated:
            raise unavailable("database not ready")
        state = {"committing": False}

        async def attempt() -> Any:
            async with self.connection() as conn:
                return await work(conn, state)

        try:
            if self.s.has("no_db_timeouts"):
                return await attempt()
            return await self._within(attempt(), deadline_s or self.s.request_deadline_s)
        except DB_ERRORS as exc:
            self._on_error(exc.__class__.__name__)
            if state["committing"]:
                raise CommitUnknown(str(exc)) from exc
            raise unavailable(f"database unavailable ({exc.__class__.__name__})") from exc
