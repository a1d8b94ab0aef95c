"""User grants: proactive and reactive refresh, single flight, rotation, dead grants, crashes at each step."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx2
import pytest

from box_mcp.broker import Broker, IdentitySpec
from box_mcp.broker.broker import open_vault
from box_mcp.broker.vault import GrantRecord
from box_mcp.config import Settings
from box_mcp.errors import NeedsSignIn

if TYPE_CHECKING:  # conftest is not importable at run time under --import-mode=importlib
    from conftest import FakeBox, FakeClock

USER = IdentitySpec(kind="user_grant")


class SimulatedCrash(BaseException):
    """Stands for the process dying: nothing after the raise point runs."""


def _env(vault_env: dict[str, str]) -> dict[str, str]:
    return {**vault_env, "BOX_OAUTH_CLIENT_ID": "cid", "BOX_OAUTH_CLIENT_SECRET": "csecret"}


def _seed(tmp_path: Path, env: dict[str, str], fake: FakeBox, *, expires_in: float = 3600) -> tuple[str, str]:
    at, rt = fake.seed_grant()
    vault = open_vault(Settings.load(env=env, data_dir=tmp_path))  # the backend vault_env names
    vault.put(
        GrantRecord(
            key="user:default",
            kind="user_grant",
            access_token=at,
            access_expires_at=fake.clock.now + expires_in,
            refresh_token=rt,
            client_id="cid",
        ),
        expect_generation=None,
    )
    vault.close()
    return at, rt


def _broker(
    tmp_path: Path, env: dict[str, str], http: httpx2.AsyncClient, clock: FakeClock, step_hook: object = None
) -> Broker:
    return Broker.from_settings(
        Settings.load(env=env, data_dir=tmp_path), http=http, clock=clock, step_hook=step_hook
    )  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_stored_access_token_is_used_without_asking_box(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock, vault_env: dict[str, str]
) -> None:
    env = _env(vault_env)
    at, _ = _seed(tmp_path, env, fake_box)
    async with fake_box.client() as http:
        broker = _broker(tmp_path, env, http, clock)
        source = await broker.token_source(USER)
        assert await source.access_token() == at
        await broker.aclose()
    assert fake_box.grants == []


@pytest.mark.anyio
async def test_hundred_concurrent_calls_across_expiry_cause_one_refresh(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock, vault_env: dict[str, str]
) -> None:
    env = _env(vault_env)
    _seed(tmp_path, env, fake_box)
    seen: list[str] = []
    async with fake_box.client() as http:
        broker = _broker(tmp_path, env, http, clock)
        source = await broker.token_source(USER)
        await source.access_token()
        clock.now += 3601  # the stored access token has expired

        async def call() -> None:
            token = await source.access_token()
            if not fake_box.api_ok(token):  # the client's reactive path: 401 -> invalidate -> retry once
                await source.invalidate(token)
                token = await source.access_token()
            assert fake_box.api_ok(token)
            seen.append(token)

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for _ in range(100):
                    tg.start_soon(call)
        await broker.aclose()
    assert fake_box.grants == ["refresh_token"]
    assert len(seen) == 100 and len(set(seen)) == 1


@pytest.mark.anyio
async def test_hundred_concurrent_401s_for_one_token_cause_one_refresh(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock, vault_env: dict[str, str]
) -> None:
    env = _env(vault_env)
    at, _ = _seed(tmp_path, env, fake_box)
    fake_box.live_access.pop(at)  # Box revoked the access token early
    async with fake_box.client() as http:
        broker = _broker(tmp_path, env, http, clock)
        source = await broker.token_source(USER)
        tokens = [await source.access_token() for _ in range(100)]

        async def retry(token: str) -> None:
            await source.invalidate(token)
            assert fake_box.api_ok(await source.access_token())

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for token in tokens:
                    tg.start_soon(retry, token)
        await broker.aclose()
    assert fake_box.grants == ["refresh_token"]


@pytest.mark.anyio
async def test_refresh_starts_before_expiry_within_the_margin(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock, vault_env: dict[str, str]
) -> None:
    env = _env(vault_env)
    at, _ = _seed(tmp_path, env, fake_box)
    async with fake_box.client() as http:
        broker = _broker(tmp_path, env, http, clock)
        source = await broker.token_source(USER)
        clock.now += 3600 - 60  # one minute left: inside the two-minute margin
        new = await source.access_token()
        await broker.aclose()
    assert new != at and fake_box.grants == ["refresh_token"]


@pytest.mark.anyio
async def test_rotated_refresh_token_is_stored_before_the_new_access_token_is_used(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock, vault_env: dict[str, str]
) -> None:
    env = _env(vault_env)
    _, old_rt = _seed(tmp_path, env, fake_box, expires_in=0)
    async with fake_box.client() as http:
        broker = _broker(tmp_path, env, http, clock)
        token = await (await broker.token_source(USER)).access_token()
        record = broker.vault.get("user:default")
        await broker.aclose()
    assert record is not None and record.access_token == token
    assert record.refresh_token != old_rt and record.refresh_token in fake_box.live_refresh


@pytest.mark.anyio
async def test_reused_refresh_token_marks_the_identity_as_needing_sign_in(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock, vault_env: dict[str, str]
) -> None:
    env = _env(vault_env)
    _, rt = _seed(tmp_path, env, fake_box, expires_in=0)
    fake_box.live_refresh.discard(rt)  # someone else already used it
    async with fake_box.client() as http:
        broker = _broker(tmp_path, env, http, clock)
        source = await broker.token_source(USER)
        with pytest.raises(NeedsSignIn, match="box-mcp auth login"):
            await source.access_token()
        # Fail fast afterwards: no more token requests, in this process or the next.
        with pytest.raises(NeedsSignIn, match="box-mcp auth login"):
            await broker.token_source(USER)
        await broker.aclose()
        again = _broker(tmp_path, env, http, clock)
        with pytest.raises(NeedsSignIn, match="invalid_grant"):
            await (await again.token_source(USER)).access_token()
        await again.aclose()
    assert fake_box.grants == ["refresh_token"]


@pytest.mark.anyio
async def test_missing_grant_tells_the_person_which_login_to_run(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock, vault_env: dict[str, str]
) -> None:
    async with fake_box.client() as http:
        broker = _broker(tmp_path, _env(vault_env), http, clock)
        source = await broker.token_source(IdentitySpec(kind="user_grant", label="ops"))
        with pytest.raises(NeedsSignIn, match="box-mcp auth login --user-label ops"):
            await source.access_token()
        await broker.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("step", ["before_request", "after_commit"])
async def test_crash_at_a_refresh_step_leaves_a_working_grant(
    step: str, tmp_path: Path, fake_box: FakeBox, clock: FakeClock, vault_env: dict[str, str]
) -> None:
    env = _env(vault_env)
    _seed(tmp_path, env, fake_box, expires_in=0)

    def crash(at: str) -> None:
        if at == step:
            raise SimulatedCrash(at)

    async with fake_box.client() as http:
        broker = _broker(tmp_path, env, http, clock, step_hook=crash)
        with pytest.raises(SimulatedCrash):
            await (await broker.token_source(USER)).access_token()
        broker._vault.close()  # type: ignore[union-attr]  # the process is gone; only the file remains
        restarted = _broker(tmp_path, env, http, clock)
        source = await restarted.token_source(USER)
        token = await source.access_token()
        assert fake_box.api_ok(token)
        clock.now += 7200  # and the refresh token it holds still rotates
        assert fake_box.api_ok(await source.access_token())
        await restarted.aclose()


@pytest.mark.anyio
async def test_crash_between_box_answer_and_commit_asks_for_sign_in_rather_than_looping(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock, vault_env: dict[str, str]
) -> None:
    # The one window no client can close: Box rotated, the process died before the commit.
    env = _env(vault_env)
    _seed(tmp_path, env, fake_box, expires_in=0)

    def crash(at: str) -> None:
        if at == "after_response":
            raise SimulatedCrash(at)

    async with fake_box.client() as http:
        broker = _broker(tmp_path, env, http, clock, step_hook=crash)
        with pytest.raises(SimulatedCrash):
            await (await broker.token_source(USER)).access_token()
        broker._vault.close()  # type: ignore[union-attr]
        restarted = _broker(tmp_path, env, http, clock)
        with pytest.raises(NeedsSignIn, match="box-mcp auth login"):
            await (await restarted.token_source(USER)).access_token()
        await restarted.aclose()


@pytest.mark.anyio
async def test_cancelled_caller_does_not_lose_the_rotated_refresh_token(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock, vault_env: dict[str, str]
) -> None:
    env = _env(vault_env)
    _seed(tmp_path, env, fake_box, expires_in=0)
    entered = anyio.Event()
    release = anyio.Event()
    inner = fake_box.handler

    async def slow_handler(request: httpx2.Request) -> httpx2.Response:
        entered.set()
        await release.wait()
        return inner(request)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(slow_handler)) as http:
        broker = _broker(tmp_path, env, http, clock)
        source = await broker.token_source(USER)
        caller_scope = anyio.CancelScope()

        async def caller() -> None:
            with caller_scope:
                await source.access_token()

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(caller)
                await entered.wait()
                caller_scope.cancel()  # the agent's call times out mid-refresh
                release.set()
        record = broker.vault.get("user:default")
        await broker.aclose()
    assert record is not None and record.refresh_token in fake_box.live_refresh


@pytest.mark.anyio
async def test_two_replicas_sharing_a_vault_refresh_a_grant_once_and_both_keep_working(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock, vault_env: dict[str, str]
) -> None:
    env = _env(vault_env)
    _seed(tmp_path, env, fake_box, expires_in=0)
    tokens: list[str] = []
    async with fake_box.client() as http:
        replicas = [_broker(tmp_path, env, http, clock) for _ in range(2)]  # separate vault connections

        async def call(broker: Broker) -> None:
            tokens.append(await (await broker.token_source(USER)).access_token())

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for broker in replicas:
                    tg.start_soon(call, broker)
        record = replicas[0].vault.get("user:default")
        for broker in replicas:
            await broker.aclose()
    assert fake_box.grants == ["refresh_token"]  # the second replica found the first one's token
    assert tokens[0] == tokens[1] and fake_box.api_ok(tokens[0])
    assert record is not None and record.status == "ok" and record.refresh_token in fake_box.live_refresh


@pytest.mark.anyio
async def test_a_new_sign_in_revives_a_dead_identity_without_a_restart(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock, vault_env: dict[str, str]
) -> None:
    env = _env(vault_env)
    _, rt = _seed(tmp_path, env, fake_box, expires_in=0)
    fake_box.live_refresh.discard(rt)
    async with fake_box.client() as http:
        broker = _broker(tmp_path, env, http, clock)
        with pytest.raises(NeedsSignIn):
            await (await broker.token_source(USER)).access_token()
        _seed(tmp_path, env, fake_box)  # the person ran `box-mcp auth login` in another terminal
        with pytest.raises(NeedsSignIn):  # still failing fast within the recheck interval
            await broker.token_source(USER)
        clock.now += 6
        token = await (await broker.token_source(USER)).access_token()
        await broker.aclose()
    assert fake_box.api_ok(token)
