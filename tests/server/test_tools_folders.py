"""folders and search toolsets against the emulator: each tool's success and its main Box errors."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio

FOLDER = "/2.0/folders/{folder_id:boxid}"


async def test_get_folder_details_reports_path_and_item_count(tools, emu) -> None:
    details = await tools.ok("get_folder_details", folder_id=emu.folder("Contracts"))
    assert details["name"] == "Contracts" and details["path"] == "/Contracts"
    assert details["item_count"] >= 2


async def test_get_folder_details_of_a_missing_folder_is_not_found(tools, emu) -> None:
    assert "404" in await tools.err("get_folder_details", folder_id="999999999")


async def test_list_folder_content_pages_with_a_cursor_until_the_end(tools, emu) -> None:
    first = await tools.ok("list_folder_content_by_folder_id", folder_id="0", limit=2)
    assert len(first["entries"]) == 2 and first["entries"][0]["type"] == "folder"
    assert first.get("next_cursor")
    seen = [e["id"] for e in first["entries"]]
    cursor = first["next_cursor"]
    for _ in range(10):  # bounded: the demo root holds a handful of folders
        page = await tools.ok("list_folder_content_by_folder_id", folder_id="0", limit=2, cursor=cursor)
        seen += [e["id"] for e in page["entries"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert cursor is None
    assert len(seen) == len(set(seen))
    assert emu.folder("Marketing") in seen


async def test_list_folder_content_of_a_missing_folder_is_not_found(tools, emu) -> None:
    assert "404" in await tools.err("list_folder_content_by_folder_id", folder_id="999999999")


async def test_create_folder_then_the_same_name_is_item_name_in_use(tools, emu) -> None:
    made = await tools.ok("create_folder", parent_folder_id=emu.folder("HR/Sandbox"), name="Drafts")
    assert made["parent"]["id"] == emu.folder("HR/Sandbox") and made["path"] == "/HR/Sandbox/Drafts"
    text = await tools.err("create_folder", parent_folder_id=emu.folder("HR/Sandbox"), name="Drafts")
    assert "item_name_in_use" in text and made["id"] in text


async def test_update_folder_properties_renames_and_a_stale_etag_is_refused(tools, emu) -> None:
    folder_id = emu.folder("Marketing")
    before = await tools.ok("get_folder_details", folder_id=folder_id)
    after = await tools.ok("update_folder_properties", folder_id=folder_id, name="Brand", etag=before["etag"])
    assert after["name"] == "Brand"
    text = await tools.err(
        "update_folder_properties", folder_id=folder_id, description="x", etag=before["etag"]
    )
    assert text.startswith(
        "Box said 412 precondition_failed: "
        "The resource has been modified. Please retrieve the resource again and retry (request id "
    ), text


async def test_move_folder_into_its_own_subfolder_is_refused(tools, emu) -> None:
    text = await tools.err(
        "move_folder",
        folder_id=emu.folder("Contracts"),
        destination_folder_id=emu.folder("Contracts/Archive"),
    )
    assert text.startswith(
        "Box said 400 cyclical_folder_structure: Folder move creates cyclical folder structure (request id "
    ), text


async def test_move_folder_changes_the_parent(tools, emu) -> None:
    moved = await tools.ok(
        "move_folder", folder_id=emu.folder("HR/Sandbox"), destination_folder_id=emu.folder("Engineering")
    )
    assert moved["parent"]["id"] == emu.folder("Engineering")


async def test_copy_folder_copies_and_a_name_clash_is_refused(tools, emu) -> None:
    copy = await tools.ok(
        "copy_folder", folder_id=emu.folder("Engineering"), destination_folder_id=emu.folder("HR")
    )
    assert copy["id"] != emu.folder("Engineering") and copy["parent"]["id"] == emu.folder("HR")
    text = await tools.err(
        "copy_folder", folder_id=emu.folder("Engineering"), destination_folder_id=emu.folder("HR")
    )
    assert "item_name_in_use" in text


async def test_delete_folder_needs_recursive_when_not_empty(tools, emu) -> None:
    text = await tools.err("delete_folder", folder_id=emu.folder("Engineering"))
    assert "folder_not_empty" in text
    gone = await tools.ok("delete_folder", folder_id=emu.folder("Engineering"), recursive=True)
    assert gone["deleted"] is True
    assert "404" in await tools.err("get_folder_details", folder_id=emu.folder("Engineering"))


async def test_search_files_keyword_finds_a_seeded_file_and_honours_ancestors(tools, emu) -> None:
    found = await tools.ok("search_files_keyword", query="budget")
    assert emu.file("Finance/budget-2026.csv") in [hit["id"] for hit in found["entries"]]
    scoped = await tools.ok("search_files_keyword", query="budget", ancestor_folder_ids=[emu.folder("HR")])
    assert emu.file("Finance/budget-2026.csv") not in [hit["id"] for hit in scoped["entries"]]


async def test_search_files_keyword_filters_by_extension(tools, emu) -> None:
    found = await tools.ok("search_files_keyword", query="Globex", file_extensions=["pdf"])
    assert found["entries"] and all(hit["name"].endswith(".pdf") for hit in found["entries"])


async def test_search_folders_by_name_returns_folders_only(tools, emu) -> None:
    found = await tools.ok("search_folders_by_name", query="Sandbox")
    assert [hit["id"] for hit in found["entries"]] == [emu.folder("HR/Sandbox")]
    assert found["entries"][0]["ancestor_ids"][-1] == emu.folder("HR")
