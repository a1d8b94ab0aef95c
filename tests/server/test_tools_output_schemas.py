"""Every tool, called for real on the emulator: its structuredContent fits the outputSchema a client lists.

Checked strictly (no key the schema does not name), so the lean schemas cannot drift from what the tools
return; the MCP client in the other tool tests validates too, but only loosely and only where called.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp.client import Client

from box_mcp.box.client import BoxClient
from box_mcp.server import BoxMCPServer
from box_mcp.tools.catalog import CATALOG

from .conftest import Emu

pytestmark = pytest.mark.anyio


def _closed(schema: Any) -> Any:
    """The schema with every described object closed: a key it does not name fails validation."""
    if isinstance(schema, list):
        return [_closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _closed(v) for k, v in schema.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


class Calls:
    """Calls tools through the client and checks each result against that tool's listed outputSchema."""

    def __init__(self, client: Client, schemas: dict[str, dict[str, Any]]) -> None:
        self.client = client
        self.validators = {}
        for name, schema in schemas.items():
            Draft202012Validator.check_schema(schema)  # valid in MCP's default dialect
            self.validators[name] = Draft202012Validator(_closed(copy.deepcopy(schema)))
        self.checked: dict[str, int] = {}

    async def __call__(self, tool: str, **args: Any) -> Any:
        result = await self.client.call_tool(tool, args)
        assert not result.is_error, f"{tool}: {result.content[0].text}"
        content = result.structured_content
        errors = self.validators[tool].iter_errors(content)
        problems = [f"{list(e.absolute_path)}: {e.message}" for e in errors]
        assert problems == [], f"{tool} returned what its outputSchema does not describe: {problems}"
        self.checked[tool] = self.checked.get(tool, 0) + 1
        return content


async def test_every_tool_returns_structured_content_that_its_listed_output_schema_describes_exactly(
    stdio_server: BoxMCPServer, box: BoxClient, emu: Emu, allowed_dir: Path
) -> None:
    contract = emu.file("Contracts/MSA-Globex.pdf")
    task = await box.post("/tasks", json={"item": {"type": "file", "id": contract}, "message": "Review"})
    await box.post(
        "/task_assignments",
        json={"task": {"type": "task", "id": task["id"]}, "assign_to": {"login": "carol@acme.example"}},
    )
    async with Client(stdio_server) as client:
        listed = (await client.list_tools()).tools
        call = Calls(client, {t.name: t.output_schema or {} for t in listed})

        me = await call("who_am_i")
        assert me["login"] == "ada@acme.example"
        readme = await call("get_file_details", file_id=emu.file("Engineering/README.md"))
        assert readme["shared_link"]["access"] == "company" and readme["created_by"]["type"] == "user"
        assert (await call("get_file_content", file_id=readme["id"]))["kind"] == "text"
        assert (await call("get_file_content", file_id=contract))["kind"] == "binary"
        saved = await call("download_file", file_id=readme["id"], local_path=str(allowed_dir))
        assert saved["path"] == str(allowed_dir / "README.md") and saved["size"] == readme["size"]

        link = await call("get_download_url", file_id=readme["id"])
        assert link["download_url"].startswith("http://emulator/dl/") and link["expires_at"].endswith("Z")
        preview = await call("get_file_preview", file_id=readme["id"])
        assert preview["page"] == 1 and preview["page_count"] == 1 and preview["mime_type"] == "image/png"
        assert (await call("get_preview_page", file_id=readme["id"], page=1))["width"] == 1024

        sandbox = emu.folder("HR/Sandbox")
        issued = await call("get_upload_url", folder_id=sandbox, file_name="direct.bin", size=3)
        assert issued["kind"] == "new_file" and issued["attributes"]["parent"]["id"] == sandbox
        made = await call("upload_file", parent_folder_id=sandbox, name="schema.txt", content_text="one")
        assert (await call("get_upload_url", file_id=made["id"], size=1))["kind"] == "new_version"
        assert (await call("upload_file_version", file_id=made["id"], content_text="two"))["size"] == 3
        await call("update_file_properties", file_id=made["id"], description="checked")
        copied = await call("copy_file", file_id=made["id"], destination_folder_id=emu.folder("Finance"))
        await call("move_file", file_id=copied["id"], destination_folder_id=emu.folder("Marketing"))
        assert len((await call("list_file_versions", file_id=made["id"]))["versions"]) == 1
        assert (await call("delete_file", file_id=copied["id"]))["deleted"] is True

        assert (await call("get_folder_details", folder_id=emu.folder("Contracts")))["item_count"] == 4
        page = await call("list_folder_content_by_folder_id", folder_id="0", limit=2)
        assert len(page["entries"]) == 2 and page["next_cursor"]
        folder = await call("create_folder", parent_folder_id=sandbox, name="Schemas")
        await call("update_folder_properties", folder_id=folder["id"], description="checked")
        marketing = emu.folder("Marketing")
        twin = await call("copy_folder", folder_id=folder["id"], destination_folder_id=marketing)
        await call("move_folder", folder_id=twin["id"], destination_folder_id=emu.folder("Finance"))
        await call("delete_folder", folder_id=twin["id"], recursive=True)

        hits = await call("search_files_keyword", query="handbook", file_extensions=["md"])
        assert [h["name"] for h in hits["entries"]] == ["handbook.md"]
        folders = await call("search_folders_by_name", query="Sandbox")
        assert [h["id"] for h in folders["entries"]] == [sandbox]

        await call("add_file_shared_link", file_id=made["id"])
        await call("add_folder_shared_link", folder_id=folder["id"], access="company", can_download=False)
        assert (await call("get_shared_link", item_type="file", item_id=made["id"]))["shared_link"]["url"]
        assert "shared_link" not in await call("get_shared_link", item_type="folder", item_id=sandbox)
        assert "shared_link" not in await call("remove_shared_link", item_type="file", item_id=made["id"])
        on_folder = {"item_type": "folder", "item_id": folder["id"]}
        bob = "bob@acme.example"
        invited = await call("create_collaboration", **on_folder, role="viewer", invitee_email=bob)
        listed = await call(
            "list_item_collaborations", **on_folder, fields=["role", "accessible_by"], limit=1
        )
        assert [c["role"] for c in listed["entries"]] == ["viewer"] and "next_cursor" not in listed
        changed = await call("update_collaboration", collaboration_id=invited["id"], role="editor")
        assert changed["role"] == "editor"
        await call("delete_collaboration", collaboration_id=invited["id"])
        legal = emu.credentials["groups"]["Legal"]
        grouped = await call("create_collaboration", **on_folder, role="viewer", group_id=legal)
        assert grouped["accessible_by"]["type"] == "group"

        templates = await call("list_metadata_templates")
        assert [t["template_key"] for t in templates["entries"]] == ["contract"]
        schema = await call("get_metadata_template_schema", template_key="contract")
        assert [f["key"] for f in schema["fields"]] == ["counterparty", "value", "expires"]
        made_template = await call(
            "create_metadata_template",
            display_name="Schema check",
            template_key="schemaCheck",
            fields=[
                {"type": "string", "key": "owner", "display_name": "Owner", "description": "Who owns it"},
                {"type": "enum", "key": "stage", "display_name": "Stage", "options": ["draft", "final"]},
            ],
        )
        assert made_template["template_key"] == "schemaCheck" and made_template["scope"].startswith(
            "enterprise"
        )
        changed_template = await call(
            "update_metadata_template",
            template_key="schemaCheck",
            operations=[
                {"op": "addEnumOption", "field_key": "stage", "data": {"key": "void"}},
                {"op": "removeField", "field_key": "owner"},
            ],
        )
        assert [f["options"] for f in changed_template["fields"]] == [["draft", "final", "void"]]
        instances = (await call("get_file_metadata", file_id=contract))["instances"]
        assert instances[0]["values"]["value"] == 120000
        await call("set_file_metadata", file_id=made["id"], template_key="contract", values={"value": 1.5})
        await call(
            "set_folder_metadata", folder_id=folder["id"], template_key="contract", values={"value": 2}
        )
        queried = await call(
            "search_files_metadata", template_key="contract", query="value = :v", query_params={"v": 1.5}
        )
        assert {h["id"] for h in queried["entries"]} == {made["id"]}

        comment = await call("create_file_comment", file_id=made["id"], message="Looks right")
        comments = (await call("list_file_comments", file_id=made["id"]))["entries"]
        assert [c["id"] for c in comments] == [comment["id"]]
        tasks = await call("list_tasks", file_id=contract)
        assert [a["assigned_to"] for a in tasks["entries"][0]["assignments"]] == ["carol@acme.example"]
        todo = await call("create_task", file_id=made["id"], action="complete", message="Sign")
        mine = await call("assign_task", task_id=todo["id"], login="ada@acme.example")
        done = await call("update_task_assignment", assignment_id=mine["id"], resolution_state="completed")
        assert done["resolution_state"] == "completed"
        assert (await call("delete_task", task_id=todo["id"]))["removed"] is True

        link = await call(
            "create_web_link", parent_folder_id=sandbox, url="https://acme.example", name="Acme"
        )
        assert (await call("get_web_link", web_link_id=link["id"]))["url"] == "https://acme.example"
        await call(
            "update_web_link", web_link_id=link["id"], description="checked", parent_folder_id=marketing
        )
        assert (await call("delete_web_link", web_link_id=link["id"]))["deleted"] is True

        report = emu.file("Finance/q3-report.md")
        asked = await call("ai_qa_single_file", file_id=report, question="How much did revenue grow?")
        assert asked["citations"][0]["file_id"] == report
        await call("ai_qa_multi_file", file_ids=[report, contract], question="Globex renewal?")
        await call("ai_extract_freeform", file_ids=[contract], prompt="term")
        fields = [{"key": "value", "type": "float"}]
        for name in ("ai_extract_structured_from_fields", "ai_extract_structured_from_fields_enhanced"):
            assert (await call(name, file_ids=[contract], fields=fields))["values"] == {"value": 120000.0}
        for name in (
            "ai_extract_structured_from_metadata_template",
            "ai_extract_structured_from_metadata_template_enhanced",
        ):
            await call(name, file_ids=[contract], template_key="contract")

        hub = await call("create_hub", title="Schema hub", description="checked")
        assert hub["type"] == "hub" and hub["created_by"]["login"] == "ada@acme.example"
        added = await call("add_items_to_hub", hub_id=hub["id"], items=[{"type": "file", "id": made["id"]}])
        assert added["added"] == 1 and added["results"][0]["status"] == 200
        assert (await call("update_hub", hub_id=hub["id"], copy_hub_access="all"))["copy_hub_access"] == "all"
        assert (await call("get_hub_details", hub_id=hub["id"]))["title"] == "Schema hub"
        assert [e["id"] for e in (await call("get_hub_items", hub_id=hub["id"]))["entries"]] == [made["id"]]
        hub_answer = await call("ai_qa_hub", hub_id=hub["id"], prompt="Where is two written?")
        assert hub_answer["citations"][0]["file_id"] == made["id"]
        twin_hub = await call("copy_hub", hub_id=hub["id"], title="Schema copy", include_items=True)
        assert {h["id"] for h in (await call("list_hubs"))["entries"]} == {hub["id"], twin_hub["id"]}

        letter = await call(
            "upload_file", parent_folder_id=sandbox, name="letter.txt", content_text="Dear {{name}}"
        )
        await box.post(
            "/docgen_templates", json={"file": {"id": letter["id"]}}, headers={"box-version": "2025.0"}
        )
        assert [t["id"] for t in (await call("list_docgen_templates"))["entries"]] == [letter["id"]]
        details = await call("get_docgen_template_by_id", template_id=letter["id"])
        assert [t["tag_content"] for t in details["tags"]] == ["{{name}}"]
        batch = await call(
            "create_docgen_batch",
            template_id=letter["id"],
            destination_folder_id=sandbox,
            generated_file_name="letter-bob",
            user_input={"name": "Bob"},
        )
        assert batch["jobs"][0]["status"] == "completed" and batch["jobs"][0]["output_file_id"]

        link = await call(
            "add_file_shared_link", file_id=readme["id"], access="open", password="schema-pass-1"
        )
        resolved = await call(
            "resolve_shared_link", shared_link=link["shared_link"]["url"], password="schema-pass-1"
        )
        assert resolved["id"] == readme["id"] and resolved["path"] == "/Engineering/README.md"
        user = await call("create_user", login="schema@acme.example", name="Schema User", space_amount=-1)
        assert user["login"] == "schema@acme.example" and user["role"] == "user"
        found = await call("list_users", filter_term="schema")
        assert [u["id"] for u in found["entries"]] == [user["id"]]
        hook = await call(
            "create_webhook",
            target_type="file",
            target_id=readme["id"],
            address="https://hooks.example.com/schema",
            triggers=["FILE.TRASHED"],
        )
        assert [w["id"] for w in (await call("list_webhooks"))["entries"]] == [hook["id"]]
        assert (await call("delete_webhook", webhook_id=hook["id"]))["deleted"] is True
        recent = await call("list_recent_items", limit=5)
        assert recent["entries"] and {"type", "id", "interaction_type"} <= set(recent["entries"][0])
        (old,) = (await call("list_file_versions", file_id=made["id"]))["versions"]
        await call("delete_file_version", file_id=made["id"], version_id=old["id"])
        await call("restore_file_version", file_id=made["id"], version_id=old["id"])
        promoted = await call("promote_file_version", file_id=made["id"], version_id=old["id"])
        assert promoted["version"]["sha1"] == old["sha1"]
        locked = await call("lock_file", file_id=made["id"], expires_at="2099-01-01T00:00:00Z")
        assert locked["lock"]["created_by"]["login"] == "ada@acme.example"
        assert "lock" not in await call("unlock_file", file_id=made["id"])
        frozen = await call("lock_folder", folder_id=folder["id"])
        assert [x["id"] for x in (await call("list_folder_locks", folder_id=folder["id"]))["locks"]] == [
            frozen["id"]
        ]
        assert (await call("unlock_folder", folder_id=folder["id"]))["removed"] == [frozen["id"]]
        await call("delete_file", file_id=made["id"])
        assert made["id"] in {e["id"] for e in (await call("list_trashed_items"))["entries"]}
        assert (await call("get_trashed_item", item_type="file", item_id=made["id"]))["parent"][
            "id"
        ] == sandbox
        await call("restore_file_from_trash", file_id=made["id"], new_name="schema-restored.txt")
        await call("delete_folder", folder_id=folder["id"], recursive=True)
        await call("restore_folder_from_trash", folder_id=folder["id"])
        await call("delete_folder", folder_id=folder["id"], recursive=True)
        assert (await call("purge_trashed_item", item_type="folder", item_id=folder["id"]))["purged"] is True

    assert sorted(call.checked) == sorted(spec.name for spec in CATALOG)  # a new tool needs a call here
