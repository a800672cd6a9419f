"""Workflow bookkeeping in the workspace: runs, dead letters, tags and audience lists (layer 4).

The definitions and webhook delivery live in :mod:`segmint.activation.workflows`; the service
runs them (:mod:`segmint.server.automation`). This module holds what both the service and the CLI
need: the writes of actions (inside the caller's transaction — in the service, a
``Writer.call``), the run log ``workflow_runs``, and the dead-letter table
``webhook_dead_letters`` with :func:`replay`.

SQL here is constant text; values are bound parameters or registered Arrow tables.

Example:
    >>> import tempfile
    >>> from segmint.workspace import Workspace
    >>> ws = Workspace.create(tempfile.mkdtemp() + "/shop")
    >>> dead_letters(ws.con)
    []
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import ibis
import pyarrow as pa

from segmint import storage
from segmint.activation.workflows import Delivery, WorkflowDefinitionError, deliver
from segmint.errors import (
    DefinitionError,
    DefinitionProblem,
    NotFoundError,
    ValidationError,
    close_matches,
)
from segmint.rules import Resolved, SegmentSet, SegmentSpec, resolve
from segmint.schema import TABLES

__all__ = [
    "add_tag",
    "add_to_list",
    "check",
    "check_replayable",
    "condition_set",
    "condition_slug",
    "dead_letters",
    "finish_run",
    "get_letter",
    "mark_replayed",
    "new_id",
    "outbox",
    "outbox_add",
    "outbox_has",
    "outbox_remove",
    "outbox_tried",
    "park",
    "record_run",
    "remove_from_list",
    "remove_tag",
    "replay",
    "runs",
]


def new_id(prefix: str) -> str:
    """A random id such as ``run_3f2a…`` (ids are not derived from data)."""
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def _raw(con):
    raw = getattr(con, "con", None)
    if con.name != "duckdb" or raw is None:
        raise ValidationError(
            f"Workflows need a DuckDB workspace. Got the {con.name} engine.",
            hint="run workflows on a workspace folder created with `segmint init`.",
        )
    return raw


def _ids(raw, name: str, customer_ids: Iterable[str]) -> str:
    raw.register(name, pa.table({"customer_id": pa.array(sorted(set(customer_ids)), pa.string())}))
    return name


# -- actions (inside the caller's transaction) ---------------------------------------------------
def add_tag(con, tag: str, customer_ids: Iterable[str], *, source: str, at: dt.datetime) -> int:
    """Give ``tag`` to known customers who lack it; returns how many got it."""
    raw = _raw(con)
    _ids(raw, "_segmint_wf_ids", customer_ids)
    try:
        before = raw.execute("SELECT count(*) FROM tags WHERE tag = ?", [tag]).fetchone()[0]
        raw.execute(
            "INSERT INTO tags (customer_id, tag, source, added_at) "
            "SELECT i.customer_id, ?, ?, ? FROM _segmint_wf_ids i "
            "SEMI JOIN profiles p ON p.customer_id = i.customer_id "
            "ANTI JOIN (SELECT customer_id FROM tags WHERE tag = ?) t "
            "ON t.customer_id = i.customer_id",
            [tag, source, at, tag],
        )
        after = raw.execute("SELECT count(*) FROM tags WHERE tag = ?", [tag]).fetchone()[0]
    finally:
        raw.unregister("_segmint_wf_ids")
    return int(after - before)


def remove_tag(con, tag: str, customer_ids: Iterable[str]) -> int:
    """Take ``tag`` from the customers; returns how many lost it."""
    raw = _raw(con)
    _ids(raw, "_segmint_wf_ids", customer_ids)
    try:
        n = raw.execute(
            "SELECT count(DISTINCT customer_id) FROM tags WHERE tag = ? "
            "AND customer_id IN (SELECT customer_id FROM _segmint_wf_ids)",
            [tag],
        ).fetchone()[0]
        raw.execute(
            "DELETE FROM tags WHERE tag = ? "
            "AND customer_id IN (SELECT customer_id FROM _segmint_wf_ids)",
            [tag],
        )
    finally:
        raw.unregister("_segmint_wf_ids")
    return int(n)


def add_to_list(con, name: str, customer_ids: Iterable[str], *, by: str, at: dt.datetime) -> int:
    """Add known customers to audience list ``name`` (table ``audience_lists``) once each."""
    raw = _raw(con)
    _ids(raw, "_segmint_wf_ids", customer_ids)
    try:
        before = raw.execute("SELECT count(*) FROM audience_lists WHERE list = ?", [name])
        n0 = before.fetchone()[0]
        raw.execute(
            "INSERT INTO audience_lists (list, customer_id, added_at, added_by) "
            "SELECT ?, i.customer_id, ?, ? FROM _segmint_wf_ids i "
            "SEMI JOIN profiles p ON p.customer_id = i.customer_id "
            "ANTI JOIN (SELECT customer_id FROM audience_lists WHERE list = ?) a "
            "ON a.customer_id = i.customer_id",
            [name, at, by, name],
        )
        n1 = raw.execute("SELECT count(*) FROM audience_lists WHERE list = ?", [name]).fetchone()
    finally:
        raw.unregister("_segmint_wf_ids")
    return int(n1[0] - n0)


def remove_from_list(con, name: str, customer_ids: Iterable[str]) -> int:
    """Remove the customers from audience list ``name``; returns how many were on it."""
    raw = _raw(con)
    _ids(raw, "_segmint_wf_ids", customer_ids)
    try:
        n = raw.execute(
            "SELECT count(*) FROM audience_lists WHERE list = ? "
            "AND customer_id IN (SELECT customer_id FROM _segmint_wf_ids)",
            [name],
        ).fetchone()[0]
        raw.execute(
            "DELETE FROM audience_lists WHERE list = ? "
            "AND customer_id IN (SELECT customer_id FROM _segmint_wf_ids)",
            [name],
        )
    finally:
        raw.unregister("_segmint_wf_ids")
    return int(n)


# -- the run log -----------------------------------------------------------------------------------
def record_run(con, rows: Sequence[dict[str, Any]]) -> None:
    """Append ``workflow_runs`` rows (dicts with the table's columns; ``actions`` a list)."""
    if not rows:
        return
    schema = TABLES["workflow_runs"].to_pyarrow()
    out = []
    for r in rows:
        row = dict.fromkeys(schema.names)
        row.update(r)
        if not isinstance(row["actions"], str | None):
            row["actions"] = json.dumps(row["actions"], ensure_ascii=False, default=str)
        out.append(row)
    con.insert("workflow_runs", pa.Table.from_pylist(out, schema=schema))


def runs(con, *, workflow: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """The latest workflow runs (newest first), optionally of one workflow."""
    t = con.table("workflow_runs")
    if workflow is not None:
        t = t.filter(t.workflow == ibis.literal(workflow))
    t = t.order_by([ibis.desc("started_at"), ibis.desc("run_id")]).limit(max(int(limit), 0))
    rows = t.to_pyarrow().to_pylist()
    for r in rows:
        r["actions"] = json.loads(r["actions"]) if r.get("actions") else []
    return rows


# -- the outbox: webhooks not delivered yet -------------------------------------------------------
def outbox_add(con, letters: Sequence[dict[str, Any]]) -> None:
    """Append ``webhook_outbox`` rows (in the transaction that records their runs)."""
    if not letters:
        return
    schema = TABLES["webhook_outbox"].to_pyarrow()
    rows = []
    for letter in letters:
        row = dict.fromkeys(schema.names)
        row.update(letter)
        row["tries"] = row["tries"] or 0
        rows.append(row)
    con.insert("webhook_outbox", pa.Table.from_pylist(rows, schema=schema))


def outbox(con) -> list[dict[str, Any]]:
    """Webhooks still to deliver, oldest first (what a start resumes)."""
    t = con.table("webhook_outbox")
    return t.order_by([t.queued_at, t.letter_id]).to_pyarrow().to_pylist()


def outbox_has(con, letter_id: str) -> bool:
    """Whether ``letter_id`` is still to deliver (an erasure removes its person's letters)."""
    found = _raw(con).execute(
        "SELECT 1 FROM webhook_outbox WHERE letter_id = ? LIMIT 1", [letter_id]
    )
    return found.fetchone() is not None


def outbox_tried(con, letter_id: str, tries: int) -> None:
    """Remember how many tries a letter waiting for a retry has had."""
    _raw(con).execute(
        "UPDATE webhook_outbox SET tries = ? WHERE letter_id = ?", [int(tries), letter_id]
    )


def outbox_remove(con, letter_id: str) -> None:
    """Forget a delivered or parked letter."""
    _raw(con).execute("DELETE FROM webhook_outbox WHERE letter_id = ?", [letter_id])


# -- dead letters ----------------------------------------------------------------------------------
def park(con, letter: dict[str, Any]) -> str:
    """Store a webhook that failed its last try; returns its ``letter_id``."""
    schema = TABLES["webhook_dead_letters"].to_pyarrow()
    row = dict.fromkeys(schema.names)
    row.update(letter)
    row["letter_id"] = row.get("letter_id") or new_id("dl")
    con.insert("webhook_dead_letters", pa.Table.from_pylist([row], schema=schema))
    return row["letter_id"]


def dead_letters(con, *, include_replayed: bool = False) -> list[dict[str, Any]]:
    """Parked webhooks, oldest first (those delivered by a replay only with
    ``include_replayed``)."""
    t = con.table("webhook_dead_letters")
    if not include_replayed:
        t = t.filter(t.replay_status.isnull() | (t.replay_status != "delivered"))
    return t.order_by(["parked_at", "letter_id"]).to_pyarrow().to_pylist()


def get_letter(con, letter_id: str) -> dict[str, Any]:
    """One dead letter by id (``NotFoundError`` with close ids otherwise)."""
    t = con.table("webhook_dead_letters")
    rows = t.filter(t.letter_id == ibis.literal(letter_id)).to_pyarrow().to_pylist()
    if not rows:
        known = t.select("letter_id").to_pyarrow().column("letter_id").to_pylist()
        raise NotFoundError(
            f"There is no dead letter '{letter_id}'.",
            suggestions=close_matches(letter_id, known),
            hint="list them with `segmint workflows dead-letters`.",
        )
    return rows[0]


def mark_replayed(con, letter_id: str, delivery: Delivery, at: dt.datetime) -> None:
    """Record the outcome of a replay on the letter (inside the caller's transaction)."""
    raw = _raw(con)
    raw.execute(
        "UPDATE webhook_dead_letters SET replayed_at = ?, replay_status = ?, tries = tries + 1, "
        "last_status = coalesce(?, last_status), last_error = ? WHERE letter_id = ?",
        [
            at,
            "delivered" if delivery.ok else "failed",
            delivery.status,
            delivery.error,
            letter_id,
        ],
    )


def finish_run(con, run_id: str, status: str, error: str | None, at: dt.datetime) -> None:
    """Set the outcome of a run whose webhook was waiting (``done`` or ``dead_letter``)."""
    _raw(con).execute(
        "UPDATE workflow_runs SET status = ?, error = coalesce(?, error), finished_at = ? "
        "WHERE run_id = ?",
        [status, error, at, run_id],
    )


def check_replayable(letter: dict[str, Any]) -> None:
    """Refuse a letter a replay already delivered."""
    if letter.get("replay_status") == "delivered":
        raise ValidationError(
            f"The dead letter '{letter['letter_id']}' was already delivered by a replay on "
            f"{letter['replayed_at']:%Y-%m-%d %H:%M} UTC.",
            hint="nothing to do; see `segmint workflows dead-letters --all`.",
        )


def replay(
    con,
    letter_id: str,
    secret: str,
    *,
    now: dt.datetime | None = None,
    timeout: float = 10.0,
    client=None,
) -> Delivery:
    """Send a dead letter again (signed anew, one try) and record the outcome.

    A letter already delivered by a replay is refused. For the CLI; the service does the same
    with the write through its writer.
    """
    letter = get_letter(con, letter_id)
    check_replayable(letter)
    result = deliver(
        letter["url"], letter["body"].encode("utf-8"), secret, timeout=timeout, client=client
    )
    at = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with storage.transaction(con):
        mark_replayed(con, letter_id, result, at)
    return result


# -- checking against the workspace ----------------------------------------------------------------
def condition_set(workflow) -> SegmentSet | None:
    """The workflow's condition (``if:``) as a one-segment set named ``workflow__<slug>``, so
    it resolves and compiles like any segment (``None`` without a condition)."""
    if workflow.if_ is None:
        return None
    spec = SegmentSpec(
        slug=condition_slug(workflow),
        title_en=workflow.title or workflow.slug,
        title_zh_hant=workflow.title or workflow.slug,
        owner="workflows",
        reviewed_on=dt.date(2026, 1, 1),
        where=workflow.if_,
    )
    return SegmentSet(segments=(spec,))


def condition_slug(workflow) -> str:
    return f"workflow__{workflow.slug}"[:63]


def check(workflows: Sequence, resolved: Resolved, catalog, *, secret: str | None) -> None:
    """Check workflows against the workspace: segments they name exist, date triggers name a
    date column of profiles, conditions resolve, webhooks have a secret. Raises one
    :class:`~segmint.activation.workflows.WorkflowDefinitionError` with every problem."""
    problems: list[DefinitionProblem] = []
    slugs = sorted(resolved.segments)
    profile_schema = catalog.tables.get("profiles")
    for wf in workflows:
        src, name = wf.source, f"Workflow '{wf.slug}'"
        t = wf.trigger
        for key in ("segment_entered", "segment_exited", "segment"):
            slug = getattr(t, key, None)
            if slug is not None and slug not in resolved.segments:
                pointer = f"{wf.pointer}/trigger/{key}"
                problems.append(
                    DefinitionProblem(
                        src,
                        pointer,
                        f"{name} refers to unknown segment '{slug}'.",
                        tuple(close_matches(slug, slugs)),
                        "see `segmint segments library` and <workspace>/segments/ for the segments",
                    )
                )
        if wf.trigger_kind == "date" and profile_schema is not None:
            dates = sorted(
                c for c, ty in profile_schema.items() if ty.is_date() or ty.is_timestamp()
            )
            if t.date not in dates:
                problems.append(
                    DefinitionProblem(
                        src,
                        f"{wf.pointer}/trigger/date",
                        f"{name}: 'date' must be a date column of profiles. "
                        f"Got '{t.date}' instead.",
                        tuple(close_matches(t.date, dates)),
                        "e.g. birth_date",
                    )
                )
        if any(a.__class__.__name__ == "Webhook" for a in wf.actions) and not secret:
            problems.append(
                DefinitionProblem(
                    src,
                    f"{wf.pointer}/actions",
                    f"{name} calls a webhook, but workflows.webhook_secret is not set.",
                    (),
                    "set workflows.webhook_secret in segmint.yaml "
                    "(e.g. env:SEGMINT_WORKFLOW_SECRET)",
                )
            )
        cond = condition_set(wf)
        if cond is None:
            continue
        try:
            resolve([*resolved_specs(resolved), cond], catalog)
        except DefinitionError as exc:
            for p in exc.problems:
                inner = p.pointer.removeprefix("/segments/0")
                inner = inner.replace("/where", "/if", 1) if inner else "/if"
                pointer = wf.pointer + inner
                message = p.message.replace(f"Segment '{condition_slug(wf)}'", name)
                problems.append(DefinitionProblem(src, pointer, message, p.suggestions, p.hint))
    if problems:
        raise WorkflowDefinitionError(problems)


def resolved_specs(resolved: Resolved) -> list[SegmentSet]:
    """The sets behind ``resolved`` (to resolve a condition next to them)."""
    return [st.spec for st in resolved.sets]
