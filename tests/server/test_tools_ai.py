"""ai toolset against the emulator's Box AI stand-in: what each tool sends Box and what it returns."""

from __future__ import annotations

import json

import pytest

from box_mcp.emulator.routes import ai as emulated

pytestmark = pytest.mark.anyio

STAND_IN = f"{emulated.MODEL} ({emulated.PROVIDER})"


def _sent(emu, path: str) -> dict:
    (request,) = [r for r in emu.requests if r.url.path == path]
    return json.loads(request.content)


async def test_ai_qa_single_file_answers_with_citations(tools, emu) -> None:
    report = emu.file("Finance/q3-report.md")
    out = await tools.ok("ai_qa_single_file", file_id=report, question="How far did churn fall?")
    assert out["answer"] == "Churn fell to 2.1%."
    assert out["citations"] == [
        {"file_id": report, "file_name": "q3-report.md", "content": "Churn fell to 2.1%."}
    ]
    assert out["ai_models"] == [STAND_IN] and out["completion_reason"] == "done"
    assert _sent(emu, "/2.0/ai/ask") == {
        "mode": "single_item_qa",
        "prompt": "How far did churn fall?",
        "items": [{"type": "file", "id": report}],
        "include_citations": True,
    }


async def test_ai_qa_multi_file_cites_the_file_each_passage_came_from(tools, emu) -> None:
    msa, report = emu.file("Contracts/MSA-Globex.pdf"), emu.file("Finance/q3-report.md")
    out = await tools.ok("ai_qa_multi_file", file_ids=[msa, report], question="What is the term in months?")
    assert [c["file_id"] for c in out["citations"]] == [msa]
    assert "Term 24 months" in out["answer"]
    assert _sent(emu, "/2.0/ai/ask")["mode"] == "multiple_item_qa"


async def test_ai_qa_multi_file_refuses_repeats_and_more_than_25_files_before_box(tools, emu) -> None:
    report = emu.file("Finance/q3-report.md")
    assert "named once" in await tools.err("ai_qa_multi_file", file_ids=[report, report], question="q")
    many = [str(1000 + i) for i in range(26)]
    assert "25" in await tools.err("ai_qa_multi_file", file_ids=many, question="q")
    assert not [r for r in emu.requests if r.url.path.startswith("/2.0/ai")]


async def test_a_file_the_identity_cannot_see_is_boxs_404(tools, emu) -> None:
    text = await tools.err("ai_qa_single_file", file_id="999999999", question="anything?")
    assert "404" in text


async def test_ai_extract_freeform_returns_boxs_answer_text(tools, emu) -> None:
    msa = emu.file("Contracts/MSA-Globex.pdf")
    out = await tools.ok("ai_extract_freeform", file_ids=[msa], prompt="term, value")
    assert json.loads(out["answer"]) == {"term": "24 months", "value": "120000 USD"}
    assert out["ai_models"] == [STAND_IN]


async def test_ai_extract_structured_from_fields_and_its_enhanced_variant(tools, emu) -> None:
    msa = emu.file("Contracts/MSA-Globex.pdf")
    fields = [
        {"key": "value", "type": "float", "display_name": "Value", "description": "contract value"},
        {"key": "renewal", "type": "enum", "options": ["automatic", "notice"], "prompt": "how it renews"},
        {"key": "governing_law"},
    ]
    plain = await tools.ok("ai_extract_structured_from_fields", file_ids=[msa], fields=fields)
    assert plain["values"] == {"value": 120000.0, "renewal": "notice", "governing_law": None}
    assert plain["references"]["value"][0]["id"] == msa
    sent = _sent(emu, "/2.0/ai/extract_structured")
    assert sent["fields"][0] == {
        "key": "value",
        "type": "float",
        "displayName": "Value",
        "description": "contract value",
    }
    assert sent["fields"][1]["options"] == [{"key": "automatic"}, {"key": "notice"}]
    assert sent["include_reference"] is True and "ai_agent" not in sent
    emu.requests.clear()
    enhanced = await tools.ok("ai_extract_structured_from_fields_enhanced", file_ids=[msa], fields=fields)
    assert enhanced["values"] == plain["values"]
    assert _sent(emu, "/2.0/ai/extract_structured")["ai_agent"] == {
        "type": "ai_agent_id",
        "id": "enhanced_extract_agent",
    }
    assert "once" in await tools.err(
        "ai_extract_structured_from_fields", file_ids=[msa], fields=[{"key": "a"}, {"key": "a"}]
    )


async def test_ai_extract_structured_from_metadata_template_and_enhanced(tools, emu) -> None:
    nda = emu.file("Contracts/NDA-Initech.pdf")
    out = await tools.ok(
        "ai_extract_structured_from_metadata_template", file_ids=[nda], template_key="contract"
    )
    assert out["values"] == {"counterparty": None, "value": None, "expires": None}  # the NDA names none
    assert _sent(emu, "/2.0/ai/extract_structured")["metadata_template"] == {
        "type": "metadata_template",
        "scope": "enterprise",
        "template_key": "contract",
    }
    emu.requests.clear()
    await tools.ok(
        "ai_extract_structured_from_metadata_template_enhanced", file_ids=[nda], template_key="contract"
    )
    assert _sent(emu, "/2.0/ai/extract_structured")["ai_agent"]["id"] == "enhanced_extract_agent"
    missing = await tools.err(
        "ai_extract_structured_from_metadata_template", file_ids=[nda], template_key="nope"
    )
    assert "404" in missing
