"""Box to agents, end to end: changes made in the emulator (Box) are delivered by its own webhook delivery
(signed as Box signs) to a real `box-mcp serve --transport http --watch webhooks`, whose webhooks
`box-mcp webhooks ensure` made, and reach real MCP SDK clients subscribed in both protocol eras (legacy
resources/subscribe and 2026-07-28 subscriptions/listen) only when their agent's policy lets them see
the item. Refused deliveries (a bad signature, a stale timestamp) and a duplicate reach nobody; a
delivery signed after Box rotated its primary key is still taken (the secondary) and does reach its
agent. The audit log's `webhook`, `box_change` and `notification` records tell the same story.

Agents (each with an API key, all acting as ada): `fin` confined to Finance (A), `eng` to Engineering
(B), `mkt` to Marketing (C: watched, so its changes are delivered too, but nobody subscribed hears of
them). `fin` and `eng` each subscribe to both A and B: the policy, not the subscription, keeps B's file
from `fin` and A's from `eng`.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.subscriptions import ResourceUpdated

from box_mcp.emulator.testing import RunningEmulator, running_emulator
from box_mcp.emulator.webhook_delivery import configure_delivery, redeliver, set_keys
from tests.server.hostile_servers import audit_records, http_server
from tests.server.test_resources import legacy_api
from tests.watch.test_webhooks_e2e import WAIT, Deliveries, _ensure, _records, upload

pytestmark = pytest.mark.anyio

KEYS = {
    "fin": "bmcp_fin_key_for_the_webhooks_to_agents_test",
    "eng": "bmcp_eng_key_for_the_webhooks_to_agents_test",
    "mkt": "bmcp_mkt_key_for_the_webhooks_to_agents_test",
}
FOLDER_OF = {"fin": "Finance", "eng": "Engineering", "mkt": "Marketing"}


@pytest.fixture
def box() -> Iterator[RunningEmulator]:
    """An emulator of its own (as tests/watch has): deliveries on its server loop, one attempt each."""
    with running_emulator(memory=True, seed="demo", rate_limits=False) as running:
        configure_delivery(running.emulator.store, max_attempts=1, base_delay=0.01)
        yield running


def _policy(tmp_path: Path, box: RunningEmulator) -> Path:
    ada = box.user_id("ada")
    agents = "".join(
        f"  {name}: {{keys: ['sha256:{hashlib.sha256(key.encode()).hexdigest()}'], "
        f"acts_as: {{as_user: '{ada}'}}}}\n"
        for name, key in KEYS.items()
    )
    rules = "".join(
        f"  - {{id: {name}-reads, effect: permit, agents: [{name}], access: read, "
        f"within: ['{box.credentials['folders'][FOLDER_OF[name]]}']}}\n"
        for name in KEYS
    )
    path = tmp_path / "policy.yaml"
    path.write_text(f"version: 1\nagents:\n{agents}rules:\n{rules}")
    return path


class Heard:
    """The box:// URIs one subscriber was told changed, in order, waited on by count."""

    def __init__(self) -> None:
        self.uris: list[str] = []
        self._more = anyio.Event()

    def add(self, uri: str) -> None:
        self.uris.append(uri)
        self._more.set()  # wakes the waiter, which then waits on a fresh event
        self._more = anyio.Event()

    async def reach(self, count: int) -> None:
        with anyio.fail_after(WAIT):
            while len(self.uris) < count:  # bounded by fail_after
                await self._more.wait()


@asynccontextmanager
async def _client(url: str, agent: str, mode: str, heard: Heard | None = None) -> AsyncIterator[Client]:
    async def on_message(message: Any) -> None:
        if heard is not None and isinstance(message, types.ResourceUpdatedNotification):
            heard.add(str(message.params.uri))

    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEYS[agent]}"}) as http:
        async with Client(
            streamable_http_client(url, http_client=http),
            mode=mode,
            message_handler=on_message,
        ) as c:
            yield c


async def _drain(sub: Any, heard: Heard) -> None:
    async for event in sub:  # until the test cancels it
        if isinstance(event, ResourceUpdated):
            heard.add(event.uri)


async def test_signed_box_webhooks_reach_only_the_agents_whose_grant_holds_the_item(
    box: RunningEmulator, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    policy = _policy(tmp_path, box)
    folders = {name: box.credentials["folders"][FOLDER_OF[name]] for name in KEYS}
    fin_uri, eng_uri = f"box://folders/{folders['fin']}", f"box://folders/{folders['eng']}"
    keys = box.credentials["webhook_keys"]
    env = {
        "BOX_MCP_WEBHOOK_PRIMARY_KEY": keys["primary"],
        "BOX_MCP_WEBHOOK_SECONDARY_KEY": keys["secondary"],
    }
    st = box.emulator.store
    deliveries = Deliveries(box)
    heard = {(agent, era): Heard() for agent in ("fin", "eng") for era in ("legacy", "listen")}
    files: dict[str, str] = {}  # name -> Box file id
    sent: dict[str, str] = {}  # name -> the emulator's BOX-DELIVERY-ID for its upload
    statuses: list[int | None] = []

    async def change(agent: str, name: str) -> dict[str, Any]:
        """Upload `name` into the agent's folder as ada, and wait for Box's delivery of it."""
        files[name] = await upload(http, box, folders[agent], name)
        attempt = await deliveries.next(len(statuses) + 1)
        statuses.append(attempt["status_code"])
        sent[name] = attempt["delivery_id"]
        return attempt

    async with (
        http_server(box, data, "--policy", str(policy), "--watch", "webhooks", env=env) as server,
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {box.token('ada')}"}, timeout=30) as http,
    ):
        made = _ensure(box, data, policy, f"http://127.0.0.1:{server.port}")
        assert made.returncode == 0, made.stderr
        assert "3 created, 0 repaired, 0 unchanged" in made.stdout, made.stdout
        client_id = {row["client_id"] for row in st.fetch_all("SELECT client_id FROM webhooks")}
        assert len(client_id) == 1  # one app: Box signs all its webhooks with the app's keys
        (app,) = client_id
        async with (
            _client(server.url, "fin", "legacy", heard["fin", "legacy"]) as fin_old,
            _client(server.url, "eng", "legacy", heard["eng", "legacy"]) as eng_old,
            _client(server.url, "fin", "auto") as fin_new,
            _client(server.url, "eng", "auto") as eng_new,
        ):
            with legacy_api():
                for c in (fin_old, eng_old):
                    await c.subscribe_resource(fin_uri)
                    await c.subscribe_resource(eng_uri)
            async with (
                fin_new.listen(resource_subscriptions=[fin_uri, eng_uri]) as fin_sub,
                eng_new.listen(resource_subscriptions=[eng_uri, fin_uri]) as eng_sub,
                anyio.create_task_group() as tg,
            ):
                assert fin_sub.honored.resource_subscriptions == [fin_uri, eng_uri]
                tg.start_soon(_drain, fin_sub, heard["fin", "listen"])
                tg.start_soon(_drain, eng_sub, heard["eng", "listen"])
                await anyio.sleep(1.0)  # the legacy clients open their GET streams after the handshake

                first = await change("fin", "a1.txt")  # taken: fin hears of Finance
                await change("mkt", "c1.txt")  # taken and published: nobody subscribed may see it
                set_keys(st, app, "forged-primary", "forged-secondary")
                await change("fin", "a2-forged.txt")  # refused: not the server's keys
                set_keys(st, app, "rotated-primary", keys["secondary"])  # Box rotated its primary
                await change("eng", "b1-rotated.txt")  # taken on the secondary: eng hears of it
                set_keys(st, app, keys["primary"], keys["secondary"])
                configure_delivery(st, clock_skew=-660.0)  # eleven minutes old
                await change("eng", "b2-stale.txt")  # refused
                configure_delivery(st, clock_skew=0.0)
                redeliver(st, first["delivery_id"])  # Box never heard the 200: the same delivery again
                statuses.append((await deliveries.next(len(statuses) + 1))["status_code"])
                # Last, one good change each: all that came before was published (and notified) first.
                await change("fin", "a3.txt")
                await change("eng", "b3.txt")
                for h in heard.values():
                    await h.reach(2)
                await anyio.sleep(0.3)  # nothing more is coming; a stray notification would land now
                tg.cancel_scope.cancel()

    assert statuses == [200, 200, 403, 200, 400, 200, 200, 200]
    # Each subscriber heard exactly its own folder's two taken uploads (a1, a3 / b1, b3), never the
    # other's although it subscribed to it, never Marketing's, never a refused or duplicate delivery.
    assert heard["fin", "legacy"].uris == heard["fin", "listen"].uris == [fin_uri, fin_uri]
    assert heard["eng", "legacy"].uris == heard["eng", "listen"].uris == [eng_uri, eng_uri]

    webhook = await _records(data, "webhook", 8)
    published = await _records(data, "box_change", 5)
    records = audit_records(data)
    assert [(r["detail"]["action"], r["detail"].get("reason")) for r in webhook] == [
        ("accepted", None),
        ("accepted", None),
        ("refused", "bad_signature"),
        ("accepted", None),
        ("refused", "stale"),
        ("duplicate", None),
        ("accepted", None),
        ("accepted", None),
    ]
    assert [r["detail"].get("key") for r in webhook if r["detail"]["action"] == "accepted"] == [
        "primary",
        "primary",
        "secondary",  # the rotation: Box's new primary is unknown here, the old secondary still signs
        "primary",
        "primary",
    ]
    assert webhook[5]["detail"]["delivery_id"] == first["delivery_id"]
    taken = ["a1.txt", "c1.txt", "b1-rotated.txt", "a3.txt", "b3.txt"]
    assert [(r["items"][0]["id"], r["detail"]["event"], r["detail"]["delivery_id"]) for r in published] == [
        (files[name], "FILE.UPLOADED", sent[name]) for name in taken
    ]
    # One notification record per subscriber and taken change in its grant: the folder it subscribed
    # to, the changed file, and the emulator's own delivery id of the change.
    notes = [r for r in records if r["kind"] == "notification"]
    told_records = [
        (
            r["agent"],
            r["detail"]["channel"],
            r["detail"]["uri"],
            [(i["type"], i["id"], i["role"]) for i in r["items"]],
            r["detail"]["change"],
        )
        for r in notes
    ]
    told = sorted(told_records, key=repr)  # repr: a repeated record would tie up to the change's dict
    expected = [
        (
            agent,
            channel,
            f"box://folders/{folders[agent]}",
            [("folder", folders[agent], "item"), ("file", files[name], "changed")],
            {"event": "FILE.UPLOADED", "source": "webhook", "delivery_id": sent[name]},
        )
        for agent, names in (("fin", ["a1.txt", "a3.txt"]), ("eng", ["b1-rotated.txt", "b3.txt"]))
        for channel in ("resources/subscribe", "subscriptions/listen")
        for name in names
    ]
    assert told == sorted(expected, key=repr)
    named = {item["id"] for r in notes for item in r["items"]}
    for outside in ("c1.txt", "a2-forged.txt", "b2-stale.txt"):
        assert files[outside] not in named
    # The notifier asked Box, as each agent, about every published change: its own files were found,
    # Marketing's and the other agent's were denied (so they heard nothing, not even the id).
    checks = {
        (r["agent"], r["args"].get("file_id"), r["outcome"]["status"])
        for r in records
        if (r.get("detail") or {}).get("via") == "notification" and r["tool"] == "get_file_details"
    }
    for agent, own, other in (("fin", "a", "b"), ("eng", "b", "a")):
        mine = [n for n in taken if n.startswith(own)]
        theirs = [n for n in taken if n.startswith(other)]
        assert {(agent, files[n], "ok") for n in mine} <= checks
        assert {(agent, files[n], "denied") for n in [*theirs, "c1.txt"]} <= checks
    assert not any(f == files[n] for _, f, _ in checks for n in ("a2-forged.txt", "b2-stale.txt"))
    text = "".join(str(r) for r in records)
    assert keys["primary"] not in text and keys["secondary"] not in text
