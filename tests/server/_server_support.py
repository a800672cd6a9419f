"""Helpers of the service tests."""

from __future__ import annotations

import warnings
from datetime import datetime

with warnings.catch_warnings():  # starlette 1.x asks for httpx2; httpx still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

__all__ = ["NOW", "TestClient", "events"]

#: receivedAt of every request in tests that pin the clock
NOW = datetime(2026, 6, 1, 12, 0, 0)


def events(reader, **where) -> list[dict]:
    """Rows of ``events`` (optionally filtered by equal columns), in message id order."""
    t = reader.table("events")
    for col, value in where.items():
        t = t.filter(t[col] == value)
    return sorted(t.to_pyarrow().to_pylist(), key=lambda r: r["message_id"])
