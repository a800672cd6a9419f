"""Audiences (admin keys only): the log of audience exports (``audience_exports``).

Exports themselves are made per segment (``POST /v1/segments/{slug}/export``) or with
``segmint audience export``.

Example:
    >>> router.prefix
    '/v1/audiences'
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from segmint.server.deps import AdminKey, State

__all__ = ["router"]

router = APIRouter(prefix="/v1/audiences", tags=["audiences"])


class ExportLogOut(BaseModel):
    export_id: str
    segments: list[str]
    excluded: list[str]
    channel: str | None
    format: str | None
    path: str | None
    rows: int | None
    dropped: dict[str, int]
    as_of: datetime | None
    exported_by: str | None
    exported_at: datetime | None


@router.get("/exports", operation_id="audiences_exports", response_model=list[ExportLogOut])
def list_exports(
    state: State, key: AdminKey, limit: Annotated[int, Query(ge=1, le=1000)] = 50
) -> list[ExportLogOut]:
    """Audience exports, newest first (without the people: see each file)."""
    rows = state.reader().audience_log(limit).to_pyarrow().to_pylist()
    out = []
    for r in rows:
        for col, empty in (("segments", "[]"), ("excluded", "[]"), ("dropped", "{}")):
            r[col] = json.loads(r[col] or empty)
        r.pop("sha256", None)
        out.append(ExportLogOut(**r))
    return out
