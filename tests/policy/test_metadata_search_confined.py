"""search_files_metadata for a confined agent, through the real gate on the emulator's demo seed: an
unscoped query is scoped to the grant's roots, a folder outside is refused, and a forbid below the grant
hides its items (the page refilled past them, nothing of them named)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.anyio

CONTRACTS, FINANCE = "200000000001", "200000000004"


def _policy(tmp_path: Path, *rules: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        "agents:\n  boxed: {acts_as: {as_user: '30000000001'}}\nrules:\n"
        + "".join(f"  - {r}\n" for r in rules)
    )
    return path


async def test_a_confined_agent_finds_only_what_lies_inside_its_grant(
    make_world, connect, tmp_path: Path
) -> None:
    policy = _policy(
        tmp_path, f"{{id: contracts, effect: permit, agents: boxed, access: write, within: ['{CONTRACTS}']}}"
    )
    w = make_world(policy)
    store = w.app.state.emulator.store
    finance_file = store.fetch_one("SELECT id FROM items WHERE name = 'q3-report.md'")["id"]
    # Outside the grant, a file with matching values (set directly in the emulator: boxed could not).
    boxed = await connect(w, "boxed")
    scope = (await boxed.ok("search_files_metadata", template_key="contract"))["template"].split(".")[0]
    store.execute(
        "INSERT INTO metadata_instances (id, item_type, item_id, scope, template_key, data, created_at) "
        "VALUES ('x1', 'file', ?, ?, 'contract', '{\"counterparty\": \"Outside\", \"value\": 999999}', 0)",
        (finance_file, scope),
    )
    found = await boxed.ok(
        "search_files_metadata", template_key="contract", query="value >= :v", query_params={"v": 0}
    )
    assert sorted(e["name"] for e in found["entries"]) == ["MSA-Globex.pdf", "NDA-Initech.pdf"]
    refused = await boxed.err("search_files_metadata", template_key="contract", ancestor_folder_ids=[FINANCE])
    assert "Denied" in refused and "Outside" not in refused and finance_file not in refused


async def test_a_forbid_below_the_grant_hides_its_items_from_the_results(
    make_world, connect, tmp_path: Path
) -> None:
    globex = "1300000000001"  # the demo seed's Contracts/MSA-Globex.pdf (checked below)
    w2 = make_world(
        _policy(
            tmp_path,
            "{id: all, effect: permit, agents: boxed, access: read, within: ['0']}",
            f"{{id: secret, effect: forbid, agents: boxed, items: ['file:{globex}']}}",
        )
    )
    row = w2.app.state.emulator.store.fetch_one("SELECT name FROM items WHERE id = ?", (globex,))
    assert row is not None and row["name"] == "MSA-Globex.pdf"
    boxed = await connect(w2, "boxed")
    pages, cursor = [], None
    for _ in range(4):  # bounded: two instances in the seed
        args = {"template_key": "contract", "limit": 1, **({"cursor": cursor} if cursor else {})}
        page = await boxed.ok("search_files_metadata", **args)
        pages.append([e["name"] for e in page["entries"]])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert [n for p in pages for n in p] == ["NDA-Initech.pdf"]
    assert "Globex" not in str(pages)
