"""resolve_shared_link, the enterprise tools (list_users, create_user) and the webhook tools on the emulator,
ungoverned: what each sends Box and what it answers, Box's refusals included."""

from __future__ import annotations

from typing import Any

import pytest

from box_mcp.box.client import BoxClient

from .conftest import Emu, Tools, box_for

pytestmark = pytest.mark.anyio

HOOK = "https://hooks.example.com/box"


async def _share(box: BoxClient, file_id: str, **link: Any) -> str:
    raw = await box.put(f"/files/{file_id}", json={"shared_link": link}, params={"fields": "shared_link"})
    return str(raw["shared_link"]["url"])


async def test_resolve_shared_link_finds_the_item_with_its_path_and_link(
    emu: Emu, tools: Tools, box: BoxClient
) -> None:
    design = emu.file("Engineering/design.md")
    url = await _share(box, design, access="company")
    found = await tools.ok("resolve_shared_link", shared_link=url)
    assert (found["type"], found["id"], found["name"]) == ("file", design, "design.md")
    assert found["path"] == "/Engineering/design.md" and found["parent"]["id"] == emu.folder("Engineering")
    assert found["shared_link"]["access"] == "company" and found["owned_by"]["login"] == "ada@acme.example"
    sent = [r for r in emu.requests if r.url.path == "/2.0/shared_items"]
    assert sent[-1].headers["boxapi"] == f"shared_link={url}"


async def test_a_link_that_leads_elsewhere_than_the_item_pinned_shows_nothing(
    emu: Emu, tools: Tools, box: BoxClient
) -> None:
    design, notes = emu.file("Engineering/design.md"), emu.file("Engineering/notes.txt")
    url = await _share(box, design, access="open")
    pinned = await tools.ok("resolve_shared_link", shared_link=url, resolved_item=f"file:{design}")
    assert pinned["id"] == design
    moved = await tools.err("resolve_shared_link", shared_link=url, resolved_item=f"file:{notes}")
    assert moved.startswith("Denied: the shared link now leads to another item") and "design" not in moved


async def test_a_password_link_needs_its_password_and_box_says_so_without_echoing_one(
    emu: Emu, tools: Tools, box: BoxClient
) -> None:
    url = await _share(box, emu.file("Finance/budget-2026.csv"), access="open", password="Budget&Pass=2026")
    assert (await tools.ok("resolve_shared_link", shared_link=url, password="Budget&Pass=2026"))["name"] == (
        "budget-2026.csv"
    )
    wrong = await tools.err("resolve_shared_link", shared_link=url, password="Budget&Pass=2025")
    assert "incorrect_shared_item_password" in wrong and "Budget&Pass" not in wrong
    assert "incorrect_shared_item_password" in await tools.err("resolve_shared_link", shared_link=url)


async def test_another_user_opens_an_open_link_but_not_a_collaborators_one(emu: Emu, box: BoxClient) -> None:
    from mcp.client import Client

    from box_mcp.config import Settings
    from box_mcp.server import build_server

    handbook, salaries = emu.file("HR/handbook.md"), emu.file("HR/salaries.csv")
    open_url = await _share(box, handbook, access="open")
    closed_url = await _share(box, salaries, access="collaborators")
    bob = box_for(emu, "bob")
    try:
        server = build_server(Settings.load(env={}, toolsets=("all",)), box_client=bob, transport="memory")
        async with Client(server) as client:
            seen = await client.call_tool("resolve_shared_link", {"shared_link": open_url})
            refused = await client.call_tool("resolve_shared_link", {"shared_link": closed_url})
    finally:
        await bob.aclose()
    assert not seen.is_error and seen.structured_content["id"] == handbook
    assert refused.is_error and "403" in refused.content[0].text


async def test_list_users_filters_and_pages_and_create_user_makes_a_managed_user(
    tools: Tools, box: BoxClient
) -> None:
    made = await tools.ok(
        "create_user", login="dora@acme.example", name="Dora Data", role="coadmin", space_amount=1073741824
    )
    assert (made["role"], made["space_amount"], made["is_platform_access_only"]) == (
        "coadmin",
        1073741824,
        False,
    )
    assert [u["login"] for u in (await tools.ok("list_users", filter_term="dora"))["entries"]] == [
        "dora@acme.example"
    ]
    app_user = await box.post(
        "/users", json={"name": "Kiosk", "is_platform_access_only": True, "external_app_user_id": "kiosk-7"}
    )
    by_external = await tools.ok("list_users", external_app_user_id="kiosk-7", user_type="all")
    assert [u["id"] for u in by_external["entries"]] == [app_user["id"]]
    everyone = await tools.ok("list_users", user_type="all", limit=1000)
    pages, cursor = [], None
    for _ in range(20):
        page = await tools.ok(
            "list_users", user_type="all", limit=2, **({"cursor": cursor} if cursor else {})
        )
        pages += [u["id"] for u in page["entries"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert pages == [u["id"] for u in everyone["entries"]]
    taken = await tools.err("create_user", login="dora@acme.example", name="Dora Again")
    assert "user_login_already_used" in taken
    both = await tools.err("list_users", cursor="abc", offset=2)
    assert "give cursor or offset, not both" in both


async def test_a_regular_user_is_refused_by_box(emu: Emu) -> None:
    from mcp.client import Client

    from box_mcp.config import Settings
    from box_mcp.server import build_server

    bob = box_for(emu, "bob")
    try:
        server = build_server(Settings.load(env={}, toolsets=("all",)), box_client=bob, transport="memory")
        async with Client(server) as client:
            listed = await client.call_tool("list_users", {})
            made = await client.call_tool("create_user", {"login": "x@acme.example", "name": "X"})
    finally:
        await bob.aclose()
    assert listed.is_error and "access_denied_insufficient_permissions" in listed.content[0].text
    assert made.is_error and "access_denied_insufficient_permissions" in made.content[0].text


async def test_webhooks_are_created_listed_and_deleted(emu: Emu, tools: Tools) -> None:
    readme, notes = emu.file("Engineering/README.md"), emu.file("Engineering/notes.txt")
    first = await tools.ok(
        "create_webhook",
        target_type="file",
        target_id=readme,
        address=HOOK,
        triggers=["FILE.TRASHED", "COMMENT.CREATED"],
    )
    assert first["address"] == HOOK and first["triggers"] == ["FILE.TRASHED", "COMMENT.CREATED"]
    second = await tools.ok(
        "create_webhook", target_type="file", target_id=notes, address=HOOK, triggers=["FILE.MOVED"]
    )
    twice = await tools.err(
        "create_webhook", target_type="file", target_id=notes, address=HOOK, triggers=["FILE.MOVED"]
    )
    assert "409" in twice
    page = await tools.ok("list_webhooks", limit=1)
    assert [w["id"] for w in page["entries"]] == [first["id"]] and page["next_cursor"]
    rest = await tools.ok("list_webhooks", limit=1, cursor=page["next_cursor"])
    assert rest["entries"] == [
        {"type": "webhook", "id": second["id"], "target": {"type": "file", "id": notes}}
    ]
    assert "next_cursor" not in rest
    assert (await tools.ok("delete_webhook", webhook_id=first["id"]))["deleted"] is True
    assert "404" in await tools.err("delete_webhook", webhook_id=first["id"])
    assert [w["id"] for w in (await tools.ok("list_webhooks"))["entries"]] == [second["id"]]
    root = await tools.err(
        "create_webhook", target_type="folder", target_id="0", address=HOOK, triggers=["FOLDER.MOVED"]
    )
    assert "root folder" in root


async def test_list_recent_items_pages_what_the_identity_touched(
    emu: Emu, tools: Tools, box: BoxClient
) -> None:
    notes, readme = emu.file("Engineering/notes.txt"), emu.file("Engineering/README.md")
    for file_id in (notes, readme):
        await box.post("/comments", json={"item": {"type": "file", "id": file_id}, "message": "seen"})
    first = await tools.ok("list_recent_items", limit=1)
    assert [(e["id"], e["interaction_type"]) for e in first["entries"]] == [(readme, "item_comment")]
    second = await tools.ok("list_recent_items", limit=1, cursor=first["next_cursor"])
    assert [e["id"] for e in second["entries"]] == [notes]
