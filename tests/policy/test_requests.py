"""What the policy asks Box for, through the real gate on the emulator's demo seed: one GET per item gives
both its place and its name, a name is only asked when a rule tests names, and what box-mcp just created
or moved is placed without asking. A stale place never outlives box-mcp's own change to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from box_mcp.box.upload import upload_file

pytestmark = pytest.mark.anyio

CONTRACTS, INBOX, ARCHIVE = "200000000001", "200000000002", "200000000003"
NO_EXE = "  - {id: no-exe, effect: forbid, agents: bot, when: {file_extensions: [exe]}}\n"


def _policy(tmp_path: Path, grant: str, *more: str) -> Path:
    policy = tmp_path / "p.yaml"
    work = f"  - {{id: work, effect: permit, agents: bot, access: admin{grant}}}\n"
    policy.write_text("agents: {bot: {}}\nrules:\n" + work + "".join(more))
    return policy


def _sent(w: Any) -> list[str]:
    out = [f"{r.method} {r.url.path}" for r in w.requests]
    w.requests.clear()
    return out


async def _unseen(w: Any, name: str) -> str:
    """A file someone else put in Contracts/Archive: box-mcp has never looked it up."""
    made = await upload_file(w.box, parent_id=ARCHIVE, name=name, source=b"made elsewhere")
    w.requests.clear()
    return str(made["id"])


@pytest.mark.parametrize(
    ("tool", "into"), [("move_file", "destination_folder_id"), ("update_file_properties", "parent_folder_id")]
)
async def test_a_confined_move_under_a_name_rule_asks_box_once_for_the_file_then_moves_it(
    make_world, connect, tmp_path: Path, tool: str, into: str
) -> None:
    w = make_world(_policy(tmp_path, f", within: ['{CONTRACTS}']", NO_EXE))
    bot = await connect(w, "bot")
    await bot.ok("get_folder_details", folder_id=INBOX)  # the destination is known
    unseen = await _unseen(w, "deal.pdf")
    await bot.ok(tool, file_id=unseen, **{into: INBOX})
    # Where it sits and its name (the no-exe rule tests it) come from the one GET.
    assert _sent(w) == [f"GET /2.0/files/{unseen}", f"PUT /2.0/files/{unseen}"]


async def test_an_unconfined_agent_asks_for_a_name_only_when_a_rule_tests_names(
    make_world, connect, tmp_path: Path
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "agents: {plain: {}, named: {}}\nrules:\n"
        "  - {id: all, effect: permit, agents: [plain, named], access: write}\n"
        "  - {id: no-exe, effect: forbid, agents: named, when: {file_extensions: [exe]}}\n"
    )
    w = make_world(policy)
    plain, named = await connect(w, "plain"), await connect(w, "named")
    unseen = await _unseen(w, "plain.pdf")
    await plain.ok("copy_file", file_id=unseen, destination_folder_id=INBOX)
    assert _sent(w) == [f"POST /2.0/files/{unseen}/copy"]  # no rule cares where it sits or its name
    await named.ok("copy_file", file_id=unseen, destination_folder_id=CONTRACTS)
    assert _sent(w) == [f"GET /2.0/files/{unseen}", f"POST /2.0/files/{unseen}/copy"]
    exe = await _unseen(w, "tool.exe")
    text = await named.err("copy_file", file_id=exe, destination_folder_id=INBOX)
    assert "rule 'no-exe' forbids" in text and _sent(w) == [f"GET /2.0/files/{exe}"]


async def test_what_box_mcp_just_uploaded_or_created_is_placed_without_asking_box(
    make_world, connect, tmp_path: Path
) -> None:
    w = make_world(_policy(tmp_path, f", within: ['{CONTRACTS}']", NO_EXE))
    bot = await connect(w, "bot")
    await bot.ok("get_folder_details", folder_id=INBOX)
    await bot.ok("get_folder_details", folder_id=ARCHIVE)
    _sent(w)
    made = await bot.ok("upload_file", parent_folder_id=INBOX, name="new.pdf", content_text="%PDF-1.4")
    sub = await bot.ok("create_folder", parent_folder_id=INBOX, name="sub")
    assert [r.split()[0] for r in _sent(w)] == ["POST", "POST"]  # the upload and the create, nothing else
    await bot.ok("move_file", file_id=made["id"], destination_folder_id=ARCHIVE)
    await bot.ok("get_folder_details", folder_id=sub["id"])
    assert _sent(w) == [f"PUT /2.0/files/{made['id']}", f"GET /2.0/folders/{sub['id']}"]  # the handler's own


async def test_sharing_keeps_cached_places_and_a_rename_is_seen_at_once(
    make_world, connect, tmp_path: Path
) -> None:
    no_signed = (
        "  - {id: no-signed, effect: forbid, agents: bot, tools: [copy_file],\n"
        "     when: {name_patterns: ['*signed*']}}\n"
    )
    w = make_world(_policy(tmp_path, f", within: ['{CONTRACTS}']", no_signed))
    bot = await connect(w, "bot")
    msa = w.file("Contracts/MSA-Globex.pdf")
    await bot.ok("get_file_details", file_id=msa)
    _sent(w)
    await bot.ok("add_file_shared_link", file_id=msa, access="company")
    await bot.ok("get_file_details", file_id=msa)
    assert _sent(w) == [f"PUT /2.0/files/{msa}", f"GET /2.0/files/{msa}"]  # the handlers' own requests
    await bot.ok("copy_file", file_id=msa, destination_folder_id=INBOX)
    await bot.ok("update_file_properties", file_id=msa, name="MSA-Globex-signed.pdf")
    _sent(w)
    # The rename dropped the cached name; Box's answer to it taught the new one: the rule sees it.
    text = await bot.err("copy_file", file_id=msa, destination_folder_id=INBOX)
    assert "rule 'no-signed' forbids" in text and "MSA-Globex-signed.pdf" in text
    assert _sent(w) == []
