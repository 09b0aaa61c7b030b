"""Where the sandbox's uid locks live: a private folder of the caller's uid, in /run or else
/tmp. Apart from slots.py, which reads its uid range from the environment when imported,
so that the tests can find the folder before they choose that range (tests/sandbox_uids.py).
"""

from __future__ import annotations

import fcntl
import os
import stat


def lock_dir() -> str:
    for path in ("/run/evoforge-sandbox", f"/tmp/evoforge-sandbox-uids-{os.geteuid()}"):
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            info = os.lstat(path)
        except OSError:
            continue
        private = not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and private:
            return path
    raise OSError("no private directory for the sandbox uid locks (/run or /tmp)")


def try_lock(folder: str, name: str) -> int | None:
    """An open fd holding the exclusive flock of ``folder/name`` (made if missing), or None
    while another process holds it. Closing the fd, or the holder's exit, releases it."""
    fd = os.open(os.path.join(folder, name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
