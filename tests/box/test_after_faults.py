"""The emulator's `after503` faults: the route runs and commits, then its answer is lost; the client copes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator

import httpx2
import pytest

from box_mcp.box import BoxAPIError, BoxClient, StaticToken
from box_mcp.emulator.app import create_app, faults_from_env
from box_mcp.emulator.faults import FaultRule

pytestmark = pytest.mark.anyio


class Emu:
    def __init__(self) -> None:
        self.app = create_app(memory=True, seed="demo", rate_limits=False, base_url="http://emulator")
        self.state = self.app.state.emulator
        self.credentials = self.state.credentials
        self.token = self.credentials["users"][0]["developer_token"]

    def client(self) -> BoxClient:
        async def outage_ends(seconds: float) -> None:
            self.state.faults.clear()  # the client sleeps only between attempts: the fault hit once

        return BoxClient(
            token_source=StaticToken(self.token),
            base_url="http://emulator",
            transport=httpx2.ASGITransport(app=self.app),
            sleep=outage_ends,
        )

    def count(self, sql: str, *args: object) -> int:
        row = self.state.store.fetch_one(sql, args)
        assert row is not None
        return int(row[0])


@pytest.fixture
async def emu() -> AsyncIterator[Emu]:
    emulator = Emu()
    yield emulator
    emulator.state.store.close()


def test_after_faults_parse_from_the_cli_syntax_and_the_environment() -> None:
    rule = FaultRule.parse("/2.0/comments:after503=0.05,after500=0.1,after502=0.2,503=0.01")
    rates = (rule.rate_after_503, rule.rate_after_500, rule.rate_after_502, rule.rate_503)
    assert rates == (0.05, 0.1, 0.2, 0.01)
    (env_rule,) = faults_from_env({"BOX_EMULATOR_FAULTS": "^/2\\.0/folders:after503=1"})
    assert env_rule.rate_after_503 == 1.0 and env_rule.rate_503 == 0.0
    with pytest.raises(ValueError, match="after503"):
        FaultRule.parse("x:after504=1")


def test_the_emulator_help_documents_after_faults() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "box_mcp.cli", "emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "after503" in done.stdout and "its change is made" in " ".join(done.stdout.split())


async def test_an_after503_comment_is_made_once_and_reported_as_maybe_made(emu: Emu) -> None:
    file_id = emu.credentials["files"]["Contracts/MSA-Globex.pdf"]
    before = emu.count("SELECT COUNT(*) FROM comments")
    emu.state.faults.append(FaultRule(pattern=r"^/2\.0/comments$", rate_after_503=1.0, retry_after=0))
    async with emu.client() as client:
        with pytest.raises(BoxAPIError) as info:
            await client.post("/comments", json={"item": {"type": "file", "id": file_id}, "message": "once"})
    assert info.value.status == 503
    assert info.value.message == "Injected fault after the request took effect"
    assert "may have made this change" in str(info.value)
    assert emu.count("SELECT COUNT(*) FROM comments") == before + 1


async def test_an_after503_delete_declared_idempotent_succeeds_on_its_retry(emu: Emu) -> None:
    file_id = emu.credentials["files"]["Contracts/MSA-Globex.pdf"]
    emu.state.faults.append(
        FaultRule(pattern=rf"^/2\.0/files/{file_id}$", methods=("DELETE",), rate_after_503=1.0, retry_after=0)
    )
    async with emu.client() as client:
        assert await client.bound(idempotent=True).delete(f"/files/{file_id}") is None
        with pytest.raises(BoxAPIError) as info:
            await client.get(f"/files/{file_id}")
    assert info.value.status == 404  # in the trash: deleted once


async def test_an_after503_upload_is_found_by_the_precheck_not_sent_twice(emu: Emu) -> None:
    folder = emu.credentials["folders"]["Contracts/Inbox"]
    upload = FaultRule(pattern=r"^/api/2\.0/files/content$", rate_after_503=1.0, retry_after=0)
    emu.state.faults.append(upload)
    async with emu.client() as client:
        file = await client.upload(parent_id=folder, name="after.txt", source=b"exactly once")
    assert file["name"] == "after.txt"
    assert emu.count("SELECT COUNT(*) FROM items WHERE name = ?", "after.txt") == 1
