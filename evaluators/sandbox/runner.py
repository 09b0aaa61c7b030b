"""SandboxRunner: the worker-side client of the zygote.

Thread-safe: every ``run`` gets its own socket pair (the zygote hands one end to a fresh
supervisor), its own uid slot, and waits on its own answer; only the hand-over of the
socket and the zygote's (re)start are serialised.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from evaluators.contract import ERROR, SANDBOX_FAILURE, Feed, Limits, SandboxResult
from evaluators.sandbox import cgroups, launch, lingering, workdirs
from evaluators.sandbox.answer import failure, parse_response, read_until_eof
from evaluators.sandbox.preload import DEFAULT_PRELOAD
from evaluators.sandbox.preload import sandbox_modules as sandbox_modules  # importable here
from evaluators.sandbox.protocol import dumps, limits_to_dict, one_line
from evaluators.sandbox.slots import DEFAULT_UID_BASE, DEFAULT_UID_COUNT, UidSlots

ISOLATIONS = ("auto", "bwrap", "uid", "rlimits")
BACKSTOP_S = 5.0  # beyond limits.wall_s, before the runner gives up on a supervisor
CLOSE_WAIT_S = 5.0  # the most close() waits for the zygote's processes to be gone


class SandboxRunner:
    """Runs untrusted candidate code in a forked, jailed child of a warm zygote.

    ``isolation``: "auto" (the strongest available), "bwrap" (bwrap + a private uid;
    needs root), "uid" (a private uid + rlimits, network namespace when possible; needs
    root) or "rlimits" (resource limits and a process-tree kill only).
    """

    def __init__(
        self,
        preload: Sequence[str] = DEFAULT_PRELOAD,
        isolation: str = "auto",
        *,
        uid_base: int = DEFAULT_UID_BASE,
        uid_count: int = DEFAULT_UID_COUNT,
    ) -> None:
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")
        self.preload = list(preload)
        self._lock = threading.Lock()  # zygote (re)start and socket hand-over
        self._ids = itertools.count()
        self._closed = False
        self._zygote: launch.Zygote | None = None
        self._broken = False
        self._clean_uids: set[int] = set()
        self._in_flight: set[socket.socket] = set()  # jobs' sockets, hung up by close()
        self._flight_lock = threading.Lock()  # not _lock: held through a zygote's start
        root = os.geteuid() == 0
        if isolation in ("bwrap", "uid") and not root:
            raise RuntimeError(f"isolation {isolation!r} needs root; use 'rlimits'")
        self._slots = UidSlots(uid_base, uid_count) if root and isolation != "rlimits" else None
        self._probe_uid = uid_base + uid_count  # never handed to a job
        candidates = {
            "auto": ["bwrap", "uid"] if root else ["rlimits"],
            "bwrap": ["bwrap"],
            "uid": ["uid"],
            "rlimits": ["rlimits"],
        }[isolation]
        if "bwrap" in candidates and launch.bwrap_path() is None:
            if isolation == "bwrap":
                raise RuntimeError("isolation 'bwrap' requested but bwrap is not installed")
            candidates.remove("bwrap")
        self._workdir = workdirs.make_workdir()
        os.chmod(self._workdir, 0o711)  # job uids may traverse to their own 0700 dir
        # made out here: under bubblewrap the zygote sees /sys read-only (cgroups.py)
        self._cgroups = cgroups.make_parent() if self._slots is not None else None
        self._groups_left = False  # a killed zygote's candidate groups, still dying (sweep)
        self._cgroup_tag = ""  # the running zygote's, in its candidates' group names
        errors = []
        for mode in candidates:
            try:
                self._zygote = self._start(mode)
                self._mode = mode
                break
            except launch.ZygoteStartError as exc:
                errors.append(str(exc))
        else:
            shutil.rmtree(self._workdir, ignore_errors=True)
            cgroups.remove_parent(self._cgroups)
            raise RuntimeError("no sandbox could be started: " + "; ".join(errors))
        self.isolation: str = self._zygote.level
        self.missing_preload: list[str] = list(self._zygote.hello.get("missing", []))

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop the zygote and everything it started, then remove the work folder and the
        cgroups. Jobs still running (on other threads) are hung up: their supervisors end
        their candidates (supervisor._watch), and those calls return sandbox_failure. It
        returns once every process of the sandbox is gone, or after ``CLOSE_WAIT_S``: it
        returned while supervisors and candidates still ran (for their whole wall clock,
        under "rlimits"), so a caller that checked for leftovers at once found some."""
        zygote = None
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with self._flight_lock:
                for sock in self._in_flight:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            if self._zygote is not None:
                zygote, self._zygote = self._zygote, None
                pids = lingering.tree(zygote.process.pid)
                zygote.stop()
        if zygote is not None:  # its group (supervisors) and its tree (bwrap: the pid 1)
            lingering.wait_gone(pids, zygote.process.pid, CLOSE_WAIT_S)
        shutil.rmtree(self._workdir, ignore_errors=True)
        cgroups.remove_parent(self._cgroups)

    def _start(self, mode: str) -> launch.Zygote:
        layout = None
        if self._cgroups is not None:
            self._cgroup_tag = os.urandom(4).hex()
            layout = {**self._cgroups, "tag": self._cgroup_tag}
        return launch.start(mode, self._workdir, self.preload, self._probe_uid, layout)

    def __enter__(self) -> SandboxRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _live_zygote(self) -> launch.Zygote:
        """The zygote, restarted first if it died or was marked broken (lock held)."""
        if self._closed:
            raise launch.ZygoteStartError("the runner is closed")
        zygote = self._zygote
        if zygote is None or self._broken or not zygote.alive():
            if zygote is not None:
                zygote.stop()
                self._zygote = None
            self._broken = False
            os.makedirs(self._workdir, mode=0o711, exist_ok=True)  # it may have been removed
            os.chmod(self._workdir, 0o711)
            # what a killed zygote's candidates left; what is still dying, at later jobs
            self._groups_left = cgroups.sweep(self._cgroups)
            self._zygote = self._start(self._mode)
            self._clean_uids.clear()
        elif self._groups_left:
            self._groups_left = cgroups.sweep(self._cgroups, 0, keep=self._cgroup_tag)
        return self._zygote

    # -- one job ---------------------------------------------------------------------

    def run(
        self,
        code: str,
        harness: str,
        params: Mapping[str, Any],
        limits: Limits,
        feed: Feed | None = None,
        hidden: Sequence[str] = (),
    ) -> SandboxResult:
        """``hidden``: paths the candidate sees empty (``Stage.private_paths``)."""
        started = time.monotonic()

        def failed(outcome: str, detail: str) -> SandboxResult:
            return SandboxResult(
                outcome,
                detail=detail,
                isolation=self.isolation,
                duration_s=time.monotonic() - started,
            )

        try:
            compile(code, "<candidate>", "exec")
        except SyntaxError as exc:
            return failed(ERROR, one_line(f"SyntaxError: {exc.msg} (line {exc.lineno})"))
        except (ValueError, MemoryError, RecursionError) as exc:
            return failed(ERROR, one_line(f"{type(exc).__name__}: {exc}"))
        if harness and ":" not in harness:
            return failed(
                ERROR,
                f"harness must be 'module:function' or '/path/file.py:function', got {harness!r}",
            )
        if feed is not None and ":" not in feed.driver:
            return failed(ERROR, f"a feed's driver must be 'module:function', got {feed.driver!r}")
        try:
            request = {
                "code": code,
                "harness": harness,
                "params": dict(params),
                "limits": limits_to_dict(limits),
            }
            if feed is not None:  # for the supervisor only: the candidate never gets it
                request["feed"] = {"driver": feed.driver, "params": dict(feed.params)}
            if hidden:
                request["hidden"] = [os.path.abspath(str(path)) for path in hidden]
            dumps(request)
        except (TypeError, ValueError) as exc:
            return failed(ERROR, one_line(f"params are not JSON: {exc}"))

        slot = None
        if self._slots is not None:
            slot = self._slots.acquire()
            if slot is None:
                return failed(SANDBOX_FAILURE, "no free sandbox uid")
            request["uid"] = slot.uid
        clean = False
        try:
            response = self._exchange(request, limits, slot.uid if slot else None)
            clean = response["outcome"] != SANDBOX_FAILURE
            if not clean:
                with self._lock:
                    self._broken = True  # a fresh zygote for the next call
        finally:
            if slot is not None:
                if clean:
                    self._clean_uids.add(slot.uid)
                else:
                    self._clean_uids.discard(slot.uid)
                self._slots.release(slot)
        return SandboxResult(
            outcome=response["outcome"],
            value=response.get("value"),
            detail=response.get("detail", ""),
            stdout=response.get("stdout", ""),
            stderr=response.get("stderr", ""),
            duration_s=float(response.get("duration_s") or time.monotonic() - started),
            isolation=self.isolation,
        )

    def _exchange(self, request: dict[str, Any], limits: Limits, uid: int | None) -> dict[str, Any]:
        """Send one job and wait for its answer; every failure here is sandbox_failure."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            for attempt in (0, 1):  # a dead zygote is restarted once, transparently
                try:
                    with self._lock:
                        zygote = self._live_zygote()
                        with self._flight_lock:
                            self._in_flight.add(ours)
                        request["job_id"] = f"{os.getpid()}-{next(self._ids)}"
                        request["prereap"] = uid is not None and uid not in self._clean_uids
                        socket.send_fds(zygote.ctl, [b"J"], [theirs.fileno()])
                    break
                except launch.ZygoteStartError as exc:
                    return failure(f"sandbox could not be started: {exc}")
                except OSError as exc:
                    with self._lock:
                        self._broken = True
                    if attempt:
                        return failure(f"zygote unreachable: {exc}")
            theirs.close()
            deadline = time.monotonic() + float(limits.wall_s) + BACKSTOP_S
            ours.settimeout(BACKSTOP_S + float(limits.wall_s))
            ours.sendall(dumps(request))
            ours.shutdown(socket.SHUT_WR)
            raw = read_until_eof(ours, deadline)
        except TimeoutError:
            with self._lock:
                self._broken = True  # a hung supervisor: restart everything next time
            return failure(f"no answer from the sandbox within {limits.wall_s + BACKSTOP_S:g} s")
        except OSError as exc:
            return failure(f"sandbox connection failed: {exc}")
        finally:
            with self._flight_lock:  # not while close() hangs it up
                self._in_flight.discard(ours)
                ours.close()
            theirs.close()
        return parse_response(raw)
