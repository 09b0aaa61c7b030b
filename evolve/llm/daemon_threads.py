"""The proposal threads of evolve/llm/pipeline.py: daemon threads, so that requests still in
flight when a run ends never hold the process back."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class DaemonThreads:
    """A minimal thread pool of daemon threads. ``concurrent.futures.ThreadPoolExecutor``
    joins its threads at interpreter exit (its atexit hook), so a run interrupted with
    requests in flight waited for every HTTP reply before the process could exit, and a
    second Ctrl-C during that wait printed a traceback. Daemon threads are not joined: an
    abandoned request dies with the process."""

    def __init__(self, size: int, name: str) -> None:
        self._size = max(1, size)
        self._name = name
        self._queue: queue.SimpleQueue[tuple[Future, Callable[..., Any], tuple] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []

    def forsake(self) -> None:
        """One busy thread is left to its request (given up, still running): let the pool
        start one more, so that the requests queued after it do not wait for it."""
        self._size += 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        if len(self._threads) < self._size:
            thread = threading.Thread(
                target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        self._queue.put((future, fn, args))
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            future, fn, args = item
            if not future.set_running_or_notify_cancel():
                continue  # cancelled before it started: never sent
            try:
                result = fn(*args)
            except BaseException as exc:  # handed to the controller as a crashed proposal
                future.set_exception(exc)
            else:
                future.set_result(result)

    def shutdown(self) -> None:
        """Let the idle threads end; the busy ones end after their request, unwaited."""
        for _ in self._threads:
            self._queue.put(None)
        self._threads = []
