"""A person's OAuth grant against the emulator: login, refresh with rotation, revoke, reuse, 100 calls."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from box_mcp.broker import Broker, IdentitySpec
from box_mcp.broker.crypto import new_key_text
from box_mcp.broker.oauth import login, logout
from box_mcp.broker.tokens import TokenRequestError
from box_mcp.broker.vault import GrantRecord
from box_mcp.config import Settings
from box_mcp.errors import NeedsSignIn

if TYPE_CHECKING:
    from conftest import EmuBox

pytestmark = pytest.mark.anyio
USER = IdentitySpec(kind="user_grant")


def oauth_env(emu: EmuBox) -> dict[str, str]:
    oauth = emu.credentials["oauth"]
    return {
        "BOX_OAUTH_CLIENT_ID": oauth["client_id"],
        "BOX_OAUTH_CLIENT_SECRET": oauth["client_secret"],
        "BOX_MCP_VAULT_KEY": new_key_text(),
    }


async def signed_in(emu: EmuBox, consent: Any, tmp_path: Path, http: Any, *, user: str = "user") -> Broker:
    env = oauth_env(emu)
    broker = Broker.from_settings(Settings.load(env=env, data_dir=tmp_path, box_url=emu.base_url), http=http)
    with anyio.fail_after(20):
        await login(
            endpoint=broker.endpoint,
            http=http,
            vault=broker.vault,
            label="default",
            client_id=env["BOX_OAUTH_CLIENT_ID"],
            client_secret=env["BOX_OAUTH_CLIENT_SECRET"],
            open_browser=consent(emu, user_id=emu.user(user)["id"]),
            wait_seconds=20,
        )
    return broker


async def test_login_stores_a_grant_that_acts_as_the_person(
    emu: EmuBox, consent: Any, tmp_path: Path
) -> None:
    async with emu.http() as http:
        broker = await signed_in(emu, consent, tmp_path, http)
        record = broker.vault.get("user:default")
        source = await broker.token_source(USER)
        async with emu.client(source) as client:
            me = await client.get("/users/me")
        await broker.aclose()
    assert record is not None and record.user_login == "bob@acme.example"
    assert me["login"] == "bob@acme.example"


def _expire_stored_access_token(broker: Broker) -> GrantRecord:
    """Make the broker's next call refresh (its stored access token looks expired)."""
    record = broker.vault.get("user:default")
    assert record is not None
    return broker.vault.put(replace(record, access_expires_at=0.0), expect_generation=record.generation)


async def test_expired_access_token_gets_401_then_one_refresh_with_rotation(
    emu: EmuBox, consent: Any, tmp_path: Path
) -> None:
    async with emu.http() as http:
        broker = await signed_in(emu, consent, tmp_path, http)
        before = broker.vault.get("user:default")
        assert before is not None and before.access_token is not None
        source = await broker.token_source(USER)
        async with emu.client(source) as client:
            emu.expire(before.access_token)
            requests = broker.endpoint.requests
            me = await client.get("/users/me")  # 401 -> invalidate -> refresh -> retry
        after = broker.vault.get("user:default")
        await broker.aclose()
    assert me["login"] == "bob@acme.example" and broker.endpoint.requests == requests + 1
    assert after is not None and after.refresh_token != before.refresh_token
    assert after.generation == before.generation + 1


async def test_reused_refresh_token_is_refused_by_box(emu: EmuBox, consent: Any, tmp_path: Path) -> None:
    async with emu.http() as http:
        broker = await signed_in(emu, consent, tmp_path, http)
        record = broker.vault.get("user:default")
        assert record is not None and record.refresh_token is not None
        form = {
            "grant_type": "refresh_token",
            "refresh_token": record.refresh_token,
            "client_id": emu.credentials["oauth"]["client_id"],
            "client_secret": emu.credentials["oauth"]["client_secret"],
        }
        await broker.endpoint.request(form, what="first use")
        with pytest.raises(TokenRequestError) as reused:
            await broker.endpoint.request(form, what="second use")
        # The broker still holds the first refresh token: its next refresh meets the same refusal.
        _expire_stored_access_token(broker)
        with pytest.raises(NeedsSignIn, match="box-mcp auth login"):
            await (await broker.token_source(USER)).access_token()
        await broker.aclose()
    assert reused.value.error == "invalid_grant"


async def test_revoked_grant_needs_sign_in_and_then_fails_fast(
    emu: EmuBox, consent: Any, tmp_path: Path
) -> None:
    oauth = emu.credentials["oauth"]
    async with emu.http() as http:
        broker = await signed_in(emu, consent, tmp_path, http)
        record = broker.vault.get("user:default")
        assert record is not None and record.refresh_token and record.access_token
        await broker.endpoint.revoke(
            token=record.refresh_token, client_id=oauth["client_id"], client_secret=oauth["client_secret"]
        )
        source = await broker.token_source(USER)
        async with emu.client(source) as client:
            with pytest.raises(NeedsSignIn, match="box-mcp auth login"):
                await client.get("/users/me")  # revoked access token: 401; refresh: invalid_grant
        requests = broker.endpoint.requests
        with pytest.raises(NeedsSignIn):
            await broker.token_source(USER)
        await broker.aclose()
    assert broker.endpoint.requests == requests


async def test_hundred_concurrent_calls_across_expiry_cause_one_refresh_and_all_succeed(
    emu: EmuBox, consent: Any, tmp_path: Path
) -> None:
    async with emu.http() as http:
        broker = await signed_in(emu, consent, tmp_path, http)
        record = broker.vault.get("user:default")
        assert record is not None and record.access_token
        source = await broker.token_source(USER)
        emu.expire(record.access_token)
        results: list[str] = []
        requests = broker.endpoint.requests
        async with emu.client(source) as client:

            async def call() -> None:
                results.append((await client.get("/users/me"))["login"])

            with anyio.fail_after(30):
                async with anyio.create_task_group() as tg:
                    for _ in range(100):
                        tg.start_soon(call)
        await broker.aclose()
    assert results == ["bob@acme.example"] * 100
    assert broker.endpoint.requests == requests + 1


async def test_logout_revokes_at_box_and_deletes_the_grant(emu: EmuBox, consent: Any, tmp_path: Path) -> None:
    oauth = emu.credentials["oauth"]
    async with emu.http() as http:
        broker = await signed_in(emu, consent, tmp_path, http)
        record = broker.vault.get("user:default")
        assert record is not None and record.access_token
        assert await logout(
            endpoint=broker.endpoint,
            vault=broker.vault,
            label="default",
            client_id=oauth["client_id"],
            client_secret=oauth["client_secret"],
        )
        assert broker.vault.get("user:default") is None
        me = await http.get(
            f"{emu.base_url}/2.0/users/me", headers={"Authorization": f"Bearer {record.access_token}"}
        )
        await broker.aclose()
    assert me.status_code == 401
