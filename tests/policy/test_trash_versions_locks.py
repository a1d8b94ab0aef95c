"""Trash, file versions and locks under the policy, through the real gate and the in-process emulator (demo
seed). A trashed item is decided where it was trashed from (Box keeps that folder as its `parent`; its path
is the Trash alone); a restore into another folder needs that folder too; the trash listing shows only
items trashed from inside the grant; purging and folder locks are `admin`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.anyio

INBOX, FINANCE, HR, ENGINEERING = "200000000002", "200000000004", "200000000005", "200000000007"


def _policy(tmp_path: Path, *rules: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text("agents:\n  boxed: {}\nrules:\n" + "".join(f"  - {r}\n" for r in rules))
    return path


def _within(access: str, *folders: str, rule: str = "grant") -> str:
    return f"{{id: {rule}, effect: permit, agents: boxed, access: {access}, within: {list(folders)}}}"


async def _trash(world: Any, kind: str, item_id: str) -> None:
    """A person trashes the item in Box (not through box-mcp: the policy has never seen it live)."""
    await world.box.delete(f"/{kind}s/{item_id}", params={"recursive": "true"} if kind == "folder" else None)


async def test_restore_inside_the_grant_is_allowed_and_outside_it_denied(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(_policy(tmp_path, _within("write", ENGINEERING)))
    notes, report = world.file("Engineering/notes.txt"), world.file("Finance/q3-report.md")
    await _trash(world, "file", notes)
    await _trash(world, "file", report)
    agent = await connect(world, "boxed")
    restored = await agent.ok("restore_file_from_trash", file_id=notes)
    assert restored["parent"]["id"] == ENGINEERING
    denied = await agent.err("restore_file_from_trash", file_id=report)
    assert denied.startswith("Denied:") and report in denied, denied
    assert (await world.box.get(f"/files/{report}/trash"))["item_status"] == "trashed"  # untouched


async def test_restore_into_a_folder_outside_the_grant_is_denied(make_world, connect, tmp_path: Path) -> None:
    world = make_world(_policy(tmp_path, _within("write", ENGINEERING)))
    notes = world.file("Engineering/notes.txt")
    await _trash(world, "file", notes)
    agent = await connect(world, "boxed")
    denied = await agent.err("restore_file_from_trash", file_id=notes, parent_folder_id=FINANCE)
    assert denied.startswith("Denied:") and FINANCE in denied, denied
    assert (await world.box.get(f"/files/{notes}/trash"))["item_status"] == "trashed"
    back = await agent.ok("restore_file_from_trash", file_id=notes, parent_folder_id=ENGINEERING)
    assert back["parent"]["id"] == ENGINEERING


async def test_restoring_from_a_granted_folder_to_a_granted_destination_needs_both(
    make_world, connect, tmp_path: Path
) -> None:
    # Finance is granted as a destination only: an item trashed from HR cannot be pulled into it
    world = make_world(_policy(tmp_path, _within("write", FINANCE)))
    hr_file = (await world.box.get(f"/folders/{HR}/items"))["entries"][0]
    await _trash(world, hr_file["type"], hr_file["id"])
    agent = await connect(world, "boxed")
    tool = "restore_file_from_trash" if hr_file["type"] == "file" else "restore_folder_from_trash"
    key = "file_id" if hr_file["type"] == "file" else "folder_id"
    assert "Denied" in await agent.err(tool, **{key: hr_file["id"]}, parent_folder_id=FINANCE)


async def test_an_item_trashed_with_its_folder_is_located_where_it_was(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(_policy(tmp_path, _within("read", ENGINEERING)))
    deep = await world.box.post("/folders", json={"name": "Deep", "parent": {"id": ENGINEERING}})
    inner = await world.box.post("/folders", json={"name": "Inner", "parent": {"id": deep["id"]}})
    kept = await world.box.upload(parent_id=inner["id"], name="kept.txt", source=b"kept")
    await _trash(world, "folder", deep["id"])
    agent = await connect(world, "boxed")
    found = await agent.ok("get_trashed_item", item_type="file", item_id=kept["id"])
    assert found["parent"]["id"] == inner["id"]  # two trashed folders up, then Engineering, live
    other = make_world(_policy(tmp_path, _within("read", FINANCE)))
    elsewhere = await connect(other, "boxed")
    assert "Denied" in await elsewhere.err("get_trashed_item", item_type="file", item_id=kept["id"])


async def test_the_trash_listing_shows_only_items_trashed_from_inside_the_grant(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(_policy(tmp_path, _within("read", ENGINEERING)))
    notes, design = world.file("Engineering/notes.txt"), world.file("Engineering/design.md")
    for kind, item_id in (
        ("file", world.file("Finance/q3-report.md")),
        ("file", notes),
        ("folder", HR),
        ("file", design),
    ):
        await _trash(world, kind, item_id)
    agent = await connect(world, "boxed")
    listed = await agent.ok("list_trashed_items", sort="name", direction="ASC")
    assert [e["id"] for e in listed["entries"]] == [design, notes]
    first = await agent.ok("list_trashed_items", sort="name", direction="ASC", limit=1)
    assert [e["id"] for e in first["entries"]] == [design]  # refilled past the hidden entries
    rest = await agent.ok(
        "list_trashed_items", sort="name", direction="ASC", limit=5, cursor=first["next_cursor"]
    )
    assert [e["id"] for e in rest["entries"]] == [notes]


async def test_a_trashed_grant_root_is_listed_without_the_folder_above_it(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(_policy(tmp_path, _within("write", INBOX)))
    await _trash(world, "folder", INBOX)
    agent = await connect(world, "boxed")
    (entry,) = (await agent.ok("list_trashed_items"))["entries"]
    assert entry["id"] == INBOX and "parent" not in entry  # Contracts lies above the grant
    assert "parent" not in await agent.ok("get_trashed_item", item_type="folder", item_id=INBOX)
    assert (await agent.ok("restore_folder_from_trash", folder_id=INBOX))["name"] == "Inbox"


async def test_a_rule_naming_a_file_covers_it_in_the_trash(make_world, connect, tmp_path: Path) -> None:
    notes, readme = "1300000000011", "1300000000009"
    world = make_world(
        _policy(
            tmp_path,
            "{id: one, effect: permit, agents: boxed, access: write, "
            f"items: ['file:{notes}', 'file:{readme}']}}",
            f"{{id: keep-readme, effect: forbid, agents: boxed, access: write, items: ['file:{readme}']}}",
        )
    )
    assert world.file("Engineering/notes.txt") == notes and world.file("Engineering/README.md") == readme
    await _trash(world, "file", notes)
    await _trash(world, "file", readme)
    agent = await connect(world, "boxed")
    assert (await agent.ok("restore_file_from_trash", file_id=notes))["id"] == notes
    assert "keep-readme" in await agent.err("restore_file_from_trash", file_id=readme)


async def test_purging_from_the_trash_needs_admin_access(make_world, connect, tmp_path: Path) -> None:
    world = make_world(_policy(tmp_path, _within("write", ENGINEERING)))
    notes = world.file("Engineering/notes.txt")
    await _trash(world, "file", notes)
    agent = await connect(world, "boxed")
    assert "Denied" in await agent.err("purge_trashed_item", item_type="file", item_id=notes)
    admin = make_world(_policy(tmp_path, _within("admin", ENGINEERING)))
    await _trash(admin, "file", notes)
    purger = await connect(admin, "boxed")
    assert (await purger.ok("purge_trashed_item", item_type="file", item_id=notes))["purged"] is True


async def test_versions_and_file_locks_are_writes_on_the_file(make_world, connect, tmp_path: Path) -> None:
    world = make_world(_policy(tmp_path, _within("write", ENGINEERING)))
    notes, report = world.file("Engineering/notes.txt"), world.file("Finance/q3-report.md")
    for file_id in (notes, report):
        await world.box.upload_version(file_id=file_id, source=b"second")
    agent = await connect(world, "boxed")
    (old,) = (await agent.ok("list_file_versions", file_id=notes))["versions"]
    await agent.ok("delete_file_version", file_id=notes, version_id=old["id"])
    await agent.ok("restore_file_version", file_id=notes, version_id=old["id"])
    await agent.ok("promote_file_version", file_id=notes, version_id=old["id"])
    assert (await agent.ok("lock_file", file_id=notes))["lock"]
    assert "lock" not in await agent.ok("unlock_file", file_id=notes)
    (theirs,) = (await world.box.get(f"/files/{report}/versions"))["entries"]
    for tool in ("promote_file_version", "restore_file_version", "delete_file_version"):
        assert "Denied" in await agent.err(tool, file_id=report, version_id=theirs["id"])
    assert "Denied" in await agent.err("lock_file", file_id=report)
    reader = make_world(_policy(tmp_path, _within("read", ENGINEERING)))
    looker = await connect(reader, "boxed")
    assert "Denied" in await looker.err("lock_file", file_id=reader.file("Engineering/notes.txt"))


async def test_folder_locks_need_admin_access_on_the_folder(make_world, connect, tmp_path: Path) -> None:
    world = make_world(_policy(tmp_path, _within("write", ENGINEERING)))
    agent = await connect(world, "boxed")
    assert (await agent.ok("list_folder_locks", folder_id=ENGINEERING))["locks"] == []
    assert "Denied" in await agent.err("lock_folder", folder_id=ENGINEERING)
    admin = make_world(_policy(tmp_path, _within("admin", ENGINEERING)))
    owner = await connect(admin, "boxed")
    lock = await owner.ok("lock_folder", folder_id=ENGINEERING)
    assert (await owner.ok("unlock_folder", folder_id=ENGINEERING))["removed"] == [lock["id"]]
    assert "Denied" in await owner.err("lock_folder", folder_id=FINANCE)
