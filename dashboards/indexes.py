"""The campaigns' in-memory indexes (dashboards/index.py), loaded on demand or ahead.

A request for an aggregate view loads its campaign's index in the foreground (__call__).
`prefetch` queues a campaign for loading in one background thread, in pages of
BACKGROUND_PAGE programs; between pages the load pauses while a direct request (one answered
from SQL without the index: campaign summary, program, neighbourhood) is being answered, so
the first page view stays fast while the aggregate views warm up. `close` stops it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from dashboards.index import BACKGROUND_PAGE, CampaignIndex, Stopped
from db.storage import Storage

MAX_YIELD_S = 1.0  # the longest a background load waits for direct requests between pages
log = logging.getLogger(__name__)


class Indexes:
    """One CampaignIndex per campaign, created on first use; loaded in the foreground by
    __call__ (the aggregate views), or in one background thread by prefetch."""

    def __init__(self, storage: Storage, *, background: bool = True) -> None:
        self.storage = storage
        self.background = background
        self._indexes: dict[int, CampaignIndex] = {}
        self._lock = threading.Lock()
        self._queue: list[int] = []
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._active = 0  # direct requests being answered
        # called in the background thread before a campaign's index is loaded (the API
        # reads the best program's ancestry there, which direct requests reuse meanwhile)
        self.before_load: Callable[[int], None] | None = None

    def _get(self, campaign_id: int) -> CampaignIndex:
        with self._lock:
            index = self._indexes.get(campaign_id)
            if index is None:
                index = self._indexes[campaign_id] = CampaignIndex(self.storage, campaign_id)
            return index

    def __call__(self, campaign_id: int) -> CampaignIndex:
        """The campaign's index, up to date (loading it first if needed: it waits for a
        background load under way)."""
        return self._get(campaign_id).sync()

    def peek(self, campaign_id: int) -> CampaignIndex | None:
        """The campaign's index, up to date, if it is loaded and not busy; else None
        (never waits for a load)."""
        index = self._indexes.get(campaign_id)
        if index is None or not index.ready or not index._lock.acquire(blocking=False):
            return None
        try:
            return index.sync()
        finally:
            index._lock.release()

    def ready(self, campaign_id: int) -> bool:
        """Whether the campaign's index has been loaded (a request for it waits at most
        for a refresh, not for the whole load)."""
        index = self._indexes.get(campaign_id)
        return index is not None and index.ready

    @contextmanager
    def direct(self) -> Iterator[None]:
        """Around a request answered without the index: background loads pause meanwhile."""
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1

    def prefetch(self, campaign_id: int, *, urgent: bool = True) -> None:
        """Load the campaign's index in the background, unless loaded already. urgent: next
        (a page is asking about it), else after those queued."""
        if not self.background or self._stop.is_set():
            return
        index = self._indexes.get(campaign_id)
        if index is not None and index.ready:
            return
        with self._lock:
            queue = self._queue  # queue[0] is being loaded
            if campaign_id in queue[:1] or (campaign_id in queue and not urgent):
                return
            if campaign_id in queue:
                queue.remove(campaign_id)
            queue.insert(1 if urgent and queue else len(queue), campaign_id)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._run, name="dashboard-index", daemon=True
                )
                self._worker.start()

    def wait(self, campaign_id: int, timeout: float = 60.0) -> bool:
        """Wait until the campaign's index is loaded (tests, benchmarks); True if it is."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            index = self._indexes.get(campaign_id)
            if index is not None and index.ready:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        """Stop background loading (the app is going away); waits for the thread."""
        self._stop.set()
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=10.0)

    def _pause(self) -> None:
        waited = 0.0
        while self._active and waited < MAX_YIELD_S and not self._stop.is_set():
            time.sleep(0.002)
            waited += 0.002
        if self._stop.is_set():
            raise Stopped

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if not self._queue:
                    self._worker = None
                    return
                campaign_id = self._queue[0]
            try:
                if self.before_load is not None and not self._get(campaign_id).ready:
                    self.before_load(campaign_id)
                self._get(campaign_id).sync(force=True, page=BACKGROUND_PAGE, pause=self._pause)
            except Stopped:
                return
            except Exception as exc:  # a request that needs it will report the problem
                log.debug("background index of campaign %s: %s", campaign_id, exc)
            finally:
                with self._lock:
                    if campaign_id in self._queue:
                        self._queue.remove(campaign_id)
