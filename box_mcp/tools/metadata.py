"""metadata toolset: list templates, read an item's metadata, set template values on files and folders."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, WithJsonSchema

from box_mcp.access import Access, CallFacts
from box_mcp.errors import BoxError
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import (
    READ_HINTS,
    BoxId,
    Hints,
    ToolContext,
    ToolInput,
    ToolOutput,
    ToolSpec,
    item,
)

TemplateKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
Scope = Annotated[str, StringConstraints(pattern=r"^(global|enterprise|enterprise_[0-9]{1,20})$")]
# Pydantic writes an integer branch beside the number one; a number already includes every integer.
_VALUE_SCHEMA = {
    "anyOf": [
        {"type": "string"},
        {"type": "number"},
        {"type": "array", "items": {"type": "string"}},
        {"type": "null"},
    ]
}


def _finite(value: Any) -> Any:
    # One clear error instead of one per member of the union (str, int, float, list) below.
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("a metadata value must be a finite number (JSON has no NaN or Infinity)")
    return value


FieldValue = Annotated[
    str | int | float | list[str] | None, BeforeValidator(_finite), WithJsonSchema(_VALUE_SCHEMA)
]


class ListTemplatesInput(ToolInput):
    scope: Literal["enterprise", "global"] = "enterprise"
    limit: int = Field(100, ge=1, le=1000)
    cursor: str | None = Field(None, min_length=1, max_length=2048)


class TemplateField(ToolOutput):
    key: str
    type: str | None = None
    display_name: str | None = None
    options: list[str] | None = None


class Template(ToolOutput):
    scope: str | None = None
    template_key: str | None = None
    display_name: str | None = None
    hidden: bool | None = None
    fields: list[TemplateField] = Field(default_factory=list)


class Templates(ToolOutput):
    entries: list[Template]
    next_cursor: str | None = None


def _template(raw: dict[str, Any]) -> Template:
    fields = []
    for f in raw.get("fields") or ():
        if isinstance(f, dict) and f.get("key"):
            opts = [str(o.get("key")) for o in f.get("options") or () if isinstance(o, dict)]
            fields.append(
                TemplateField(
                    key=f["key"], type=f.get("type"), display_name=f.get("displayName"), options=opts or None
                )
            )
    return Template(
        scope=raw.get("scope"),
        template_key=raw.get("templateKey"),
        display_name=raw.get("displayName"),
        hidden=raw.get("hidden"),
        fields=fields,
    )


async def list_metadata_templates(ctx: ToolContext, args: ListTemplatesInput) -> Templates:
    params: dict[str, Any] = {"limit": args.limit}
    if args.cursor:
        params["marker"] = args.cursor
    raw = await ctx.box.get(f"/metadata_templates/{args.scope}", params=params)
    entries = [_template(t) for t in raw.get("entries") or () if isinstance(t, dict)]
    return Templates(entries=entries, next_cursor=raw.get("next_marker") or None)


class GetMetadataInput(ToolInput):
    file_id: BoxId
    scope: Scope | None = Field(None, description="With template_key: read only that instance")
    template_key: TemplateKey | None = None


class MetadataInstance(ToolOutput):
    scope: str | None = None
    template_key: str | None = None
    values: dict[str, Any] = Field(default_factory=dict, description="Field key -> value")


class ItemMetadata(ToolOutput):
    item_type: str
    item_id: str
    instances: list[MetadataInstance]


def _instance(raw: dict[str, Any]) -> MetadataInstance:
    values = {k: v for k, v in raw.items() if not k.startswith("$")}
    return MetadataInstance(scope=raw.get("$scope"), template_key=raw.get("$template"), values=values)


async def get_file_metadata(ctx: ToolContext, args: GetMetadataInput) -> ItemMetadata:
    if args.scope and args.template_key:
        raw = await ctx.box.get(f"/files/{args.file_id}/metadata/{args.scope}/{args.template_key}")
        instances = [_instance(raw)]
    else:
        raw = await ctx.box.get(f"/files/{args.file_id}/metadata")
        instances = [_instance(e) for e in raw.get("entries") or () if isinstance(e, dict)]
        if args.template_key:
            instances = [i for i in instances if i.template_key == args.template_key]
    return ItemMetadata(item_type="file", item_id=args.file_id, instances=instances)


class _SetMetadataInput(ToolInput):
    scope: Scope = Field(
        "enterprise", description="'enterprise' for your enterprise's templates, or 'global'"
    )
    template_key: TemplateKey = Field(
        description="Template key, e.g. 'contract' (see list_metadata_templates)"
    )
    values: dict[Annotated[str, StringConstraints(min_length=1, max_length=256)], FieldValue] = Field(
        min_length=1, max_length=100, description="Field key -> value; existing values are replaced"
    )


class SetFileMetadataInput(_SetMetadataInput):
    file_id: BoxId


class SetFolderMetadataInput(_SetMetadataInput):
    folder_id: BoxId


async def _set(ctx: ToolContext, kind: str, item_id: str, args: _SetMetadataInput) -> MetadataInstance:
    path = f"/{kind}s/{item_id}/metadata/{args.scope}/{args.template_key}"
    try:
        raw = await ctx.box.post(path, json=args.values)
    except BoxError as exc:
        # An instance already there: update it in place with a JSON patch (Box's documented way).
        if getattr(exc, "code", None) != "tuple_already_exists":
            raise
        ops = [{"op": "add", "path": f"/{k}", "value": v} for k, v in args.values.items()]
        raw = await ctx.box.put(path, json=ops, headers={"Content-Type": "application/json-patch+json"})
    return _instance(raw)


async def set_file_metadata(ctx: ToolContext, args: SetFileMetadataInput) -> MetadataInstance:
    return await _set(ctx, "file", args.file_id, args)


async def set_folder_metadata(ctx: ToolContext, args: SetFolderMetadataInput) -> MetadataInstance:
    return await _set(ctx, "folder", args.folder_id, args)


def _template_fact(a: _SetMetadataInput) -> CallFacts:
    return CallFacts(metadata_template=f"{a.scope}/{a.template_key}")


_WRITE = Hints(read_only=False, destructive=False, idempotent=True)

SPECS = (
    ToolSpec(
        name="list_metadata_templates",
        title="List metadata templates",
        description=(
            "List your enterprise's metadata templates (or Box's global ones): key, display name, fields "
            "with their types and options. Use it before set_file_metadata to learn the field keys."
        ),
        toolset="metadata",
        access=Access.READ,
        box_scopes=box_scopes("list_metadata_templates"),
        hints=READ_HINTS,
        input_model=ListTemplatesInput,
        output_model=Templates,
        handler=list_metadata_templates,
    ),
    ToolSpec(
        name="get_file_metadata",
        title="Get a file's metadata",
        description=(
            "Return a file's metadata instances (scope, template and field values); pass scope and "
            "template_key for just one (not_found if that template is not on the file)."
        ),
        toolset="metadata",
        access=Access.READ,
        box_scopes=box_scopes("get_file_metadata"),
        hints=READ_HINTS,
        input_model=GetMetadataInput,
        output_model=ItemMetadata,
        handler=get_file_metadata,
        resources=lambda a: (item("file", a.file_id, Access.READ),),
    ),
    ToolSpec(
        name="set_file_metadata",
        title="Set metadata on a file",
        description=(
            "Apply a metadata template to a file with these field values, or update them if it is already "
            "applied. Returns the instance. Box refuses unknown keys or wrong types (bad_request)."
        ),
        toolset="metadata",
        access=Access.WRITE,
        box_scopes=box_scopes("set_file_metadata"),
        hints=_WRITE,
        input_model=SetFileMetadataInput,
        output_model=MetadataInstance,
        handler=set_file_metadata,
        keeps_items_in_place=True,
        resources=lambda a: (item("file", a.file_id, Access.WRITE),),
        facts=_template_fact,
    ),
    ToolSpec(
        name="set_folder_metadata",
        title="Set metadata on a folder",
        description=(
            "Apply a metadata template to a folder with these field values, or update them if it is already "
            "applied. Returns the instance. Box refuses unknown keys or wrong types (bad_request)."
        ),
        toolset="metadata",
        access=Access.WRITE,
        box_scopes=box_scopes("set_folder_metadata"),
        hints=_WRITE,
        input_model=SetFolderMetadataInput,
        output_model=MetadataInstance,
        handler=set_folder_metadata,
        keeps_items_in_place=True,
        resources=lambda a: (item("folder", a.folder_id, Access.WRITE),),
        facts=_template_fact,
    ),
)
