"""The URL and preview tools under the policy, through the real gate and the in-process emulator: a download
URL or a preview is a read of the file; an upload URL is a write into the folder (a new file, where name,
extension and size rules apply as they do to upload_file) or on the file (a new version)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.anyio

FINANCE, HR, ENGINEERING = "200000000004", "200000000005", "200000000007"


def _policy(tmp_path: Path, *rules: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text("agents:\n  boxed: {}\nrules:\n" + "".join(f"  - {r}\n" for r in rules))
    return path


async def test_download_urls_and_previews_are_reads_of_the_file(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path, f"{{id: eng, effect: permit, agents: boxed, access: read, within: ['{ENGINEERING}']}}"
        )
    )
    agent = await connect(world, "boxed")
    design, report = world.file("Engineering/design.md"), world.file("Finance/q3-report.md")
    assert (await agent.ok("get_download_url", file_id=design))["file_id"] == design
    assert (await agent.ok("get_file_preview", file_id=design))["page"] == 1
    assert (await agent.ok("get_preview_page", file_id=design, page=1))["page_count"] == 1
    for tool, args in (
        ("get_download_url", {}),
        ("get_file_preview", {}),
        ("get_preview_page", {"page": 1}),
    ):
        denied = await agent.err(tool, file_id=report, **args)
        assert denied.startswith("Denied"), (tool, denied)
    # read access grants no upload URL, for a new file or a new version
    assert "Denied" in await agent.err("get_upload_url", folder_id=ENGINEERING, file_name="x.bin", size=1)
    assert "Denied" in await agent.err("get_upload_url", file_id=design, size=1)


async def test_an_upload_url_is_a_write_on_its_folder_or_file(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: fin, effect: permit, agents: boxed, access: write, within: ['{FINANCE}']}}",
            f"{{id: eng, effect: permit, agents: boxed, access: read, within: ['{ENGINEERING}']}}",
        )
    )
    agent = await connect(world, "boxed")
    made = await agent.ok("get_upload_url", folder_id=FINANCE, file_name="ledger.bin", size=10)
    assert made["kind"] == "new_file" and made["folder_id"] == FINANCE
    version = await agent.ok("get_upload_url", file_id=world.file("Finance/q3-report.md"), size=1)
    assert version["kind"] == "new_version"
    assert "Denied" in await agent.err("get_upload_url", folder_id=ENGINEERING, file_name="x.bin", size=1)
    assert "Denied" in await agent.err("get_upload_url", file_id=world.file("Engineering/design.md"), size=1)
    assert "Denied" in await agent.err("get_upload_url", folder_id=HR, file_name="x.bin", size=1)


async def test_upload_url_name_extension_and_size_rules_apply_as_to_upload_file(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: fin, effect: permit, agents: boxed, access: write, within: ['{FINANCE}']}}",
            "{id: pdf-only, effect: forbid, agents: boxed, tools: [upload_file, get_upload_url], "
            "unless: {file_extensions: [pdf]}}",
            "{id: small, effect: forbid, agents: boxed, tools: [get_upload_url], "
            "unless: {max_upload_bytes: 1 MB}}",
        )
    )
    agent = await connect(world, "boxed")
    assert (await agent.ok("get_upload_url", folder_id=FINANCE, file_name="scan.pdf", size=1000))[
        "size"
    ] == 1000
    exe = await agent.err("get_upload_url", folder_id=FINANCE, file_name="tool.exe", size=1)
    assert exe.startswith("Denied") and "rule 'pdf-only'" in exe and "'tool.exe'" in exe, exe
    assert "Denied" in await agent.err(
        "upload_file", parent_folder_id=FINANCE, name="t.exe", content_text="x"
    )
    big = await agent.err("get_upload_url", folder_id=FINANCE, file_name="big.pdf", size=5 * 1024 * 1024)
    assert big.startswith("Denied") and "rule 'small'" in big and "5,242,880 bytes" in big, big


async def test_bad_upload_url_arguments_are_refused_before_box(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(tmp_path, f"{{id: fin, effect: permit, agents: boxed, access: write, within: ['{FINANCE}']}}")
    )
    agent = await connect(world, "boxed")
    sent = len(world.requests)
    both = await agent.err(
        "get_upload_url", folder_id=FINANCE, file_id=world.file("Finance/q3-report.md"), size=1
    )
    assert "folder_id" in both and "file_id" in both
    assert "file_name" in await agent.err("get_upload_url", folder_id=FINANCE, size=1)
    assert len(world.requests) == sent
