"""Dependencies shared by the routers: the server state, API keys, limited request bodies.

Keys: the Segment libraries send the write key as the HTTP Basic user name
(``Authorization: Basic base64("KEY:")``); ``Authorization: Bearer KEY`` works too.

Bodies: at most ``limit`` bytes after decompression; ``Content-Encoding: gzip`` is accepted
(some Tracking API clients gzip by default). Larger bodies are refused with a 400 that says the
size and the limit, before anything is parsed.

Example:
    >>> token_from_header("Basic " + base64.b64encode(b"sgm_abc:").decode())
    'sgm_abc'
    >>> token_from_header("Bearer sgm_abc"), token_from_header(None)
    ('sgm_abc', None)
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Annotated, Any

from fastapi import Depends, Request

from segmint.errors import ValidationError
from segmint.keys import ApiKey
from segmint.server.state import ServerState

__all__ = [
    "AdminKey",
    "IngestKey",
    "State",
    "read_json",
    "token_from_header",
]


def get_state(request: Request) -> ServerState:
    return request.app.state.segmint


State = Annotated[ServerState, Depends(get_state)]


def token_from_header(value: str | None) -> str | None:
    """The API key in an ``Authorization`` header (Basic user name or Bearer token)."""
    if not value:
        return None
    scheme, _, rest = value.strip().partition(" ")
    scheme = scheme.lower()
    rest = rest.strip()
    if scheme == "bearer":
        return rest or None
    if scheme == "basic":
        try:
            decoded = base64.b64decode(rest, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user = decoded.partition(":")[0]
        return user or None
    return None


def _key(request: Request, scope: str) -> ApiKey:
    state: ServerState = request.app.state.segmint
    key = state.keys.check(token_from_header(request.headers.get("authorization")), scope)
    state.limiter.check(key.key_id, key.scope)  # 429 once the key's bucket is empty
    state.writer.note_key_use(key.key_id)
    return key


async def require_ingest(request: Request) -> ApiKey:
    """An ``ingest`` or ``admin`` key (401 without a valid one)."""
    return _key(request, "ingest")


async def require_admin(request: Request) -> ApiKey:
    """An ``admin`` key (401 without a valid key, 403 for an ingest key)."""
    return _key(request, "admin")


IngestKey = Annotated[ApiKey, Depends(require_ingest)]
AdminKey = Annotated[ApiKey, Depends(require_admin)]


def _too_large(size: str, limit: int, what: str) -> ValidationError:
    return ValidationError(
        f"The {what} is {size} bytes; it may be at most {limit // 1024} KB ({limit:,} bytes).",
        location="/",
        hint="send fewer messages per /v1/batch request."
        if what == "batch"
        else "send large data elsewhere and refer to it by id.",
    )


async def read_json(request: Request, limit: int, what: str) -> tuple[Any, int]:
    """The request's JSON body (and its size in bytes), gunzipped if needed, refused past
    ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(f"more than {limit:,}", limit, what)
        chunks.append(chunk)
    data = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding == "gzip":
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            data = inflater.decompress(data, limit + 1)
        except zlib.error:
            raise ValidationError(
                "The body says Content-Encoding: gzip but is not valid gzip data.",
                location="/",
            ) from None
        if len(data) > limit or inflater.unconsumed_tail:
            raise _too_large(f"more than {limit:,}", limit, what)
    elif encoding not in ("", "identity"):
        raise ValidationError(
            f"Content-Encoding must be gzip or none. Got '{encoding}' instead.",
            location="/",
            suggestions=["gzip"],
        )
    if not data.strip():
        raise ValidationError("The body is empty; it must be a JSON object.", location="/")
    try:
        return json.loads(data), len(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"The body is not valid JSON: {exc}.",
            location="/",
            hint="send Content-Type: application/json with a JSON object.",
        ) from None
