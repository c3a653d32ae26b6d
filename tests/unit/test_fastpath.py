"""The transfer fast path (reference_wallet/fastpath.py) takes only requests FastAPI would pass to the
endpoint, with the same arguments; everything else reaches FastAPI with its body intact, so every refusal
stays FastAPI's own answer. Driven over ASGI (httpx's transport) with no database: a transfer that reaches
the ledger is answered 503 (database not ready) through the app's own exception handler."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from reference_wallet.app import KEY_MAX, TransferIn, create_app
from reference_wallet.auth import Session, TokenSigner
from reference_wallet.config import Settings
from reference_wallet.errors import ApiError
from reference_wallet.fastpath import TransferFastPath

ADMIN = "admin-token-for-tests"
BODY = {"from": 1, "to": 2, "amount": 5, "currency": "CNY"}


def _headers(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1", **extra}


class Recorder:
    """A fake endpoint and a fake FastAPI: who answered, with what."""

    def __init__(self, raises: Exception | None = None) -> None:
        self.endpoint_args: list[tuple[Any, Session, str]] = []
        self.app_bodies: list[bytes] = []
        self.raises = raises

    async def endpoint(self, body: Any, who: Session, key: str) -> Any:
        from starlette.responses import JSONResponse

        self.endpoint_args.append((body, who, key))
        if self.raises is not None:
            raise self.raises
        return JSONResponse({"by": "fast"}, status_code=201)

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        from starlette.requests import Request
        from starlette.responses import JSONResponse

        self.app_bodies.append(await Request(scope, receive).body())
        await JSONResponse({"by": "app"}, status_code=299)(scope, receive, send)


def _serve(rec: Recorder, signer: TokenSigner, handlers: dict[type[Exception], Any] | None = None) -> Any:
    fast = TransferFastPath(TransferIn, signer.verify, rec.endpoint, handlers or {}, None, KEY_MAX)

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and fast.takes(scope):
            await fast(rec.app, scope, receive, send)
        else:
            await rec.app(scope, receive, send)

    return asgi


def _post(asgi: Any, content: bytes, headers: dict[str, str], path: str = "/v1/transfers") -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://wallet") as client:
            return await client.post(path, content=content, headers=headers)

    return asyncio.run(go())


def test_a_well_formed_transfer_is_answered_by_the_endpoint_with_fastapis_arguments() -> None:
    signer = TokenSigner(ADMIN, 60)
    rec = Recorder()
    token = signer.issue(1)
    headers = _headers(token, **{"Content-Type": "application/json; charset=utf-8"})
    answer = _post(_serve(rec, signer), json.dumps({**BODY, "amount": 5.0}).encode(), headers)
    assert (answer.status_code, answer.json()) == (201, {"by": "fast"})
    assert rec.app_bodies == []
    ((body, who, key),) = rec.endpoint_args
    assert (body.source, body.target, body.amount, body.currency, body.refund_of) == (1, 2, 5, "CNY", None)
    assert (who.account_id, key) == (1, "k-1")


BAD = {
    "another content type": ({"Content-Type": "text/plain"}, BODY),
    "no bearer token": ({"Authorization": "Basic abc"}, BODY),
    "a tampered token": ({"Authorization": "Bearer x.y"}, BODY),
    "no idempotency key": ({"Idempotency-Key": ""}, BODY),
    "a key too long": ({"Idempotency-Key": "k" * (KEY_MAX + 1)}, BODY),
    "a key with NUL": ({"Idempotency-Key": "a\x00b"}, BODY),
    "a body that is not JSON": ({}, b'{"from": 1,'),
    "an unknown field": ({}, {**BODY, "memo": "x"}),
    "a string amount": ({}, {**BODY, "amount": "5"}),
    "a fractional amount": ({}, {**BODY, "amount": 5.5}),
    "a bool as an id": ({}, {**BODY, "from": True}),
}


@pytest.mark.parametrize("case", list(BAD))
def test_anything_else_reaches_fastapi_with_its_body_intact(case: str) -> None:
    signer = TokenSigner(ADMIN, 60)
    rec = Recorder()
    changes, body = BAD[case]
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**_headers(signer.issue(1)), "Content-Type": "application/json", **changes}
    headers = {k: v for k, v in headers.items() if v != ""}
    answer = _post(_serve(rec, signer), content, headers)
    assert (answer.status_code, answer.json()) == (299, {"by": "app"})
    assert rec.app_bodies == [content]
    assert rec.endpoint_args == []


def test_an_error_the_endpoint_raises_is_answered_by_the_apps_handler_and_others_propagate() -> None:
    from starlette.responses import JSONResponse

    async def api_error(_: Any, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    signer = TokenSigner(ADMIN, 60)
    headers = {**_headers(signer.issue(1)), "Content-Type": "application/json"}
    refused = Recorder(raises=ApiError(422, "insufficient_funds", "balance is lower than the amount"))
    answer = _post(_serve(refused, signer, {ApiError: api_error}), json.dumps(BODY).encode(), headers)
    assert (answer.status_code, answer.json()["error"]) == (422, "insufficient_funds")
    crashed = Recorder(raises=RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        _post(_serve(crashed, signer, {ApiError: api_error}), json.dumps(BODY).encode(), headers)


def test_the_real_app_answers_both_paths_in_the_contracts_shape_and_counts_them_under_the_route() -> None:
    settings = Settings(database_url="postgresql://nowhere.invalid/x", admin_token=ADMIN)
    app = create_app(settings)  # no lifespan: the database was never reached, so a transfer is a 503
    token = TokenSigner(ADMIN, 60).issue(1)
    headers = {**_headers(token), "Content-Type": "application/json"}
    taken = _post(app, json.dumps(BODY).encode(), headers)
    assert (taken.status_code, taken.json()["error"]) == (503, "unavailable")
    refused = _post(app, json.dumps({**BODY, "amount": "5"}).encode(), headers)
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request")
    assert "amount" in refused.json()["detail"]
    metrics = _get_metrics(app)
    assert 'wallet_requests_total{endpoint="/v1/transfers",status="503"} 1.0' in metrics
    assert 'wallet_requests_total{endpoint="/v1/transfers",status="400"} 1.0' in metrics


def _get_metrics(app: Any) -> str:
    async def go() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://wallet") as client:
            return (await client.get("/metrics")).text

    return asyncio.run(go())
