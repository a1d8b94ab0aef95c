"""files toolset against the emulator: each tool's success and its main Box errors."""

from __future__ import annotations

import base64

import pytest

pytestmark = pytest.mark.anyio


async def test_who_am_i_names_the_brokered_user(tools, emu) -> None:
    me = await tools.ok("who_am_i")
    assert me["login"] == "ada@acme.example" and me["role"] == "admin"


async def test_get_file_details_returns_path_parent_and_etag(tools, emu) -> None:
    details = await tools.ok("get_file_details", file_id=emu.file("Engineering/README.md"))
    assert details["name"] == "README.md"
    assert details["path"] == "/Engineering/README.md"
    assert details["parent"]["id"] == emu.folder("Engineering")
    assert details["etag"] is not None and len(details["sha1"]) == 40


async def test_get_file_details_of_a_missing_file_says_not_found_with_the_fix(tools, emu) -> None:
    text = await tools.err("get_file_details", file_id="999999999")
    assert "not_found" in text and "404" in text


async def test_get_file_content_returns_text_for_text_files(tools, emu) -> None:
    content = await tools.ok("get_file_content", file_id=emu.file("Engineering/README.md"))
    assert content["kind"] == "text" and "Engineering" in content["content"]


async def test_get_file_content_sends_binaries_as_an_embedded_resource(tools, emu) -> None:
    result = await tools.client.call_tool(
        "get_file_content", {"file_id": emu.file("Marketing/launch-plan.docx")}
    )
    assert not result.is_error
    assert result.structured_content["kind"] == "binary"
    blobs = [b for b in result.content if getattr(b, "type", "") == "resource"]
    assert blobs and base64.b64decode(blobs[0].resource.blob)


async def test_get_file_content_refuses_large_files_and_points_to_download_file(tools, emu) -> None:
    big = "x" * (1_048_576 + 10)
    made = await tools.ok("upload_file", parent_folder_id="0", name="big.txt", content_text=big)
    text = await tools.err("get_file_content", file_id=made["id"])
    assert "download_file" in text and "file_id" in text


async def test_upload_file_from_text_then_the_name_is_taken(tools, emu) -> None:
    made = await tools.ok(
        "upload_file", parent_folder_id=emu.folder("HR/Sandbox"), name="notes.md", content_text="# hi\n"
    )
    assert (
        made["name"] == "notes.md" and made["size"] == 5 and made["parent"]["id"] == emu.folder("HR/Sandbox")
    )
    text = await tools.err(
        "upload_file", parent_folder_id=emu.folder("HR/Sandbox"), name="notes.md", content_text="again"
    )
    assert "item_name_in_use" in text


async def test_upload_file_from_base64_stores_the_exact_bytes(tools, emu) -> None:
    raw = bytes(range(256))
    made = await tools.ok(
        "upload_file", parent_folder_id="0", name="bytes.bin", content_base64=base64.b64encode(raw).decode()
    )
    assert made["size"] == 256


async def test_upload_file_into_a_missing_folder_is_a_box_error(tools, emu) -> None:
    text = await tools.err("upload_file", parent_folder_id="999999", name="a.txt", content_text="x")
    assert text.startswith("Box said 404 not_found: Not Found (request id "), text


async def test_upload_file_version_replaces_content_and_a_stale_etag_is_refused(tools, emu) -> None:
    file_id = emu.file("Engineering/notes.txt")
    before = await tools.ok("get_file_details", file_id=file_id)
    after = await tools.ok("upload_file_version", file_id=file_id, content_text="v2", etag=before["etag"])
    assert after["sha1"] != before["sha1"] and after["size"] == 2
    text = await tools.err("upload_file_version", file_id=file_id, content_text="v3", etag=before["etag"])
    assert text.startswith(
        "Box said 412 precondition_failed: "
        "The resource has been modified. Please retrieve the resource again and retry (request id "
    ), text


async def test_update_file_properties_renames_and_describes(tools, emu) -> None:
    file_id = emu.file("Engineering/design.md")
    updated = await tools.ok(
        "update_file_properties", file_id=file_id, name="design-v2.md", description="draft"
    )
    assert updated["name"] == "design-v2.md" and updated["description"] == "draft"


async def test_update_file_properties_into_a_taken_name_is_item_name_in_use(tools, emu) -> None:
    text = await tools.err(
        "update_file_properties", file_id=emu.file("Engineering/design.md"), name="notes.txt"
    )
    assert "item_name_in_use" in text


async def test_move_file_changes_the_parent(tools, emu, request) -> None:
    moved = await tools.ok(
        "move_file",
        file_id=emu.file("Contracts/Inbox/SOW-Umbrella-draft.pdf"),
        destination_folder_id=emu.folder("Contracts/Archive"),
    )
    assert moved["parent"]["id"] == emu.folder("Contracts/Archive")


async def test_move_file_to_a_missing_folder_fails(tools, emu) -> None:
    text = await tools.err(
        "move_file", file_id=emu.file("Engineering/notes.txt"), destination_folder_id="98765"
    )
    assert text.startswith("Box said 404 not_found: The destination folder was not found (request id "), text


async def test_delete_file_trashes_it_and_it_is_then_gone(tools, emu) -> None:
    file_id = emu.file("Engineering/notes.txt")
    gone = await tools.ok("delete_file", file_id=file_id)
    assert gone["deleted"] is True and "trash" in gone["note"]
    text = await tools.err("get_file_details", file_id=file_id)
    assert "404" in text


async def test_copy_file_makes_a_new_file_and_a_name_clash_is_refused(tools, emu) -> None:
    copy = await tools.ok(
        "copy_file", file_id=emu.file("Engineering/README.md"), destination_folder_id=emu.folder("Marketing")
    )
    assert copy["id"] != emu.file("Engineering/README.md") and copy["parent"]["id"] == emu.folder("Marketing")
    text = await tools.err(
        "copy_file", file_id=emu.file("Engineering/README.md"), destination_folder_id=emu.folder("Marketing")
    )
    assert "item_name_in_use" in text


async def test_list_file_versions_shows_the_previous_version(tools, emu) -> None:
    file_id = emu.file("Engineering/notes.txt")
    await tools.ok("upload_file_version", file_id=file_id, content_text="v2")
    versions = await tools.ok("list_file_versions", file_id=file_id)
    assert len(versions["versions"]) >= 1
    assert "404" in await tools.err("list_file_versions", file_id="999999999")


async def test_download_file_writes_the_file_inside_an_allowed_dir(stdio_tools, emu, allowed_dir) -> None:
    got = await stdio_tools.ok(
        "download_file", file_id=emu.file("Engineering/README.md"), local_path=str(allowed_dir)
    )
    written = allowed_dir / "README.md"
    assert got["path"] == str(written) and written.read_bytes().startswith(b"# Engineering")
    text = await stdio_tools.err(
        "download_file", file_id=emu.file("Engineering/README.md"), local_path=str(allowed_dir)
    )
    assert "overwrite" in text
    again = await stdio_tools.ok(
        "download_file", file_id=emu.file("Engineering/README.md"), local_path=str(written), overwrite=True
    )
    assert again["size"] == written.stat().st_size


async def test_download_file_says_when_the_local_file_system_refuses_the_name(
    stdio_tools, emu, allowed_dir
) -> None:
    # 100 CJK characters are a fine Box name but 300 bytes: over the 255 a local file name may have.
    long_name = "文" * 100 + ".txt"
    made = await stdio_tools.ok("upload_file", parent_folder_id="0", name=long_name, content_text="hi")
    text = await stdio_tools.err("download_file", file_id=made["id"], local_path=str(allowed_dir))
    assert "Internal error" not in text and "local_path" in text and "File name too long" in text
    assert list(allowed_dir.iterdir()) == []


async def test_download_file_refuses_paths_outside_the_allowed_dirs(stdio_tools, emu, allowed_dir) -> None:
    requests_before = len(emu.requests)
    for path in (str(allowed_dir / ".." / "escape.md"), "/etc/passwd", "relative.md"):
        text = await stdio_tools.err(
            "download_file", file_id=emu.file("Engineering/README.md"), local_path=path
        )
        assert "local_path" in text
    assert len(emu.requests) == requests_before


async def test_download_file_refuses_a_symlink_that_leads_outside(
    stdio_tools, emu, allowed_dir, tmp_path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (allowed_dir / "link").symlink_to(outside, target_is_directory=True)
    text = await stdio_tools.err(
        "download_file",
        file_id=emu.file("Engineering/README.md"),
        local_path=str(allowed_dir / "link" / "x.md"),
    )
    assert "outside the allowed directories" in text
    assert not (outside / "x.md").exists()


async def test_upload_file_from_a_local_path_reports_progress(emu, allowed_dir, stdio_server) -> None:
    from mcp.client import Client

    source = allowed_dir / "report.csv"
    source.write_text("a,b\n1,2\n")
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    async with Client(stdio_server) as client:
        result = await client.call_tool(
            "upload_file",
            {"parent_folder_id": "0", "name": "report.csv", "local_path": str(source)},
            progress_callback=on_progress,
        )
    assert not result.is_error, result.content[0].text
    assert result.structured_content["size"] == source.stat().st_size
    assert seen and seen[-1][0] == seen[-1][1] == source.stat().st_size


async def test_download_file_is_refused_outside_stdio(tools, emu) -> None:
    text = await tools.err("download_file", file_id=emu.file("Engineering/README.md"), local_path="/srv/x")
    assert "stdio" in text


@pytest.mark.slow
async def test_a_large_local_upload_goes_up_in_chunks_with_progress(emu, allowed_dir) -> None:
    import httpx2
    from mcp.client import Client

    from box_mcp.box.client import BoxClient, StaticToken
    from box_mcp.config import Settings
    from box_mcp.server import build_server

    size = 21 * 1024 * 1024  # Box's chunked-upload minimum is 20 MB
    source = allowed_dir / "big.bin"
    with source.open("wb") as fh:
        for i in range(21):
            fh.write(bytes([i]) * (1024 * 1024))
    box = BoxClient(
        token_source=StaticToken(emu.token()),
        base_url="http://emulator",
        transport=httpx2.ASGITransport(app=emu.app),
        chunked_threshold=20 * 1024 * 1024,
    )
    server = build_server(
        Settings.load(env={}, allowed_dirs=(allowed_dir,)), box_client=box, transport="stdio"
    )
    seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(progress)

    try:
        async with Client(server) as client:
            result = await client.call_tool(
                "upload_file",
                {"parent_folder_id": "0", "name": "big.bin", "local_path": str(source)},
                progress_callback=on_progress,
            )
    finally:
        await box.aclose()
    assert not result.is_error, result.content[0].text
    assert result.structured_content["size"] == size
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] == size
