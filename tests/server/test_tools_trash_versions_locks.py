"""Trash, file version and lock tools against the emulator: each tool's success and its main Box errors."""

from __future__ import annotations

import pytest

from .conftest import Emu, Tools

pytestmark = pytest.mark.anyio


async def test_a_deleted_file_is_listed_read_and_restored_where_it_was(tools: Tools, emu: Emu) -> None:
    notes, engineering = emu.file("Engineering/notes.txt"), emu.folder("Engineering")
    await tools.ok("delete_file", file_id=notes)
    listed = await tools.ok("list_trashed_items")
    assert [(e["id"], e["parent"]["id"]) for e in listed["entries"]] == [(notes, engineering)]
    assert listed["entries"][0]["purge_at"] and "next_cursor" not in listed
    one = await tools.ok("get_trashed_item", item_type="file", item_id=notes)
    assert one["name"] == "notes.txt" and one["parent"]["name"] == "Engineering"
    back = await tools.ok("restore_file_from_trash", file_id=notes)
    assert back["parent"]["id"] == engineering and back["item_status"] == "active"
    assert (await tools.ok("list_trashed_items"))["entries"] == []


async def test_restoring_over_a_taken_name_says_so_and_a_new_name_or_folder_restores_it(
    tools: Tools, emu: Emu
) -> None:
    notes, engineering = emu.file("Engineering/notes.txt"), emu.folder("Engineering")
    await tools.ok("delete_file", file_id=notes)
    await tools.ok("upload_file", parent_folder_id=engineering, name="notes.txt", content_text="new")
    text = await tools.err("restore_file_from_trash", file_id=notes)
    assert "item_name_in_use" in text and "409" in text
    renamed = await tools.ok("restore_file_from_trash", file_id=notes, new_name="notes-old.txt")
    assert renamed["name"] == "notes-old.txt"
    hr = emu.folder("HR")
    await tools.ok("delete_folder", folder_id=hr, recursive=True)
    moved = await tools.ok(
        "restore_folder_from_trash", folder_id=hr, parent_folder_id=engineering, new_name="People"
    )
    assert moved["name"] == "People" and moved["parent"]["id"] == engineering
    assert (await tools.ok("get_folder_details", folder_id=hr))["item_count"] >= 1  # its items came back


async def test_a_live_item_is_not_in_the_trash_and_a_purged_one_is_gone(tools: Tools, emu: Emu) -> None:
    readme = emu.file("Engineering/README.md")
    assert "not_trashed" in await tools.err("restore_file_from_trash", file_id=readme)
    await tools.ok("delete_file", file_id=readme)
    purged = await tools.ok("purge_trashed_item", item_type="file", item_id=readme)
    assert purged == {"type": "file", "id": readme, "purged": True, "note": purged["note"]}
    assert "404" in await tools.err("get_trashed_item", item_type="file", item_id=readme)


async def test_a_version_is_deleted_restored_and_promoted_back_to_current(tools: Tools, emu: Emu) -> None:
    notes = emu.file("Engineering/notes.txt")
    first = (await tools.ok("get_file_content", file_id=notes))["content"]
    await tools.ok("upload_file_version", file_id=notes, content_text="second thoughts")
    (old,) = (await tools.ok("list_file_versions", file_id=notes))["versions"]
    deleted = await tools.ok("delete_file_version", file_id=notes, version_id=old["id"])
    assert deleted["deleted"] is True
    (trashed,) = (await tools.ok("list_file_versions", file_id=notes))["versions"]
    assert trashed["trashed_at"]
    restored = await tools.ok("restore_file_version", file_id=notes, version_id=old["id"])
    assert restored["version"]["id"] == old["id"] and "trashed_at" not in restored["version"]
    promoted = await tools.ok("promote_file_version", file_id=notes, version_id=old["id"])
    assert promoted["version"]["id"] != old["id"] and promoted["version"]["sha1"] == old["sha1"]
    assert (await tools.ok("get_file_content", file_id=notes))["content"] == first
    assert "404" in await tools.err("restore_file_version", file_id=notes, version_id="999999999")


async def test_a_file_lock_is_set_with_its_options_and_removed(tools: Tools, emu: Emu) -> None:
    msa = emu.file("Contracts/MSA-Globex.pdf")
    locked = await tools.ok(
        "lock_file", file_id=msa, is_download_prevented=True, expires_at="2099-01-01T00:00:00Z"
    )
    lock = locked["lock"]
    assert lock["is_download_prevented"] is True and lock["expires_at"].startswith("2099-01-01")
    assert lock["created_by"]["login"] == "ada@acme.example"
    assert "lock" not in await tools.ok("unlock_file", file_id=msa)
    assert "in the future" in await tools.err("lock_file", file_id=msa, expires_at="2000-01-01T00:00:00Z")


async def test_a_folder_lock_freezes_the_folder_until_unlock_folder(tools: Tools, emu: Emu) -> None:
    inbox, finance = emu.folder("Contracts/Inbox"), emu.folder("Finance")
    lock = await tools.ok("lock_folder", folder_id=inbox)
    assert lock["folder_id"] == inbox and lock["locks_move"] and lock["locks_delete"]
    assert [x["id"] for x in (await tools.ok("list_folder_locks", folder_id=inbox))["locks"]] == [lock["id"]]
    text = await tools.err("move_folder", folder_id=inbox, destination_folder_id=finance)
    assert "access_denied_item_locked" in text
    assert "has no lock 999999999" in await tools.err(
        "unlock_folder", folder_id=inbox, folder_lock_id="999999999"
    )
    assert (await tools.ok("unlock_folder", folder_id=inbox))["removed"] == [lock["id"]]
    assert (await tools.ok("move_folder", folder_id=inbox, destination_folder_id=finance))["parent"][
        "id"
    ] == finance
