"""The lean HTTP/1.1 transport under the openai client: when it is chosen, the same
completions as the client's own stack, and every wire form and failure a server can send."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable

import pytest
from scripted_server import Reply, ScriptedLLM

from evolve.llm.client import OpenAIBackend
from evolve.llm.config import ModelConfig
from evolve.llm.transport import LeanHTTPTransport, choose_transport

KEY_ENV = "EVOFORGE_TEST_TRANSPORT_KEY"
MESSAGES = [{"role": "user", "content": "# Current program\n```python\nx = 1.0\n```\n"}]
PROXY_VARS = ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY")


@pytest.fixture(autouse=True)
def env(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "secret")
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


def _model(base_url: str, **kw) -> ModelConfig:
    kw.setdefault("max_retries", 1)
    return ModelConfig(model="m", base_url=base_url, api_key_env=KEY_ENV, **kw)


def _body(content: str) -> bytes:
    reply = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    return json.dumps(reply).encode()


class RawServer:
    """Accepts connections on 127.0.0.1 and answers each request with ``answer(n, conn)``,
    n counting requests over all connections; records how many connections it saw."""

    def __init__(self, answer: Callable[[int, socket.socket], None]) -> None:
        self.answer = answer
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.connections = 0
        self.requests = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                buffer = buffer[length:]
                with self.lock:
                    self.requests += 1
                    n = self.requests
                if self.answer(n, conn) is False:
                    return
        except OSError:
            return
        finally:
            conn.close()

    def close(self) -> None:
        self.sock.close()


def _complete(base_url: str, **kw):
    backend = OpenAIBackend()
    model = _model(base_url, **kw)
    return backend, model, backend.complete(model, MESSAGES)


def test_auto_picks_the_lean_transport_for_plain_http_only(monkeypatch) -> None:
    assert isinstance(choose_transport("http://127.0.0.1:8000/v1", "auto"), LeanHTTPTransport)
    assert choose_transport("https://api.openai.com/v1", "auto") is None
    assert choose_transport("http://127.0.0.1:8000/v1", "httpx") is None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    assert choose_transport("http://10.0.0.5:8000/v1", "auto") is None  # through the proxy
    monkeypatch.setenv("NO_PROXY", "10.0.0.5")
    assert isinstance(choose_transport("http://10.0.0.5:8000/v1", "auto"), LeanHTTPTransport)


@pytest.mark.parametrize("transport", ["auto", "httpx"])
def test_both_stacks_read_the_same_completion(transport: str) -> None:
    with ScriptedLLM(seed=3) as server:
        server.script(Reply(content="same", reasoning_tokens=4, cached_tokens=1))
        backend, model, done = _complete(server.base_url, transport=transport)
        stack = backend._client(model)._client._transport
        sent = server.requests[0]
    assert isinstance(stack, LeanHTTPTransport) == (transport == "auto")
    assert (done.error, done.text, done.finish_reason) == ("", "same", "stop")
    assert (done.reasoning_tokens, done.cached_tokens, done.request_id) == (4, 1, "req-1")
    assert {k.lower(): v for k, v in sent["headers"].items()}["authorization"] == "Bearer secret"
    assert sent["body"]["messages"] == MESSAGES


def test_chunked_and_read_until_close_bodies() -> None:
    body = _body("chunky")

    def answer(n: int, conn: socket.socket) -> bool:
        if n == 1:  # chunked, in odd pieces, with a chunk extension and a trailer
            pieces = [body[:7], body[7:40], body[40:]]
            wire = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces)
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + wire + b"0\r\nX-Trailer: 1\r\n\r\n"
            )
            return True
        # no length at all: the body ends when the server closes the connection
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + body)
        return False

    server = RawServer(answer)
    try:
        backend = OpenAIBackend()
        model = _model(server.base_url)
        first = backend.complete(model, MESSAGES)
        second = backend.complete(model, MESSAGES)
        third = backend.complete(model, MESSAGES)
    finally:
        server.close()
    assert [c.text for c in (first, second, third)] == ["chunky"] * 3
    assert all(c.error == "" for c in (first, second, third))
    assert server.connections == 2  # kept alive after the chunked reply, not after the close


def test_an_idle_connection_closed_by_the_server_is_resent_once() -> None:
    body = _body("fresh")

    def answer(n: int, conn: socket.socket) -> bool:
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
        conn.sendall(head + body)
        return False  # close silently, without "Connection: close"

    server = RawServer(answer)
    try:
        backend = OpenAIBackend()
        model = _model(server.base_url, max_retries=0)  # no client retry to hide behind
        done = [backend.complete(model, MESSAGES) for _ in range(3)]
    finally:
        server.close()
    assert [c.text for c in done] == ["fresh"] * 3 and all(c.retries == 0 for c in done)
    assert server.connections == 3


def test_a_silent_server_is_a_timeout_retried_by_the_client() -> None:
    def answer(n: int, conn: socket.socket) -> bool:
        threading.Event().wait(5)  # never answers in time
        return False

    server = RawServer(answer)
    try:
        _, _, done = _complete(server.base_url, timeout_s=0.3, max_retries=1)
    finally:
        server.close()
    assert done.error == "timeout"
    assert server.requests == 2  # the client's own retry, on a fresh connection


def test_a_refused_connection_is_a_connection_error() -> None:
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    _, _, done = _complete(f"http://127.0.0.1:{port}/v1", max_retries=0)
    assert done.error == "connection"


def test_a_malformed_status_line_is_a_connection_error() -> None:
    def answer(n: int, conn: socket.socket) -> bool:
        conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        return False

    server = RawServer(answer)
    try:
        _, _, done = _complete(server.base_url, max_retries=0)
    finally:
        server.close()
    assert done.error == "connection"


def test_a_gzip_body_is_decoded_as_the_client_asked_for_it() -> None:
    import gzip

    def answer(n: int, conn: socket.socket) -> bool:
        body = gzip.compress(_body("zipped"))
        head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
        conn.sendall(head % len(body) + body)
        return True

    server = RawServer(answer)
    try:
        _, _, done = _complete(server.base_url)
    finally:
        server.close()
    assert (done.error, done.text) == ("", "zipped")
