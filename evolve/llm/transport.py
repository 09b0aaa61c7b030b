"""A lean HTTP/1.1 transport under the openai client, for plain-http endpoints.

A local model server (vLLM, Ollama, llama.cpp, the tests' scripted server) answers in
milliseconds, and then the client's own CPU per request matters: the openai client over
its default HTTP stack (httpx + httpcore + h11) spends ~1.3 ms of CPU per chat
completion on this machine, this transport ~0.85 ms (same client, same requests). It only
replaces the socket work: the openai client still builds the request, authenticates,
retries (it stays the only retry layer), honours retry-after and maps errors, because
every failure here is raised as the httpx exception the default stack would raise.

Scope: ``http://`` URLs without a proxy (``choose_transport`` decides); one keep-alive
connection per thread and host; Content-Length, chunked and read-until-close bodies; no
streaming (the engine never streams). A keep-alive connection the server closed while
idle is retried once on a fresh connection, as httpcore does.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.request
from typing import Any

import httpx2

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 256 * 1024 * 1024
CHUNK = 64 * 1024


def choose_transport(base_url: str, preference: str) -> httpx2.BaseTransport | None:
    """The transport for a model: None leaves the openai client's default stack."""
    if preference != "auto" or not base_url.startswith("http://"):
        return None
    host = httpx2.URL(base_url).host
    proxies = urllib.request.getproxies_environment()
    if ("http" in proxies or "all" in proxies) and not urllib.request.proxy_bypass(host):
        return None
    return LeanHTTPTransport()


class _Stale(Exception):
    """A reused connection closed before any byte of the response: safe to resend."""


class _Connection:
    def __init__(self, host: str, port: int, connect_timeout: float | None) -> None:
        self.sock = socket.create_connection((host, port), timeout=connect_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.reused = False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self) -> bool:
        chunk = self.sock.recv(CHUNK)
        if chunk:
            self.buffer += chunk
        return bool(chunk)

    def read_until(self, marker: bytes, limit: int) -> bytes:
        while marker not in self.buffer:
            if len(self.buffer) > limit:
                raise httpx2.RemoteProtocolError("response header block too large")
            if not self._fill():
                if not self.buffer and self.reused:
                    raise _Stale
                raise httpx2.RemoteProtocolError("server closed the connection mid-response")
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def read_exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            if not self._fill():
                raise httpx2.RemoteProtocolError("server closed the connection mid-body")
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def read_to_close(self) -> bytes:
        while self._fill():
            if len(self.buffer) > MAX_BODY_BYTES:
                raise httpx2.RemoteProtocolError("response body too large")
        data, self.buffer = self.buffer, b""
        return data


class LeanHTTPTransport(httpx2.BaseTransport):
    def __init__(self) -> None:
        self._local = threading.local()  # per thread: {(host, port): _Connection}
        self._all: set[_Connection] = set()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx2.UnsupportedProtocol(f"the lean transport speaks http only: {url}")
        key = (url.host, url.port or 80)
        timeouts = request.extensions.get("timeout") or {}
        payload = _serialise(request)
        for attempt in (1, 2):
            conn = self._connection(key, timeouts.get("connect"), request)
            phase = "write"
            try:
                conn.sock.settimeout(timeouts.get("write"))
                conn.sock.sendall(payload)
                phase = "read"
                conn.sock.settimeout(timeouts.get("read"))
                status, headers, content, keep = _read_response(conn, request.method)
            except _Stale:
                self._drop(key, conn)
                if attempt == 1:
                    continue
                raise httpx2.RemoteProtocolError(
                    "server closed the connection", request=request
                ) from None
            except TimeoutError as exc:
                self._drop(key, conn)
                timeout = httpx2.WriteTimeout if phase == "write" else httpx2.ReadTimeout
                raise timeout(str(exc) or "timed out", request=request) from exc
            except httpx2.RemoteProtocolError as exc:
                self._drop(key, conn)
                raise httpx2.RemoteProtocolError(str(exc), request=request) from exc
            except OSError as exc:
                self._drop(key, conn)
                if conn.reused and not conn.buffer and attempt == 1:
                    continue  # reset on a reused connection before any reply: resend once
                error = httpx2.WriteError if phase == "write" else httpx2.ReadError
                raise error(str(exc), request=request) from exc
            conn.reused = True
            if not keep:
                self._drop(key, conn)
            return httpx2.Response(status, headers=headers, content=content, request=request)
        raise AssertionError("unreachable")

    def _connection(
        self, key: tuple[str, int], connect_timeout: float | None, request: httpx2.Request
    ) -> _Connection:
        conns = self._local.__dict__.setdefault("conns", {})
        conn = conns.get(key)
        if conn is not None:
            return conn
        try:
            conn = _Connection(key[0], key[1], connect_timeout)
        except TimeoutError as exc:
            raise httpx2.ConnectTimeout(str(exc) or "timed out", request=request) from exc
        except OSError as exc:
            raise httpx2.ConnectError(str(exc), request=request) from exc
        conns[key] = conn
        with self._lock:
            self._all.add(conn)
        return conn

    def _drop(self, key: tuple[str, int], conn: _Connection) -> None:
        conns = self._local.__dict__.get("conns", {})
        if conns.get(key) is conn:
            del conns[key]
        with self._lock:
            self._all.discard(conn)
        conn.close()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, set()
        for conn in conns:
            conn.close()


def _serialise(request: httpx2.Request) -> bytes:
    target = request.url.raw_path
    lines = [request.method.encode("ascii") + b" " + target + b" HTTP/1.1"]
    for name, value in request.headers.raw:
        lines.append(name + b": " + value)
    return b"\r\n".join(lines) + b"\r\n\r\n" + request.read()


def _read_response(
    conn: _Connection, method: str
) -> tuple[int, list[tuple[str, str]], bytes, bool]:
    """(status, headers, body, whether the connection stays open)."""
    while True:
        head = conn.read_until(b"\r\n\r\n", MAX_HEAD_BYTES).decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
            raise httpx2.RemoteProtocolError(f"malformed status line {status_line[:80]!r}")
        status = int(parts[1])
        if status >= 200 or status == 101:
            break  # 1xx interim responses (100 Continue) carry no body: skip them
    headers: list[tuple[str, str]] = []
    fields: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise httpx2.RemoteProtocolError(f"malformed header line {line[:80]!r}")
        name, value = name.strip(), value.strip()
        headers.append((name, value))
        fields[name.lower()] = value
    connection = fields.get("connection", "").lower()
    keep = parts[0] == "HTTP/1.1" and "close" not in connection
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, headers, b"", keep
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body = _read_chunked(conn)
    elif "content-length" in fields:
        try:
            length = int(fields["content-length"])
        except ValueError:
            raise httpx2.RemoteProtocolError("malformed Content-Length") from None
        if not 0 <= length <= MAX_BODY_BYTES:
            raise httpx2.RemoteProtocolError(f"Content-Length {length} out of range")
        body = conn.read_exactly(length)
    else:
        body, keep = conn.read_to_close(), False
    # The body is passed on decoded: drop the headers that describe the wire form.
    headers = [(n, v) for n, v in headers if n.lower() != "transfer-encoding"]
    return status, headers, body, keep


def _read_chunked(conn: _Connection) -> bytes:
    parts = []
    total = 0
    while True:
        size_line = conn.read_until(b"\r\n", 1024).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError:
            raise httpx2.RemoteProtocolError("malformed chunk size") from None
        if size == 0:
            while conn.read_until(b"\r\n", MAX_HEAD_BYTES):
                pass  # trailers, up to the empty line
            return b"".join(parts)
        total += size
        if total > MAX_BODY_BYTES:
            raise httpx2.RemoteProtocolError("response body too large")
        parts.append(conn.read_exactly(size))
        conn.read_exactly(2)  # the CRLF after each chunk


def transport_for(base_url: str, preference: str) -> Any:
    """``http_client`` for ``openai.OpenAI``: None (its default) or an httpx client over
    the lean transport."""
    transport = choose_transport(base_url or os.environ.get("OPENAI_BASE_URL", ""), preference)
    if transport is None:
        return None
    return httpx2.Client(transport=transport)
