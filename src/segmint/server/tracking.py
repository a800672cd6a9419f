"""The Segment HTTP Tracking API: ``/v1/identify``, ``/v1/track``, ``/v1/page``,
``/v1/screen``, ``/v1/group``, ``/v1/alias`` and ``/v1/batch`` (``/v1/import`` is its alias,
as on Segment).

Every route needs an ingest (or admin) key and answers ``{"success": true}`` only once the
messages are committed. A ``messageId`` already stored is acknowledged and not stored again.

Example (with the official client)::

    import segment.analytics as analytics
    analytics.write_key = "sgm_…"
    analytics.host = "http://127.0.0.1:8787"
    analytics.track("u1", "Order Completed", {"revenue": 120})
    analytics.flush()
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from segmint.server.deps import IngestKey, State, read_json
from segmint.server.messages import MESSAGE_TYPES, MODELS, Batch, parse_batch, parse_one

__all__ = ["Ack", "request_schemas", "router"]

router = APIRouter(prefix="/v1", tags=["tracking"])


class Ack(BaseModel):
    """The answer to an accepted request: everything in it is committed."""

    success: bool = True


def _body(model: str) -> dict:
    ref = {"$ref": f"#/components/schemas/{model}"}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ref}},
        }
    }


def request_schemas() -> dict[str, dict]:
    """JSON schemas of the request bodies, for the OpenAPI document's components."""
    template = "#/components/schemas/{model}"
    out: dict[str, dict] = {}
    for model in (Batch, *MODELS.values()):
        schema = model.model_json_schema(ref_template=template)
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


@router.post(
    "/batch",
    operation_id="batch",
    response_model=Ack,
    summary="Send up to 500 KB of messages of any type",
    openapi_extra=_body("Batch"),
)
async def batch(request: Request, state: State, key: IngestKey) -> Ack:
    body, size = await read_json(request, state.settings.max_batch_bytes, "batch")
    limit = state.settings.max_message_bytes
    messages = parse_batch(body, state.now(), max_message_bytes=limit if size > limit else 0)
    await state.write(messages, source=state.settings.source)
    return Ack()


router.add_api_route(
    "/import",
    batch,
    methods=["POST"],
    operation_id="import_batch",
    response_model=Ack,
    summary="Alias of /v1/batch",
    openapi_extra=_body("Batch"),
)


def _single(kind: str):
    async def endpoint(request: Request, state: State, key: IngestKey) -> Ack:
        body, _ = await read_json(request, state.settings.max_message_bytes, "message")
        message = parse_one(kind, body, state.now())
        await state.write([message], source=state.settings.source)
        return Ack()

    endpoint.__name__ = kind
    endpoint.__doc__ = f"Send one {kind} message."
    return endpoint


for _kind in MESSAGE_TYPES:
    router.add_api_route(
        f"/{_kind}",
        _single(_kind),
        methods=["POST"],
        operation_id=_kind,
        response_model=Ack,
        summary=f"Send one {_kind} message",
        openapi_extra=_body(MODELS[_kind].__name__),
    )
