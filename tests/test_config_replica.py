"""BOX_MCP_REPLICA_URL / --replica-url: where the other replicas reach this one, needed only with a
database; derived on loopback, demanded (with a message naming the variable) off it."""

from __future__ import annotations

import argparse

import pytest

from box_mcp.config import Settings
from box_mcp.errors import ConfigError
from box_mcp.server_cli import add_serve_flags, settings_from_args

DB = "postgresql://box:pw@127.0.0.1/box"


def test_on_loopback_the_replica_url_is_the_bound_address() -> None:
    settings = Settings.load({"BOX_MCP_DATABASE_URL": DB}, transport="http", port=0)
    assert settings.replica_address(41234) == "http://127.0.0.1:41234"
    ipv6 = Settings.load({"BOX_MCP_DATABASE_URL": DB}, transport="http", host="::1")
    assert ipv6.replica_address(8000) == "http://[::1]:8000"


def test_off_loopback_with_a_database_the_replica_url_is_required_by_name() -> None:
    with pytest.raises(ConfigError, match=r"BOX_MCP_REPLICA_URL \(--replica-url\) is required"):
        Settings.load({"BOX_MCP_DATABASE_URL": DB}, transport="http", host="0.0.0.0")  # noqa: S104
    given = Settings.load(
        {"BOX_MCP_DATABASE_URL": DB, "BOX_MCP_REPLICA_URL": "http://10.0.0.5:8000/"},
        transport="http",
        host="0.0.0.0",  # noqa: S104
    )
    assert given.replica_address(8000) == "http://10.0.0.5:8000"
    # Without a database (or over stdio) there is no registry and nothing to ask for.
    assert Settings.load({}, transport="http", host="0.0.0.0").replica_url is None  # noqa: S104
    assert Settings.load({"BOX_MCP_DATABASE_URL": DB}, host="0.0.0.0").replica_url is None  # noqa: S104


@pytest.mark.parametrize(
    "bad", ["10.0.0.5:8000", "ftp://10.0.0.5", "http://10.0.0.5:8000/mcp", "http://u:p@h"]
)
def test_a_replica_url_that_is_not_a_bare_http_address_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"replica_url \(--replica-url or BOX_MCP_REPLICA_URL\)"):
        Settings.load({"BOX_MCP_REPLICA_URL": bad})


def test_the_serve_flag_wins_over_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = argparse.ArgumentParser()
    add_serve_flags(parser)
    monkeypatch.setenv("BOX_MCP_REPLICA_URL", "http://10.0.0.5:8000")
    args = parser.parse_args(["--replica-url", "http://10.0.0.6:8000"])
    assert settings_from_args(args).replica_url == "http://10.0.0.6:8000"
    assert settings_from_args(parser.parse_args([])).replica_url == "http://10.0.0.5:8000"
