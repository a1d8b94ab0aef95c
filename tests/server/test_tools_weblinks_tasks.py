"""weblinks and tasks toolsets, and create_collaboration with a group, against the in-process emulator."""

from __future__ import annotations

import pytest

from box_mcp.tools.weblinks import url_host

pytestmark = pytest.mark.anyio


async def test_web_link_create_read_rename_move_and_delete(tools, emu) -> None:
    inbox, archive = emu.folder("Contracts/Inbox"), emu.folder("Contracts/Archive")
    made = await tools.ok(
        "create_web_link",
        parent_folder_id=inbox,
        url="https://status.acme.example/page?q=1",
        name="Status page",
        description="uptime",
    )
    assert made["type"] == "web_link" and made["parent"]["id"] == inbox
    assert made["path"] == "/Contracts/Inbox/Status page" and made["url"].endswith("?q=1")
    got = await tools.ok("get_web_link", web_link_id=made["id"])
    assert (got["name"], got["description"], got["created_by"]["login"]) == (
        "Status page",
        "uptime",
        "ada@acme.example",
    )
    changed = await tools.ok(
        "update_web_link", web_link_id=made["id"], url="https://status2.acme.example", name="Status"
    )
    assert (changed["url"], changed["name"]) == ("https://status2.acme.example", "Status")
    moved = await tools.ok("update_web_link", web_link_id=made["id"], parent_folder_id=archive)
    assert moved["parent"]["id"] == archive and moved["path"] == "/Contracts/Archive/Status"
    listed = await tools.ok("list_folder_content_by_folder_id", folder_id=archive)
    assert [(e["type"], e["id"]) for e in listed["entries"] if e["type"] == "web_link"] == [
        ("web_link", made["id"])
    ]
    stale = await tools.err("update_web_link", web_link_id=made["id"], name="x", etag="999")
    assert "412" in stale
    deleted = await tools.ok("delete_web_link", web_link_id=made["id"])
    assert deleted == {"type": "web_link", "id": made["id"], "deleted": True, "note": deleted["note"]}
    assert (await tools.ok("get_web_link", web_link_id=made["id"]))["item_status"] == "trashed"


async def test_a_web_link_without_a_name_is_named_by_its_url(tools, emu) -> None:
    made = await tools.ok(
        "create_web_link", parent_folder_id=emu.folder("Marketing"), url="https://acme.example/launch"
    )
    assert made["name"] == "https://acme.example/launch"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://files.acme.example/x", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("https:///no-host", "name a host"),
        ("https://bank.example@evil.example/login", "user name or password"),
        ("https://acme.example/a b", "spaces or control characters"),
        ("https://acme.example:99999/", "port"),
    ],
)
async def test_a_web_link_url_that_is_not_plain_http_is_refused_before_box_sees_it(
    tools, emu, url: str, why: str
) -> None:
    before = len(emu.requests)
    text = await tools.err("create_web_link", parent_folder_id=emu.folder("Marketing"), url=url)
    assert why in text, text
    assert len(emu.requests) == before


async def test_update_web_link_needs_something_to_change(tools) -> None:
    assert "give at least one of url, name, description, parent_folder_id" in await tools.err(
        "update_web_link", web_link_id="1"
    )


async def test_web_link_errors_come_from_box(tools, emu) -> None:
    assert "404" in await tools.err("get_web_link", web_link_id="999999999")
    assert "404" in await tools.err("create_web_link", parent_folder_id="999999999", url="https://a.example")


def test_the_host_a_policy_compares_is_lower_case_punycode_without_the_trailing_dot() -> None:
    assert url_host("https://Status.ACME.example./x") == "status.acme.example"
    assert url_host("https://bücher.example/") == "xn--bcher-kva.example"


async def test_task_create_assign_resolve_and_delete(tools, emu) -> None:
    nda = emu.file("Contracts/NDA-Initech.pdf")
    task = await tools.ok(
        "create_task",
        file_id=nda,
        action="complete",
        message="Countersign",
        due_at="2030-01-04T17:00:00Z",
        completion_rule="any_assignee",
    )
    assert (task["action"], task["message"], task["is_completed"]) == ("complete", "Countersign", False)
    assert task["due_at"].startswith("2030-01-04") and task["assignments"] == []
    carol = await tools.ok("assign_task", task_id=task["id"], login="carol@acme.example")
    assert carol["assigned_to"]["login"] == "carol@acme.example" and carol["file_id"] == nda
    ada = next(u["id"] for u in emu.credentials["users"] if u["login"] == "ada@acme.example")
    mine = await tools.ok("assign_task", task_id=task["id"], user_id=ada)
    assert mine["resolution_state"] == "incomplete" and mine["assigned_by"]["login"] == "ada@acme.example"
    # only the assignee resolves an assignment; a complete-task cannot be "approved"
    assert "403" in await tools.err(
        "update_task_assignment", assignment_id=carol["id"], resolution_state="completed"
    )
    assert "400" in await tools.err(
        "update_task_assignment", assignment_id=mine["id"], resolution_state="approved"
    )
    done = await tools.ok(
        "update_task_assignment", assignment_id=mine["id"], resolution_state="completed", message="Signed"
    )
    assert done["resolution_state"] == "completed" and done["completed_at"] and done["message"] == "Signed"
    (listed,) = (await tools.ok("list_tasks", file_id=nda))["entries"]
    assert listed["is_completed"] is True  # any_assignee: one done is enough
    assert {(a["assigned_to"], a["resolution_state"]) for a in listed["assignments"]} == {
        ("carol@acme.example", "incomplete"),
        ("ada@acme.example", "completed"),
    }
    assert await tools.ok("delete_task", task_id=task["id"]) == {"task_id": task["id"], "removed": True}
    assert (await tools.ok("list_tasks", file_id=nda))["entries"] == []


async def test_a_task_cannot_go_to_someone_who_cannot_see_the_file(tools, emu) -> None:
    task = await tools.ok("create_task", file_id=emu.file("HR/salaries.csv"), message="Check")
    text = await tools.err("assign_task", task_id=task["id"], login="bob@acme.example")
    assert "task_assignee_not_allowed" in text, text
    assert "give exactly one of user_id, login" in await tools.err("assign_task", task_id=task["id"])


async def test_create_task_refuses_a_due_date_that_is_not_rfc_3339(tools, emu) -> None:
    text = await tools.err("create_task", file_id=emu.file("HR/salaries.csv"), due_at="next friday")
    assert "due_at" in text


async def test_create_collaboration_with_a_group_gives_its_members_the_item(tools, emu) -> None:
    legal = emu.credentials["groups"]["Legal"]
    finance = emu.folder("Finance")
    collab = await tools.ok(
        "create_collaboration", item_type="folder", item_id=finance, role="viewer", group_id=legal
    )
    assert collab["accessible_by"] == {"type": "group", "id": legal, "name": "Legal"}
    assert collab["role"] == "viewer" and collab["status"] == "accepted"
    again = await tools.err(
        "create_collaboration", item_type="folder", item_id=finance, role="editor", group_id=legal
    )
    assert "user_already_collaborator" in again
    text = await tools.err(
        "create_collaboration",
        item_type="folder",
        item_id=finance,
        role="viewer",
        group_id=legal,
        invitee_email="bob@acme.example",
    )
    assert "give exactly one of invitee_email, user_id, group_id" in text
    assert "404" in await tools.err(
        "create_collaboration", item_type="folder", item_id=finance, role="viewer", group_id="999999"
    )
