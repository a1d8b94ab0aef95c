"""Metadata templates, an item's collaborations and Box AI over a hub under the policy, through the real gate
and the in-process emulator (demo seed): reading a template is governed like listing templates; creating or
changing one is an enterprise-wide change only an unscoped admin grant allows; list_item_collaborations is
confined to the items the grant covers (and its old name fails to load, saying the new one); ai_qa_hub reads
the hub and every item in it, looked up per call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from box_mcp.errors import PolicyError
from box_mcp.policy.model import policy_from_text
from box_mcp.policy.reference_tools import tools_for_policy
from box_mcp.policy.store import PolicyStore
from box_mcp.seams import Call
from box_mcp.tools.catalog import BY_NAME

pytestmark = pytest.mark.anyio

V2025 = {"box-version": "2025.0"}
HUB, OTHER_HUB = "1000001", "1000002"  # the emulator numbers hubs from 1000001 in creation order
CONTRACTS, FINANCE, HR, ENGINEERING = "200000000001", "200000000004", "200000000005", "200000000007"
SALARIES = "1300000000007"  # HR/salaries.csv in the demo seed
NEW_FIELD = [{"type": "string", "key": "owner", "display_name": "Owner"}]
ADD_OPTION = [{"op": "editTemplate", "data": {"display_name": "Contract (checked)"}}]
TEMPLATE_TOOLS = ("create_metadata_template", "update_metadata_template")


def _policy(tmp_path: Path, *rules: str, limits: str = "{}") -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        f"agents:\n  boxed: {{limits: {limits}}}\nrules:\n" + "".join(f"  - {r}\n" for r in rules)
    )
    return path


async def _hub(world: Any, expected: str, *items: tuple[str, str]) -> None:
    hub = await world.box.post("/hubs", json={"title": f"Hub {expected}"}, headers=V2025)
    assert hub["id"] == expected
    if items:
        ops = [{"action": "add", "item": {"type": t, "id": i}} for t, i in items]
        await world.box.post(f"/hubs/{expected}/manage_items", json={"operations": ops}, headers=V2025)


async def _listed(agent: Any) -> set[str]:
    return {t.name for t in (await agent.client.list_tools()).tools}


# --- metadata templates ----------------------------------------------------------------------------------


async def test_a_folder_read_grant_reads_template_schemas_as_it_lists_templates(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path, f"{{id: eng, effect: permit, agents: boxed, access: read, within: ['{ENGINEERING}']}}"
        )
    )
    agent = await connect(world, "boxed")
    schema = await agent.ok("get_metadata_template_schema", template_key="contract")
    assert [f["key"] for f in schema["fields"]] == ["counterparty", "value", "expires"]
    assert [t["template_key"] for t in (await agent.ok("list_metadata_templates"))["entries"]] == ["contract"]
    assert "not_found" in await agent.err("get_metadata_template_schema", template_key="nothingHere")


async def test_a_template_schema_needs_a_grant_of_the_tool_and_meets_template_conditions(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path,
            "{id: files, effect: permit, agents: boxed, toolsets: [files]}",
            "{id: schemas, effect: permit, agents: boxed, tools: [get_metadata_template_schema], "
            "when: {metadata_templates: ['global/*']}}",
        )
    )
    agent = await connect(world, "boxed")
    assert "list_metadata_templates" not in await _listed(agent)
    assert (await agent.ok("get_metadata_template_schema", scope="global", template_key="properties"))[
        "template_key"
    ] == "properties"
    denied = await agent.err("get_metadata_template_schema", template_key="contract")
    assert denied.startswith("Denied: get_metadata_template_schema"), denied


async def test_no_write_or_folder_grant_allows_changing_templates(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path,
            "{id: write-all, effect: permit, agents: boxed, access: write}",
            f"{{id: eng-admin, effect: permit, agents: boxed, access: admin, within: ['{ENGINEERING}']}}",
            f"{{id: eng-meta, effect: permit, agents: boxed, toolsets: [metadata], "
            f"within: ['{ENGINEERING}']}}",
            f"{{id: eng-named, effect: permit, agents: boxed, tools: {list(TEMPLATE_TOOLS)}, "
            f"within: ['{ENGINEERING}']}}",
        )
    )
    agent = await connect(world, "boxed")
    # listed (the engine lists a tool for any grant strong enough, wherever it reaches), never allowed
    assert "set_file_metadata" in await _listed(agent)
    made = await agent.err("create_metadata_template", display_name="Sneaky", fields=NEW_FIELD)
    changed = await agent.err("update_metadata_template", template_key="contract", operations=ADD_OPTION)
    for denied in (made, changed):
        assert denied.startswith("Denied:") and "enterprise metadata_templates" in denied, denied
    template = await world.box.get("/metadata_templates/enterprise/contract/schema")
    assert template["displayName"] == "Contract"  # nothing reached Box
    assert [t["templateKey"] for t in (await world.box.get("/metadata_templates/enterprise"))["entries"]] == [
        "contract"
    ]


async def test_an_unscoped_admin_grant_of_the_tools_creates_and_changes_templates(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: templates, effect: permit, agents: boxed, tools: {list(TEMPLATE_TOOLS)}}}",
            "{id: keep-contract, effect: forbid, agents: boxed, tools: [update_metadata_template], "
            "when: {metadata_templates: ['enterprise/contract']}}",
        )
    )
    agent = await connect(world, "boxed")
    assert set(TEMPLATE_TOOLS) <= await _listed(agent)
    made = await agent.ok(
        "create_metadata_template", display_name="Project", template_key="project", fields=NEW_FIELD
    )
    assert made["template_key"] == "project" and [f["key"] for f in made["fields"]] == ["owner"]
    ops = [
        {
            "op": "addField",
            "data": {"type": "enum", "key": "phase", "display_name": "Phase", "options": ["a"]},
        },
        {"op": "editField", "field_key": "owner", "data": {"key": "lead", "display_name": "Lead"}},
        {"op": "reorderFields", "order": ["phase", "lead"]},
    ]
    changed = await agent.ok("update_metadata_template", template_key="project", operations=ops)
    assert [(f["key"], f.get("options")) for f in changed["fields"]] == [("phase", ["a"]), ("lead", None)]
    assert "keep-contract" in await agent.err(
        "update_metadata_template", template_key="contract", operations=ADD_OPTION
    )


async def test_a_metadata_toolset_grant_changes_templates_only_when_it_says_admin(
    make_world, connect, tmp_path: Path
) -> None:
    # Written for metadata values on files: it must not grow into enterprise-wide template changes.
    plain = make_world(_policy(tmp_path, "{id: meta, effect: permit, agents: boxed, toolsets: [metadata]}"))
    agent = await connect(plain, "boxed")
    listed = await _listed(agent)
    assert {"set_file_metadata", "get_metadata_template_schema"} <= listed
    assert not set(TEMPLATE_TOOLS) & listed
    refused = await agent.err("create_metadata_template", display_name="Sneaky", fields=NEW_FIELD)
    assert refused.startswith("Denied:"), refused

    admin = make_world(
        _policy(tmp_path, "{id: meta, effect: permit, agents: boxed, toolsets: [metadata], access: admin}")
    )
    agent = await connect(admin, "boxed")
    assert set(TEMPLATE_TOOLS) <= await _listed(agent)
    made = await agent.ok(
        "create_metadata_template", display_name="Project", template_key="project", fields=NEW_FIELD
    )
    assert made["template_key"] == "project"


async def test_template_operations_are_checked_before_box_sees_them(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(tmp_path, f"{{id: t, effect: permit, agents: boxed, tools: {list(TEMPLATE_TOOLS)}}}")
    )
    agent = await connect(world, "boxed")
    before = len(world.requests)
    for ops, said in (
        ([{"op": "removeField"}], "removeField needs field_key"),
        ([{"op": "removeField", "field_key": "value", "data": {"key": "x"}}], "removeField takes no data"),
        ([{"op": "editEnumOption", "field_key": "f", "data": {"key": "b"}}], "needs option_key"),
        ([{"op": "reorderFields"}], "reorderFields needs order"),
        ([{"op": "addField", "data": {"key": "k", "type": "enum", "display_name": "K"}}], "needs options"),
        ([{"op": "editTemplate", "data": {"key": "x"}}], "takes only"),
    ):
        text = await agent.err("update_metadata_template", template_key="contract", operations=ops)
        assert said in text, text
    fields = [{"type": "string", "key": "a", "display_name": "A"}] * 2
    assert "each field key may appear once" in await agent.err(
        "create_metadata_template", display_name="Twice", fields=fields
    )
    assert len(world.requests) == before  # refused as input: nothing asked of Box


async def test_a_write_grant_everywhere_does_not_even_list_template_changes(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(_policy(tmp_path, "{id: write-all, effect: permit, agents: boxed, access: write}"))
    agent = await connect(world, "boxed")
    listed = await _listed(agent)
    assert "get_metadata_template_schema" in listed and not listed & set(TEMPLATE_TOOLS)
    assert "Denied" in await agent.err("create_metadata_template", display_name="Sneaky")


def test_template_changes_are_admin_access_on_the_enterprise_and_update_is_destructive() -> None:
    for name in TEMPLATE_TOOLS:
        spec = BY_NAME[name]
        assert spec.access == "admin" and spec.toolset == "metadata"
        args = spec.input_model.model_validate(
            {"display_name": "X"}
            if name.startswith("create")
            else {"template_key": "x", "operations": ADD_OPTION}
        )
        assert [(str(u.item), u.access.value) for u in spec.resources(args)] == [
            ("enterprise metadata_templates", "admin")
        ]
    assert BY_NAME["update_metadata_template"].hints.destructive is True
    assert BY_NAME["create_metadata_template"].hints.destructive is False
    assert (
        BY_NAME["get_metadata_template_schema"].resources(
            BY_NAME["get_metadata_template_schema"].input_model.model_validate({"template_key": "x"})
        )
        == ()
    )


# --- list_item_collaborations -------------------------------------------------------------------------


async def test_item_collaborations_are_listed_only_inside_the_grant_and_page_by_cursor(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: contracts, effect: permit, agents: boxed, access: read, within: ['{CONTRACTS}']}}",
        )
    )
    for login in ("nora@partner.example",):  # and the seeded collaborator
        await world.box.post(
            "/collaborations",
            json={
                "item": {"type": "folder", "id": CONTRACTS},
                "accessible_by": {"type": "user", "login": login},
                "role": "viewer",
            },
        )
    agent = await connect(world, "boxed")
    on = {"item_type": "folder", "item_id": CONTRACTS}
    everyone = await agent.ok("list_item_collaborations", **on)
    assert len(everyone["entries"]) >= 2 and all(
        c.get("item_id", CONTRACTS) == CONTRACTS for c in everyone["entries"]
    )
    first = await agent.ok("list_item_collaborations", **on, limit=1, fields=["role"])
    assert len(first["entries"]) == 1 and set(first["entries"][0]) == {"id", "role"}
    rest = await agent.ok("list_item_collaborations", **on, limit=1000, cursor=first["next_cursor"])
    assert [c["id"] for c in rest["entries"]] == [c["id"] for c in everyone["entries"][1:]]
    inside = world.file("Contracts/MSA-Globex.pdf")
    assert "entries" in await agent.ok("list_item_collaborations", item_type="file", item_id=inside)
    denied = await agent.err("list_item_collaborations", item_type="folder", item_id=HR)
    assert denied.startswith(f"Denied: folder {HR} is not available to boxed"), denied
    assert "list_collaborations" not in await _listed(agent)


def test_a_policy_naming_list_collaborations_fails_to_load_saying_its_new_name(tmp_path: Path) -> None:
    old = (
        "agents: {boxed: {}}\nrules:\n"
        "  - {id: c, effect: permit, agents: boxed, tools: [list_collaborations]}\n"
    )
    path = tmp_path / "old.yaml"
    path.write_text(old)
    with pytest.raises(PolicyError) as raised:
        PolicyStore(path, tools_for_policy()).engine()
    said = str(raised.value)
    assert "rule 'c' names unknown tool 'list_collaborations'" in said
    assert "renamed: write 'list_item_collaborations' instead" in said
    # an ordinary typo still gets the nearest name
    policy_from_text(old)  # the file format itself is fine: the catalog is what knows the name
    path.write_text(old.replace("list_collaborations", "list_item_colaborations"))
    with pytest.raises(PolicyError, match="did you mean 'list_item_collaborations'"):
        PolicyStore(path, tools_for_policy()).engine()


def test_no_shipped_policy_or_doc_names_the_old_tool() -> None:
    root = Path(__file__).resolve().parents[2]
    places = [
        root / "README.md",
        *(root / "box_mcp" / "policies").rglob("*.*"),
        *(root / "docs").rglob("*.md"),
    ]
    assert [str(p) for p in places if "list_collaborations" in p.read_text(encoding="utf-8")] == []


# --- ai_qa_hub ------------------------------------------------------------------------------------------


async def test_a_hub_question_needs_the_hub_and_every_item_in_it(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: hubs, effect: permit, agents: boxed, toolsets: [ai], "
            f"items: ['hub:{HUB}', 'hub:{OTHER_HUB}']}}",
            f"{{id: eng, effect: permit, agents: boxed, toolsets: [ai], within: ['{ENGINEERING}']}}",
        )
    )
    design, salaries = world.file("Engineering/design.md"), world.file("HR/salaries.csv")
    await _hub(world, HUB, ("file", design), ("folder", ENGINEERING))
    await _hub(world, OTHER_HUB, ("file", design), ("file", salaries))
    agent = await connect(world, "boxed")
    answer = await agent.ok("ai_qa_hub", hub_id=HUB, prompt="What does the design say?")
    assert answer["citations"] and {c["file_id"] for c in answer["citations"]} <= {
        world.file(f"Engineering/{n}") for n in ("design.md", "README.md", "notes.txt")
    }
    denied = await agent.err("ai_qa_hub", hub_id=OTHER_HUB, prompt="What are the salaries?")
    assert denied.startswith(f"Denied: ai_qa_hub reads every item in hub {OTHER_HUB}"), denied
    assert salaries not in denied  # the item outside the grant is not named to the agent
    # the audit's sentence names it
    spec = BY_NAME["ai_qa_hub"]
    args = spec.input_model.model_validate({"hub_id": OTHER_HUB, "prompt": "salaries"})
    call = Call("c1", "boxed", spec, args, spec.resources(args), spec.facts(args), "memory")
    decision = await world.gate.decide(call)
    assert decision.effect == "deny" and f"file {salaries}" in decision.reason, decision
    assert f"hub {'1000003'} is not available" in await agent.err("ai_qa_hub", hub_id="1000003", prompt="x")


async def test_a_forbid_inside_a_hubs_folder_refuses_the_hub_question(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path,
            "{id: all, effect: permit, agents: boxed, toolsets: [ai]}",
            f"{{id: no-salaries, effect: forbid, agents: boxed, items: ['file:{SALARIES}']}}",
        )
    )
    assert world.file("HR/salaries.csv") == SALARIES
    await _hub(world, HUB, ("folder", HR))
    await _hub(world, OTHER_HUB, ("folder", FINANCE))
    agent = await connect(world, "boxed")
    assert "Denied: ai_qa_hub reads every item in hub" in await agent.err(
        "ai_qa_hub", hub_id=HUB, prompt="pay"
    )
    assert "answer" in await agent.ok("ai_qa_hub", hub_id=OTHER_HUB, prompt="revenue growth")


async def test_an_unscoped_grant_asks_box_for_no_hub_items(make_world, connect, tmp_path: Path) -> None:
    world = make_world(_policy(tmp_path, "{id: all, effect: permit, agents: boxed, toolsets: [ai]}"))
    salaries = world.file("HR/salaries.csv")
    await _hub(world, HUB, ("file", salaries))
    agent = await connect(world, "boxed")
    before = len(world.requests)
    answer = await agent.ok("ai_qa_hub", hub_id=HUB, prompt="Engineer salary")
    assert {c["file_id"] for c in answer["citations"]} == {salaries}
    asked = [r.url.path for r in world.requests[before:]]
    assert asked == ["/2.0/ai/ask"], asked


async def test_hub_questions_count_against_the_ai_call_limit(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path,
            "{id: all, effect: permit, agents: boxed, access: read}",
            limits="{ai_calls_per_minute: 1}",
        )
    )
    await _hub(world, HUB, ("file", world.file("Finance/q3-report.md")))
    agent = await connect(world, "boxed")
    await agent.ok("ai_qa_hub", hub_id=HUB, prompt="revenue")
    limited = await agent.err("ai_qa_hub", hub_id=HUB, prompt="revenue")
    assert "Denied" in limited and "AI" in limited, limited
    assert (await agent.ok("get_hub_details", hub_id=HUB))["id"] == HUB  # other calls go on
