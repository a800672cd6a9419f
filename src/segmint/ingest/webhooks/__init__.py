"""Channel webhooks mapped onto Segment-spec messages (layer 2, pure: no I/O, no FastAPI).

One module per provider: :mod:`.meta` (WhatsApp Cloud API, Instagram, Messenger),
:mod:`.line` (LINE Messaging API) and :mod:`.shopify`. Each offers ``verify_signature`` (HMAC of
the raw body, constant-time) and a ``map_*`` function returning :class:`Mapped`: the messages
to submit (what one ``/v1/batch`` item looks like) and the parts it deliberately ignored.
``messageId`` values are derived from the provider's own ids, so a redelivered webhook yields
the same ids and is stored once. The HTTP routes live in ``segmint.server.webhooks``.

Example:
    >>> from segmint.ingest.webhooks import map_line
    >>> map_line({"destination": "U0", "events": []}).messages
    []
"""

from segmint.ingest.webhooks._common import Mapped, stable_message_id
from segmint.ingest.webhooks.line import map_line
from segmint.ingest.webhooks.meta import map_meta, map_whatsapp, verify_subscription
from segmint.ingest.webhooks.shopify import TOPICS as SHOPIFY_TOPICS
from segmint.ingest.webhooks.shopify import map_shopify

__all__ = [
    "SHOPIFY_TOPICS",
    "Mapped",
    "map_line",
    "map_meta",
    "map_shopify",
    "map_whatsapp",
    "stable_message_id",
    "verify_subscription",
]
