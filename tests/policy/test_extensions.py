"""One rule for a file's extension (box_mcp.access.extension_of), the same on upload, copy and move: what
follows the last dot as os.path.splitext reads it, so a dotfile such as ".pdf" has none and "x.p-df" has
"p-df". Through the real gate on the emulator's demo seed, under default.yaml's "only pdf in Inbox"."""

from __future__ import annotations

import os.path
from pathlib import Path

import pytest

from box_mcp.access import CallFacts, extension_of
from box_mcp.box.upload import upload_file
from box_mcp.policy.conditions import extension_fact

DEFAULT = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
NAMES = {
    "report.PDF": "pdf",
    "a.tar.gz": "gz",
    "x.p-df": "p-df",
    "run": "",
    "run.exe.": "",
    ".pdf": "",
    "..pdf": "",
    "a..pdf": "pdf",
    ".env.local": "local",
}


@pytest.mark.parametrize(("name", "ext"), NAMES.items())
def test_an_extension_is_what_splitext_reads_after_the_last_dot(name: str, ext: str) -> None:
    assert extension_of(name) == ext == os.path.splitext(name)[1][1:].lower()


def test_no_name_has_no_extension_and_conditions_read_the_same_rule() -> None:
    assert extension_of(None) is None and extension_of("") is None
    assert extension_fact(CallFacts(name=".pdf", size_bytes=3)) == ""
    assert extension_fact(CallFacts(name="x.p-df", size_bytes=3)) == "p-df"
    assert extension_fact(CallFacts(name="folder.pdf")) is None  # not a file's content


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "said"), [(".pdf", "no extension"), ("x.p-df", "extension 'p-df'")])
async def test_upload_and_copy_read_one_extension(make_world, connect, name: str, said: str) -> None:
    w = make_world(DEFAULT)
    bot = await connect(w, "contracts-bot")
    inbox, contracts = w.folder("Contracts/Inbox"), w.folder("Contracts")
    refused = f"allows only file extensions pdf, not {said}"
    uploaded = await bot.err("upload_file", parent_folder_id=inbox, name=name, content_text="%PDF-1.4")
    assert refused in uploaded
    # The same name, already in Box (readable by the bot): copied into Inbox keeping its name.
    source = await upload_file(w.box, parent_id=contracts, name=name, source=b"%PDF-1.4")
    source_id = str(source["id"])
    copied = await bot.err("copy_file", file_id=source_id, destination_folder_id=inbox)
    assert refused in copied
    fine = await bot.ok("copy_file", file_id=source_id, destination_folder_id=inbox, new_name="ok.pdf")
    assert fine["name"] == "ok.pdf"


NO_EXE = (
    "agents: {bot: {}}\nrules:\n"
    "  - {id: work, effect: permit, agents: bot, access: write}\n"
    "  - {id: no-exe, effect: forbid, agents: bot, when: {file_extensions: [exe]}}\n"
)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("tool", "into"), [("move_file", "destination_folder_id"), ("update_file_properties", "parent_folder_id")]
)
async def test_a_move_keeps_the_name_so_extension_rules_refuse_it_by_either_tool(
    make_world, connect, tmp_path: Path, tool: str, into: str
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(NO_EXE)
    w = make_world(policy)
    bot = await connect(w, "bot")
    exe = await upload_file(w.box, parent_id=w.folder("Contracts"), name="x.exe", source=b"MZ")
    text = await bot.err(tool, file_id=str(exe["id"]), **{into: w.folder("Contracts/Inbox")})
    assert "rule 'no-exe' forbids" in text and "extension 'exe'" in text, text
    assert f"{tool} changes file {exe['id']} with extension 'exe'" in text, text
    # Unmoved in Box, and a file the rule does not match moves the same way.
    details = await bot.ok("get_file_details", file_id=str(exe["id"]))
    assert details["parent"]["id"] == w.folder("Contracts")
    fine = await upload_file(w.box, parent_id=w.folder("Contracts"), name="x.pdf", source=b"%PDF-1.4")
    moved = await bot.ok(tool, file_id=str(fine["id"]), **{into: w.folder("Contracts/Inbox")})
    assert moved["parent"]["id"] == w.folder("Contracts/Inbox")


@pytest.mark.anyio
async def test_a_rename_to_an_exe_is_refused_and_so_is_a_rename_with_a_move(
    make_world, connect, tmp_path: Path
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(NO_EXE)
    w = make_world(policy)
    bot = await connect(w, "bot")
    pdf = str((await upload_file(w.box, parent_id=w.folder("Contracts"), name="y.pdf", source=b"%PDF"))["id"])
    for args in ({"name": "x.exe"}, {"name": "x.exe", "parent_folder_id": w.folder("Contracts/Inbox")}):
        text = await bot.err("update_file_properties", file_id=pdf, **args)
        assert "rule 'no-exe' forbids" in text and "extension 'exe'" in text, (args, text)
