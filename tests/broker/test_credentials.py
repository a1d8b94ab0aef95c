"""Credential modes: JWT assertions follow Box's claim rules, config errors are clear, no secret in repr."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from box_mcp.broker import Broker, IdentitySpec
from box_mcp.broker.config import BrokerSettings
from box_mcp.broker.credentials import DeveloperTokenExpired, JWTAppConfig, JWTCredential
from box_mcp.broker.tokens import BOX_TOKEN_AUDIENCE, TokenRequestError
from box_mcp.config import Settings
from box_mcp.errors import ConfigError

if TYPE_CHECKING:
    from conftest import FakeBox, FakeClock

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _jwt_config(passphrase: str | None = "open sesame") -> dict[str, object]:  # noqa: S107
    algo = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    pem = _KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, algo).decode()
    return {
        "boxAppSettings": {
            "clientID": "jwt-client",
            "clientSecret": "jwt-secret-value",
            "appAuth": {"publicKeyID": "kid-1", "privateKey": pem, "passphrase": passphrase or ""},
        },
        "enterpriseID": "777",
    }


def test_jwt_assertion_follows_box_claim_rules() -> None:
    config = JWTAppConfig.from_dict(_jwt_config())
    credential = JWTCredential(config, subject_type="enterprise", subject_id="777")
    now = time.time()
    token = jwt.decode(credential.assertion(now), RSAKey.import_key(_KEY.public_key()))
    assert token.header["alg"] == "RS256" and token.header["kid"] == "kid-1"
    claims = token.claims
    assert claims["iss"] == "jwt-client" and claims["sub"] == "777" and claims["box_sub_type"] == "enterprise"
    assert claims["aud"] == BOX_TOKEN_AUDIENCE
    assert 16 <= len(claims["jti"]) <= 128 and 0 < claims["exp"] - now <= 60
    assert credential.assertion(now) != credential.assertion(now)  # a fresh jti every time


def test_jwt_config_with_wrong_passphrase_is_a_clear_error() -> None:
    data = _jwt_config()
    data["boxAppSettings"]["appAuth"]["passphrase"] = "wrong"  # type: ignore[index]
    with pytest.raises(ConfigError, match="passphrase"):
        JWTAppConfig.from_dict(data)


def test_jwt_config_file_sets_up_the_service_account(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_jwt_config(None)))
    settings = BrokerSettings.from_settings(Settings.load(env={"BOX_JWT_CONFIG_FILE": str(path)}))
    assert isinstance(settings.service_account, JWTCredential)
    assert settings.service_account.subject_id == "777"
    user = BrokerSettings.from_settings(
        Settings.load(
            env={"BOX_JWT_CONFIG_FILE": str(path), "BOX_SUBJECT_TYPE": "user", "BOX_SUBJECT_ID": "42"}
        )
    )
    assert user.service_account is not None and user.service_account.describe().endswith("(user 42)")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BOX_CLIENT_ID": "a"}, "BOX_CLIENT_SECRET"),
        ({"BOX_CLIENT_ID": "a", "BOX_CLIENT_SECRET": "b"}, "BOX_ENTERPRISE_ID"),
        ({"BOX_SUBJECT_TYPE": "user"}, "BOX_SUBJECT_ID"),
        (
            {
                "BOX_CLIENT_ID": "a",
                "BOX_CLIENT_SECRET": "b",
                "BOX_SUBJECT_TYPE": "group",
                "BOX_SUBJECT_ID": "1",
            },
            "enterprise or user",
        ),
        ({"BOX_JWT_CONFIG_FILE": "/nonexistent/config.json"}, "cannot read"),
    ],
)
def test_incomplete_credentials_name_what_is_missing(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BrokerSettings.from_settings(Settings.load(env=env))


@pytest.mark.anyio
async def test_unconfigured_identity_says_which_variables_to_set(tmp_path: Path) -> None:
    broker = Broker.from_settings(Settings.load(env={}, data_dir=tmp_path))
    with pytest.raises(ConfigError, match="BOX_JWT_CONFIG_FILE"):
        await broker.token_source(IdentitySpec(kind="service_account"))
    with pytest.raises(ConfigError, match="BOX_DEVELOPER_TOKEN"):
        await broker.token_source(IdentitySpec(kind="developer_token"))
    await broker.aclose()
    assert not (tmp_path / "vault.key").exists()  # no vault needed, none created


@pytest.mark.anyio
async def test_refused_developer_token_fails_fast_with_what_to_do(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock
) -> None:
    async with fake_box.client() as http:
        settings = Settings.load(env={"BOX_DEVELOPER_TOKEN": "dev-tok-1"}, data_dir=tmp_path)
        broker = Broker.from_settings(settings, http=http, clock=clock)
        source = await broker.token_source(IdentitySpec(kind="developer_token"))
        assert await source.access_token() == "dev-tok-1"
        await source.invalidate("dev-tok-1")  # Box said 401
        with pytest.raises(DeveloperTokenExpired, match="BOX_DEVELOPER_TOKEN"):
            await source.access_token()
        with pytest.raises(DeveloperTokenExpired):
            await broker.token_source(IdentitySpec(kind="developer_token"))
        await broker.aclose()
    assert fake_box.grants == []


@pytest.mark.anyio
async def test_no_object_shows_a_secret_in_its_repr(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock, vault_env: dict[str, str]
) -> None:
    config = tmp_path / "jwt.json"
    config.write_text(json.dumps(_jwt_config()))
    env = {
        **vault_env,
        "BOX_DEVELOPER_TOKEN": "dev-secret-123",
        "BOX_JWT_CONFIG_FILE": str(config),
        "BOX_OAUTH_CLIENT_ID": "cid",
        "BOX_OAUTH_CLIENT_SECRET": "oauth-secret-456",
    }
    fake_box.live_access["dev-secret-123"] = float("inf")
    async with fake_box.client() as http:
        broker = Broker.from_settings(Settings.load(env=env, data_dir=tmp_path), http=http, clock=clock)
        objects: list[object] = [
            broker,
            broker.settings,
            broker.settings.service_account,
            broker.settings.oauth_client,
            broker.endpoint,
        ]
        tokens: list[str] = []
        for identity in (IdentitySpec(kind="developer_token"), IdentitySpec(kind="service_account")):
            source = await broker.token_source(identity)
            down = await broker.token_source(identity, scopes=frozenset({"item_preview"}))
            tokens += [await source.access_token(), await down.access_token()]
            objects += [source, down, source._token, down._token]  # type: ignore[union-attr]
        objects.append(broker.vault)
        await broker.aclose()
    text = "\n".join(repr(o) + str(o) for o in objects)
    secrets = [*tokens, "dev-secret-123", "oauth-secret-456", "jwt-secret-value", "open sesame"]
    for secret in secrets:
        assert secret not in text


@pytest.mark.anyio
async def test_refused_app_credentials_fail_fast_for_a_while_instead_of_hammering_box(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock
) -> None:
    calls: list[int] = []

    def refuse(request: httpx2.Request) -> httpx2.Response:
        calls.append(1)
        return httpx2.Response(400, json={"error": "invalid_client", "error_description": "bad secret"})

    env = {"BOX_CLIENT_ID": "cid", "BOX_CLIENT_SECRET": "wrong", "BOX_ENTERPRISE_ID": "777"}
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(refuse)) as http:
        broker = Broker.from_settings(Settings.load(env=env, data_dir=tmp_path), http=http, clock=clock)
        source = await broker.token_source(IdentitySpec(kind="service_account"))
        for _ in range(5):
            with pytest.raises(TokenRequestError, match="invalid_client"):
                await source.access_token()
        clock.now += 31
        with pytest.raises(TokenRequestError, match="bad secret"):
            await source.access_token()
        await broker.aclose()
    assert len(calls) == 2
