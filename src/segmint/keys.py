"""API keys of the service: create, list, revoke, verify (layer 4).

A key is a random 32-byte token shown once, when it is created. The workspace stores only its
SHA-256: the token carries 256 bits of randomness, so nobody can search for a token matching a
stolen hash (that is what slow password hashes such as bcrypt guard against for low-entropy
passwords), and a fast hash lets the service check a key on every request and look it up by hash.

Scopes: ``ingest`` keys send events (the Segment write key); ``admin`` keys send events too and
read or change everything through the admin API.

Example:
    >>> from segmint.connect import connect
    >>> from segmint.storage import ensure_schema
    >>> con = connect()
    >>> _ = ensure_schema(con)
    >>> created = create_key(con, "ingest", name="website")
    >>> created.token.startswith("sgm_"), find_key(con, created.token).scope
    (True, 'ingest')
    >>> revoke_key(con, created.key_id).revoked_at is not None
    True
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

import ibis
import pyarrow as pa

from segmint import storage
from segmint.errors import NotFoundError, ValidationError, close_matches
from segmint.schema import TABLES

__all__ = [
    "SCOPES",
    "ApiKey",
    "CreatedKey",
    "create_key",
    "find_key",
    "hash_token",
    "list_keys",
    "revoke_key",
    "touch_keys",
]

#: What a key may do: ``ingest`` sends events; ``admin`` also reads and changes everything.
SCOPES = ("ingest", "admin")

TOKEN_PREFIX = "sgm_"


def hash_token(token: str) -> str:
    """The stored form of a token: hex SHA-256.

    >>> hash_token("sgm_x")[:12]
    'c24a6a5c6059'
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never the token itself)."""

    key_id: str
    name: str | None
    scope: str
    hash: str
    created_at: dt.datetime | None
    revoked_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def may(self, scope: str) -> bool:
        """Whether this key may act with ``scope`` (admin keys may ingest too)."""
        return self.active and (self.scope == scope or self.scope == "admin")


@dataclass(frozen=True)
class CreatedKey(ApiKey):
    """A key just created: ``token`` is shown once and cannot be recovered later."""

    token: str = ""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _rows(con, expr: ibis.Table) -> list[ApiKey]:
    data = expr.order_by("created_at", "key_id").to_pyarrow().to_pylist()
    return [ApiKey(**row) for row in data]


def create_key(con, scope: str, *, name: str | None = None) -> CreatedKey:
    """Create a key with ``scope`` (``ingest`` or ``admin``); the token is in the result only."""
    if scope not in SCOPES:
        raise ValidationError(
            f"The key scope must be one of {', '.join(SCOPES)}. Got '{scope}' instead.",
            suggestions=close_matches(scope, SCOPES),
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    key = CreatedKey(
        key_id="key_" + secrets.token_hex(6),
        name=name,
        scope=scope,
        hash=hash_token(token),
        created_at=_now(),
        token=token,
    )
    row = {c: [getattr(key, c)] for c in TABLES["api_keys"].names}
    with storage.transaction(con):
        con.insert("api_keys", pa.table(row, schema=TABLES["api_keys"].to_pyarrow()))
    return key


def list_keys(con) -> list[ApiKey]:
    """Every key, oldest first (revoked ones included)."""
    return _rows(con, con.table("api_keys"))


def find_key(con, token: str) -> ApiKey | None:
    """The stored key for ``token`` (revoked or not), or ``None``."""
    t = con.table("api_keys")
    found = _rows(con, t.filter(t.hash == hash_token(token)))
    return found[0] if found else None


def revoke_key(con, key_id: str) -> ApiKey:
    """Revoke a key by id; revoking twice keeps the first revocation time."""
    t = con.table("api_keys")
    keys = {k.key_id: k for k in _rows(con, t)}
    if key_id not in keys:
        raise NotFoundError(
            f"There is no API key '{key_id}'.",
            suggestions=close_matches(key_id, keys),
            hint="list the keys with `segmint keys list`.",
        )
    if keys[key_id].revoked_at is not None:
        return keys[key_id]
    now = _now()
    updated = t.mutate(revoked_at=ibis.ifelse(t.key_id == key_id, ibis.literal(now), t.revoked_at))
    with storage.transaction(con):
        storage.replace_table(con, "api_keys", updated.to_pyarrow())
    return next(k for k in list_keys(con) if k.key_id == key_id)


def touch_keys(con, used: dict[str, dt.datetime]) -> None:
    """Record when keys were last used (``key_id → time``), inside the caller's transaction."""
    if not used:
        return
    t = con.table("api_keys")
    case = ibis.cases(
        *[(t.key_id == k, ibis.literal(when)) for k, when in used.items()],
        else_=t.last_used_at,
    )
    storage.replace_table(con, "api_keys", t.mutate(last_used_at=case).to_pyarrow())
