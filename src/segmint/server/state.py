"""What the running service holds: the workspace, its writer, the keys, readers per thread.

The writer thread owns the workspace's connection. Request handlers that read use
:meth:`ServerState.reader`: a workspace on a DuckDB cursor of their own thread (a separate
connection to the same database), which sees every committed write and never shares the
writer's connection.

Example:
    >>> import tempfile
    >>> from segmint.workspace import Workspace
    >>> state = ServerState(Workspace.create(tempfile.mkdtemp() + "/shop"))
    >>> state.reader().table("events").count().execute()
    0
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
import time

from segmint import keys
from segmint.errors import ForbiddenError, SegmintError, UnauthorizedError, WorkspaceError
from segmint.server.messages import Message
from segmint.server.ratelimit import RateLimiter
from segmint.server.settings import ServerSettings
from segmint.server.writer import SubmitResult, Writer
from segmint.workspace import Workspace

__all__ = ["KeyRing", "ServerState", "ServiceBusyError"]


class ServiceBusyError(SegmintError):
    """Too many messages are waiting to be committed (HTTP 503; clients retry)."""

    type_name = "busy"
    status_code = 503


class KeyRing:
    """The workspace's API keys by hash, in memory; reloaded on a miss (at most once a second,
    so unknown tokens cannot make every request query the database)."""

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self._by_hash: dict[str, keys.ApiKey] = {}
        self._loaded = 0.0
        self._lock = threading.Lock()

    def reload(self) -> None:
        with self._lock:
            found = keys.list_keys(self._state.reader().con)
            self._by_hash = {k.hash: k for k in found}
            self._loaded = time.monotonic()

    @property
    def active(self) -> int:
        return sum(1 for k in self._by_hash.values() if k.active)

    def check(self, token: str | None, scope: str) -> keys.ApiKey:
        """The key for ``token`` if it may act with ``scope``; else a 401/403 error."""
        if not token:
            raise UnauthorizedError(
                "This request has no API key.",
                hint="send the key as the HTTP Basic user name (as Segment libraries send the "
                "write key) or as 'Authorization: Bearer KEY'; create one with "
                "`segmint keys create --scope ingest`.",
            )
        digest = keys.hash_token(token)
        key = self._by_hash.get(digest)
        if key is None and time.monotonic() - self._loaded > 1.0:
            self.reload()
            key = self._by_hash.get(digest)
        if key is None:
            raise UnauthorizedError(
                "The API key is not valid for this workspace.",
                hint="check the key (it is shown once, by `segmint keys create`).",
            )
        if not key.active:
            raise UnauthorizedError(
                f"The API key {key.key_id} was revoked on {key.revoked_at:%Y-%m-%d %H:%M} UTC.",
                hint="create a new key with `segmint keys create`.",
            )
        if not key.may(scope):
            raise ForbiddenError(
                f"The {key.scope} key {key.key_id} may only send events; this needs an "
                f"{scope} key.",
                hint="use a key created with `segmint keys create --scope admin`.",
            )
        return key


class ServerState:
    """The service's workspace, writer, keys and per-thread readers."""

    def __init__(self, workspace: Workspace, settings: ServerSettings | None = None) -> None:
        if workspace.con.name != "duckdb" or getattr(workspace.con, "con", None) is None:
            raise WorkspaceError(
                f"The service needs a DuckDB workspace. Got the {workspace.con.name} engine.",
                hint="serve a workspace folder created with `segmint init`.",
            )
        self.workspace = workspace
        self.settings = settings or ServerSettings()
        if self.settings.duckdb_threads is not None:
            workspace.con.con.execute(f"SET threads = {int(self.settings.duckdb_threads)}")
        self.writer = Writer(
            workspace,
            max_group_messages=self.settings.max_group_messages,
            key_touch_seconds=self.settings.key_touch_seconds,
        )
        # cursors are spawned from one root cursor made now, before the writer thread runs
        self._root = workspace.con.con.cursor()
        self._root_lock = threading.Lock()
        self._local = threading.local()
        self.keys = KeyRing(self)
        self.limiter = RateLimiter(self.settings.rate_limits or workspace.config.server)
        # real-time membership and workflows (segmint.server.realtime / automation): their own
        # threads; the writer only notes what each commit touched
        self.realtime = None
        #: the switch interval before start (restored at stop)
        self._switch_interval: float | None = None
        self.automation = None

    def now(self) -> dt.datetime:
        """receivedAt: naive UTC."""
        if self.settings.clock is not None:
            return self.settings.clock()
        return dt.datetime.now(dt.UTC).replace(tzinfo=None)

    def reader(self) -> Workspace:
        """A read-only use of the workspace for the calling thread (its own DuckDB cursor)."""
        ws = getattr(self._local, "workspace", None)
        if ws is None:
            import ibis

            with self._root_lock:
                cursor = self._root.cursor()
            con = ibis.duckdb.from_connection(cursor)
            ws = Workspace(con, config=self.workspace.config, path=self.workspace.path)
            ws.store_live_inputs = True  # the builder previews again and again
            self._local.workspace = ws
        return ws

    def start(self) -> None:
        self.keys.reload()
        wanted = self.settings.switch_interval_seconds
        if wanted is not None and self._switch_interval is None:
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(wanted)
        self.writer.start()
        self._start_realtime()

    def stop(self) -> None:
        # the evaluator's last changes reach the workflows; their writes go through the writer
        for part in (self.realtime, self.automation):
            if part is not None:
                part.stop()
        self.writer.stop()
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None

    def _start_realtime(self) -> None:
        from segmint.server.automation import WorkflowEngine
        from segmint.server.realtime import MembershipEvaluator

        config = self.workspace.config
        rt = self.settings.realtime or config.realtime
        if rt.enabled and self.realtime is None:
            self.realtime = MembershipEvaluator(self, rt)
            self.writer.add_listener(self.realtime.on_commit)
            self.realtime.start()
        run = (
            config.workflows.enabled if self.settings.workflows is None else self.settings.workflows
        )
        if run and self.automation is None:
            self.automation = WorkflowEngine(self, self.realtime, config.workflows)
            self.writer.add_listener(self.automation.on_commit)
            if self.realtime is not None:
                self.realtime.add_listener(self.automation.on_membership)
            self.automation.start()

    async def submit_messages(self, messages: list[dict], *, source: str | None = None):
        """Validate Segment-spec message dicts (as one ``/v1/batch`` item each) and return once
        they are committed: the entry point of channel webhooks and other in-process senders.

        Returns a :class:`~segmint.server.writer.SubmitResult` (stored, duplicates).
        """
        from segmint.server.messages import parse_messages

        parsed = parse_messages(messages, self.now())
        return await self.write(parsed, source=source or self.settings.source)

    async def write(self, messages: list[Message], *, source: str) -> SubmitResult:
        if self.writer.pending + len(messages) > self.settings.max_pending_messages:
            raise ServiceBusyError(
                f"The service is busy: {self.writer.pending:,} messages are waiting to be stored.",
                hint="retry in a second (Segment libraries retry by themselves).",
            )
        return await self.writer.write(messages, source=source)
