"""docgen toolset: Box Doc Gen (2025.0 API): list templates, a template's details and tags, generate
documents in a batch.

How the policy sees it: a template is the file it is (`file:<id>`, read); `create_docgen_batch` reads the
template and writes new files into its destination folder (a write there, like an upload), so a rule
granting Doc Gen must cover both. `list_docgen_templates` shows only the templates the agent could read.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from box_mcp.access import Access, CallFacts
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import (
    READ_HINTS,
    BoxId,
    Hints,
    ToolContext,
    ToolInput,
    ToolOutput,
    ToolSpec,
    check_item_name,
    item,
)

V2025 = {"box-version": "2025.0"}  # Doc Gen is served only under API version 2025.0
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
MAX_TAGS = 1000


class Template(ToolOutput):
    type: str = "file"
    id: str
    name: str | None = None


class Templates(ToolOutput):
    entries: list[Template]
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page; absent at the end")


class Tag(ToolOutput):
    tag_content: str
    tag_type: str | None = None
    json_paths: list[str] = []


class TemplateDetails(ToolOutput):
    type: str = "file"
    id: str
    name: str | None = None
    tags: list[Tag] = []
    tags_pending: bool | None = Field(None, description="True while Box is still reading the tags")


class Job(ToolOutput):
    id: str
    status: str | None = None
    output_file_id: str | None = None
    errors: list[str] = []
    warnings: list[str] = []


class Batch(ToolOutput):
    batch_id: str
    destination_folder_id: str
    jobs: list[Job]


def _page(raw: dict[str, Any]) -> str | None:
    marker = raw.get("next_marker")
    return str(marker) if marker else None


# --- list_docgen_templates / get_docgen_template_by_id ------------------------------------------


class ListTemplatesInput(ToolInput):
    limit: int = Field(100, ge=1, le=1000)
    cursor: Cursor | None = None  # next_cursor of the previous page


def _template(raw: dict[str, Any]) -> Template | None:
    ref = raw.get("file")
    if not isinstance(ref, dict) or not ref.get("id"):
        return None
    name = raw.get("file_name")
    return Template(id=str(ref["id"]), name=name if isinstance(name, str) else None)


async def list_docgen_templates(ctx: ToolContext, args: ListTemplatesInput) -> Templates:
    params: dict[str, Any] = {"limit": args.limit}
    if args.cursor:
        params["marker"] = args.cursor
    raw = await ctx.box.get("/docgen_templates", params=params, headers=V2025)
    entries = [t for e in raw.get("entries") or () if isinstance(e, dict) and (t := _template(e))]
    return Templates(entries=entries, next_cursor=_page(raw))


class TemplateIdInput(ToolInput):
    template_id: BoxId = Field(description="The template's file id")


async def get_docgen_template_by_id(ctx: ToolContext, args: TemplateIdInput) -> TemplateDetails:
    raw = await ctx.box.get(f"/docgen_templates/{args.template_id}", headers=V2025)
    found = _template(raw) or Template(id=args.template_id)
    tags_raw = await ctx.box.get(
        f"/docgen_templates/{args.template_id}/tags", params={"limit": MAX_TAGS}, headers=V2025
    )
    pending = "entries" not in tags_raw and isinstance(tags_raw.get("message"), str)  # Box's 202
    tags = [
        Tag(
            tag_content=str(t["tag_content"]),
            tag_type=t.get("tag_type") if isinstance(t.get("tag_type"), str) else None,
            json_paths=[str(p) for p in t.get("json_paths") or () if isinstance(p, str)],
        )
        for t in tags_raw.get("entries") or ()
        if isinstance(t, dict) and isinstance(t.get("tag_content"), str)
    ]
    return TemplateDetails(id=found.id, name=found.name, tags=tags, tags_pending=pending or None)


# --- create_docgen_batch ------------------------------------------------------------------------

GeneratedName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    Field(description="The new file's name, without the extension (output_type adds it)"),
]


class CreateBatchInput(ToolInput):
    template_id: BoxId = Field(description="The template's file id")
    destination_folder_id: BoxId
    generated_file_name: GeneratedName
    user_input: dict[str, Any] = Field(description="Values for the template's tags, by JSON path")
    output_type: Literal["docx", "pdf"] = "docx"
    template_version_id: BoxId | None = Field(
        None, description="A version of the template (default: current)"
    )

    @property
    def output_name(self) -> str:
        return f"{self.generated_file_name}.{self.output_type}"

    @model_validator(mode="after")
    def _name(self) -> CreateBatchInput:
        check_item_name(self.output_name)
        return self


async def create_docgen_batch(ctx: ToolContext, args: CreateBatchInput) -> Batch:
    body: dict[str, Any] = {
        "file": {"type": "file", "id": args.template_id},
        "input_source": "api",
        "destination_folder": {"type": "folder", "id": args.destination_folder_id},
        "output_type": args.output_type,
        "document_generation_data": [
            {"generated_file_name": args.generated_file_name, "user_input": args.user_input}
        ],
    }
    if args.template_version_id is not None:
        body["file_version"] = {"id": args.template_version_id}
    batch = await ctx.box.post("/docgen_batches", json=body, headers=V2025)
    batch_id = str(batch.get("id"))
    raw = await ctx.box.get(f"/docgen_batch_jobs/{batch_id}", params={"limit": 1000}, headers=V2025)
    jobs = []
    for job in raw.get("entries") or ():
        if not isinstance(job, dict) or not job.get("id"):
            continue
        out = job.get("output_file")
        found = job.get("failures")
        failures: dict[str, Any] = found if isinstance(found, dict) else {}
        jobs.append(
            Job(
                id=str(job["id"]),
                status=job.get("status") if isinstance(job.get("status"), str) else None,
                output_file_id=str(out["id"]) if isinstance(out, dict) and out.get("id") else None,
                errors=[str(e) for e in failures.get("errors") or ()],
                warnings=[str(w) for w in failures.get("warnings") or ()],
            )
        )
    return Batch(batch_id=batch_id, destination_folder_id=args.destination_folder_id, jobs=jobs)


def _batch_facts(args: CreateBatchInput) -> CallFacts:
    """The new file's name and extension: name and extension rules apply as to an upload."""
    return CallFacts(name=args.output_name, extension=args.output_type)


SPECS = (
    ToolSpec(
        name="list_docgen_templates",
        title="List Doc Gen templates",
        description=(
            "List the Box Doc Gen templates you can see (file id and name). Pass next_cursor back as cursor."
        ),
        toolset="docgen",
        access=Access.READ,
        box_scopes=box_scopes("list_docgen_templates"),
        hints=READ_HINTS,
        input_model=ListTemplatesInput,
        output_model=Templates,
        handler=list_docgen_templates,
        output_kind="items",
    ),
    ToolSpec(
        name="get_docgen_template_by_id",
        title="Get a Doc Gen template",
        description=(
            "A Box Doc Gen template (by its file id) and its tags: each tag's text, type (text, "
            "arithmetic, conditional, for-loop, table-loop, image) and the JSON paths it reads."
        ),
        toolset="docgen",
        access=Access.READ,
        box_scopes=box_scopes("get_docgen_template_by_id"),
        hints=READ_HINTS,
        input_model=TemplateIdInput,
        output_model=TemplateDetails,
        handler=get_docgen_template_by_id,
        resources=lambda a: (item("file", a.template_id, Access.READ),),
    ),
    ToolSpec(
        name="create_docgen_batch",
        title="Generate documents from a Doc Gen template",
        description=(
            "Fill a Box Doc Gen template's tags from user_input and save the result as a new .docx or .pdf "
            "file named generated_file_name in the destination folder (one document per call). Answers "
            "the job's status, new file id, and errors (tags without input) and warnings (unused input)."
        ),
        toolset="docgen",
        access=Access.WRITE,
        box_scopes=box_scopes("create_docgen_batch"),
        hints=Hints(read_only=False, destructive=False, idempotent=False),
        input_model=CreateBatchInput,
        output_model=Batch,
        handler=create_docgen_batch,
        resources=lambda a: (
            item("file", a.template_id, Access.READ, "source"),
            item("folder", a.destination_folder_id, Access.WRITE, "parent"),
        ),
        facts=_batch_facts,
    ),
)
