"""segmint.yaml: errors name the file and field, and never repeat a secret."""

from __future__ import annotations

import pytest

from segmint.config import Config
from segmint.errors import ConfigError


def test_a_bad_value_is_named_with_its_field(tmp_path):
    path = tmp_path / "segmint.yaml"
    path.write_text("default_region: [1, 2]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Config.load(path)
    assert "Got [1, 2] instead" in str(info.value)
    assert "/default_region" in str(info.value)


def test_a_misspelt_webhook_section_does_not_print_the_secret(tmp_path):
    path = tmp_path / "segmint.yaml"
    path.write_text("webhooks:\n  lnie:\n    channel_secret: s3cr3t-value\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        Config.load(path)
    message = str(info.value)
    assert "s3cr3t-value" not in message
    assert "not shown" in message and "/webhooks/lnie" in message
