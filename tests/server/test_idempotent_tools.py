"""Each tool the catalog declares idempotent really is: its first write is done by Box and the answer lost
(the emulator's after503), the gate's client retries on the tool's declaration, and the call ends as one
clean application. A write tool without a case here, or without a recheck hint, fails the suite."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from box_mcp.emulator.faults import FaultRule
from box_mcp.tools.catalog import CATALOG
from box_mcp.tools.recheck import HINTS

from .conftest import Emu, Tools

pytestmark = pytest.mark.anyio

CONTRACTS, INBOX, ARCHIVE, ENGINEERING = "200000000001", "200000000002", "200000000003", "200000000007"
CAROL_ON_CONTRACTS, BOB_ON_ENGINEERING = "50000000001", "50000000002"
MSA, NDA, README = "1300000000001", "1300000000002", "1300000000009"


@dataclass
class OneLostAnswer(FaultRule):
    """Box does the first write it gets, then its answer is lost (503); everything after goes through."""

    hits: list[tuple[str, str]] = field(default_factory=list)
    _seen: tuple[str, str] = ("", "")

    def matches(self, method: str, path: str) -> bool:
        self._seen = (method, path)
        return super().matches(method, path)

    def pick(self, rng: random.Random) -> tuple[int, bool] | None:
        if self.hits:
            return None
        self.hits.append(self._seen)
        return 503, True


Check = Callable[[Tools, Any], Awaitable[None]]


async def _renamed(tools: Tools, out: Any) -> None:
    assert (await tools.ok("get_file_details", file_id=MSA))["name"] == "MSA-renamed.pdf"


async def _moved_file(tools: Tools, out: Any) -> None:
    assert (await tools.ok("get_file_details", file_id=MSA))["parent"]["id"] == ARCHIVE


async def _file_trashed(tools: Tools, out: Any) -> None:
    assert "Box said 404 trashed" in await tools.err("get_file_details", file_id=MSA)


async def _folder_renamed(tools: Tools, out: Any) -> None:
    assert (await tools.ok("get_folder_details", folder_id=INBOX))["name"] == "Inbox-renamed"


async def _moved_folder(tools: Tools, out: Any) -> None:
    assert (await tools.ok("get_folder_details", folder_id=INBOX))["parent"]["id"] == ARCHIVE


async def _folder_trashed(tools: Tools, out: Any) -> None:
    assert "Box said 404 trashed" in await tools.err("get_folder_details", folder_id=INBOX)


async def _linked(tools: Tools, out: Any) -> None:
    item_type, item_id = out["item_type"], out["item_id"]
    link = (await tools.ok("get_shared_link", item_type=item_type, item_id=item_id))["shared_link"]
    assert link["url"] == out["shared_link"]["url"]  # the retry changed settings, not the link itself


async def _unlinked(tools: Tools, out: Any) -> None:
    assert (await tools.ok("get_shared_link", item_type="file", item_id=README)).get("shared_link") is None


async def _viewer(tools: Tools, out: Any) -> None:
    collabs = (await tools.ok("list_item_collaborations", item_type="folder", item_id=CONTRACTS))["entries"]
    assert [c["role"] for c in collabs if c["id"] == CAROL_ON_CONTRACTS] == ["viewer"]


async def _uncollaborated(tools: Tools, out: Any) -> None:
    collabs = (await tools.ok("list_item_collaborations", item_type="folder", item_id=ENGINEERING))["entries"]
    assert [c for c in collabs if c["id"] == BOB_ON_ENGINEERING] == []


async def _file_values(tools: Tools, out: Any) -> None:
    found = await tools.ok("get_file_metadata", file_id=NDA, scope="enterprise", template_key="contract")
    assert found["instances"][0]["values"]["counterparty"] == "Initech"
    assert out["values"]["counterparty"] == "Initech"


async def _folder_values(tools: Tools, out: Any) -> None:
    assert out["values"] == {"counterparty": "Initech", "value": 7.0}


async def _hub_renamed(tools: Tools, out: Any) -> None:
    assert (await tools.ok("get_hub_details", hub_id=HUB))["title"] == "Renamed hub"


async def _a_hub(tools: Tools) -> dict[str, Any] | None:
    assert (await tools.ok("create_hub", title="Lost answers"))["id"] == HUB
    return None


async def _a_web_link(tools: Tools) -> dict[str, Any]:
    made = await tools.ok("create_web_link", parent_folder_id=INBOX, url="https://status.acme.example")
    return {"web_link_id": made["id"]}


async def _a_task(tools: Tools) -> dict[str, Any]:
    return {"task_id": (await tools.ok("create_task", file_id=NDA, message="Lost answers"))["id"]}


async def _an_assignment_of_mine(tools: Tools) -> dict[str, Any]:
    task = await tools.ok("create_task", file_id=NDA, action="complete", message="Countersign")
    mine = await tools.ok("assign_task", task_id=task["id"], login="ada@acme.example")
    return {"assignment_id": mine["id"]}


async def _link_renamed(tools: Tools, out: Any) -> None:
    assert (await tools.ok("get_web_link", web_link_id=out["id"]))["name"] == "Status"


async def _link_trashed(tools: Tools, out: Any) -> None:
    assert (await tools.ok("get_web_link", web_link_id=out["id"]))["item_status"] == "trashed"


async def _assignment_done(tools: Tools, out: Any) -> None:
    (task,) = [
        t for t in (await tools.ok("list_tasks", file_id=NDA))["entries"] if t["message"] == "Countersign"
    ]
    assert task["is_completed"] is True and task["assignments"][0]["resolution_state"] == "completed"


async def _task_gone(tools: Tools, out: Any) -> None:
    tasks = (await tools.ok("list_tasks", file_id=NDA))["entries"]
    assert [t for t in tasks if t["id"] == out["task_id"]] == []


HOOK: dict[str, Any] = {}  # delete_webhook's arguments: SETUP makes the webhook first


async def _a_webhook(tools: Tools) -> dict[str, Any]:
    made = await tools.ok(
        "create_webhook",
        target_type="file",
        target_id=README,
        address="https://hooks.example.com/lost",
        triggers=["FILE.TRASHED"],
    )
    HOOK["webhook_id"] = made["id"]
    return {"webhook_id": made["id"]}


async def _no_webhook(tools: Tools, out: Any) -> None:
    assert (await tools.ok("list_webhooks"))["entries"] == []
    assert out == {"webhook_id": HOOK["webhook_id"], "deleted": True}


async def _upload_url_issued(tools: Tools, out: Any) -> None:
    # the preflight changed nothing in Box: the retry answered a fresh URL, and no file appeared
    assert out["kind"] == "new_file" and "upload_session_id=" in out["upload_url"] and out["upload_token"]
    listed = await tools.ok("list_folder_content_by_folder_id", folder_id=INBOX)
    assert "retried.bin" not in {e["name"] for e in listed["entries"]}


async def _nda_v2(tools: Tools) -> None:
    await tools.ok("upload_file_version", file_id=NDA, content_text="second version")
    (old,) = (await tools.ok("list_file_versions", file_id=NDA))["versions"]
    assert old["id"] == NDA_V1


async def _nda_v1_deleted(tools: Tools) -> None:
    await _nda_v2(tools)
    await tools.ok("delete_file_version", file_id=NDA, version_id=NDA_V1)


async def _nda_v1_trashed(expected: bool) -> Check:
    async def check(tools: Tools, out: Any) -> None:
        (old,) = (await tools.ok("list_file_versions", file_id=NDA))["versions"]
        assert old["id"] == NDA_V1 and bool(old.get("trashed_at")) is expected

    return check


async def _msa_locked(tools: Tools) -> None:
    await tools.ok("lock_file", file_id=MSA)


async def _inbox_locked(tools: Tools) -> None:
    await tools.ok("lock_folder", folder_id=INBOX)


async def _locked(tools: Tools, out: Any) -> None:
    assert out["lock"]["created_by"]["login"] == "ada@acme.example"


async def _unlocked(tools: Tools, out: Any) -> None:
    assert "lock" not in out


async def _inbox_unlocked(tools: Tools, out: Any) -> None:
    assert len(out["removed"]) == 1
    assert (await tools.ok("list_folder_locks", folder_id=INBOX))["locks"] == []


async def _restored(tools: Tools, out: Any) -> None:
    await (await _nda_v1_trashed(False))(tools, out)


async def _version_trashed(tools: Tools, out: Any) -> None:
    await (await _nda_v1_trashed(True))(tools, out)


HUB = "1000001"  # the emulator's first hub: made by SETUP before its case runs
NDA_V1 = "1400000000002"  # the seeded NDA's only version
# What a case needs made first; the arguments it answers join the case's own.
SETUP: dict[str, Callable[[Tools], Awaitable[dict[str, Any] | None]]] = {
    "update_hub": _a_hub,
    "update_web_link": _a_web_link,
    "delete_web_link": _a_web_link,
    "update_task_assignment": _an_assignment_of_mine,
    "delete_task": _a_task,
    "delete_webhook": _a_webhook,
    "restore_file_version": _nda_v1_deleted,
    "delete_file_version": _nda_v2,
    "unlock_file": _msa_locked,
    "unlock_folder": _inbox_locked,
}
VALUES = {"counterparty": "Initech", "value": 7.0}
CASES: list[tuple[str, dict[str, Any], Check]] = [
    ("update_file_properties", {"file_id": MSA, "name": "MSA-renamed.pdf"}, _renamed),
    ("move_file", {"file_id": MSA, "destination_folder_id": ARCHIVE}, _moved_file),
    ("delete_file", {"file_id": MSA}, _file_trashed),
    ("update_folder_properties", {"folder_id": INBOX, "name": "Inbox-renamed"}, _folder_renamed),
    ("move_folder", {"folder_id": INBOX, "destination_folder_id": ARCHIVE}, _moved_folder),
    ("delete_folder", {"folder_id": INBOX, "recursive": True}, _folder_trashed),
    ("add_file_shared_link", {"file_id": MSA, "access": "open", "password": "a-long-password"}, _linked),
    ("add_folder_shared_link", {"folder_id": INBOX, "access": "collaborators"}, _linked),
    ("remove_shared_link", {"item_type": "file", "item_id": README}, _unlinked),
    ("update_collaboration", {"collaboration_id": CAROL_ON_CONTRACTS, "role": "viewer"}, _viewer),
    ("delete_collaboration", {"collaboration_id": BOB_ON_ENGINEERING}, _uncollaborated),
    ("set_file_metadata", {"file_id": NDA, "template_key": "contract", "values": VALUES}, _file_values),
    (
        "set_folder_metadata",
        {"folder_id": INBOX, "template_key": "contract", "values": VALUES},
        _folder_values,
    ),
    ("update_hub", {"hub_id": HUB, "title": "Renamed hub"}, _hub_renamed),
    ("update_web_link", {"name": "Status"}, _link_renamed),
    ("delete_web_link", {}, _link_trashed),
    ("update_task_assignment", {"resolution_state": "completed"}, _assignment_done),
    ("delete_task", {}, _task_gone),
    ("delete_webhook", HOOK, _no_webhook),
    ("get_upload_url", {"folder_id": INBOX, "file_name": "retried.bin", "size": 1}, _upload_url_issued),
    ("restore_file_version", {"file_id": NDA, "version_id": NDA_V1}, _restored),
    ("delete_file_version", {"file_id": NDA, "version_id": NDA_V1}, _version_trashed),
    ("lock_file", {"file_id": MSA, "is_download_prevented": True}, _locked),
    ("unlock_file", {"file_id": MSA}, _unlocked),
    ("unlock_folder", {"folder_id": INBOX}, _inbox_unlocked),
]


def test_every_tool_declared_idempotent_has_a_case_here() -> None:
    declared = {t.name for t in CATALOG if not t.read_only and t.hints.idempotent}
    assert sorted(name for name, _, _ in CASES) == sorted(declared)


def test_every_write_tool_tells_an_agent_how_to_check_a_write_that_failed_uncertainly() -> None:
    assert sorted(HINTS) == sorted(t.name for t in CATALOG if not t.read_only)


@pytest.mark.parametrize(("tool", "args", "check"), CASES, ids=[c[0] for c in CASES])
async def test_a_tool_declared_idempotent_succeeds_once_when_its_first_answer_is_lost(
    tool: str, args: dict[str, Any], check: Check, emu: Emu, tools: Tools
) -> None:
    if tool in SETUP:
        args = {**args, **(await SETUP[tool](tools) or {})}
    lost = OneLostAnswer(
        pattern=r"^/(api/)?2\.0/", methods=("POST", "PUT", "DELETE", "OPTIONS"), retry_after=0
    )
    emu.app.state.emulator.faults.append(lost)
    out = await tools.ok(tool, **args)
    emu.app.state.emulator.faults.clear()
    assert len(lost.hits) == 1  # Box did the first write and its answer was lost
    await check(tools, out)


async def test_set_metadata_on_an_item_that_has_it_already_survives_a_lost_answer(
    emu: Emu, tools: Tools
) -> None:
    await tools.ok("set_file_metadata", file_id=NDA, template_key="contract", values={"counterparty": "Old"})
    lost = OneLostAnswer(pattern=r"^/2\.0/files/", methods=("PUT",), retry_after=0)
    emu.app.state.emulator.faults.append(lost)
    out = await tools.ok("set_file_metadata", file_id=NDA, template_key="contract", values=VALUES)
    emu.app.state.emulator.faults.clear()
    assert len(lost.hits) == 1 and lost.hits[0][0] == "PUT"
    assert out["values"] | VALUES == out["values"]  # the seed's other fields stay


async def test_a_comment_whose_answer_is_lost_is_posted_once_and_the_agent_told_how_to_check(
    emu: Emu, tools: Tools
) -> None:
    lost = OneLostAnswer(pattern=r"^/2\.0/comments$", methods=("POST",), retry_after=0)
    emu.app.state.emulator.faults.append(lost)
    text = await tools.err("create_file_comment", file_id=MSA, message="posted once")
    emu.app.state.emulator.faults.clear()
    assert "Box may have made this change before it failed." in text
    assert text.endswith(
        "Fix: do not simply retry; first list the file's comments (list_file_comments) to see whether it "
        "was posted."
    )
    comments = (await tools.ok("list_file_comments", file_id=MSA))["entries"]
    assert [c["message"] for c in comments].count("posted once") == 1
