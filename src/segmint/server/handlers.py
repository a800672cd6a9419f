"""Errors as JSON ``{type, message, location, suggestions, hint}`` on every route.

``SegmintError`` members map to HTTP statuses by kind (401 no or bad key, 403 key may not,
404 not found, 400 invalid input); request validation errors and unknown routes get the same
body shape, and anything unexpected a 500 with the same shape (the traceback goes to the log).

Example:
    >>> from segmint.errors import NotFoundError
    >>> status_of(NotFoundError("There is no profile 'c_1'."))
    404
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from segmint.errors import (
    ForbiddenError,
    NotFoundError,
    SegmintError,
    SignatureError,
    UnauthorizedError,
    ValidationError,
    close_matches,
)

__all__ = ["error_body", "install_error_handlers", "status_of"]

log = logging.getLogger("segmint.server")

_STATUS: tuple[tuple[type, int], ...] = (
    (UnauthorizedError, 401),
    (SignatureError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ValueError, 400),  # ValidationError, ConfigError, DataError, …
)


def status_of(exc: SegmintError) -> int:
    """The HTTP status for a segmint error (an explicit ``status_code`` attribute wins)."""
    explicit = getattr(exc, "status_code", None)
    if isinstance(explicit, int):
        return explicit
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def error_body(type_: str, message: str, location=None, suggestions=(), hint=None) -> dict:
    return {
        "type": type_,
        "message": message,
        "location": location,
        "suggestions": list(suggestions),
        "hint": hint,
    }


def _segmint(request: Request, exc: SegmintError) -> JSONResponse:
    status = status_of(exc)
    headers = {"WWW-Authenticate": 'Basic realm="segmint"'} if status == 401 else None
    if getattr(exc, "headers", None):  # e.g. Retry-After of a 429
        headers = {**(headers or {}), **exc.headers}
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(exc.to_dict(), status_code=status, headers=headers)


def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    loc = [str(p) for p in first.get("loc", ())]
    where = "/" + "/".join(loc)
    name = loc[-1] if loc else "request"
    message = f"'{name}': {str(first.get('msg', '')).removeprefix('Value error, ')}."
    if first.get("type") == "missing":
        message = f"'{name}' is required."
    err = ValidationError(message, location=where)
    return JSONResponse(err.to_dict(), status_code=400)


def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 404:
        paths = sorted(request.app.openapi().get("paths", {}))
        body = error_body(
            "not_found",
            f"There is no route {request.url.path}.",
            location=request.url.path,
            suggestions=close_matches(request.url.path, paths),
            hint="see /docs for every route.",
        )
    elif exc.status_code == 405:
        body = error_body(
            "method_not_allowed",
            f"{request.method} is not allowed on {request.url.path}.",
            location=request.url.path,
        )
    else:
        body = error_body("http_error", str(exc.detail), location=request.url.path)
    return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, ClientDisconnect):  # the client left while sending: nothing to answer
        body = error_body("client_disconnect", "The client closed the connection.")
        return JSONResponse(body, status_code=400)
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    body = error_body(
        "internal_error",
        f"Unexpected {type(exc).__name__} while handling the request; nothing was acknowledged.",
        location=request.url.path,
        hint="retry; if it persists, report it with the server log.",
    )
    return JSONResponse(body, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on ``app``."""
    app.add_exception_handler(SegmintError, _segmint)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
