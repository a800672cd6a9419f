"""Canonical tables of a workspace and their column contracts (layer 1).

Every engine stores the same tables with the same columns. Timestamps are stored as naive UTC;
``Config.timezone`` says how to show them and where a calendar day starts. Money is stored in the
workspace currency as ``float64``.

Example:
    >>> from segmint.schema import TABLES
    >>> TABLES["orders"].names[:3]
    ('order_id', 'customer_id', 'ts')
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
from ibis.expr.schema import Schema

__all__ = [
    "CHANNELS",
    "CONSENT_CHANNELS",
    "ID_TYPES",
    "PROFILE_FIELDS",
    "SCHEMA_VERSION",
    "TABLES",
    "schema_of",
]

#: Bumped whenever a table changes; ``segmint.workspace`` migrates older workspaces forward.
SCHEMA_VERSION = 2

#: Identifier kinds that link records of one person (DESIGN.md, identities).
ID_TYPES = (
    "email",
    "phone",
    "whatsapp",
    "instagram",
    "facebook",
    "wechat",
    "line",
    "shopify",
    "hubspot",
    "pos",
    "user_id",
    "anonymous_id",
)

#: Channels a message can be sent on, each with its own consent.
CONSENT_CHANNELS = ("whatsapp", "email", "sms")

#: Channels where customers engage or buy.
CHANNELS = ("whatsapp", "instagram", "facebook", "line", "wechat", "email", "web", "pos", "sms")

_TS = dt.Timestamp(nullable=True)

_PROFILE_COLUMNS: dict[str, dt.DataType] = {
    "first_name": dt.string,
    "last_name": dt.string,
    "name": dt.string,
    "email": dt.string,
    "phone": dt.string,
    "gender": dt.string,
    "birth_date": dt.date,
    "country": dt.string,
    "region": dt.string,
    "city": dt.string,
    "language": dt.string,
    "company": dt.string,
    "industry": dt.string,
    "company_size": dt.int64,
    "annual_revenue": dt.float64,
    "created_at": _TS,
    **{
        col: typ
        for ch in CONSENT_CHANNELS
        for col, typ in ((f"consent_{ch}", dt.boolean), (f"consent_{ch}_at", _TS))
    },
    "traits": dt.string,  # JSON object text: interests, lifestyle, income_band, …
}

#: Profile fields an import can fill (everything but the keys and bookkeeping columns).
PROFILE_FIELDS: tuple[str, ...] = tuple(_PROFILE_COLUMNS)

TABLES: dict[str, Schema] = {
    # One row per person after identity stitching.
    "profiles": ibis.schema({"customer_id": dt.string, **_PROFILE_COLUMNS, "updated_at": _TS}),
    # One row per record of a source (a Shopify customer, a WhatsApp contact, …), as imported.
    # Kept so coverage per source and disagreements between sources stay visible.
    "source_profiles": ibis.schema(
        {
            "record_id": dt.string,
            "source": dt.string,
            "customer_id": dt.string,
            **_PROFILE_COLUMNS,
            "imported_at": _TS,
        }
    ),
    # Identifiers of each record; an identifier shared by records makes them one person.
    "identities": ibis.schema(
        {
            "customer_id": dt.string,
            "id_type": dt.string,
            "id_value": dt.string,
            "record_id": dt.string,
            "source": dt.string,
            "first_seen": _TS,
        }
    ),
    # Why two records were joined: the identifier they share.
    "merge_log": ibis.schema(
        {
            "merged_at": _TS,
            "customer_id": dt.string,
            "record_id": dt.string,
            "other_record_id": dt.string,
            "id_type": dt.string,
            "id_value": dt.string,
            "absorbed_customer_id": dt.string,
        }
    ),
    "orders": ibis.schema(
        {
            "order_id": dt.string,
            "customer_id": dt.string,
            "ts": _TS,
            "amount": dt.float64,
            "currency": dt.string,
            "channel": dt.string,
            "discount": dt.float64,
            "status": dt.string,  # completed | refunded | cancelled
            "source": dt.string,
        }
    ),
    "order_items": ibis.schema(
        {
            "order_id": dt.string,
            "product_id": dt.string,
            "category": dt.string,
            "quantity": dt.int64,
            "price": dt.float64,
        }
    ),
    "events": ibis.schema(
        {
            "message_id": dt.string,
            "customer_id": dt.string,
            "anonymous_id": dt.string,
            "type": dt.string,  # identify | track | page | screen | group | alias
            "event": dt.string,
            "ts": _TS,
            "properties": dt.string,  # JSON object text
            "channel": dt.string,
            "source": dt.string,
        }
    ),
    "tags": ibis.schema(
        {"customer_id": dt.string, "tag": dt.string, "source": dt.string, "added_at": _TS}
    ),
    "segment_membership": ibis.schema(
        {"segment": dt.string, "customer_id": dt.string, "entered_at": _TS, "exited_at": _TS}
    ),
    # One row per import that landed: what, from where, how many rows.
    "import_log": ibis.schema(
        {
            "import_id": dt.string,
            "kind": dt.string,
            "file": dt.string,
            "sha256": dt.string,
            "source": dt.string,
            "rows": dt.int64,
            "inserted": dt.int64,
            "updated": dt.int64,
            "imported_at": _TS,
        }
    ),
}


def schema_of(table: str) -> Schema:
    """The canonical schema of ``table``; raises ``NotFoundError`` with close names.

    >>> schema_of("orders")["amount"]
    Float64(nullable=True)
    """
    from segmint.errors import NotFoundError, close_matches

    try:
        return TABLES[table]
    except KeyError:
        raise NotFoundError(
            f"There is no canonical table '{table}'.",
            suggestions=close_matches(table, TABLES),
        ) from None
