"""config.Settings holds every variable box-mcp reads; one boolean spelling; secrets stay hidden."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from box_mcp.broker.config import BrokerSettings
from box_mcp.config import Settings, env_var, parse_bool
from box_mcp.errors import ConfigError

SECRET = "s3cr3t-value-never-shown"


@pytest.mark.parametrize(
    ("var", "name", "raw", "expected"),
    [
        ("BOX_MCP_DOWNSCOPE", "downscope", "off", False),
        ("BOX_MCP_AUDIT_KEY_FILE", "audit_key_file", "/keys/audit.key", Path("/keys/audit.key")),
        ("BOX_MCP_POLICY", "policy", "policies/prod.yaml", Path("policies/prod.yaml")),
        ("BOX_MCP_DATA_DIR", "data_dir", "/srv/box-mcp", Path("/srv/box-mcp")),
        ("BOX_MCP_ALLOWED_HOSTS", "allowed_hosts", "a:1, b:2", ("a:1", "b:2")),
        ("BOX_JWT_CONFIG_FILE", "jwt_config_file", "/etc/box/config.json", "/etc/box/config.json"),
        ("BOX_CLIENT_ID", "client_id", "cid", "cid"),
        ("BOX_ENTERPRISE_ID", "enterprise_id", "777", "777"),
        ("BOX_SUBJECT_TYPE", "subject_type", "user", "user"),
        ("BOX_SUBJECT_ID", "subject_id", "42", "42"),
        ("BOX_OAUTH_CLIENT_ID", "oauth_client_id", "ocid", "ocid"),
    ],
)
def test_each_variable_sets_its_setting(var: str, name: str, raw: str, expected: Any) -> None:
    assert getattr(Settings.load(env={var: raw}), name) == expected
    assert env_var(name) == var


@pytest.mark.parametrize(
    ("var", "name"),
    [
        ("BOX_MCP_VAULT_KEY", "vault_key"),
        ("BOX_DEVELOPER_TOKEN", "developer_token"),
        ("BOX_CLIENT_SECRET", "client_secret"),
        ("BOX_OAUTH_CLIENT_SECRET", "oauth_client_secret"),
    ],
)
def test_secret_variables_are_held_but_never_shown(var: str, name: str) -> None:
    settings = Settings.load(env={var: SECRET})
    assert getattr(settings, name).get_secret_value() == SECRET
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert SECRET not in settings.model_dump_json()


@pytest.mark.parametrize("word", ["1", "true", "YES", "On"])
def test_yes_words_are_true(word: str) -> None:
    assert parse_bool(word) is True
    assert Settings.load(env={"BOX_MCP_READ_ONLY": word}).read_only is True


@pytest.mark.parametrize("word", ["0", "false", "No", "OFF"])
def test_no_words_are_false(word: str) -> None:
    assert parse_bool(word) is False
    assert Settings.load(env={"BOX_MCP_DOWNSCOPE": word}).downscope is False


@pytest.mark.parametrize(
    ("var", "named"),
    [
        ("BOX_MCP_READ_ONLY", "--read-only or BOX_MCP_READ_ONLY"),
        ("BOX_MCP_DOWNSCOPE", "downscope (BOX_MCP_DOWNSCOPE)"),
    ],
)
def test_any_other_boolean_word_is_refused_naming_the_variable(var: str, named: str) -> None:
    pattern = r"bad settings: .*" + re.escape(named) + r".*'maybe' is not a yes/no"
    with pytest.raises(ConfigError, match=pattern):
        Settings.load(env={var: "maybe"})


def test_an_explicit_environment_replaces_the_process_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOX_MCP_PORT", "9999")
    monkeypatch.setenv("BOX_DEVELOPER_TOKEN", SECRET)
    assert Settings.load().port == 9999
    given = Settings.load(env={})
    assert given.port == 8000 and given.developer_token is None


def test_flags_override_box_variables_too() -> None:
    settings = Settings.load(env={"BOX_DEVELOPER_TOKEN": "from-env"}, developer_token="from-flag")
    assert settings.developer_token is not None
    assert settings.developer_token.get_secret_value() == "from-flag"


def test_a_blank_box_variable_counts_as_unset() -> None:
    settings = Settings.load(env={"BOX_CLIENT_ID": "   ", "BOX_CLIENT_SECRET": " ", "BOX_MCP_PORT": ""})
    assert settings.client_id is None and settings.client_secret is None and settings.port == 8000


def test_the_oauth_app_falls_back_to_the_client_credentials() -> None:
    env = {"BOX_CLIENT_ID": "cid", "BOX_CLIENT_SECRET": SECRET, "BOX_ENTERPRISE_ID": "777"}
    oauth = BrokerSettings.from_settings(Settings.load(env=env)).oauth_client
    assert oauth is not None and oauth.client_id == "cid" and oauth.client_secret.get_secret_value() == SECRET
    own = BrokerSettings.from_settings(Settings.load(env={**env, "BOX_OAUTH_CLIENT_ID": "other"}))
    assert own.oauth_client is None  # another app's id never borrows this app's secret
    assert SECRET not in repr(BrokerSettings.from_settings(Settings.load(env=env)))


def test_settings_are_frozen_and_copied_with_changes() -> None:
    settings = Settings.load(env={})
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]
    assert settings.model_copy(update={"agent": "bot"}).agent == "bot" and settings.agent is None
