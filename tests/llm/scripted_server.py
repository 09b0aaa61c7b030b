"""A scripted OpenAI-compatible chat-completions and embeddings server for tests and benches.

Stdlib only: a ThreadingHTTPServer on 127.0.0.1 with TCP_NODELAY and every response sent
in one write (a naive handler pays ~40 ms per request to Nagle and delayed ACKs). Replies
come from a script (a queue of ``Reply``) and, when the script is empty, from the default
behaviour: a valid edit built from the parent program found in the prompt (a SEARCH/REPLACE
block, or the whole EVOLVE-BLOCK when the prompt asks for a rewrite), so the reply keeps
matching whatever parent the engine sampled. Every request is recorded.

``/v1/embeddings`` answers with ``fake_embedding`` of each input (its own script,
``script_embeddings``, for failures): a bag of the code's tokens with comments left out and
every name written alike, so that a program that only renames or comments embeds exactly as
the original, and a changed constant or operator moves the vector.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_CURRENT = re.compile(
    r"#\s*Current program[^\n]*\n```[a-zA-Z]*\n(.*?)\n```", re.IGNORECASE | re.DOTALL
)
_NUMBER = re.compile(r"(?<![\w.])(\d+\.\d+|\d+)(?![\w.])")
START, END = "# EVOLVE-BLOCK-START", "# EVOLVE-BLOCK-END"


@dataclass
class Reply:
    content: str | Callable[[dict[str, Any]], str] | None = None  # None: the default edit
    status: int = 200
    finish_reason: str = "stop"
    headers: dict[str, str] = field(default_factory=dict)
    error_code: str = ""  # error.code of a non-200 reply (e.g. insufficient_quota)
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    delay_s: float = 0.0
    raw: bytes | None = None  # a body sent as is (malformed JSON...)
    dim: int = 0  # an embeddings reply's dimension (0: EMBED_DIM)
    trickle_s: float = 0.0  # > 0: the body is sent one byte at a time, this long apart


EMBED_DIM = 64
_CODE_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d*)?|[^\s\w]")
_KEYWORDS = frozenset("def return if else elif for while in and or not import from".split())


def fake_embedding(text: str, dim: int = EMBED_DIM) -> list[float]:
    """A deterministic unit vector of ``text``: its hashed token bigrams, comments left
    out and every name but a keyword read as NAME."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    toks = ["NAME" if t[0].isalpha() or t[0] == "_" else t for t in _CODE_TOKEN.findall(code)]
    vector = [0.0] * dim
    vector[0] = 1.0  # no text is the zero vector
    for a, b in zip(toks, toks[1:]):
        digest = hashlib.blake2b(f"{a} {b}".encode(), digest_size=4).digest()
        vector[int.from_bytes(digest, "little") % dim] += 1.0
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector]


def parent_code(body: dict[str, Any]) -> str:
    for message in body.get("messages", []):
        if message.get("role") == "user":
            found = _CURRENT.search(str(message.get("content", "")))
            if found:
                return found.group(1) + "\n"
    return ""


def _block(code: str) -> tuple[str, str, str]:
    if START not in code or END not in code:
        return "", code, ""
    head, rest = code.split(START, 1)
    nl = rest.index("\n") + 1
    body, tail = rest[nl:].split(END, 1)
    return head + START + rest[:nl], body, END + tail


def _edit_line(line: str, rng: random.Random) -> str | None:
    text = line.strip()
    if not text or text.startswith(("#", "def ", '"""', "'''", "import ", "from ", "class ")):
        return None
    numbers = list(_NUMBER.finditer(line))
    if numbers:
        m = rng.choice(numbers)
        new = f"{rng.uniform(0.01, 3.99):.6f}"
        return line[: m.start()] + new + line[m.end() :]
    indent = line[: len(line) - len(line.lstrip())]
    if text.startswith("return "):
        return f"{indent}return ({text[7:]}) * {rng.uniform(0.5, 1.5):.2f}"
    if "=" in text and not text.startswith(("if ", "for ", "while ", "elif ")):
        target, expr = text.split("=", 1)
        if target.strip().isidentifier() and expr.strip():
            return f"{indent}{target.strip()} = ({expr.strip()}) * {rng.uniform(0.5, 1.5):.2f}"
    return None


def default_edit(body: dict[str, Any], rng: random.Random) -> str:
    """A valid edit of the parent in the prompt: a diff, or a rewrite when asked for one."""
    code = parent_code(body)
    _, block, _ = _block(code)
    lines = block.splitlines()
    order = list(range(len(lines)))
    rng.shuffle(order)
    prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
    rewrite = "complete new contents of the EVOLVE-BLOCK" in prompt
    for index in order:
        new = _edit_line(lines[index], rng)
        if new is None or new == lines[index]:
            continue
        if rewrite:
            out = lines[:index] + [new] + lines[index + 1 :]
            return "A new constant.\n```python\n" + "\n".join(out) + "\n```\n"
        if block.count(lines[index]) != 1:
            continue
        return (
            "Tune one expression.\n<<<<<<< SEARCH\n"
            f"{lines[index]}\n=======\n{new}\n>>>>>>> REPLACE\n"
        )
    return "I have no idea."


class ScriptedLLM:
    """``with ScriptedLLM() as llm: ... llm.base_url ...``; ``llm.script(Reply(...))``."""

    def __init__(self, seed: int = 0, model: str = "scripted", record: bool = True) -> None:
        """``record``: keep every request (tests read them); a long bench turns it off, or
        its thousands of prompts slow the server's garbage collection as the run goes on."""
        self.rng = random.Random(seed)
        self.model = model
        self.replies: deque[Reply] = deque()
        self.embed_replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.embed_requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.count = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # /reset re-seeds (the OpenEvolve bench uses it)
                if self.path.startswith("/reset"):
                    with server.lock:
                        server.rng = random.Random(seed)
                self._send(200, b"{}", {})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/").endswith("/embeddings"):
                    self._embeddings(body)
                    return
                with server.lock:
                    server.count += 1
                    if record:
                        server.requests.append(
                            {
                                "headers": dict(self.headers),
                                "body": body,
                                "peer": self.client_address,
                            }
                        )
                    reply = server.replies.popleft() if server.replies else Reply()
                    content = reply.content
                    if content is None:
                        content = default_edit(body, server.rng)
                    elif callable(content):
                        content = content(body)
                    number = server.count
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.raw is not None:
                    self._send(reply.status, reply.raw, reply.headers)
                    return
                if reply.status != 200:
                    error = {
                        "error": {
                            "message": f"scripted {reply.status}",
                            "type": reply.error_code or "error",
                            "code": reply.error_code or None,
                        }
                    }
                    self._send(reply.status, json.dumps(error).encode(), reply.headers)
                    return
                prompt_chars = sum(len(str(m.get("content", ""))) for m in body["messages"])
                payload = {
                    "id": f"chatcmpl-{number}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", server.model),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": reply.finish_reason,
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_chars // 4,
                        "completion_tokens": len(content) // 4 + reply.reasoning_tokens,
                        "total_tokens": prompt_chars // 4 + len(content) // 4,
                        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
                        "completion_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
                    },
                }
                headers = {"x-request-id": f"req-{number}", **reply.headers}
                self._send(200, json.dumps(payload).encode(), headers, reply.trickle_s)

            def _embeddings(self, body: dict[str, Any]) -> None:
                with server.lock:
                    server.count += 1
                    number = server.count
                    server.embed_requests.append({"body": body, "peer": self.client_address})
                    reply = server.embed_replies.popleft() if server.embed_replies else Reply()
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.raw is not None or reply.status != 200:
                    error = json.dumps({"error": {"message": f"scripted {reply.status}"}})
                    data = reply.raw if reply.raw is not None else error.encode()
                    self._send(reply.status, data, reply.headers)
                    return
                texts = body.get("input")
                texts = [texts] if isinstance(texts, str) else list(texts or [])
                dim = reply.dim or EMBED_DIM
                payload = {
                    "object": "list",
                    "model": body.get("model", ""),
                    "data": [
                        {"object": "embedding", "index": i, "embedding": fake_embedding(t, dim)}
                        for i, t in enumerate(texts)
                    ],
                    "usage": {
                        "prompt_tokens": sum(len(t) for t in texts) // 4,
                        "total_tokens": sum(len(t) for t in texts) // 4,
                    },
                }
                headers = {"x-request-id": f"emb-{number}", **reply.headers}
                self._send(200, json.dumps(payload).encode(), headers)

            def _send(
                self, status: int, data: bytes, headers: dict[str, str], trickle_s: float = 0.0
            ) -> None:
                head = [f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}"]
                head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
                head += [f"{k}: {v}" for k, v in headers.items()]
                head_bytes = ("\r\n".join(head) + "\r\n\r\n").encode()
                if trickle_s <= 0:
                    self.wfile.write(head_bytes + data)
                    self.wfile.flush()
                    return
                # A slow drip: every read gets a byte well within any read timeout, so
                # only a deadline on the whole request ends it.
                try:
                    self.wfile.write(head_bytes)
                    self.wfile.flush()
                    for byte in data:
                        time.sleep(trickle_s)
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                except OSError:  # the client gave up
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def script(self, *replies: Reply) -> None:
        with self.lock:
            self.replies.extend(replies)

    def script_embeddings(self, *replies: Reply) -> None:
        """Replies of the next embeddings requests (status, raw body, delay, dim)."""
        with self.lock:
            self.embed_replies.extend(replies)

    def start(self) -> ScriptedLLM:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":  # python tests/llm/scripted_server.py: serve until Ctrl-C
    import sys

    # as its own process (the benches) nobody reads the recorded requests
    with ScriptedLLM(seed=int(sys.argv[1]) if len(sys.argv) > 1 else 0, record=False) as llm:
        print(llm.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
