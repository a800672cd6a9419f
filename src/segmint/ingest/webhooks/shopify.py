"""Shopify webhooks (layer 2, pure): customers, orders and checkouts.

The topic comes from the ``X-Shopify-Topic`` header:

* ``customers/create`` → ``identify``: e-mail, phone (E.164), names, country and city of the
  default address, the Shopify customer id (``context.externalIds`` type ``shopify``) and
  e-mail / SMS marketing consent;
* ``orders/create`` → ``Order Completed`` with the Segment e-commerce properties (``order_id``,
  ``total``, ``revenue``, ``tax``, ``shipping``, ``discount``, ``coupon``, ``currency``,
  ``products``) and the ``checkout_token`` it completes;
* ``checkouts/create`` → ``Checkout Started`` (``checkout_id``, ``checkout_token``, value,
  products, ``recovery_url``): the first step of the abandoned-cart segments, which look for a
  ``Checkout Started`` not followed by an ``Order Completed``.

Other topics are acknowledged and ignored. Consent: ``email_marketing_consent.state``
``subscribed`` gives consent, ``unsubscribed`` withdraws it, other states (``not_subscribed``,
``pending``, …) say nothing new and leave it alone; the deprecated ``accepts_marketing: true``
(stores on old API versions) gives consent. The same rule applies to ``sms_marketing_consent``.

Signature: ``X-Shopify-Hmac-Sha256`` = base64 HMAC-SHA256 of the raw body with the app's client
secret (or the store's webhook signing key for webhooks made in the admin).

Example:
    >>> body = {"id": 706405506930370084, "email": "Chan.TaiMan@example.hk", "phone": "91234567",
    ...         "created_at": "2026-06-30T14:03:00+08:00",
    ...         "email_marketing_consent": {"state": "subscribed"}}
    >>> m = map_shopify("customers/create", body, region="HK").messages[0]
    >>> m["traits"]["phone"], m["traits"]["consent"], m["context"]["externalIds"][0]["id"]
    ('+85291234567', {'email': True}, '706405506930370084')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from segmint.errors import ValidationError, close_matches
from segmint.ingest.webhooks._common import (
    Mapped,
    as_list,
    as_object,
    email_or_none,
    identify,
    iso_to_iso,
    money,
    phone_or_none,
    required_str,
    stable_message_id,
    track,
    verify_base64,
)

__all__ = ["SIGNATURE_HEADER", "TOPICS", "TOPIC_HEADER", "map_shopify", "verify_signature"]

SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
#: Topics that map to events; every other topic is acknowledged and ignored.
TOPICS = ("customers/create", "orders/create", "checkouts/create")
_CONSENT_STATES = {"subscribed": True, "unsubscribed": False}


def verify_signature(body: bytes, signature: str | None, secret: str) -> None:
    """Check ``X-Shopify-Hmac-Sha256`` against the raw body; raises ``SignatureError``."""
    verify_base64(secret.encode(), body, signature, provider="shopify", header=SIGNATURE_HEADER)


def _consent(obj: Mapping[str, Any]) -> dict[str, bool]:
    consent: dict[str, bool] = {}
    for channel, key in (("email", "email_marketing_consent"), ("sms", "sms_marketing_consent")):
        record = obj.get(key)
        if isinstance(record, dict):
            state = _CONSENT_STATES.get(str(record.get("state")).lower())
            if state is not None:
                consent[channel] = state
    if "email" not in consent and obj.get("accepts_marketing") is True:
        consent["email"] = True
    return consent


def _person(obj: Mapping[str, Any], region: str, fallback_id: str) -> dict[str, Any]:
    """Identifiers of the buyer of an order or checkout (customer id, e-mail, phone)."""
    customer = obj.get("customer") if isinstance(obj.get("customer"), dict) else {}
    customer_id = customer.get("id")
    email = email_or_none(obj.get("email") or obj.get("contact_email") or customer.get("email"))
    phone = phone_or_none(obj.get("phone") or customer.get("phone"), region)
    external = [("shopify", str(customer_id))] if customer_id else []
    return {
        "anonymous_id": f"shopify:{customer_id}" if customer_id else fallback_id,
        "traits": {
            "email": email,
            "phone": phone,
            "first_name": customer.get("first_name"),
            "last_name": customer.get("last_name"),
        },
        "external_ids": external,
    }


def _products(obj: Mapping[str, Any], at: str) -> list[dict[str, Any]]:
    products = []
    for k, item in enumerate(as_list(obj.get("line_items"), "shopify", f"{at}/line_items")):
        where = f"{at}/line_items/{k}"
        item = as_object(item, "shopify", where)
        product = {
            "product_id": str(item["product_id"]) if item.get("product_id") else None,
            "variant_id": str(item["variant_id"]) if item.get("variant_id") else None,
            "sku": item.get("sku") or None,
            "name": item.get("title") or item.get("name"),
            "variant": item.get("variant_title") or None,
            "brand": item.get("vendor") or None,
            "price": money(item.get("price"), "shopify", f"{where}/price"),
            "quantity": item.get("quantity"),
        }
        products.append({k: v for k, v in product.items() if v is not None})
    return products


def _shipping(obj: Mapping[str, Any], at: str) -> float | None:
    price_set = obj.get("total_shipping_price_set")
    if isinstance(price_set, dict) and isinstance(price_set.get("shop_money"), dict):
        return money(price_set["shop_money"].get("amount"), "shopify", f"{at}/shipping")
    lines = obj.get("shipping_lines")
    if isinstance(lines, list) and lines:
        return sum(
            money(line.get("price"), "shopify", f"{at}/shipping_lines/{k}/price") or 0.0
            for k, line in enumerate(lines)
            if isinstance(line, dict)
        )
    return None


def _coupon(obj: Mapping[str, Any]) -> str | None:
    codes = obj.get("discount_codes")
    if isinstance(codes, list):
        found = [str(c["code"]) for c in codes if isinstance(c, dict) and c.get("code")]
        return ",".join(found) or None
    return None


def _customer(obj: dict, region: str) -> list[dict]:
    customer_id = required_str(obj, "id", "shopify", "")
    address = obj.get("default_address") if isinstance(obj.get("default_address"), dict) else {}
    phone = phone_or_none(obj.get("phone") or address.get("phone"), region)
    traits = {
        "email": email_or_none(obj.get("email")),
        "phone": phone,
        "first_name": obj.get("first_name") or None,
        "last_name": obj.get("last_name") or None,
        "address": {  # Segment's reserved trait: the server maps it to profile columns
            k: v
            for k, v in (("country", address.get("country_code")), ("city", address.get("city")))
            if v
        }
        or None,
        "created_at": iso_to_iso(obj["created_at"], "shopify", "/created_at")
        if obj.get("created_at")
        else None,
        "consent": _consent(obj) or None,
    }
    ts = obj.get("updated_at") or obj.get("created_at")
    return [
        identify(
            message_id=stable_message_id("shopify", "customers/create", customer_id),
            anonymous_id=f"shopify:{customer_id}",
            timestamp=iso_to_iso(ts, "shopify", "/updated_at") if ts else _missing("created_at"),
            channel="web",
            traits=traits,
            external_ids=[("shopify", customer_id)],
        )
    ]


def _missing(key: str) -> str:
    raise ValidationError(f"shopify webhook needs '{key}'.", location=f"body, /{key}")


def _order(obj: dict, region: str) -> list[dict]:
    order_id = required_str(obj, "id", "shopify", "")
    token = obj.get("checkout_token")
    fallback = f"shopify-checkout:{token}" if token else f"shopify-order:{order_id}"
    person = _person(obj, region, fallback)
    ts = obj.get("created_at") or obj.get("processed_at") or _missing("created_at")
    properties = {
        "order_id": order_id,
        "order_number": obj.get("name") or obj.get("order_number"),
        "checkout_id": str(obj["checkout_id"]) if obj.get("checkout_id") else None,
        "checkout_token": token,
        "total": money(obj.get("total_price"), "shopify", "/total_price"),
        "revenue": money(obj.get("subtotal_price"), "shopify", "/subtotal_price"),
        "tax": money(obj.get("total_tax"), "shopify", "/total_tax"),
        "shipping": _shipping(obj, ""),
        "discount": money(obj.get("total_discounts"), "shopify", "/total_discounts"),
        "coupon": _coupon(obj),
        "currency": obj.get("currency"),
        "products": _products(obj, ""),
    }
    return [
        track(
            message_id=stable_message_id("shopify", "orders/create", order_id),
            anonymous_id=person["anonymous_id"],
            timestamp=iso_to_iso(ts, "shopify", "/created_at"),
            channel="pos" if obj.get("source_name") == "pos" else "web",
            event="Order Completed",
            properties=properties,
            traits=person["traits"],
            external_ids=person["external_ids"],
        )
    ]


def _checkout(obj: dict, region: str) -> list[dict]:
    token = required_str(obj, "token", "shopify", "")
    person = _person(obj, region, f"shopify-checkout:{token}")
    ts = obj.get("created_at") or _missing("created_at")
    properties = {
        "checkout_id": str(obj["id"]) if obj.get("id") else None,
        "checkout_token": token,
        "cart_token": obj.get("cart_token") or None,
        "value": money(obj.get("total_price"), "shopify", "/total_price"),
        "revenue": money(obj.get("subtotal_price"), "shopify", "/subtotal_price"),
        "tax": money(obj.get("total_tax"), "shopify", "/total_tax"),
        "discount": money(obj.get("total_discounts"), "shopify", "/total_discounts"),
        "coupon": _coupon(obj),
        "currency": obj.get("currency") or obj.get("presentment_currency"),
        "products": _products(obj, ""),
        "recovery_url": obj.get("abandoned_checkout_url"),
    }
    return [
        track(
            message_id=stable_message_id("shopify", "checkouts/create", token),
            anonymous_id=person["anonymous_id"],
            timestamp=iso_to_iso(ts, "shopify", "/created_at"),
            channel="web",
            event="Checkout Started",
            properties=properties,
            traits=person["traits"],
            external_ids=person["external_ids"],
        )
    ]


_MAPPERS = {"customers/create": _customer, "orders/create": _order, "checkouts/create": _checkout}


def map_shopify(topic: str | None, data: Mapping[str, Any], *, region: str) -> Mapped:
    """Map a Shopify webhook body of ``topic`` (the ``X-Shopify-Topic`` header).

    ``region`` reads phone numbers without ``+country`` (Shopify keeps what the buyer typed).
    A missing topic raises ``ValidationError``; a topic that is not mapped is ignored (Shopify
    retries, then deletes, subscriptions that keep failing).

    >>> map_shopify("products/update", {"id": 1}, region="HK").ignored
    ["topic 'products/update'"]
    """
    if not topic:
        raise ValidationError(
            f"shopify webhook needs the {TOPIC_HEADER} header.",
            location=f"header {TOPIC_HEADER}",
            hint=f"Shopify always sends it; segmint maps {', '.join(TOPICS)}.",
        )
    topic = topic.strip().lower()
    mapper = _MAPPERS.get(topic)
    if mapper is None:
        near = close_matches(topic, TOPICS)
        reason = f"topic {topic!r}" + (f" (did you mean {near[0]!r}?)" if near else "")
        return Mapped(ignored=[reason])
    return Mapped(messages=mapper(dict(data), region))
