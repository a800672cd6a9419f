"""Workflows (admin keys only): list, validate, runs, dead letters, replay.

Reads run on the request thread's own cursor; a replay sends the webhook from the request
thread and records the outcome through the writer (:meth:`Writer.call`).

Example:
    >>> router.prefix
    '/v1/workflows'
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel

from segmint import workflows as store
from segmint.activation.workflows import parse_workflows
from segmint.errors import SegmintError
from segmint.server.deps import AdminKey, State

__all__ = ["router"]

router = APIRouter(prefix="/v1/workflows", tags=["workflows"])


class WorkflowsOffError(SegmintError):
    """Workflows do not run in this service (HTTP 409)."""

    type_name = "workflows_off"
    status_code = 409


class WorkflowOut(BaseModel):
    slug: str
    title: str
    enabled: bool
    trigger: str
    actions: list[str]
    source: str | None = None
    definition: dict[str, Any]


class WorkflowList(BaseModel):
    workflows: list[WorkflowOut]
    #: why the files are not loaded (the service keeps the previous workflows), if they are not
    load_error: str | None = None


class ValidateOut(BaseModel):
    valid: bool
    workflows: list[str]


class RunOut(BaseModel):
    run_id: str
    workflow: str
    trigger: str | None = None
    customer_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status: str
    actions: list[dict[str, Any]]
    error: str | None = None


class LetterOut(BaseModel):
    letter_id: str
    run_id: str | None = None
    workflow: str
    customer_id: str | None = None
    url: str
    tries: int
    last_status: int | None = None
    last_error: str | None = None
    parked_at: datetime | None = None
    replayed_at: datetime | None = None
    replay_status: str | None = None
    body: str


class ReplayOut(BaseModel):
    letter_id: str
    delivered: bool
    status: int | None = None
    error: str | None = None


def _out(wf) -> WorkflowOut:
    return WorkflowOut(
        slug=wf.slug,
        title=wf.title,
        enabled=wf.enabled,
        trigger=wf.trigger_kind,
        actions=[next(iter(a.model_dump(by_alias=True))) for a in wf.actions],
        source=wf.source,
        definition=wf.model_dump(mode="json", by_alias=True, exclude_defaults=True),
    )


@router.get("", operation_id="workflows_list", response_model=WorkflowList)
def list_workflows(state: State, key: AdminKey) -> WorkflowList:
    """The workflows of ``<workspace>/workflows/`` (checked against the workspace)."""
    found = state.reader().workflows()
    engine = state.automation
    return WorkflowList(
        workflows=[_out(w) for w in found],
        load_error=engine.load_error if engine is not None else None,
    )


@router.post("/validate", operation_id="workflows_validate", response_model=ValidateOut)
def validate_workflow(
    state: State,
    key: AdminKey,
    definition: Annotated[dict[str, Any], Body(description="one workflow or {workflows: [...]}")],
) -> ValidateOut:
    """Check a workflow definition (not saved): 400 with every problem, each with its JSON
    pointer and close names."""
    ws = state.reader()
    found = parse_workflows(definition, source="request")
    tables = ws.segment_tables(state.now())
    store.check(
        found,
        ws.segment_definitions(),
        tables.catalog(event_names=None),
        secret=ws.config.workflows.webhook_secret,
    )
    return ValidateOut(valid=True, workflows=[w.slug for w in found])


@router.get("/runs", operation_id="workflows_runs", response_model=list[RunOut])
def list_runs(
    state: State,
    key: AdminKey,
    workflow: Annotated[str | None, Query(max_length=63)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[RunOut]:
    """The latest runs, newest first."""
    rows = store.runs(state.reader().con, workflow=workflow, limit=limit)
    return [RunOut(**r) for r in rows]


@router.get("/dead-letters", operation_id="workflows_dead_letters", response_model=list[LetterOut])
def list_dead_letters(
    state: State, key: AdminKey, include_replayed: bool = False
) -> list[LetterOut]:
    """Webhooks that failed every try, oldest first."""
    rows = store.dead_letters(state.reader().con, include_replayed=include_replayed)
    return [LetterOut(**r) for r in rows]


@router.post(
    "/dead-letters/{letter_id}/replay", operation_id="workflows_replay", response_model=ReplayOut
)
async def replay_dead_letter(letter_id: str, state: State, key: AdminKey) -> ReplayOut:
    """Send a dead letter again (signed anew, one try); the outcome is stored on the letter."""
    engine = state.automation
    if engine is None:
        raise WorkflowsOffError(
            "Workflows are not running in this service.",
            hint="set workflows.enabled: true in segmint.yaml and restart the service.",
        )
    result = await asyncio.to_thread(engine.replay, letter_id)
    return ReplayOut(
        letter_id=letter_id, delivered=result.ok, status=result.status, error=result.error
    )
