"""sharing, metadata, comments and tasks toolsets against the emulator, as its families land."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio

FILE = "/2.0/files/{file_id:boxid}"
FOLDER = "/2.0/folders/{folder_id:boxid}"
COLLABS = "/2.0/collaborations"


async def test_add_file_shared_link_then_get_then_remove(tools, emu) -> None:
    file_id = emu.file("Finance/q3-report.md")
    made = await tools.ok("add_file_shared_link", file_id=file_id, access="company")
    assert made["shared_link"]["access"] == "company" and made["shared_link"]["url"]
    got = await tools.ok("get_shared_link", item_type="file", item_id=file_id)
    assert got["shared_link"]["url"] == made["shared_link"]["url"]
    removed = await tools.ok("remove_shared_link", item_type="file", item_id=file_id)
    assert "shared_link" not in removed


async def test_add_folder_shared_link_on_a_missing_folder_is_not_found(tools, emu) -> None:
    assert "404" in await tools.err("add_folder_shared_link", folder_id="999999999", access="open")


async def test_add_folder_shared_link_sets_the_requested_access(tools, emu) -> None:
    made = await tools.ok("add_folder_shared_link", folder_id=emu.folder("Marketing"), access="collaborators")
    assert made["shared_link"]["access"] == "collaborators"


async def test_get_shared_link_of_a_seeded_link(tools, emu) -> None:
    got = await tools.ok("get_shared_link", item_type="file", item_id=emu.file("Engineering/README.md"))
    assert got["shared_link"]["access"] == "company"


async def test_collaboration_lifecycle_create_list_update_delete(tools, emu) -> None:
    folder_id = emu.folder("Finance")
    collab = await tools.ok(
        "create_collaboration",
        item_type="folder",
        item_id=folder_id,
        role="viewer",
        invitee_email="bob@acme.example",
    )
    assert collab["role"] == "viewer" and collab["item_id"] == folder_id
    again = await tools.err(
        "create_collaboration",
        item_type="folder",
        item_id=folder_id,
        role="editor",
        invitee_email="bob@acme.example",
    )
    assert again.startswith(
        "Box said 400 user_already_collaborator: User is already a collaborator (request id "
    ), again
    listed = await tools.ok("list_item_collaborations", item_type="folder", item_id=folder_id)
    assert collab["id"] in [c["id"] for c in listed["entries"]]
    updated = await tools.ok("update_collaboration", collaboration_id=collab["id"], role="editor")
    assert updated["role"] == "editor"
    removed = await tools.ok("delete_collaboration", collaboration_id=collab["id"])
    assert removed["removed"] is True
    assert "404" in await tools.err("delete_collaboration", collaboration_id=collab["id"])


async def test_list_item_collaborations_shows_the_seeded_collaborator(tools, emu) -> None:
    listed = await tools.ok("list_item_collaborations", item_type="folder", item_id=emu.folder("Contracts"))
    assert "carol@acme.example" in [c["accessible_by"]["login"] for c in listed["entries"]]


async def test_list_metadata_templates_shows_the_contract_template(tools, emu) -> None:
    templates = await tools.ok("list_metadata_templates")
    contract = next(t for t in templates["entries"] if t["template_key"] == "contract")
    assert {f["key"] for f in contract["fields"]} >= {"counterparty", "value"}


async def test_get_file_metadata_reads_the_seeded_contract_values(tools, emu) -> None:
    meta = await tools.ok("get_file_metadata", file_id=emu.file("Contracts/MSA-Globex.pdf"))
    values = next(i["values"] for i in meta["instances"] if i["template_key"] == "contract")
    assert values["counterparty"] == "Globex Corporation"


async def test_set_file_metadata_creates_then_updates_the_instance(tools, emu) -> None:
    file_id = emu.file("Contracts/Inbox/SOW-Umbrella-draft.pdf")
    made = await tools.ok(
        "set_file_metadata", file_id=file_id, template_key="contract", values={"counterparty": "Umbrella"}
    )
    assert made["values"]["counterparty"] == "Umbrella"
    again = await tools.ok(
        "set_file_metadata",
        file_id=file_id,
        template_key="contract",
        values={"counterparty": "Umbrella Corp"},
    )
    assert again["values"]["counterparty"] == "Umbrella Corp"


async def test_set_folder_metadata_with_an_unknown_template_is_a_box_error(tools, emu) -> None:
    text = await tools.err(
        "set_folder_metadata", folder_id=emu.folder("Contracts"), template_key="nope", values={"a": "b"}
    )
    assert text.startswith("Box said 404 instance_tuple_not_found: Template not found (request id "), text


async def test_comments_create_then_list(tools, emu) -> None:
    file_id = emu.file("Engineering/design.md")
    made = await tools.ok("create_file_comment", file_id=file_id, message="Looks good")
    listed = await tools.ok("list_file_comments", file_id=file_id)
    assert made["id"] in [c["id"] for c in listed["entries"]]
    assert "404" in await tools.err("create_file_comment", file_id="999999999", message="x")


async def test_list_tasks_on_a_file_and_on_a_missing_one(tools, emu) -> None:
    listed = await tools.ok("list_tasks", file_id=emu.file("Contracts/MSA-Globex.pdf"))
    assert isinstance(listed["entries"], list)
    assert "404" in await tools.err("list_tasks", file_id="999999999")
