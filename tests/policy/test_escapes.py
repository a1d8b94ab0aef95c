"""Ways a confined agent might slip past a forbid, tried through the real gate on the emulator's demo seed.

Demo folders: Contracts 200000000001 (Inbox ...02, Archive ...03), Finance ...04, Engineering ...07.
Collaboration 50000000001 is Carol's on Contracts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.anyio

CONTRACTS, INBOX, ARCHIVE, ENGINEERING = "200000000001", "200000000002", "200000000003", "200000000007"
CAROL_ON_CONTRACTS = "50000000001"


def _policy(tmp_path: Path, *rules: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        "agents:\n  boxed: {acts_as: {as_user: '30000000001'}}\nrules:\n"
        + "".join(f"  - {r}\n" for r in rules)
    )
    return path


async def test_a_forbid_below_a_folder_stops_copying_deleting_moving_or_sharing_that_folder(
    make_world, connect, tmp_path: Path
) -> None:
    policy = _policy(
        tmp_path,
        "{id: work, effect: permit, agents: boxed, access: admin, "
        f"within: ['{CONTRACTS}', '{ENGINEERING}']}}",
        f"{{id: archive, effect: forbid, agents: boxed, within: ['{ARCHIVE}']}}",
    )
    w = make_world(policy)
    store = w.app.state.emulator.store
    agent = await connect(w, "boxed")
    # The forbidden folder itself is hidden: its denial reads as for any id boxed may not see.
    hidden = await agent.err("list_folder_content_by_folder_id", folder_id=ARCHIVE)
    assert f"folder {ARCHIVE} is not available to boxed" in hidden, hidden
    for tool, args in [
        ("copy_folder", {"folder_id": CONTRACTS, "destination_folder_id": ENGINEERING}),
        ("delete_folder", {"folder_id": CONTRACTS, "recursive": True}),
        ("move_folder", {"folder_id": CONTRACTS, "destination_folder_id": ENGINEERING}),
        ("add_folder_shared_link", {"folder_id": CONTRACTS, "access": "collaborators"}),
        (
            "create_collaboration",
            {
                "item_type": "folder",
                "item_id": CONTRACTS,
                "role": "viewer",
                "invitee_email": "eve@acme.example",
            },
        ),
        ("update_collaboration", {"collaboration_id": CAROL_ON_CONTRACTS, "role": "co-owner"}),
    ]:
        text = await agent.err(tool, **args)
        assert "rule 'archive' forbids" in text, (tool, text)
    assert store.fetch_one("SELECT status FROM items WHERE id = ?", (ARCHIVE,))["status"] == "active"
    # A folder with no forbidden item below it is still fine.
    copied = await agent.ok("copy_folder", folder_id=INBOX, destination_folder_id=ENGINEERING)
    assert copied["name"] == "Inbox"


async def test_a_forbid_on_one_item_also_covers_its_collaborations_named_by_id(
    make_world, connect, tmp_path: Path
) -> None:
    policy = _policy(
        tmp_path,
        "{id: share, effect: permit, agents: boxed, toolsets: [sharing]}",
        f"{{id: board, effect: forbid, agents: boxed, access: admin, items: ['folder:{CONTRACTS}']}}",
    )
    w = make_world(policy)
    store = w.app.state.emulator.store
    agent = await connect(w, "boxed")
    text = await agent.err("update_collaboration", collaboration_id=CAROL_ON_CONTRACTS, role="co-owner")
    assert "rule 'board' forbids" in text
    text = await agent.err("delete_collaboration", collaboration_id=CAROL_ON_CONTRACTS)
    assert "rule 'board' forbids" in text
    row = store.fetch_one("SELECT role FROM collaborations WHERE id = ?", (CAROL_ON_CONTRACTS,))
    assert row["role"] == "editor"


async def test_a_denial_by_a_forbid_never_names_the_folders_the_forbid_hides(
    make_world, connect, tmp_path: Path
) -> None:
    policy = _policy(
        tmp_path,
        f"{{id: work, effect: permit, agents: boxed, access: admin, within: ['{CONTRACTS}']}}",
        f"{{id: drafts, effect: forbid, agents: boxed, within: ['{INBOX}'], "
        "description: Drafts stay private}",
    )
    w = make_world(policy)
    agent = await connect(w, "boxed")
    listing = await agent.ok("list_folder_content_by_folder_id", folder_id=CONTRACTS)
    assert INBOX not in {e["id"] for e in listing["entries"]}
    for tool, args in [
        ("get_file_content", {"file_id": w.file("Contracts/Inbox/SOW-Umbrella-draft.pdf")}),
        ("delete_folder", {"folder_id": CONTRACTS, "recursive": True}),
    ]:
        text = await agent.err(tool, **args)
        # A hidden file reads as any unavailable id; a visible folder with a hidden one inside names the rule.
        expected = "is not available to boxed" if tool == "get_file_content" else "rule 'drafts' forbids"
        assert expected in text, text
        assert INBOX not in text, text


async def test_a_new_version_keeps_the_file_name_so_extension_limits_apply(
    make_world, connect, tmp_path: Path
) -> None:
    policy = _policy(
        tmp_path,
        f"{{id: docs, effect: permit, agents: boxed, toolsets: [files], within: ['{ENGINEERING}'], "
        "when: {file_extensions: [md]}}",
    )
    w = make_world(policy)
    agent = await connect(w, "boxed")
    text = await agent.err("upload_file_version", file_id=w.file("Engineering/notes.txt"), content_text="x")
    assert "allows only file extensions md, not extension 'txt'" in text
    done = await agent.ok("upload_file_version", file_id=w.file("Engineering/design.md"), content_text="# v2")
    assert done["name"] == "design.md"


async def test_a_local_path_outside_the_allowed_dirs_is_refused_before_its_size_reaches_a_decision(
    make_world, connect, tmp_path: Path
) -> None:
    policy = _policy(
        tmp_path,
        f"{{id: docs, effect: permit, agents: boxed, toolsets: [files], within: ['{ENGINEERING}'], "
        "when: {max_upload_bytes: 10}}",
    )
    secret = tmp_path / "elsewhere" / "secret.key"
    secret.parent.mkdir()
    secret.write_bytes(b"k" * 4321)
    w = make_world(policy)
    agent = await connect(w, "boxed")
    text = await agent.err("upload_file", parent_folder_id=ENGINEERING, name="x.md", local_path=str(secret))
    assert "local_path" in text and "4,321" not in text and "4321" not in text, text
    assert not text.startswith("Denied"), text


async def test_an_id_with_leading_zeros_is_refused_before_the_policy_or_box_sees_it(
    make_world, connect, tmp_path: Path
) -> None:
    # Rules compare ids as text ("file:123", a folder's own id): a second spelling of one id must not exist.
    policy = _policy(
        tmp_path,
        "{id: all, effect: permit, agents: boxed, access: read}",
        f"{{id: drafts, effect: forbid, agents: boxed, items: ['folder:{INBOX}']}}",
    )
    w = make_world(policy)
    agent = await connect(w, "boxed")
    w.requests.clear()
    for spelled in ("0" + INBOX, "00"):
        text = await agent.err("list_folder_content_by_folder_id", folder_id=spelled)
        assert text.startswith("Invalid arguments") and "leading zero" in text, text
    assert w.requests == []
    assert (await agent.ok("get_folder_details", folder_id="0"))["id"] == "0"


async def test_an_invitee_domain_spelled_with_a_trailing_dot_still_meets_a_domain_forbid(
    make_world, connect, tmp_path: Path
) -> None:
    policy = _policy(
        tmp_path,
        "{id: share, effect: permit, agents: boxed, toolsets: [sharing]}",
        "{id: no-evil, effect: forbid, agents: boxed, when: {invitee_domains: [evil.example]}}",
    )
    w = make_world(policy)
    agent = await connect(w, "boxed")
    for email in ("eve@evil.example.", "eve@EVIL.example"):
        text = await agent.err(
            "create_collaboration",
            item_type="folder",
            item_id=ENGINEERING,
            role="viewer",
            invitee_email=email,
        )
        assert "rule 'no-evil' forbids" in text, text


async def test_a_rename_or_copy_to_a_name_without_a_usable_extension_meets_extension_limits(
    make_world, connect, tmp_path: Path
) -> None:
    policy = _policy(
        tmp_path,
        f"{{id: docs, effect: permit, agents: boxed, toolsets: [files], within: ['{ENGINEERING}'], "
        "when: {file_extensions: [md]}}",
    )
    w = make_world(policy)
    agent = await connect(w, "boxed")
    design = w.file("Engineering/design.md")
    for tool, args in [
        ("update_file_properties", {"file_id": design, "name": "design"}),
        ("update_file_properties", {"file_id": design, "name": "run.exe."}),
        ("copy_file", {"file_id": design, "destination_folder_id": ENGINEERING, "new_name": "run.exe."}),
    ]:
        text = await agent.err(tool, **args)
        assert "allows only file extensions md, not no extension" in text, (tool, args, text)
    renamed = await agent.ok("update_file_properties", file_id=design, name="design-v2.md")
    assert renamed["name"] == "design-v2.md"


def test_explain_live_locates_what_forbids_name_for_a_call_on_a_whole_folder(tmp_path, capsys, monkeypatch):
    from box_mcp.cli import main
    from box_mcp.emulator.testing import running_emulator

    policy = _policy(
        tmp_path,
        "{id: work, effect: permit, agents: boxed, access: admin, "
        f"within: ['{CONTRACTS}', '{ENGINEERING}']}}",
        f"{{id: archive, effect: forbid, agents: boxed, within: ['{ARCHIVE}']}}",
    )
    effects = {}
    with running_emulator(seed="demo") as emu:
        monkeypatch.setenv("BOX_MCP_BOX_URL", emu.base_url)
        monkeypatch.setenv("BOX_DEVELOPER_TOKEN", emu.token("ada"))
        for folder in (CONTRACTS, INBOX):
            args = {"folder_id": folder, "destination_folder_id": ENGINEERING}
            code = main(
                [
                    "policy",
                    "explain",
                    "--policy",
                    str(policy),
                    "--agent",
                    "boxed",
                    "--tool",
                    "copy_folder",
                    "--args",
                    json.dumps(args),
                    "--live",
                ]
            )
            out = capsys.readouterr().out
            assert code == 0, out
            effects[folder] = out.splitlines()[0]
    assert effects == {CONTRACTS: "effect: deny", INBOX: "effect: allow"}


async def test_a_name_conflict_never_names_an_item_a_forbid_hides(
    make_world, connect, tmp_path: Path
) -> None:
    policy = _policy(
        tmp_path,
        f"{{id: work, effect: permit, agents: boxed, access: admin, within: ['{CONTRACTS}']}}",
        f"{{id: drafts, effect: forbid, agents: boxed, within: ['{INBOX}']}}",
    )
    w = make_world(policy)
    agent = await connect(w, "boxed")
    hidden = await agent.err("create_folder", parent_folder_id=CONTRACTS, name="Inbox")
    assert "item_name_in_use" in hidden and INBOX not in hidden, hidden
    seen = await agent.err("create_folder", parent_folder_id=CONTRACTS, name="Archive")
    assert f"conflicts with folder {ARCHIVE} ('Archive')" in seen, seen


async def test_calls_with_bad_arguments_or_unknown_tools_count_against_the_call_limit(
    make_world, connect, tmp_path: Path
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "agents: {slow: {limits: {calls_per_minute: 2}}}\n"
        "rules:\n  - {id: all, effect: permit, agents: slow, access: read}\n"
    )
    w = make_world(path)
    slow = await connect(w, "slow")
    assert "Invalid arguments" in await slow.err("get_file_details", file_id="x")
    assert "Unknown tool" in await slow.err("no_such_tool")
    text = await slow.err("who_am_i")
    assert "reached its limit of 2 calls per minute; retry in" in text, text
    # Refused calls are not counted: the limit still reads the same once reached.
    assert "reached its limit" in await slow.err("get_file_details", file_id="x")


async def test_local_paths_never_reach_box_mcps_own_policy_or_data_even_inside_an_allowed_dir(
    make_world, tmp_path: Path
) -> None:
    from mcp.client import Client

    from box_mcp.config import Settings
    from box_mcp.server import build_server

    home = tmp_path / "home"
    data = home / ".local" / "box-mcp"
    data.mkdir(parents=True)
    (data / "vault.json").write_text('{"refresh_token": "s3cret"}')
    rule = f"{{id: all, effect: permit, agents: boxed, access: write, within: ['{ENGINEERING}']}}"
    policy = _policy(home, rule)
    w = make_world(policy)
    settings = Settings.load(env={}, agent="boxed", allowed_dirs=(home,), policy=policy, data_dir=data)
    server = build_server(settings, box_client=w.box, policy=w.gate, results=w.gate)
    readme = w.file("Engineering/README.md")
    async with Client(server) as client:
        for tool, args in [
            (
                "upload_file",
                {"parent_folder_id": ENGINEERING, "name": "v.json", "local_path": str(data / "vault.json")},
            ),
            ("download_file", {"file_id": readme, "local_path": str(policy), "overwrite": True}),
            ("download_file", {"file_id": readme, "local_path": str(data)}),
        ]:
            result = await client.call_tool(tool, args)
            text = result.content[0].text
            assert result.is_error and "box-mcp's own" in text, (tool, text)
        ok = await client.call_tool("download_file", {"file_id": readme, "local_path": str(home / "r.md")})
        assert not ok.is_error, ok.content[0].text
    assert "s3cret" not in json.dumps([r.content.decode(errors="ignore") for r in w.requests if r.content])
    assert policy.read_text().startswith("agents:")
