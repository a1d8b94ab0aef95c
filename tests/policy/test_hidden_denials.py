"""A confined agent can't tell "outside my grant", "hidden by a rule" and "no such item" apart; its audit can.

Through the real gate and the emulator's demo seed: Contracts 200000000001 (Inbox ...02, Archive ...03),
Engineering ...07. Collaborations: 50000000001 Carol on Contracts, 50000000002 Bob on Engineering.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from box_mcp.seams import NoAudit

pytestmark = pytest.mark.anyio

CONTRACTS, INBOX, ENGINEERING = "200000000001", "200000000002", "200000000007"
BOB_ON_ENGINEERING = "50000000002"
MISSING = "999999999999"


class Recorded(NoAudit):
    """An audit hook that keeps each call's outcome, as the real audit would record it."""

    def __init__(self) -> None:
        self.outcomes: list[Any] = []

    async def intent(self, call: Any) -> None:
        return None

    async def outcome(self, call: Any, outcome: Any) -> None:
        self.outcomes.append(outcome)


def _policy(tmp_path: Path, *rules: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text("agents:\n  boxed: {}\nrules:\n" + "".join(f"  - {r}\n" for r in rules))
    return path


CONFINED = (
    f"{{id: work, effect: permit, agents: boxed, access: admin, within: ['{CONTRACTS}']}}",
    f"{{id: drafts, effect: forbid, agents: boxed, within: ['{INBOX}'], description: Drafts are private}}",
)


async def _denials(
    world: Any, calls: list[tuple[str, dict[str, Any]]]
) -> tuple[list[str], list[Any], list[int]]:
    """Each call's text (the ids it names replaced by ID), its audit outcome, its count of Box requests."""
    from box_mcp.config import Settings
    from box_mcp.server import build_server

    audit = Recorded()
    server = build_server(
        Settings.load(env={}, agent="boxed"),
        box_client=world.box,
        policy=world.gate,
        results=world.gate,
        audit=audit,
    )
    texts, requests = [], []
    async with Client(server) as client:
        for tool, args in calls:
            before = len(world.requests)
            result = await client.call_tool(tool, args)
            requests.append(len(world.requests) - before)
            assert result.is_error, (tool, args, result.structured_content)
            text = result.content[0].text
            for value in args.values():
                text = text.replace(str(value), "ID")
            texts.append(text)
    return texts, audit.outcomes, requests


async def test_a_confined_agent_gets_one_denial_for_an_outside_a_hidden_and_a_missing_file(
    make_world, tmp_path: Path
) -> None:
    w = make_world(_policy(tmp_path, *CONFINED))
    outside, hidden = w.file("HR/salaries.csv"), w.file("Contracts/Inbox/SOW-Umbrella-draft.pdf")
    texts, outcomes, requests = await _denials(
        w, [("get_file_details", {"file_id": f}) for f in (outside, hidden, MISSING)]
    )
    assert (
        texts
        == [
            "Denied: file ID is not available to boxed (it does not exist, or boxed may not use it); "
            f"boxed's grants for get_file_details: admin in folder {CONTRACTS} and below."
        ]
        * 3
    )
    assert requests == [1, 1, 1]  # one location lookup each: no timing tells them apart either
    # The operator's audit keeps which it was: outside the grant, the rule that hides it, not found.
    sentences = [o.decision.reason for o in outcomes]
    assert sentences[0].startswith(f"get_file_details reads file {outside}, outside boxed's read grant")
    assert outcomes[1].decision.rule_ids == ("drafts",) and "rule 'drafts' forbids" in sentences[1]
    assert sentences[2] == f"not found: Box has no file {MISSING} that boxed's identity can see"
    assert [o.error for o in outcomes] == [
        f"Denied: file {f} is not available to boxed (it does not exist, or boxed may not use it); "
        f"boxed's grants for get_file_details: admin in folder {CONTRACTS} and below."
        for f in (outside, hidden, MISSING)
    ]


async def test_a_move_into_an_outside_or_a_missing_folder_reads_the_same(make_world, tmp_path: Path) -> None:
    w = make_world(_policy(tmp_path, *CONFINED))
    msa = w.file("Contracts/MSA-Globex.pdf")
    targets = (ENGINEERING, INBOX, MISSING)
    moves = [("move_file", {"file_id": msa, "destination_folder_id": d}) for d in targets]
    texts, outcomes, _ = await _denials(w, moves)
    assert len(set(texts)) == 1, texts
    assert texts[0].startswith("Denied: folder ID is not available to boxed"), texts[0]
    assert [o.decision.rule_ids for o in outcomes] == [(), ("drafts",), ()]


async def test_a_collaboration_on_an_outside_item_reads_as_a_missing_one(make_world, tmp_path: Path) -> None:
    w = make_world(_policy(tmp_path, *CONFINED))
    texts, outcomes, _ = await _denials(
        w,
        [
            ("update_collaboration", {"collaboration_id": c, "role": "viewer"})
            for c in (BOB_ON_ENGINEERING, MISSING)
        ],
    )
    assert texts[0] == texts[1], texts
    assert texts[0].startswith("Denied: collaboration ID is not available to boxed"), texts[0]
    assert "outside boxed's admin grant 'work'" in outcomes[0].decision.reason
    assert outcomes[1].decision.reason.startswith("not found: ")


async def test_a_denied_write_on_an_item_the_agent_can_see_still_names_the_rule(
    make_world, tmp_path: Path
) -> None:
    read_only = f"{{id: look, effect: permit, agents: boxed, access: read, within: ['{CONTRACTS}']}}"
    w = make_world(_policy(tmp_path, read_only))
    texts, _, _ = await _denials(w, [("delete_file", {"file_id": w.file("Contracts/MSA-Globex.pdf")})])
    assert "which needs write access; boxed's grant 'look' gives only read access there" in texts[0]


async def test_an_agent_with_the_whole_account_gets_boxs_own_not_found(make_world, tmp_path: Path) -> None:
    w = make_world(_policy(tmp_path, "{id: all, effect: permit, agents: boxed, access: admin}"))
    texts, _, _ = await _denials(w, [("get_file_details", {"file_id": MISSING})])
    assert texts[0].startswith("Box said 404 not_found"), texts[0]


def test_explain_shows_the_operator_the_detail_and_what_the_agent_reads(capsys) -> None:
    from box_mcp.cli import main

    policy = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
    salaries = "1300000000007"
    code = main(
        [
            "policy",
            "explain",
            "--policy",
            str(policy),
            "--agent",
            "contracts-bot",
            "--tool",
            "get_file_content",
            "--uses",
            f'["file:{salaries}"]',
            "--ancestry",
            f'{{"file:{salaries}": ["0", "200000000005"]}}',
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines[2].startswith(f"why:    get_file_content reads file {salaries}, outside contracts")
    assert lines[3] == (
        f"agent reads: file {salaries} is not available to contracts-bot (it does not exist, or "
        "contracts-bot may not use it); contracts-bot's grants for get_file_content: read in folder "
        "200000000001 and below; write in folder 200000000002 and below."
    )
