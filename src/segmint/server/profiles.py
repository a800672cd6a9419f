"""Profiles (admin keys only): search, one profile with its identifiers, the 360 view,
erasure (``DELETE``) and consent (``PUT …/consent``).

Writes (erasure, consent) run on the writer thread (:meth:`Writer.run`), in its transaction.

Reads run on the request thread's own cursor (:meth:`ServerState.reader`), never on the
writer's connection.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated, Any

import ibis
from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from segmint.errors import NotFoundError, ValidationError
from segmint.server.deps import AdminKey, State

__all__ = ["ProfileOut", "router"]

router = APIRouter(prefix="/v1/profiles", tags=["profiles"])


class IdentityOut(BaseModel):
    id_type: str
    id_value: str
    source: str | None = None
    first_seen: datetime | None = None


class ProfileOut(BaseModel):
    """One person: profile columns (``traits`` as an object) and identifiers."""

    customer_id: str
    profile: dict[str, Any]
    identities: list[IdentityOut]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@router.get("/{customer_id}", operation_id="get_profile", response_model=ProfileOut)
def get_profile(customer_id: str, state: State, key: AdminKey) -> ProfileOut:
    """The profile of ``customer_id`` with its identities (404 if unknown or merged away)."""
    ws = state.reader()
    p = ws.table("profiles")
    rows = p.filter(p.customer_id == ibis.literal(customer_id)).to_pyarrow().to_pylist()
    if not rows:
        log = ws.table("merge_log")
        merged = (
            log.filter(log.absorbed_customer_id == ibis.literal(customer_id))
            .select("customer_id")
            .limit(1)
            .to_pyarrow()
            .to_pylist()
        )
        hint = (
            f"this person was merged into {merged[0]['customer_id']}."
            if merged
            else "look people up by their identifiers in the identities table."
        )
        raise NotFoundError(f"There is no profile '{customer_id}'.", hint=hint)
    profile = {k: _plain(v) for k, v in rows[0].items()}
    if profile.get("traits"):
        profile["traits"] = json.loads(profile["traits"])
    i = ws.table("identities")
    mine = i.filter(i.customer_id == ibis.literal(customer_id))
    ids = (
        mine.group_by("id_type", "id_value")
        .aggregate(source=mine.source.min(), first_seen=mine.first_seen.min())
        .order_by("id_type", "id_value")
        .to_pyarrow()
        .to_pylist()
    )
    return ProfileOut(
        customer_id=customer_id, profile=profile, identities=[IdentityOut(**r) for r in ids]
    )


# -- search ---------------------------------------------------------------------------------------
class ProfileSummary(BaseModel):
    customer_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    country: str | None = None
    city: str | None = None


class ProfilePage(BaseModel):
    """One page of people: ``items``, the ``total`` matching, ``limit`` and ``offset``."""

    items: list[ProfileSummary]
    total: int
    limit: int
    offset: int


@router.get(
    "", operation_id="profiles_search", response_model=ProfilePage, summary="Search profiles"
)
def search_profiles(
    state: State,
    key: AdminKey,
    q: Annotated[str | None, Query(max_length=200, description="name, email, phone or id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ProfilePage:
    """People whose id, email or phone contains ``q`` or whose name does (any case), by id."""
    p = state.reader().table("profiles")
    if q and q.strip():
        text = ibis.literal(q.strip().lower())
        digits = "".join(ch for ch in q if ch.isdigit())
        cond = (
            (p.customer_id.lower() == text)
            | p.email.lower().contains(text)
            | p.name.lower().contains(text)
            | p.first_name.lower().contains(text)
            | p.last_name.lower().contains(text)
        )
        if len(digits) >= 4:
            cond |= p.phone.contains(ibis.literal(digits))
        p = p.filter(cond.fill_null(False))
    total = int(p.count().execute())
    cols = list(ProfileSummary.model_fields)
    rows = p.order_by("customer_id").select(*cols).limit(limit, offset=offset).to_pyarrow()
    return ProfilePage(
        items=[ProfileSummary(**r) for r in rows.to_pylist()],
        total=total,
        limit=limit,
        offset=offset,
    )


# -- the 360 view ---------------------------------------------------------------------------------
class TimelineItem(BaseModel):
    """An order or an event of the person, newest first."""

    kind: str  # order | event
    ts: datetime | None
    id: str
    name: str | None = None
    channel: str | None = None
    amount: float | None = None
    currency: str | None = None
    status: str | None = None
    properties: dict[str, Any] | None = None


class MembershipOut(BaseModel):
    segment: str
    entered_at: datetime | None
    exited_at: datetime | None = None


class TagOut(BaseModel):
    tag: str
    source: str | None = None
    added_at: datetime | None = None


class Profile360(BaseModel):
    """Everything about one person: profile, identities, timeline, tags, segments, and the
    rows of the model tables (``rfm``, ``clv``, ``clusters``) that exist in the workspace."""

    customer_id: str
    profile: dict[str, Any]
    identities: list[IdentityOut]
    timeline: list[TimelineItem]
    tags: list[TagOut]
    segments: list[MembershipOut]
    models: dict[str, dict[str, Any]]


_MODEL_TABLES = ("rfm", "clv", "clusters", "abc")


def _rows_of(ws, table: str, customer_id: str, order: str | None = None, limit: int = 0):
    t = ws.table(table)
    t = t.filter(t.customer_id == ibis.literal(customer_id))
    if order:
        t = t.order_by(ibis.desc(order))
    if limit:
        t = t.limit(limit)
    return t.to_pyarrow().to_pylist()


@router.get(
    "/{customer_id}/360",
    operation_id="profiles_view",
    response_model=Profile360,
    summary="Profile, identities, timeline, tags, segments and model scores",
)
def profile_360(
    customer_id: str,
    state: State,
    key: AdminKey,
    timeline_limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Profile360:
    """The 360 view of ``customer_id`` (404 if unknown); the timeline holds the newest
    ``timeline_limit`` orders and events."""
    base = get_profile(customer_id, state, key)
    ws = state.reader()
    items: list[TimelineItem] = []
    for r in _rows_of(ws, "orders", customer_id, "ts", timeline_limit):
        items.append(
            TimelineItem(
                kind="order", ts=r["ts"], id=r["order_id"], name="Order", channel=r["channel"],
                amount=r["amount"], currency=r["currency"], status=r["status"],
            )
        )  # fmt: skip
    for r in _rows_of(ws, "events", customer_id, "ts", timeline_limit):
        props = json.loads(r["properties"]) if r.get("properties") else None
        items.append(
            TimelineItem(
                kind="event", ts=r["ts"], id=r["message_id"], name=r["event"] or r["type"],
                channel=r["channel"], properties=props if isinstance(props, dict) else None,
            )
        )  # fmt: skip
    items.sort(key=lambda i: (i.ts or datetime.min, i.id), reverse=True)
    tables = set(ws.con.list_tables())
    models = {}
    for name in _MODEL_TABLES:
        if name in tables and "customer_id" in ws.table(name).columns:
            rows = _rows_of(ws, name, customer_id, limit=1)
            if rows:
                models[name] = {k: _plain(v) for k, v in rows[0].items() if k != "customer_id"}
    return Profile360(
        customer_id=customer_id,
        profile=base.profile,
        identities=base.identities,
        timeline=items[:timeline_limit],
        tags=[TagOut(**r) for r in _rows_of(ws, "tags", customer_id, "added_at")],
        segments=[
            MembershipOut(**r)
            for r in _rows_of(ws, "segment_membership", customer_id, "entered_at")
        ],
        models=models,
    )


# -- erasure --------------------------------------------------------------------------------------
class ErasureOut(BaseModel):
    """What an erasure removed, in counts only; ``erasure_id`` is in the audit log."""

    erasure_id: str
    erased_at: datetime
    removed: dict[str, int]
    redacted: dict[str, int]
    suppressed_identifiers: int


def actor(key) -> str:
    """Who did it, for the audit log: the key id and its name."""
    return f"key {key.key_id}" + (f" ({key.name})" if key.name else "")


@router.delete(
    "/{customer_id}",
    operation_id="profiles_erase",
    response_model=ErasureOut,
    summary="Erase a person from every table and suppress re-creation",
)
async def erase_profile(customer_id: str, state: State, key: AdminKey) -> ErasureOut:
    """Remove the person from every table in one transaction (through the writer), suppress
    their identifiers and write an audit row; 404 for an unknown or merged-away id."""
    from segmint import erasure

    now = state.now()
    done = await state.writer.run(
        lambda ws: erasure.erase(ws.con, ws.config, customer_id, by=actor(key), now=now)
    )
    return ErasureOut(
        erasure_id=done.erasure_id,
        erased_at=done.at,
        removed=done.removed,
        redacted=done.redacted,
        suppressed_identifiers=done.suppressed,
    )


# -- consent --------------------------------------------------------------------------------------
class ConsentIn(BaseModel):
    """Consent per channel (``true`` given, ``false`` withdrawn); channels left out keep their
    value. ``at`` (default: now) is when it was given or withdrawn."""

    model_config = ConfigDict(extra="forbid")

    whatsapp: bool | None = None
    email: bool | None = None
    sms: bool | None = None
    at: datetime | None = None


class ConsentOut(BaseModel):
    """The profile's consent per channel with the time it was given or withdrawn."""

    customer_id: str
    consent: dict[str, bool | None]
    consent_at: dict[str, datetime | None]


@router.put(
    "/{customer_id}/consent",
    operation_id="profiles_set_consent",
    response_model=ConsentOut,
    summary="Give or withdraw consent per channel",
)
async def set_consent(customer_id: str, body: ConsentIn, state: State, key: AdminKey) -> ConsentOut:
    """Record consent like an identify with consent traits does (the latest time wins per
    channel) and audit the change."""
    from segmint import erasure
    from segmint.schema import CONSENT_CHANNELS
    from segmint.server.live import apply_consent

    given = {ch: getattr(body, ch) for ch in CONSENT_CHANNELS if getattr(body, ch) is not None}
    if not given:
        raise ValidationError(
            "The body names no channel; give at least one of "
            f"{', '.join(CONSENT_CHANNELS)} as true or false.",
            location="/",
            suggestions=list(CONSENT_CHANNELS),
        )
    now = state.now()
    at = body.at or now
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)

    def write(ws):
        out = apply_consent(ws.con, customer_id, {ch: (v, at) for ch, v in given.items()}, now=now)
        erasure.write_audit(
            ws.con.con, actor=actor(key), action="consent", subject=customer_id,
            details={"consent": given, "at": at.isoformat()}, at=now,
        )  # fmt: skip
        return out

    row = await state.writer.run(write)
    return ConsentOut(
        customer_id=customer_id,
        consent={ch: row[f"consent_{ch}"] for ch in CONSENT_CHANNELS},
        consent_at={ch: row[f"consent_{ch}_at"] for ch in CONSENT_CHANNELS},
    )
