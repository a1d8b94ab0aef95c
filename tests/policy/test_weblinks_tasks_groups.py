"""Web links, tasks and group collaborations under the policy, through the real gate and the in-process
emulator (demo seed): a web link sits in its folder, so folder grants and forbids cover it and a move needs
write on both ends; `url_domains` limits where links point; a task (assignment) id stands for its file;
an assignee meets `invitee_domains`; a group collaboration meets the same role conditions as a user's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.anyio

CONTRACTS, INBOX = "200000000001", "200000000002"
FINANCE, HR, SANDBOX, ENGINEERING, MARKETING = (
    "200000000004",
    "200000000005",
    "200000000006",
    "200000000007",
    "200000000008",
)
FIRST_LINK = "700000001"


def _policy(tmp_path: Path, *rules: str, head: str = "") -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(head + "agents:\n  boxed: {}\nrules:\n" + "".join(f"  - {r}\n" for r in rules))
    return path


async def _link(
    world: Any, folder: str, name: str = "Status", url: str = "https://status.acme.example"
) -> str:
    made = await world.box.post("/web_links", json={"url": url, "name": name, "parent": {"id": folder}})
    return str(made["id"])


async def _task(world: Any, file_id: str, message: str = "Review") -> str:
    made = await world.box.post("/tasks", json={"item": {"type": "file", "id": file_id}, "message": message})
    return str(made["id"])


async def _assignment(world: Any, task_id: str, login: str = "ada@acme.example") -> str:
    made = await world.box.post(
        "/task_assignments", json={"task": {"type": "task", "id": task_id}, "assign_to": {"login": login}}
    )
    return str(made["id"])


# --- web links --------------------------------------------------------------------------------------


async def test_a_folder_grant_covers_the_web_links_in_it_and_nothing_else(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path, f"{{id: mkt, effect: permit, agents: boxed, access: write, within: ['{MARKETING}']}}"
        )
    )
    outside = await _link(world, HR, "Payroll portal")
    agent = await connect(world, "boxed")
    made = await agent.ok("create_web_link", parent_folder_id=MARKETING, url="https://acme.example/launch")
    assert (await agent.ok("get_web_link", web_link_id=made["id"]))["parent"]["id"] == MARKETING
    assert (await agent.ok("update_web_link", web_link_id=made["id"], name="Launch"))["name"] == "Launch"
    listed = await agent.ok("list_folder_content_by_folder_id", folder_id=MARKETING)
    assert made["id"] in [e["id"] for e in listed["entries"] if e["type"] == "web_link"]
    denied = await agent.err("get_web_link", web_link_id=outside)
    assert denied.startswith(f"Denied: web_link {outside} is not available to boxed"), denied
    assert "Denied" in await agent.err("delete_web_link", web_link_id=outside)
    assert "Denied" in await agent.err("create_web_link", parent_folder_id=HR, url="https://acme.example")
    assert (await agent.ok("delete_web_link", web_link_id=made["id"]))["deleted"] is True


async def test_a_read_grant_reads_web_links_but_does_not_change_them(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(tmp_path, f"{{id: fin, effect: permit, agents: boxed, access: read, within: ['{FINANCE}']}}")
    )
    link = await _link(world, FINANCE, "Ledger")
    agent = await connect(world, "boxed")
    assert (await agent.ok("get_web_link", web_link_id=link))["name"] == "Ledger"
    for tool, args in (
        ("update_web_link", {"web_link_id": link, "name": "Renamed"}),
        ("delete_web_link", {"web_link_id": link}),
        ("create_web_link", {"parent_folder_id": FINANCE, "url": "https://acme.example"}),
    ):
        assert "Denied" in await agent.err(tool, **args), tool


async def test_moving_a_web_link_needs_write_where_it_is_and_where_it_goes(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: two, effect: permit, agents: boxed, access: write, "
            f"within: ['{MARKETING}', '{ENGINEERING}']}}",
            f"{{id: fin, effect: permit, agents: boxed, access: read, within: ['{FINANCE}']}}",
        )
    )
    in_marketing, in_finance = await _link(world, MARKETING), await _link(world, FINANCE, "Ledger")
    agent = await connect(world, "boxed")
    into_read_only = await agent.err("update_web_link", web_link_id=in_marketing, parent_folder_id=FINANCE)
    assert f"folder {FINANCE}" in into_read_only, into_read_only
    out_of_read_only = await agent.err("update_web_link", web_link_id=in_finance, parent_folder_id=MARKETING)
    assert f"web_link {in_finance}" in out_of_read_only, out_of_read_only
    moved = await agent.ok("update_web_link", web_link_id=in_marketing, parent_folder_id=ENGINEERING)
    assert moved["parent"]["id"] == ENGINEERING
    # the gate learnt where it now sits: a later read is decided on its new folder
    assert (await agent.ok("get_web_link", web_link_id=in_marketing))["parent"]["id"] == ENGINEERING


async def test_a_folder_forbid_reaches_the_web_links_inside_it(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path,
            "{id: all, effect: permit, agents: boxed, access: write}",
            f"{{id: no-hr, effect: forbid, agents: boxed, within: ['{HR}']}}",
        )
    )
    link = await _link(world, SANDBOX, "Sandbox docs")
    agent = await connect(world, "boxed")
    assert "Denied" in await agent.err("get_web_link", web_link_id=link)
    assert "Denied" in await agent.err("update_web_link", web_link_id=link, parent_folder_id=MARKETING)


async def test_url_domains_limits_where_an_agents_links_point(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: mkt, effect: permit, agents: boxed, access: write, within: ['{MARKETING}'], "
            "when: {url_domains: [acme.example, '*.acme.example']}}",
        )
    )
    agent = await connect(world, "boxed")
    ok = await agent.ok("create_web_link", parent_folder_id=MARKETING, url="https://Intranet.Acme.Example/x")
    assert ok["url"] == "https://Intranet.Acme.Example/x"
    denied = await agent.err("create_web_link", parent_folder_id=MARKETING, url="https://evil.example/login")
    assert "a web link to evil.example" in denied and "web links to acme.example, *.acme.example" in denied
    # a look-alike that merely ends with the allowed name is another domain
    assert "Denied" in await agent.err(
        "create_web_link", parent_folder_id=MARKETING, url="https://notacme.example/"
    )
    assert "Denied" in await agent.err("update_web_link", web_link_id=ok["id"], url="http://evil.example")
    # a change that leaves the URL alone is not a URL to check
    assert (await agent.ok("update_web_link", web_link_id=ok["id"], name="Intranet"))["name"] == "Intranet"


async def test_a_confined_agent_sees_a_links_path_from_its_grant_down(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(tmp_path, f"{{id: inbox, effect: permit, agents: boxed, access: write, within: ['{INBOX}']}}")
    )
    agent = await connect(world, "boxed")
    made = await agent.ok(
        "create_web_link", parent_folder_id=INBOX, url="https://acme.example", name="Portal"
    )
    assert made["path"] == "…/Inbox/Portal" and made["parent"]["id"] == INBOX
    got = await agent.ok("get_web_link", web_link_id=made["id"])
    assert got["path"] == "…/Inbox/Portal" and CONTRACTS not in str(got)


async def test_a_forbidden_web_link_is_hidden_from_the_folder_listing(
    make_world, connect, tmp_path: Path
) -> None:
    secret = FIRST_LINK  # the emulator numbers web links in creation order: the policy names the first
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: mkt, effect: permit, agents: boxed, access: read, within: ['{MARKETING}']}}",
            f"{{id: secret, effect: forbid, agents: boxed, items: ['web_link:{secret}']}}",
        )
    )
    assert await _link(world, MARKETING, "Secret") == secret
    shown = await _link(world, MARKETING, "Public")
    agent = await connect(world, "boxed")
    ids = [
        e["id"] for e in (await agent.ok("list_folder_content_by_folder_id", folder_id=MARKETING))["entries"]
    ]
    assert shown in ids and secret not in ids
    assert "Denied" in await agent.err("get_web_link", web_link_id=secret)


# --- tasks ------------------------------------------------------------------------------------------


async def test_creating_a_task_needs_write_on_the_file(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: eng, effect: permit, agents: boxed, access: read, within: ['{ENGINEERING}']}}",
            f"{{id: fin, effect: permit, agents: boxed, access: write, within: ['{FINANCE}']}}",
        )
    )
    agent = await connect(world, "boxed")
    design, budget = world.file("Engineering/design.md"), world.file("Finance/budget-2026.csv")
    assert (await agent.ok("list_tasks", file_id=design))["entries"] == []
    denied = await agent.err("create_task", file_id=design, message="Review")
    assert "Denied" in denied and f"file {design}" in denied, denied
    assert (await agent.ok("create_task", file_id=budget, message="Review"))["message"] == "Review"


async def test_a_task_and_an_assignment_id_stand_for_their_file(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(tmp_path, f"{{id: fin, effect: permit, agents: boxed, access: write, within: ['{FINANCE}']}}")
    )
    salaries, budget = world.file("HR/salaries.csv"), world.file("Finance/budget-2026.csv")
    hr_task, fin_task = await _task(world, salaries), await _task(world, budget)
    hr_mine, fin_mine = await _assignment(world, hr_task), await _assignment(world, fin_task)
    agent = await connect(world, "boxed")
    for tool, args in (
        ("assign_task", {"task_id": hr_task, "login": "ada@acme.example"}),
        ("delete_task", {"task_id": hr_task}),
        ("update_task_assignment", {"assignment_id": hr_mine, "resolution_state": "approved"}),
    ):
        text = await agent.err(tool, **args)
        assert text.startswith("Denied:") and "is not available to boxed" in text, (tool, text)
    done = await agent.ok("update_task_assignment", assignment_id=fin_mine, resolution_state="approved")
    assert done["resolution_state"] == "approved"
    carol_task = await agent.ok("create_task", file_id=budget, message="Second look")
    assert (await agent.ok("delete_task", task_id=carol_task["id"]))["removed"] is True
    assert (await agent.ok("delete_task", task_id=fin_task))["removed"] is True


async def test_an_assignee_meets_invitee_domains_by_login_or_user_id(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: hr, effect: permit, agents: boxed, access: write, within: ['{HR}']}}",
            "{id: inside-only, effect: forbid, agents: boxed, tools: [assign_task], "
            "unless: {invitee_domains: [acme.example]}}",
        )
    )
    task = await _task(world, world.file("HR/Sandbox/onboarding-checklist.md"))  # the HR bot edits Sandbox
    hrbot = next(u for u in world.credentials["users"] if u["login"].startswith("AppUser_hrsandbox"))
    agent = await connect(world, "boxed")
    by_login = await agent.err("assign_task", task_id=task, login=hrbot["login"])
    assert "inside-only" in by_login and "boxdevedition.com" in by_login, by_login
    by_id = await agent.err("assign_task", task_id=task, user_id=hrbot["id"])
    assert "inside-only" in by_id, by_id
    ada = await agent.ok("assign_task", task_id=task, login="ada@acme.example")
    assert ada["assigned_to"]["login"] == "ada@acme.example"


# --- group collaborations ---------------------------------------------------------------------------


async def test_a_group_collaboration_meets_the_rules_role_limit(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: share, effect: permit, agents: boxed, tools: [create_collaboration], access: admin, "
            f"within: ['{MARKETING}'], when: {{collaboration_roles: [viewer, previewer]}}}}",
        )
    )
    legal = world.credentials["groups"]["Legal"]
    agent = await connect(world, "boxed")
    on = {"item_type": "folder", "item_id": MARKETING, "group_id": legal}
    denied = await agent.err("create_collaboration", **on, role="editor")
    assert "role 'editor'" in denied and "collaboration roles viewer, previewer" in denied, denied
    made = await agent.ok("create_collaboration", **on, role="viewer")
    assert made["accessible_by"]["type"] == "group" and made["role"] == "viewer"
    outside = await agent.err("create_collaboration", **{**on, "item_id": FINANCE}, role="viewer")
    assert "Denied" in outside


async def test_a_group_counts_as_inside_for_invitee_domains(make_world, connect, tmp_path: Path) -> None:
    # Box groups hold the enterprise's own users: a group has no e-mail domain, so a rule about outside
    # invitees does not stop it, while an outside person is stopped.
    world = make_world(
        _policy(
            tmp_path,
            "{id: all, effect: permit, agents: boxed, access: admin}",
            "{id: inside-only, effect: forbid, agents: boxed, tools: [create_collaboration], "
            "unless: {invitee_domains: [acme.example]}}",
        )
    )
    legal = world.credentials["groups"]["Legal"]
    agent = await connect(world, "boxed")
    on = {"item_type": "folder", "item_id": ENGINEERING, "role": "viewer"}
    assert (await agent.ok("create_collaboration", **on, group_id=legal))["accessible_by"]["id"] == legal
    assert "inside-only" in await agent.err("create_collaboration", **on, invitee_email="eve@evil.example")
