"""create_app(storage): the dashboard as a WSGI application reading only through Storage.

Routes (GET only):

  /                                  campaigns page
  /campaigns/<c>                     campaign page          (<c>: campaign id or name)
  /campaigns/<c>/lineage             lineage page           (?program=ID&depth=K)
  /programs/<id>                     program page
  /compare?c=<c>&c=<c>...            compare page (2 to 8 campaigns)
  /static/<file>                     the page's JS/CSS and vendored libraries (an allowlist)
  /api/...                           JSON, see dashboards/api.py

Every response carries a strict Content-Security-Policy (scripts and styles from this
origin only, no inline script), nosniff, no framing and no referrer. With a token, every
request must carry it (Authorization: Bearer, X-Evolve-Token, the evolve_token cookie, or
?token= once, which sets the cookie and redirects to the same URL without it). Without a
token, only loopback Host headers are answered, so a DNS-rebinding page cannot read it.
"""

from __future__ import annotations

import hmac
import json
import mimetypes
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode

from dashboards import api, params
from dashboards.indexes import Indexes
from db.storage import Storage, StorageError

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "evolve_token"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
]
PAGES = [
    (re.compile(r"^/$"), "index.html"),
    (re.compile(r"^/campaigns/[^/]+/?$"), "campaign.html"),
    (re.compile(r"^/campaigns/[^/]+/lineage/?$"), "lineage.html"),
    (re.compile(r"^/programs/\d+/?$"), "program.html"),
    (re.compile(r"^/compare/?$"), "compare.html"),
]
ALIASES = {"/favicon.ico": "favicon.svg"}

StartResponse = Callable[..., Any]


class Response:
    def __init__(
        self,
        body: bytes,
        status: int = 200,
        content_type: str = "application/json",
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        self.body, self.status, self.content_type = body, status, content_type
        self.headers = headers or []

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        body = json.dumps(data, allow_nan=False, separators=(",", ":"), default=str)
        return cls(body.encode(), status, "application/json; charset=utf-8")

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        return cls.json({"error": message, "status": status}, status)


def _static_files() -> dict[str, Path]:
    """Every servable file, by its path under /static/: nothing else can be served."""
    return {
        p.relative_to(STATIC).as_posix(): p
        for p in STATIC.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.suffix in _TYPES
    }


_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".md": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


class DashboardApp:
    """The WSGI callable. `storage` stays owned by the caller."""

    def __init__(
        self,
        storage: Storage,
        *,
        token: str | None = None,
        allowed_hosts: Iterable[str] | None = None,
        background: bool = True,
    ) -> None:
        self.storage = storage
        self.token = token or None
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts) if allowed_hosts else None
        self.indexes = Indexes(storage, background=background)
        self.static = _static_files()
        self.api = api.Api(storage, self.indexes)

    def close(self) -> None:
        """Stop loading indexes in the background (before closing the storage)."""
        self.indexes.close()

    # -- WSGI ------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        response = self.handle(environ)
        headers = [
            ("Content-Type", response.content_type),
            ("Content-Length", str(len(response.body))),
            *SECURITY_HEADERS,
            *response.headers,
        ]
        if not any(k == "Cache-Control" for k, _ in response.headers):
            headers.append(("Cache-Control", "no-store"))
        phrase = HTTPStatus(response.status).phrase
        start_response(f"{response.status} {phrase}", headers)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else response.body]

    def handle(self, environ: dict[str, Any]) -> Response:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/") or "/"
        query = params.Query(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        if not self._host_allowed(environ):
            return Response.error(403, "unexpected Host header: open the dashboard by its URL")
        denied = self._check_token(environ, path, query)
        if denied is not None:
            return denied
        if method not in ("GET", "HEAD"):
            return Response(b"method not allowed", 405, "text/plain", [("Allow", "GET, HEAD")])
        query.pop("token", None)
        try:
            if path.startswith("/api/"):
                return self.api.dispatch(path, query)
            if path.startswith("/static/"):
                return self._static(path[len("/static/") :])
            if path in ALIASES:
                return self._file(self.static[ALIASES[path]], cache=True)
            for pattern, page in PAGES:
                if pattern.match(path):
                    return self._file(self.static[page], cache=False)
            return Response(b"not found", 404, "text/plain; charset=utf-8")
        except api.NotFound as exc:
            return Response.error(404, str(exc))
        except (api.BadRequest, ValueError) as exc:
            return Response.error(400, str(exc))
        except StorageError as exc:
            return Response.error(503, str(exc))

    # -- security --------------------------------------------------------------------
    def _host_allowed(self, environ: dict[str, Any]) -> bool:
        if self.allowed_hosts is None:
            return True
        host = environ.get("HTTP_HOST", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name.lower() in self.allowed_hosts

    def _check_token(
        self, environ: dict[str, Any], path: str, query: params.Query
    ) -> Response | None:
        if self.token is None:
            return None
        given = query.get("token")
        if given is not None and self._equal(given):
            # Remember it in a cookie and drop it from the address bar and history.
            rest = urlencode([(k, v) for k, v in query.pairs() if k != "token"])
            location = quote(path) + (f"?{rest}" if rest else "")
            cookie = f"{COOKIE}={quote(self.token)}; Path=/; HttpOnly; SameSite=Strict"
            return Response(
                b"", 303, "text/plain", [("Location", location), ("Set-Cookie", cookie)]
            )
        auth = environ.get("HTTP_AUTHORIZATION", "")
        candidates = [
            auth[7:] if auth.lower().startswith("bearer ") else None,
            environ.get("HTTP_X_EVOLVE_TOKEN"),
            self._cookie(environ),
        ]
        if any(c is not None and self._equal(c) for c in candidates):
            return None
        return Response.error(401, "this dashboard needs its token: open the URL it printed")

    def _equal(self, given: str) -> bool:
        assert self.token is not None
        return hmac.compare_digest(given.encode(), self.token.encode())

    @staticmethod
    def _cookie(environ: dict[str, Any]) -> str | None:
        try:
            jar = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        except Exception:
            return None
        morsel = jar.get(COOKIE)
        return unquote(morsel.value) if morsel is not None else None

    # -- static files ----------------------------------------------------------------
    def _static(self, name: str) -> Response:
        path = self.static.get(unquote(name))
        if path is None:
            return Response(b"not found", 404, "text/plain; charset=utf-8")
        return self._file(path, cache="vendor/" in name)

    @staticmethod
    def _file(path: Path, cache: bool) -> Response:
        kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
        headers = [("Cache-Control", "max-age=3600" if cache else "no-cache")]
        return Response(path.read_bytes(), 200, kind, headers)


def create_app(
    storage: Storage,
    *,
    token: str | None = None,
    allowed_hosts: Iterable[str] | None = None,
    background: bool = True,
) -> DashboardApp:
    """The dashboard's WSGI app over `storage` (any Storage implementation).

    background: after a request about a campaign, load its index (what the aggregate views
    need) in a background thread; app.close() stops it.

    >>> from db import open_storage
    >>> app = create_app(open_storage("sqlite://"))
    >>> callable(app)
    True
    """
    return DashboardApp(storage, token=token, allowed_hosts=allowed_hosts, background=background)
