"""Box AI calls under the policy: each reads every file it names, so one file outside the grant refuses the
whole question (before Box sees it), in the same words as a file that does not exist; toolset `ai` can be
granted or left out on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from box_mcp.access import Access, ItemRef, ResourceUse
from box_mcp.tools.catalog import BY_NAME

pytestmark = pytest.mark.anyio

CONTRACTS = "200000000001"
MISSING = "999999999999"
AI_TOOLS = [name for name, spec in BY_NAME.items() if spec.toolset == "ai"]
FILE_TOOLS = [
    name for name in AI_TOOLS if name != "ai_qa_hub"
]  # the hub question: test_templates_collabs_hub_ai


def _policy(tmp_path: Path, *rules: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text("agents:\n  boxed: {}\nrules:\n" + "".join(f"  - {r}\n" for r in rules))
    return path


READS_CONTRACTS = f"{{id: work, effect: permit, agents: boxed, access: read, within: ['{CONTRACTS}']}}"


def test_every_ai_tool_reads_each_file_it_names_and_nothing_else() -> None:
    ids = [str(100 + i) for i in range(25)]
    for name in FILE_TOOLS:
        spec = BY_NAME[name]
        assert spec.read_only and spec.access is Access.READ
        hints = spec.hints
        assert (hints.read_only, hints.destructive, hints.open_world) == (True, False, True)
        if "file_ids" in spec.input_model.model_fields:
            args: dict[str, Any] = {"file_ids": ids}
        else:
            args = {"file_id": ids[0]}
        args |= _extra(name)
        uses = spec.resources(spec.input_model.model_validate(args))
        expected = ids if "file_ids" in args else ids[:1]
        assert uses == tuple(ResourceUse(ItemRef("file", i), Access.READ) for i in expected), name


def test_the_hub_question_reads_the_hub_and_everything_in_it() -> None:
    spec = BY_NAME["ai_qa_hub"]
    assert spec.read_only and spec.access is Access.READ and spec.hints.destructive is False
    uses = spec.resources(spec.input_model.model_validate({"hub_id": "7", "prompt": "q"}))
    assert uses == (ResourceUse(ItemRef("hub", "7"), Access.READ, "item", subtree=True),)


def _extra(name: str) -> dict[str, Any]:
    if name.startswith("ai_qa"):
        return {"question": "q"}
    if name == "ai_extract_freeform":
        return {"prompt": "p"}
    if "fields" in name:
        return {"fields": [{"key": "k"}]}
    return {"template_key": "contract"}


def test_the_ai_toolset_is_granted_or_refused_as_a_whole(make_engine, ask, use) -> None:
    engine = make_engine(
        "agents:\n  reader: {}\n  asker: {}\nrules:\n"
        "  - {id: read, effect: permit, agents: [reader, asker], toolsets: [files], access: read}\n"
        "  - {id: ai, effect: permit, agents: asker, toolsets: [ai], access: read}\n"
    )
    file = use("file", "5")
    assert ask(engine, "asker", "ai_qa_single_file", file, ancestry={"file:5": ["0"]}).effect == "allow"
    denied = ask(engine, "reader", "ai_qa_single_file", file, ancestry={"file:5": ["0"]})
    assert denied.effect == "deny"
    assert set(AI_TOOLS) <= engine.visible_tools("asker") and not set(AI_TOOLS) & engine.visible_tools(
        "reader"
    )


async def test_a_multi_file_question_inside_the_grant_is_answered(
    make_world, connect, tmp_path: Path
) -> None:
    w = make_world(_policy(tmp_path, READS_CONTRACTS))
    agent = await connect(w, "boxed")
    files = [w.file("Contracts/MSA-Globex.pdf"), w.file("Contracts/NDA-Initech.pdf")]
    out = await agent.ok(
        "ai_qa_multi_file", file_ids=files, question="How many years is the confidentiality term?"
    )
    assert out["answer"] == "Confidential information, term 3 years."
    assert [c["file_id"] for c in out["citations"]] == [files[1]]


async def test_one_file_outside_the_grant_refuses_the_whole_question_as_a_missing_one_would(
    make_world, connect, tmp_path: Path
) -> None:
    w = make_world(_policy(tmp_path, READS_CONTRACTS))
    agent = await connect(w, "boxed")
    inside, outside = w.file("Contracts/MSA-Globex.pdf"), w.file("HR/salaries.csv")
    texts = []
    for other in (outside, MISSING):
        text = await agent.err("ai_qa_multi_file", file_ids=[inside, other], question="salaries?")
        texts.append(text.replace(other, "ID"))
    assert texts[0] == texts[1], texts  # the agent cannot tell "outside my grant" from "does not exist"
    assert texts[0].startswith("Denied: file ID is not available to boxed"), texts[0]
    assert "HR" not in texts[0] and "salaries" not in texts[0]  # nothing about the outside file leaks
    assert not [r for r in w.requests if r.url.path.startswith("/2.0/ai")]  # Box AI never saw the question


async def test_an_extraction_needs_read_on_every_file(make_world, connect, tmp_path: Path) -> None:
    w = make_world(_policy(tmp_path, READS_CONTRACTS))
    agent = await connect(w, "boxed")
    msa = w.file("Contracts/MSA-Globex.pdf")
    fields = [{"key": "value", "type": "float"}]
    out = await agent.ok("ai_extract_structured_from_fields", file_ids=[msa], fields=fields)
    assert out["values"] == {"value": 120000.0}
    text = await agent.err(
        "ai_extract_structured_from_metadata_template",
        file_ids=[msa, w.file("Engineering/design.md")],
        template_key="contract",
    )
    assert text.startswith("Denied: file "), text


async def test_a_forbid_on_one_file_refuses_a_question_that_names_it(
    make_world, connect, tmp_path: Path
) -> None:
    blocked = make_world(_policy(tmp_path, READS_CONTRACTS)).file("Contracts/NDA-Initech.pdf")  # seeded ids
    nda = f"{{id: no-nda, effect: forbid, agents: boxed, items: ['file:{blocked}']}}"
    w = make_world(_policy(tmp_path, READS_CONTRACTS, nda))
    agent = await connect(w, "boxed")
    text = await agent.err(
        "ai_qa_multi_file", file_ids=[w.file("Contracts/MSA-Globex.pdf"), blocked], question="term?"
    )
    assert text.startswith("Denied: "), text
    answered = await agent.ok(
        "ai_qa_single_file", file_id=w.file("Contracts/MSA-Globex.pdf"), question="term?"
    )
    assert "Term 24 months" in answered["answer"]


async def test_an_agents_ai_call_limit_refuses_the_next_ai_call_only(
    make_world, connect, tmp_path: Path
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "agents:\n  boxed: {limits: {ai_calls_per_minute: 1}}\nrules:\n  - " + READS_CONTRACTS + "\n"
    )
    w = make_world(path)
    agent = await connect(w, "boxed")
    msa = w.file("Contracts/MSA-Globex.pdf")
    await agent.ok("ai_qa_single_file", file_id=msa, question="term?")
    text = await agent.err("ai_extract_freeform", file_ids=[msa], prompt="term")
    assert "boxed reached its limit of 1 AI calls per minute; retry in " in text, text
    assert (await agent.ok("get_file_details", file_id=msa))["name"] == "MSA-Globex.pdf"
