"""LINE Messaging API webhooks (layer 2, pure). LINE is the main chat channel in Taiwan.

A body is ``{"destination": <bot user id>, "events": [...]}``; each event names the person by
``source.userId`` (``context.externalIds`` type ``line``):

* ``message`` → ``Message Received`` (message type and text length; never the text);
* ``follow`` (added as a friend, or unblocked) → ``identify`` with ``consent.line = true`` and
  ``Followed``;
* ``unfollow`` (blocked) → ``identify`` with ``consent.line = false`` and ``Unfollowed``.
  The trait ``line_following`` repeats the state as a plain trait: profiles have consent columns
  only for whatsapp, email and sms (``schema.CONSENT_CHANNELS``), so it is what keeps LINE's
  state on the profile until a ``consent_line`` column exists;
* anything else (postback, join, beacon, …) is listed as ignored.

``messageId`` comes from ``webhookEventId``, which LINE keeps on redelivery
(``deliveryContext.isRedelivery``), so a redelivered event is stored once.

Signature: ``X-Line-Signature`` = base64 HMAC-SHA256 of the raw body with the channel secret.

Example:
    >>> body = {"destination": "Uxx", "events": [{"type": "follow", "mode": "active",
    ...     "timestamp": 1767225600000, "source": {"type": "user", "userId": "U4af4980629"},
    ...     "webhookEventId": "01HZY", "deliveryContext": {"isRedelivery": False},
    ...     "replyToken": "r", "follow": {"isUnblocked": False}}]}
    >>> [(m["type"], m.get("event")) for m in map_line(body).messages]
    [('identify', None), ('track', 'Followed')]
    >>> map_line(body).messages[0]["traits"]
    {'consent': {'line': True}, 'line_following': True}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from segmint.errors import ValidationError
from segmint.ingest.webhooks._common import (
    Mapped,
    as_list,
    as_object,
    epoch_to_iso,
    identify,
    stable_message_id,
    track,
    verify_base64,
)

__all__ = ["SIGNATURE_HEADER", "map_line", "verify_signature"]

SIGNATURE_HEADER = "X-Line-Signature"
_FOLLOW_EVENTS = {"follow": ("Followed", True), "unfollow": ("Unfollowed", False)}


def verify_signature(body: bytes, signature: str | None, channel_secret: str) -> None:
    """Check ``X-Line-Signature`` against the raw body; raises ``SignatureError``.

    >>> import base64, hashlib, hmac
    >>> sig = base64.b64encode(hmac.new(b"c", b"{}", hashlib.sha256).digest()).decode()
    >>> verify_signature(b"{}", sig, "c")
    """
    verify_base64(
        channel_secret.encode(), body, signature, provider="line", header=SIGNATURE_HEADER
    )


def _event_id(event: Mapping[str, Any], user: str, at: str) -> str:
    """``webhookEventId``; older payloads lack it, then the event's own ids stand in."""
    if event.get("webhookEventId"):
        return str(event["webhookEventId"])
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    if message.get("id"):
        return f"message:{message['id']}"
    if event.get("timestamp") is None:
        raise ValidationError(
            "line webhook event needs 'webhookEventId' or 'timestamp'.",
            location=f"body, {at}",
        )
    return f"{event.get('type')}:{user}:{event['timestamp']}"


def map_line(data: Mapping[str, Any]) -> Mapped:
    """Map a LINE webhook body to Segment messages.

    An empty ``events`` list (what the console's *Verify* button sends) maps to nothing. Events
    from a group or room map as well when LINE includes the sender's ``userId``
    (``properties.source_type`` says where it happened).
    """
    provider = "line"
    if "events" not in data:
        raise ValidationError(
            "line webhook body needs an 'events' list.",
            location="body, /events",
            hint='LINE webhooks look like {"destination": "U…", "events": [...]}.',
        )
    out = Mapped()
    for i, event in enumerate(as_list(data["events"], provider, "/events")):
        at = f"/events/{i}"
        event = as_object(event, provider, at)
        kind = event.get("type")
        if kind not in ("message", *_FOLLOW_EVENTS):
            out.ignored.append(f"{at}: event type {kind!r}")
            continue
        source = as_object(event.get("source"), provider, f"{at}/source")
        user = source.get("userId")
        if not user:
            out.ignored.append(f"{at}: no source.userId")
            continue
        user = str(user)
        ts = epoch_to_iso(event.get("timestamp"), provider, f"{at}/timestamp", millis=True)
        event_id = _event_id(event, user, at)
        common = {
            "anonymous_id": f"line:{user}",
            "timestamp": ts,
            "channel": "line",
            "external_ids": [("line", user)],
        }
        if kind == "message":
            message = as_object(event.get("message"), provider, f"{at}/message")
            text = message.get("text")
            props = {
                "message_id": str(message["id"]) if message.get("id") else None,
                "message_type": str(message.get("type") or "unknown"),
                "text_length": len(text) if isinstance(text, str) else None,
                "source_type": source.get("type"),
            }
            out.messages.append(
                track(
                    message_id=stable_message_id("line", event_id),
                    event="Message Received",
                    properties=props,
                    **common,
                )
            )
            continue
        name, consent = _FOLLOW_EVENTS[kind]
        out.messages.append(
            identify(
                message_id=stable_message_id("line", event_id, "consent"),
                traits={"consent": {"line": consent}, "line_following": consent},
                **common,
            )
        )
        follow = event.get("follow") if isinstance(event.get("follow"), dict) else {}
        out.messages.append(
            track(
                message_id=stable_message_id("line", event_id),
                event=name,
                properties={"is_unblocked": follow.get("isUnblocked")},
                **common,
            )
        )
    return out
