"""Who holds a campaign's lease: "host:pid:start-time", and whether that process is gone.

Here, beside the storage, so that every reader of a lease (the controller taking one over,
`evolve status`, the dashboard) can tell a lease left by a controller killed on this host
(its pid is dead, or now belongs to another process) at once, without waiting for its
expiry. A holder on another host is alive until its lease expires.
"""

from __future__ import annotations

import os
import socket


def process_start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), ""
    where /proc is not available or there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


def owner_id(pid: int | None = None) -> str:
    """This process's owner string: "host:pid:start-time"."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{process_start_time(pid)}"


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` names a process of this host that no longer runs (its pid is
    gone, or was reused by a process that started at another time). False when it runs,
    belongs to another host, or cannot be parsed: then only its lease's expiry frees it."""
    host, _, rest = owner.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    except OSError:
        return False
    now_started = process_start_time(pid)
    return bool(started and now_started and now_started != started)
