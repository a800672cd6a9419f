"""Real-time segment membership: re-evaluate the customers each commit touched (layer 5).

The writer hands every committed group to :meth:`MembershipEvaluator.on_commit` (a listener:
it only notes the customer ids and event names, so ingestion never waits). The evaluator's own
thread takes everything noted since its last round — several writer commits together — and
evaluates the segment definitions for just those customers: the same compiled ibis predicates
as ``segmint segments run`` (:func:`segmint.segments.current_members`) over the canonical and
metric tables filtered to the touched ids (``customer_id IN (ids)`` on every input, so each
pass reads only their rows). Customers whose profile, identities or tags changed get every
segment; customers who only sent events get the segments that read events with those names
(following ``in_segment`` references; an exclusive set is evaluated whole).

Who enters and who leaves is worked out on the evaluator's own cursor (members now against
the open rows), so the writer, which also commits every accepted event, only applies the
changes: through :meth:`Writer.call` (never a second connection), in one transaction, exactly
as a batch run writes them: open rows of leavers get ``exited_at``, entrants get a new row,
auto-tags of the segments are applied. Each write is guarded by the rows as they are then
(``exited_at IS NULL``; no open row yet; the person still has a profile), so a sweep or an
erasure in between cannot make the history wrong, and only what was written is reported. A
round that changes nothing does not reach the writer at all; customers touched again while a
round was being evaluated are left to the next round.

Each round evaluates at its instant rounded **up** to ``realtime.quantum_seconds`` (60 s by
default; :func:`quantise`), so the compiled query of a set of segments is the same for every
round within that step: the touched ids are not literals but rows of a small table registered
under a fixed name (:data:`TOUCHED`) on the evaluator's own cursor, filled anew each round. The
SQL is compiled once per (definitions and tables, quantised instant, segments evaluated) and a
round costs filling that table and executing. Changes are still stamped with the real instant.

Conditions that change with time only (windows, anniversaries, did-not-do) are swept: every
``realtime.sweep_minutes`` (and at start) all customers and segments are evaluated and only the
differences are written. Metric providers computed from orders over all customers (RFM, ABC,
occasions) are materialised once per as-of day (orders only change by imports and merges).

Example:
    >>> from segmint.server.realtime import MembershipEvaluator  # started by ServerState
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import ibis
import pyarrow as pa
import pyarrow.compute as pc

from segmint.config import RealtimeSettings
from segmint.rules import Resolved, ResolvedSet, Tables, compile_flags
from segmint.rules.resolve import RActivity, RInSegment, RNode, RSequence, walk
from segmint.schema import TABLES
from segmint.segments import current_members, definition_files, members_from_flags
from segmint.server.threads import background_thread

__all__ = [
    "TOUCHED",
    "Change",
    "Evaluated",
    "MembershipEvaluator",
    "members_of",
    "quantise",
    "segments_reading",
]

log = logging.getLogger("segmint.server")

#: Metric providers computed from orders over all customers: materialised once per day.
ORDER_METRICS = ("rfm", "abc", "occasions")

#: The customers a micro-batch re-evaluates: an Arrow table registered under this name on the
#: evaluating thread's cursor (a view of Python memory: nothing is written to the database).
TOUCHED = "_segmint_rt_touched"

_EPOCH = dt.datetime(1970, 1, 1)
#: most exits (and entries) one writer call applies: a large round is written in pieces, so
#: accepted events are committed between them instead of waiting for the whole
WRITE_CHUNK_ROWS = 2_000
#: ... in at most this many pieces (larger pieces then)
MAX_WRITE_PIECES = 4

#: names of views registered on a cursor (not stored tables)
_VIEWS = ("_segmint_", "ibis_")


@dataclass(frozen=True)
class Change:
    """One recorded enter or exit."""

    segment: str
    customer_id: str
    kind: str  # entered | exited
    at: dt.datetime


@dataclass(frozen=True)
class Evaluated:
    """One round (micro-batch or sweep) once its changes are committed."""

    kind: str  # batch | sweep
    as_of: dt.datetime
    customers: int
    segments: int
    #: writer commits seen by the evaluator up to this round (every one of them is included)
    upto: int
    changes: list[Change] = field(default_factory=list)
    seconds: float = 0.0
    #: of which waiting for the writer and writing
    write_seconds: float = 0.0
    #: the instant the conditions were evaluated at (``as_of`` rounded up to the quantum)
    evaluated_at: dt.datetime | None = None


def _reads_events(node: RNode, names: set[str] | None, seen: set[str]) -> bool:
    """Whether ``node`` (following segment references) reads events named in ``names``
    (``None``: any event)."""
    for n in walk(node):
        if isinstance(n, RInSegment) and n.segment is not None and n.slug not in seen:
            seen.add(n.slug)
            if _reads_events(n.segment.where, names, seen):
                return True
        elif isinstance(n, RActivity) and n.table == "events":
            if names is None or n.names is None or names & set(n.names):
                return True
        elif isinstance(n, RSequence):
            steps = (n.first.names, n.then.names)
            if names is None or any(s is None or names & set(s) for s in steps):
                return True
    return False


def segments_reading(resolved: Resolved, names: set[str] | None) -> Resolved:
    """The part of ``resolved`` that can change when events named ``names`` arrive: segments
    reading such events, with every segment of an exclusive set that has one.

    >>> segments_reading(Resolved(sets=()), {"Product Viewed"}).sets
    ()
    """
    sets = []
    for st in resolved.sets:
        hit = [x for x in st.segments if _reads_events(x.where, names, set())]
        if not hit:
            continue
        sets.append(
            st if st.exclusive or len(hit) == len(st.segments) else ResolvedSet(st.spec, tuple(hit))
        )
    return Resolved(sets=tuple(sets))


def _strings(values: Iterable[str]) -> pa.Array:
    return pa.array(list(values), pa.string())


def quantise(at: dt.datetime, seconds: float) -> dt.datetime:
    """``at`` rounded **up** to the next multiple of ``seconds`` (``0``: unchanged). Events up
    to ``at`` are all at or before the result, so rounding up never misses one; window edges
    move by less than ``seconds``.

    >>> quantise(dt.datetime(2026, 6, 1, 12, 0, 1), 60)
    datetime.datetime(2026, 6, 1, 12, 1)
    >>> quantise(dt.datetime(2026, 6, 1, 12, 0), 60)
    datetime.datetime(2026, 6, 1, 12, 0)
    """
    if seconds <= 0:
        return at
    step = dt.timedelta(seconds=seconds)
    rest = (at - _EPOCH) % step
    return at + (step - rest) if rest else at


def _only(tables: Tables, ids: ibis.Table) -> Tables:
    """``tables`` with every input (canonical and metric) filtered to ``customer_id IN ids``."""

    def keep(t: ibis.Table) -> ibis.Table:
        return t.filter(t.customer_id.isin(ids.customer_id))

    return Tables(
        profiles=keep(tables.profiles),
        events=keep(tables.events),
        orders=keep(tables.orders),
        tags=keep(tables.tags),
        metrics={k: keep(v) for k, v in tables.metrics.items()},
    )


def _shape(resolved: Resolved) -> tuple[str, ...]:
    """What a compiled query of ``resolved`` depends on besides tables and instant: the slugs
    of its segments (all, or those an event-only batch can change)."""
    return tuple(x.slug for x in resolved)


def _fetch(raw, sql: str, params: list | None = None) -> pa.Table:
    """The whole result of ``sql`` now (a DuckDB result stream ends at the next query); also
    the ``RETURNING`` rows of a write."""
    out = raw.execute(sql, params or []).arrow()
    return out.read_all() if hasattr(out, "read_all") else out


@dataclass(frozen=True)
class _Plan:
    """What one part of a round changes: worked out on the evaluating thread, applied by the
    writer."""

    leaving: pa.Table  # segment, customer_id
    entering: pa.Table  # segment, customer_id
    #: segments with auto-tags and their members now (``None``: no such segment)
    tagging: list = field(default_factory=list)
    tagged: pa.Table | None = None

    def pieces(self, rows: int) -> list[_Plan]:
        """This plan in pieces of at most ``rows`` exits and ``rows`` entries (auto-tags with
        the first): each is applied on its own, guarded like the whole."""
        n = max(self.leaving.num_rows, self.entering.num_rows)
        if n <= rows:
            return [self]
        # each piece's guards read the open rows once: at a million customers that costs more
        # than the rows themselves, so a sweep is cut into a few large pieces, not hundreds
        rows = max(rows, -(-n // MAX_WRITE_PIECES))
        return [
            _Plan(
                self.leaving.slice(i, rows),
                self.entering.slice(i, rows),
                self.tagging if i == 0 else [],
                self.tagged if i == 0 else None,
            )
            for i in range(0, n, rows)
        ]


def members_of(
    resolved: Resolved, tables: Tables, ids: list[str], at: dt.datetime, timezone: str
) -> pa.Table:
    """:func:`~segmint.segments.current_members` of just ``ids``: every input table (canonical
    and metric) is filtered to ``customer_id IN ids`` before the segments' passes read it.

    Built and compiled anew on every call (the ids are a literal table); the evaluator's rounds
    use :meth:`MembershipEvaluator.members` instead, which reuses the compiled query."""
    only = ibis.memtable(pa.table({"customer_id": _strings(ids)}))
    return current_members(resolved, _only(tables, only), at, timezone=timezone)


class MembershipEvaluator:
    """Keeps ``segment_membership`` current while the service runs (see the module docs).

    Args:
        state: the :class:`~segmint.server.state.ServerState` (writer, readers, clock).
        settings: ``realtime:`` of segmint.yaml.
    """

    def __init__(self, state, settings: RealtimeSettings | None = None) -> None:
        self.state = state
        self.settings = settings or state.workspace.config.realtime
        self._cond = threading.Condition()
        self._full: set[str] = set()
        self._event_ids: set[str] = set()
        self._names: set[str] = set()
        self._any_name = False
        self._seen = 0  # commits noted
        self._sweep_requested = False
        self._busy = False
        self._sweeping = False
        #: the DuckDB connection of the sweep thread (stop() interrupts a sweep under way)
        self._sweep_raw = None
        #: customers micro-batches took while a sweep runs (its stale answer must skip them)
        self._sweep_claimed: set[str] | None = None
        self._stop = False
        self._threads: list[threading.Thread] = []
        #: the definitions and tables are shared by the two threads
        self._inputs_lock = threading.Lock()
        self._listeners: list[Callable[[Evaluated], None]] = []
        self._next_sweep = 0.0
        self._defs_key: tuple | None = None
        self._resolved: Resolved | None = None
        #: thread id → (key, tables bound to that thread's cursor)
        self._tables: dict[int, tuple[tuple, Tables]] = {}
        #: thread id → (tables key, quantised instant) and the queries compiled for it, by the
        #: segments they evaluate: (SQL, the ibis expression keeping its memtables registered)
        self._queries: dict[int, tuple[tuple, dict[tuple, tuple[str, ibis.Table]]]] = {}
        #: queries compiled so far (a round that reuses one compiles nothing)
        self.compiled = 0
        self._merges = 0
        self.rounds = 0
        self.errors = 0
        #: pause before the next micro-batch (``realtime.busy_share`` of the last round)
        self._rest = 0.0

    # -- life ------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._stop = False
        # an empty workspace has nobody to sweep (the first commits bring people in)
        self._sweep_requested = self.settings.sweep_on_start and not self._empty()
        self._next_sweep = self._sweep_due_from(time.monotonic())
        for target, name in (
            (self._run, "segmint-realtime"),
            (self._sweeps, "segmint-sweep"),
        ):
            # below the writer and the event loop: rounds can wait, acknowledgements cannot
            t = background_thread(target, name, nice=self.settings.nice)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float | None = 30.0) -> None:
        """Finish the micro-batch under way (its writes go through the writer), interrupt a
        sweep under way (the next start sweeps again: at a million customers a sweep runs
        longer than a stop may wait, and a query still running when the process ends aborts
        it), then stop."""
        if not self._threads:
            return
        with self._cond:
            self._stop = True
            sweeping = self._sweep_raw if self._sweeping else None
            self._cond.notify_all()
        if sweeping is not None:
            try:
                sweeping.interrupt()
            except Exception:  # the query ended meanwhile
                log.debug("could not interrupt the sweep", exc_info=True)
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    def add_listener(self, fn: Callable[[Evaluated], None]) -> None:
        """Call ``fn(Evaluated)`` after every round is committed (on the evaluator thread;
        errors are logged, never raised)."""
        self._listeners.append(fn)

    # -- input -----------------------------------------------------------------------------------
    def on_commit(self, done) -> None:
        """Writer listener: note the customers and event names of a committed group."""
        applied = done.applied
        full = {c for c in applied.touched if isinstance(c, str)}
        for absorbed, survivor in applied.merges:
            full.update(c for c in (absorbed, survivor) if isinstance(c, str))
        ids: list[str] = []
        names: set[str] = set()
        events = applied.events
        if events is not None and events.num_rows:
            known = events.filter(pc.is_valid(events.column("customer_id")))
            ids = known.column("customer_id").to_pylist()
            names = {n for n in pc.unique(known.column("event")).to_pylist() if n is not None}
        with self._cond:
            self._seen += 1
            if applied.merges:
                self._merges += 1
            self._full |= full
            if ids:
                self._event_ids.update(ids)
                self._names |= names
            self._cond.notify_all()

    def touch(self, customer_ids: Iterable[str]) -> None:
        """Re-evaluate every segment for these customers soon (e.g. a workflow tagged them)."""
        with self._cond:
            self._full.update(customer_ids)
            self._cond.notify_all()

    def sweep_now(self) -> None:
        """Ask for a sweep in the next round (all customers, all segments)."""
        with self._cond:
            self._sweep_requested = True
            self._cond.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every writer commit so far is noted and evaluated (tests, benchmarks)."""
        end = time.monotonic() + timeout
        with self._cond:
            while (
                self._busy
                or self._sweeping
                or self._has_work()
                or self._seen < self.state.writer.commits
            ):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    @property
    def commits_seen(self) -> int:
        return self._seen

    def _empty(self) -> bool:
        raw = self.state.reader().con.con
        found = raw.execute(
            "SELECT (SELECT count(*) FROM (SELECT 1 FROM profiles LIMIT 1)) + "
            "(SELECT count(*) FROM (SELECT 1 FROM segment_membership LIMIT 1))"
        ).fetchone()
        return not found[0]

    # -- the threads -----------------------------------------------------------------------------
    def _has_work(self) -> bool:
        return bool(self._full or self._event_ids or self._sweep_requested)

    def _sweep_due_from(self, now: float) -> float:
        minutes = self.settings.sweep_minutes
        return now + minutes * 60 if minutes > 0 else float("inf")

    def _run(self) -> None:
        """Micro-batches: everything noted since the previous round."""
        while True:
            with self._cond:
                while not self._stop and not (self._full or self._event_ids):
                    self._cond.wait(1.0)
                if self._stop:
                    break
            # gather more commits; after a long round, leave the machine to ingestion a while
            pause = max(self.settings.batch_seconds, self._rest)
            if pause:
                time.sleep(pause)
            with self._cond:
                full, self._full = self._full, set()
                event_ids, self._event_ids = self._event_ids - full, set()
                names, self._names = self._names, set()
                if len(full) + len(event_ids) > self.settings.max_batch_customers:
                    full, event_ids = self._split(full, event_ids)
                if self._sweep_claimed is not None:  # a sweep that read earlier must skip them
                    self._sweep_claimed |= full | event_ids
                upto = self._seen
                self._busy = True
            began = time.perf_counter()
            try:
                self._round("batch", full, event_ids, names, upto)
            except Exception:
                self.errors += 1
                log.exception(
                    "real-time membership: a round failed; its customers wait for the next sweep"
                )
            finally:
                share = self.settings.busy_share
                self._rest = (time.perf_counter() - began) * (1 - share) / share
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _sweeps(self) -> None:
        """The time sweep, on a thread of its own so micro-batches go on while it runs."""
        while True:
            with self._cond:
                while not self._stop and not self._sweep_requested:
                    wait = self._next_sweep - time.monotonic()
                    if wait <= 0:
                        self._sweep_requested = True
                        break
                    self._cond.wait(min(wait, 1.0))
                if self._stop:
                    break
                self._sweep_requested = False
                self._sweep_claimed = set()
                upto = self._seen
                self._sweeping = True
            try:
                self._next_sweep = self._sweep_due_from(time.monotonic())
                self._sweep_raw = self.state.reader().con.con
                self._round("sweep", None, None, set(), upto)
            except Exception:
                if self._stop:  # interrupted by stop(): the next start sweeps again
                    log.info(
                        "real-time membership: the sweep under way was interrupted by the stop"
                    )
                    continue
                self.errors += 1
                log.exception("real-time membership: the sweep failed; the next one retries")
            finally:
                with self._cond:
                    self._sweeping = False
                    self._sweep_claimed = None
                    self._cond.notify_all()

    def _split(self, full: set[str], event_ids: set[str]) -> tuple[set[str], set[str]]:
        """Keep at most ``max_batch_customers`` for this round; put the rest back."""
        limit = self.settings.max_batch_customers
        f = sorted(full)
        e = sorted(event_ids)
        take_f, rest_f = set(f[:limit]), set(f[limit:])
        room = max(limit - len(take_f), 0)
        take_e, rest_e = set(e[:room]), set(e[room:])
        self._full |= rest_f
        self._event_ids |= rest_e
        return take_f, take_e

    # -- one round -------------------------------------------------------------------------------
    def _definitions(self, reader, at: dt.datetime) -> tuple[Resolved, Tables, tuple]:
        """The resolved definitions (again only when a file changed), the tables at ``at``
        (built again only when the as-of day, a merge or the stored tables change) and the key
        of both (compiled queries are reused while it stays)."""
        files = definition_files(reader.path)
        key = tuple((str(p), p.stat().st_mtime_ns) for p in files if p.exists())
        if key != self._defs_key or self._resolved is None:  # resolving costs more than a round
            self._resolved, self._defs_key = reader.segment_definitions(), key
        day = (at - dt.timedelta(microseconds=1)).date()
        # tables are bound to the calling thread's cursor: one cache per thread
        tables_key = (
            threading.get_ident(),
            day,
            self._merges,
            # stored tables only: views of this cursor (ids, in-memory inputs) come and go
            tuple(sorted(t for t in reader.con.list_tables() if not t.startswith(_VIEWS))),
        )
        cached = self._tables.get(tables_key[0])
        if cached is None or cached[0] != tables_key:
            tables = reader.segment_tables(at)
            # orders change only by imports and merges: compute these once per day
            fixed = {
                name: ibis.memtable(expr.to_pyarrow())
                for name, expr in tables.metrics.items()
                if name in ORDER_METRICS
            }
            cached = (
                tables_key,
                Tables(
                    profiles=tables.profiles,
                    events=tables.events,
                    orders=tables.orders,
                    tags=tables.tags,
                    metrics={**tables.metrics, **fixed},
                ),
            )
            self._tables[tables_key[0]] = cached
        return self._resolved, cached[1], (self._defs_key, cached[0])

    # -- members of the touched customers, through a reused query --------------------------------
    def members(
        self, ids: list[str], names: set[str] | None = None, at: dt.datetime | None = None
    ) -> pa.Table:
        """Members ``(segment, customer_id)`` of ``ids`` at ``at`` (default: now) rounded up to
        the quantum, as a micro-batch evaluates them: the segments an event-only batch of
        ``names`` can change (``None``: every segment), through the query compiled for that
        instant (compiled here first if need be). On the calling thread's cursor.

        Example: ``app.state.segmint.realtime.members(["c1", "c2"])``
        """
        as_of = quantise(self.state.now() if at is None else at, self.settings.quantum_seconds)
        reader = self.state.reader()
        with self._inputs_lock:
            resolved, tables, key = self._definitions(reader, as_of)
        if names is not None:
            resolved = segments_reading(resolved, names)
        return self._members(reader, key, resolved, tables, sorted(ids), as_of)

    def _members(
        self, reader, key: tuple, resolved: Resolved, tables: Tables, ids: list[str], as_of
    ) -> pa.Table:
        """:func:`members_of` with the ids in :data:`TOUCHED` and the compiled SQL kept per
        (``key``, ``as_of``, segments evaluated) for the calling thread."""
        if not len(resolved):
            return members_from_flags(resolved, pa.table({"customer_id": _strings([])}))
        raw = reader.con.con
        # a view of this Arrow table on this thread's cursor: no write, so the writer stays alone
        raw.register(TOUCHED, pa.table({"customer_id": _strings(ids)}))
        me = threading.get_ident()
        generation = (key, as_of)
        held = self._queries.get(me)
        if held is None or held[0] != generation:  # a new instant or new inputs
            held = (generation, {})
            self._queries[me] = held
        shape = _shape(resolved)
        query = held[1].get(shape)
        if query is None:
            con = reader.con
            only = _only(tables, con.table(TOUCHED))
            expr = compile_flags(list(resolved), only, as_of, timezone=reader.config.timezone)
            # register the inputs held in memory (order metrics) on this cursor, as ibis would
            # before executing; the expression is kept so they stay registered
            con._run_pre_execute_hooks(expr)
            query = (con.compile(expr), expr)
            held[1][shape] = query
            self.compiled += 1
        return members_from_flags(resolved, _fetch(raw, query[0]))

    def _round(
        self,
        kind: str,
        full: set[str] | None,
        event_ids: set[str] | None,
        names: set[str],
        upto: int,
    ) -> None:
        started = time.perf_counter()
        at = self.state.now()  # the changes' stamp
        as_of = quantise(at, self.settings.quantum_seconds)  # the conditions' instant
        reader = self.state.reader()
        with self._inputs_lock:
            resolved, tables, key = self._definitions(reader, as_of)
        tz = reader.config.timezone
        #: (customers or None for all, segments, members now, event names or None: every segment)
        parts: list[tuple[list[str] | None, Resolved, pa.Table, set[str] | None]] = []
        if kind == "sweep":
            whole = current_members(resolved, tables, as_of, timezone=tz)
            parts.append((None, resolved, whole, None))
        else:
            if full:
                ids = sorted(full)
                found = self._members(reader, key, resolved, tables, ids, as_of)
                parts.append((ids, resolved, found, None))
            if event_ids:
                sub = segments_reading(resolved, names or None)
                if len(sub):
                    ids = sorted(event_ids)
                    found = self._members(reader, key, sub, tables, ids, as_of)
                    parts.append((ids, sub, found, names))
        if not parts:
            took = time.perf_counter() - started
            self._announce(Evaluated(kind, at, 0, 0, upto, [], took, evaluated_at=as_of))
            return
        # what changes is worked out here, on this thread's cursor; the writer only applies it
        plans = [p for p in (self._plan(reader, *part) for part in parts) if p is not None]
        evaluated = time.perf_counter()
        changes: list[Change] = []
        # guarded writes, as background calls of at most WRITE_CHUNK_ROWS changes each: accepted
        # events go first and between the pieces of a large round (a sweep, a backlog)
        futures = [
            self.state.writer.call(
                lambda ws, piece=piece: self._apply_plan(ws, piece, at),
                identities=False,
                background=True,
            )
            for plan in plans
            for piece in plan.pieces(WRITE_CHUNK_ROWS)
        ]
        for fut in futures:
            changes += fut.result()
        n = len(full or ()) + len(event_ids or ()) if kind == "batch" else -1
        segs = max(len(p[1]) for p in parts)
        self.rounds += 1
        end = time.perf_counter()
        took, wrote = end - started, end - evaluated
        self._announce(Evaluated(kind, at, n, segs, upto, changes, took, wrote, evaluated_at=as_of))

    def _pending(self, ids: list[str] | None, names: set[str] | None) -> set[str]:
        """Customers noted since this round began (of ``ids``; all when ``None``): skipped now,
        and re-evaluated by the next round with the segments of this part (all of them when
        ``names`` is ``None``, else those reading events called ``names``)."""
        with self._cond:
            later = self._full | self._event_ids
            if ids is not None:
                later &= set(ids)
            elif self._sweep_claimed:
                later |= self._sweep_claimed  # re-evaluated later than the sweep read
            if later and names is None:
                self._full |= later
                self._event_ids -= later
            elif later:
                self._names |= names
            return later

    def _plan(
        self,
        reader,
        ids: list[str] | None,
        resolved: Resolved,
        members: pa.Table,
        names: set[str] | None,
    ) -> _Plan | None:
        """On the evaluating thread: who enters and who leaves, compared with the open rows as
        this thread's cursor sees them (``None``: nothing to write). Customers noted again
        since the round began are skipped (the next round has them)."""
        raw = reader.con.con
        later = self._pending(ids, names)
        if ids is not None:
            ids = [c for c in ids if c not in later]
            if not ids:
                return None
        if later:
            mask = pc.invert(pc.is_in(members.column("customer_id"), pa.array(sorted(later))))
            members = members.filter(mask)
        members = members.select(["segment", "customer_id"])
        slugs = [x.slug for x in resolved]
        views = ("_segmint_rt_now", "_segmint_rt_slugs", "_segmint_rt_ids", "_segmint_rt_later")
        raw.register(views[0], members)
        raw.register(views[1], pa.table({"segment": _strings(slugs)}))
        raw.register(views[2], pa.table({"customer_id": _strings(ids or [])}))
        raw.register(views[3], pa.table({"customer_id": _strings(sorted(later))}))
        open_rows = (
            "SELECT DISTINCT segment, customer_id FROM segment_membership "
            "WHERE exited_at IS NULL AND segment IN (SELECT segment FROM _segmint_rt_slugs) "
            + (
                "AND customer_id IN (SELECT customer_id FROM _segmint_rt_ids) "
                if ids is not None
                else "AND customer_id NOT IN (SELECT customer_id FROM _segmint_rt_later) "
            )
        )
        try:
            leaving = _fetch(
                raw,
                f"SELECT o.segment, o.customer_id FROM ({open_rows}) o "
                "ANTI JOIN _segmint_rt_now n ON n.segment = o.segment "
                "AND n.customer_id = o.customer_id",
            )
            entering = _fetch(
                raw,
                "SELECT DISTINCT n.segment, n.customer_id FROM _segmint_rt_now n "
                "SEMI JOIN profiles p ON p.customer_id = n.customer_id "
                f"ANTI JOIN ({open_rows}) o ON n.segment = o.segment "
                "AND n.customer_id = o.customer_id",
            )
        finally:
            for name in views:
                raw.unregister(name)
        tagging = [x for x in resolved if x.spec.tags_add or x.spec.tags_remove]
        tagged = None
        if tagging:
            keep = pc.is_in(members.column("segment"), pa.array([x.slug for x in tagging]))
            tagged = members.filter(keep)
        if not (leaving.num_rows or entering.num_rows or (tagged is not None and tagged.num_rows)):
            return None
        return _Plan(leaving, entering, tagging, tagged)

    def _apply_plan(self, ws, plan: _Plan, at: dt.datetime) -> list[Change]:
        """On the writer thread, in its transaction: close the open rows of leavers, open rows
        for entrants, apply auto-tags. Each write is guarded by the rows as they are now (a
        sweep may have written some of the same changes meanwhile; an erased person gets no
        row), and only what was written is reported."""
        raw = ws.con.con
        exited = entered = None
        if plan.leaving.num_rows:
            raw.register("_segmint_rt_leaving", plan.leaving)
            try:
                exited = _fetch(
                    raw,
                    "UPDATE segment_membership AS h SET exited_at = $1 "
                    "FROM _segmint_rt_leaving AS l WHERE h.segment = l.segment "
                    "AND h.customer_id = l.customer_id AND h.exited_at IS NULL "
                    "RETURNING h.segment, h.customer_id",
                    [at],
                )
            finally:
                raw.unregister("_segmint_rt_leaving")
        if plan.entering.num_rows:
            n = plan.entering.num_rows
            rows = pa.table(
                {
                    "segment": plan.entering.column("segment"),
                    "customer_id": plan.entering.column("customer_id"),
                    "entered_at": pa.array([at] * n, pa.timestamp("us")),
                    "exited_at": pa.nulls(n, pa.timestamp("us")),
                }
            ).cast(TABLES["segment_membership"].to_pyarrow())
            raw.register("_segmint_rt_entering", rows)
            try:
                entered = _fetch(
                    raw,
                    "INSERT INTO segment_membership SELECT e.* FROM _segmint_rt_entering e "
                    "SEMI JOIN profiles p ON p.customer_id = e.customer_id "
                    "ANTI JOIN (SELECT segment, customer_id FROM segment_membership "
                    "WHERE exited_at IS NULL) o "
                    "ON o.segment = e.segment AND o.customer_id = e.customer_id "
                    "RETURNING segment, customer_id",
                )
            finally:
                raw.unregister("_segmint_rt_entering")
        if plan.tagged is not None and plan.tagged.num_rows:
            raw.register("_segmint_rt_now", plan.tagged)
            try:
                self._auto_tags(raw, plan.tagging, at)
            finally:
                raw.unregister("_segmint_rt_now")
        out: list[Change] = []
        for kind, done in (("exited", exited), ("entered", entered)):
            if done is None:
                continue
            out += [
                Change(s, c, kind, at)
                for s, c in zip(
                    done.column("segment").to_pylist(),
                    done.column("customer_id").to_pylist(),
                    strict=True,
                )
            ]
        return out

    @staticmethod
    def _auto_tags(raw, resolved, at: dt.datetime) -> None:
        """``tags_remove`` then ``tags_add`` of each segment for its members in this round, in
        definition order (as :func:`segmint.segments.run` does)."""
        for seg in resolved:
            spec = seg.spec
            for tag in spec.tags_remove:
                raw.execute(
                    "DELETE FROM tags WHERE tag = ? AND customer_id IN "
                    "(SELECT customer_id FROM _segmint_rt_now WHERE segment = ?)",
                    [tag, seg.slug],
                )
            for tag in spec.tags_add:
                raw.execute(
                    "INSERT INTO tags (customer_id, tag, source, added_at) "
                    "SELECT DISTINCT n.customer_id, ?, ?, ? FROM _segmint_rt_now n "
                    "WHERE n.segment = ? AND n.customer_id NOT IN "
                    "(SELECT customer_id FROM tags WHERE tag = ?)",
                    [tag, f"segment:{seg.slug}", at, seg.slug, tag],
                )

    def _announce(self, done: Evaluated) -> None:
        for fn in self._listeners:
            try:
                fn(done)
            except Exception:
                log.exception("a real-time membership listener failed")
