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
    "report.PDF": "pdf", "a.tar.gz": "gz", "x.p-df": "p-df", "run": "", "run.exe.": "", ".pdf": "",
    "..pdf": "", "a..pdf": "pdf", ".env.local": "local",
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
