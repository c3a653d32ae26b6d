"""The HTTP surface: wallet contract v1 (see ../shared/DESIGN.md), served with its OpenAPI document."""

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .accounts import Accounts
from .auth import Session, TokenSigner
from .config import VERSION, Settings
from .db import Database
from .errors import ApiError, CommitUnknown
from .fastpath import Handler, TransferFastPath
from .ledger import Ledger, TransferRequest, render

log = logging.getLogger("reference_wallet")


MAX_INT = 2**53
"""Upper bound of every id and amount: exact in any JSON number (a double), far beyond real money and ids;
PostgreSQL's bigint holds it, so nothing a client can send overflows into a server error."""
KEY_MAX = 64
"""Longest Idempotency-Key (contract v1)."""
NO_NUL = r"^[^\x00]*$"
"""PostgreSQL text cannot hold NUL: refused as a 400 up front instead of failing in the database."""


def _integral(value: Any) -> Any:
    """JSON does not tell 433 from 433.0 (JSON Schema calls both integers): an integral float is taken as
    its integer when it is exact (|v| <= 2^53); anything else stays for StrictInt to refuse."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


Integer = Annotated[StrictInt, BeforeValidator(_integral)]
PositiveId = Annotated[StrictInt, Field(gt=0, le=MAX_INT), BeforeValidator(_integral)]
"""(Field before the validator: the other order leaves pydantic's own ``gt``/``le`` in the JSON schema.)"""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """Every definite failure: ``{"error": "<code>", "detail": "..."}`` (contract v1)."""

    error: str
    detail: str


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a call may answer, all in the contract's shape."""
    return {status: {"model": ErrorBody, "description": ERROR_TEXT[status]} for status in statuses}


ERROR_TEXT = {
    400: "invalid request (field, header or body)",
    401: "missing, invalid or expired token, or wrong credentials",
    403: "not the owner",
    404: "no such account or transfer",
    409: "idempotency key in progress, reused with another body, or username taken",
    411: "a body without Content-Length",
    413: "body too large",
    422: "well-formed but refused by the wallet's rules: insufficient_funds, same_account, "
    "currency_mismatch, amount_too_large, amount_out_of_range, refund_mismatch, refund_exceeds_original",
    423: "account locked",
    429: "refused by a risk limit",
    500: "commit outcome unknown (the database failed during COMMIT)",
    503: "database unavailable: nothing was applied",
}
WRITE_ERRORS = (400, 411, 413, 500, 503)


class NewAccount(Strict):
    username: StrictStr = Field(min_length=1, max_length=64, pattern=NO_NUL)
    password: StrictStr = Field(min_length=1, max_length=128, pattern=NO_NUL)
    balance: Integer = Field(ge=0, le=MAX_INT)
    kind: Literal["user", "merchant"] = "user"


class NewAccounts(Strict):
    accounts: list[NewAccount] = Field(min_length=1, max_length=500)


class Login(Strict):
    username: StrictStr = Field(min_length=1, max_length=64, pattern=NO_NUL)
    password: StrictStr = Field(min_length=1, max_length=128, pattern=NO_NUL)


class TransferIn(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    source: Integer = Field(alias="from", gt=0, le=MAX_INT)
    target: Integer = Field(alias="to", gt=0, le=MAX_INT)
    amount: Integer = Field(gt=0, le=MAX_INT)
    currency: StrictStr = Field(min_length=3, max_length=3, pattern=NO_NUL)
    refund_of: PositiveId | None = None


AccountId = Annotated[int, PathParam(gt=0, le=MAX_INT)]
Key = Annotated[str, PathParam(min_length=1, max_length=64, pattern=NO_NUL)]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "wallet_requests", "Requests by endpoint and status", ["endpoint", "status"], registry=r
        )
        self.latency = Histogram("wallet_request_seconds", "Request latency", ["endpoint"], registry=r)
        self.db_errors = Counter("wallet_db_errors", "Database errors by kind", ["kind"], registry=r)
        self.risk = Counter("wallet_risk_limited", "Transfers refused by a risk rule", ["rule"], registry=r)
        self.pool_size = Gauge("wallet_pool_connections", "Open pool connections", registry=r)
        self.pool_idle = Gauge("wallet_pool_idle_connections", "Idle pool connections", registry=r)


def create_app(settings: Settings) -> FastAPI:
    metrics = Metrics()
    db = Database(settings, on_error=lambda kind: metrics.db_errors.labels(kind).inc())
    signer = TokenSigner(settings.admin_token, settings.token_ttl_s)
    ledger = Ledger(db, settings, lambda rule: metrics.risk.labels(rule).inc())
    accounts = Accounts(db, settings, signer)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        log.info("reference wallet %s, defects: %s", VERSION, ", ".join(sorted(settings.defects)) or "none")
        await db.start()
        # The start-up heap (modules, FastAPI, the pool) out of the cyclic collector's sight: a full
        # collection then walks ~5k objects instead of ~70k, a stop of ~8 ms instead of ~60 ms for every
        # request in flight (measured at 300 requests/s a replica).
        gc.collect()
        gc.freeze()
        migrator = asyncio.create_task(db.migrate_forever())
        yield
        migrator.cancel()
        await db.close()

    app = FastAPI(title="walletchaos reference wallet", version=VERSION, lifespan=lifespan)
    handlers = _install_handlers(app)

    def verified(token: str) -> Session | None:
        return signer.verify(token, check_signature=not settings.has("accept_tampered_token"))

    async def bearer(authorization: Annotated[str | None, Header()] = None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "unauthorized", "missing bearer token")
        return token

    async def session(token: Annotated[str, Depends(bearer)]) -> Session:
        found = verified(token)
        if found is None:
            raise ApiError(401, "unauthorized", "invalid or expired session token")
        return found

    async def admin(token: Annotated[str, Depends(bearer)]) -> None:
        if not signer.is_admin(token):
            raise ApiError(401, "unauthorized", "admin token required")

    async def caller(token: Annotated[str, Depends(bearer)]) -> Session | None:
        """Admin (None) or a user session."""
        return None if signer.is_admin(token) else await session(token)

    @app.post(
        "/v1/admin/accounts",
        status_code=201,
        dependencies=[Depends(admin)],
        responses=errors(401, 409, *WRITE_ERRORS),
    )
    async def create_accounts(body: NewAccounts) -> dict[str, Any]:
        return {"accounts": await accounts.create([a.model_dump() for a in body.accounts])}

    @app.post("/v1/sessions", status_code=201, responses=errors(401, 423, *WRITE_ERRORS))
    async def login(body: Login) -> dict[str, Any]:
        return await accounts.login(body.username, body.password)

    @app.get("/v1/accounts/{account_id}", responses=errors(400, 401, 403, 404, 503))
    async def get_account(
        account_id: AccountId, who: Annotated[Session | None, Depends(caller)]
    ) -> JSONResponse:
        if who is not None and who.account_id != account_id:
            raise ApiError(403, "not_owner", "only the owner may read this account")
        return JSONResponse(await ledger.account(account_id))

    @app.post(
        "/v1/transfers",
        status_code=201,
        responses=errors(401, 403, 404, 409, 422, 423, 429, *WRITE_ERRORS),
    )
    async def transfer(
        body: TransferIn,
        who: Annotated[Session, Depends(session)],
        idempotency_key: Annotated[str, Header(min_length=1, max_length=KEY_MAX, pattern=NO_NUL)],
    ) -> JSONResponse:
        return await make_transfer(body, who, idempotency_key)

    async def make_transfer(body: TransferIn, who: Session, idempotency_key: str) -> JSONResponse:
        """The endpoint, also called by the fast path (fastpath.py) with the arguments FastAPI would give."""
        if body.source == body.target:
            raise ApiError(422, "same_account", "'from' and 'to' must differ")
        if body.amount > settings.max_amount:
            raise ApiError(422, "amount_too_large", f"amount must be at most {settings.max_amount}")
        req = TransferRequest(
            idempotency_key,
            who.account_id,
            body.source,
            body.target,
            body.amount,
            body.currency,
            body.refund_of,
        )
        # a JSONResponse skips FastAPI's validation of a dict answer: a tenth of a transfer's CPU
        return JSONResponse(await ledger.transfer(req), status_code=201)

    fast = TransferFastPath(TransferIn, verified, make_transfer, handlers, _route(app, transfer), KEY_MAX)
    app.add_middleware(LimitAndCount, settings=settings, metrics=metrics, fast=fast)

    @app.get("/v1/transfers/by-key/{key}", responses=errors(400, 401, 404, 503))
    async def by_key(key: Key, who: Annotated[Session | None, Depends(caller)]) -> dict[str, Any]:
        row = await ledger.by_key(key, None if who is None else who.account_id)
        if row is None:
            raise ApiError(404, "not_found", "no transfer with this key")
        return render(row)

    @app.get("/v1/audit/snapshot", dependencies=[Depends(admin)], responses=errors(401, 503))
    async def snapshot() -> dict[str, Any]:
        return await ledger.snapshot()

    @app.get(
        "/v1/audit/ledger",
        dependencies=[Depends(admin)],
        response_class=StreamingResponse,
        responses={
            200: {"description": "one posting per line", "content": {"application/x-ndjson": {}}},
            **errors(401, 503),
        },
    )
    async def audit_ledger() -> StreamingResponse:
        return StreamingResponse(await ledger.ledger_chunks(), media_type="application/x-ndjson")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={503: {"description": "the database is not reachable"}})
    async def readyz() -> JSONResponse:
        ok = await db.probe()
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/version")
    async def version() -> dict[str, Any]:
        return {"version": VERSION, "defects": sorted(settings.defects)}

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"description": "Prometheus text", "content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def prometheus() -> Response:
        if db.pool is not None:
            metrics.pool_size.set(db.pool.get_size())
            metrics.pool_idle.set(db.pool.get_idle_size())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _field(loc: Any) -> str:
    """A validation error's field as a client wrote it: ``accounts.0.balance``, ``Idempotency-Key``."""
    parts = [str(p) for p in loc]
    if parts[:1] == ["header"] and len(parts) > 1:
        return "-".join(w.capitalize() for w in parts[1].split("-"))
    return ".".join(p for p in parts if p not in ("body", "path", "query")) or "body"


def _route(app: FastAPI, endpoint: Any) -> APIRoute:
    return next(r for r in app.routes if isinstance(r, APIRoute) and r.endpoint is endpoint)


def _install_handlers(app: FastAPI) -> dict[type[Exception], Handler]:
    """The contract's error answers; returned too, for the fast path's exceptions."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(CommitUnknown)
    async def commit_unknown(_: Request, exc: CommitUnknown) -> JSONResponse:
        body = {"error": "commit_unknown", "detail": "the database failed during commit; outcome unknown"}
        return JSONResponse(body, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Unknown routes and methods answer in the contract's error shape too."""
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        body = {"error": code, "detail": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(asyncpg.exceptions.DataError)
    async def data_error(_: Request, exc: asyncpg.exceptions.DataError) -> JSONResponse:
        """A value the database cannot hold (a credit beyond a 64-bit balance): definite, nothing applied."""
        if isinstance(exc, asyncpg.exceptions.NumericValueOutOfRangeError):
            body = {"error": "amount_out_of_range", "detail": "a balance would leave the 64-bit range"}
            return JSONResponse(body, status_code=422)
        return JSONResponse({"error": "invalid_request", "detail": str(exc)[:200]}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{_field(e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": "invalid_request", "detail": detail}, status_code=400)

    return {cls: handler for cls, handler in app.exception_handlers.items() if isinstance(cls, type)}


class LimitAndCount:
    """Body limits (413, 411 for chunked bodies) before the app reads anything, and per-endpoint request
    metrics. Plain ASGI: Starlette's ``@app.middleware("http")`` runs every request in an extra task group
    and stream (measured: about a tenth of a transfer's CPU)."""

    def __init__(self, app: ASGIApp, settings: Settings, metrics: Metrics, fast: TransferFastPath) -> None:
        self.app, self.settings, self.metrics, self.fast = app, settings, metrics, fast

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        s = self.settings
        limit = s.max_admin_body_bytes if scope["path"].startswith("/v1/admin/") else s.max_body_bytes
        status = 500
        refusal: JSONResponse | None = None
        if length is not None and (not length.isdigit() or int(length) > limit):
            refusal = JSONResponse({"error": "payload_too_large", "detail": f"body over {limit} bytes"}, 413)
        elif (
            length is None
            and scope["method"] in ("POST", "PUT", "PATCH")
            and b"chunked" in headers.get(b"transfer-encoding", b"")
        ):
            refusal = JSONResponse({"error": "length_required", "detail": "send Content-Length"}, 411)

        reason = b""

        async def counted(message: Message) -> None:
            nonlocal status, reason
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status >= 300 and not reason:
                reason = message.get("body", b"")[:160]  # the error document: {"error": ..., "detail": ...}
            await send(message)

        try:
            if refusal is not None:
                await refusal(scope, receive, counted)
            elif self.fast.takes(scope):
                await self.fast(self.app, scope, receive, counted)
            else:
                await self.app(scope, receive, counted)
        finally:
            endpoint = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(endpoint, str(status)).inc()
            elapsed = time.perf_counter() - started
            self.metrics.latency.labels(endpoint).observe(elapsed)
            if not 200 <= status < 300:  # the access log: one line per non-2xx answer, with its reason
                log.info(
                    "%s %r %d %.1fms %r",
                    scope["method"],
                    scope["path"],
                    status,
                    elapsed * 1000,
                    reason.decode("utf-8", "replace"),
                )
