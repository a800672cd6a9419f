"""Settings of the service (``create_app(workspace, settings=ServerSettings(...))``).

Example:
    >>> ServerSettings().max_batch_bytes
    512000
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from segmint.config import RealtimeSettings, ServerConfig

__all__ = ["ServerSettings"]


class ServerSettings(BaseModel):
    """Limits and tuning of ``segmint serve``; the defaults follow Segment's documented limits."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    max_message_bytes: int = Field(32 * 1024, ge=1024, description="one message, as JSON")
    max_batch_bytes: int = Field(500 * 1024, ge=1024, description="one /v1/batch body, as JSON")
    max_group_messages: int = Field(
        20_000, ge=1, description="most messages committed in one transaction"
    )
    max_pending_messages: int = Field(
        200_000, ge=1, description="queued and not committed yet; beyond it requests get 503"
    )
    source: str = Field("api", description="events.source of messages sent to the Tracking API")
    key_touch_seconds: float = Field(60.0, ge=0, description="how often last_used_at is written")
    duckdb_threads: int | None = Field(
        None,
        ge=1,
        description="DuckDB worker threads (default: DuckDB's, one per core); 1 halves the CPU "
        "of small commits but runs large reads on one core",
    )
    switch_interval_seconds: float | None = Field(
        0.0005,
        gt=0,
        description="Python's thread switch interval while serving (sys.setswitchinterval; "
        "restored at stop): a background thread busy in Python, such as the real-time "
        "evaluator compiling a query, hands the interpreter to the event loop and the writer "
        "within this (Python's default, 5 ms, added tens of ms to single requests); None: "
        "leave it",
    )
    rate_limits: ServerConfig | None = Field(
        None, description="per-key rate limits; default: server: of segmint.yaml"
    )
    realtime: RealtimeSettings | None = Field(
        None, description="real-time membership; default: realtime: of segmint.yaml"
    )
    workflows: bool | None = Field(
        None, description="run workflows; default: workflows.enabled of segmint.yaml"
    )
    clock: Callable[[], datetime] | None = Field(
        None, exclude=True, description="receivedAt (naive UTC); tests pin it"
    )
