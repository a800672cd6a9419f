"""Shared pieces of the channel webhook mappers: signatures, ids, times, message builders.

Everything here is pure (no I/O, no FastAPI). A mapper turns one verified webhook body into
Segment-spec messages (what one ``/v1/batch`` item looks like) and says what it skipped.

Example:
    >>> sig = hmac_sha256(b"secret", b'{"a":1}')
    >>> verify_hex(b"secret", b'{"a":1}', "sha256=" + sig.hex(), provider="whatsapp",
    ...            header="X-Hub-Signature-256", prefix="sha256=")
    >>> stable_message_id("whatsapp", "message", "wamid.1") == stable_message_id(
    ...     "whatsapp", "message", "wamid.1")
    True
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from segmint.errors import SignatureError, ValidationError
from segmint.ingest.values import normalise_emails, normalise_phones

__all__ = [
    "Mapped",
    "as_list",
    "as_object",
    "email_or_none",
    "epoch_to_iso",
    "hmac_sha256",
    "identify",
    "iso_to_iso",
    "money",
    "parse_body",
    "phone_or_none",
    "stable_message_id",
    "track",
    "verify_base64",
    "verify_hex",
]

#: Namespace of the deterministic message ids (uuid5): the same provider ids always give the
#: same ``messageId``, so a redelivered webhook is stored once downstream.
_NAMESPACE = uuid.UUID("5f0c6d0e-8f7e-5b1a-9a39-3b0e6f1c2d41")

#: Tells the events apart from those sent by Segment clients (``context.library``).
LIBRARY = {"name": "segmint-webhooks", "version": "1"}


@dataclass
class Mapped:
    """What a mapper made of one webhook body.

    ``messages`` are Segment-spec dicts ready for ``submit``; ``ignored`` names each part of the
    body that is valid but not mapped (e.g. a template status update), so the provider still
    gets a 2xx and does not retry or disable the webhook.
    """

    messages: list[dict[str, Any]] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


# -- signatures -----------------------------------------------------------------------------------
def hmac_sha256(secret: bytes, body: bytes) -> bytes:
    """HMAC-SHA256 of the raw request body.

    >>> hmac_sha256(b"k", b"").hex()[:16]
    '8bb990c40a7d61cb'
    """
    return hmac.new(secret, body, hashlib.sha256).digest()


def _refuse(provider: str, header: str, reason: str) -> SignatureError:
    return SignatureError(
        f"{provider} webhook refused: {reason}.",
        location=f"header {header}",
        hint=f"check that the {provider} secret in segmint.yaml (webhooks.{provider}) is the one "
        "the provider signs with, and that nothing between them and segmint rewrites the body.",
    )


def verify_hex(
    secret: bytes, body: bytes, given: str | None, *, provider: str, header: str, prefix: str = ""
) -> None:
    """Check a hex HMAC-SHA256 signature such as Meta's ``sha256=<hex>``; constant-time.

    Raises :class:`~segmint.errors.SignatureError` naming the header when it is missing,
    malformed or wrong.
    """
    if not given:
        raise _refuse(provider, header, "the signature header is missing")
    given = given.strip()
    if prefix and not given.lower().startswith(prefix):
        raise _refuse(provider, header, f"the signature must start with '{prefix}'")
    digest = given[len(prefix) :].lower()
    expected = hmac_sha256(secret, body).hex()
    if not hmac.compare_digest(expected.encode(), digest.encode("ascii", "replace")):
        raise _refuse(provider, header, "the signature does not match the body")


def verify_base64(
    secret: bytes, body: bytes, given: str | None, *, provider: str, header: str
) -> None:
    """Check a base64 HMAC-SHA256 signature (LINE, Shopify); constant-time."""
    if not given:
        raise _refuse(provider, header, "the signature header is missing")
    try:
        digest = base64.b64decode(given.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _refuse(provider, header, "the signature is not base64") from None
    if not hmac.compare_digest(hmac_sha256(secret, body), digest):
        raise _refuse(provider, header, "the signature does not match the body")


# -- body and values ------------------------------------------------------------------------------
def parse_body(body: bytes, provider: str) -> dict[str, Any]:
    """The JSON object of a webhook body; a clear error for anything else.

    >>> parse_body(b'[1]', "line")
    Traceback (most recent call last):
    ...
    segmint.errors.ValidationError: line webhook body must be a JSON object. Got a list instead. \
(body, /)
    """
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(
            f"{provider} webhook body is not valid JSON: {exc}.", location="body"
        ) from None
    return as_object(data, provider, "/", what="body")


def _type_name(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), f"a {type(value).__name__}"
    )


def as_object(value: object, provider: str, pointer: str, *, what: str | None = None) -> dict:
    """``value`` if it is a JSON object, else a ValidationError at ``pointer``."""
    if not isinstance(value, dict):
        name = what or f"'{pointer}'"
        raise ValidationError(
            f"{provider} webhook {name} must be a JSON object. Got {_type_name(value)} instead.",
            location=f"body, {pointer}",
        )
    return value


def as_list(value: object, provider: str, pointer: str) -> list:
    """``value`` if it is a JSON array (missing → ``[]``), else a ValidationError."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError(
            f"{provider} webhook '{pointer}' must be a list. Got {_type_name(value)} instead.",
            location=f"body, {pointer}",
        )
    return value


def required_str(obj: Mapping, key: str, provider: str, pointer: str) -> str:
    """``obj[key]`` as a non-empty string (numbers are accepted and converted)."""
    value = obj.get(key)
    if isinstance(value, bool) or value is None or value == "":
        raise ValidationError(
            f"{provider} webhook needs '{key}'. Got {value!r} instead.",
            location=f"body, {pointer}/{key}",
        )
    if isinstance(value, int | float | str):
        return str(value)
    raise ValidationError(
        f"{provider} webhook '{key}' must be a string or number. Got {_type_name(value)} instead.",
        location=f"body, {pointer}/{key}",
    )


def stable_message_id(*parts: object) -> str:
    """A ``messageId`` derived only from provider ids (uuid5), so redeliveries repeat it.

    >>> stable_message_id("line", "01HZX")
    '066819b5-296f-5a31-943b-f477ad48fd67'
    """
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(str(p) for p in parts)))


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_to_iso(value: object, provider: str, pointer: str, *, millis: bool = False) -> str:
    """Unix time (seconds, or milliseconds with ``millis``; numbers or digit strings) → ISO UTC.

    >>> epoch_to_iso("1749416383", "whatsapp", "/timestamp")
    '2025-06-08T20:59:43.000Z'
    >>> epoch_to_iso(1462629479859, "line", "/timestamp", millis=True)
    '2016-05-07T13:57:59.859Z'
    """
    try:
        number = float(value) if not isinstance(value, bool) else float("nan")
        moment = datetime.fromtimestamp(number / 1000 if millis else number, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        unit = "milliseconds" if millis else "seconds"
        raise ValidationError(
            f"{provider} webhook timestamp must be Unix time in {unit}. Got {value!r} instead.",
            location=f"body, {pointer}",
        ) from None
    return _iso(moment)


def iso_to_iso(value: object, provider: str, pointer: str) -> str:
    """An ISO 8601 time with offset (Shopify's ``2026-06-30T14:03:00+08:00``) → ISO UTC.

    A time without offset is taken as UTC.

    >>> iso_to_iso("2026-06-30T14:03:00+08:00", "shopify", "/created_at")
    '2026-06-30T06:03:00.000Z'
    """
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"{provider} webhook time must be ISO 8601. Got {value!r} instead.",
            location=f"body, {pointer}",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _iso(moment)


def money(value: object, provider: str, pointer: str) -> float | None:
    """A money amount sent as a string (``"199.00"``) or number; ``None`` when absent.

    >>> money("1,299.50", "shopify", "/total_price")
    1299.5
    """
    if value is None or value == "":
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        return float(str(value).replace(",", ""))
    except ValueError:
        raise ValidationError(
            f"{provider} webhook amount must be a number. Got {value!r} instead.",
            location=f"body, {pointer}",
        ) from None


def phone_or_none(value: object, region: str) -> str | None:
    """E.164 through the import normaliser (same rules as file imports); ``None`` if invalid.

    >>> phone_or_none("+886 912 345 678", "HK"), phone_or_none("123", "HK")
    ('+886912345678', None)
    """
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        return None
    e164, _ = normalise_phones(pa.array([str(value)]), region)
    return e164[0].as_py()


def email_or_none(value: object) -> str | None:
    """A normalised e-mail (import rules: trimmed, lower-case); ``None`` if invalid.

    >>> email_or_none(" Chan.TaiMan@Gmail.com ")
    'chan.taiman@gmail.com'
    """
    if not isinstance(value, str) or not value.strip():
        return None
    emails, _ = normalise_emails(pa.array([value]))
    return emails[0].as_py()


# -- messages -------------------------------------------------------------------------------------
def _clean(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v is not None and v != {} and v != []}


def _context(
    channel: str, traits: Mapping[str, Any], external_ids: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    return _clean(
        {
            "channel": channel,
            "library": dict(LIBRARY),
            "traits": _clean(traits),
            "externalIds": [
                {"type": kind, "id": value, "collection": "users"} for kind, value in external_ids
            ],
        }
    )


def identify(
    *,
    message_id: str,
    anonymous_id: str,
    timestamp: str,
    channel: str,
    traits: Mapping[str, Any],
    external_ids: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """A Segment ``identify`` message; the channel ids ride in ``context.externalIds``.

    >>> m = identify(message_id="m1", anonymous_id="line:U1", timestamp="2026-01-01T00:00:00Z",
    ...              channel="line", traits={"consent": {"line": True}},
    ...              external_ids=[("line", "U1")])
    >>> m["type"], m["traits"], m["context"]["externalIds"][0]["type"]
    ('identify', {'consent': {'line': True}}, 'line')
    """
    traits = _clean(traits)
    return {
        "type": "identify",
        "messageId": message_id,
        "anonymousId": anonymous_id,
        "timestamp": timestamp,
        "traits": traits,
        "context": _context(channel, traits, external_ids),
    }


def track(
    *,
    message_id: str,
    anonymous_id: str,
    timestamp: str,
    channel: str,
    event: str,
    properties: Mapping[str, Any],
    traits: Mapping[str, Any] | None = None,
    external_ids: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """A Segment ``track`` message; identifiers of the person go in ``context``.

    ``properties.channel`` names the channel too (where the server looks first, e.g. ``pos``
    for a Shopify POS order, whose ``externalIds`` name no channel).
    """
    return {
        "type": "track",
        "event": event,
        "messageId": message_id,
        "anonymousId": anonymous_id,
        "timestamp": timestamp,
        "properties": {**_clean(properties), "channel": channel},
        "context": _context(channel, traits or {}, external_ids),
    }
