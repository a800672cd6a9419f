"""Workspace configuration: ``segmint.yaml`` in the workspace folder (layer 1).

Example:
    >>> cfg = Config(name="shop", default_region="TW")
    >>> cfg.default_region
    'TW'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from segmint.errors import ConfigError

__all__ = [
    "CONFIG_FILE",
    "CampaignSettings",
    "Config",
    "JunkIdentifiers",
    "RateLimit",
    "RealtimeSettings",
    "SegmentChecks",
    "ServerConfig",
    "WebhookSettings",
    "WorkflowSettings",
    "resolve_secret",
]

CONFIG_FILE = "segmint.yaml"


class JunkIdentifiers(BaseModel):
    """Identifiers that never link two people (placeholders, test accounts, shared numbers)."""

    model_config = ConfigDict(extra="forbid")

    emails: list[str] = Field(
        default_factory=lambda: [
            "test@*",
            "*@test.com",
            "*@example.com",
            "*@example.org",
            "noreply@*",
            "no-reply@*",
            "none@*",
            "na@*",
            "n/a@*",
            "null@*",
            "abc@*",
            "a@a.com",
        ],
        description="fnmatch patterns, matched against the normalised (lower-case) email",
    )
    phones: list[str] = Field(
        default_factory=lambda: [
            "00000000",
            "11111111",
            "12345678",
            "99999999",
            "88888888",
            "0000000000",
            "0912345678",
            "1234567890",
        ],
        description="national numbers (digits only) that are placeholders",
    )
    min_phone_distinct_digits: int = Field(
        3, description="a phone with fewer distinct digits than this is junk (e.g. 22222222)"
    )
    max_shared: int = Field(
        50,
        ge=2,
        description="an identifier shared by more records than this links nobody (a shop phone, "
        "a family e-mail); it is reported as over-shared",
    )
    values: list[str] = Field(
        default_factory=lambda: ["", "-", "n/a", "na", "none", "null", "unknown", "0", "test"],
        description="any identifier equal to one of these (case-insensitive) is junk",
    )


class SegmentChecks(BaseModel):
    """Thresholds of ``segmint segments check`` (docs/segments-check.md), under
    ``segment_checks:`` in ``segmint.yaml``; CLI flags and keyword arguments override them.

    >>> SegmentChecks(min_size=100).min_share
    0.005
    """

    model_config = ConfigDict(extra="forbid")

    min_size: int = Field(50, ge=0, description="a segment with fewer members is too small")
    min_share: float = Field(
        0.005, ge=0, le=1, description="a segment below this share of all profiles is too small"
    )
    coarse_share: float = Field(
        0.4, gt=0, le=1, description="a segment with at least this share of profiles is large…"
    )
    coarse_lift: tuple[float, float] = Field(
        (0.9, 1.1),
        description="…and too coarse when its purchase-rate lift lies in [low, high]",
    )
    purchase_days: int = Field(
        90, ge=1, description="purchase rate: share with a counted order in these days"
    )
    max_jaccard: float = Field(
        0.5, gt=0, le=1, description="segments of one non-exclusive set overlapping this much"
    )
    review_days: int = Field(365, ge=1, description="definitions not reviewed for this long")
    max_missing: float = Field(
        0.5, ge=0, le=1, description="a used profile field missing for this share of profiles"
    )
    max_disagreement: float = Field(
        0.1, ge=0, le=1, description="share of multi-source people whose sources disagree"
    )
    demographic_fields: list[str] = Field(
        default_factory=lambda: [
            "gender",
            "birth_date",
            *(
                f"traits.{k}"
                for k in (
                    "age",
                    "age_band",
                    "age_group",
                    "income",
                    "income_band",
                    "marital_status",
                    "education",
                    "occupation",
                    "household_size",
                    "children",
                )
            ),
        ],
        description="fields a demographic-only definition uses (add country/city to include "
        "geographic-only ones)",
    )
    keep_fields: list[str] = Field(
        default_factory=lambda: [
            "email",
            "phone",
            "name",
            "created_at",
            *(f"consent_{ch}{x}" for ch in ("whatsapp", "email", "sms") for x in ("", "_at")),
        ],
        description="collected fields never proposed for data minimisation (identifiers, "
        "consent, bookkeeping)",
    )

    @field_validator("coarse_lift")
    @classmethod
    def _ordered_lift(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= v[0] <= v[1]:
            raise ValueError(
                "The 'coarse_lift' threshold must be [low, high] with 0 ≤ low ≤ high. "
                f"Got {list(v)}"
            )
        return v


# -- channel webhooks (segmint serve: /webhooks/…, docs/webhooks.md) ----------------------------
#: A secret written as ``env:NAME`` is read from the environment variable NAME when the server
#: starts, so segmint.yaml can be shared without the secret in it.
ENV_PREFIX = "env:"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_secret(value: str) -> str:
    if value.startswith(ENV_PREFIX) and not _ENV_NAME.fullmatch(value[len(ENV_PREFIX) :]):
        raise ValueError(
            "'env:' must be followed by an environment variable name such as "
            "env:SEGMINT_LINE_SECRET"
        )
    return value


def resolve_secret(value: str, *, where: str, environ: Mapping[str, str] | None = None) -> str:
    """The secret itself: ``value``, or the environment variable it names as ``env:NAME``.

    >>> resolve_secret("env:SHOP_SECRET", where="webhooks.shopify.secret",
    ...                environ={"SHOP_SECRET": "abc"})
    'abc'
    """
    if not value.startswith(ENV_PREFIX):
        return value
    name = value[len(ENV_PREFIX) :]
    found = (os.environ if environ is None else environ).get(name)
    if not found:
        raise ConfigError(
            f"{where} is read from the environment variable {name}, which is not set.",
            location=f"{CONFIG_FILE}, /{where.replace('.', '/')}",
            hint=f"set {name} in the environment of `segmint serve` and restart it.",
        )
    return found


class MetaWebhookSecrets(BaseModel):
    """WhatsApp, Instagram or Messenger: the Meta app secret and the handshake's verify token."""

    model_config = ConfigDict(extra="forbid")

    app_secret: str = Field(..., min_length=1, repr=False, description="Meta app secret")
    verify_token: str = Field(
        ..., min_length=1, repr=False, description="any string; entered again in Meta's dashboard"
    )

    _env = field_validator("app_secret", "verify_token")(_check_secret)


class LineWebhookSecrets(BaseModel):
    """LINE Messaging API: the channel secret (LINE Developers console, Basic settings)."""

    model_config = ConfigDict(extra="forbid")

    channel_secret: str = Field(..., min_length=1, repr=False)

    _env = field_validator("channel_secret")(_check_secret)


class ShopifyWebhookSecrets(BaseModel):
    """Shopify: the app's client secret, or the store's webhook signing key."""

    model_config = ConfigDict(extra="forbid")

    secret: str = Field(..., min_length=1, repr=False)

    _env = field_validator("secret")(_check_secret)


class WebhookSettings(BaseModel):
    """``webhooks:`` in segmint.yaml; a provider left out has no endpoint (404).

    >>> WebhookSettings.model_validate({"line": {"channel_secret": "env:LINE_SECRET"}}).line
    LineWebhookSecrets()
    """

    model_config = ConfigDict(extra="forbid")

    whatsapp: MetaWebhookSecrets | None = None
    meta: MetaWebhookSecrets | None = Field(None, description="Instagram and Messenger")
    line: LineWebhookSecrets | None = None
    shopify: ShopifyWebhookSecrets | None = None
    max_body_bytes: int = Field(
        3 * 1024 * 1024, ge=1024, description="larger webhook bodies are refused (413)"
    )


class CampaignSettings(BaseModel):
    """``campaigns:`` in segmint.yaml: where ``segmint campaigns send`` POSTs messages
    (docs/campaigns.md). The secret signs every body; write it as ``env:NAME`` to keep it out
    of the file.

    >>> CampaignSettings(webhook_url="https://example.com/hook").webhook_secret is None
    True
    """

    model_config = ConfigDict(extra="forbid")

    webhook_url: str | None = Field(None, description="http(s) URL that receives the messages")
    webhook_secret: str | None = Field(None, min_length=1, repr=False)

    @field_validator("webhook_secret")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        return None if v is None else _check_secret(v)


# -- real-time membership and workflows (segmint serve; docs/realtime.md, docs/workflows.md) ------
class RealtimeSettings(BaseModel):
    """``realtime:`` in segmint.yaml: how ``segmint serve`` keeps segment membership current.

    >>> RealtimeSettings().sweep_minutes
    15.0
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="re-evaluate touched customers after each commit")
    batch_seconds: float = Field(
        0.05, ge=0, le=60, description="wait this long after a commit to gather more commits"
    )
    max_batch_customers: int = Field(
        50_000, ge=1, description="most customers re-evaluated in one micro-batch"
    )
    busy_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="most of the time micro-batches may take: after a round of t seconds the "
        "next starts t * (1 - share) / share later, leaving the rest to ingestion; 1: back to "
        "back",
    )
    nice: int = Field(
        10,
        ge=0,
        le=19,
        description="CPU niceness added to the evaluator's threads (Linux), so rounds yield the "
        "cores to ingestion; 0: same priority",
    )
    sweep_minutes: float = Field(
        15.0, ge=0, description="full re-evaluation for conditions that change with time; 0: off"
    )
    sweep_on_start: bool = Field(True, description="sweep once when the service starts")
    quantum_seconds: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="evaluate at the instant rounded up to this step, so a round reuses the "
        "compiled query; window edges move by at most this much; 0: exact instant",
    )


class WorkflowSettings(BaseModel):
    """``workflows:`` in segmint.yaml: delivery of workflow webhooks (docs/workflows.md).

    >>> WorkflowSettings().webhook_tries
    5
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="run <workspace>/workflows/*.yaml in segmint serve")
    webhook_secret: str | None = Field(
        None, min_length=1, repr=False, description="signs every body (env:NAME reads it)"
    )
    webhook_tries: int = Field(5, ge=1, le=50, description="tries before the dead-letter table")
    webhook_backoff_seconds: float = Field(
        2.0, ge=0, description="wait before the 2nd try; doubles after each failure"
    )
    webhook_max_backoff_seconds: float = Field(300.0, ge=0)
    webhook_timeout_seconds: float = Field(10.0, gt=0)

    @field_validator("webhook_secret")
    @classmethod
    def _env(cls, v: str | None) -> str | None:
        return None if v is None else _check_secret(v)


class RateLimit(BaseModel):
    """A token bucket: ``burst`` requests at once, refilled at ``per_second``.

    >>> RateLimit(per_second=5, burst=10).burst
    10
    """

    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(gt=0, description="tokens added per second")
    burst: int = Field(ge=1, description="bucket size: requests allowed at once")


class ServerConfig(BaseModel):
    """``server:`` in segmint.yaml (issue 5, docs/server.md "Rate limits"): per-key request
    limits of ``segmint serve``; ``null`` turns a limit off. ``keys`` sets a limit for one key
    id (``segmint keys list``).

    >>> ServerConfig.model_validate({"keys": {"key_1": {"per_second": 1, "burst": 2}}}).keys
    {'key_1': RateLimit(per_second=1.0, burst=2)}
    """

    model_config = ConfigDict(extra="forbid")

    ingest_rate_limit: RateLimit | None = Field(
        default_factory=lambda: RateLimit(per_second=1000, burst=2000),
        description="each ingest key",
    )
    admin_rate_limit: RateLimit | None = Field(
        default_factory=lambda: RateLimit(per_second=50, burst=100), description="each admin key"
    )
    keys: dict[str, RateLimit] = Field(default_factory=dict, description="key id → its limit")


#: Words in a config path whose values an error message must not repeat.
_SECRET_WORDS = ("webhooks", "secret", "token", "password", "key")


class Config(BaseModel):
    """Settings of one workspace."""

    model_config = ConfigDict(extra="forbid")

    name: str = "segmint"
    engine: str = "duckdb"
    database: str = "segmint.duckdb"
    default_region: str = Field("HK", description="ISO 3166 region for phones without +country")
    currency: str = "HKD"
    timezone: str = "Asia/Hong_Kong"
    language: str = Field("en", description="report language: en or zh-Hant")
    rfm_bins: int = Field(5, ge=3, le=5)
    junk: JunkIdentifiers = Field(default_factory=JunkIdentifiers)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    segment_checks: SegmentChecks = Field(default_factory=SegmentChecks)
    campaigns: CampaignSettings = Field(default_factory=CampaignSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    workflows: WorkflowSettings = Field(default_factory=WorkflowSettings)
    server: ServerConfig = Field(default_factory=ServerConfig)  # rate limits (issue 5)

    @field_validator("default_region")
    @classmethod
    def _upper_region(cls, v: str) -> str:
        return v.upper()

    @field_validator("language")
    @classmethod
    def _known_language(cls, v: str) -> str:
        if v not in ("en", "zh-Hant"):
            raise ValueError(f"language must be 'en' or 'zh-Hant'. Got '{v}' instead.")
        return v

    @classmethod
    def load(cls, path: Path) -> Config:
        """Read a config file; errors name the file and the field."""
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path.name} is not valid YAML: {exc}", location=str(path)) from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            pointer = "/" + "/".join(str(p) for p in first["loc"])
            got = first.get("input")
            # never echo what may be a secret (webhook secrets, tokens, keys) to a terminal or log
            if any(word in pointer.lower() for word in _SECRET_WORDS):
                shown = f"a value of type {type(got).__name__} (not shown: it may be a secret)"
            else:
                shown = repr(got)
            raise ConfigError(
                f"{first['msg']}. Got {shown} instead.",
                location=f"{path}, {pointer}",
            ) from None

    def save(self, path: Path) -> None:
        path.write_text(
            yaml.safe_dump(self.model_dump(), allow_unicode=True, sort_keys=False),
            encoding="utf-8",
        )
