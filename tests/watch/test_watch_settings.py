"""BOX_MCP_WATCH and the webhook signature keys: secrets never shown, a receiver without a key or over
stdio refused at start with what to set."""

from __future__ import annotations

from pathlib import Path

import pytest

from box_mcp.config import Settings
from box_mcp.deployment import open_deployment
from box_mcp.errors import ConfigError

pytestmark = pytest.mark.anyio
SECRET = "the-primary-signature-key"


def test_the_keys_are_secrets_and_webhooks_need_one(tmp_path: Path) -> None:
    env = {
        "BOX_MCP_WATCH": "webhooks",
        "BOX_MCP_WEBHOOK_PRIMARY_KEY": SECRET,
        "BOX_MCP_DATA_DIR": str(tmp_path),
    }
    settings = Settings.load(env=env)
    assert settings.watch == "webhooks" and settings.webhook_keys == (SECRET.encode(),)
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    with pytest.raises(ConfigError) as err:
        Settings.load(env={"BOX_MCP_WATCH": "webhooks"})
    assert "BOX_MCP_WEBHOOK_PRIMARY_KEY" in str(err.value)
    with pytest.raises(ConfigError) as err:
        Settings.load(env={"BOX_MCP_WATCH": "sometimes"})
    assert "BOX_MCP_WATCH" in str(err.value)
    assert Settings.load(env={}).watch == "off"


async def test_webhooks_over_stdio_are_refused_with_the_events_alternative(tmp_path: Path) -> None:
    settings = Settings.load(
        env={
            "BOX_MCP_WATCH": "webhooks",
            "BOX_MCP_WEBHOOK_SECONDARY_KEY": SECRET,
            "BOX_MCP_DATA_DIR": str(tmp_path),
            "BOX_DEVELOPER_TOKEN": "t" * 32,
        }
    )
    with pytest.raises(ConfigError) as err:
        async with open_deployment(settings, transport="stdio"):
            pass
    assert "--transport http" in str(err.value) and "BOX_MCP_WATCH=events" in str(err.value)
