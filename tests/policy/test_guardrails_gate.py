"""Box's guardrails as policy, through the real gate on the emulator's demo seed: `externally_shared`
(open links and outside collaborators on the folder or above it; facts read as the agent's identity,
unavailable facts fail closed, no Box request when no rule asks) and `first_destructive_in_session` (a
person approves a session's first destructive call; only one that ran counts; sessions are separate)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from box_mcp.box.client import BoxClient, StaticToken
from box_mcp.config import Settings
from box_mcp.policy.hooks import PolicyHooks
from box_mcp.policy.locate import Locator
from box_mcp.policy.reference_tools import tools_for_policy
from box_mcp.policy.store import PolicyStore
from box_mcp.server import build_server
from tests.policy.conftest import AgentClient, World, one_identity

pytestmark = pytest.mark.anyio
MISSING_CAPABILITY = -32021  # MCP 2026-07-28 MissingRequiredClientCapabilityError

SHARED_UPLOADS = (
    "  - {id: shared-uploads, effect: require_approval, agents: bot, tools: [upload_file, create_folder],\n"
    "     when: {externally_shared: true}}\n"
)
FIRST = (
    "  - {id: first-destructive, effect: require_approval, agents: bot,\n"
    "     when: {first_destructive_in_session: true}}\n"
)


def _policy(tmp_path: Path, *rules: str, internal: str = "internal_domains: [acme.example]\n") -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        "agents: {bot: {}, plain: {}, careful: {}}\n"
        + internal
        + "rules:\n  - {id: all, effect: permit, agents: [bot, plain], access: admin}\n"
        + "".join(rules)
    )
    return path


def _gets(w: World) -> list[str]:
    """The lookups the policy made (GETs) since the last call, and forget every request."""
    out = [f"{r.method} {r.url.path}" for r in w.requests if r.method == "GET"]
    w.requests.clear()
    return out


async def _link(w: World, folder: str, access: str | None) -> None:
    await w.box.put(f"/folders/{folder}", json={"shared_link": {"access": access} if access else None})
    w.requests.clear()


async def _invite(w: World, folder: str, **who: str) -> None:
    body = {
        "item": {"type": "folder", "id": folder},
        "accessible_by": {"type": "user", **who},
        "role": "viewer",
    }
    await w.box.post("/collaborations", json=body)
    w.requests.clear()


def _outsider(w: World) -> str:
    """A Box user of another enterprise (the demo seed has none)."""
    st = w.app.state.emulator.store
    with st.tx():
        other = st.next_id("enterprise")
        st.insert("enterprises", {"id": other, "name": "Partner Inc"})
        uid = st.next_id("user")
        st.insert(
            "users",
            {
                "id": uid,
                "enterprise_id": other,
                "login": "pat@acme.example",  # an internal-looking login: only the enterprise tells
                "name": "Pat Partner",
                "role": "user",
                "kind": "managed",
                "created_at": 0,
                "modified_at": 0,
                "is_platform_access_only": 0,
            },
        )
    return str(uid)


async def _refusal(bot: AgentClient, tool: str, args: dict[str, Any]) -> str:
    """The refusal's text ('' when the call ran): a tool error, or the protocol's -32021 for a call only
    the person at a client that cannot elicit could approve (these clients declare no elicitation)."""
    try:
        result = await bot.client.call_tool(tool, args)
    except MCPError as exc:
        assert exc.code == MISSING_CAPABILITY, exc
        return exc.message
    return "" if not result.is_error else str(result.content[0].text)


async def _upload(bot: AgentClient, folder: str, name: str = "note.txt") -> str:
    return await _refusal(
        bot, "upload_file", {"parent_folder_id": folder, "name": name, "content_text": "hello"}
    )


async def test_an_upload_below_a_folder_with_an_open_link_needs_approval_and_says_where(
    make_world, connect, tmp_path: Path
) -> None:
    w = make_world(_policy(tmp_path, SHARED_UPLOADS))
    bot = await connect(w, "bot")
    contracts, inbox = w.folder("Contracts"), w.folder("Contracts/Inbox")
    assert await _upload(bot, inbox, "before.txt") == ""  # carol is an acme.example collaborator: internal
    await _link(w, contracts, "open")
    text = await _upload(bot, inbox)
    assert "approval required" in text and "shared-uploads" in text
    assert f"folder {inbox} externally shared (open shared link on folder {contracts} 'Contracts')" in text
    # One GET for the folder (with its path), one for the parent; no collaborations asked on the way.
    assert _gets(w) == [f"GET /2.0/folders/{inbox}", f"GET /2.0/folders/{contracts}"]
    text = await _upload(bot, contracts)
    assert f"folder {contracts} externally shared (open shared link on it)" in text


async def test_a_confined_agent_is_not_told_which_folder_above_its_grant_is_shared(
    make_world, connect, tmp_path: Path
) -> None:
    path, inbox = tmp_path / "p.yaml", "200000000002"  # Contracts/Inbox in the demo seed
    path.write_text(
        "agents: {boxed: {}}\n"
        "rules:\n"
        f"  - {{id: inbox, effect: permit, agents: boxed, access: write, within: ['{inbox}']}}\n"
        "  - {id: shared-uploads, effect: require_approval, agents: boxed, when: {externally_shared: true}}\n"
    )
    w = make_world(path)
    assert w.folder("Contracts/Inbox") == inbox
    boxed = await connect(w, "boxed")
    await _link(w, w.folder("Contracts"), "open")
    text = await _upload(boxed, inbox)
    assert f"folder {inbox} externally shared (open shared link on a folder above it)" in text
    assert "Contracts" not in text and w.folder("Contracts") not in text


async def test_a_company_link_is_not_external(make_world, connect, tmp_path: Path) -> None:
    w = make_world(_policy(tmp_path, SHARED_UPLOADS))
    bot = await connect(w, "bot")
    await _link(w, w.folder("Contracts"), "company")
    assert await _upload(bot, w.folder("Contracts/Inbox")) == ""
    await _link(w, w.folder("Contracts"), "collaborators")
    assert await _upload(bot, w.folder("Contracts/Inbox"), "again.txt") == ""


async def test_an_invite_outside_the_internal_domains_makes_the_folder_external(
    make_world, connect, tmp_path: Path
) -> None:
    w = make_world(_policy(tmp_path, SHARED_UPLOADS))
    bot = await connect(w, "bot")
    inbox = w.folder("Contracts/Inbox")
    await _invite(w, inbox, login="someone@partner.example")  # no Box account: a pending invite
    text = await _upload(bot, inbox)
    assert f"folder {inbox} externally shared (a collaborator outside the organisation on it)" in text
    assert "partner.example" not in text  # the collaborator is not named
    # The child folder of an externally shared folder is external too.
    made = await _refusal(bot, "create_folder", {"parent_folder_id": inbox, "name": "Sub"})
    assert "approval required" in made


async def test_without_internal_domains_box_s_enterprise_decides(make_world, connect, tmp_path: Path) -> None:
    w = make_world(_policy(tmp_path, SHARED_UPLOADS, internal=""))
    bot = await connect(w, "bot")
    contracts, archive = w.folder("Contracts"), w.folder("Contracts/Archive")
    assert await _upload(bot, contracts) == ""  # carol's record is in Acme's enterprise
    sent = _gets(w)
    assert f"GET /2.0/folders/{contracts}/collaborations" in sent and "GET /2.0/users/me" in sent
    outsider = _outsider(w)
    await _invite(w, archive, id=outsider)
    text = await _upload(bot, archive)
    assert "a collaborator outside the organisation on it" in text
    assert f"GET /2.0/users/{outsider}" in _gets(w)  # Box does not show Acme's identity this user
    # Users' enterprises are remembered: the next call asks only for the folders' links and collaborators.
    assert await _upload(bot, contracts, "two.txt") == ""
    assert not [r for r in _gets(w) if "/users/" in r]


async def test_unreadable_facts_fail_closed(make_world, connect, tmp_path: Path) -> None:
    policy = _policy(
        tmp_path,
        SHARED_UPLOADS,
        "  - {id: private-only, effect: permit, agents: careful, tools: [create_folder],\n"
        "     when: {externally_shared: false}}\n",
    )
    w = make_world(policy)
    contracts, inbox = w.folder("Contracts"), w.folder("Contracts/Inbox")

    class Refusing(httpx2.AsyncBaseTransport):
        """The lookup identity's view: Box refuses to show the Contracts folder."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            if request.method == "GET" and request.url.path == f"/2.0/folders/{contracts}":
                body = b'{"type":"error","status":403,"code":"access_denied_insufficient_permissions"}'
                return httpx2.Response(403, content=body, headers={"content-type": "application/json"})
            return await self.inner.handle_async_request(request)

    token = next(u["developer_token"] for u in w.credentials["users"] if u["login"].startswith("ada"))
    looker = BoxClient(
        token_source=StaticToken(token),
        base_url="http://emulator",
        transport=Refusing(httpx2.ASGITransport(app=w.app)),
    )
    try:
        w.gate = PolicyHooks(PolicyStore(policy, tools_for_policy()), locator=Locator(one_identity(looker)))
        bot, careful = await connect(w, "bot"), await connect(w, "careful")
        text = await _upload(bot, inbox)
        assert "approval required" in text and "shared-uploads" in text
        assert f"sharing of folder {inbox} unknown (the facts were unavailable: Box did not answer" in text
        assert f"Box did not answer for folder {contracts} 'Contracts' (status 403)" in text
        # A permit that depends on the facts does not apply.
        denied = await careful.err("create_folder", parent_folder_id=inbox, name="Unchecked")
        assert "grant 'private-only' allows only items that are not externally shared" in denied
        assert "the facts were unavailable" in denied
        await careful.ok("create_folder", parent_folder_id=w.folder("Marketing"), name="Checked")
    finally:
        await looker.aclose()


async def test_no_rule_asking_means_no_lookup(make_world, connect, tmp_path: Path) -> None:
    # bot's rules test the facts (for upload_file only); plain's test nothing.
    w = make_world(
        _policy(tmp_path, SHARED_UPLOADS.replace("upload_file, create_folder", "upload_file"), FIRST)
    )
    plain, bot = await connect(w, "plain"), await connect(w, "bot")
    inbox = w.folder("Contracts/Inbox")
    await _link(w, w.folder("Contracts"), "open")
    assert await _upload(plain, inbox) == ""
    assert _gets(w) == []
    made = await bot.ok("create_folder", parent_folder_id=inbox, name="Quiet")
    assert made["name"] == "Quiet" and _gets(w) == []  # a rule on another tool asks nothing
    readme = w.file("Engineering/README.md")
    assert (await plain.ok("get_file_details", file_id=readme))["id"] == readme
    assert _gets(w) == [f"GET /2.0/files/{readme}"]  # the tool's own request only


# -- first destructive call in a session ---------------------------------------------------------------


@pytest.fixture
async def approving(make_world: Any) -> AsyncIterator[Callable[..., Any]]:
    """approving(world, agent, answers, mode) -> (client, asked): a client whose person answers each
    approval with the next of `answers` (True approve, False decline); `asked` collects the prompts."""
    async with AsyncExitStack() as stack:

        async def open_client(world: World, agent: str, answers: list[bool], mode: str = "legacy") -> Any:
            asked: list[str] = []

            async def on_elicit(context: Any, params: Any) -> types.ElicitResult:
                asked.append(params.message)
                return types.ElicitResult(action="accept", content={"approve": answers.pop(0)})

            settings = Settings.load(env={}, agent=agent)
            server = build_server(settings, box_client=world.box, policy=world.gate, results=world.gate)
            client = await stack.enter_async_context(
                Client(server, elicitation_callback=on_elicit, mode=mode)  # type: ignore[arg-type]
            )
            return AgentClient(client), asked

        yield open_client


@pytest.mark.parametrize("mode", ["legacy", "auto"])  # a session id, or the 2026 stdio process session
async def test_the_first_destructive_call_asks_and_once_it_ran_the_next_do_not(
    make_world, approving, tmp_path: Path, mode: str
) -> None:
    w = make_world(_policy(tmp_path, FIRST))
    bot, asked = await approving(w, "bot", [False, True, True, True], mode)
    notes, readme = w.file("Engineering/notes.txt"), w.file("Engineering/README.md")
    await bot.ok("get_file_details", file_id=notes)  # reads are never destructive
    assert asked == [] and _gets(w) == [f"GET /2.0/files/{notes}"]  # the tool's own request
    declined = await bot.err("delete_file", file_id=notes)  # declined: does not count
    assert "needs a person's approval" in declined and len(asked) == 1
    assert "no destructive call yet in this session" in asked[0]
    failed = await bot.err("delete_file", file_id="999999999")  # approved, but Box has no such file
    assert "404" in failed and len(asked) == 2
    await bot.ok("delete_file", file_id=notes)  # approved and done: the session has had its first
    assert len(asked) == 3
    await bot.ok("delete_file", file_id=readme)
    await bot.ok("remove_shared_link", item_type="file", item_id=w.file("Contracts/MSA-Globex.pdf"))
    assert len(asked) == 3
    assert _gets(w) == []  # the fact costs no Box request


async def test_sessions_are_separate(make_world, approving, tmp_path: Path) -> None:
    w = make_world(_policy(tmp_path, FIRST))
    one, asked_one = await approving(w, "bot", [True])
    two, asked_two = await approving(w, "bot", [True])
    await one.ok("delete_file", file_id=w.file("Engineering/notes.txt"))
    await one.ok("delete_file", file_id=w.file("Engineering/README.md"))
    assert len(asked_one) == 1 and asked_two == []
    await two.ok("delete_file", file_id=w.file("Contracts/MSA-Globex.pdf"))
    assert len(asked_two) == 1


def test_explain_live_looks_up_whether_the_destination_is_externally_shared(capsys, monkeypatch) -> None:
    import json

    import httpx2 as http

    from box_mcp.cli import main
    from box_mcp.emulator.testing import running_emulator

    example = Path(__file__).resolve().parents[2] / "policies" / "examples" / "box-guardrails.yaml"
    with running_emulator(seed="demo") as emu:
        monkeypatch.setenv("BOX_MCP_BOX_URL", emu.base_url)
        monkeypatch.setenv("BOX_DEVELOPER_TOKEN", emu.token("ada"))
        contracts, inbox = (
            emu.credentials["folders"]["Contracts"],
            emu.credentials["folders"]["Contracts/Inbox"],
        )
        argv = [
            "policy",
            "explain",
            "--policy",
            str(example),
            "--agent",
            "assistant",
            "--tool",
            "upload_file",
            "--args",
            json.dumps({"parent_folder_id": inbox, "name": "memo.txt", "content_text": "hi"}),
            "--live",
        ]
        assert main(argv) == 0
        private = capsys.readouterr().out
        answer = http.put(
            f"{emu.base_url}/2.0/folders/{contracts}",
            json={"shared_link": {"access": "open"}},
            headers={"Authorization": f"Bearer {emu.token('ada')}"},
        )
        assert answer.status_code == 200, answer.text
        assert main(argv) == 0
        shared = capsys.readouterr().out
        assert main([*argv, "--facts", '{"externally_shared": false}']) == 0  # stated: not looked up
        stated = capsys.readouterr().out
    assert "effect: allow" in private and '"externally_shared": false' in private
    assert "effect: approval_required" in shared and "rules:  confirm-writes-into-shared-folders" in shared
    assert f"folder {inbox} externally shared (open shared link on folder {contracts} 'Contracts')" in shared
    assert "effect: allow" in stated
