"""`evolve dashboard`: serve create_app(storage) with the standard library until Ctrl-C.

A threading wsgiref server: no debug mode, no reloader, no third-party dependency. It binds
127.0.0.1 by default and refuses any other interface without a token."""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import sys
import threading
from socketserver import ThreadingMixIn
from typing import Any, TextIO
from urllib.parse import quote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from dashboards.app import LOOPBACK_HOSTS, create_app
from db import open_storage

TOKEN_ENV = "EVOLVE_DASHBOARD_TOKEN"


class DashboardError(ValueError):
    """A problem the user can fix; its message is one line naming the fix."""


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class ThreadingWSGIServer6(ThreadingWSGIServer):
    address_family = socket.AF_INET6


class QuietHandler(WSGIRequestHandler):
    """No access log on stderr (the terminal stays readable); errors still print."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_port(port: int) -> None:
    """DashboardError (one line) unless port is a TCP port number (0: any free port)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise DashboardError(f"--port must be 0..65535, got {port}")


def make_http_server(app: Any, host: str = "127.0.0.1", port: int = 8080) -> WSGIServer:
    """A threading WSGI server bound to host:port (port 0: any free port); DashboardError
    for a port out of range or one that cannot be bound."""
    check_port(port)
    server_class = ThreadingWSGIServer6 if ":" in host else ThreadingWSGIServer
    try:
        return make_server(
            host.strip("[]"), port, app, server_class=server_class, handler_class=QuietHandler
        )
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DashboardError(
            f"cannot listen on {host}:{port} ({reason}): choose another --port or --host"
        ) from exc


def _warm(app: Any) -> None:
    """Queue every campaign's index for loading in the background (newest first), so the
    aggregate views are warm; requests meanwhile are answered directly and pause it."""
    try:
        for campaign in reversed(app.storage.list_campaigns()):
            app.indexes.prefetch(campaign.id, urgent=False)
    except Exception:  # a request will report the same problem with a proper status
        pass


def serve(
    db_url: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    *,
    out: TextIO | None = None,
) -> int:
    """Serve the dashboard of the database at db_url until interrupted; returns 0.

    Raises DashboardError (a ValueError) for a non-loopback host without a token or a port
    out of range or that cannot be bound, and StorageError for a database that cannot be
    opened."""
    check_port(port)  # before opening the database
    out = out or sys.stdout
    token = token or os.environ.get(TOKEN_ENV) or None
    loopback = is_loopback(host)
    if not loopback and token is None:
        raise DashboardError(
            f"refusing to serve on {host} without a token: pass --token or set {TOKEN_ENV}, "
            "or keep the default --host 127.0.0.1"
        )
    storage = open_storage(db_url)
    try:
        allowed = None if not loopback or token else {*LOOPBACK_HOSTS, host.lower()}
        app = create_app(storage, token=token, allowed_hosts=allowed)
        httpd = make_http_server(app, host, port)
        shown = f"[{host.strip('[]')}]" if ":" in host else host
        url = f"http://{shown}:{httpd.server_port}/"
        if token:
            url += f"?token={quote(token)}"
        threading.Thread(target=_warm, args=(app,), daemon=True, name="warm-index").start()
        print(f"evoforge dashboard for {getattr(storage, 'url', db_url)}", file=out)
        print(f"  open {url}  (Ctrl-C to stop)", file=out, flush=True)
        _stop_on_signals()
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            print("dashboard stopped", file=out, flush=True)
        finally:
            httpd.server_close()
            app.close()
    finally:
        storage.close()
    return 0


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop the server cleanly, even when the process was started
    with SIGINT ignored (background jobs of a shell script, some test runners)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
