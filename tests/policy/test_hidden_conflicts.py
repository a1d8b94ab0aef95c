"""A name taken by an item the policy hides reads as Box's plain item_name_in_use: no id, no name, no "why".

Through the real gate and the emulator's demo seed: Contracts 200000000001 holds Inbox ...02 (hidden by a
forbid here) and Archive ...03 (visible), and the files MSA-Globex.pdf and NDA-Initech.pdf.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from box_mcp.errors import BrokerError
from box_mcp.policy.hooks import PolicyHooks
from box_mcp.policy.locate import Locator
from box_mcp.policy.reference_tools import tools_for_policy
from box_mcp.policy.store import PolicyStore

pytestmark = pytest.mark.anyio

CONTRACTS, INBOX, ARCHIVE = "200000000001", "200000000002", "200000000003"
PLAIN = (
    "Box said 409 item_name_in_use: Item with the same name already exists (request id RID). Fix: This error "
    "is produced when a resource with the same name already exists. Ensure that the resource name being "
    "added / modified is unique."
)


def _policy(tmp_path: Path) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        "agents:\n  boxed: {}\nrules:\n"
        f"  - {{id: work, effect: permit, agents: boxed, access: admin, within: ['{CONTRACTS}']}}\n"
        f"  - {{id: drafts, effect: forbid, agents: boxed, within: ['{INBOX}']}}\n"
    )
    return path


def _plain(text: str) -> str:
    return re.sub(r"request id [0-9a-f]+", "request id RID", text)


async def test_a_name_taken_by_a_hidden_item_reads_as_boxs_plain_conflict_for_every_write(
    make_world, connect, tmp_path: Path
) -> None:
    w = make_world(_policy(tmp_path))
    agent = await connect(w, "boxed")
    nda = w.file("Contracts/NDA-Initech.pdf")
    for tool, args in [
        ("create_folder", {"parent_folder_id": CONTRACTS, "name": "Inbox"}),
        ("update_folder_properties", {"folder_id": ARCHIVE, "name": "Inbox"}),
        ("copy_folder", {"folder_id": ARCHIVE, "destination_folder_id": CONTRACTS, "new_name": "Inbox"}),
        ("copy_file", {"file_id": nda, "destination_folder_id": CONTRACTS, "new_name": "Inbox"}),
        ("update_file_properties", {"file_id": nda, "name": "Inbox"}),
    ]:
        assert _plain(await agent.err(tool, **args)) == PLAIN, tool
    # A visible conflict still names the item, so the agent can use its id.
    seen = await agent.err("create_folder", parent_folder_id=CONTRACTS, name="Archive")
    named = f" [conflicts with folder {ARCHIVE} ('Archive')] (request id"
    assert _plain(seen) == PLAIN.replace(" (request id", named)


async def test_a_conflict_that_cannot_be_checked_is_withheld_without_saying_why(
    make_world, connect, tmp_path: Path
) -> None:
    w = make_world(_policy(tmp_path))

    class Failing:
        async def get(self, path: str, **kw: Any) -> Any:
            if path == f"/folders/{INBOX}":  # the broker fails just when the conflict is looked up
                raise BrokerError("the lookup identity's token could not be refreshed")
            return await w.box.get(path, **kw)

    async def lookup(agent: str, person: Any = None) -> Any:
        return Failing()

    w.gate = PolicyHooks(PolicyStore(_policy(tmp_path), tools_for_policy()), locator=Locator(lookup))
    agent = await connect(w, "boxed")
    text = await agent.err("create_folder", parent_folder_id=CONTRACTS, name="Inbox")
    assert _plain(text) == PLAIN, text
