"""The trusted side of a stage's feed (``contract.Feed``), run by the supervisor.

The driver's generator lives here, in the supervisor, never in the candidate's process: it
sends one JSON line on the candidate's feed pipe (fd 5 there), waits for one JSON line on
its reply pipe (fd 6), times the answer, and sends the next message only then. So the
candidate cannot see a message before it has answered the one before, whatever it reads
of its own process. Everything it sends is untrusted: parsed strictly, size-capped, and
judged by the driver. ``converse_in_process`` runs the same exchange without a sandbox,
for trusted code (baselines, tests).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any

from evaluators.contract import ERROR, INVALID_RESULT, OK, Feed, InvalidResult, Reply
from evaluators.sandbox.child import describe
from evaluators.sandbox.harnesses import load_harness
from evaluators.sandbox.protocol import BadResult, dumps, one_line, strict_loads

CHUNK = 1 << 16


class Dialogue:
    """One job's feed: owns the supervisor's ends of the feed and reply pipes."""

    def __init__(self, feed: Mapping[str, Any], feed_w: int, reply_r: int, reply_cap: int):
        self.feed_w: int | None = feed_w
        self.reply_r = reply_r
        self.reply_cap = reply_cap
        self.driver = str(feed.get("driver", ""))
        os.set_blocking(feed_w, False)
        os.set_blocking(reply_r, False)
        self.pending = bytearray()  # of the current message, not yet in the pipe
        self.received = bytearray()  # of the candidate's next reply
        self.sent_at = 0.0
        self.replies = 0
        self.done = False
        self.transcript: Any = None
        self.failure: tuple[str, str] | None = None  # (outcome, detail)
        self.cpus: set[int] = set()  # the supervisor's own affinity, put back at close
        self._gen: Generator[Any, Reply, Any] | None = None
        try:
            self._gen = load_harness(self.driver)(**dict(feed.get("params", {})))
            self._advance(lambda gen: next(gen))
        except BaseException as exc:  # the driver could not start: trusted code, broken
            self._driver_failed(exc)

    def share_a_cpu(self, pid: int, uid: int | None = None) -> None:
        """Run the candidate ``pid`` and this supervisor on one CPU for the job. Every
        message is a round trip between the two: on two CPUs each one wakes the other's
        idle CPU, ~100 us a round trip in a VM against ~7 us on one (measured with a pipe
        ping-pong on this 2-core VM). The CPU: with a job ``uid`` (one per running job on
        the machine, the lowest free first: sandbox/slots.py), the uid's turn among the
        allowed CPUs, so that jobs running side by side take different CPUs (on the CPU
        each happened to be on, two jobs shared one half the time); else the CPU this
        supervisor is on. Best effort: the candidate may undo it, which only slows it."""
        try:
            self.cpus = os.sched_getaffinity(0)
            cpu = job_cpu(uid, self.cpus) if uid is not None else _current_cpu()
            if cpu is None or cpu not in self.cpus:
                return
            os.sched_setaffinity(pid, {cpu})
            os.sched_setaffinity(0, {cpu})
        except OSError:
            pass

    @property
    def over(self) -> bool:
        return self.done or self.failure is not None

    def wants_write(self) -> bool:
        return bool(self.pending) and self.feed_w is not None

    def write_some(self) -> None:
        if self.feed_w is None or not self.pending:
            return
        try:
            written = os.write(self.feed_w, self.pending)
        except BlockingIOError:
            return
        except OSError:  # the candidate closed its end or exited: its exit says the rest
            self.pending.clear()
            return
        del self.pending[:written]

    def read_some(self) -> bool:
        """Take what the candidate wrote; False at end of file."""
        try:
            chunk = os.read(self.reply_r, CHUNK)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        if self.over:
            return True  # after the end (or a refusal): nothing more is heard
        self.received += chunk
        while not self.over and b"\n" in self.received:
            line, _, rest = self.received.partition(b"\n")
            self.received = bytearray(rest)
            self._answer(bytes(line))
        if not self.over and len(self.received) > self.reply_cap:
            self._refuse(f"a reply longer than {self.reply_cap // 1024} KiB")
        return True

    def _answer(self, line: bytes) -> None:
        seconds = time.monotonic() - self.sent_at
        if self.pending:
            self._refuse(f"reply {self.replies + 1} came before its message was read")
            return
        try:
            value = strict_loads(line)
        except BadResult as exc:
            self._refuse(f"reply {self.replies + 1}: {exc}")
            return
        self.replies += 1
        self._advance(lambda gen: gen.send(Reply(value, seconds)))

    def _advance(self, step: Callable[[Generator[Any, Reply, Any]], Any]) -> None:
        assert self._gen is not None
        try:
            message = step(self._gen)
        except StopIteration as stop:
            self._finish(stop.value)
            return
        except InvalidResult as exc:
            self._refuse(str(exc))
            return
        except Exception as exc:
            self._driver_failed(exc)
            return
        try:
            self.pending += dumps(message) + b"\n"
        except (TypeError, ValueError) as exc:
            self._driver_failed(exc)
            return
        # from the first byte: a message longer than the pipe can be read (and worked on)
        # in part before its last byte is in
        self.sent_at = time.monotonic()
        self.write_some()

    def _finish(self, transcript: Any) -> None:
        try:
            dumps(transcript)
        except (TypeError, ValueError) as exc:
            self._driver_failed(exc)
            return
        self.done = True
        self.transcript = transcript
        self.close_feed()  # end of file: the candidate's loop ends and it reports

    def _refuse(self, reason: str) -> None:
        self.failure = (INVALID_RESULT, one_line(f"invalid reply: {reason}"))
        self.close_feed()

    def _driver_failed(self, exc: BaseException) -> None:
        self.failure = (ERROR, one_line(f"feed driver {self.driver!r} failed: {describe(exc)}"))
        self.close_feed()

    def close_feed(self) -> None:
        if self.feed_w is not None:
            os.close(self.feed_w)
            self.feed_w = None
        self.pending.clear()

    def close(self) -> None:
        if self.cpus:
            try:
                os.sched_setaffinity(0, self.cpus)
            except OSError:
                pass
        self.close_feed()
        if self._gen is not None:
            self._gen.close()
        try:
            os.close(self.reply_r)
        except OSError:
            pass

    def judge(self, outcome: str, value: Any, detail: str) -> tuple[str, Any, str]:
        """The job's outcome: the driver's record when the candidate answered it all."""
        if self.failure is not None:
            return self.failure[0], None, self.failure[1]
        if outcome != OK:
            return outcome, value, detail
        if not self.done:
            return (
                INVALID_RESULT,
                None,
                f"the program stopped after {self.replies} replies, before its feed ended",
            )
        return OK, self.transcript, ""


def job_cpu(uid: int, allowed: set[int]) -> int:
    """The CPU of the job with sandbox ``uid``: consecutive uids, consecutive CPUs."""
    cpus = sorted(allowed)
    return cpus[uid % len(cpus)]


def _current_cpu() -> int | None:
    """The CPU this process runs on (field 39 of /proc/self/stat)."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
        return int(fields[36])
    except (OSError, IndexError, ValueError):
        return None


def converse_in_process(feed: Feed, step: Callable[[Any], Any]) -> Any:
    """Run ``feed``'s driver against ``step`` in this process, with the same JSON round
    trips as the sandbox: TRUSTED code only (a baseline, a test)."""
    gen = load_harness(feed.driver)(**dict(feed.params))
    try:
        message = next(gen)
        while True:
            started = time.perf_counter()
            answer = step(json.loads(dumps(message)))
            reply = Reply(json.loads(dumps(answer)), time.perf_counter() - started)
            message = gen.send(reply)
    except StopIteration as stop:
        return json.loads(dumps(stop.value))
    finally:
        gen.close()
