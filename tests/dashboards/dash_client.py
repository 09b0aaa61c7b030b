"""An in-process WSGI client for the dashboard tests (the optuna-dashboard way)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit


class Client:
    """Calls a WSGI app in-process (the optuna-dashboard way)."""

    def __init__(self, app: Any, host: str = "127.0.0.1:8080") -> None:
        self.app, self.host = app, host

    def get(self, url: str, headers: dict[str, str] | None = None, method: str = "GET") -> Any:
        parts = urlsplit(url)
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "HTTP_HOST": self.host,
            "wsgi.url_scheme": "http",
        }
        for k, v in (headers or {}).items():
            environ["HTTP_" + k.upper().replace("-", "_")] = v
        seen: dict[str, Any] = {}

        def start_response(status: str, hdrs: list[tuple[str, str]]) -> None:
            seen["status"], seen["headers"] = int(status.split()[0]), dict(hdrs)

        body = b"".join(self.app(environ, start_response))
        return Result(seen["status"], seen["headers"], body)


class Result:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)
