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
    # One row per audience export that was written (segmint audience export; issue 3).
    # segments / excluded: JSON arrays of slugs; dropped: JSON object reason → count.
    "audience_exports": ibis.schema(
        {
            "export_id": dt.string,
            "segments": dt.string,
            "excluded": dt.string,
            "channel": dt.string,
            "format": dt.string,
            "path": dt.string,
            "sha256": dt.string,
            "rows": dt.int64,
            "dropped": dt.string,
            "as_of": _TS,
            "exported_by": dt.string,
            "exported_at": _TS,
        }
    ),
    # Who was in each export (so that erasing a person can also remove them from export logs).
    "audience_export_recipients": ibis.schema({"export_id": dt.string, "customer_id": dt.string}),
    # API keys of the service (segmint serve; issue 5): only a sha256 of each token is stored.
    "api_keys": ibis.schema(
        {
            "key_id": dt.string,
            "name": dt.string,
            "scope": dt.string,  # ingest | admin
            "hash": dt.string,
            "created_at": _TS,
            "revoked_at": _TS,
            "last_used_at": _TS,
        }
    ),
    # Campaigns (broadcasts; issue 6, docs/campaigns.md). segments / excluded: JSON arrays of
    # slugs; variants: JSON list of {name, share, templates {language: text}}; settings: JSON
    # (holdout, fallbacks, frequency_cap, offer_codes, seed); dropped: JSON reason → count.
    "campaigns": ibis.schema(
        {
            "campaign_id": dt.string,
            "name": dt.string,
            "channel": dt.string,
            "segments": dt.string,
            "excluded": dt.string,
            "variants": dt.string,
            "settings": dt.string,
            "created_at": _TS,
            "created_by": dt.string,
            "sent_at": _TS,
            "delivery": dt.string,  # export | webhook
            "export_path": dt.string,
            "dropped": dt.string,
            "cost": dt.float64,
            "currency": dt.string,
            "attribution_days": dt.int64,
        }
    ),
    # One row per person a campaign reached or held out: variant ('holdout' included), the
    # segment that brought them in, their offer code, the messageId of their Message Sent event
    # and the channel's own id once known; status exported | sent | failed | holdout.
    "campaign_recipients": ibis.schema(
        {
            "campaign_id": dt.string,
            "customer_id": dt.string,
            "variant": dt.string,
            "segment": dt.string,
            "language": dt.string,
            "offer_code": dt.string,
            "message_id": dt.string,
            "provider_message_id": dt.string,
            "rendered_at": _TS,
            "status": dt.string,
            "error": dt.string,
        }
    ),
    # Users of the web app (issue 6, docs/web.md): scrypt hash with its salt and parameters,
    # the language they chose, disabled users cannot log in.
    "users": ibis.schema(
        {
            "username": dt.string,
            "password_hash": dt.string,
            "language": dt.string,
            "created_at": _TS,
            "disabled": dt.boolean,
        }
    ),
    # Audience lists kept by workflows (add to / remove from list actions; docs/workflows.md).
    "audience_lists": ibis.schema(
        {"list": dt.string, "customer_id": dt.string, "added_at": _TS, "added_by": dt.string}
    ),
    # One row per workflow run (docs/workflows.md): trigger, customer, outcome, actions done.
    "workflow_runs": ibis.schema(
        {
            "run_id": dt.string,
            "workflow": dt.string,
            "trigger": dt.string,  # segment_entered:<slug> | event:<name> | schedule | date
            "customer_id": dt.string,
            "started_at": _TS,
            "finished_at": _TS,
            "status": dt.string,  # done | skipped | failed | webhook_pending
            "actions": dt.string,  # JSON list of {action, ok, detail}
            "error": dt.string,
        }
    ),
    # Workflow webhooks not delivered yet, written with their run: a restart (or a crash)
    # resumes them, an erasure removes them (docs/workflows.md).
    "webhook_outbox": ibis.schema(
        {
            "letter_id": dt.string,
            "run_id": dt.string,
            "workflow": dt.string,
            "customer_id": dt.string,  # whom the body is about
            "url": dt.string,
            "body": dt.string,  # the JSON body (signed when sent)
            "tries": dt.int64,
            "queued_at": _TS,
        }
    ),
    # Workflow webhooks that failed every try: visible and replayable (segmint workflows …).
    "webhook_dead_letters": ibis.schema(
        {
            "letter_id": dt.string,
            "run_id": dt.string,
            "workflow": dt.string,
            "customer_id": dt.string,  # whom the body is about (erasure finds it here)
            "url": dt.string,
            "body": dt.string,  # the JSON body as sent (signed anew on replay)
            "tries": dt.int64,
            "last_status": dt.int64,
            "last_error": dt.string,
            "parked_at": _TS,
            "replayed_at": _TS,
            "replay_status": dt.string,  # delivered | failed
        }
    ),
    # -- erasure, audit and model runs of the service (issue 5, docs/server.md) -----------------
    # One row per normalised identifier of an erased person: sha256 of "<kind>:<value>" (kind
    # 'phone' also for WhatsApp ids); imports, identify and webhooks skip matching records.
    "erasure_suppressions": ibis.schema(
        {
            "hash": dt.string,
            "id_kind": dt.string,
            "erasure_id": dt.string,
            "suppressed_at": _TS,
        }
    ),
    # Who did what and when; never personal data of the subject (erasures name a random id).
    "audit_log": ibis.schema(
        {
            "audit_id": dt.string,
            "at": _TS,
            "actor": dt.string,
            "action": dt.string,  # erase | consent | …
            "subject": dt.string,
            "details": dt.string,  # JSON object
        }
    ),
    # Model runs started through the admin API (rfm, clv, personas): status and timing.
    "model_runs": ibis.schema(
        {
            "run_id": dt.string,
            "model": dt.string,
            "status": dt.string,  # queued | running | succeeded | failed
            "params": dt.string,  # JSON object
            "requested_by": dt.string,
            "created_at": _TS,
            "started_at": _TS,
            "finished_at": _TS,
            "rows": dt.int64,
            "error": dt.string,
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
