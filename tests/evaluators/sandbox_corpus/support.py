"""Shared helpers and adversarial candidate programs for the sandbox tests."""

from __future__ import annotations

import os
import time

from evaluators.contract import OK, Limits
from evaluators.sandbox.slots import DEFAULT_UID_BASE, DEFAULT_UID_COUNT

CANARY = "sk-canary-7f3a9e1c55b04d2e8c"
UID_RANGE = range(DEFAULT_UID_BASE, DEFAULT_UID_BASE + DEFAULT_UID_COUNT + 1)  # jobs + probe
FAST = Limits(wall_s=1.0, memory_mb=512)  # for the cases that must time out
ROOMY = Limits(wall_s=5.0, memory_mb=512)  # for the others: no spurious timeouts under load
TRIVIAL = "def main():\n    return 1\n"


def uid_processes(uids: range = UID_RANGE) -> list[tuple[int, int, str]]:
    """(pid, uid, state) of every live process with a sandbox uid."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
        except OSError:
            continue
        uid = int(fields["Uid"].split()[0])
        state = fields["State"].split()[0]
        if uid in uids and state not in ("Z", "X"):
            found.append((int(name), uid, state))
    return found


def _whose(pid: int) -> str:
    """A survivor's parent, name and cgroup: which runner, and which run, it belongs to
    (this run's uid range is its own: tests/sandbox_uids.py)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
        with open(f"/proc/{pid}/cgroup") as handle:
            lines = handle.read().splitlines()  # a runner's groups are named evoforge-<pid>
        group = next((line for line in lines if "evoforge-" in line), lines[0] if lines else "")
        return f"{fields['Name'].strip()} ppid {fields['PPid'].strip()} cgroup {group}"
    except (OSError, KeyError):
        return "gone"


def assert_no_survivors(timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while (left := uid_processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"sandbox processes survived: {left} ({[_whose(p) for p, _, _ in left]})"


def assert_still_works(runner) -> None:
    result = runner.run(TRIVIAL, "", {}, ROOMY)
    assert result.outcome == OK, result
    assert result.value == 1


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as handle:
            return "\nState:\tZ" not in handle.read()
    except OSError:
        return False


INFINITE_LOOP = """
def main():
    while True:
        pass
"""

SLEEP_FOREVER = """
import time
def main():
    time.sleep(10**6)
"""

IGNORE_SIGTERM = """
import signal
def main():
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        pass
"""

CLOSE_OUTPUTS_THEN_SPIN = """
import os, sys
def main():
    print("partial output", flush=True)
    os.close(1)
    os.close(2)
    while True:
        pass
"""

# Every process keeps forking until fork fails or it made 40 children: at most a few
# thousand processes even if NPROC did not hold, and each one dies within 20 s by itself.
FORK_BOMB = """
import os, time
def main():
    for _ in range(40):
        os.fork()  # BlockingIOError once NPROC is reached
    time.sleep(20)
    os._exit(0)
"""

# Double fork + a process group of its own (setsid is denied: seccomp.py): the grandchild
# escapes the candidate's process group; it prints its pid.
ESCAPEE = """
import os, time
def main():
    r, w = os.pipe()
    if os.fork() == 0:
        os.setpgid(0, 0)
        if os.fork() == 0:
            os.write(w, str(os.getpid()).encode())
            time.sleep(30)
            os._exit(0)
        os._exit(0)
    os.close(w)
    pid = int(os.read(r, 100))
    return pid
"""

FORKS_A_SLEEPER = """
import os, time
def main():
    pid = os.fork()
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    return pid
"""

# Stops by itself after 10k threads or 5 s.
TEN_K_THREADS = """
import threading, time
def main():
    stop = time.monotonic() + 5
    threads = []
    for _ in range(10000):
        if time.monotonic() > stop:
            break
        thread = threading.Thread(target=time.sleep, args=(5,), daemon=True)
        thread.start()
        threads.append(thread)
    return len(threads)
"""

ALLOC_4G = """
def main():
    block = bytearray(4 << 30)
    return len(block)
"""

NUMPY_4G = """
import numpy as np
def main():
    return float(np.ones((1 << 29,), dtype=np.float64).sum())
"""

# C-level recursion (repr), so the C stack overflows: SIGSEGV.
DEEP_RECURSION = """
import sys
sys.setrecursionlimit(10**6)
class Node:
    def __repr__(self):
        return repr(Node())
def main():
    return repr(Node())
"""

PY_RECURSION = """
def f(n):
    return f(n + 1) + 1
def main():
    return f(0)
"""

PRINT_10GB = """
import sys
def main():
    line = "x" * (1 << 20)
    for _ in range(10 * 1024):
        sys.stdout.write(line)
    return 1
"""

HUGE_FILE = """
def main():
    with open("big.bin", "wb") as handle:
        for _ in range(10 * 1024):
            handle.write(b"x" * (1 << 20))
"""

MANY_FILES = """
def main():
    return len([open("/dev/null") for _ in range(10000)])
"""

READ_STDIN = """
def main():
    return input()
"""

DUMP_ENVIRONMENT = """
import os
def main():
    seen = {"environ": dict(os.environ)}
    for name in os.listdir("/proc"):
        for leaf in ("environ", "cmdline"):
            try:
                with open(f"/proc/{name}/{leaf}", "rb") as handle:
                    seen[f"{name}/{leaf}"] = handle.read().decode("latin-1")
            except OSError:
                pass
    for path in ("/root/.bashrc", "/root/.config", ".env", "/etc/environment"):
        try:
            with open(path) as handle:
                seen[path] = handle.read()
        except OSError:
            pass
    print(seen)
    return seen
"""

NETWORK = """
import socket
def main():
    results = {}
    for host, port in (("127.0.0.1", 22), ("8.8.8.8", 53), ("1.1.1.1", 443)):
        try:
            sock = socket.create_connection((host, port), timeout=0.5)
            sock.close()
            results[host] = "connected"
        except OSError as exc:
            results[host] = type(exc).__name__
    try:
        socket.getaddrinfo("example.com", 80)
        results["dns"] = "resolved"
    except Exception as exc:
        results["dns"] = type(exc).__name__
    return results
"""

KILL_PARENT = """
import os
def main():
    try:
        os.kill(os.getppid(), 9)
    except OSError as exc:
        print("kill parent:", exc, flush=True)
    os.killpg(0, 9)
"""

EXIT_BEFORE_REPORT = """
import os
def main():
    os._exit(0)
"""

SYS_EXIT = """
import sys
def main():
    sys.exit(0)
"""

FAKE_RESULT_ON_STDOUT = """
import os
def main():
    print('{"ok": 1.0}', flush=True)
    os._exit(0)
"""

RAW_NAN_ON_FD3 = """
import os
def main():
    os.write(3, b'{"ok": NaN}\\n')
    os._exit(0)
"""

TWO_RESULT_LINES = """
import os
def main():
    os.write(3, b'{"ok": 1}\\n{"ok": 2}\\n')
    os._exit(0)
"""

PICKLE_ON_FD3 = """
import os, pickle
def main():
    os.write(3, pickle.dumps({"ok": 1}) + b"\\n")
    os._exit(0)
"""

NON_UTF8_OUTPUT = """
import sys
def main():
    sys.stdout.buffer.write(b"\\xff\\xfe\\x1b[31mred\\x1b[0m" + b"y" * (1 << 20))
    sys.stdout.flush()
    return 1
"""


def remove_outside(paths: list[str]) -> str:
    """A candidate that tries to delete/modify the given files and system paths."""
    return f"""
import os, shutil
def main():
    errors = []
    for path in {paths!r}:
        for attempt in (lambda: os.remove(path), lambda: shutil.rmtree(os.path.dirname(path)),
                        lambda: open(path, "w").write("pwned")):
            try:
                attempt()
            except Exception as exc:
                errors.append(type(exc).__name__)
    for path in ("/usr/evoforge-pwned", "../../evoforge-pwned", "/etc/passwd"):
        try:
            with open(path, "a") as handle:
                handle.write("pwned")
        except Exception as exc:
            errors.append(type(exc).__name__)
    try:
        shutil.rmtree("/", ignore_errors=False)
    except Exception as exc:
        errors.append(type(exc).__name__)
    return errors
"""
