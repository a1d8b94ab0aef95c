"""search_files_metadata against the emulator: Box's metadata query through the gate (the demo's `contract`
instances: MSA-Globex 120000, NDA-Initech 0, both in Contracts), paging across several ancestor folders,
values returned, and the errors an agent can act on."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


async def test_a_query_finds_the_files_whose_values_match(tools, emu) -> None:
    found = await tools.ok(
        "search_files_metadata",
        template_key="contract",
        query="value >= :least AND counterparty ILIKE :who",
        query_params={"least": 1000, "who": "%globex%"},
    )
    assert [e["name"] for e in found["entries"]] == ["MSA-Globex.pdf"]
    hit = found["entries"][0]
    assert hit["path"] == "/Contracts/MSA-Globex.pdf"
    assert hit["values"]["counterparty"] == "Globex Corporation" and hit["values"]["value"] == 120000
    assert found["template"].startswith("enterprise_") and found["template"].endswith(".contract")
    assert "next_cursor" not in found or found["next_cursor"] is None


async def test_fields_order_and_paging_over_several_ancestor_folders(tools, emu) -> None:
    contracts, finance = emu.folder("Contracts"), emu.folder("Finance")
    await tools.ok(
        "set_file_metadata",
        file_id=emu.file("Finance/q3-report.md"),
        template_key="contract",
        values={"counterparty": "Hooli", "value": 50},
    )
    seen: list[str] = []
    cursor = None
    for _ in range(5):  # bounded: three hits, one per page
        args = {
            "template_key": "contract",
            "ancestor_folder_ids": [contracts, finance],
            "order_by": ["value"],
            "descending": True,
            "fields": ["value"],
            "limit": 1,
        }
        page = await tools.ok("search_files_metadata", **args, **({"cursor": cursor} if cursor else {}))
        seen += [e["name"] for e in page["entries"]]
        assert all(set(e["values"]) <= {"value"} for e in page["entries"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert seen == ["MSA-Globex.pdf", "NDA-Initech.pdf", "q3-report.md"]  # sorted within each folder


async def test_a_param_without_a_value_or_a_bad_query_says_what_to_fix(tools, emu) -> None:
    missing = await tools.err("search_files_metadata", template_key="contract", query="value >= :least")
    assert "query_params has no value for :least" in missing
    bad = await tools.err(
        "search_files_metadata", template_key="contract", query="nosuch = :x", query_params={"x": 1}
    )
    assert "nosuch" in bad and "400" in bad
    unknown = await tools.err("search_files_metadata", template_key="no_such_template")
    assert "404" in unknown
    cursor = await tools.err("search_files_metadata", template_key="contract", cursor="not-a-cursor")
    assert "cursor is not a next_cursor" in cursor


async def test_nested_ancestor_folders_show_each_hit_once(tools, emu) -> None:
    found = await tools.ok(
        "search_files_metadata", template_key="contract", ancestor_folder_ids=[emu.folder("Contracts"), "0"]
    )
    names = [e["name"] for e in found["entries"]]
    assert sorted(names) == ["MSA-Globex.pdf", "NDA-Initech.pdf"]  # under Contracts and under All Files
