"""Tags (admin keys only): list with counts, give a tag to people, take it away.

Changes run on the writer thread (``Workspace.tags_add`` / ``tags_remove`` in its own
transaction), never on a second connection.

Example:
    >>> router.prefix
    '/v1/tags'
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from segmint import segments as seg
from segmint.server.deps import AdminKey, State

__all__ = ["router"]

router = APIRouter(prefix="/v1/tags", tags=["tags"])


class TagCount(BaseModel):
    tag: str
    source: str | None
    customers: int


class TagCustomersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_ids: list[str] = Field(min_length=1, max_length=10_000)


class TagChange(BaseModel):
    tag: str
    changed: int = Field(description="customers who newly got the tag, or lost it")


@router.get("", operation_id="tags_list", response_model=list[TagCount])
def list_tags(state: State, key: AdminKey) -> list[TagCount]:
    """Every tag with the number of customers holding it, per source."""
    frame = seg.tag_counts(state.reader().con)
    return [TagCount(**r) for r in frame.astype(object).to_dict("records")]


@router.post("/{tag}", operation_id="tags_add", response_model=TagChange)
async def add_tag(tag: str, body: TagCustomersIn, state: State, key: AdminKey) -> TagChange:
    """Give ``tag`` to customers by id (404 naming unknown ids; nothing is written then)."""
    n = await state.writer.run(
        lambda ws: ws.tags_add(tag, body.customer_ids, source="api"), transaction=False
    )
    return TagChange(tag=tag.strip(), changed=n)


@router.delete(
    "/{tag}/customers/{customer_id}", operation_id="tags_remove", response_model=TagChange
)
async def remove_tag(tag: str, customer_id: str, state: State, key: AdminKey) -> TagChange:
    """Take ``tag`` from one customer."""
    n = await state.writer.run(lambda ws: ws.tags_remove(tag, [customer_id]), transaction=False)
    return TagChange(tag=tag.strip(), changed=n)


@router.delete("/{tag}", operation_id="tags_remove_all", response_model=TagChange)
async def remove_tag_everywhere(tag: str, state: State, key: AdminKey) -> TagChange:
    """Take ``tag`` from everyone who has it."""
    n = await state.writer.run(lambda ws: ws.tags_remove(tag, None), transaction=False)
    return TagChange(tag=tag.strip(), changed=n)
