"""ASGI middleware that guards the app before any request reaches it: API keys (401), body size
(413) and body read time (408), and the request metrics around all of it.

Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``: the body guard must see the raw
``receive`` stream to stop reading at the limit, and the disconnect watcher of the generate
routes must keep receiving ``http.disconnect`` after the body was read.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from engine.serving.http_errors import send_error
from engine.serving.metrics import ServeMetrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Paths that answer without a key: probes must work for the orchestrator, and the schema is public.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/docs", "/openapi.json", "/redoc"})
# How much of an over-limit body is read and thrown away so the client can see its 413
# (a client that is still sending when the socket closes sees a reset instead of the answer).
_DISCARD_LIMIT = 64 * 1024 * 1024


class ApiKeyGuard:
    """401 unless the request carries one of ``keys`` as ``Authorization: Bearer KEY`` or
    ``X-API-Key: KEY``. With no keys configured every request passes."""

    def __init__(self, app: ASGIApp, *, keys: tuple[str, ...]) -> None:
        self.app = app
        self.keys = tuple(k.encode() for k in keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        presented = _presented_key(scope)
        # compare_digest against every key: the time taken does not reveal which prefix matched
        if presented is not None and any(hmac.compare_digest(presented, k) for k in self.keys):
            await self.app(scope, receive, send)
            return
        reason = "no API key was sent" if presented is None else "the API key is not valid"
        await send_error(send, 401, "unauthorized",
                         f"{reason}; send `Authorization: Bearer <key>` with a key from the server's --api-key-file",
                         headers={"www-authenticate": "Bearer"})


def _presented_key(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return bytes(value[7:]).strip()
        if name == b"x-api-key":
            return bytes(value).strip()
    return None


class BodyGuard:
    """Read the request body up front within ``max_bytes`` and ``timeout_s`` per chunk, then
    hand it to the app; the app's later ``receive()`` calls reach the client (disconnects).

    A declared ``Content-Length`` over the limit gets 413 without buffering anything; a body that
    grows past the limit while streaming (chunked) likewise. A client that pauses longer than
    ``timeout_s`` mid-body gets 408: a slow client holds one connection, never the model.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._too_large(send, receive, f"{declared} bytes")
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                await send_error(send, 408, "request_timeout",
                                 f"the request body stalled for more than {self.timeout_s:g} s after "
                                 f"{size} bytes; send the whole body promptly", close=True)
                return
            if message["type"] == "http.disconnect":
                return  # the client left before sending its request: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send, receive, f"more than {self.max_bytes} bytes (chunked)")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send, receive: Receive, what: str) -> None:
        # Read and drop what the client is still sending (bounded in bytes and time) before
        # answering: a client still writing when the socket closes sees a reset, not the 413.
        # Nothing is kept in memory.
        dropped = 0
        deadline = time.monotonic() + self.timeout_s
        while dropped < _DISCARD_LIMIT:
            remaining = deadline - time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), max(remaining, 0.0))
            except TimeoutError:
                break
            if message["type"] != "http.request":
                return  # the client left
            dropped += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await send_error(send, 413, "body_too_large",
                         f"the request body is {what}; the limit is {self.max_bytes} bytes "
                         "(server option --max-body-bytes)", close=True)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestMetrics:
    """Count answers by route and status and time them. Unknown paths share one label, so a
    scanner cannot grow the metric without bound."""

    def __init__(self, app: ASGIApp, *, metrics: ServeMetrics, routes: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in self.routes else "other"
        started = time.monotonic()
        status = 0

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            # 499 (nginx's "client closed request"): the client left before an answer began
            self.metrics.requests.inc(route, str(status or 499))
            self.metrics.latency.observe(time.monotonic() - started, route)
