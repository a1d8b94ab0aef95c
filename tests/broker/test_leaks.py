"""No Box secret leaks from the broker: not in errors or repr, nor in any file but the encrypted vault."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from box_mcp.broker import Broker, IdentitySpec
from box_mcp.broker.crypto import new_key_text
from box_mcp.broker.oauth import login
from box_mcp.broker.tokens import TokenRequestError
from box_mcp.config import Settings
from box_mcp.errors import BoxMCPError

if TYPE_CHECKING:
    from conftest import EmuBox

pytestmark = pytest.mark.anyio


async def test_failure_paths_and_files_never_show_a_token_or_secret(
    emu: EmuBox, consent: Any, tmp_path: Path
) -> None:
    oauth, ccg = emu.credentials["oauth"], emu.credentials["ccg"]
    env = {
        "BOX_OAUTH_CLIENT_ID": oauth["client_id"],
        "BOX_OAUTH_CLIENT_SECRET": oauth["client_secret"],
        "BOX_CLIENT_ID": ccg["client_id"],
        "BOX_CLIENT_SECRET": ccg["client_secret"],
        "BOX_ENTERPRISE_ID": ccg["enterprise_id"],
        "BOX_MCP_VAULT_KEY": new_key_text(),
    }
    secrets: set[str] = {oauth["client_secret"], ccg["client_secret"], env["BOX_MCP_VAULT_KEY"]}
    errors: list[BaseException] = []
    async with emu.http() as http:
        broker = Broker.from_settings(
            Settings.load(env=env, data_dir=tmp_path, box_url=emu.base_url), http=http
        )
        with anyio.fail_after(20):
            await login(
                endpoint=broker.endpoint,
                http=http,
                vault=broker.vault,
                label="default",
                client_id=oauth["client_id"],
                client_secret=oauth["client_secret"],
                open_browser=consent(emu),
                wait_seconds=20,
            )
        record = broker.vault.get("user:default")
        assert record is not None and record.access_token and record.refresh_token
        secrets |= {record.access_token, record.refresh_token}
        service = await broker.token_source(IdentitySpec(kind="service_account"))
        down = await broker.token_source(
            IdentitySpec(kind="service_account"), scopes=frozenset({"item_preview"})
        )
        secrets |= {await service.access_token(), await down.access_token()}

        # Failure paths: a reused refresh token, an exchange of a dead token, a revoke of garbage.
        form = {
            "grant_type": "refresh_token",
            "refresh_token": record.refresh_token,
            "client_id": oauth["client_id"],
            "client_secret": oauth["client_secret"],
        }
        await broker.endpoint.request(form, what="rotation")
        for attempt in (
            broker.endpoint.request(form, what="reuse"),
            broker.endpoint.request(
                {
                    "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                    "subject_token": record.refresh_token,
                    "scope": "item_preview",
                    "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                },
                what="exchange",
            ),
        ):
            with pytest.raises(TokenRequestError) as caught:
                await attempt
            errors.append(caught.value)
        broker.vault.put(replace(record, access_expires_at=0.0), expect_generation=record.generation)
        with pytest.raises(BoxMCPError) as dead:
            await (await broker.token_source(IdentitySpec(kind="user_grant"))).access_token()
        errors.append(dead.value)
        objects: list[object] = [broker, service, down, record, broker.settings, *errors]
        await broker.aclose()

    shown = "\n".join(f"{o!s}\n{o!r}" for o in objects)
    files = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}  # noqa: ASYNC240
    assert set(files) >= {"vault.sqlite3"}
    for secret in secrets:
        assert secret not in shown
        for name, data in files.items():
            if name != "vault.key":  # the key file holds the key, and only that
                assert secret.encode() not in data, f"{name} holds a secret"
