"""Channel webhook routes: WhatsApp, Instagram/Messenger, LINE and Shopify (layer 5).

``webhook_router(submit, secrets)`` returns an ``APIRouter`` with

=====================================  ====================================================
``GET  /webhooks/whatsapp``            Meta's subscribe handshake (echoes ``hub.challenge``)
``POST /webhooks/whatsapp``            WhatsApp Cloud API (``X-Hub-Signature-256``)
``GET  /webhooks/meta``                handshake for Instagram and Messenger
``POST /webhooks/meta``                Instagram and Messenger (``X-Hub-Signature-256``)
``POST /webhooks/line``                LINE Messaging API (``X-Line-Signature``)
``POST /webhooks/shopify``             Shopify (``X-Shopify-Hmac-Sha256``, ``X-Shopify-Topic``)
=====================================  ====================================================

Each POST checks, in this order: the provider is configured (404 when ``webhooks.<provider>``
is missing from segmint.yaml, 503 when its ``env:`` variable is not set), the body size (413),
the signature over the raw body (401), the payload shape (400); then it hands the mapped
Segment messages to ``submit`` and answers 200 ``{"accepted": n, "ignored": m}`` once they are
committed. Errors are JSON ``{type, message, location, suggestions, hint}``. Every refusal is
logged on ``segmint.server.webhooks`` with the provider and the reason, never the payload.

Example:
    >>> from fastapi import FastAPI
    >>> from segmint.config import WebhookSettings
    >>> async def submit(messages): ...
    >>> app = FastAPI()
    >>> app.include_router(webhook_router(submit, WebhookSettings.model_validate(
    ...     {"line": {"channel_secret": "c"}})))
    >>> sorted(app.openapi()["paths"])
    ['/webhooks/line', '/webhooks/meta', '/webhooks/shopify', '/webhooks/whatsapp']
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from segmint.config import Config, WebhookSettings, resolve_secret
from segmint.errors import (
    ConfigError,
    NotFoundError,
    SegmintError,
    SignatureError,
    ValidationError,
)
from segmint.ingest.webhooks import line, meta, shopify
from segmint.ingest.webhooks._common import Mapped, parse_body

__all__ = [
    "PROVIDERS",
    "Submit",
    "WebhookSecrets",
    "secrets_from_config",
    "webhook_router",
]

log = logging.getLogger("segmint.server.webhooks")

#: ``submit(messages)``: commits Segment-spec messages; returns once they are durable.
Submit = Callable[[list[dict[str, Any]]], Awaitable[Any]]

#: provider (the URL segment and the segmint.yaml key) → the secrets it needs.
PROVIDERS: dict[str, tuple[str, ...]] = {
    "whatsapp": ("app_secret", "verify_token"),
    "meta": ("app_secret", "verify_token"),
    "line": ("channel_secret",),
    "shopify": ("secret",),
}

_EXAMPLE = {
    "whatsapp": "whatsapp:\n    app_secret: env:SEGMINT_WHATSAPP_APP_SECRET\n"
    "    verify_token: env:SEGMINT_WHATSAPP_VERIFY_TOKEN",
    "meta": "meta:\n    app_secret: env:SEGMINT_META_APP_SECRET\n"
    "    verify_token: env:SEGMINT_META_VERIFY_TOKEN",
    "line": "line:\n    channel_secret: env:SEGMINT_LINE_CHANNEL_SECRET",
    "shopify": "shopify:\n    secret: env:SEGMINT_SHOPIFY_SECRET",
}


class PayloadTooLargeError(ValidationError):
    """A webhook body is larger than ``webhooks.max_body_bytes``."""

    type_name = "payload_too_large"
    status_code = 413


@dataclass(frozen=True)
class WebhookSecrets:
    """What the routes need from the workspace config: the secrets and the phone region."""

    settings: WebhookSettings
    default_region: str = "HK"


def secrets_from_config(config: Config) -> WebhookSecrets:
    """``webhooks:`` and ``default_region`` of a workspace's segmint.yaml.

    >>> secrets_from_config(Config(default_region="TW")).default_region
    'TW'
    """
    return WebhookSecrets(config.webhooks, config.default_region)


def _status_of(error: SegmintError) -> int:
    explicit = getattr(error, "status_code", None)
    if isinstance(explicit, int):
        return explicit
    if isinstance(error, SignatureError):
        return 401
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ConfigError):
        return 503
    return 400


def _refuse(provider: str, request: Request, status: int, error: SegmintError) -> JSONResponse:
    # the reason only: messages about the payload may quote its values, so they are not logged
    reason = error.message if isinstance(error, SignatureError | ConfigError) else error.type_name
    client = request.client.host if request.client else "-"
    log.warning(
        "%s webhook refused with %d from %s: %s (%s)",
        provider,
        status,
        client,
        reason,
        error.location or "-",
    )
    return JSONResponse(error.to_dict(), status_code=status)


class _Secrets:
    """The providers' secrets, resolved once (``env:NAME`` read when the router is built)."""

    def __init__(self, settings: WebhookSettings) -> None:
        self.values: dict[str, dict[str, str]] = {}
        self.problems: dict[str, ConfigError] = {}
        for provider, names in PROVIDERS.items():
            section = getattr(settings, provider)
            if section is None:
                continue
            try:
                self.values[provider] = {
                    name: resolve_secret(
                        getattr(section, name), where=f"webhooks.{provider}.{name}"
                    )
                    for name in names
                }
            except ConfigError as exc:
                self.problems[provider] = exc

    def of(self, provider: str) -> dict[str, str]:
        if provider in self.problems:
            raise self.problems[provider]
        if provider not in self.values:
            raise NotFoundError(
                f"The {provider} webhook is not configured in this workspace.",
                location=f"segmint.yaml, /webhooks/{provider}",
                hint=f"add to segmint.yaml:\nwebhooks:\n  {_EXAMPLE[provider]}\nand restart "
                "`segmint serve` (docs/webhooks.md).",
            )
        return self.values[provider]


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    too_large = PayloadTooLargeError(
        f"Webhook body must be at most {limit:,} bytes.",
        location="body",
        hint="raise webhooks.max_body_bytes in segmint.yaml if the provider sends larger ones.",
    )
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _takes_source(submit: Callable | None) -> bool:
    if submit is None:
        return False
    try:
        params = inspect.signature(submit).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "source" or p.kind is p.VAR_KEYWORD for p in params)


_JSON_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}
_HANDSHAKE = {
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in ("hub.mode", "hub.verify_token", "hub.challenge")
    ]
}
_HANDSHAKE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "the challenge, echoed", "content": {"text/plain": {}}},
    400: {"description": "not a subscribe request"},
    403: {"description": "hub.verify_token does not match"},
    404: {"description": "this provider is not configured in segmint.yaml"},
    503: {"description": "the provider's secret names an unset environment variable"},
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "committed: {accepted, ignored}"},
    400: {"description": "the body is not a payload of this provider"},
    401: {"description": "missing or wrong signature"},
    404: {"description": "this provider is not configured in segmint.yaml"},
    413: {"description": "body larger than webhooks.max_body_bytes"},
    503: {"description": "the provider's secret names an unset environment variable"},
}


def webhook_router(
    submit: Submit | None,
    secrets: WebhookSecrets | WebhookSettings | Mapping[str, Any] | None,
    *,
    default_region: str | None = None,
) -> APIRouter:
    """The ``/webhooks/…`` routes.

    ``submit`` commits a list of Segment-spec messages (``None``: use
    ``request.app.state.submit_messages`` at request time); when it takes a ``source`` keyword
    it gets ``webhook:<provider>``. ``secrets`` is :func:`secrets_from_config` of the workspace
    config (or ``Config.webhooks``, or the ``webhooks:`` mapping itself); ``default_region``
    overrides the region that reads phones without ``+country`` (Shopify keeps what buyers type).
    """
    if isinstance(secrets, WebhookSecrets):
        settings, region = secrets.settings, secrets.default_region
    elif isinstance(secrets, WebhookSettings):
        settings, region = secrets, "HK"
    else:
        settings, region = WebhookSettings.model_validate(dict(secrets or {})), "HK"
    default_region = (default_region or region).upper()
    with_source = _takes_source(submit)
    store = _Secrets(settings)
    limit = settings.max_body_bytes
    router = APIRouter(prefix="/webhooks", tags=["webhooks"])

    async def receive(
        provider: str,
        request: Request,
        verify: Callable[[bytes, dict[str, str]], None],
        mapper: Callable[[dict[str, Any]], Mapped],
    ) -> Response:
        try:
            keys = store.of(provider)
            body = await _read_body(request, limit)
            verify(body, keys)
            mapped = mapper(parse_body(body, provider))
        except SegmintError as exc:
            return _refuse(provider, request, _status_of(exc), exc)
        if mapped.messages:
            target = submit or request.app.state.submit_messages
            source = f"webhook:{provider}"
            try:
                if with_source or (submit is None and _takes_source(target)):
                    await target(mapped.messages, source=source)
                else:
                    await target(mapped.messages)
            except SegmintError as exc:  # e.g. refused or busy: say so, do not hide it
                return _refuse(provider, request, _status_of(exc), exc)
        log.info(
            "%s webhook: %d message(s) accepted, %d part(s) ignored",
            provider,
            len(mapped.messages),
            len(mapped.ignored),
        )
        return JSONResponse({"accepted": len(mapped.messages), "ignored": len(mapped.ignored)})

    def handshake(provider: str, request: Request) -> Response:
        try:
            token = store.of(provider)["verify_token"]
            params = dict(request.query_params)
            challenge = meta.verify_subscription(params, token, provider=provider)
        except SignatureError as exc:  # Meta expects 403 for a wrong verify token
            return _refuse(provider, request, 403, exc)
        except SegmintError as exc:
            return _refuse(provider, request, _status_of(exc), exc)
        log.info("%s webhook subscription verified", provider)
        return PlainTextResponse(challenge)

    def header(request: Request, name: str) -> str | None:
        return request.headers.get(name)

    @router.get(
        "/whatsapp",
        operation_id="webhooks_whatsapp_verify",
        response_class=PlainTextResponse,
        responses=_HANDSHAKE_RESPONSES,
        openapi_extra=_HANDSHAKE,
    )
    async def whatsapp_verify(request: Request) -> Response:
        """Meta's subscribe handshake for the WhatsApp callback URL."""
        return handshake("whatsapp", request)

    @router.post(
        "/whatsapp",
        operation_id="webhooks_whatsapp_receive",
        responses=_RESPONSES,
        openapi_extra=_JSON_BODY,
    )
    async def whatsapp_receive(request: Request) -> Response:
        """WhatsApp Cloud API messages and statuses."""
        return await receive(
            "whatsapp",
            request,
            lambda body, keys: meta.verify_signature(
                body,
                header(request, meta.SIGNATURE_HEADER),
                keys["app_secret"],
                provider="whatsapp",
            ),
            lambda data: meta.map_whatsapp(data, region=default_region),
        )

    @router.get(
        "/meta",
        operation_id="webhooks_meta_verify",
        response_class=PlainTextResponse,
        responses=_HANDSHAKE_RESPONSES,
        openapi_extra=_HANDSHAKE,
    )
    async def meta_verify(request: Request) -> Response:
        """Meta's subscribe handshake for the Instagram / Messenger callback URL."""
        return handshake("meta", request)

    @router.post(
        "/meta",
        operation_id="webhooks_meta_receive",
        responses=_RESPONSES,
        openapi_extra=_JSON_BODY,
    )
    async def meta_receive(request: Request) -> Response:
        """Instagram and Messenger messaging events."""
        return await receive(
            "meta",
            request,
            lambda body, keys: meta.verify_signature(
                body, header(request, meta.SIGNATURE_HEADER), keys["app_secret"], provider="meta"
            ),
            meta.map_meta,
        )

    @router.post(
        "/line",
        operation_id="webhooks_line_receive",
        responses=_RESPONSES,
        openapi_extra=_JSON_BODY,
    )
    async def line_receive(request: Request) -> Response:
        """LINE Messaging API events."""
        return await receive(
            "line",
            request,
            lambda body, keys: line.verify_signature(
                body, header(request, line.SIGNATURE_HEADER), keys["channel_secret"]
            ),
            line.map_line,
        )

    @router.post(
        "/shopify",
        operation_id="webhooks_shopify_receive",
        responses=_RESPONSES,
        openapi_extra=_JSON_BODY,
    )
    async def shopify_receive(request: Request) -> Response:
        """Shopify customers/create, orders/create and checkouts/create."""
        return await receive(
            "shopify",
            request,
            lambda body, keys: shopify.verify_signature(
                body, header(request, shopify.SIGNATURE_HEADER), keys["secret"]
            ),
            lambda data: shopify.map_shopify(
                header(request, shopify.TOPIC_HEADER), data, region=default_region
            ),
        )

    return router
