"""`engine.remote.RemoteEngine` against `dslforge serve`'s OpenAI-compatible surface, and against
a misbehaving endpoint whose replies do not parse (Issue #7)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import dsl
from engine.remote import RemoteEngine, RemoteError, UnparseableReply

QUESTION = "which states border texas?"


@pytest.mark.integration
def test_remote_engine_returns_parseable_code_from_dslforge_serve(server: Any, api_key: str) -> None:
    with RemoteEngine(server.url, dsl="geoquery", api_key=api_key) as remote:
        assert remote.model == "tiny-llama0"  # first of /v1/models: the model folder's name
        g = remote.generate(QUESTION, max_new_tokens=24)
        assert dsl.load("geoquery").parse(g.code) == g.tree
        assert g.finish_reason in ("stop", "budget") and 0 < g.n_tokens <= 24 and g.prompt_tokens > 0
        batch = remote.generate_batch([f"{QUESTION} {i}" for i in range(6)], max_new_tokens=16)
        assert len(batch) == 6 and all(dsl.load("geoquery").parse(b.code) for b in batch)
    with RemoteEngine(server.url + "/v1", dsl="geoquery", api_key=api_key, grammar_field="guided_grammar") as old:
        assert dsl.load("geoquery").parse(old.generate(QUESTION, max_new_tokens=16).code)


@pytest.mark.integration
def test_remote_engine_reports_the_servers_refusals(server: Any, api_key: str) -> None:
    with RemoteEngine(server.url, dsl="geoquery", api_key=api_key) as remote:
        with pytest.raises(RemoteError, match="model 'contoso' is not served") as info:
            remote.generate(QUESTION, adapter="contoso", max_new_tokens=16)
        assert info.value.status == 404
        with pytest.raises(RemoteError, match="max_tokens") as info:
            remote.generate(QUESTION, max_new_tokens=100_000)
        assert info.value.status == 422
    with pytest.raises(RemoteError, match="API key is not valid") as info:
        RemoteEngine(server.url, dsl="geoquery", api_key="wrong")
    assert info.value.status == 401


class _Replies(BaseHTTPRequestHandler):
    """An OpenAI-shaped endpoint that answers whatever text the test sets."""

    content: str = ""
    finish_reason: str = "stop"
    seen: list[dict[str, Any]] = []

    def do_GET(self) -> None:  # noqa: N802
        self._send({"object": "list", "data": [{"id": "some-model", "object": "model"}]})

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers["Content-Length"])
        type(self).seen.append(json.loads(self.rfile.read(length)))
        self._send({"choices": [{"index": 0, "finish_reason": self.finish_reason,
                                 "message": {"role": "assistant", "content": self.content}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 7}})

    def _send(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[tuple[str, type[_Replies]]]:
    handler = type("Replies", (_Replies,), {"seen": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(("content", "finish"), [
    ("answer(state(", "length"),  # cut at the token limit: what vLLM returns without a closing guarantee
    ("Sure! Here is the query: answer(state(all))", "stop"),  # the grammar was not applied
    ("", "stop"),
])
def test_an_unparseable_reply_raises_and_is_never_returned_as_code(endpoint, content: str, finish: str) -> None:
    url, handler = endpoint
    handler.content, handler.finish_reason = content, finish
    with RemoteEngine(url, dsl="geoquery") as remote:
        with pytest.raises(UnparseableReply, match="does not parse") as info:
            remote.generate(QUESTION)
    assert info.value.text == content and info.value.syntax_error.line == 1


def test_the_request_carries_the_grammar_the_dsl_and_the_instruction(endpoint) -> None:
    url, handler = endpoint
    handler.content = " answer( state( all ) )"  # the grammar's optional leading space, odd spacing
    with RemoteEngine(url, dsl="geoquery", model="m") as remote:
        g = remote.generate(QUESTION, max_new_tokens=40, seed=3, tenant="contoso")
    assert g.code == "answer(state(all))" and (g.n_tokens, g.prompt_tokens) == (7, 10)
    sent = handler.seen[-1]
    geo = dsl.load("geoquery")
    assert sent["structured_outputs"] == {"grammar": geo.decoding_grammar()}
    assert (sent["model"], sent["dsl"], sent["max_tokens"], sent["seed"], sent["tenant"]) == ("m", "geoquery", 40, 3, "contoso")
    assert sent["messages"] == [{"role": "system", "content": geo.spec.prompt.instruction},
                                {"role": "user", "content": QUESTION}]


def test_an_unreachable_endpoint_is_a_remote_error() -> None:
    with pytest.raises(RemoteError, match="cannot reach") as info:
        RemoteEngine("http://127.0.0.1:9", dsl="geoquery", timeout_s=2)
    assert info.value.status is None
