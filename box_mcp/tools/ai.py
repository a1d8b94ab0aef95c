"""ai toolset: Box AI questions and extraction, under the names Box's hosted MCP server uses.

Every call reads every file it names (the policy sees one READ per file: a multi-file question with one file
outside the agent's grant is refused whole). `ai_qa_hub` reads a Box Hub (`hub:<id>`) and every item in it:
the policy looks the hub's items up when it decides (as the agent's own identity sees them, never cached) and
needs a read grant on each, so a hub holding one file the agent may not read is refused whole. Box AI needs
the enterprise to have it enabled and the app the `ai.readwrite` (Manage AI) scope; Box meters AI calls apart
from the API (policy `limits: ai_calls_per_minute`). Answers and extracted values are Box's (untrusted text,
as file content is).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
from box_mcp.tools.metadata import Scope, TemplateKey
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import (
    READ_HINTS,
    BoxId,
    ToolContext,
    ToolInput,
    ToolOutput,
    ToolSpec,
    item,
)

MAX_FILES = 25  # Box AI takes at most 25 items per request (AiAsk, AiExtract, AiExtractStructured)
ENHANCED_AGENT = {"type": "ai_agent_id", "id": "enhanced_extract_agent"}

Question = Annotated[str, StringConstraints(min_length=1, max_length=10000)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Text = Annotated[str, StringConstraints(max_length=4000)]


def _unique(ids: list[str]) -> list[str]:
    if len(set(ids)) != len(ids):
        raise ValueError("each file may be named once (Box AI refuses repeated items)")
    return ids


FileIds = Annotated[
    list[BoxId],
    Field(min_length=1, max_length=MAX_FILES, description="1 to 25 files"),
    AfterValidator(_unique),
]


class QaSingleFileInput(ToolInput):
    file_id: BoxId
    question: Question


class QaMultiFileInput(ToolInput):
    file_ids: FileIds
    question: Question


class QaHubInput(ToolInput):
    hub_id: BoxId
    prompt: Question


class ExtractFreeformInput(ToolInput):
    file_ids: FileIds
    prompt: Question = Field(description="What to extract, in words or as a JSON list of fields")


class ExtractField(ToolInput):
    key: Label
    type: Literal["string", "float", "date", "enum", "multiSelect"] = "string"
    display_name: Label | None = None
    description: Text | None = None
    prompt: Text | None = Field(None, description="How to find or format the value")
    options: list[Label] | None = Field(None, max_length=500, description="For enum and multiSelect")


def _unique_keys(fields: list[ExtractField]) -> list[ExtractField]:
    keys = [f.key for f in fields]
    if len(set(keys)) != len(keys):
        raise ValueError("each field key may appear once")
    return fields


class ExtractFieldsInput(ToolInput):
    file_ids: FileIds
    fields: Annotated[list[ExtractField], Field(min_length=1, max_length=500), AfterValidator(_unique_keys)]


class ExtractTemplateInput(ToolInput):
    file_ids: FileIds
    scope: Scope = Field(
        "enterprise", description="'enterprise' for your enterprise's templates, or 'global'"
    )
    template_key: TemplateKey = Field(description="Template key (see list_metadata_templates)")


class Citation(ToolOutput):
    file_id: str | None = None
    file_name: str | None = None
    content: str | None = Field(None, description="The passage the answer drew on")


class AiAnswer(ToolOutput):
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    completion_reason: str | None = None
    created_at: str | None = None
    ai_models: list[str] = Field(default_factory=list, description="Models Box says it used")


class AiExtraction(ToolOutput):
    answer: str = Field(description="Box AI's extraction, as Box returned it (often JSON text)")
    completion_reason: str | None = None
    created_at: str | None = None
    ai_models: list[str] = Field(default_factory=list)


class AiStructured(ToolOutput):
    values: dict[str, Any] = Field(description="Field key -> extracted value (null: not found)")
    references: dict[str, Any] | None = Field(None, description="Field key -> where Box found it")
    completion_reason: str | None = None
    created_at: str | None = None
    ai_models: list[str] = Field(default_factory=list)


def _models(raw: dict[str, Any]) -> list[str]:
    info = raw.get("ai_agent_info")
    models = info.get("models") if isinstance(info, dict) else None
    out = []
    for m in models or ():
        if isinstance(m, dict) and m.get("name"):
            provider = m.get("provider")
            out.append(f"{m['name']} ({provider})" if provider else str(m["name"]))
    return out


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _answer(raw: Any) -> AiAnswer:
    raw = raw if isinstance(raw, dict) else {}  # a 204 (nothing indexed to answer from) has no body
    citations = [
        Citation(file_id=_text(c.get("id")), file_name=_text(c.get("name")), content=_text(c.get("content")))
        for c in raw.get("citations") or ()
        if isinstance(c, dict)
    ]
    return AiAnswer(
        answer=_text(raw.get("answer")) or "",
        citations=citations,
        completion_reason=_text(raw.get("completion_reason")),
        created_at=_text(raw.get("created_at")),
        ai_models=_models(raw),
    )


def _files(ids: list[str]) -> list[dict[str, str]]:
    return [{"type": "file", "id": file_id} for file_id in ids]


async def _ask(ctx: ToolContext, mode: str, ids: list[str], question: str) -> AiAnswer:
    body = {"mode": mode, "prompt": question, "items": _files(ids), "include_citations": True}
    return _answer(await ctx.box.post("/ai/ask", json=body, idempotent=True))


async def ai_qa_single_file(ctx: ToolContext, args: QaSingleFileInput) -> AiAnswer:
    return await _ask(ctx, "single_item_qa", [args.file_id], args.question)


async def ai_qa_multi_file(ctx: ToolContext, args: QaMultiFileInput) -> AiAnswer:
    return await _ask(ctx, "multiple_item_qa", args.file_ids, args.question)


async def ai_qa_hub(ctx: ToolContext, args: QaHubInput) -> AiAnswer:
    # Box asks a hub question as single_item_qa on one item of type "hubs" (AiItemAsk).
    body = {
        "mode": "single_item_qa",
        "prompt": args.prompt,
        "items": [{"type": "hubs", "id": args.hub_id}],
        "include_citations": True,
    }
    return _answer(await ctx.box.post("/ai/ask", json=body, idempotent=True))


def _hub_and_its_items(a: QaHubInput) -> tuple[ResourceUse, ...]:
    # subtree on a hub: the call reads every item in it too (policy/decide.py looks them up per call).
    return (ResourceUse(ItemRef("hub", a.hub_id), Access.READ, "item", subtree=True),)


async def ai_extract_freeform(ctx: ToolContext, args: ExtractFreeformInput) -> AiExtraction:
    body = {"prompt": args.prompt, "items": _files(args.file_ids)}
    raw = await ctx.box.post("/ai/extract", json=body, idempotent=True)
    raw = raw if isinstance(raw, dict) else {}
    return AiExtraction(
        answer=_text(raw.get("answer")) or "",
        completion_reason=_text(raw.get("completion_reason")),
        created_at=_text(raw.get("created_at")),
        ai_models=_models(raw),
    )


def _box_field(f: ExtractField) -> dict[str, Any]:
    out: dict[str, Any] = {"key": f.key, "type": f.type}
    for name, value in (
        ("displayName", f.display_name),
        ("description", f.description),
        ("prompt", f.prompt),
    ):
        if value is not None:
            out[name] = value
    if f.options is not None:
        out["options"] = [{"key": option} for option in f.options]
    return out


async def _structured(ctx: ToolContext, body: dict[str, Any], enhanced: bool) -> AiStructured:
    body = {**body, "include_reference": True}
    if enhanced:
        body["ai_agent"] = ENHANCED_AGENT
    raw = await ctx.box.post("/ai/extract_structured", json=body, idempotent=True)
    raw = raw if isinstance(raw, dict) else {}
    answer, reference = raw.get("answer"), raw.get("reference")
    return AiStructured(
        values=answer if isinstance(answer, dict) else {},
        references=reference if isinstance(reference, dict) else None,
        completion_reason=_text(raw.get("completion_reason")),
        created_at=_text(raw.get("created_at")),
        ai_models=_models(raw),
    )


def _from_fields(enhanced: bool) -> Any:
    async def handler(ctx: ToolContext, args: ExtractFieldsInput) -> AiStructured:
        body = {"items": _files(args.file_ids), "fields": [_box_field(f) for f in args.fields]}
        return await _structured(ctx, body, enhanced)

    return handler


def _from_template(enhanced: bool) -> Any:
    async def handler(ctx: ToolContext, args: ExtractTemplateInput) -> AiStructured:
        template = {"type": "metadata_template", "scope": args.scope, "template_key": args.template_key}
        return await _structured(
            ctx, {"items": _files(args.file_ids), "metadata_template": template}, enhanced
        )

    return handler


def _reads_each(a: Any) -> tuple[Any, ...]:
    return tuple(item("file", file_id, Access.READ) for file_id in a.file_ids)


def _template_fact(a: ExtractTemplateInput) -> CallFacts:
    return CallFacts(metadata_template=f"{a.scope}/{a.template_key}")


_ENHANCED = " Uses Box AI's Enhanced Extract Agent: costs more; use it when asked for enhanced extraction."


def _spec(name: str, title: str, description: str, **kw: Any) -> ToolSpec:
    return ToolSpec(
        name=name,
        title=title,
        description=description,
        toolset="ai",
        access=Access.READ,
        box_scopes=box_scopes(name),
        hints=READ_HINTS,
        **kw,
    )


SPECS = (
    _spec(
        "ai_qa_single_file",
        "Ask Box AI about a file",
        "Ask Box AI a question about one file; returns the answer with citations to the passages used.",
        input_model=QaSingleFileInput,
        output_model=AiAnswer,
        handler=ai_qa_single_file,
        resources=lambda a: (item("file", a.file_id, Access.READ),),
    ),
    _spec(
        "ai_qa_multi_file",
        "Ask Box AI about several files",
        "Ask Box AI one question across up to 25 files; returns the answer with citations naming each "
        "file a passage came from.",
        input_model=QaMultiFileInput,
        output_model=AiAnswer,
        handler=ai_qa_multi_file,
        resources=_reads_each,
    ),
    _spec(
        "ai_qa_hub",
        "Ask Box AI about a Box Hub",
        "Ask Box AI a question across the content of a Box Hub (hub_id from list_hubs); returns the answer "
        "with citations naming the files used. Needs read on the hub and on every item in it.",
        input_model=QaHubInput,
        output_model=AiAnswer,
        handler=ai_qa_hub,
        resources=_hub_and_its_items,
    ),
    _spec(
        "ai_extract_freeform",
        "Extract data with Box AI (freeform)",
        "Extract what the prompt asks for from up to 25 files with Box AI; returns Box AI's answer as text.",
        input_model=ExtractFreeformInput,
        output_model=AiExtraction,
        handler=ai_extract_freeform,
        resources=_reads_each,
    ),
    _spec(
        "ai_extract_structured_from_fields",
        "Extract fields with Box AI",
        "Extract the given fields (key, type, options) from up to 25 files with Box AI; returns key -> "
        "value (null when not found) and where each was found.",
        input_model=ExtractFieldsInput,
        output_model=AiStructured,
        handler=_from_fields(enhanced=False),
        resources=_reads_each,
    ),
    _spec(
        "ai_extract_structured_from_fields_enhanced",
        "Extract fields with Box AI (enhanced)",
        "As ai_extract_structured_from_fields." + _ENHANCED,
        input_model=ExtractFieldsInput,
        output_model=AiStructured,
        handler=_from_fields(enhanced=True),
        resources=_reads_each,
    ),
    _spec(
        "ai_extract_structured_from_metadata_template",
        "Extract a metadata template's fields with Box AI",
        "Extract the fields of a metadata template from up to 25 files with Box AI; returns key -> value "
        "(ready for set_file_metadata) and where each was found.",
        input_model=ExtractTemplateInput,
        output_model=AiStructured,
        handler=_from_template(enhanced=False),
        resources=_reads_each,
        facts=_template_fact,
    ),
    _spec(
        "ai_extract_structured_from_metadata_template_enhanced",
        "Extract a metadata template's fields with Box AI (enhanced)",
        "As ai_extract_structured_from_metadata_template." + _ENHANCED,
        input_model=ExtractTemplateInput,
        output_model=AiStructured,
        handler=_from_template(enhanced=True),
        resources=_reads_each,
        facts=_template_fact,
    ),
)
