"""Sessions over a busy or failing token service, on the Box emulator (its faults are the ground truth):
a 429 or 5xx is retried, never held as a refusal, posts one broker event, and a refresh-token grant is
re-sent even when Box may have used it (tokens.SINGLE_USE_GRANTS): when it had, the grant dies saying
that its rotation's answer was lost, not that it was revoked."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import anyio
import httpx2
import pytest

from box_mcp.broker import Broker, IdentitySpec
from box_mcp.broker.crypto import new_key_text
from box_mcp.broker.oauth import login
from box_mcp.broker.tokens import TokenRequestError
from box_mcp.config import Settings
from box_mcp.errors import NeedsSignIn
from tests.broker.token_faults import FakeSleeps, Scripted

if TYPE_CHECKING:
    from conftest import EmuBox, FakeClock

pytestmark = pytest.mark.anyio
SA = IdentitySpec(kind="service_account")
USER = IdentitySpec(kind="user_grant")
LOST = "Box answered invalid_grant after a refresh's answer was lost (HTTP 503)"


class Rig:
    """A broker on the emulator whose retries sleep on the fake clock; it records every token form
    (their secrets), every broker event and every error a call raised."""

    def __init__(self, emu: EmuBox, clock: FakeClock, tmp_path: Path) -> None:
        oauth, ccg = emu.credentials["oauth"], emu.credentials["ccg"]
        self.env = {
            "BOX_OAUTH_CLIENT_ID": oauth["client_id"],
            "BOX_OAUTH_CLIENT_SECRET": oauth["client_secret"],
            "BOX_CLIENT_ID": ccg["client_id"],
            "BOX_CLIENT_SECRET": ccg["client_secret"],
            "BOX_ENTERPRISE_ID": ccg["enterprise_id"],
            "BOX_MCP_VAULT_KEY": new_key_text(),
        }
        self.emu, self.clock, self.tmp_path = emu, clock, tmp_path
        self.sleeps = FakeSleeps(clock)
        self.forms: list[dict[str, str]] = []
        self.events: list[dict[str, Any]] = []
        self.errors: list[str] = []

    async def record(self, request: httpx2.Request) -> None:
        if request.url.path == "/oauth2/token":
            self.forms.append(dict(parse_qsl(request.content.decode())))

    def broker(self, http: httpx2.AsyncClient) -> Broker:
        settings = Settings.load(env=self.env, data_dir=self.tmp_path, box_url=self.emu.base_url)
        broker = Broker.from_settings(settings, http=http, clock=self.clock)
        broker.endpoint.retry = self.sleeps.policy()
        broker.on_event = lambda kind, **fields: self.events.append(fields["detail"])
        return broker

    def fault(self, *script: tuple[int, bool]) -> None:
        """The emulator's next token requests answer `script` (see Scripted), then it serves again."""
        self.emu.state.faults[:] = [Scripted("/oauth2/token", script=list(script), retry_after=2)]

    async def fails(self, source: Any, kind: type[BaseException]) -> BaseException:
        with pytest.raises(kind) as caught:
            await source.access_token()
        self.errors.append(f"{caught.value} {caught.value!r}")
        return caught.value

    def secrets(self) -> set[str]:
        fields = ("client_secret", "refresh_token", "assertion", "subject_token")
        return {f[k] for f in self.forms for k in fields if f.get(k)} | {self.env["BOX_MCP_VAULT_KEY"]}

    def grants(self) -> list[str]:
        return [f["grant_type"] for f in self.forms]


@pytest.fixture
def rig(emu: EmuBox, clock: FakeClock, tmp_path: Path) -> Rig:
    return Rig(emu, clock, tmp_path)


async def _signed_in(rig: Rig, broker: Broker, http: httpx2.AsyncClient, consent: Any) -> str:
    """A person signs in; the stored access token is then made stale so the next call refreshes."""
    oauth = rig.emu.credentials["oauth"]
    with anyio.fail_after(20):
        await login(
            endpoint=broker.endpoint,
            http=http,
            vault=broker.vault,
            label="default",
            client_id=oauth["client_id"],
            client_secret=oauth["client_secret"],
            open_browser=consent(rig.emu),
            wait_seconds=20,
        )
    record = broker.vault.get("user:default")
    assert record is not None and record.refresh_token
    broker.vault.put(replace(record, access_expires_at=0.0), expect_generation=record.generation)
    return record.refresh_token


async def _works(rig: Rig, source: Any) -> None:
    async with rig.emu.client(source) as client:
        assert (await client.get("/users/me"))["type"] == "user"


async def test_a_429_twice_costs_waits_not_the_call_and_posts_one_event(rig: Rig) -> None:
    rig.fault((429, False), (429, False))
    async with rig.emu.http(event_hooks={"request": [rig.record]}) as http:
        broker = rig.broker(http)
        source = await broker.token_source(SA)
        await _works(rig, source)
        await broker.aclose()
    assert rig.grants() == ["client_credentials"] * 3 and rig.sleeps.sleeps == [2.0, 2.0]
    assert [e["event"] for e in rig.events] == ["issue"]  # no event per attempt


async def test_a_429_after_every_retry_is_not_held_as_a_refusal_so_the_next_call_asks_box_again(
    rig: Rig,
) -> None:
    rig.fault(*[(429, False)] * 4)
    async with rig.emu.http(event_hooks={"request": [rig.record]}) as http:
        broker = rig.broker(http)
        source = await broker.token_source(SA)
        err = await rig.fails(source, TokenRequestError)
        assert str(err).startswith("Box's token service is rate-limiting this app (429)")
        assert "after 4 attempts over 6.0 s. Fix: retry later" in str(err)
        await _works(rig, source)  # at once: no refusal_hold for a 429
        await broker.aclose()
    assert rig.grants() == ["client_credentials"] * 5
    assert [e["event"] for e in rig.events] == ["issue_failed", "issue"]
    assert rig.events[0]["message"] == str(err)


async def test_a_token_exchange_is_sent_again_after_a_5xx(rig: Rig) -> None:
    async with rig.emu.http(event_hooks={"request": [rig.record]}) as http:
        broker = rig.broker(http)
        base = await broker.token_source(SA)
        await base.access_token()
        rig.fault((503, False), (500, True))  # before the route, and after it (the answer lost)
        narrow = await broker.token_source(SA, scopes=frozenset({"base_explorer"}))
        await _works(rig, narrow)
        await broker.aclose()
    assert rig.grants() == ["client_credentials"] + ["urn:ietf:params:oauth:grant-type:token-exchange"] * 3


@pytest.mark.parametrize("first", [(503, False), (429, False)], ids=["503-box-did-nothing", "429"])
async def test_a_refresh_box_did_not_act_on_is_sent_again_and_the_grant_keeps_rotating(
    rig: Rig, consent: Any, first: tuple[int, bool]
) -> None:
    async with rig.emu.http(event_hooks={"request": [rig.record]}) as http:
        broker = rig.broker(http)
        old = await _signed_in(rig, broker, http, consent)
        rig.fault(first)
        source = await broker.token_source(USER)
        await _works(rig, source)
        record = broker.vault.get("user:default")
        assert record is not None and record.status == "ok" and record.refresh_token != old
        rig.clock.now += 7200  # and the refresh token it stored rotates again
        await _works(rig, source)
        await broker.aclose()
    refreshes = [f for f in rig.forms if f["grant_type"] == "refresh_token"]
    assert [f["refresh_token"] for f in refreshes][:2] == [old, old]  # the same token, sent twice
    # The session's first token is an "issue", even when a refresh obtained it (session._renew).
    assert len(refreshes) == 3 and [e["event"] for e in rig.events] == ["issue", "refresh"]


async def test_a_refresh_whose_answer_was_lost_is_sent_again_and_the_grant_dies_saying_why(
    rig: Rig, consent: Any
) -> None:
    # Box rotated the refresh token, then its answer (the new one) was lost: no client gets that token
    # back. Re-sending the old one is how box-mcp learns it at once, and invalid_grant is then ours.
    async with rig.emu.http(event_hooks={"request": [rig.record]}) as http:
        broker = rig.broker(http)
        await _signed_in(rig, broker, http, consent)
        rig.fault((503, True))
        source = await broker.token_source(USER)
        err = await rig.fails(source, NeedsSignIn)
        assert str(err) == (
            f"the Box sign-in for 'default' stopped working ({LOST}: Box had used the refresh token, and the "
            "new one it issued never arrived); a person must sign in again: run `box-mcp auth login`"
        )
        record = broker.vault.get("user:default")
        assert record is not None and record.status == "needs_sign_in"
        assert record.status_detail.startswith(LOST)
        await broker.aclose()
    assert rig.grants().count("refresh_token") == 2
    assert [e["event"] for e in rig.events] == ["needs_sign_in"]


async def test_a_call_whose_refresh_answers_were_all_lost_fails_and_the_next_call_names_that_cause(
    rig: Rig, consent: Any
) -> None:
    async with rig.emu.http(event_hooks={"request": [rig.record]}) as http:
        broker = rig.broker(http)
        await _signed_in(rig, broker, http, consent)
        rig.fault(*[(503, True)] * 4)  # the first rotates the token; every answer is lost
        source = await broker.token_source(USER)
        busy = await rig.fails(source, TokenRequestError)
        assert "(503: HTTP 503) after 4 attempts over" in str(busy)
        assert "An attempt reached Box and lost its answer (HTTP 503): if Box used this single-use grant" in (
            str(busy)
        )
        err = await rig.fails(source, NeedsSignIn)  # the next call: Box refuses the spent token
        assert LOST in str(err)
        await broker.aclose()
    assert rig.grants().count("refresh_token") == 5
    assert [e["event"] for e in rig.events] == ["issue_failed", "needs_sign_in"]


async def test_no_secret_reaches_an_error_an_event_or_a_log_on_these_paths(
    rig: Rig, consent: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with rig.emu.http(event_hooks={"request": [rig.record]}) as http:
        broker = rig.broker(http)
        await _signed_in(rig, broker, http, consent)
        rig.fault(*[(429, False)] * 4, *[(503, True)] * 4)
        await rig.fails(await broker.token_source(SA), TokenRequestError)
        user = await broker.token_source(USER)
        await rig.fails(user, TokenRequestError)
        await rig.fails(user, NeedsSignIn)
        await broker.aclose()
    assert len(rig.forms) == 1 + 4 + 5 and len(rig.errors) == 3
    seen = " ".join(rig.errors) + repr(rig.events) + caplog.text
    assert "attempt 1 of 4" in caplog.text
    assert [e["event"] for e in rig.events] == ["issue_failed", "issue_failed", "needs_sign_in"]
    for secret in rig.secrets():
        assert secret not in seen
