"""The single writer: group commit of accepted messages into the workspace.

One thread owns the workspace's DuckDB connection. Request handlers put jobs (a list of
messages and a future) on a queue and wait; the writer takes the first job, then everything
else that arrived while the previous commit ran (up to ``max_group_messages``), lands them in
**one** transaction (:func:`segmint.server.live.apply_messages`) and only then resolves every
job's future. A 2xx therefore means committed: DuckDB has written the transaction to its
write-ahead log, which a restart replays, so a killed server loses nothing it acknowledged.

If a group fails, each of its jobs is retried alone, so one bad request fails only itself.
Other work that must not race the writer (erasure, admin changes) goes through :meth:`call`,
which runs a function on the writer thread in its own transaction, in queue order. Background
calls (``background=True``: the real-time evaluator's membership writes, whose writes are
guarded against what ran in between) wait while accepted messages are queued, so a request's
acknowledgement never waits behind them, for at most ``max_defer_seconds``.

Example:
    >>> import tempfile, asyncio
    >>> from datetime import datetime
    >>> from segmint.workspace import Workspace
    >>> from segmint.server.messages import parse_messages
    >>> ws = Workspace.create(tempfile.mkdtemp() + "/shop")
    >>> w = Writer(ws); w.start()
    >>> msgs = parse_messages([{"type": "track", "userId": "u1", "event": "Signed Up",
    ...                         "messageId": "m1"}], datetime(2026, 1, 1))
    >>> w.submit(msgs).result().stored, w.submit(msgs).result().duplicates
    (1, 1)
    >>> w.stop()
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from segmint import keys, storage
from segmint.erasure import load_suppressions
from segmint.errors import WorkspaceError
from segmint.server.live import Applied, IdentityCache, apply_messages
from segmint.server.messages import Message

__all__ = ["Committed", "SubmitResult", "Writer"]

log = logging.getLogger("segmint.server")

_STOP = object()


@dataclass(frozen=True)
class SubmitResult:
    """What happened to one submitted list of messages (all of it is committed)."""

    stored: int
    duplicates: int


@dataclass(frozen=True)
class Committed:
    """One group commit, handed to listeners after it is durable (events written, people
    touched); listeners run on the writer thread and must be quick."""

    applied: Applied
    messages: int
    seconds: float


@dataclass
class _Job:
    messages: Sequence[Message] | None
    source: str
    future: concurrent.futures.Future
    call: Callable[[Any], Any] | None = None
    transaction: bool = True
    identities: bool = True  # the call may change identities: forget the identity cache
    background: bool = False  # may wait while messages are queued
    queued_at: float = 0.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Writer:
    """Owns ``workspace.con`` on one thread and commits messages in groups.

    Args:
        workspace: an open DuckDB workspace; nothing else may use its connection meanwhile.
        max_group_messages: upper bound of one group commit.
        key_touch_seconds: how often ``api_keys.last_used_at`` is brought up to date.
        max_defer_seconds: longest a background call waits for a moment without messages.
        slow_seconds: a commit or call that holds the writer longer is logged (a warning).
    """

    def __init__(
        self,
        workspace,
        *,
        max_group_messages: int = 20_000,
        key_touch_seconds: float = 60.0,
        max_defer_seconds: float = 1.0,
        slow_seconds: float = 0.1,
    ) -> None:
        self.workspace = workspace
        self.max_group_messages = max_group_messages
        self.max_defer_seconds = max_defer_seconds
        self.slow_seconds = slow_seconds
        #: background calls waiting for a moment without messages (writer thread only)
        self._deferred: collections.deque[_Job] = collections.deque()
        self.key_touch_seconds = key_touch_seconds
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[Committed], None]] = []
        self._pending = 0
        self._lock = threading.Lock()
        self._used: dict[str, dt.datetime] = {}
        self._touched_at = 0.0
        self.commits = 0
        #: records stitched before (cleared when people merge or a call changes data)
        self.identity_cache = IdentityCache()
        #: hashes of erased people's identifiers (loaded on the writer thread; reloaded after
        #: every call, which is how erasure adds to them)
        self._suppressed: frozenset[str] | None = None

    # -- life ------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="segmint-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Commit everything queued, then stop the thread."""
        if self._thread is None:
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def pending(self) -> int:
        """Messages queued and not committed yet."""
        return self._pending

    def add_listener(self, fn: Callable[[Committed], None]) -> None:
        """Call ``fn(Committed)`` after every commit (errors are logged, never raised)."""
        self._listeners.append(fn)

    # -- submitting ------------------------------------------------------------------------------
    def submit(
        self, messages: Sequence[Message], *, source: str = "api"
    ) -> concurrent.futures.Future:
        """Queue ``messages``; the future gives a :class:`SubmitResult` once committed."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        if not self.running:
            fut.set_exception(
                WorkspaceError(
                    "The writer is not running, so nothing can be stored.",
                    hint="start the service (segmint serve) or call Writer.start().",
                )
            )
            return fut
        with self._lock:
            self._pending += len(messages)
        self._queue.put(_Job(list(messages), source, fut))
        return fut

    async def write(self, messages: Sequence[Message], *, source: str = "api") -> SubmitResult:
        """Queue ``messages`` and wait (without blocking the event loop) until committed."""
        return await asyncio.wrap_future(self.submit(messages, source=source))

    def call(
        self,
        fn: Callable[[Any], Any],
        *,
        transaction: bool = True,
        identities: bool = True,
        background: bool = False,
    ) -> concurrent.futures.Future:
        """Run ``fn(workspace)`` on the writer thread inside a transaction, in queue order.

        ``transaction=False`` for functions that open their own (workspace methods such as
        ``tags_add`` or ``audience_export``); ``identities=False`` for functions that never
        change identities or profiles' ids (membership, tags), so the identity cache stays;
        ``background=True`` for writes that may run after messages queued later (at most
        ``max_defer_seconds`` later) because they check the rows as they find them."""
        fut: concurrent.futures.Future = concurrent.futures.Future()
        if not self.running:
            fut.set_exception(
                WorkspaceError(
                    "The writer is not running, so nothing can be changed.",
                    hint="start the service (segmint serve) or call Writer.start().",
                )
            )
            return fut
        self._queue.put(
            _Job(
                None,
                "",
                fut,
                call=fn,
                transaction=transaction,
                identities=identities,
                background=background,
                queued_at=time.monotonic(),
            )
        )
        return fut

    async def run(self, fn: Callable[[Any], Any], *, transaction: bool = True) -> Any:
        """:meth:`call` and wait for its result without blocking the event loop."""
        return await asyncio.wrap_future(self.call(fn, transaction=transaction))

    def note_key_use(self, key_id: str) -> None:
        """Remember that ``key_id`` was used; written with a later commit."""
        self._used[key_id] = _now().replace(microsecond=0)

    # -- the thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        stop = False
        while not stop:
            job = self._take()
            if job is None:  # a background call waited long enough, or nothing else waits
                self._run_call(self._deferred.popleft())
                continue
            if job is _STOP:
                break
            if job.background:
                self._deferred.append(job)
                continue
            jobs = [job]
            n = len(job.messages or ())
            while n < self.max_group_messages and job.call is None:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                if nxt.background:
                    self._deferred.append(nxt)
                    continue
                jobs.append(nxt)
                n += len(nxt.messages or ())
                if nxt.call is not None:
                    break
            calls = [j for j in jobs if j.call is not None]
            batch = [j for j in jobs if j.call is None]
            if batch:
                self._commit(batch)
            for j in calls:
                self._run_call(j)
        # commit what is still queued behind the stop sign, then the background calls
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                continue
            if job.background:
                self._deferred.append(job)
            elif job.call is not None:
                self._run_call(job)
            else:
                self._commit([job])
        while self._deferred:
            self._run_call(self._deferred.popleft())

    def _take(self):
        """The next queued job; ``None`` when the oldest background call is due instead (the
        queue is empty, or it waited ``max_defer_seconds``)."""
        if not self._deferred:
            return self._queue.get()
        due = self._deferred[0].queued_at + self.max_defer_seconds - time.monotonic()
        if due <= 0:
            return None
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def _run_call(self, job: _Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        if job.identities:
            self.identity_cache.clear()  # the call may change identities (erasure, merges)
        started = time.perf_counter()
        try:
            if job.transaction:
                with storage.transaction(self.workspace.con):
                    out = job.call(self.workspace)
            else:
                out = job.call(self.workspace)
        except BaseException as exc:
            job.future.set_exception(exc)
        else:
            job.future.set_result(out)
        finally:
            self._suppressed = None  # an erasure adds suppressions: read them again
            took = time.perf_counter() - started
            if took > self.slow_seconds:  # every queued request waited this long
                log.warning(
                    "the writer spent %.0f ms on %s%s (requests wait meanwhile)",
                    1000 * took,
                    getattr(job.call, "__qualname__", "a call"),
                    " (background)" if job.background else "",
                )

    def _commit(self, jobs: list[_Job]) -> None:
        groups: dict[str, list[_Job]] = {}
        for j in jobs:  # one transaction per source keeps the rows' source right
            groups.setdefault(j.source, []).append(j)
        for source, group in groups.items():
            try:
                self._commit_group(group, source)
            except Exception as exc:  # one bad job must not fail the others
                if len(group) == 1:
                    log.exception("could not store %d message(s)", len(group[0].messages or ()))
                    self._finish(group[0], exc=exc)
                    continue
                for j in group:
                    try:
                        self._commit_group([j], source)
                    except Exception as one:
                        log.exception("could not store %d message(s)", len(j.messages or ()))
                        self._finish(j, exc=one)

    def _commit_group(self, jobs: list[_Job], source: str) -> None:
        started = time.perf_counter()
        messages = [m for j in jobs for m in j.messages or ()]
        con = self.workspace.con
        try:
            with storage.transaction(con):
                applied = apply_messages(
                    con,
                    self.workspace.config,
                    messages,
                    source=source,
                    now=_now(),
                    cache=self.identity_cache,
                    suppressed=self._suppressions(),
                )
                self._touch_keys(con)
                written = time.perf_counter()
        except BaseException:
            self.identity_cache.clear()
            raise
        self.commits += 1
        took = time.perf_counter() - started
        if took > self.slow_seconds:
            log.warning(
                "a commit of %d message(s) took %.0f ms (%.0f ms writing, %.0f ms committing: "
                "write-ahead log now %s; %d new people; requests wait meanwhile)",
                len(messages),
                1000 * took,
                1000 * (written - started),
                1000 * (took - (written - started)),
                self._wal_size(),
                len(applied.created),
            )
        if applied.merges:
            self.identity_cache.clear()
        self.identity_cache.remember(applied.settled, applied.linked_anonymous)
        offset = 0
        for j in jobs:
            n = len(j.messages or ())
            kept = sum(applied.stored[offset : offset + n])
            offset += n
            self._finish(j, result=SubmitResult(stored=kept, duplicates=n - kept))
        done = Committed(applied, len(messages), time.perf_counter() - started)
        for fn in self._listeners:
            try:
                fn(done)
            except Exception:
                log.exception("a commit listener failed")

    def _wal_size(self) -> str:
        """Size of the DuckDB write-ahead log (a commit that checkpoints empties it)."""
        try:
            wal = self.workspace.path / (self.workspace.config.database + ".wal")
            return f"{wal.stat().st_size / 1e6:.1f} MB"
        except (OSError, AttributeError, TypeError):
            return "unknown"

    def _suppressions(self) -> frozenset[str]:
        if self._suppressed is None:
            self._suppressed = load_suppressions(self.workspace.con)
        return self._suppressed

    def _finish(self, job: _Job, *, result=None, exc=None) -> None:
        with self._lock:
            self._pending -= len(job.messages or ())
        if exc is not None:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    def _touch_keys(self, con) -> None:
        if not self._used or time.monotonic() - self._touched_at < self.key_touch_seconds:
            return
        used, self._used = self._used, {}
        keys.touch_keys(con, used)
        self._touched_at = time.monotonic()
