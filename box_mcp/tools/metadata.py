"""metadata toolset: templates (list, read a schema, create, change) and the values set on files and folders.

How the policy sees templates: a template belongs to the enterprise, not to a folder. Reading one
(`list_metadata_templates`, `get_metadata_template_schema`) touches no item, so any grant of the tool
allows it (a folder-confined grant too). Creating or changing one (`create_metadata_template`,
`update_metadata_template`) is an enterprise-wide change: the call needs admin access on `enterprise
metadata_templates`, which no folder and no `items:` entry names, so only a permit without `within:`/`items:`
at admin level grants it (`tools: [create_metadata_template]`, `toolsets: [metadata]` without `access:`, or
an unscoped `access: admin`); a write grant anywhere never does, nor a folder-confined admin one.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, WithJsonSchema, model_validator

from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
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
# What creating or changing a template writes: the enterprise's templates (policy/locate.py UNPLACED).
ENTERPRISE_TEMPLATES = ItemRef("enterprise", "metadata_templates")
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


# --- get_metadata_template_schema ---------------------------------------------------------------


class TemplateSchemaInput(ToolInput):
    scope: Literal["enterprise", "global"] = "enterprise"
    template_key: TemplateKey = Field(
        description="Template key, e.g. 'contract' (see list_metadata_templates)"
    )


class SchemaField(TemplateField):
    description: str | None = None
    hidden: bool | None = None


class TemplateSchema(ToolOutput):
    id: str | None = None
    scope: str | None = None
    template_key: str | None = None
    display_name: str | None = None
    hidden: bool | None = None
    copy_instance_on_item_copy: bool | None = None
    fields: list[SchemaField] = Field(default_factory=list)


def _schema(raw: Any) -> TemplateSchema:
    raw = raw if isinstance(raw, dict) else {}
    fields = []
    for f in raw.get("fields") or ():
        if not isinstance(f, dict) or not isinstance(f.get("key"), str):
            continue
        opts = [str(o["key"]) for o in f.get("options") or () if isinstance(o, dict) and "key" in o]
        fields.append(
            SchemaField(
                key=f["key"],
                type=_str(f.get("type")),
                display_name=_str(f.get("displayName")),
                options=opts or None,
                description=_str(f.get("description")),
                hidden=f.get("hidden") if isinstance(f.get("hidden"), bool) else None,
            )
        )
    flags = {
        k: raw.get(k) if isinstance(raw.get(k), bool) else None for k in ("hidden", "copyInstanceOnItemCopy")
    }
    return TemplateSchema(
        id=_str(raw.get("id")),
        scope=_str(raw.get("scope")),
        template_key=_str(raw.get("templateKey")),
        display_name=_str(raw.get("displayName")),
        hidden=flags["hidden"],
        copy_instance_on_item_copy=flags["copyInstanceOnItemCopy"],
        fields=fields,
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


async def get_metadata_template_schema(ctx: ToolContext, args: TemplateSchemaInput) -> TemplateSchema:
    return _schema(await ctx.box.get(f"/metadata_templates/{args.scope}/{args.template_key}/schema"))


# --- create_metadata_template / update_metadata_template -----------------------------------------

# Box's limits (OpenAPI: MetadataTemplate, POST /metadata_templates/schema): keys as Box writes them.
FieldKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][-A-Za-z0-9_]{0,255}$")]
DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"\S")]
LongText = Annotated[str, StringConstraints(max_length=4096)]
OptionKey = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
FieldType = Literal["string", "float", "date", "enum", "multiSelect"]
_LISTS = ("enum", "multiSelect")


def _distinct(what: str, keys: list[str]) -> None:
    if len(set(keys)) != len(keys):
        raise ValueError(f"each {what} may appear once")


class NewField(ToolInput):
    type: FieldType
    key: FieldKey
    display_name: DisplayName
    description: LongText | None = None
    hidden: bool = False
    options: list[OptionKey] | None = Field(
        None, max_length=500, description="Required for enum, multiSelect"
    )

    @model_validator(mode="after")
    def _options(self) -> NewField:
        if self.type in _LISTS:
            if not self.options:
                raise ValueError(f"a {self.type} field needs options (a list of option keys)")
            _distinct("option", self.options)
        elif self.options is not None:
            raise ValueError(f"a {self.type} field takes no options (only enum and multiSelect do)")
        return self

    def box(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "key": self.key, "displayName": self.display_name}
        if self.description is not None:
            out["description"] = self.description
        if self.hidden:
            out["hidden"] = True
        if self.options is not None:
            out["options"] = [{"key": o} for o in self.options]
        return out


class CreateTemplateInput(ToolInput):
    scope: Literal["enterprise"] = Field(
        "enterprise", description="Box creates templates in 'enterprise' only"
    )
    display_name: DisplayName
    template_key: TemplateKey | None = Field(None, description="Default: Box derives one from display_name")
    hidden: bool = Field(False, description="Hidden in the Box web app (API use only)")
    copy_instance_on_item_copy: bool = False
    fields: list[NewField] = Field(default_factory=list, max_length=500)

    @model_validator(mode="after")
    def _keys(self) -> CreateTemplateInput:
        _distinct("field key", [f.key for f in self.fields])
        return self


async def create_metadata_template(ctx: ToolContext, args: CreateTemplateInput) -> TemplateSchema:
    body: dict[str, Any] = {
        "scope": args.scope,
        "displayName": args.display_name,
        "hidden": args.hidden,
        "copyInstanceOnItemCopy": args.copy_instance_on_item_copy,
        "fields": [f.box() for f in args.fields],
    }
    if args.template_key is not None:
        body["templateKey"] = args.template_key
    return _schema(await ctx.box.post("/metadata_templates/schema", json=body))


OpName = Literal[
    "editTemplate",
    "addField",
    "editField",
    "removeField",
    "reorderFields",
    "addEnumOption",
    "editEnumOption",
    "removeEnumOption",
    "reorderEnumOptions",
    "addMultiSelectOption",
    "editMultiSelectOption",
    "removeMultiSelectOption",
    "reorderMultiSelectOptions",
]


class OpData(ToolInput):
    """What an operation sets; which of these each op takes is checked with the op (see _OP_DATA)."""

    key: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = Field(
        None, description="addField, editField: field key; add/edit*Option: option key"
    )
    type: FieldType | None = Field(None, description="addField")
    display_name: DisplayName | None = None
    description: LongText | None = None
    hidden: bool | None = None
    options: list[OptionKey] | None = Field(None, max_length=500, description="addField of enum, multiSelect")
    copy_instance_on_item_copy: bool | None = Field(None, description="editTemplate")


# op -> (which data it takes, which it needs); None: the op takes no data
_OP_DATA: dict[str, tuple[frozenset[str], frozenset[str]] | None] = {
    "editTemplate": (frozenset({"display_name", "hidden", "copy_instance_on_item_copy"}), frozenset()),
    "addField": (
        frozenset({"key", "type", "display_name", "description", "hidden", "options"}),
        frozenset({"key", "type", "display_name"}),
    ),
    "editField": (frozenset({"key", "display_name", "description", "hidden"}), frozenset()),
    "addEnumOption": (frozenset({"key"}), frozenset({"key"})),
    "editEnumOption": (frozenset({"key"}), frozenset({"key"})),
    "addMultiSelectOption": (frozenset({"key"}), frozenset({"key"})),
    "editMultiSelectOption": (frozenset({"key"}), frozenset({"key"})),
}
_NEEDS_OPTION = ("editEnumOption", "removeEnumOption", "editMultiSelectOption", "removeMultiSelectOption")
_REORDERS = {
    "reorderFields": "fieldKeys",
    "reorderEnumOptions": "enumOptionKeys",
    "reorderMultiSelectOptions": "multiSelectOptionKeys",
}
_CAMEL = {"display_name": "displayName", "copy_instance_on_item_copy": "copyInstanceOnItemCopy"}


class TemplateOperation(ToolInput):
    op: OpName
    field_key: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = Field(
        None, description="The field the op changes (all ops but editTemplate, addField, reorderFields)"
    )
    option_key: OptionKey | None = Field(None, description="edit/remove*Option: the option it changes")
    order: list[Annotated[str, StringConstraints(min_length=1, max_length=4096)]] | None = Field(
        None, max_length=500, description="reorder*: every field or option key, in the new order"
    )
    data: OpData | None = None

    @model_validator(mode="after")
    def _fits_op(self) -> TemplateOperation:
        op = self.op
        on_field = op not in ("editTemplate", "reorderFields", "addField")  # addField's key is in data
        if on_field != (self.field_key is not None):
            raise ValueError(f"{op} {'needs' if on_field else 'takes no'} field_key")
        if (op in _NEEDS_OPTION) != (self.option_key is not None):
            raise ValueError(f"{op} {'needs' if op in _NEEDS_OPTION else 'takes no'} option_key")
        if (op in _REORDERS) != (self.order is not None):
            raise ValueError(f"{op} {'needs' if op in _REORDERS else 'takes no'} order")
        if self.order is not None:
            _distinct("key in order", self.order)
        allowed = _OP_DATA.get(op)
        given = set() if self.data is None else {k for k, v in self.data if v is not None}
        if allowed is None:
            if given:
                raise ValueError(f"{op} takes no data")
            return self
        takes, needs = allowed
        if not given:
            raise ValueError(f"{op} needs data with {', '.join(sorted(needs or takes))}")
        if given - takes:
            raise ValueError(
                f"{op} data takes only {', '.join(sorted(takes))}, not {', '.join(sorted(given - takes))}"
            )
        if needs - given:
            raise ValueError(f"{op} data needs {', '.join(sorted(needs - given))}")
        if op == "addField":
            assert self.data is not None
            NewField.model_validate(self.data.model_dump(exclude_none=True))  # one field, checked as created
        return self

    def box(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op}
        if self.field_key is not None:
            out["fieldKey"] = self.field_key
        if self.option_key is not None:
            out["multiSelectOptionKey" if "MultiSelect" in self.op else "enumOptionKey"] = self.option_key
        if self.order is not None:
            out[_REORDERS[self.op]] = self.order
        if self.data is not None:
            if self.op == "addField":
                out["data"] = NewField.model_validate(self.data.model_dump(exclude_none=True)).box()
            else:
                out["data"] = {
                    _CAMEL.get(k, k): v for k, v in self.data.model_dump(exclude_none=True).items()
                }
        return out


class UpdateTemplateInput(ToolInput):
    scope: Literal["enterprise"] = Field("enterprise", description="Box's global templates cannot be changed")
    template_key: TemplateKey
    operations: list[TemplateOperation] = Field(
        min_length=1,
        max_length=100,
        description="Box's schema operations, applied in order, all or none. removeField and "
        "remove*Option also delete the values items hold",
    )


async def update_metadata_template(ctx: ToolContext, args: UpdateTemplateInput) -> TemplateSchema:
    ops = [op.box() for op in args.operations]
    raw = await ctx.box.put(
        f"/metadata_templates/{args.scope}/{args.template_key}/schema",
        json=ops,
        headers={"Content-Type": "application/json-patch+json"},
    )
    return _schema(raw)


def _templates(access: Access, role: str) -> Any:
    return lambda a: (ResourceUse(ENTERPRISE_TEMPLATES, access, role),)


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
        name="get_metadata_template_schema",
        title="Get a metadata template's schema",
        description=(
            "One metadata template by scope and key: display name, and each field's key, type, display "
            "name, description and options. Use it before set_file_metadata or update_metadata_template."
        ),
        toolset="metadata",
        access=Access.READ,
        box_scopes=box_scopes("get_metadata_template_schema"),
        hints=READ_HINTS,
        input_model=TemplateSchemaInput,
        output_model=TemplateSchema,
        handler=get_metadata_template_schema,
        facts=lambda a: CallFacts(metadata_template=f"{a.scope}/{a.template_key}"),
    ),
    ToolSpec(
        name="create_metadata_template",
        title="Create a metadata template",
        description=(
            "Create an enterprise metadata template (needs a Box admin or co-admin identity): display "
            "name, optional key, fields (type string, float, date, enum or multiSelect; options for the "
            "last two). Every user in the enterprise can then apply it. Returns the template."
        ),
        toolset="metadata",
        access=Access.ADMIN,
        box_scopes=box_scopes("create_metadata_template"),
        hints=Hints(read_only=False, destructive=False, idempotent=False),
        input_model=CreateTemplateInput,
        output_model=TemplateSchema,
        handler=create_metadata_template,
        keeps_items_in_place=True,
        enterprise_wide=True,
        resources=_templates(Access.ADMIN, "parent"),
        facts=lambda a: CallFacts(
            name=a.display_name,
            metadata_template=f"enterprise/{a.template_key}" if a.template_key is not None else None,
        ),
    ),
    ToolSpec(
        name="update_metadata_template",
        title="Change a metadata template",
        description=(
            "Change an enterprise metadata template with Box's operations (editTemplate, addField, "
            "editField, removeField, reorderFields, add/edit/remove/reorder Enum and MultiSelect options), "
            "all or none. Renames reach every item's values; removeField and remove*Option delete them. "
            "Needs a Box admin or co-admin identity. Returns the template."
        ),
        toolset="metadata",
        access=Access.ADMIN,
        box_scopes=box_scopes("update_metadata_template"),
        hints=Hints(read_only=False, destructive=True, idempotent=False),
        input_model=UpdateTemplateInput,
        output_model=TemplateSchema,
        handler=update_metadata_template,
        keeps_items_in_place=True,
        enterprise_wide=True,
        resources=_templates(Access.ADMIN, "item"),
        facts=lambda a: CallFacts(metadata_template=f"{a.scope}/{a.template_key}"),
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
