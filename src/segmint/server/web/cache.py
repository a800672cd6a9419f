"""Cache of slow page sections, per workspace data version; slow ones computed in the background.

The data version is a handful of cheap facts: row counts of the tables pages read, the size and
as-of day of stored model outputs, and the segment definition files (names, sizes, times). Each
section names the parts it ``depends`` on, so a change elsewhere keeps it: the service's
real-time membership sweep writes ``segment_membership`` (at start and every 15 minutes), which
must not throw away the segment checks, which never read that table.

- :func:`cached` computes inside the request, once per version of its parts (fast sections),
  optionally kept in a JSON file of the workspace for the next start;
- :func:`background` never does: it answers with the last results (their age, and whether they
  are being brought up to date) and computes on the web app's job thread
  (:class:`~segmint.server.web.jobs.Jobs`); results may be kept in a JSON file of the
  workspace so they survive a restart.

Example:
    >>> import tempfile
    >>> from segmint.workspace import Workspace
    >>> ws = Workspace.create(tempfile.mkdtemp() + "/shop")
    >>> data_version(ws)[:3]
    (('orders', 0), ('profiles', 0), ('events', 0))
    >>> version_of(data_version(ws), ("tags",))
    (('tags', 0),)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from fastapi import Request

from segmint.server.web.core import reader, web_state
from segmint.workspace import Workspace

__all__ = [
    "DEFINITIONS",
    "LOGS",
    "Section",
    "background",
    "cached",
    "current_version",
    "data_version",
    "expire_version",
    "version_of",
]

log = logging.getLogger("segmint.server")

T = TypeVar("T")

_COUNTED = ("orders", "profiles", "events", "segment_membership", "tags", "identities")
_MODELS = ("clv", "clusters", "personas", "rfm")
#: The part of the data version that stands for the segment definition files.
DEFINITIONS = "definitions"
#: The part that counts the rows of the import, merge and audit logs: an import that only
#: changes rows, a merge or an erasure leaves row counts as they were but adds a log row.
LOGS = "logs"
_LOG_TABLES = ("import_log", "merge_log", "audit_log")

_VERSION_KEY = ("__data_version__",)

#: After a background computation of ``s`` seconds, the next one (for changed data) starts no
#: sooner than ``PAUSE_FACTOR × s`` seconds later (and never later than ``refresh_seconds``):
#: a slow section uses at most about a tenth of the machine while the data keeps changing.
PAUSE_FACTOR = 10.0

_locks: dict[Hashable, threading.Lock] = {}
_locks_guard = threading.Lock()


def _definitions_stamp(folder: Path | None) -> tuple:
    from segmint.segments import definition_files

    stamp = []
    for path in definition_files(folder):
        try:
            st = path.stat()
        except OSError:
            continue
        stamp.append((path.name, st.st_size, st.st_mtime_ns))
    return tuple(stamp)


def data_version(ws: Workspace) -> tuple:
    """Row counts of the tables pages read, which model outputs exist (their size and as-of
    day), the segment definition files and the row counts of the logs (:data:`LOGS`)."""
    tables = set(ws.con.list_tables())
    version: list[tuple[str, Any]] = []
    for name in _COUNTED:
        version.append((name, int(ws.table(name).count().execute()) if name in tables else -1))
    for name in _MODELS:
        if name in tables:
            t = ws.table(name)
            stamp = t.as_of.max().execute() if "as_of" in t.columns else None
            version.append((name, (int(t.count().execute()), str(stamp))))
    version.append((DEFINITIONS, _definitions_stamp(ws.path)))
    logs = [int(ws.table(n).count().execute()) if n in tables else -1 for n in _LOG_TABLES]
    version.append((LOGS, tuple(logs)))
    return tuple(version)


def version_of(version: tuple, depends: Iterable[str] | None) -> tuple:
    """The parts of ``version`` named in ``depends`` (all of it for None)."""
    if depends is None:
        return version
    wanted = set(depends)
    return tuple(part for part in version if part[0] in wanted)


def expire_version(state: Any) -> None:
    """Forget the remembered data version of a ``WebState``: the next page asks the workspace
    again (after a write made outside the pages, e.g. a model run from Python)."""
    state.cache.pop(_VERSION_KEY, None)


def current_version(request: Request, ttl: float = 1.0) -> tuple:
    """:func:`data_version`, asked at most once per ``ttl`` seconds (a page and its lazy
    sections arrive together)."""
    cache = web_state(request).cache
    now = time.monotonic()
    hit = cache.get(_VERSION_KEY)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    version = data_version(reader(request))
    cache[_VERSION_KEY] = (now, version)
    return version


def cached(
    request: Request,
    key: Hashable,
    compute: Callable[[Workspace], T],
    *,
    depends: Iterable[str] | None = None,
    store: Path | None = None,
) -> T:
    """``compute(ws)`` for this version of the ``depends`` parts of the data (all parts for
    None), computed once (concurrent callers wait). ``store``: a JSON file that keeps the value
    (JSON data) with its version, so a restart with the same data does not compute it again."""
    ws = reader(request)
    cache = web_state(request).cache
    version = version_of(current_version(request), depends)
    hit = cache.get(key)
    if hit is not None and hit[0] == version:
        return hit[1]
    with _locks_guard:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        hit = cache.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        text = _version_text(version)
        record = _load(store) if store is not None else None
        if record is not None and record["version"] == text:
            cache[key] = (version, record["value"])
            return record["value"]
        started = time.perf_counter()
        value = compute(ws)
        cache[key] = (version, value)
        if store is not None:
            at = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat()
            seconds = round(time.perf_counter() - started, 3)
            record = {"version": text, "computed_at": at, "seconds": seconds, "value": value}
            try:
                _save(store, record)
            except (OSError, TypeError, ValueError) as exc:  # kept in memory only
                log.warning("could not keep %s in %s: %s", key, store, exc)
        return value


# -- sections computed in the background ----------------------------------------------------------
State = Literal["fresh", "stale", "computing"]


@dataclass(frozen=True)
class Section:
    """What :func:`background` answers: the last value (None before the first computation),
    its state and when it was computed (naive UTC)."""

    value: Any
    state: State
    computed_at: dt.datetime | None = None
    seconds: float | None = None
    #: why the last computation failed (``value`` is then None)
    error: str | None = None

    @property
    def ready(self) -> bool:
        """A value exists (fresh or not)."""
        return self.computed_at is not None

    def age_minutes(self, now: dt.datetime | None = None) -> int | None:
        """Whole minutes since the value was computed."""
        if self.computed_at is None:
            return None
        now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return max(0, int((now - self.computed_at).total_seconds() // 60))


def _version_text(version: tuple) -> str:
    return json.dumps(version, default=str, ensure_ascii=False)


def _load(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not {"version", "computed_at", "value"} <= set(record):
        return None
    return record


def _save(path: Path, record: dict[str, Any]) -> None:
    """Write ``record`` all-or-nothing (a temporary file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, ensure_ascii=False, default=str), encoding="utf-8")
    os.replace(tmp, path)


def background(
    request: Request,
    key: Hashable,
    compute: Callable[[Workspace], Any],
    *,
    depends: Iterable[str] | None = None,
    store: Path | None = None,
    refresh_seconds: float = 0.0,
) -> Section:
    """The section ``key`` without computing it in the request.

    Fresh (computed for this version of ``depends``): its value. Otherwise the last value (or
    none) and a job that runs ``compute(ws)`` on the job thread — unless one is queued or
    running, or the last value is younger than ``refresh_seconds`` and :data:`PAUSE_FACTOR`
    times the last computation's seconds (data that changes all the time, such as live events,
    would otherwise keep a slow job running). ``store``: a JSON
    file that keeps the last value (which must then be JSON data) across restarts.
    """
    web = web_state(request)
    version = _version_text(version_of(current_version(request), depends))
    record = web.cache.get(key)
    if record is None and store is not None:
        record = _load(store)
        if record is not None:
            web.cache[key] = record
    computed_at = dt.datetime.fromisoformat(record["computed_at"]) if record else None
    seconds = record.get("seconds") if record else None
    if record is not None and record["version"] == version:
        return Section(record["value"], "fresh", computed_at, seconds, record.get("error"))

    busy = web.jobs.busy(key)
    due = record is None or time.time() - record.get("finished", 0.0) >= min(
        refresh_seconds, PAUSE_FACTOR * (record.get("seconds") or 0.0)
    )
    if not busy and due:
        web.jobs.submit(key, _job(request, key, compute, version, store))
        busy = True
    return Section(
        record["value"] if record else None,
        "computing" if busy else "stale",
        computed_at,
        seconds,
        record.get("error") if record else None,
    )


def _job(
    request: Request, key: Hashable, compute: Callable[[Workspace], Any], version: str, store
) -> Callable[[], None]:
    state, web = request.app.state.segmint, web_state(request)

    def run() -> None:
        started = time.perf_counter()
        at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        value, error = None, None
        try:
            value = compute(state.reader())  # this thread's own cursor
        except Exception as exc:  # kept like a result, so polling pages stop and show it
            log.exception("web section %r failed", key)
            error = f"{type(exc).__name__}: {exc}"
        record = {
            "version": version,  # as it was when the job started: later changes run it again
            "computed_at": at.isoformat(),
            "finished": time.time(),
            "seconds": round(time.perf_counter() - started, 3),
            "value": value,
            "error": error,
        }
        web.cache[key] = record
        if store is not None:
            try:
                _save(store, record)
            except (OSError, TypeError, ValueError) as exc:  # shown from memory until restart
                log.warning("could not keep %s in %s: %s", key, store, exc)

    return run
