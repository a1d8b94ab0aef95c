"""tools/list stays lean: a byte budget on what a real stdio client receives, and schemas free of noise.

The listing sits in an agent's context for the whole session. Growing it must be a decision: raise
BUDGET in the same change and regenerate the README (`python -m box_mcp.tools.table --write`).
"""

from __future__ import annotations

import json
import os
import sys
import typing
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from jsonschema import Draft202012Validator
from pydantic import BaseModel
from pydantic.json_schema import SkipJsonSchema

from box_mcp.emulator.testing import RunningEmulator
from box_mcp.tools.catalog import CATALOG, select
from box_mcp.tools.schemas import output_schema
from box_mcp.tools.table import listing_bytes

# 89,625 bytes before the lean schemas (53 KB of them output schemas), 47,176 after: ~5% headroom.
# +2.3 KB: search_files_metadata (a query language to describe, its params and sort).
# +9.0 KB: the ai toolset (7 tools). +11.3 KB: hubs (7 tools) and Doc Gen (3).
# +11.2 KB: weblinks (4 tools, 6.1 KB), tasks (create, assign, resolve, delete; list_tasks shows assignment
# ids) and create_collaboration's group_id.
# +8.3 KB: get/create/update_metadata_template (Box's schema operations: 3.2 KB), ai_qa_hub, and
# list_item_collaborations (list_collaborations renamed, with fields and paging).
# +9.9 KB: resolve_shared_link, the enterprise toolset (list_users, create_user), webhooks (3 tools),
# list_recent_items.
# +4.9 KB: get_download_url, get_upload_url, get_file_preview, get_preview_page (URL and preview tools).
# +14.7 KB: trash (5 tools), file versions (3), file locks (2), folder locks (3).
# The default listing (67 tools, the extra toolsets left out: catalog.EXTRA_TOOLSETS) is 90.9 KB; every
# toolset (--toolsets all, 89 tools) 118.5 KB.
BUDGET = 95_000

# Box's hosted MCP server's tools (../shared/notes/box-and-gateways-2026-12.md section 1.2, without the
# two unverified ones): each is in the default tools/list under the same name, so prompts and Box's own
# agent skills carry over.
HOSTED = frozenset(
    """who_am_i get_file_content get_file_details get_file_preview get_preview_page get_download_url
    update_file_properties upload_file upload_file_version get_upload_url copy_file move_file create_folder
    get_folder_details list_folder_content_by_folder_id update_folder_properties copy_folder move_folder
    search_files_keyword search_folders_by_name search_files_metadata list_metadata_templates
    get_metadata_template_schema create_metadata_template update_metadata_template set_file_metadata
    set_folder_metadata ai_qa_single_file ai_qa_multi_file ai_qa_hub ai_extract_freeform
    ai_extract_structured_from_fields ai_extract_structured_from_fields_enhanced
    ai_extract_structured_from_metadata_template ai_extract_structured_from_metadata_template_enhanced
    create_file_comment list_file_comments list_tasks list_item_collaborations create_collaboration
    update_collaboration add_file_shared_link add_folder_shared_link list_hubs get_hub_details get_hub_items
    create_hub update_hub add_items_to_hub copy_hub list_docgen_templates get_docgen_template_by_id
    create_docgen_batch""".split()
)

_SUBSCHEMA_MAPS = ("properties", "$defs")
_SUBSCHEMA_ONE = ("items", "additionalProperties", "propertyNames")


async def _stdio_tools_list(emulator: RunningEmulator, data_dir: Path) -> bytes:
    """The `result` of tools/list from a real `box-mcp serve` over stdio, as a 2025-11-25 client gets it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOX_MCP_", "BOX_DEVELOPER"))}
    env |= {
        "BOX_DEVELOPER_TOKEN": emulator.token("ada"),
        "BOX_MCP_DATA_DIR": str(data_dir),
        "HOME": str(data_dir),
        "XDG_DATA_HOME": str(data_dir),
    }
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    serve = ["serve", "--transport", "stdio", "--box-url", emulator.base_url]
    command = [sys.executable, "-m", "box_mcp.cli", *serve]
    with anyio.fail_after(30):
        async with await anyio.open_process(command, env=env) as process:
            assert process.stdin is not None and process.stdout is not None
            lines = BufferedByteReceiveStream(process.stdout)
            for message in messages:
                await process.stdin.send(json.dumps(message).encode() + b"\n")
            for _ in range(20):  # the initialize answer, perhaps a notification, then the listing
                answer = json.loads(await lines.receive_until(b"\n", 1_000_000))
                if answer.get("id") == 2:
                    break
            await process.stdin.aclose()
            await process.wait()
    assert "result" in answer, answer
    return json.dumps(answer["result"], separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.anyio
async def test_the_default_tools_list_a_stdio_client_receives_fits_the_budget_and_matches_the_readme(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    received = await _stdio_tools_list(emulator, tmp_path)
    names = [tool["name"] for tool in json.loads(received)["tools"]]
    default = select()  # no --toolsets, no policy: the default toolsets
    assert len(names) == len(default) == 67 and len(CATALOG) == 89
    assert HOSTED <= set(names), sorted(HOSTED - set(names))  # everything Box's own MCP server offers
    assert len(received) <= BUDGET, f"tools/list is {len(received)} bytes, over the budget of {BUDGET}"
    assert len(received) == listing_bytes(default)  # the README's figures are what clients really get


def _schemas() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{spec.name} {kind}", schema)
        for spec in CATALOG
        for kind, schema in (("input", spec.input_schema()), ("output", spec.output_schema()))
    ]


def _noise(schema: Any, where: str = "") -> list[str]:
    """Pydantic's noise in one schema: titles, `default: null`, and null branches of optional fields."""
    if not isinstance(schema, dict):
        return []
    found = []
    if "title" in schema:
        found.append(f"{where}: title")
    if "default" in schema and schema["default"] is None:
        found.append(f"{where}: default null")
    for name, sub in (schema.get("properties") or {}).items():
        if {"type": "null"} in sub.get("anyOf", ()):
            found.append(f"{where}.{name}: anyOf with null")
    for key in _SUBSCHEMA_MAPS:
        for name, sub in (schema.get(key) or {}).items():
            found += _noise(sub, f"{where}.{name}")
    for key in _SUBSCHEMA_ONE:
        found += _noise(schema.get(key), f"{where}[{key}]")
    for sub in schema.get("anyOf", ()):
        found += _noise(sub, where)
    return found


def test_no_schema_carries_titles_null_defaults_or_null_branches() -> None:
    assert [p for name, schema in _schemas() for p in _noise(schema, name)] == []


def test_no_description_is_repeated_across_the_listing_more_than_a_type_shared_by_few_tools_needs() -> None:
    # The long BoxId description once sat on 35 fields; a shared type's meaning belongs in the instructions.
    counts: dict[str, int] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("description"), str):
                counts[node["description"]] = counts.get(node["description"], 0) + 1
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for _, schema in _schemas():
        walk(schema)
    assert {text: n for text, n in counts.items() if n > 8} == {}


def _nullable(annotation: Any) -> bool:
    return annotation is None or type(None) in typing.get_args(annotation) or annotation is Any


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The output model a field holds (alone, optional or in a list), if any."""
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        if typing.get_origin(arg) is list:
            inner = typing.get_args(arg)[0]
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def _check_output(model: type[BaseModel], schema: dict[str, Any], defs: dict[str, Any], where: str) -> None:
    if "$ref" in schema:
        schema = defs[schema["$ref"].removeprefix("#/$defs/")]
    if schema.get("type") == "array":
        schema = schema["items"]
    fields = model.model_fields
    assert set(schema["properties"]) == set(fields), where
    # Dumped with exclude_none: a field that may be None is optional; every other one is always there.
    never_none = {name for name, f in fields.items() if not _nullable(f.annotation)}
    assert set(schema.get("required", ())) == never_none, where
    for name, f in fields.items():
        inner = _model_in(f.annotation)
        if inner is not None:
            _check_output(inner, schema["properties"][name], defs, f"{where}.{name}")


def test_output_schemas_name_every_field_and_require_exactly_those_never_none() -> None:
    for spec in CATALOG:
        schema = spec.output_schema()
        _check_output(spec.output_model, schema, schema.get("$defs", {}), spec.name)


def _set_by_the_policy(field: Any) -> bool:
    """An argument left out of the schema on purpose: the policy sets it (resolve_shared_link's
    resolved_item), an agent is never asked for it."""
    return any(isinstance(m, SkipJsonSchema) for m in field.metadata)


def test_input_schemas_name_every_argument_and_require_exactly_the_required_ones() -> None:
    for spec in CATALOG:
        schema = spec.input_schema()
        fields = {n: f for n, f in spec.input_model.model_fields.items() if not _set_by_the_policy(f)}
        assert set(schema["properties"]) == set(fields), spec.name
        assert set(schema.get("required", ())) == {n for n, f in fields.items() if f.is_required()}, spec.name
        assert schema["additionalProperties"] is False, spec.name


def test_schemas_are_computed_once_not_on_every_server_build() -> None:
    for spec in CATALOG:
        assert spec.input_schema() is spec.input_schema(), spec.name
        assert spec.output_schema() is spec.output_schema(), spec.name


class _Inner(BaseModel):
    id: str
    note: str | None = None


class _Shape(BaseModel):
    name: str | None = None
    anything: Any = None
    tags: list[str] = []
    inner: _Inner | None = None
    inners: list[_Inner] = []
    count: int = 0


def test_an_output_field_that_may_be_none_is_optional_and_every_other_one_is_required() -> None:
    schema = output_schema(_Shape)
    assert schema["required"] == ["tags", "inners", "count"]
    validator = Draft202012Validator(schema)
    full = _Shape(name="n", anything=[1], inner=_Inner(id="1"), inners=[_Inner(id="2", note="x")])
    for shape in (_Shape(), full):
        dumped = shape.model_dump(mode="json", exclude_none=True)  # as the gate sends structuredContent
        assert list(validator.iter_errors(dumped)) == []
    assert list(validator.iter_errors({"tags": [], "inners": [], "count": 0, "name": None})) != []
