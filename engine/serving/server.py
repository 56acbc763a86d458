"""Run the app under uvicorn with a graceful drain: on SIGTERM (or Ctrl-C) the server stops
admitting requests (503 + ``Connection: close``, ``/readyz`` 503), lets every in-flight request
finish within ``drain_timeout_s``, then exits with status 0. A second signal exits at once.

uvicorn alone would close the listening socket at once (new clients see "connection refused",
not a 503) and re-raise the signal after shutdown, so the exit status would be -15, not 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn

from engine.serving.app import create_app
from engine.serving.backend import Backend
from engine.serving.config import ServeConfig
from engine.serving.errors import ServeConfigError
from engine.serving.service import GenerationService

log = logging.getLogger("dslforge.serve")


def serve(backend: Backend, config: ServeConfig, *, log_level: str = "info",
          announce: Callable[[str], None] | None = None) -> int:
    """Serve ``backend`` until SIGTERM/SIGINT; returns the exit status (0 after a drain).

    Args:
        backend: the loaded model (warm it up first: the first request would pay for it).
        config: limits, batching and binding.
        log_level: uvicorn's log level.
        announce: receives the ``listening on http://HOST:PORT`` line once the port is bound
            (stderr by default); with ``port=0`` it carries the port the OS chose.

    Raises:
        ServeConfigError: when the address cannot be bound.
    """
    service = GenerationService(backend, config)
    app = create_app(service)
    uv_config = uvicorn.Config(
        app, host=config.host, port=config.port, log_level=log_level, access_log=False, lifespan="on",
        timeout_graceful_shutdown=int(config.drain_timeout_s) + 1,
        timeout_keep_alive=5,
        # beyond this many connections uvicorn itself answers 503: a connection flood cannot
        # exhaust file descriptors (the queue bounds the work, this bounds the sockets)
        limit_concurrency=config.queue_size + config.max_batch + 256,
    )
    server = _DrainingServer(uv_config, service)
    sock = _bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    (announce or _stderr)(f"dslforge serve: listening on http://{host}:{port}")
    asyncio.run(server.serve(sockets=[sock]))
    return 0 if server.drained_cleanly else 1


class _DrainingServer(uvicorn.Server):
    """A ``uvicorn.Server`` whose signal handler drains before it lets uvicorn exit."""

    def __init__(self, config: uvicorn.Config, service: GenerationService) -> None:
        super().__init__(config)
        self.service = service
        self.drained_cleanly = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets=sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Not appended to uvicorn's captured signals: uvicorn would re-raise it at exit.
        loop = self._loop
        if self._draining or loop is None:
            self.drained_cleanly = not self._draining
            self.force_exit = self.should_exit = True  # a second signal: leave now
            return
        self._draining = True
        loop.call_soon_threadsafe(lambda: loop.create_task(self._drain(sig)))

    async def _drain(self, sig: int) -> None:
        service = self.service
        service.begin_drain()
        log.warning("%s: draining %d in-flight request(s) for up to %g s; new requests get 503",
                    signal.Signals(sig).name, service.batcher.in_flight, service.config.drain_timeout_s)
        if not await service.batcher.drain(service.config.drain_timeout_s):
            self.drained_cleanly = False
            log.error("drain timed out with %d request(s) in flight", service.batcher.in_flight)
        self.should_exit = True


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ServeConfigError(f"cannot listen on {host}:{port}: {e.strerror}; pick another --port "
                               "(0 lets the system choose)") from e
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
