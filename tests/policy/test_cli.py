"""`box-mcp policy check | explain | test | new-key`, and every shipped policy passing its own cases."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from box_mcp.cli import main
from box_mcp.policy.engine import Engine
from box_mcp.policy.model import load_policy

ROOT = Path(__file__).resolve().parents[2] / "policies"
CASE_FILES = sorted([ROOT / "default.cases.yaml", *(ROOT / "examples").glob("*.cases.yaml")])
POLICY_FILES = [
    ROOT,
    *sorted(p for p in (ROOT / "examples").glob("*.yaml") if not p.name.endswith(".cases.yaml")),
]


@pytest.mark.parametrize("cases", CASE_FILES, ids=lambda p: p.name)
def test_every_shipped_policy_passes_its_decision_cases(cases, capsys):
    assert main(["policy", "test", str(cases)]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("policy", POLICY_FILES, ids=lambda p: p.name)
def test_every_shipped_policy_checks_clean(policy, capsys):
    assert main(["policy", "check", "--strict", str(policy)]) == 0, capsys.readouterr().err


def test_every_example_has_a_cases_file():
    examples = [p for p in (ROOT / "examples").glob("*.yaml") if not p.name.endswith(".cases.yaml")]
    assert len(examples) >= 4
    for p in examples:
        assert p.with_name(p.stem + ".cases.yaml").exists(), p


def test_check_reports_schema_errors_with_file_and_line(tmp_path, capsys):
    bad = tmp_path / "p.yaml"
    bad.write_text(
        "agents: {a: {}}\nrules:\n  - id: r\n    effect: permit\n    agents: a\n    tools: [get_fil]\n"
    )
    assert main(["policy", "check", str(bad)]) == 1
    assert f"{bad}:3: rule 'r' names unknown tool 'get_fil'" in capsys.readouterr().err


def test_check_flags_dead_grants_and_forbids_that_shadow_everything(tmp_path, capsys):
    p = tmp_path / "p.yaml"
    p.write_text("""agents: {a: {}, b: {}, c: {}}
rules:
  - {id: reads, effect: permit, agents: a, access: read, within: [5]}
  - {id: off, effect: forbid, agents: a}
  - {id: weak, effect: permit, agents: b, tools: [delete_file], access: read}
  - {id: sub, effect: permit, agents: b, access: read, within: [7]}
  - {id: hide7, effect: forbid, agents: b, within: [7, 8]}
  - {id: idle, effect: require_approval, agents: c, tools: [who_am_i]}
""")
    assert main(["policy", "check", str(p)]) == 1
    err = capsys.readouterr().err
    assert "forbid 'off' denies every call of a" in err
    assert "permit 'reads' can never allow anything for a: forbid 'off' covers all of it" in err
    assert "permit 'weak' gives read access, but every tool it names needs more" in err
    assert "permit 'sub' can never allow anything for b: forbid 'hide7'" in err
    assert "require_approval 'idle' has no effect" in err


def test_check_warns_about_agents_without_grants(tmp_path, capsys):
    p = tmp_path / "p.yaml"
    p.write_text("agents: {lonely: {}}\n")
    assert main(["policy", "check", str(p)]) == 0
    assert "lonely has no permit" in capsys.readouterr().err
    assert main(["policy", "check", "--strict", str(p)]) == 1


def test_explain_prints_the_decision_rules_and_reason(capsys):
    code = main(
        [
            "policy",
            "explain",
            "--policy",
            str(ROOT),
            "--agent",
            "contracts-bot",
            "--tool",
            "get_file_content",
            "--uses",
            '["file:1300000000001"]',
            "--ancestry",
            '{"file:1300000000001": ["0", "200000000001"]}',
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"effect": "allow", "rules": ["contracts-read"], "reason": out["reason"]}


def test_explain_rejects_bad_json_clearly(capsys):
    code = main(
        ["policy", "explain", "--policy", str(ROOT), "--agent", "demo", "--tool", "who_am_i", "--uses", "[x"]
    )
    assert code == 2
    assert "--uses is not valid JSON" in capsys.readouterr().err


def test_policy_test_reports_failures_and_exits_1(tmp_path, capsys):
    cases = tmp_path / "t.cases.yaml"
    cases.write_text(f"""policy: {ROOT / "default.yaml"}
cases:
  - name: wrongly expects HR to be readable by the bot
    agent: contracts-bot
    tool: get_file_content
    uses: ["file:1300000000007"]
    ancestry: {{"file:1300000000007": ["0", "200000000005"]}}
    expect: allow
""")
    assert main(["policy", "test", str(cases)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL {cases}:3: wrongly expects HR" in out and "expected allow, got deny" in out and "0/1" in out


def test_policy_test_reports_a_broken_cases_file(tmp_path, capsys):
    cases = tmp_path / "t.cases.yaml"
    cases.write_text("cases:\n  - name: x\n    agent: a\n    tool: who_am_i\n    expect: maybe\n")
    assert main(["policy", "test", str(cases)]) == 1
    assert f"{cases}:5" in capsys.readouterr().err


def test_new_key_prints_a_key_whose_hash_the_engine_accepts(tmp_path, capsys):
    assert main(["policy", "new-key", "bot"]) == 0
    out = capsys.readouterr().out
    key = re.search(r"^  (bmcp_\S+)$", out, re.M).group(1)
    line = re.search(r'"(sha256:[0-9a-f]{64})"', out).group(1)
    assert line == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    p = tmp_path / "p.yaml"
    p.write_text(f'agents:\n  bot:\n    keys: ["{line}"]\n')
    engine = Engine(load_policy(p), {})
    assert engine.agent_for_key(key) == "bot"


def test_explain_live_looks_up_locations_in_the_emulator(capsys, monkeypatch):
    from box_mcp.emulator.testing import running_emulator

    with running_emulator(seed="demo") as emu:
        monkeypatch.setenv("BOX_MCP_BOX_URL", emu.base_url)
        monkeypatch.setenv("BOX_DEVELOPER_TOKEN", emu.token("ada"))
        sow = emu.credentials["files"]["Contracts/Inbox/SOW-Umbrella-draft.pdf"]
        finance = emu.credentials["folders"]["Finance"]
        code = main(
            [
                "policy",
                "explain",
                "--policy",
                str(ROOT),
                "--agent",
                "contracts-bot",
                "--tool",
                "move_file",
                "--args",
                json.dumps({"file_id": sow, "destination_folder_id": finance}),
                "--live",
            ]
        )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "effect: deny" in out
    assert f"move_file puts file {sow} into folder {finance}, outside contracts-bot's write grant" in out
