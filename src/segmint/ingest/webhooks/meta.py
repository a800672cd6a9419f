"""Meta webhooks: WhatsApp Cloud API, Instagram messaging and Messenger (layer 2, pure).

* WhatsApp (``object: whatsapp_business_account``): each inbound message gives an ``identify``
  (the contact's phone in E.164 and WhatsApp profile name) and a ``Message Received`` track;
  each status of a message the business sent gives ``Message Sent`` / ``Delivered`` / ``Read``
  / ``Failed``.
* Instagram (``object: instagram``) and Messenger (``object: page``): inbound messages give
  ``Message Received``, echoes of the business's own messages ``Message Sent``, delivery and
  read receipts ``Message Delivered`` / ``Message Read``; the person is known by their
  Instagram- or Page-scoped id (``context.externalIds`` type ``instagram`` / ``facebook``).

Data minimisation: the text of a message is never stored, only its type and length (and the
id of a button the person tapped). Messages can hold anything (health, payment details); what
segments need is *that* someone wrote, on which channel, and when.

Signatures: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app
secret>``; the subscribe handshake echoes ``hub.challenge`` when ``hub.verify_token`` matches.

Example:
    >>> body = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [
    ...     {"field": "messages", "value": {"messaging_product": "whatsapp",
    ...      "contacts": [{"wa_id": "85291234567", "profile": {"name": "Chan Tai Man"}}],
    ...      "messages": [{"from": "85291234567", "id": "wamid.A", "timestamp": "1767225600",
    ...                    "type": "text", "text": {"body": "Hi"}}]}}]}]}
    >>> [(m["type"], m.get("event")) for m in map_whatsapp(body, region="HK").messages]
    [('identify', None), ('track', 'Message Received')]
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from segmint.errors import SignatureError, ValidationError
from segmint.ingest.webhooks._common import (
    Mapped,
    as_list,
    as_object,
    epoch_to_iso,
    identify,
    phone_or_none,
    required_str,
    stable_message_id,
    track,
    verify_hex,
)

__all__ = [
    "MESSAGING_OBJECTS",
    "SIGNATURE_HEADER",
    "STATUS_EVENTS",
    "WHATSAPP_OBJECT",
    "map_meta",
    "map_whatsapp",
    "verify_signature",
    "verify_subscription",
]

SIGNATURE_HEADER = "X-Hub-Signature-256"
WHATSAPP_OBJECT = "whatsapp_business_account"
#: Meta ``object`` → segmint channel (and identity type) of Instagram and Messenger webhooks.
MESSAGING_OBJECTS = {"instagram": "instagram", "page": "facebook"}
#: WhatsApp message status → event name.
STATUS_EVENTS = {
    "sent": "Message Sent",
    "delivered": "Message Delivered",
    "read": "Message Read",
    "failed": "Message Failed",
}


def verify_signature(body: bytes, signature: str | None, app_secret: str, *, provider: str) -> None:
    """Check ``X-Hub-Signature-256`` against the raw body; raises ``SignatureError``.

    >>> import hashlib, hmac
    >>> sig = "sha256=" + hmac.new(b"s3cret", b"{}", hashlib.sha256).hexdigest()
    >>> verify_signature(b"{}", sig, "s3cret", provider="whatsapp")
    >>> verify_signature(b"{ }", sig, "s3cret", provider="whatsapp")
    Traceback (most recent call last):
    ...
    segmint.errors.SignatureError: whatsapp webhook refused: the signature does not match the \
body. (header X-Hub-Signature-256) Hint: check that the whatsapp secret in segmint.yaml \
(webhooks.whatsapp) is the one the provider signs with, and that nothing between them and \
segmint rewrites the body.
    """
    verify_hex(
        app_secret.encode(),
        body,
        signature,
        provider=provider,
        header=SIGNATURE_HEADER,
        prefix="sha256=",
    )


def verify_subscription(params: Mapping[str, str], verify_token: str, *, provider: str) -> str:
    """The subscribe handshake: returns ``hub.challenge`` to echo when the token matches.

    Raises ``ValidationError`` when the parameters are missing and ``SignatureError`` when the
    token is wrong (Meta expects 403 then).

    >>> verify_subscription({"hub.mode": "subscribe", "hub.verify_token": "t",
    ...                      "hub.challenge": "1158201444"}, "t", provider="whatsapp")
    '1158201444'
    """
    mode = params.get("hub.mode")
    challenge = params.get("hub.challenge")
    token = params.get("hub.verify_token")
    if mode != "subscribe" or not challenge or token is None:
        missing = [
            name
            for name, value in (
                ("hub.mode=subscribe", mode == "subscribe"),
                ("hub.verify_token", token is not None),
                ("hub.challenge", bool(challenge)),
            )
            if not value
        ]
        raise ValidationError(
            f"{provider} subscribe handshake needs {', '.join(missing)}.",
            location="query string",
            hint="this URL answers Meta's verification request; Meta sends these parameters when "
            "you save the callback URL in the app dashboard.",
        )
    if not hmac.compare_digest(token.encode(), verify_token.encode()):
        raise SignatureError(
            f"{provider} subscribe handshake refused: hub.verify_token does not match.",
            location="query string, hub.verify_token",
            hint=f"enter the verify_token of webhooks.{provider} in segmint.yaml as the "
            "'Verify token' in the Meta app dashboard.",
        )
    return challenge


# -- WhatsApp -------------------------------------------------------------------------------------
def _wrong_object(obj: object, provider: str, expected: str) -> ValidationError:
    hint = f"this endpoint takes {expected} payloads."
    if obj == WHATSAPP_OBJECT:
        hint += " This is a WhatsApp payload: point WhatsApp's callback URL at /webhooks/whatsapp."
    elif obj in MESSAGING_OBJECTS:
        hint += " This is an Instagram/Messenger payload: point it at /webhooks/meta."
    return ValidationError(
        f"{provider} webhook 'object' must be {expected}. Got {obj!r} instead.",
        location="body, /object",
        hint=hint,
    )


def _entries(data: Mapping[str, Any], provider: str) -> list:
    if "entry" not in data:
        raise ValidationError(
            f"{provider} webhook body needs an 'entry' list.",
            location="body, /entry",
            hint='Meta webhooks look like {"object": …, "entry": [{"id": …, …}]}.',
        )
    return as_list(data["entry"], provider, "/entry")


def _reply_id(message: Mapping[str, Any]) -> str | None:
    """The id of a quick-reply button or list row the person tapped (set by the business)."""
    button = message.get("button")
    if isinstance(button, dict) and button.get("payload"):
        return str(button["payload"])
    interactive = message.get("interactive")
    if isinstance(interactive, dict):
        for key in ("button_reply", "list_reply"):
            reply = interactive.get(key)
            if isinstance(reply, dict) and reply.get("id"):
                return str(reply["id"])
    return None


def _wa_person(
    obj: Mapping[str, Any], phone_key: str, user_key: str, region: str, at: str
) -> tuple[str, str | None, list[tuple[str, str]]]:
    """``(anonymous id, E.164 phone or None, externalIds)`` of a WhatsApp user.

    Since 2026 a user with a WhatsApp username may come without a phone number, named only by a
    business-scoped user id (BSUID, e.g. ``HK.1502576394655843``); segmint has no identity type
    for it, so such a person is known by ``anonymousId`` ``whatsapp:<BSUID>`` until a phone
    number links them.
    """
    number = obj.get(phone_key)
    if number not in (None, ""):
        digits = str(number).strip().lstrip("+")
        phone = phone_or_none("+" + digits, region)
        return f"whatsapp:{digits}", phone, [("whatsapp", phone or "+" + digits)]
    user = obj.get(user_key)
    if user not in (None, ""):
        return f"whatsapp:{user}", None, []
    raise ValidationError(
        f"whatsapp webhook needs '{phone_key}' (or '{user_key}'). Got neither.",
        location=f"body, {at}/{phone_key}",
    )


def _contact_of(contacts: list[dict], wa_id: object, user_id: object) -> dict:
    """The ``contacts`` entry of a message's sender (by number, else by BSUID)."""
    for key, value in (("wa_id", wa_id), ("user_id", user_id)):
        if value not in (None, ""):
            for contact in contacts:
                if str(contact.get(key)) == str(value):
                    return contact
    return contacts[0] if len(contacts) == 1 else {}


def _whatsapp_message(
    msg: dict, contacts: list[dict], metadata: Mapping[str, Any], region: str, at: str
) -> list[dict]:
    wamid = required_str(msg, "id", "whatsapp", at)
    ts = epoch_to_iso(msg.get("timestamp"), "whatsapp", f"{at}/timestamp")
    kind = str(msg.get("type") or "unknown")
    contact = _contact_of(contacts, msg.get("from"), msg.get("from_user_id"))
    anonymous_id, phone, external = _wa_person(
        {
            "from": msg.get("from") or contact.get("wa_id"),
            "from_user_id": msg.get("from_user_id") or contact.get("user_id"),
        },
        "from",
        "from_user_id",
        region,
        at,
    )
    profile = contact.get("profile") if isinstance(contact.get("profile"), dict) else {}
    traits = {"phone": phone, "name": profile.get("name")}
    text = msg.get("text")
    text_length = len(text["body"]) if isinstance(text, dict) and "body" in text else None
    reply_to = msg.get("context")
    referral = msg.get("referral") if isinstance(msg.get("referral"), dict) else {}
    return [
        identify(
            message_id=stable_message_id("whatsapp", "contact", wamid),
            anonymous_id=anonymous_id,
            timestamp=ts,
            channel="whatsapp",
            traits=traits,
            external_ids=external,
        ),
        track(
            message_id=stable_message_id("whatsapp", "message", wamid),
            anonymous_id=anonymous_id,
            timestamp=ts,
            channel="whatsapp",
            event="Message Received",
            properties={
                "message_id": wamid,
                "message_type": kind,
                "text_length": text_length,
                "reply_id": _reply_id(msg),
                "in_reply_to": reply_to.get("id") if isinstance(reply_to, dict) else None,
                "referral_source_type": referral.get("source_type"),
                "referral_source_id": referral.get("source_id"),
                "business_phone_number_id": metadata.get("phone_number_id"),
            },
            traits={"phone": phone},
            external_ids=external,
        ),
    ]


def _whatsapp_status(
    status: dict, metadata: Mapping[str, Any], region: str, at: str
) -> dict | None:
    name = status.get("status")
    event = STATUS_EVENTS.get(str(name))
    if event is None:
        return None
    wamid = required_str(status, "id", "whatsapp", at)
    anonymous_id, phone, external = _wa_person(
        status, "recipient_id", "recipient_user_id", region, at
    )
    ts = epoch_to_iso(status.get("timestamp"), "whatsapp", f"{at}/timestamp")
    conversation = (
        status.get("conversation") if isinstance(status.get("conversation"), dict) else {}
    )
    origin = conversation.get("origin") if isinstance(conversation.get("origin"), dict) else {}
    pricing = status.get("pricing") if isinstance(status.get("pricing"), dict) else {}
    errors = status.get("errors") if isinstance(status.get("errors"), list) else []
    error = errors[0] if errors and isinstance(errors[0], dict) else {}
    return track(
        message_id=stable_message_id("whatsapp", "status", wamid, name),
        anonymous_id=anonymous_id,
        timestamp=ts,
        channel="whatsapp",
        event=event,
        properties={
            "message_id": wamid,
            "status": name,
            "recipient": external[0][1] if external else status.get("recipient_user_id"),
            "conversation_id": conversation.get("id"),
            "conversation_category": origin.get("type"),
            "pricing_category": pricing.get("category"),
            "billable": pricing.get("billable"),
            "error_code": error.get("code"),
            "error_title": error.get("title"),
            "business_phone_number_id": metadata.get("phone_number_id"),
        },
        traits={"phone": phone},
        external_ids=external,
    )


def map_whatsapp(data: Mapping[str, Any], *, region: str) -> Mapped:
    """Map a WhatsApp Cloud API webhook body to Segment messages.

    ``region`` reads phone numbers the way imports do (WhatsApp ids carry the country code, so
    it only matters for numbers ``phonenumbers`` cannot place). Changes other than ``messages``
    (template or quality updates) and message statuses other than sent / delivered / read /
    failed are listed in ``ignored``. A body that is not a WhatsApp webhook raises
    ``ValidationError`` naming the JSON pointer.
    """
    provider = "whatsapp"
    if data.get("object") != WHATSAPP_OBJECT:
        raise _wrong_object(data.get("object"), provider, f"'{WHATSAPP_OBJECT}'")
    out = Mapped()
    for i, entry in enumerate(_entries(data, provider)):
        entry = as_object(entry, provider, f"/entry/{i}")
        for j, change in enumerate(as_list(entry.get("changes"), provider, f"/entry/{i}/changes")):
            at = f"/entry/{i}/changes/{j}"
            change = as_object(change, provider, at)
            if change.get("field") != "messages":
                out.ignored.append(f"{at}: field {change.get('field')!r}")
                continue
            value = as_object(change.get("value"), provider, f"{at}/value")
            metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
            contacts = [
                c
                for c in as_list(value.get("contacts"), provider, f"{at}/value/contacts")
                if isinstance(c, dict)
            ]
            messages = as_list(value.get("messages"), provider, f"{at}/value/messages")
            statuses = as_list(value.get("statuses"), provider, f"{at}/value/statuses")
            for k, msg in enumerate(messages):
                where = f"{at}/value/messages/{k}"
                msg = as_object(msg, provider, where)
                if msg.get("type") == "system":  # "customer changed number" notices
                    out.ignored.append(f"{where}: system message")
                    continue
                out.messages += _whatsapp_message(msg, contacts, metadata, region, where)
            for k, status in enumerate(statuses):
                where = f"{at}/value/statuses/{k}"
                mapped = _whatsapp_status(
                    as_object(status, provider, where), metadata, region, where
                )
                if mapped is None:
                    out.ignored.append(f"{where}: status {status.get('status')!r}")
                else:
                    out.messages.append(mapped)
            if not messages and not statuses:
                out.ignored.append(f"{at}: no messages or statuses")
    return out


# -- Instagram and Messenger ----------------------------------------------------------------------
def _event_time(event: Mapping[str, Any], fallback: object, provider: str, at: str) -> str:
    for key, value in (("timestamp", event.get("timestamp")), ("time", fallback)):
        if value is not None:
            return epoch_to_iso(value, provider, f"{at}/{key}", millis=True)
    for receipt in ("delivery", "read"):
        part = event.get(receipt)
        if isinstance(part, dict) and part.get("watermark") is not None:
            return epoch_to_iso(
                part["watermark"], provider, f"{at}/{receipt}/watermark", millis=True
            )
    raise ValidationError(
        f"{provider} webhook event has no timestamp.", location=f"body, {at}/timestamp"
    )


def _messaging_event(
    event: dict, channel: str, entry_time: object, at: str
) -> tuple[list[dict], str | None]:
    """Messages for one Messenger/Instagram messaging event, or the reason it is ignored."""
    provider = channel
    sender = as_object(event.get("sender"), provider, f"{at}/sender")
    recipient = as_object(event.get("recipient"), provider, f"{at}/recipient")
    ts = _event_time(event, entry_time, provider, at)

    def for_person(person: str, event_name: str, key: tuple, properties: dict) -> dict:
        return track(
            message_id=stable_message_id(channel, *key),
            anonymous_id=f"{channel}:{person}",
            timestamp=ts,
            channel=channel,
            event=event_name,
            properties=properties,
            external_ids=[(channel, person)],
        )

    message = event.get("message")
    if isinstance(message, dict):
        mid = required_str(message, "mid", provider, f"{at}/message")
        if message.get("is_deleted"):
            return [], "deleted message"
        if message.get("is_echo"):  # a copy of what the business sent
            person = required_str(recipient, "id", provider, f"{at}/recipient")
            return [for_person(person, "Message Sent", ("sent", mid), {"message_id": mid})], None
        person = required_str(sender, "id", provider, f"{at}/sender")
        attachments = message.get("attachments")
        if isinstance(message.get("text"), str):
            kind = "text"
        elif isinstance(attachments, list) and attachments and isinstance(attachments[0], dict):
            kind = str(attachments[0].get("type") or "attachment")
        else:
            kind = "other"
        quick = message.get("quick_reply")
        reply_to = message.get("reply_to")
        props = {
            "message_id": mid,
            "message_type": kind,
            "text_length": len(message["text"]) if kind == "text" else None,
            "reply_id": quick.get("payload") if isinstance(quick, dict) else None,
            "in_reply_to": reply_to.get("mid") if isinstance(reply_to, dict) else None,
        }
        return [for_person(person, "Message Received", ("received", mid), props)], None
    delivery = event.get("delivery")
    if isinstance(delivery, dict):
        person = required_str(sender, "id", provider, f"{at}/sender")
        mids = [str(m) for m in delivery.get("mids") or [] if m]
        watermark = delivery.get("watermark")
        if mids:
            return [
                for_person(person, "Message Delivered", ("delivered", mid), {"message_id": mid})
                for mid in mids
            ], None
        props = {"watermark": watermark}
        return [
            for_person(person, "Message Delivered", ("delivered", person, watermark), props)
        ], None
    read = event.get("read")
    if isinstance(read, dict):
        person = required_str(sender, "id", provider, f"{at}/sender")
        mid, watermark = read.get("mid"), read.get("watermark")
        props = {"message_id": mid, "watermark": watermark}
        return [for_person(person, "Message Read", ("read", person, mid or watermark), props)], None
    kinds = sorted(k for k in event if k not in ("sender", "recipient", "timestamp"))
    return [], f"event {', '.join(kinds) or 'without content'}"


def map_meta(data: Mapping[str, Any]) -> Mapped:
    """Map an Instagram (``object: instagram``) or Messenger (``object: page``) webhook body.

    Messaging events come in ``entry[].messaging[]`` (and, for apps with Instagram Login, as
    ``entry[].changes[]`` with ``field: messages``). Postbacks, reactions, referrals, comments
    and other fields are listed in ``ignored``.

    >>> body = {"object": "page", "entry": [{"id": "P", "time": 1767225600000, "messaging": [
    ...     {"sender": {"id": "PSID1"}, "recipient": {"id": "P"}, "timestamp": 1767225600000,
    ...      "message": {"mid": "m_1", "text": "hello"}}]}]}
    >>> m = map_meta(body).messages[0]
    >>> m["event"], m["context"]["channel"], m["properties"]["text_length"]
    ('Message Received', 'facebook', 5)
    """
    obj = data.get("object")
    channel = MESSAGING_OBJECTS.get(str(obj))
    if channel is None:
        raise _wrong_object(obj, "meta", "'instagram' or 'page'")
    out = Mapped()
    for i, entry in enumerate(_entries(data, channel)):
        entry = as_object(entry, channel, f"/entry/{i}")
        events: list[tuple[str, object]] = [
            (f"/entry/{i}/messaging/{k}", e)
            for k, e in enumerate(as_list(entry.get("messaging"), channel, f"/entry/{i}/messaging"))
        ]
        for k, change in enumerate(as_list(entry.get("changes"), channel, f"/entry/{i}/changes")):
            at = f"/entry/{i}/changes/{k}"
            change = as_object(change, channel, at)
            if change.get("field") == "messages":
                events.append((f"{at}/value", change.get("value")))
            else:
                out.ignored.append(f"{at}: field {change.get('field')!r}")
        for at, event in events:
            messages, reason = _messaging_event(
                as_object(event, channel, at), channel, entry.get("time"), at
            )
            out.messages += messages
            if reason:
                out.ignored.append(f"{at}: {reason}")
    return out
