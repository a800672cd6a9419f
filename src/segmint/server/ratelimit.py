"""Per-key rate limits: one token bucket per API key id.

Limits come from ``server:`` in segmint.yaml (:class:`~segmint.config.ServerConfig`; a
``ServerSettings(rate_limits=...)`` given to ``create_app`` wins): one for each ingest key, one
for each admin key, and overrides per key id. A request that finds its bucket empty gets
**429** with ``Retry-After`` (whole seconds) and the usual JSON error body.

Example:
    >>> from segmint.config import RateLimit
    >>> bucket = TokenBucket(RateLimit(per_second=1, burst=2), now=0.0)
    >>> bucket.take(0.0), bucket.take(0.0), bucket.take(0.0)
    (0.0, 0.0, 1.0)
    >>> bucket.take(1.0)
    0.0
"""

from __future__ import annotations

import math
import threading
import time

from segmint.config import RateLimit, ServerConfig
from segmint.errors import SegmintError

__all__ = ["RateLimitedError", "RateLimiter", "TokenBucket"]


class RateLimitedError(SegmintError):
    """A key sent more requests than its rate limit allows (HTTP 429 with Retry-After)."""

    type_name = "rate_limited"
    status_code = 429

    def __init__(self, message: str, *, retry_after: float, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}


class TokenBucket:
    """``limit.burst`` tokens, refilled at ``limit.per_second``; not thread-safe by itself."""

    def __init__(self, limit: RateLimit, *, now: float) -> None:
        self.limit = limit
        self.tokens = float(limit.burst)
        self.at = now

    def take(self, now: float) -> float:
        """Take one token: 0.0 when granted, else the seconds until one is available."""
        self.tokens = min(self.limit.burst, self.tokens + (now - self.at) * self.limit.per_second)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.limit.per_second


class RateLimiter:
    """Buckets by key id, created on first use with the key's limit."""

    def __init__(self, config: ServerConfig, clock=time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def limit_of(self, key_id: str, scope: str) -> RateLimit | None:
        if key_id in self.config.keys:
            return self.config.keys[key_id]
        return self.config.admin_rate_limit if scope == "admin" else self.config.ingest_rate_limit

    def check(self, key_id: str, scope: str) -> None:
        """Spend one request of ``key_id``; raises :class:`RateLimitedError` when none is left."""
        limit = self.limit_of(key_id, scope)
        if limit is None:
            return
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(key_id)
            if bucket is None or bucket.limit != limit:
                bucket = self._buckets[key_id] = TokenBucket(limit, now=now)
            wait = bucket.take(now)
        if wait > 0:
            raise RateLimitedError(
                f"The key {key_id} sent more than {limit.burst:,} requests at once "
                f"({limit.per_second:g} per second on average).",
                retry_after=wait,
                hint=f"retry after {max(1, math.ceil(wait))} s, or raise the limit in "
                "segmint.yaml (server: ingest_rate_limit / admin_rate_limit / keys).",
            )
