"""Segment Tracking API messages: validation, limits, clock-skew correction, canonical rows.

The HTTP API of Segment (identify, track, page, screen, group, alias, batch) is validated with
pydantic; each message becomes a :class:`Message`, the shape the writer stores: one ``events``
row plus the identifiers and profile traits it carries.

Times follow the Segment spec: when the client says when it sent the message (``sentAt``, on the
message or on the batch), its clock is assumed off by ``sentAt - receivedAt`` and the event time
is corrected by that much: ``ts = timestamp + (receivedAt - sentAt)``. Without ``timestamp`` the
event happened when it was received. Times are stored as naive UTC; a time without a zone is UTC.

Example:
    >>> from datetime import datetime
    >>> now = datetime(2026, 5, 1, 12, 0, 0)
    >>> [m] = parse_messages([{"type": "track", "userId": "u1", "event": "Order Completed",
    ...     "timestamp": "2026-05-01T13:00:00Z", "sentAt": "2026-05-01T13:00:05Z"}], now)
    >>> m.ts, m.identifiers
    (datetime.datetime(2026, 5, 1, 11, 59, 55), [('user_id', 'u1')])
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    model_validator,
)
from pydantic import ValidationError as PydanticError

from segmint.errors import ValidationError
from segmint.ingest.values import CONSENT_FALSE, CONSENT_TRUE
from segmint.schema import CHANNELS, CONSENT_CHANNELS, ID_TYPES

__all__ = [
    "MESSAGE_TYPES",
    "MODELS",
    "Batch",
    "Message",
    "check_message_sizes",
    "consent_value",
    "parse_batch",
    "parse_messages",
    "parse_one",
    "profile_from_traits",
    "validation_problem",
]

MESSAGE_TYPES = ("identify", "track", "page", "screen", "group", "alias")


def _id_text(v: Any) -> Any:
    """Ids may come as numbers (``userId: 42``); they are stored as text."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(int(v)) if float(v).is_integer() else str(v)
    return v


#: user ids, anonymous ids, message ids: text (numbers are accepted and kept as text)
Id = Annotated[str, Field(min_length=1, max_length=1024)]


class _Message(BaseModel):
    """Fields every Segment message may carry; unknown fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    messageId: Id | None = None
    userId: Id | None = None
    anonymousId: Id | None = None
    timestamp: datetime | None = None
    originalTimestamp: datetime | None = None
    sentAt: datetime | None = None
    receivedAt: datetime | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    integrations: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _someone(self):
        if self.userId is None and self.anonymousId is None:
            raise ValueError("a message needs a userId or an anonymousId")
        return self


class Identify(_Message):
    type: Literal["identify"] = "identify"
    traits: dict[str, Any] = Field(default_factory=dict)


class Track(_Message):
    type: Literal["track"] = "track"
    event: str = Field(min_length=1, max_length=1024)
    properties: dict[str, Any] = Field(default_factory=dict)


class Page(_Message):
    type: Literal["page"] = "page"
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class Screen(_Message):
    type: Literal["screen"] = "screen"
    name: str | None = None
    category: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class Group(_Message):
    type: Literal["group"] = "group"
    groupId: Id
    traits: dict[str, Any] = Field(default_factory=dict)


class Alias(_Message):
    type: Literal["alias"] = "alias"
    previousId: Id
    userId: Id  # type: ignore[assignment]  # required here


MODELS: dict[str, type[_Message]] = {
    "identify": Identify,
    "track": Track,
    "page": Page,
    "screen": Screen,
    "group": Group,
    "alias": Alias,
}

AnyMessage = Annotated[
    Identify | Track | Page | Screen | Group | Alias, Field(discriminator="type")
]


class Batch(BaseModel):
    """``POST /v1/batch``: messages plus batch-wide ``context``/``integrations``/``sentAt``."""

    model_config = ConfigDict(extra="allow")

    batch: list[AnyMessage] = Field(min_length=1)
    sentAt: datetime | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    integrations: dict[str, Any] = Field(default_factory=dict)


_LIST = TypeAdapter(list[AnyMessage])


@dataclass(slots=True)
class Message:
    """One accepted message, ready for the writer.

    ``identifiers`` are raw ``(id_type, value)`` pairs (normalised by the writer, in bulk);
    ``profile`` holds the profile fields of an identify, ``consent`` channel → (value, time).
    """

    message_id: str
    type: str
    event: str | None
    ts: datetime
    properties: str | None
    channel: str | None
    user_id: str | None
    anonymous_id: str | None
    identifiers: list[tuple[str, str]] = field(default_factory=list)
    profile: dict[str, Any] | None = None
    consent: dict[str, tuple[bool, datetime]] = field(default_factory=dict)

    @property
    def record_id(self) -> str:
        """The live record this message belongs to: its user, else its anonymous visitor."""
        if self.user_id is not None:
            return f"api:user:{self.user_id}"
        return f"api:anon:{self.anonymous_id}"


# -- validation errors ----------------------------------------------------------------------------
def validation_problem(exc: PydanticError, *, prefix: str = "", what: str = "") -> ValidationError:
    """A pydantic error as one segmint error naming the message index and field.

    ``prefix`` is the JSON pointer of the validated value (``/batch``); ``what`` its kind.
    """
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"]]
    index = None
    if loc and loc[0].isdigit():
        index = int(loc[0])
        loc = loc[1:]
    if loc and loc[0] in MESSAGE_TYPES:  # the discriminated union adds the type
        loc = loc[1:]
    pointer = "/".join([prefix.strip("/"), *([str(index)] if index is not None else []), *loc])
    where = f"message {index}" if index is not None else (what or "the message")
    field_name = loc[-1] if loc else None
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing" and field_name:
        text = f"In {where}, '{field_name}' is required."
    elif err["type"] == "union_tag_invalid" or err["type"] == "union_tag_not_found":
        got = err.get("input", {}).get("type") if isinstance(err.get("input"), dict) else None
        text = f"In {where}, 'type' must be one of {', '.join(MESSAGE_TYPES)}. Got {got!r} instead."
        from segmint.errors import close_matches

        return ValidationError(
            text,
            location="/" + pointer.strip("/"),
            suggestions=close_matches(str(got), MESSAGE_TYPES) if got else [],
        )
    elif field_name:
        text = f"In {where}, '{field_name}': {msg}. Got {_short(err.get('input'))} instead."
    else:
        text = f"In {where}: {msg}."
    more = exc.error_count() - 1
    if more > 0:
        text += f" ({more} more problem(s) after this one.)"
    return ValidationError(text, location="/" + pointer.strip("/"))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


# -- size limits ----------------------------------------------------------------------------------
def check_message_sizes(items: Sequence[Any], limit: int) -> None:
    """Refuse a batch holding a message larger than ``limit`` bytes (its JSON, UTF-8)."""
    for i, item in enumerate(items):
        size = len(json.dumps(item, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        if size > limit:
            raise ValidationError(
                f"Message {i} is {size:,} bytes; a message may be at most {limit // 1024} KB "
                f"({limit:,} bytes).",
                location=f"/batch/{i}",
                hint="send large data (files, long texts) elsewhere and refer to it by id.",
            )


# -- parsing --------------------------------------------------------------------------------------
def parse_messages(
    items: Sequence[Mapping[str, Any]],
    received_at: datetime,
    *,
    sent_at: datetime | None = None,
    context: Mapping[str, Any] | None = None,
    prefix: str = "/batch",
) -> list[Message]:
    """Validate Segment messages and turn them into :class:`Message` rows.

    ``sent_at`` and ``context`` are the batch-wide values (a message's own win).
    """
    try:
        models = _LIST.validate_python(list(items))
    except PydanticError as exc:
        raise validation_problem(exc, prefix=prefix) from None
    return [_message(m, received_at, sent_at, context) for m in models]


def parse_one(kind: str, item: Mapping[str, Any], received_at: datetime) -> Message:
    """Validate the body of ``POST /v1/<kind>`` (its ``type`` is implied by the path)."""
    if not isinstance(item, Mapping):
        raise ValidationError(
            f"The body must be a JSON object. Got {type(item).__name__} instead.", location="/"
        )
    given = item.get("type")
    if given is not None and given != kind:
        raise ValidationError(
            f"'type' must be '{kind}' on /v1/{kind}. Got {given!r} instead.",
            location="/type",
            hint="send other kinds to their own endpoint or through /v1/batch.",
        )
    try:
        model = MODELS[kind].model_validate(item)
    except PydanticError as exc:
        raise validation_problem(exc, what=f"the {kind} message") from None
    return _message(model, received_at, None, None)


def parse_batch(body: Any, received_at: datetime, *, max_message_bytes: int) -> list[Message]:
    """Validate the body of ``POST /v1/batch``."""
    if not isinstance(body, Mapping):
        raise ValidationError(
            f"The body must be a JSON object with a 'batch' list. Got {type(body).__name__} "
            "instead.",
            location="/",
        )
    items = body.get("batch")
    if not isinstance(items, list) or not items:
        raise ValidationError(
            "'batch' must be a non-empty list of messages.",
            location="/batch",
            hint='send {"batch": [{"type": "track", "userId": "u1", "event": "…"}, …]}.',
        )
    if max_message_bytes:
        check_message_sizes(items, max_message_bytes)
    sent_at = _sent_at_of(body)
    ctx = body.get("context") if isinstance(body.get("context"), Mapping) else None
    return parse_messages(items, received_at, sent_at=sent_at, context=ctx)


def _sent_at_of(body: Mapping[str, Any]) -> datetime | None:
    try:
        return TypeAdapter(datetime | None).validate_python(body.get("sentAt"))
    except PydanticError as exc:
        raise validation_problem(exc, prefix="/sentAt", what="the batch") from None


# -- one message → canonical values ---------------------------------------------------------------
def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _corrected(m: _Message, received_at: datetime, batch_sent_at: datetime | None) -> datetime:
    """Event time per the Segment spec: ``timestamp + (receivedAt - sentAt)``."""
    stamp = _utc(m.timestamp or m.originalTimestamp)
    if stamp is None:
        return received_at
    sent = _utc(m.sentAt or batch_sent_at)
    return stamp if sent is None else stamp + (received_at - sent)


def _json(value: Mapping[str, Any] | None) -> str | None:
    if not value:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _channel(m: _Message, props: Mapping[str, Any], external) -> str | None:
    """``properties.channel`` if it names a channel, else the first channel of
    ``context.externalIds``, else ``web`` for page views."""
    given = props.get("channel")
    if isinstance(given, str) and given.lower() in CHANNELS:
        return given.lower()
    for ext in external:
        if ext[0] in CHANNELS:
            return ext[0]
    return "web" if m.type == "page" else None


def _external_ids(context: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    ext = context.get("externalIds")
    if not isinstance(ext, list):
        return out
    for item in ext:
        if not isinstance(item, Mapping):
            continue
        kind, value = str(item.get("type") or "").lower(), _id_text(item.get("id"))
        if kind in ID_TYPES and isinstance(value, str) and value.strip():
            out.append((kind, value))
    return out


def _contact_ids(traits: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for key, kind in (("email", "email"), ("phone", "phone")):
        value = _id_text(traits.get(key))
        if isinstance(value, str) and value.strip():
            out.append((kind, value))
    return out


def _message(
    m: _Message,
    received_at: datetime,
    batch_sent_at: datetime | None,
    batch_context: Mapping[str, Any] | None,
) -> Message:
    if batch_context:
        m.context = {**batch_context, **m.context}
    ts = _corrected(m, received_at, batch_sent_at)
    props: dict[str, Any] = {}
    event = None
    profile = None
    consent: dict[str, tuple[bool, datetime]] = {}
    ids: list[tuple[str, str]] = []
    if m.userId is not None:
        ids.append(("user_id", m.userId))
    if m.anonymousId is not None:
        ids.append(("anonymous_id", m.anonymousId))
    ctx_traits = m.context.get("traits")
    if isinstance(ctx_traits, Mapping):
        ids += _contact_ids(ctx_traits)
    external = _external_ids(m.context) if "externalIds" in m.context else []
    ids += external
    if isinstance(m, Track):
        event, props = m.event, m.properties
    elif isinstance(m, Page | Screen):
        event, props = m.name, dict(m.properties)
        if m.category is not None:
            props.setdefault("category", m.category)
    elif isinstance(m, Identify):
        props = m.traits
        ids += _contact_ids(m.traits)
        profile, consent = profile_from_traits(m.traits, ts)
    elif isinstance(m, Group):
        props = {"groupId": m.groupId, **m.traits}
    elif isinstance(m, Alias):
        props = {"previousId": m.previousId}
        # the previous id may have been a user id or an anonymous id: both now mean this person
        ids += [("user_id", m.previousId), ("anonymous_id", m.previousId)]
    return Message(
        message_id=m.messageId or str(uuid.uuid4()),
        type=m.type,
        event=event,
        ts=ts,
        properties=_json(props),
        channel=_channel(m, props, external),
        user_id=m.userId,
        anonymous_id=m.anonymousId,
        identifiers=list(dict.fromkeys(ids)),
        profile=profile,
        consent=consent,
    )


# -- identify traits → profile fields and consent -------------------------------------------------
#: Segment's reserved traits (and common spellings) → profile columns.
_TRAIT_FIELDS = {
    "firstName": "first_name",
    "first_name": "first_name",
    "lastName": "last_name",
    "last_name": "last_name",
    "name": "name",
    "email": "email",
    "phone": "phone",
    "gender": "gender",
    "birthday": "birth_date",
    "birth_date": "birth_date",
    "createdAt": "created_at",
    "created_at": "created_at",
    "language": "language",
    "industry": "industry",
}
_ADDRESS = {"country": "country", "state": "region", "region": "region", "city": "city"}


def consent_value(value: Any) -> bool | None:
    """A consent trait as True/False (booleans, 1/0, yes/no, subscribed, 同意/拒絕 …); ``None``
    when it is not a consent word.

    >>> consent_value("subscribed"), consent_value(False), consent_value("maybe")
    (True, False, None)
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in CONSENT_TRUE:
            return True
        if word in CONSENT_FALSE:
            return False
    return None


def _consent_traits(traits: Mapping[str, Any]) -> tuple[dict[str, bool], set[str]]:
    """Consent per channel from ``consent: {whatsapp: true}``, ``whatsapp_opt_in`` or
    ``consent_whatsapp``; returns ``(channel → value, trait keys used)``."""
    out: dict[str, bool] = {}
    used: set[str] = set()
    nested = traits.get("consent")
    if isinstance(nested, Mapping):
        used.add("consent")
        for ch, value in nested.items():
            v = consent_value(value)
            if str(ch).lower() in CONSENT_CHANNELS and v is not None:
                out[str(ch).lower()] = v
    for ch in CONSENT_CHANNELS:
        for key in (f"{ch}_opt_in", f"consent_{ch}", f"{ch}OptIn"):
            if key in traits:
                used.add(key)
                v = consent_value(traits[key])
                if v is not None:
                    out[ch] = v
    return out, used


def profile_from_traits(
    traits: Mapping[str, Any], ts: datetime
) -> tuple[dict[str, Any], dict[str, tuple[bool, datetime]]]:
    """Profile fields (raw email/phone, normalised later with the rest) and consent from the
    traits of an identify; every other trait is kept in ``traits``.

    >>> p, c = profile_from_traits({"firstName": "Amy", "plan": "gold",
    ...     "consent": {"whatsapp": True}}, datetime(2026, 1, 1))
    >>> p["first_name"], p["traits"], c["whatsapp"][0]
    ('Amy', {'plan': 'gold'}, True)
    """
    consent, used = _consent_traits(traits)
    profile: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in traits.items():
        if key in used or value is None:
            continue
        column = _TRAIT_FIELDS.get(key)
        if column is not None and not isinstance(value, Mapping | list):
            profile[column] = value
        elif key == "address" and isinstance(value, Mapping):
            for k, col in _ADDRESS.items():
                if value.get(k) is not None:
                    profile[col] = str(value[k])
        elif key == "company" and isinstance(value, Mapping):
            if value.get("name") is not None:
                profile["company"] = str(value["name"])
            if value.get("industry") is not None:
                profile["industry"] = str(value["industry"])
            size = value.get("employee_count")
            if isinstance(size, int) and not isinstance(size, bool):
                profile["company_size"] = size
        elif key == "company" and isinstance(value, str):
            profile["company"] = value
        else:
            rest[key] = value
    for col in ("birth_date", "created_at"):
        if col in profile:
            profile[col] = _date_or_time(profile[col], col)
            if profile[col] is None:
                rest[col] = traits.get(col)
                del profile[col]
    for col in ("first_name", "last_name", "name", "gender", "language", "industry"):
        if col in profile:
            profile[col] = str(profile[col])
    if rest:
        profile["traits"] = rest
    return profile, {ch: (v, ts) for ch, v in consent.items()}


def _date_or_time(value: Any, column: str) -> date | datetime | None:
    try:
        if column == "birth_date":
            return TypeAdapter(date).validate_python(str(value)[:10])
        return _utc(TypeAdapter(datetime).validate_python(value))
    except PydanticError:
        return None
