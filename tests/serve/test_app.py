"""The app's lifecycle answers that need exact timing — 504 while decoding or queued, a queued
request whose client leaves, a full queue, draining — on a real uvicorn server on loopback.

The backend is gated by an Event instead of being a model, so "the model is busy" lasts exactly
as long as a test says; test_server.py runs the same app over a real model.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import uvicorn

import dsl
from engine.serving.app import create_app
from engine.serving.backend import GenerateOutcome, GenerateParams
from engine.serving.config import ServeConfig
from engine.serving.metrics import parse_prometheus
from engine.serving.scheduler import Job
from engine.serving.server import _bind
from engine.serving.service import GenerationService

PROGRAM = "answer(state(all))"


class GatedBackend:
    """Answers PROGRAM for every job once ``gate`` is set; ``entered`` tells a batch began."""

    model_name = "gated"
    adapters = ["contoso"]

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self._dsls = {"geoquery": dsl.load("geoquery")}

    @property
    def dsls(self) -> dict[str, Any]:
        return self._dsls

    def min_new_tokens(self, dsl: str) -> int:
        return 4

    def tenants_for(self, dsl: str) -> list[str]:
        return ["contoso"]

    def batch_key(self, params: GenerateParams) -> Any:
        return params.dsl

    def run_batch(self, jobs: Sequence[Job[GenerateParams]]) -> list[GenerateOutcome | Exception]:
        self.entered.set()
        self.gate.wait(30)
        return [GenerateOutcome(code=PROGRAM, finish_reason="stop", n_tokens=6) for _ in jobs]


@pytest.fixture
def gated() -> Iterator[tuple[str, GatedBackend, GenerationService]]:
    backend = GatedBackend()
    config = ServeConfig(port=0, max_batch=1, max_wait_ms=0, queue_size=1, request_timeout_s=0.5)
    service = GenerationService(backend, config)
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning", lifespan="on"))
    sock = _bind("127.0.0.1", 0)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = "http://127.0.0.1:%d" % sock.getsockname()[1]
    while not server.started:
        time.sleep(0.01)
    yield url, backend, service
    backend.gate.set()
    server.should_exit = True
    thread.join(10)
    sock.close()


def slots(url: str) -> float:
    return parse_prometheus(httpx.get(url + "/metrics").text)["dslforge_slots_in_use"]


def wait_for(predicate: Any, timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def post(url: str, text: str = "q") -> httpx.Response:
    return httpx.post(url + "/v1/generate", json={"text": text}, timeout=10)


def test_504_names_where_the_request_was_when_time_ran_out(gated) -> None:
    url, backend, _ = gated
    with ThreadPoolExecutor(2) as pool:
        decoding = pool.submit(post, url)
        wait_for(backend.entered.is_set)
        queued = pool.submit(post, url)
        first, second = decoding.result(), queued.result()
    assert first.status_code == 504 and "still decoding" in first.json()["error"]["message"]
    assert second.status_code == 504 and "still queued" in second.json()["error"]["message"]
    assert "--request-timeout" in second.json()["error"]["message"]
    backend.gate.set()
    wait_for(lambda: slots(url) == 0)
    assert post(url).json()["code"] == PROGRAM


def test_a_queued_client_that_leaves_frees_its_slot_while_the_model_is_busy(gated) -> None:
    url, backend, _ = gated
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(post, url)
        wait_for(backend.entered.is_set)
        host, port = url.removeprefix("http://").split(":")
        body = json.dumps({"text": "leaving"}).encode()
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b"POST /v1/generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        wait_for(lambda: slots(url) == 2)
        sock.close()
        wait_for(lambda: slots(url) == 1)  # freed although the gate is still closed
        backend.gate.set()
        assert running.result().status_code in (200, 504)
    wait_for(lambda: slots(url) == 0)
    metrics = parse_prometheus(httpx.get(url + "/metrics").text)
    assert metrics['dslforge_generations_total{outcome="disconnected"}'] == 1


def test_a_full_queue_answers_503_with_retry_after_at_once(gated) -> None:
    url, backend, _ = gated
    with ThreadPoolExecutor(2) as pool:
        pool.submit(post, url)
        wait_for(backend.entered.is_set)
        pool.submit(post, url)
        wait_for(lambda: slots(url) == 2)
        started = time.monotonic()
        refused = post(url)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["type"] == "queue_full"
        assert time.monotonic() - started < 0.4  # refused, not queued until the timeout
        backend.gate.set()


def test_draining_refuses_new_requests_and_turns_readiness_off(gated) -> None:
    url, backend, service = gated
    backend.gate.set()
    assert httpx.get(url + "/readyz").status_code == 200
    service.begin_drain()
    refused = post(url)
    assert refused.status_code == 503 and refused.json()["error"]["type"] == "draining"
    assert refused.headers["connection"] == "close"
    assert httpx.get(url + "/readyz").status_code == 503
    assert httpx.get(url + "/healthz").status_code == 200
    assert parse_prometheus(httpx.get(url + "/metrics").text)["dslforge_draining"] == 1


def test_adapter_and_tenant_names_are_checked_and_passed_on(gated) -> None:
    url, backend, _ = gated
    backend.gate.set()
    ok = httpx.post(url + "/v1/generate", json={"text": "q", "adapter": "contoso", "tenant": "contoso"}).json()
    assert (ok["adapter"], ok["tenant"]) == ("contoso", "contoso")
    as_model = httpx.post(url + "/v1/completions", json={"model": "contoso", "prompt": "q"}).json()
    assert as_model["model"] == "contoso" and as_model["dslforge"]["adapter"] == "contoso"
    clash = httpx.post(url + "/v1/completions", json={"model": "contoso", "adapter": "none", "prompt": "q"})
    assert clash.status_code == 422 and clash.json()["error"]["param"] == "adapter"


def test_openapi_documents_the_routes_and_the_limits(gated) -> None:
    url, _, _ = gated
    schema = httpx.get(url + "/openapi.json").json()
    assert {"/v1/generate", "/v1/validate", "/v1/completions", "/v1/chat/completions", "/healthz", "/readyz",
            "/metrics", "/v1/models"} <= set(schema["paths"])
    fields = schema["components"]["schemas"]["GenerateRequest"]["properties"]
    assert fields["text"]["maxLength"] == 2000
    assert fields["max_new_tokens"]["anyOf"][0]["maximum"] == 256
    assert "503" in schema["paths"]["/v1/generate"]["post"]["responses"]
