"""Exceptions of the serving layer; all are :class:`engine.errors.EngineError`s."""

from __future__ import annotations

from engine.errors import EngineError


class ServeError(EngineError):
    """Root of the errors raised by :mod:`engine.serving`."""


class ServeConfigError(ServeError, ValueError):
    """A `dslforge serve` option is out of range; the message names the option."""


class QueueFull(ServeError):
    """The admission queue is full; the client should retry after ``Retry-After`` seconds."""


class Draining(ServeError):
    """The server received SIGTERM and admits no new request."""


class RequestTimedOut(ServeError, TimeoutError):
    """A request did not finish within the server's per-request timeout."""
