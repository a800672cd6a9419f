"""Workflows in the service: triggers → condition → actions, and webhook delivery (layer 5).

:class:`WorkflowEngine` runs ``<workspace>/workflows/*.yaml`` (:mod:`segmint.activation.workflows`)
on two threads of its own, so neither ingestion nor the membership evaluator ever waits on it:

- the **engine** thread takes triggers from a queue — segment entered / exited (the evaluator's
  recorded changes), events (the writer's commits, matched by name and property filters),
  schedules and date anniversaries (checked every ``tick_seconds``) — evaluates the condition
  for the customers concerned (the compiled segment predicate filtered to their ids), then runs
  the actions: tags, audience lists and traits in one transaction through the writer
  (:meth:`Writer.call`) together with the ``workflow_runs`` rows;
- the **delivery** thread POSTs webhooks signed like campaign sends, retries a failed one with
  exponential backoff (``workflows.webhook_tries``, ``webhook_backoff_seconds``) without holding
  up the others, and parks it in ``webhook_dead_letters`` after the last try.

Webhooks are durable: each is written to ``webhook_outbox`` in the transaction that records
its run and removed once delivered or parked, so a restart — or a crash — resumes what was not
delivered (tries included), and a webhook whose person was erased meanwhile is never sent.

An exception in a workflow fails that run (``status = failed`` with the error), never the engine.

Example:
    >>> from segmint.server.automation import WorkflowEngine  # started by ServerState
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import itertools
import json
import logging
import queue
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import ibis
import pyarrow as pa

from segmint import workflows as store
from segmint.activation.workflows import (
    Cron,
    EventTrigger,
    Workflow,
    backoff,
    deliver,
    webhook_body,
    workflow_files,
)
from segmint.config import WorkflowSettings, resolve_secret
from segmint.rules import Resolved, Tables, resolve
from segmint.rules.reference import Evaluator, Rows
from segmint.server.live import _Raw, _rebuild_profiles
from segmint.server.realtime import Evaluated, members_of
from segmint.server.threads import background_thread

__all__ = ["WorkflowEngine"]

log = logging.getLogger("segmint.server")


@dataclass
class _Fire:
    """One trigger firing: a workflow for some customers."""

    workflow: Workflow
    trigger: str
    customers: list[str]


@dataclass(order=True)
class _Letter:
    due: float
    seq: int
    letter_id: str = field(compare=False)
    run_id: str = field(compare=False)
    workflow: str = field(compare=False)
    customer_id: str | None = field(compare=False)
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    tries: int = field(default=0, compare=False)
    status: int | None = field(default=None, compare=False)
    error: str | None = field(default=None, compare=False)


_STOP = object()


class WorkflowEngine:
    """Runs the workspace's workflows while the service runs (see the module docs).

    Args:
        state: the :class:`~segmint.server.state.ServerState`.
        evaluator: the membership evaluator (its changes fire segment triggers; tags and traits
            changed by actions are handed back to it).
        settings: ``workflows:`` of segmint.yaml.
        tick_seconds: how often schedules and date triggers are checked.
        http: an ``httpx.Client`` for webhooks (tests); one is made otherwise.
    """

    def __init__(
        self,
        state,
        evaluator=None,
        settings: WorkflowSettings | None = None,
        *,
        tick_seconds: float = 15.0,
        http=None,
    ) -> None:
        self.state = state
        self.evaluator = evaluator
        self.settings = settings or state.workspace.config.workflows
        self.tick_seconds = tick_seconds
        self._http = http
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._letters: list[_Letter] = []
        self._letters_cond = threading.Condition()
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._workflows: list[Workflow] = []
        self._files_key: tuple | None = None
        self._resolved: Resolved | None = None
        self._conditions: dict[str, Resolved] = {}
        self._last_fired: dict[str, Any] = {}
        self._last_minute: dt.datetime | None = None
        self._busy = 0
        self._busy_lock = threading.Condition()
        self.load_error: str | None = None
        self.runs = 0
        self.failures = 0

    # -- life ------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._stopping.clear()
        self.reload()
        self._resume()
        for target, name in (
            (self._run, "segmint-workflows"),
            (self._deliver_loop, "segmint-webhooks"),
            (self._ticker, "segmint-workflow-ticks"),
        ):
            t = background_thread(target, name)  # below ingestion's threads
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 30.0) -> None:
        """Finish queued triggers, then stop (webhooks still waiting for a retry stay in the
        outbox and are sent after the next start)."""
        if not self._threads:
            return
        self._queue.put(_STOP)
        self._stopping.set()
        with self._letters_cond:
            self._letters_cond.notify_all()
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    @property
    def workflows(self) -> list[Workflow]:
        return list(self._workflows)

    def reload(self) -> None:
        """Read the workflow files again if they changed (an invalid set is logged and kept
        out: the previous workflows stay)."""
        ws = self.state.reader()
        files = workflow_files(ws.path)
        key = tuple((str(p), p.stat().st_mtime_ns) for p in files)
        if key == self._files_key:
            return
        self._files_key = key
        try:
            found = ws.workflows() if files else []
        except Exception as exc:
            self.load_error = str(exc)
            log.error("workflows not loaded: %s", exc)
            return
        self.load_error = None
        self._workflows = [w for w in found if w.enabled]
        self._resolved = None
        self._conditions = {}

    # -- inputs (never block the caller) ---------------------------------------------------------
    def on_membership(self, done: Evaluated) -> None:
        """Evaluator listener: segment entered / exited triggers."""
        if not done.changes or not self._workflows:
            return
        by_key: dict[tuple[str, str], list[str]] = {}
        for c in done.changes:
            by_key.setdefault((c.kind, c.segment), []).append(c.customer_id)
        for wf in self._workflows:
            t = wf.trigger
            for kind, attr in (("entered", "segment_entered"), ("exited", "segment_exited")):
                slug = getattr(t, attr, None)
                if slug is not None and (kind, slug) in by_key:
                    ids = sorted(set(by_key[(kind, slug)]))
                    self._put(_Fire(wf, f"segment_{kind}:{slug}", ids))

    def on_commit(self, done) -> None:
        """Writer listener: event triggers (name and property filters)."""
        events = done.applied.events
        if events is None or not events.num_rows:
            return
        wanted = [w for w in self._workflows if isinstance(w.trigger, EventTrigger)]
        if not wanted:
            return
        rows = events.to_pylist()
        for wf in wanted:
            self._put(_Fire(wf, "event", []), rows=rows)

    def _put(self, fire: _Fire, rows: list[dict] | None = None) -> None:
        with self._busy_lock:
            self._busy += 1
        self._queue.put((fire, rows))

    def tick(self, now: dt.datetime | None = None) -> None:
        """Check schedules and date triggers at ``now`` (default: the service clock)."""
        now = now or self.state.now()
        local = _local(now, self.state.workspace.config.timezone)
        minute = local.replace(second=0, microsecond=0)
        new_minute = minute != self._last_minute
        self._last_minute = minute
        for wf in self._workflows:
            kind = wf.trigger_kind
            t = wf.trigger
            if kind == "schedule":
                every = t.schedule
                if every.cron is not None:
                    if new_minute and Cron(every.cron).matches(minute):
                        self._put(_Fire(wf, f"schedule:{minute:%Y-%m-%dT%H:%M}", []))
                else:
                    last = self._last_fired.get(wf.slug)
                    if last is None:
                        self._last_fired[wf.slug] = now  # the first run is one period after start
                    elif now - last >= dt.timedelta(minutes=every.every_minutes):
                        self._last_fired[wf.slug] = now
                        self._put(_Fire(wf, f"schedule:{now:%Y-%m-%dT%H:%M}", []))
            elif kind == "date":
                day = local.date()
                if local.hour >= t.at_hour and self._last_fired.get(wf.slug) != day:
                    self._last_fired[wf.slug] = day
                    self._put(_Fire(wf, f"date:{day.isoformat()}", []))

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no trigger is queued or running and no webhook waits (tests)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._busy_lock:
                busy = self._busy
            with self._letters_cond:
                letters = len(self._letters) + getattr(self, "_sending", 0)
            if not busy and not letters:
                return True
            time.sleep(0.02)
        return False

    # -- the engine thread -----------------------------------------------------------------------
    def _ticker(self) -> None:
        while not self._stopping.wait(self.tick_seconds):
            try:
                self.reload()
                self.tick()
            except Exception:
                log.exception("workflow schedules: a tick failed")

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            fire, rows = item
            try:
                if rows is not None:
                    fire = self._match_events(fire, rows)
                elif fire.trigger.startswith(("schedule:", "date:")):
                    fire = self._audience(fire)
                if fire.customers:
                    self._execute(fire)
            except Exception as exc:
                self.failures += 1
                log.exception("workflow %s failed", fire.workflow.slug)
                self._log_failure(fire, exc)
            finally:
                with self._busy_lock:
                    self._busy -= 1
                    self._busy_lock.notify_all()

    def _match_events(self, fire: _Fire, rows: list[dict]) -> _Fire:
        t: EventTrigger = fire.workflow.trigger
        names = (
            None if t.event == "any" else set(t.event if isinstance(t.event, tuple) else (t.event,))
        )
        filters = self._event_filters(fire.workflow) if t.where else ()
        ev = Evaluator(Rows(profiles=[]), self.state.now())
        hits: list[str] = []
        label = None
        for r in rows:
            if r.get("customer_id") is None or r.get("type") != "track":
                continue
            if names is not None and r.get("event") not in names:
                continue
            if all(ev.compare_row(r, f)[0] for f in filters):
                hits.append(r["customer_id"])
                label = r.get("event")
        return _Fire(fire.workflow, f"event:{label}", sorted(set(hits)))

    def _event_filters(self, wf: Workflow):
        """The trigger's property filters, resolved like the filters of a performed leaf."""
        t: EventTrigger = wf.trigger
        spec = {
            "slug": "workflow_trigger",
            "title_en": wf.slug,
            "title_zh_hant": wf.slug,
            "owner": "workflows",
            "reviewed_on": "2026-01-01",
            "where": {
                "performed": list(t.event) if isinstance(t.event, tuple) else t.event,
                "where": [f.model_dump(by_alias=True, exclude_none=True) for f in t.where],
            },
        }
        catalog = self.state.reader().segment_tables(self.state.now()).catalog(event_names=None)
        return resolve(spec, catalog)["workflow_trigger"].where.filters

    def _audience(self, fire: _Fire) -> _Fire:
        """Who a schedule or date trigger is for."""
        ws = self.state.reader()
        wf = fire.workflow
        t = wf.trigger
        p = ws.table("profiles")
        if wf.trigger_kind == "date":
            local = _local(self.state.now(), ws.config.timezone).date()
            target = local + dt.timedelta(days=t.days_before)
            col = p[t.date]
            d = col.date() if col.type().is_timestamp() else col
            hit = p.filter((d.month() == target.month) & (d.day() == target.day))
            ids = hit.customer_id.to_pyarrow().to_pylist()
            done = self._already_ran(ws, wf.slug, fire.trigger)
            ids = [c for c in ids if c not in done]
        elif t.segment is not None:
            h = ws.table("segment_membership")
            mine = h.filter(h.exited_at.isnull() & (h.segment == ibis.literal(t.segment)))
            ids = mine.customer_id.to_pyarrow().to_pylist()
        else:
            ids = p.customer_id.to_pyarrow().to_pylist()
        return _Fire(wf, fire.trigger, sorted(set(ids)))

    @staticmethod
    def _already_ran(ws, workflow: str, trigger: str) -> set[str]:
        r = ws.table("workflow_runs")
        done = r.filter(
            (r.workflow == ibis.literal(workflow)) & (r.trigger == ibis.literal(trigger))
        )
        return set(done.customer_id.to_pyarrow().to_pylist())

    def _condition(self, wf: Workflow, ids: list[str]) -> set[str]:
        """The customers of ``ids`` who meet the workflow's condition now."""
        cond = store.condition_set(wf)
        if cond is None:
            return set(ids)
        ws = self.state.reader()
        if wf.slug not in self._conditions:
            if self._resolved is None:
                self._resolved = ws.segment_definitions()
            tables = ws.segment_tables(self.state.now())
            full = resolve(
                [*store.resolved_specs(self._resolved), cond],
                tables.catalog(event_names=None),
            )
            slug = store.condition_slug(wf)
            mine = [st for st in full.sets if any(x.slug == slug for x in st.segments)]
            self._conditions[wf.slug] = Resolved(sets=tuple(mine))
        at = self.state.now()
        tables: Tables = ws.segment_tables(at)
        found = members_of(self._conditions[wf.slug], tables, ids, at, ws.config.timezone)
        return set(found.column("customer_id").to_pylist())

    def _execute(self, fire: _Fire) -> None:
        wf = fire.workflow
        at = self.state.now()
        chosen = self._condition(wf, fire.customers)
        skipped = [c for c in fire.customers if c not in chosen]
        ids = sorted(chosen)
        run_ids = {c: store.new_id("run") for c in ids}
        hooks = [a.webhook for a in wf.actions if type(a).__name__ == "Webhook"]
        profiles = self._profiles(ids) if hooks and any(h.include_profile for h in hooks) else {}
        done_actions: list[dict] = []
        error: str | None = None

        queued = [{"action": "webhook", "ok": None, "detail": "queued"} for _ in hooks]
        letters = [
            _Letter(
                0.0,
                next(self._seq),
                store.new_id("wh"),
                run_ids[c],
                wf.slug,
                c,
                hook.url,
                webhook_body(
                    wf.slug,
                    run_ids[c],
                    fire.trigger,
                    c,
                    at,
                    profiles.get(c, {}) if hook.include_profile else {},
                ),
            )
            for hook in hooks
            for c in ids
        ]

        def apply(ws) -> None:
            nonlocal error
            for action in wf.actions:
                name = type(action).__name__
                if name == "Webhook":
                    continue
                try:
                    detail = self._apply(ws, action, ids, wf.slug, at)
                    done_actions.append({"action": _key(action), "ok": True, "detail": detail})
                except Exception as exc:  # one failing action fails the run, not the engine
                    done_actions.append({"action": _key(action), "ok": False, "detail": str(exc)})
                    error = f"{type(exc).__name__}: {exc}"
                    raise
            rows = [
                {
                    "run_id": run_ids[c],
                    "workflow": wf.slug,
                    "trigger": fire.trigger,
                    "customer_id": c,
                    "started_at": at,
                    "finished_at": self.state.now(),
                    "status": "webhook_pending" if hooks else "done",
                    "actions": [*done_actions, *queued],
                }
                for c in ids
            ]
            rows += [
                {
                    "run_id": store.new_id("run"),
                    "workflow": wf.slug,
                    "trigger": fire.trigger,
                    "customer_id": c,
                    "started_at": at,
                    "finished_at": at,
                    "status": "skipped",
                    "actions": [],
                    "error": "the condition does not hold",
                }
                for c in skipped
            ]
            store.record_run(ws.con, rows)
            store.outbox_add(  # durable with the run: a crash from here on loses nothing
                ws.con,
                [
                    {
                        "letter_id": x.letter_id,
                        "run_id": x.run_id,
                        "workflow": x.workflow,
                        "customer_id": x.customer_id,
                        "url": x.url,
                        "body": x.body.decode("utf-8"),
                        "tries": 0,
                        "queued_at": at,
                    }
                    for x in letters
                ],
            )

        if ids or skipped:
            try:
                self.state.writer.call(apply, identities=False).result()
            except Exception as exc:
                self._log_failure(fire, exc, ids=ids, actions=done_actions, error=error)
                return
        self.runs += len(ids)
        changed = any(type(a).__name__ != "Webhook" for a in wf.actions)
        if changed and ids and self.evaluator is not None:
            self.evaluator.touch(ids)  # tags / traits changed: segments may change too
        for letter in letters:
            self._enqueue_letter(letter)

    def _apply(self, ws, action, ids: list[str], workflow: str, at: dt.datetime) -> int:
        con = ws.con
        name = type(action).__name__
        source = f"workflow:{workflow}"
        if name == "AddTag":
            return store.add_tag(con, action.add_tag, ids, source=source, at=at)
        if name == "RemoveTag":
            return store.remove_tag(con, action.remove_tag, ids)
        if name == "AddToList":
            return store.add_to_list(con, action.add_to_list, ids, by=source, at=at)
        if name == "RemoveFromList":
            return store.remove_from_list(con, action.remove_from_list, ids)
        if name == "SetTrait":
            return _set_trait(con, ids, action.set_trait.name, action.set_trait.value, at)
        raise AssertionError(name)  # pragma: no cover

    def _profiles(self, ids: list[str]) -> dict[str, dict]:
        ws = self.state.reader()
        p = ws.table("profiles")
        only = ibis.memtable(pa.table({"customer_id": pa.array(ids, pa.string())}))
        rows = p.filter(p.customer_id.isin(only.customer_id)).to_pyarrow().to_pylist()
        out = {}
        for r in rows:
            if r.get("traits"):
                with contextlib.suppress(ValueError):
                    r["traits"] = json.loads(r["traits"])
            out[r["customer_id"]] = {k: _plain(v) for k, v in r.items()}
        return out

    def _log_failure(self, fire: _Fire, exc: BaseException, *, ids=None, actions=None, error=None):
        self.failures += 1
        at = self.state.now()
        message = error or f"{type(exc).__name__}: {exc}"
        rows = [
            {
                "run_id": store.new_id("run"),
                "workflow": fire.workflow.slug,
                "trigger": fire.trigger,
                "customer_id": c,
                "started_at": at,
                "finished_at": at,
                "status": "failed",
                "actions": actions or [],
                "error": message[:2000],
            }
            for c in (ids if ids is not None else fire.customers) or [None]
        ]
        try:
            self.state.writer.call(lambda ws: store.record_run(ws.con, rows), identities=False)
        except Exception:  # the writer is gone (stopping): the log line above must do
            log.exception("could not record a failed workflow run")

    # -- webhooks --------------------------------------------------------------------------------
    def _secret(self) -> str:
        from segmint.activation.workflows import check_secret

        secret = check_secret(self.settings.webhook_secret)
        return resolve_secret(secret, where="workflows.webhook_secret")

    def _resume(self) -> None:
        """Queue the webhooks an earlier run of the service did not deliver (due now, with
        the tries they had)."""
        try:
            pending = store.outbox(self.state.reader().con)
        except Exception:
            log.exception("could not read the webhook outbox; its webhooks wait for a restart")
            return
        for row in pending:
            self._enqueue_letter(
                _Letter(
                    0.0,
                    next(self._seq),
                    row["letter_id"],
                    row["run_id"],
                    row["workflow"],
                    row["customer_id"],
                    row["url"],
                    row["body"].encode("utf-8"),
                    tries=row["tries"] or 0,
                )
            )
        if pending:
            log.info("resuming %d webhook(s) not delivered before the restart", len(pending))

    def _enqueue_letter(self, letter: _Letter) -> None:
        with self._letters_cond:
            heapq.heappush(self._letters, letter)
            self._letters_cond.notify_all()

    def _deliver_loop(self) -> None:
        import httpx

        http = self._http or httpx.Client(
            timeout=self.settings.webhook_timeout_seconds, follow_redirects=False
        )
        self._sending = 0
        try:
            while True:
                with self._letters_cond:
                    while not self._letters or self._letters[0].due > time.monotonic():
                        if self._stopping.is_set():
                            break
                        wait = self._letters[0].due - time.monotonic() if self._letters else 1.0
                        self._letters_cond.wait(max(min(wait, 1.0), 0.005))
                    if self._stopping.is_set() and (
                        not self._letters or self._letters[0].due > time.monotonic()
                    ):
                        rest, self._letters = self._letters, []
                        break
                    letter = heapq.heappop(self._letters)
                    self._sending = 1
                try:
                    self._try(letter, http)
                finally:
                    with self._letters_cond:
                        self._sending = 0
            if rest:  # stopping: they stay in the outbox for the next start
                log.info("%d webhook(s) wait in the outbox for the next start", len(rest))
        finally:
            if self._http is None:
                http.close()

    def _try(self, letter: _Letter, http) -> None:
        try:
            wanted = store.outbox_has(self.state.reader().con, letter.letter_id)
        except Exception:
            log.exception("could not read the webhook outbox; sending anyway")
            wanted = True
        if not wanted:  # the person was erased meanwhile: nothing about them leaves
            log.info(
                "webhook %s of run %s is no longer in the outbox", letter.letter_id, letter.run_id
            )
            return
        try:
            result = deliver(letter.url, letter.body, self._secret(), client=http)
        except Exception as exc:  # e.g. no secret: no retry can help
            letter.tries = self.settings.webhook_tries
            letter.error = f"{type(exc).__name__}: {exc}"
            self._park(letter)
            return
        letter.tries += 1
        letter.status, letter.error = result.status, result.error
        if result.ok:
            self._finish_run(letter, "done", None)
            return
        if letter.tries >= self.settings.webhook_tries:
            self._park(letter)
            return
        s = self.settings
        letter.due = time.monotonic() + backoff(
            letter.tries, s.webhook_backoff_seconds, s.webhook_max_backoff_seconds
        )
        tries, letter_id = letter.tries, letter.letter_id
        self.state.writer.call(
            lambda ws: store.outbox_tried(ws.con, letter_id, tries),
            identities=False,
            background=True,
        )
        self._enqueue_letter(letter)

    def _park(self, letter: _Letter) -> None:
        row = {
            "run_id": letter.run_id,
            "workflow": letter.workflow,
            "customer_id": letter.customer_id,
            "url": letter.url,
            "body": letter.body.decode("utf-8"),
            "tries": letter.tries,
            "last_status": letter.status,
            "last_error": letter.error,
            "parked_at": self.state.now(),
        }
        self._finish_run(letter, "dead_letter", letter.error, park=row)

    def _finish_run(self, letter: _Letter, status: str, error: str | None, park=None) -> None:
        def write(ws) -> None:
            if park is not None:
                store.park(ws.con, park)
            store.outbox_remove(ws.con, letter.letter_id)
            store.finish_run(ws.con, letter.run_id, status, error, self.state.now())

        try:
            self.state.writer.call(write, identities=False).result(timeout=60)
        except Exception:
            log.exception("could not record the webhook outcome of run %s", letter.run_id)

    def replay(self, letter_id: str):
        """Send a dead letter again (one try) and record the outcome through the writer."""
        ws = self.state.reader()
        letter = store.get_letter(ws.con, letter_id)
        store.check_replayable(letter)
        result = deliver(
            letter["url"],
            letter["body"].encode("utf-8"),
            self._secret(),
            timeout=self.settings.webhook_timeout_seconds,
        )
        at = self.state.now()
        self.state.writer.call(
            lambda w: store.mark_replayed(w.con, letter_id, result, at), identities=False
        ).result(timeout=60)
        return result


def _key(action) -> str:
    return next(iter(action.model_dump(by_alias=True)))


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _local(at: dt.datetime, timezone: str) -> dt.datetime:
    """Naive UTC ``at`` as naive local time of ``timezone``."""
    return at.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(timezone)).replace(tzinfo=None)


def _set_trait(con, ids: Iterable[str], name: str, value: Any, at: dt.datetime) -> int:
    """Set ``traits.<name>`` of each customer: a ``source_profiles`` record
    ``workflow:<customer_id>`` (source ``workflow``) carries the workflow's traits, so the
    profile rebuilt from its records takes the value as the most recent one."""
    ids = sorted(set(ids))
    if not ids:
        return 0
    raw = con.con
    sql = _Raw(raw)
    try:
        records = [f"workflow:{c}" for c in ids]
        sql.register(
            "_segmint_wf_records",
            pa.table({"record_id": pa.array(records, pa.string())}),
        )
        old = {
            r["record_id"]: r
            for r in sql.fetch(
                "SELECT record_id, traits FROM source_profiles "
                "WHERE record_id IN (SELECT record_id FROM _segmint_wf_records)"
            ).to_pylist()
        }
        known = set(
            sql.fetch(
                "SELECT customer_id FROM profiles WHERE customer_id IN "
                "(SELECT substr(record_id, 10) FROM _segmint_wf_records)"
            )
            .column("customer_id")
            .to_pylist()
        )
        sql.run(
            "DELETE FROM source_profiles "
            "WHERE record_id IN (SELECT record_id FROM _segmint_wf_records)"
        )
        from segmint.schema import TABLES

        schema = TABLES["source_profiles"].to_pyarrow()
        rows = []
        for c, rec in zip(ids, records, strict=True):
            if c not in known:
                continue
            traits = json.loads(old[rec]["traits"]) if rec in old and old[rec]["traits"] else {}
            traits[name] = value
            row = dict.fromkeys(schema.names)
            row.update(
                record_id=rec,
                source="workflow",
                customer_id=c,
                traits=json.dumps(traits, ensure_ascii=False),
                imported_at=at,
            )
            rows.append(row)
        if rows:
            sql.insert("source_profiles", pa.Table.from_pylist(rows, schema=schema))
            _rebuild_profiles(con, sql, [r["customer_id"] for r in rows], at)
    finally:
        sql.close()
    return len(rows)
