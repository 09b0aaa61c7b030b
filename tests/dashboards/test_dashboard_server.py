"""serve(): the blocking entry point behind `evolve dashboard`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from dashboards.server import DashboardError, is_loopback, serve

REPO = Path(__file__).resolve().parents[2]


def test_refuses_non_loopback_without_token(recorded: dict[str, Any], monkeypatch: Any) -> None:
    monkeypatch.delenv("EVOLVE_DASHBOARD_TOKEN", raising=False)
    for host in ("0.0.0.0", "192.168.1.10", "example.com", "::"):
        with pytest.raises(DashboardError) as err:
            serve(recorded["url"], host=host, port=0)
        message = str(err.value)
        assert "\n" not in message and "--token" in message and "EVOLVE_DASHBOARD_TOKEN" in message


def test_loopback_names() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.com"))


def test_port_in_use_is_one_line(recorded: dict[str, Any]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DashboardError, match="choose another --port"):
            serve(recorded["url"], port=port)


def _start(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    code = "import sys; from dashboards.server import serve; sys.exit(serve(*sys.argv[1:2], **eval(sys.argv[2])))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for _ in range(5):
        line = proc.stdout.readline()
        if "open http" in line:
            return proc, line.split("open ", 1)[1].split()[0]
    proc.kill()
    raise AssertionError(proc.stderr.read() if proc.stderr else "no URL printed")


@pytest.mark.parametrize("token", [None, "tok-123"])
def test_serve_until_interrupted(recorded: dict[str, Any], token: str | None) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("EVOLVE_DASHBOARD_TOKEN", None)
    kwargs: dict[str, Any] = {"host": "127.0.0.1", "port": 0}
    if token:
        env["EVOLVE_DASHBOARD_TOKEN"] = token  # from the environment, as the CLI documents
    proc, url = _start([recorded["url"], repr(kwargs)], env)
    try:
        base = url.split("?")[0]
        if token:
            assert url.endswith(f"?token={token}")
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(base + "api/campaigns", timeout=10)
            assert err.value.code == 401
            req = urllib.request.Request(
                base + "api/campaigns", headers={"Authorization": f"Bearer {token}"}
            )
        else:
            req = urllib.request.Request(base + "api/campaigns")
        with urllib.request.urlopen(req, timeout=10) as resp:
            names = [c["name"] for c in json.load(resp)["campaigns"]]
        assert "demo" in names
    finally:
        proc.send_signal(signal.SIGINT)
        out, err_text = proc.communicate(timeout=60)  # generous: CI machines are shared
    assert proc.returncode == 0, err_text
    assert "stopped" in out and "Traceback" not in err_text
