"""The one error shape of every non-2xx answer, OpenAI-style so OpenAI clients read it:
``{"error": {"message", "type", "param", "code"}}`` plus ``details`` for field errors."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def error_payload(status: int, kind: str, message: str, *, param: str | None = None,
                  details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON body of an error answer.

    Args:
        status: the HTTP status (also returned as ``code``).
        kind: a stable machine-readable type such as ``invalid_request`` or ``queue_full``.
        message: what is wrong, the value, and the fix, for people.
        param: the request field at fault, if one is.
        details: per-field problems (validation errors).
    """
    error: dict[str, Any] = {"message": message, "type": kind, "param": param, "code": status}
    if details:
        error["details"] = details
    return {"error": error}


async def send_error(send: Send, status: int, kind: str, message: str, *,
                     headers: dict[str, str] | None = None, close: bool = False) -> None:
    """Answer an error straight from ASGI middleware (before FastAPI sees the request)."""
    body = json.dumps(error_payload(status, kind, message)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class HTTPError(Exception):
    """Raised inside a route to answer with :func:`error_payload`; the app's handler renders it."""

    def __init__(self, status: int, kind: str, message: str, *, param: str | None = None,
                 headers: dict[str, str] | None = None, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.param = param
        self.headers = headers or {}
        self.details = details
