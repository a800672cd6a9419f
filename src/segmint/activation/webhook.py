"""Signed outgoing webhooks: deliver rendered messages to a channel tool (layer 3).

segmint does not talk to WhatsApp or an SMS gateway itself: it POSTs the messages of a campaign
as JSON to a URL the marketer configures (their messaging tool, a Zapier/n8n hook, their own
service), in batches of :data:`BATCH_SIZE`. Each body is signed with a shared secret so the
receiver can check it came from this workspace and was not altered or replayed:

``X-Segmint-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``

The receiver recomputes the HMAC over the timestamp, a dot and the raw body bytes, compares in
constant time and refuses timestamps older than a few minutes (:func:`verify_signature` does
exactly that and can be used on the receiving side). Body::

    {"campaign_id": "...", "channel": "whatsapp", "batch": 1, "batches": 3,
     "messages": [{"message_id", "customer_id", "to", "language", "variant", "text",
                   "offer_code"}, ...]}

A 2xx answer means the batch was accepted; the answer may be JSON
``{"results": [{"message_id": ..., "provider_message_id": ...}]}`` so that delivery / read
statuses the channel later reports by its own id can be matched to the campaign. Any other
answer (or a connection error) fails that batch; its recipients are recorded as ``failed``
with the reason. Nothing is retried automatically: a resend must be decided by a person.

Example:
    >>> header = signature_header(b'{"a":1}', "s3cret", timestamp=1767225600)
    >>> header.startswith("t=1767225600,v1=")
    True
    >>> verify_signature(b'{"a":1}', header, "s3cret", now=1767225600)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from segmint.errors import SignatureError, ValidationError

__all__ = [
    "BATCH_SIZE",
    "SIGNATURE_HEADER",
    "BatchResult",
    "post_messages",
    "signature_header",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Segmint-Signature"
#: Messages per POST.
BATCH_SIZE = 500
#: Seconds a signature stays valid for :func:`verify_signature`.
TOLERANCE = 300


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """The ``X-Segmint-Signature`` value for ``body``."""
    if not secret:
        raise ValidationError(
            "A webhook secret is needed to sign messages.",
            hint="set campaigns.webhook_secret in segmint.yaml (e.g. env:SEGMINT_WEBHOOK_SECRET).",
        )
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={ts},v1={_mac(secret, ts, body)}"


def verify_signature(
    body: bytes,
    header: str | None,
    secret: str,
    *,
    tolerance: int = TOLERANCE,
    now: float | None = None,
) -> None:
    """Check a signature made by :func:`signature_header`; raises ``SignatureError``.

    >>> verify_signature(b"{}", "t=1,v1=00", "s3cret", now=1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    segmint.errors.SignatureError: The X-Segmint-Signature does not match the body. ...
    """
    if not header:
        raise SignatureError(f"The request has no {SIGNATURE_HEADER} header.")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        ts = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise SignatureError(
            f"The {SIGNATURE_HEADER} header must read t=<seconds>,v1=<hex>. Got {header!r}."
        ) from None
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance:
        raise SignatureError(
            f"The {SIGNATURE_HEADER} timestamp is {abs(now - ts):.0f} s away from now, more "
            f"than {tolerance} s.",
            hint="check the clocks, or this is a replayed request.",
        )
    if not hmac.compare_digest(_mac(secret, ts, body), given):
        raise SignatureError(
            f"The {SIGNATURE_HEADER} does not match the body.",
            hint="both sides must use the same secret and the raw body bytes.",
        )


@dataclass
class BatchResult:
    """One POSTed batch: which messages, whether it was accepted, provider ids if returned."""

    message_ids: list[str]
    ok: bool
    status: int | None = None
    error: str | None = None
    provider_ids: dict[str, str] = field(default_factory=dict)


def post_messages(
    url: str,
    secret: str,
    messages: Sequence[Mapping[str, Any]],
    *,
    campaign_id: str,
    channel: str,
    batch_size: int = BATCH_SIZE,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
) -> list[BatchResult]:
    """POST ``messages`` in signed batches; one :class:`BatchResult` per batch, in order.

    Each message must have a ``message_id``. A failed batch does not stop the others.
    """
    if not url or not url.startswith(("http://", "https://")):
        raise ValidationError(
            f"The webhook URL must start with http:// or https://. Got {url!r} instead.",
            hint="set campaigns.webhook_url in segmint.yaml or pass --webhook-url.",
        )
    batches = [messages[i : i + batch_size] for i in range(0, len(messages), batch_size)]
    own = client is None
    http = client or httpx.Client(timeout=timeout, follow_redirects=False)
    results = []
    try:
        for n, batch in enumerate(batches, start=1):
            body = json.dumps(
                {
                    "campaign_id": campaign_id,
                    "channel": channel,
                    "batch": n,
                    "batches": len(batches),
                    "messages": [dict(m) for m in batch],
                },
                ensure_ascii=False,
                default=str,
            ).encode("utf-8")
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                SIGNATURE_HEADER: signature_header(body, secret),
                "User-Agent": "segmint-campaigns",
            }
            ids = [str(m["message_id"]) for m in batch]
            try:
                resp = http.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                results.append(BatchResult(ids, False, None, f"{type(exc).__name__}: {exc}"))
                continue
            if not 200 <= resp.status_code < 300:
                reason = f"the webhook answered HTTP {resp.status_code}"
                results.append(BatchResult(ids, False, resp.status_code, reason))
                continue
            results.append(BatchResult(ids, True, resp.status_code, None, _provider_ids(resp)))
    finally:
        if own:
            http.close()
    return results


def _provider_ids(resp: httpx.Response) -> dict[str, str]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    items = data.get("results") if isinstance(data, dict) else None
    out = {}
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("message_id") and item.get("provider_message_id"):
            out[str(item["message_id"])] = str(item["provider_message_id"])
    return out
