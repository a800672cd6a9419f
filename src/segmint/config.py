"""Workspace configuration: ``segmint.yaml`` in the workspace folder (layer 1).

Example:
    >>> cfg = Config(name="shop", default_region="TW")
    >>> cfg.default_region
    'TW'
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from segmint.errors import ConfigError

__all__ = ["CONFIG_FILE", "Config", "JunkIdentifiers"]

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
            raise ConfigError(
                f"{first['msg']}. Got {first.get('input')!r} instead.",
                location=f"{path}, {pointer}",
            ) from None

    def save(self, path: Path) -> None:
        path.write_text(
            yaml.safe_dump(self.model_dump(), allow_unicode=True, sort_keys=False),
            encoding="utf-8",
        )
