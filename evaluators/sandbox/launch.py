"""Starting the zygote: the command line (bwrap or not), its minimal environment, the hello.

bwrap copies its own environment to the sandbox's pid 1 (readable in /proc/1/environ),
so bwrap itself is started with the minimal environment, never the worker's.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from evaluators.sandbox import cgroups

MINIMAL_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/nonexistent",
    "TMPDIR": "/tmp",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}

# Runs in the fresh interpreter: set sys.path exactly as the worker's, then serve.
BOOT = (
    "import sys, json; config = json.loads(sys.argv[1]); sys.path[:0] = config['path']; "
    "from evaluators.sandbox.zygote import main; main(config)"
)
HELLO_TIMEOUT_S = 60.0


class ZygoteStartError(RuntimeError):
    pass


@dataclass
class Zygote:
    process: subprocess.Popen[bytes]
    ctl: socket.socket
    level: str
    hello: dict[str, Any]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        try:
            self.ctl.close()  # the zygote exits at end of file
        except OSError:
            pass
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            _kill_group(self.process)
            self.process.wait(timeout=5)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, 9)
    except OSError:
        try:
            process.kill()
        except OSError:
            pass


def bwrap_path() -> str | None:
    return shutil.which("bwrap", path=MINIMAL_ENV["PATH"])


def _search_path() -> list[str]:
    here = os.path.abspath(__file__)  # <root>/evaluators/sandbox/launch.py
    root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    out = [root]
    for entry in sys.path:
        entry = os.path.abspath(entry or os.getcwd()) if not entry.startswith("__") else entry
        if entry not in out:
            out.append(entry)
    return out


def command(mode: str, workdir: str, config: dict[str, Any]) -> list[str]:
    python = [sys.executable, "-s", "-P", "-c", BOOT, json.dumps(config)]
    if mode != "bwrap":
        return python
    bwrap = bwrap_path()
    if bwrap is None:
        raise ZygoteStartError("bwrap is not installed")
    # the runner's parent cgroup(s), the only writable part of /sys (cgroups.py)
    cgroup_binds = []
    for path in cgroups.parent_dirs(config["cgroups"]) if config.get("cgroups") else ():
        cgroup_binds += ["--bind", path, path]
    return [
        bwrap,
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        # /tmp stays visible (read-only, like everything else): problem files and even the
        # checkout itself may live there. Candidates write only in their job dir (TMPDIR).
        "--bind",
        workdir,
        workdir,
        *cgroup_binds,
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        "--die-with-parent",
        "--new-session",
        "--chdir",
        "/",
        "--",
        *python,
    ]


def start(
    mode: str,
    workdir: str,
    preload: list[str],
    probe_uid: int,
    cgroup_layout: dict[str, Any] | None = None,
) -> Zygote:
    """Start a zygote in ``mode`` ("bwrap", "uid" or "rlimits") and wait for its hello;
    ``cgroup_layout``: the runner's parent cgroups (``cgroups.make_parent``), if any."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    config = {
        "mode": mode,
        "workdir": workdir,
        "preload": list(preload),
        "probe_uid": probe_uid,
        "ctl_fd": theirs.fileno(),
        "path": _search_path(),
        "cgroups": cgroup_layout if mode != "rlimits" else None,
    }
    log = open(os.path.join(workdir, f"zygote-{mode}.log"), "ab")
    try:
        process = subprocess.Popen(
            command(mode, workdir, config),
            env=dict(MINIMAL_ENV),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            close_fds=True,
            pass_fds=(theirs.fileno(),),
            start_new_session=True,
            cwd="/",
        )
    except OSError as exc:
        ours.close()
        raise ZygoteStartError(f"cannot start the zygote: {exc}") from exc
    finally:
        theirs.close()
        log.close()
    try:
        ours.settimeout(HELLO_TIMEOUT_S)
        raw = ours.recv(1 << 16)
        hello = json.loads(raw) if raw else {"ready": False, "error": "exited before hello"}
    except (OSError, ValueError) as exc:
        hello = {"ready": False, "error": f"no hello: {exc}"}
    if not hello.get("ready"):
        ours.close()
        _kill_group(process)
        process.wait()
        tail = _log_tail(workdir, mode)
        raise ZygoteStartError(f"{mode} zygote failed: {hello.get('error')}{tail}")
    ours.settimeout(None)
    return Zygote(process, ours, hello["level"], hello)


def _log_tail(workdir: str, mode: str) -> str:
    try:
        with open(os.path.join(workdir, f"zygote-{mode}.log"), "rb") as handle:
            text = handle.read()[-400:].decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return f" ({' '.join(text.split())})" if text else ""
