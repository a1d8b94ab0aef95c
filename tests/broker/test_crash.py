"""A real SIGKILL in the middle of a refresh-token rotation: on restart the stored grant still works."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from box_mcp.broker import Broker, IdentitySpec
from box_mcp.broker.oauth import login
from box_mcp.config import Settings
from box_mcp.emulator.testing import running_emulator

USER = IdentitySpec(kind="user_grant")
CHILD = Path(__file__).with_name("refresh_child.py")


@pytest.mark.anyio
@pytest.mark.parametrize("step", ["before_request", "after_commit"])
async def test_sigkill_during_refresh_leaves_a_grant_that_still_works(
    step: str, tmp_path: Path, approve: Any, vault_env: dict[str, str]
) -> None:
    with running_emulator(memory=True, seed="demo", rate_limits=False) as box:
        oauth = box.credentials["oauth"]
        env = {
            **os.environ,
            "BOX_OAUTH_CLIENT_ID": oauth["client_id"],
            "BOX_OAUTH_CLIENT_SECRET": oauth["client_secret"],
            **vault_env,
        }  # on each vault backend
        async with httpx2.AsyncClient(timeout=20) as http:

            async def browser(url: str) -> None:
                await http.get(await approve(http, url))

            broker = Broker.from_settings(
                Settings.load(env=env, data_dir=tmp_path, box_url=box.base_url), http=http
            )
            with anyio.fail_after(20):
                await login(
                    endpoint=broker.endpoint,
                    http=http,
                    vault=broker.vault,
                    label="default",
                    client_id=oauth["client_id"],
                    client_secret=oauth["client_secret"],
                    open_browser=browser,
                    wait_seconds=20,
                )
            record = broker.vault.get("user:default")
            assert record is not None
            broker.vault.put(replace(record, access_expires_at=0.0), expect_generation=record.generation)
            await broker.aclose()

            child = await anyio.run_process(
                [sys.executable, str(CHILD), str(tmp_path), box.base_url, step],
                env=env,
                check=False,
            )
            assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]

            restarted = Broker.from_settings(
                Settings.load(env=env, data_dir=tmp_path, box_url=box.base_url), http=http
            )
            source = await restarted.token_source(USER)
            for _ in range(2):  # the token works, and the refresh token behind it still rotates
                token = await source.access_token()
                me = await http.get(
                    f"{box.base_url}/2.0/users/me", headers={"Authorization": f"Bearer {token}"}
                )
                assert me.status_code == 200, me.text
                stored = restarted.vault.get("user:default")
                assert stored is not None
                expired = replace(stored, access_expires_at=0.0)
                restarted.vault.put(expired, expect_generation=stored.generation)
                await source.invalidate(token)
            await restarted.aclose()
