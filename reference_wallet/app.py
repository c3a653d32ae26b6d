"""The HTTP surface: wallet contract v1 (see ../shared/DESIGN.md), served with its OpenAPI document."""

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from .accounts import Accounts
from .auth import Session, TokenSigner
from .config import VERSION, Settings
from .db import Database
from .errors import ApiError, CommitUnknown
from .ledger import Ledger, TransferRequest, render

log = logging.getLogger("reference_wallet")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewAccount(Strict):
    username: StrictStr = Field(min_length=1, max_length=64)
    password: StrictStr = Field(min_length=1, max_length=128)
    balance: StrictInt = Field(ge=0)
    kind: Literal["user", "merchant"] = "user"


class NewAccounts(Strict):
    accounts: list[NewAccount] = Field(min_length=1, max_length=5000)


class Login(Strict):
    username: StrictStr = Field(min_length=1, max_length=64)
    password: StrictStr = Field(min_length=1, max_length=128)


class TransferIn(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    source: StrictInt = Field(alias="from", gt=0)
    target: StrictInt = Field(alias="to", gt=0)
    amount: StrictInt = Field(gt=0)
    currency: StrictStr = Field(min_length=3, max_length=3)
    refund_of: StrictInt | None = Field(default=None, gt=0)


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
        await db.start()
        migrator = asyncio.create_task(db.migrate_forever())
        yield
        migrator.cancel()
        await db.close()

    app = FastAPI(title="walletchaos reference wallet", version=VERSION, lifespan=lifespan)
    _install_handlers(app, settings, metrics)

    def bearer(authorization: Annotated[str | None, Header()] = None) -> str:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "unauthorized", "missing bearer token")
        return token

    def session(token: Annotated[str, Depends(bearer)]) -> Session:
        found = signer.verify(token)
        if found is None:
            raise ApiError(401, "unauthorized", "invalid or expired session token")
        return found

    def admin(token: Annotated[str, Depends(bearer)]) -> None:
        if not signer.is_admin(token):
            raise ApiError(401, "unauthorized", "admin token required")

    def caller(token: Annotated[str, Depends(bearer)]) -> Session | None:
        """Admin (None) or a user session."""
        return None if signer.is_admin(token) else session(token)

    @app.post("/v1/admin/accounts", status_code=201, dependencies=[Depends(admin)])
    async def create_accounts(body: NewAccounts) -> dict[str, Any]:
        return {"accounts": await accounts.create([a.model_dump() for a in body.accounts])}

    @app.post("/v1/sessions", status_code=201)
    async def login(body: Login) -> dict[str, Any]:
        return await accounts.login(body.username, body.password)

    @app.get("/v1/accounts/{account_id}")
    async def get_account(account_id: int, who: Annotated[Session | None, Depends(caller)]) -> dict[str, Any]:
        if who is not None and who.account_id != account_id:
            raise ApiError(403, "not_owner", "only the owner may read this account")
        return await ledger.account(account_id)

    @app.post("/v1/transfers", status_code=201)
    async def transfer(
        body: TransferIn,
        who: Annotated[Session, Depends(session)],
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        if not idempotency_key or len(idempotency_key) > 64:
            raise ApiError(400, "invalid_request", "header Idempotency-Key must be 1-64 characters")
        if body.source == body.target:
            raise ApiError(400, "invalid_request", "'from' and 'to' must differ")
        if body.amount > settings.max_amount:
            raise ApiError(400, "invalid_request", f"amount must be at most {settings.max_amount}")
        req = TransferRequest(
            idempotency_key,
            who.account_id,
            body.source,
            body.target,
            body.amount,
            body.currency,
            body.refund_of,
        )
        return await ledger.transfer(req)

    @app.get("/v1/transfers/by-key/{key}")
    async def by_key(key: str, who: Annotated[Session | None, Depends(caller)]) -> dict[str, Any]:
        row = await ledger.by_key(key)
        if row is None or (who is not None and who.account_id not in (row["from_id"], row["to_id"])):
            raise ApiError(404, "not_found", "no transfer with this key")
        return render(row)

    @app.get("/v1/audit/snapshot", dependencies=[Depends(admin)])
    async def snapshot() -> dict[str, Any]:
        return await ledger.snapshot()

    @app.get("/v1/audit/ledger", dependencies=[Depends(admin)])
    async def audit_ledger() -> StreamingResponse:
        lines = await ledger.ledger_lines()
        return StreamingResponse(iter(lines), media_type="application/x-ndjson")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        ok = await db.probe()
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/version")
    async def version() -> dict[str, Any]:
        return {"version": VERSION, "defects": sorted(settings.defects)}

    @app.get("/metrics")
    async def prometheus() -> Response:
        if db.pool is not None:
            metrics.pool_size.set(db.pool.get_size())
            metrics.pool_idle.set(db.pool.get_idle_size())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _install_handlers(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(CommitUnknown)
    async def commit_unknown(_: Request, exc: CommitUnknown) -> JSONResponse:
        body = {"error": "commit_unknown", "detail": "the database failed during commit; outcome unknown"}
        return JSONResponse(body, status_code=500)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return JSONResponse({"error": "invalid_request", "detail": detail}, status_code=400)

    @app.middleware("http")
    async def limit_and_count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        route = request.scope.get("route")
        started = time.perf_counter()
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > settings.max_body_bytes):
            response: Response = JSONResponse(
                {"error": "payload_too_large", "detail": f"body over {settings.max_body_bytes} bytes"}, 413
            )
        elif (
            length is None
            and request.method in ("POST", "PUT", "PATCH")
            and "chunked" in request.headers.get("transfer-encoding", "")
        ):
            response = JSONResponse({"error": "length_required", "detail": "send Content-Length"}, 411)
        else:
            response = await call_next(request)
        route = request.scope.get("route")
        endpoint = getattr(route, "path", "unmatched")
        metrics.requests.labels(endpoint, str(response.status_code)).inc()
        metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
        return response
