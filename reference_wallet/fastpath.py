"""The transfer route without FastAPI's request machinery, for requests that are well-formed.

Measured on the P1 bench (bench/wallet_vs_pgbench.py, py-spy): FastAPI and Starlette's layers (exception
middlewares, the exit stack, dependency solving, body and header parameter extraction) took ~47% of the
wallet's CPU per transfer, and the wallet's one event loop is what saturates first. A transfer whose token
verifies, whose headers are valid and whose JSON body is a valid ``TransferIn`` is answered here by the SAME
endpoint function the FastAPI route calls; ANY other request (a bad token, a bad header, an invalid body,
another content type) is handed to FastAPI unchanged, with its body replayed, so every refusal is
FastAPI's own answer, byte for byte. The route stays declared in FastAPI: it is the OpenAPI document and
the answer to every request this module does not take.

Only the checks FastAPI would make are repeated here, never relaxed: a request taken here is one FastAPI
would have passed to the endpoint with the same arguments.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import Session

Endpoint = Callable[[Any, Session, str], Awaitable[Response]]
Handler = Callable[[Request, Any], Response | Awaitable[Response]]
"""Starlette's exception handler type: the app's own handlers, as registered."""


class TransferFastPath:
    def __init__(
        self,
        model: Any,
        session: Callable[[str], Session | None],
        endpoint: Endpoint,
        handlers: dict[type[Exception], Handler],
        route: Any,
        key_max: int,
    ) -> None:
        self.model, self.session, self.endpoint = model, session, endpoint
        self.handlers, self.route, self.key_max = handlers, route, key_max

    def takes(self, scope: Scope) -> bool:
        return bool(scope["path"] == "/v1/transfers" and scope["method"] == "POST")

    async def __call__(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        body, more = await _read(receive)
        args = None if more else self._arguments(scope["headers"], body)
        if args is None:
            await app(scope, _replay(body, more, receive), send)
            return
        scope["route"] = self.route  # what the router would set: the metrics' endpoint label
        try:
            response = await self.endpoint(*args)
        except Exception as exc:
            handler = next((self.handlers[c] for c in type(exc).__mro__ if c in self.handlers), None)
            if handler is None:
                raise  # Starlette's ServerErrorMiddleware answers it, as for the FastAPI route
            answer = handler(Request(scope), exc)
            response = await answer if inspect.isawaitable(answer) else answer
        await response(scope, receive, send)

    def _arguments(self, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[Any, Session, str] | None:
        """The endpoint's arguments when FastAPI would call it with them, else None (FastAPI answers)."""
        first: dict[bytes, bytes] = {}
        for name, value in headers:  # Starlette's Headers.get: the first of repeated headers
            first.setdefault(name.lower(), value)
        content_type = first.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type != b"application/json":
            return None
        scheme, _, token = first.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        who = self.session(token)
        raw_key = first.get(b"idempotency-key")
        if who is None or raw_key is None:
            return None
        key = raw_key.decode("latin-1")
        if not 1 <= len(key) <= self.key_max or "\x00" in key:
            return None
        try:
            parsed = self.model.model_validate(json.loads(body))
        except (ValueError, ValidationError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            return None
        return parsed, who, key


async def _read(receive: Receive) -> tuple[bytes, bool]:
    """The body (the middleware in front already bounded its length) and whether the client disconnected
    before sending all of it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    """A receive that gives FastAPI the body already read, then the rest of the stream."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent or more:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed
