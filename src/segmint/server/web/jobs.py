"""Slow page sections computed in the background: one thread, one job at a time.

A page section that takes longer than a page may (the segment checks of the overview: minutes
at a million customers) is never computed inside the request. :func:`segmint.server.web.cache.
background` asks :class:`Jobs` to compute it; the request answers at once with the last
results (and their age) or a "computing" placeholder that polls with htmx until the job is done.

The jobs run one after the other on a single daemon thread (two slow computations at once
would only slow each other down on a small machine), each on that thread's own read cursor of
the workspace; a job already queued or running for a key is not queued twice.

Example:
    >>> jobs = Jobs()
    >>> jobs.submit("answer", lambda: 6 * 7)
    True
    >>> jobs.wait(5), jobs.busy("answer")
    (True, False)
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Hashable

from segmint.server.threads import background_thread

__all__ = ["Jobs"]

log = logging.getLogger("segmint.server")


class Jobs:
    """A queue of background jobs run one at a time on a daemon thread (started lazily)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Hashable, Callable[[], object]]] = queue.Queue()
        self._pending: set[Hashable] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def submit(self, key: Hashable, job: Callable[[], object]) -> bool:
        """Queue ``job`` under ``key``; False (and nothing queued) when ``key`` is queued or
        running already."""
        with self._lock:
            if key in self._pending:
                return False
            self._pending.add(key)
            if self._thread is None or not self._thread.is_alive():
                # heavy reads at 1M: below the writer and the event loop
                self._thread = background_thread(self._work, "segmint-web-jobs")
                self._thread.start()
        self._queue.put((key, job))
        return True

    def busy(self, key: Hashable | None = None) -> bool:
        """Whether the job of ``key`` (any job, without one) is queued or running."""
        with self._lock:
            return bool(self._pending) if key is None else key in self._pending

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running (True), or ``timeout`` seconds passed."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending, timeout)

    def _work(self) -> None:
        while True:
            key, job = self._queue.get()
            try:
                job()
            except Exception:  # a job stores its own errors; this is a bug in the job
                log.exception("web background job %r failed", key)
            finally:
                with self._idle:
                    self._pending.discard(key)
                    self._idle.notify_all()
