"""Signed webhooks from the emulator's own delivery (it signs as Box does) to a real
`box-mcp serve --transport http --watch webhooks`, whose webhooks `box-mcp webhooks ensure` made: a good
delivery, a bad signature, a stale and a future timestamp, a duplicate, and a key rotation. What reached
the deployment's ChangeFeed is read back from its audit log: one `box_change` record per publication."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from box_mcp.emulator.testing import RunningEmulator, running_emulator
from box_mcp.emulator.webhook_delivery import configure_delivery, observe_deliveries, redeliver, set_keys
from tests.server.hostile_servers import audit_records, free_port, http_server, server_env

pytestmark = pytest.mark.anyio
WAIT = 15.0


@pytest.fixture
def box() -> Iterator[RunningEmulator]:
    """An emulator of its own: its deliveries run on its server loop, past the test's own requests."""
    with running_emulator(memory=True, seed="demo", rate_limits=False) as running:
        configure_delivery(running.emulator.store, max_attempts=1, base_delay=0.01)
        yield running


def _policy(tmp_path: Path, box: RunningEmulator) -> Path:
    ada = box.user_id("ada")
    finance = box.credentials["folders"]["Finance"]
    key = hashlib.sha256(b"bmcp_watch_key").hexdigest()
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\ndefault_agent: watcher\nagents:\n"
        # keyed, as a deployment Box can reach is: /box/webhooks must still take Box's unauthenticated posts
        f"  watcher: {{acts_as: {{as_user: '{ada}'}}, keys: ['sha256:{key}']}}\n"
        "rules:\n"
        f"  - {{id: finance, effect: permit, agents: [watcher], access: read, within: ['{finance}']}}\n"
    )
    return path


def _ensure(box: RunningEmulator, data: Path, policy: Path, url: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "box_mcp.cli", "webhooks", "ensure", "--url", url, "--policy", str(policy)]
    return subprocess.run(  # noqa: S603 - our own CLI
        [*argv, "--box-url", box.base_url],
        env=server_env(box, data),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class Deliveries:
    """The emulator's delivery attempts, waited on by count."""

    def __init__(self, box: RunningEmulator) -> None:
        self.attempts: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        observe_deliveries(box.emulator.store, self._seen)

    def _seen(self, attempt: dict[str, Any]) -> None:
        with self._changed:
            self.attempts.append(attempt)
            self._changed.notify_all()

    async def next(self, count: int) -> dict[str, Any]:
        """The `count`-th attempt (1-based), once it was made."""

        def wait() -> dict[str, Any]:
            with self._changed:
                assert self._changed.wait_for(lambda: len(self.attempts) >= count, WAIT), "no delivery"
                return self.attempts[count - 1]

        return await anyio.to_thread.run_sync(wait)


async def _records(data: Path, kind: str, want: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for _ in range(int(WAIT / 0.05)):  # bounded: the log is read until `want` records of `kind` are there
        found = [r for r in audit_records(data) if r["kind"] == kind]
        if len(found) >= want:
            break
        await anyio.sleep(0.05)
    return found


async def upload(http: httpx2.AsyncClient, box: RunningEmulator, folder: str, name: str) -> str:
    """Upload a small file into `folder` through the emulator's API (its webhooks then fire); its id."""
    answer = await http.post(
        f"{box.base_url}/api/2.0/files/content",
        files={
            "attributes": (None, f'{{"name": "{name}", "parent": {{"id": "{folder}"}}}}'),
            "file": (name, b"data"),
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["entries"][0]["id"])


async def test_ensure_then_signed_deliveries_reach_the_feed_once_and_forgeries_do_not(
    box: RunningEmulator, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    policy = _policy(tmp_path, box)
    finance = box.credentials["folders"]["Finance"]
    keys = box.credentials["webhook_keys"]
    env = {
        "BOX_MCP_WEBHOOK_PRIMARY_KEY": keys["primary"],
        "BOX_MCP_WEBHOOK_SECONDARY_KEY": keys["secondary"],
    }
    st = box.emulator.store
    deliveries = Deliveries(box)
    async with (
        http_server(box, data, "--policy", str(policy), "--watch", "webhooks", env=env) as server,
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {box.token('ada')}"}, timeout=30) as http,
    ):
        public = f"http://127.0.0.1:{server.port}"
        first = _ensure(box, data, policy, public)
        assert first.returncode == 0, first.stderr
        assert "created   webhook" in first.stdout and "1 created, 0 repaired, 0 unchanged" in first.stdout
        second = _ensure(box, data, policy, public)
        assert second.returncode == 0, second.stderr
        assert "nothing to change: all 1 webhooks are as they should be" in second.stdout
        assert "unchanged webhook" in second.stdout
        hook = st.fetch_one("SELECT id, client_id, address FROM webhooks")
        assert hook is not None and hook["address"] == f"{public}/box/webhooks"

        good = await upload(http, box, finance, "good.txt")
        accepted = await deliveries.next(1)
        assert accepted["status_code"] == 200

        set_keys(st, hook["client_id"], "forged-primary", "forged-secondary")  # not the server's keys
        await upload(http, box, finance, "forged.txt")
        assert (await deliveries.next(2))["status_code"] == 403

        set_keys(st, hook["client_id"], "rotated-primary", keys["secondary"])  # Box rotated the primary
        rotated = await upload(http, box, finance, "rotated.txt")
        assert (await deliveries.next(3))["status_code"] == 200

        set_keys(st, hook["client_id"], keys["primary"], keys["secondary"])
        configure_delivery(st, clock_skew=-660.0)  # eleven minutes old
        await upload(http, box, finance, "stale.txt")
        assert (await deliveries.next(4))["status_code"] == 400
        configure_delivery(st, clock_skew=600.0)  # ten minutes ahead
        await upload(http, box, finance, "future.txt")
        assert (await deliveries.next(5))["status_code"] == 400
        configure_delivery(st, clock_skew=0.0)

        redeliver(st, accepted["delivery_id"])  # Box never heard the 200: the same delivery again
        assert (await deliveries.next(6))["status_code"] == 200

        webhook = await _records(data, "webhook", 6)
        published = await _records(data, "box_change", 2)
    actions = [(r["detail"]["action"], r["detail"].get("reason")) for r in webhook]
    assert actions == [
        ("accepted", None),
        ("refused", "bad_signature"),
        ("accepted", None),
        ("refused", "stale"),
        ("refused", "future"),
        ("duplicate", None),
    ]
    assert webhook[2]["detail"]["key"] == "secondary"  # rotation: the secondary key alone was enough
    assert webhook[5]["detail"]["delivery_id"] == accepted["delivery_id"]
    assert [(r["items"][0]["id"], r["detail"]["event"]) for r in published] == [
        (good, "FILE.UPLOADED"),
        (rotated, "FILE.UPLOADED"),
    ]
    assert all(r["detail"]["source"] == "webhook" for r in published)
    accepted_seq = {
        r["detail"]["delivery_id"]: r["seq"] for r in webhook if r["detail"]["action"] == "accepted"
    }
    assert all(
        accepted_seq[r["detail"]["delivery_id"]] < r["seq"] for r in published
    )  # accepted, then published
    assert len({r["detail"]["delivery_id"] for r in published}) == 2
    text = "".join(str(r) for r in audit_records(data))
    assert keys["primary"] not in text and keys["secondary"] not in text


async def test_ensure_repairs_a_webhook_with_the_wrong_address_and_triggers(
    box: RunningEmulator, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    policy = _policy(tmp_path, box)
    public = f"http://127.0.0.1:{free_port()}"
    assert _ensure(box, data, policy, public).returncode == 0
    st = box.emulator.store
    hook = st.fetch_one("SELECT id FROM webhooks")
    assert hook is not None
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {box.token('ada')}"}) as http:
        moved = await http.put(
            f"{box.base_url}/2.0/webhooks/{hook['id']}",
            json={"address": "http://127.0.0.1:9/elsewhere", "triggers": ["FILE.DOWNLOADED"]},
            headers={"As-User": box.user_id("ada")},
        )
    assert moved.status_code == 200, moved.text
    fixed = _ensure(box, data, policy, public)
    assert fixed.returncode == 0, fixed.stderr
    assert f"repaired  webhook {hook['id']}" in fixed.stdout
    assert (
        "address was http://127.0.0.1:9/elsewhere" in fixed.stdout and "had FILE.DOWNLOADED" in fixed.stdout
    )
    again = _ensure(box, data, policy, public)
    assert "nothing to change" in again.stdout
    row = st.fetch_one("SELECT address, triggers FROM webhooks WHERE id = ?", (hook["id"],))
    assert (
        row is not None and row["address"] == f"{public}/box/webhooks" and "FILE.UPLOADED" in row["triggers"]
    )


def test_ensure_without_a_public_url_says_what_to_set(box: RunningEmulator, tmp_path: Path) -> None:
    data = tmp_path / "data"
    argv = [
        sys.executable,
        "-m",
        "box_mcp.cli",
        "webhooks",
        "ensure",
        "--policy",
        str(_policy(tmp_path, box)),
    ]
    done = subprocess.run(  # noqa: S603 - our own CLI
        argv, env=server_env(box, data), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2 and "BOX_MCP_PUBLIC_URL" in done.stderr and "--url" in done.stderr
