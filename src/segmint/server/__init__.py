"""The segmint service (layer 5): ``create_app(workspace)`` and its routers.

Example:
    >>> from segmint.server import create_app
"""

from __future__ import annotations

__all__ = ["ServerSettings", "create_app"]


def __getattr__(name: str):
    # lazy, so importing one router module does not build the whole app
    if name == "create_app":
        from segmint.server.app import create_app

        return create_app
    if name == "ServerSettings":
        from segmint.server.settings import ServerSettings

        return ServerSettings
    raise AttributeError(name)
