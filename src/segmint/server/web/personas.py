"""Personas (``/personas``): the cards of the stored clustering model (``ws.personas(save=True)``
or ``segmint personas``) — names, descriptions, sizes, distinguishing features and rules — in
the language of the page, made by the report's own card code."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from segmint.report import fragments
from segmint.server.web.cache import cached
from segmint.server.web.core import CurrentUser, lang_of, render, web_router

__all__ = ["router"]

router = web_router(tags=["web"])


@router.get("/personas", response_class=HTMLResponse)
def personas(request: Request, user: CurrentUser) -> Response:
    """Persona cards (empty state with the command that makes them)."""
    data = cached(request, ("personas",), lambda ws: fragments.gather_sections(ws, ("personas",)))
    cards = fragments.persona_cards(data, lang_of(request))
    return render(request, "personas.html", {"active": "personas", "cards": cards})
