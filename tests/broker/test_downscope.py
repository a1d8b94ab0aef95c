"""Downscoped sources: one exchange per (identity, scopes, resource), renewed near expiry and after 401;
and each call narrowed as its row of the downscope table says."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from box_mcp.broker import Broker, IdentitySpec
from box_mcp.config import Settings
from box_mcp.deployment import open_deployment
from box_mcp.errors import BrokerError, ConfigError
from box_mcp.seams import Call
from box_mcp.tools.catalog import BY_NAME

if TYPE_CHECKING:
    from conftest import FakeBox, FakeClock

SA = IdentitySpec(kind="service_account")
CCG_ENV = {"BOX_CLIENT_ID": "cid", "BOX_CLIENT_SECRET": "csecret-value", "BOX_ENTERPRISE_ID": "777"}
READ = frozenset({"item_preview", "item_download"})


def _broker(tmp_path: Path, fake: FakeBox, http: object, clock: FakeClock, **kw: object) -> Broker:
    return Broker.from_settings(Settings.load(env=CCG_ENV, data_dir=tmp_path), http=http, clock=clock, **kw)


@pytest.mark.anyio
async def test_exchanged_token_is_cached_per_identity_scopes_and_resource(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock
) -> None:
    async with fake_box.client() as http:
        broker = _broker(tmp_path, fake_box, http, clock)
        file_1 = broker.item_resource("file", "1")
        a = await (await broker.token_source(SA, scopes=READ, resource=file_1)).access_token()
        b = await (await broker.token_source(SA, scopes=READ, resource=file_1)).access_token()
        c = await (
            await broker.token_source(SA, scopes=READ, resource=broker.item_resource("file", "2"))
        ).access_token()
        d = await (
            await broker.token_source(SA, scopes=frozenset({"item_preview"}), resource=file_1)
        ).access_token()
        await broker.aclose()
    assert a == b and len({a, c, d}) == 3
    assert fake_box.grants.count("client_credentials") == 1
    assert fake_box.grants.count("urn:ietf:params:oauth:grant-type:token-exchange") == 3
    exchange = fake_box.forms[1]
    assert exchange["scope"] == "item_download item_preview"
    assert exchange["resource"] == "https://api.box.com/2.0/files/1"
    assert exchange["subject_token_type"] == "urn:ietf:params:oauth:token-type:access_token"


@pytest.mark.anyio
async def test_exchanged_token_is_renewed_shortly_before_it_expires(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock
) -> None:
    async with fake_box.client() as http:
        broker = _broker(tmp_path, fake_box, http, clock)
        source = await broker.token_source(SA, scopes=READ)
        first = await source.access_token()
        clock.now += 3600 - 30
        second = await source.access_token()
        await broker.aclose()
    assert first != second and fake_box.api_ok(second)


@pytest.mark.anyio
async def test_401_on_a_downscoped_token_exchanges_again_and_renews_a_dead_parent(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock
) -> None:
    async with fake_box.client() as http:
        broker = _broker(tmp_path, fake_box, http, clock)
        source = await broker.token_source(SA, scopes=READ)
        child = await source.access_token()
        fake_box.live_access.clear()  # Box revoked everything: parent and child
        await source.invalidate(child)
        fresh = await source.access_token()
        await broker.aclose()
    assert fake_box.api_ok(fresh)
    assert fake_box.grants == [
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ]


@pytest.mark.anyio
async def test_concurrent_calls_for_one_scope_set_share_one_exchange(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock
) -> None:
    async with fake_box.client() as http:
        broker = _broker(tmp_path, fake_box, http, clock)
        tokens: set[str] = set()

        async def call() -> None:
            tokens.add(await (await broker.token_source(SA, scopes=READ)).access_token())

        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for _ in range(50):
                    tg.start_soon(call)
        await broker.aclose()
    assert len(tokens) == 1 and len(fake_box.grants) == 2


@pytest.mark.anyio
async def test_downscoping_off_hands_out_the_base_token(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock
) -> None:
    async with fake_box.client() as http:
        broker = _broker(tmp_path, fake_box, http, clock, downscope=False)
        await (
            await broker.token_source(SA, scopes=READ, resource=broker.item_resource("file", "1"))
        ).access_token()
        await broker.aclose()
    assert fake_box.grants == ["client_credentials"]


@pytest.mark.anyio
async def test_unknown_scope_and_foreign_resource_are_refused(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock
) -> None:
    async with fake_box.client() as http:
        broker = _broker(tmp_path, fake_box, http, clock)
        with pytest.raises(BrokerError, match="item_previw"):
            await broker.token_source(SA, scopes=frozenset({"item_previw"}))
        with pytest.raises(BrokerError, match="not an item URL"):
            await broker.token_source(SA, scopes=READ, resource="https://evil.example/2.0/files/1")
        await broker.aclose()
    assert fake_box.grants == []


def test_as_user_header_comes_only_from_the_identity() -> None:
    broker = Broker.from_settings(Settings.load(env=CCG_ENV, data_dir=Path("/nonexistent")))
    assert broker.as_user_header(IdentitySpec(kind="as_user", as_user="12345")) == "12345"
    assert broker.as_user_header(SA) is None
    with pytest.raises(ConfigError, match="digits"):
        IdentitySpec(kind="as_user", as_user="12; DROP")
    with pytest.raises(ConfigError):
        IdentitySpec(kind="service_account", as_user="12")
    anyio.run(broker.aclose)


@pytest.mark.anyio
async def test_as_user_identity_shares_the_service_account_token(
    tmp_path: Path, fake_box: FakeBox, clock: FakeClock
) -> None:
    async with fake_box.client() as http:
        broker = _broker(tmp_path, fake_box, http, clock)
        a = await (await broker.token_source(SA)).access_token()
        b = await (await broker.token_source(IdentitySpec(kind="as_user", as_user="42"))).access_token()
        await broker.aclose()
    assert a == b and fake_box.grants == ["client_credentials"]


def _call(tool_name: str, **args: object) -> Call:
    tool = BY_NAME[tool_name]
    parsed = tool.input_model(**args)
    return Call("c1", "default", tool, parsed, tool.resources(parsed), tool.facts(parsed), "stdio")


@pytest.mark.anyio
async def test_each_call_gets_the_token_its_row_of_the_downscope_table_names(
    emulator: Any, tmp_path: Path
) -> None:
    files, folders = emulator.credentials["files"], emulator.credentials["folders"]
    report, archive = files["Finance/q3-report.md"], folders["Contracts/Archive"]
    settings = Settings.load(
        env={}, box_url=emulator.base_url, data_dir=tmp_path, developer_token=emulator.token("ada")
    )
    async with open_deployment(settings, transport="stdio") as deployment:
        credentials = deployment.server.gate.credentials
        move = await credentials.client_for(_call("move_file", file_id=report, destination_folder_id=archive))
        moved = await move.put(f"/files/{report}", json={"parent": {"id": archive}})
        meta = await credentials.client_for(
            _call(
                "set_file_metadata",
                file_id=report,
                scope="global",
                template_key="properties",
                values={"k": "v"},
            )
        )
        made = await meta.post(f"/files/{report}/metadata/global/properties", json={"k": "v"})
        comments = await credentials.client_for(_call("list_file_comments", file_id=report))
        listed = await comments.get(f"/files/{report}/comments")
    # two items: the scopes only, upload included for the destination; one item: bound to it
    assert (move._token.scopes, move._token.resource) == (  # type: ignore[attr-defined]
        frozenset({"base_explorer", "item_rename", "item_upload"}),
        None,
    )
    assert moved["parent"]["id"] == archive
    assert (meta._token.scopes, meta._token.resource) == (  # type: ignore[attr-defined]
        frozenset({"base_sidebar", "item_upload"}),
        f"{emulator.base_url}/2.0/files/{report}",
    )
    assert made["k"] == "v"
    assert comments._token.scopes == frozenset({"base_sidebar"})  # type: ignore[attr-defined]
    assert listed["entries"] == []
