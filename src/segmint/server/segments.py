"""Segments (admin keys only): the library and the workspace's own definitions.

List, get, create / replace / delete workspace definitions (YAML files in
``<workspace>/segments`` written through the spec model), validate (every problem with its
JSON pointer), preview (count and sample, nothing saved), members (recorded membership,
paginated) and export (an audience file for a channel, logged like ``segmint audience
export``; it runs on the writer thread because it writes the export log).

Example:
    >>> router.prefix
    '/v1/segments'
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import ibis
from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from segmint import segments as seg
from segmint.errors import NotFoundError, ValidationError, close_matches
from segmint.rules import parse_specs, to_data
from segmint.server.deps import AdminKey, State
from segmint.server.profiles import actor

__all__ = ["router"]

router = APIRouter(prefix="/v1/segments", tags=["segments"])

Definition = dict[str, Any]


class SegmentOut(BaseModel):
    slug: str
    title_en: str
    title_zh_hant: str
    description: str = ""
    owner: str
    reviewed_on: str
    origin: Literal["library", "workspace"]
    file: str


class SegmentDetail(SegmentOut):
    definition: Definition


class ProblemOut(BaseModel):
    """One problem of a definition: JSON pointer, message, close names, how to fix it."""

    pointer: str
    message: str
    suggestions: list[str] = []
    hint: str | None = None


class ValidationOut(BaseModel):
    valid: bool
    problems: list[ProblemOut]


class PreviewIn(BaseModel):
    """A definition to preview (``definition``) or a known segment (``slug``)."""

    model_config = ConfigDict(extra="forbid")

    definition: Definition | None = None
    slug: str | None = Field(None, max_length=64)
    limit: int = Field(20, ge=0, le=200)


class PreviewOut(BaseModel):
    slug: str
    count: int
    sample: list[dict[str, Any]]


class MemberOut(BaseModel):
    customer_id: str
    entered_at: datetime | None


class MemberPage(BaseModel):
    items: list[MemberOut]
    total: int
    limit: int
    offset: int


class ExportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: Literal["whatsapp", "email", "sms"]
    exclude: list[str] = Field(default_factory=list, max_length=50)
    format: Literal["csv", "json"] = "csv"


class ExportOut(BaseModel):
    export_id: str
    path: str
    rows: int
    dropped: dict[str, int]
    channel: str
    format: str


def _all(ws) -> list[tuple[Any, str, Path | None]]:
    """(spec, origin, file) of every definition, library first."""
    out = []
    library = seg.library_dir()
    files = seg.definition_files(ws.path)
    for path, st in zip(files, seg.load_definitions(ws.path), strict=True):
        origin = "library" if path.parent == library else "workspace"
        for spec in st.segments:
            out.append((spec, origin, path))
    return out


def _out(spec, origin: str, path: Path | None) -> SegmentOut:
    return SegmentOut(
        slug=spec.slug,
        title_en=spec.title_en,
        title_zh_hant=spec.title_zh_hant,
        description=spec.description,
        owner=spec.owner,
        reviewed_on=spec.reviewed_on.isoformat(),
        origin=origin,
        file=path.name if path is not None else "",
    )


def _find(ws, slug: str):
    everything = _all(ws)
    for spec, origin, path in everything:
        if spec.slug == slug:
            return spec, origin, path
    raise NotFoundError(
        f"There is no segment '{slug}'.",
        suggestions=close_matches(slug, [s.slug for s, _, _ in everything]),
        hint="GET /v1/segments lists every segment.",
    )


@router.get("", operation_id="segments_list", response_model=list[SegmentOut])
def list_segments(state: State, key: AdminKey) -> list[SegmentOut]:
    """Every segment: the built-in library, then the workspace's own definitions."""
    return [_out(*row) for row in _all(state.reader())]


@router.get("/{slug}", operation_id="segments_get", response_model=SegmentDetail)
def get_segment(slug: str, state: State, key: AdminKey) -> SegmentDetail:
    """One segment with its definition (as in its YAML file)."""
    spec, origin, path = _find(state.reader(), slug)
    base = _out(spec, origin, path)
    return SegmentDetail(**base.model_dump(), definition=to_data(spec))


def _problems(ws, definition: Definition) -> list[ProblemOut]:
    return [
        ProblemOut(
            pointer=p.pointer or "/", message=p.message, suggestions=list(p.suggestions),
            hint=p.hint,
        )
        for p in ws.segment_problems(definition)
    ]  # fmt: skip


@router.post("/validate", operation_id="segments_validate", response_model=ValidationOut)
def validate_segment(definition: Definition, state: State, key: AdminKey) -> ValidationOut:
    """Check a definition against the library and the workspace's definitions; every problem
    comes with its JSON pointer. Nothing is saved."""
    problems = _problems(state.reader(), definition)
    return ValidationOut(valid=not problems, problems=problems)


def _save(state, definition: Definition, *, replace: bool, slug: str | None = None) -> SegmentOut:
    ws = state.reader()
    parsed = parse_specs(definition)
    if len(parsed.segments) != 1:
        raise ValidationError(
            "Send one segment (a mapping with 'slug:'), not a set.", location="/segments"
        )
    spec = parsed.segments[0]
    if slug is not None and spec.slug != slug:
        raise ValidationError(
            f"The definition's slug must be '{slug}' (the URL's). Got '{spec.slug}' instead.",
            location="/slug",
        )
    if replace:
        _, origin, path = _find(ws, spec.slug)
        if origin == "library":
            raise ValidationError(
                f"'{spec.slug}' is a built-in segment; it cannot be changed.",
                location="/slug",
                hint="create a copy under another slug with POST /v1/segments.",
            )
    path = ws.segment_save(spec, replace=replace)
    return _out(spec, "workspace", path)


@router.post(
    "",
    operation_id="segments_create",
    response_model=SegmentOut,
    status_code=status.HTTP_201_CREATED,
)
def create_segment(definition: Definition, state: State, key: AdminKey) -> SegmentOut:
    """Save a new definition as ``<workspace>/segments/<slug>.yaml`` (400 with every problem,
    or when the slug is taken)."""
    return _save(state, definition, replace=False)


@router.put("/{slug}", operation_id="segments_update", response_model=SegmentOut)
def update_segment(slug: str, definition: Definition, state: State, key: AdminKey) -> SegmentOut:
    """Replace a workspace definition (built-in ones cannot be changed)."""
    return _save(state, definition, replace=True, slug=slug)


@router.delete("/{slug}", operation_id="segments_delete", status_code=204)
def delete_segment(slug: str, state: State, key: AdminKey) -> None:
    """Delete a workspace definition file (recorded membership history stays)."""
    ws = state.reader()
    _spec, origin, path = _find(ws, slug)
    if origin == "library" or path is None:
        raise ValidationError(
            f"'{slug}' is a built-in segment; it cannot be deleted.", location="/slug"
        )
    others = [s for s, _, p in _all(ws) if p == path and s.slug != slug]
    if others:
        raise ValidationError(
            f"'{slug}' shares the file {path.name} with {len(others)} other segment(s).",
            location="/slug",
            hint="edit that file to remove it.",
        )
    path.unlink()


@router.post("/preview", operation_id="segments_preview", response_model=PreviewOut)
def preview_segment(body: PreviewIn, state: State, key: AdminKey) -> PreviewOut:
    """Count and a sample of a definition (unsaved) or of a known segment, now."""
    if (body.definition is None) == (body.slug is None):
        raise ValidationError("Send either 'definition' or 'slug'.", location="/")
    ws = state.reader()
    if body.slug is not None:
        _find(ws, body.slug)
    spec = parse_specs(body.definition).segments[0] if body.definition is not None else body.slug
    p = ws.segment_preview(spec, limit=body.limit)
    sample = p.sample.astype(object).where(p.sample.notna(), None).to_dict("records")
    return PreviewOut(slug=p.slug, count=p.count, sample=sample)


@router.get("/{slug}/members", operation_id="segments_members", response_model=MemberPage)
def segment_members(
    slug: str,
    state: State,
    key: AdminKey,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> MemberPage:
    """Current members as recorded by the last run (``segmint segments run``), by id."""
    ws = state.reader()
    _find(ws, slug)
    m = ws.table("segment_membership")
    m = m.filter((m.segment == ibis.literal(slug)) & m.exited_at.isnull())
    total = int(m.count().execute())
    rows = (
        m.select("customer_id", "entered_at")
        .order_by("customer_id")
        .limit(limit, offset=offset)
        .to_pyarrow()
        .to_pylist()
    )
    return MemberPage(items=[MemberOut(**r) for r in rows], total=total, limit=limit, offset=offset)


@router.post("/{slug}/export", operation_id="segments_export", response_model=ExportOut)
async def export_segment(slug: str, body: ExportIn, state: State, key: AdminKey) -> ExportOut:
    """Write the consent-aware audience of the segment for a channel into
    ``<workspace>/exports/`` and log it (see ``segmint audience export``)."""
    known = {s.slug for s, _, _ in _all(state.reader())}
    for name in [slug, *body.exclude]:
        if name not in known:
            raise NotFoundError(
                f"There is no segment '{name}'.", suggestions=close_matches(name, known)
            )
    done = await state.writer.run(
        lambda ws: ws.audience_export(
            slug, body.channel, exclude=body.exclude, format=body.format, by=actor(key)
        ),
        transaction=False,
    )
    return ExportOut(
        export_id=done.export_id,
        path=str(done.path),
        rows=done.rows,
        dropped=dict(done.dropped),
        channel=done.channel,
        format=done.format,
    )
