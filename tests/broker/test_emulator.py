"""Each credential mode against the Box emulator: tokens that work, tokens Box refuses, narrowing enforced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from box_mcp.box import BoxAPIError
from box_mcp.broker import Broker, IdentitySpec
from box_mcp.broker.credentials import JWTAppConfig, JWTCredential
from box_mcp.broker.downscope import ItemNotReachable
from box_mcp.broker.tokens import BoxEndpoints, TokenEndpoint, TokenRequestError
from box_mcp.config import Settings

if TYPE_CHECKING:
    from conftest import EmuBox

pytestmark = pytest.mark.anyio
SA = IdentitySpec(kind="service_account")


def _ccg_env(emu: EmuBox) -> dict[str, str]:
    ccg = emu.credentials["ccg"]
    return {
        "BOX_CLIENT_ID": ccg["client_id"],
        "BOX_CLIENT_SECRET": ccg["client_secret"],
        "BOX_ENTERPRISE_ID": ccg["enterprise_id"],
    }


def _jwt_env(emu: EmuBox, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "box_config.json"
    path.write_text(json.dumps(emu.credentials["jwt_config"]))
    return {"BOX_JWT_CONFIG_FILE": str(path)}


def _broker(emu: EmuBox, tmp_path: Path, env: dict[str, str], http: Any) -> Broker:
    return Broker.from_settings(Settings.load(env=env, data_dir=tmp_path, box_url=emu.base_url), http=http)


async def _me(emu: EmuBox, broker: Broker, identity: IdentitySpec, **kw: object) -> dict[str, object]:
    source = await broker.token_source(identity, **kw)  # type: ignore[arg-type]
    async with emu.client(source) as client:
        bound = client.bound(as_user=broker.as_user_header(identity))
        return await bound.get("/users/me")  # type: ignore[no-any-return]


async def test_developer_token_reaches_box(emu: EmuBox, tmp_path: Path) -> None:
    env = {"BOX_DEVELOPER_TOKEN": emu.user("admin")["developer_token"]}
    async with emu.http() as http:
        broker = _broker(emu, tmp_path, env, http)
        me = await _me(emu, broker, IdentitySpec(kind="developer_token"))
        await broker.aclose()
    assert me["login"] == "ada@acme.example"


async def test_client_credentials_act_as_the_service_account(emu: EmuBox, tmp_path: Path) -> None:
    async with emu.http() as http:
        broker = _broker(emu, tmp_path, _ccg_env(emu), http)
        me = await _me(emu, broker, SA)
        await broker.aclose()
    assert me["id"] == emu.user("service_account")["id"]


async def test_client_credentials_for_a_user_act_as_that_user(emu: EmuBox, tmp_path: Path) -> None:
    env = {**_ccg_env(emu), "BOX_SUBJECT_TYPE": "user", "BOX_SUBJECT_ID": emu.user("app_user")["id"]}
    async with emu.http() as http:
        broker = _broker(emu, tmp_path, env, http)
        me = await _me(emu, broker, SA)
        await broker.aclose()
    assert me["id"] == emu.user("app_user")["id"]


async def test_jwt_app_config_acts_as_the_service_account(emu: EmuBox, tmp_path: Path) -> None:
    async with emu.http() as http:
        broker = _broker(emu, tmp_path, _jwt_env(emu, tmp_path), http)
        me = await _me(emu, broker, SA)
        await broker.aclose()
    assert me["id"] == emu.user("service_account")["id"]


async def test_jwt_for_a_user_acts_as_that_user(emu: EmuBox, tmp_path: Path) -> None:
    user = emu.user("app_user")["id"]
    env = {**_jwt_env(emu, tmp_path), "BOX_SUBJECT_TYPE": "user", "BOX_SUBJECT_ID": user}
    async with emu.http() as http:
        broker = _broker(emu, tmp_path, env, http)
        me = await _me(emu, broker, SA)
        await broker.aclose()
    assert me["id"] == emu.user("app_user")["id"]


def _bad_jwt(emu: EmuBox, flaw: str) -> JWTCredential:
    config = JWTAppConfig.from_dict(emu.credentials["jwt_config"])
    enterprise = emu.credentials["enterprise_id"]
    if flaw == "signature":  # same kid, another key: the signature cannot verify
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        config = JWTAppConfig(config.client_id, config.client_secret, config.key_id, other, enterprise)
        return JWTCredential(config, subject_id=enterprise)
    if flaw == "audience":
        return JWTCredential(config, subject_id=enterprise, audience="https://example.com/oauth2/token")
    return JWTCredential(config, subject_id=enterprise, lifetime=300)  # exp too far ahead


@pytest.mark.parametrize("flaw", ["signature", "audience", "exp"])
async def test_jwt_with_a_flaw_is_refused_by_box(emu: EmuBox, flaw: str) -> None:
    async with emu.http() as http:
        endpoint = TokenEndpoint(http, BoxEndpoints.for_box_url(emu.base_url))
        with pytest.raises(TokenRequestError) as caught:
            await _bad_jwt(emu, flaw).mint(endpoint)
    assert caught.value.status in (400, 401)
    assert "Box refused the JWT grant" in str(caught.value)


async def test_service_account_acts_as_a_managed_user_with_as_user(emu: EmuBox, tmp_path: Path) -> None:
    bob = next(u for u in emu.credentials["users"] if u["login"].startswith("bob"))
    async with emu.http() as http:
        broker = _broker(emu, tmp_path, _ccg_env(emu), http)
        me = await _me(emu, broker, IdentitySpec(kind="as_user", as_user=bob["id"]))
        await broker.aclose()
    assert me["id"] == bob["id"]


async def test_expired_access_token_gets_401_and_exactly_one_refresh(emu: EmuBox, tmp_path: Path) -> None:
    async with emu.http() as http:
        broker = _broker(emu, tmp_path, _ccg_env(emu), http)
        source = await broker.token_source(SA)
        async with emu.client(source) as client:
            await client.get("/users/me")
            emu.expire(await source.access_token())
            before = broker.endpoint.requests
            await client.get("/users/me")  # 401 -> invalidate -> one new token -> 200
            assert broker.endpoint.requests == before + 1
        await broker.aclose()


async def test_downscoped_token_is_refused_on_another_item_and_for_a_wider_action(
    emu: EmuBox, tmp_path: Path
) -> None:
    files = emu.credentials["files"]
    mine, other = files["Engineering/README.md"], files["Engineering/design.md"]
    env = {"BOX_DEVELOPER_TOKEN": emu.user("admin")["developer_token"]}
    async with emu.http() as http:
        broker = _broker(emu, tmp_path, env, http)
        source = await broker.token_source(
            IdentitySpec(kind="developer_token"),
            scopes=frozenset({"item_preview"}),
            resource=broker.item_resource("file", mine),
        )
        async with emu.client(source) as client:
            assert (await client.get(f"/files/{mine}"))["id"] == mine
            with pytest.raises(BoxAPIError) as elsewhere:
                await client.get(f"/files/{other}")
            with pytest.raises(BoxAPIError) as wider:  # preview does not include download
                async with client.download(mine) as download:
                    b"".join([chunk async for chunk in download])
        await broker.aclose()
    assert elsewhere.value.status == 404
    assert wider.value.status == 403 and wider.value.code == "insufficient_scope"


async def test_downscoping_to_a_missing_item_reads_like_box_404(emu: EmuBox, tmp_path: Path) -> None:
    env = {"BOX_DEVELOPER_TOKEN": emu.user("admin")["developer_token"]}
    async with emu.http() as http:
        broker = _broker(emu, tmp_path, env, http)
        source = await broker.token_source(
            IdentitySpec(kind="developer_token"),
            scopes=frozenset({"item_preview"}),
            resource=broker.item_resource("file", "999999999"),
        )
        with pytest.raises(ItemNotReachable, match="404 not_found: there is no file 999999999"):
            await source.access_token()
        await broker.aclose()
