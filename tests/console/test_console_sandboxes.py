"""Agent sandboxes in the console, through the real app on a real deployment (tests/console/conftest.py)
and the emulator: the page and its empty state, create with the key shown once (and nowhere else), the
policy reloaded so the key names the new agent at once, errors on the form keeping what was typed, drift
against Box, revoke with its confirmation page, who may do it, CSRF, and the audit of each."""

from __future__ import annotations

import json
import re
import stat
from typing import Any

import httpx2
import pytest

from box_mcp import sandbox as sb
from box_mcp.policy.keys import KEY_PREFIX
from tests.console.conftest import ADMIN_KEY, csrf_of
from tests.console.test_console_pages import PAGES, _forged

pytestmark = pytest.mark.anyio

KEY = re.compile(re.escape(KEY_PREFIX) + r"[A-Za-z0-9_-]{40,}")


async def _create(c: Any, **fields: str) -> httpx2.Response:
    page = await c.http.get("/console/sandboxes")
    assert page.status_code == 200, page.text
    return await c.http.post("/console/sandboxes", data={"csrf": csrf_of(page.text), **fields})


def _key_of(html: str) -> str:
    found = re.search(r'<pre class="secret" id="api-key">([^<]+)</pre>', html)
    assert found, "no key on the page"
    return found.group(1)


async def _everything_recorded(c: Any) -> str:
    return json.dumps(await c.records())


async def test_the_empty_page_says_what_a_sandbox_is_and_how_to_make_one(make_console: Any) -> None:
    async with make_console(calls=False, directory=True) as c:
        await c.sign_in()
        page = await c.http.get("/console/sandboxes")
        assert page.status_code == 200
        assert 'id="sandboxes-empty"' in page.text and "No agent sandboxes yet" in page.text
        assert "app user" in page.text and "box-mcp sandbox create NAME" in page.text
        for role in sb.ROLE_ACCESS:  # the roles the CLI accepts, each with the access it grants
            assert f'<option value="{role}"' in page.text
        assert '<option value="editor" selected>' in page.text
        assert 'href="/console/sandboxes"' in (await c.http.get("/console/")).text  # in the nav


async def test_create_shows_the_key_once_and_the_new_agent_works_without_a_restart(
    make_console: Any, emulator: Any
) -> None:
    async with make_console(calls=False, directory=True) as c:
        await c.sign_in()
        made = await _create(c, name="claims", folder="Agents/claims", parent="", role="editor")
        assert made.status_code == 200, made.text
        assert made.headers["cache-control"] == "no-store"
        key = _key_of(made.text)
        assert KEY.fullmatch(key)
        assert "only time it is shown" in made.text and "The policy is reloaded" in made.text
        # in Box: the app user, the folder, its collaboration
        store = emulator.emulator.store
        [stanza] = sb.read_sandboxes(c.policy.parent)
        r = stanza.record
        user = store.fetch_one("SELECT * FROM users WHERE id = ?", (r.app_user,))
        assert (user["kind"], user["external_app_user_id"]) == ("app_user", "box-mcp:claims")
        collab = store.fetch_one("SELECT * FROM collaborations WHERE id = ?", (r.collaboration,))
        assert (collab["item_id"], collab["accessible_by_id"], collab["role"]) == (
            r.folder,
            r.app_user,
            "editor",
        )
        # on disk: 0600, the hash only, and who made it
        text = stanza.file.read_text()
        assert stat.S_IMODE(stanza.file.stat().st_mode) == 0o600
        assert key not in text and text.count("sha256:") == 1
        assert text.startswith("# Agent sandbox claims: written by `box-mcp console (admin-key:ops)` on ")
        # reloaded now: the key names the new agent at the door the HTTP app asks
        deployment = c.deployment
        assert deployment.store.agent_for_key(key) == "claims"
        assert deployment.verifier is not None
        token = await deployment.verifier.verify_token(key)
        assert token is not None and token.client_id == "claims"

        # never again: not on the list, nor on any other page, nor in the audit
        listed = await c.http.get("/console/sandboxes")
        assert "claims" in listed.text and key not in listed.text and 'id="sandboxes-table"' in listed.text
        row = re.search(r'<tr id="sandbox-claims".*?</tr>', listed.text, re.S)
        assert row and "active" in row.group(0) and '<span class="tag ok">none</span>' in row.group(0)
        for path in (*PAGES, "/console/sandboxes/claims/revoke", "/console/audit?kind=console"):
            assert key not in (await c.http.get(path)).text, path
        recorded = await _everything_recorded(c)
        assert key not in recorded
        [created] = [
            rec for rec in await c.records("console") if rec["detail"]["action"] == "sandbox_created"
        ]
        detail = created["detail"]
        assert (detail["who"], detail["sandbox"], detail["app_user"], detail["folder"]) == (
            "admin-key:ops",
            "claims",
            r.app_user,
            r.folder,
        )
        assert (detail["path"], detail["role"], detail["collaboration"]) == (
            "Agents/claims",
            "editor",
            r.collaboration,
        )
        # the CLI reads what the console wrote, as its own
        listing = await sb.checked_list(deployment.settings, c.policy.parent)
        assert [(s.name, s.state, s.keys, s.drift) for s in listing.sandboxes] == [
            ("claims", "active", 1, ())
        ]


async def test_errors_are_shown_on_the_form_with_what_to_do_keeping_what_was_typed(
    make_console: Any, emulator: Any
) -> None:
    async with make_console(calls=False, directory=True) as c:
        await c.sign_in()
        bad = await _create(c, name="two words", folder="Agents/x", parent="0", role="viewer")
        assert bad.status_code == 400
        assert "is not valid" in bad.text and "Correct the form" in bad.text
        assert 'value="two words"' in bad.text and 'value="Agents/x"' in bad.text
        assert '<option value="viewer" selected>' in bad.text
        dots = await _create(c, name="x", folder="Agents/../<b>x</b>", role="editor")
        assert (
            dots.status_code == 400
            and "is invalid" in dots.text
            and "&#39;.&#39; and &#39;..&#39;" in dots.text
        )
        assert "<b>x</b>" not in dots.text and 'value="Agents/../&lt;b&gt;x&lt;/b&gt;"' in dots.text
        missing = await _create(c, name="x", folder="Agents/x", parent="99999999", role="editor")
        assert missing.status_code == 400 and "parent folder 99999999 does not exist" in missing.text
        assert 'value="99999999"' in missing.text

        taken = await _create(c, name="bot", folder="Agents/bot", role="editor")  # an agent of the policy
        assert taken.status_code == 409
        assert "already declared" in taken.text and "Choose another name" in taken.text
        assert (await _create(c, name="claims", folder="Agents/claims", role="editor")).status_code == 200
        again = await _create(c, name="claims", folder="Agents/other", role="editor")
        assert again.status_code == 409 and "sandbox &#39;claims&#39; exists" in again.text
        assert 'value="Agents/other"' in again.text

        store = emulator.emulator.store
        with store.tx():  # the app loses "Manage app users": Box refuses to make one
            store.execute("UPDATE apps SET scopes = 'root_readwrite' WHERE kind = 'server'")
        refused = await _create(c, name="intake", folder="Agents/intake", role="uploader")
        assert refused.status_code == 502
        assert "Box refused to create the app user" in refused.text
        assert "Nothing was written to the policy" in refused.text and "press Create again" in refused.text
        assert 'value="intake"' in refused.text and '<option value="uploader" selected>' in refused.text
        assert not sb.stanza_path(c.policy.parent, "intake").exists()
        assert not KEY.search(refused.text)

        actions = [
            (r["detail"]["action"], r["detail"].get("sandbox"), r["detail"].get("who"))
            for r in await c.records("console")
            if r["detail"]["action"].startswith("sandbox")
        ]
        assert actions == [
            ("sandbox_create_refused", "two words", "admin-key:ops"),
            ("sandbox_create_refused", "x", "admin-key:ops"),
            ("sandbox_create_refused", "x", "admin-key:ops"),
            ("sandbox_create_refused", "bot", "admin-key:ops"),
            ("sandbox_created", "claims", "admin-key:ops"),
            ("sandbox_create_refused", "claims", "admin-key:ops"),
            ("sandbox_create_refused", "intake", "admin-key:ops"),
        ]


async def test_drift_against_box_is_shown_for_each_sandbox(make_console: Any) -> None:
    async with make_console(calls=False, directory=True) as c:
        await c.sign_in()
        assert (await _create(c, name="claims", folder="Agents/claims", role="editor")).status_code == 200
        assert (await _create(c, name="intake", folder="Agents/intake", role="viewer")).status_code == 200
        [claims, _intake] = sb.read_sandboxes(c.policy.parent)
        r = claims.record
        async with sb.admin_client(c.deployment.settings) as box:  # someone changes Box behind box-mcp's back
            await box.put(f"/users/{r.app_user}", json={"status": "inactive"})
            await box.delete(f"/collaborations/{r.collaboration}")
            await box.delete(f"/folders/{r.folder}", params={"recursive": "true"})
        page = await c.http.get("/console/sandboxes")
        assert "1 drifted" in page.text
        row = re.search(r'<tr id="sandbox-claims" class="drifted">.*?</tr>', page.text, re.S)
        assert row, page.text
        for problem in (
            f"app user {r.app_user} is inactive in Box",
            f"folder {r.folder} no longer exists (or was trashed)",
            f"collaboration {r.collaboration} was removed in Box",
        ):
            assert problem in row.group(0)
        fine = re.search(r'<tr id="sandbox-intake">.*?</tr>', page.text, re.S)
        assert fine and '<span class="tag ok">none</span>' in fine.group(0)


async def test_revoke_asks_first_then_revokes_like_the_cli_and_is_audited(
    make_console: Any, emulator: Any
) -> None:
    async with make_console(calls=False, directory=True) as c:
        await c.sign_in()
        key = _key_of((await _create(c, name="claims", folder="Agents/claims", role="editor")).text)
        assert c.deployment.store.agent_for_key(key) == "claims"
        confirm = await c.http.get("/console/sandboxes/claims/revoke")
        assert confirm.status_code == 200 and "Revoke sandbox claims?" in confirm.text
        assert 'id="confirm-revoke"' in confirm.text
        assert (await c.http.get("/console/sandboxes/nobody/revoke")).status_code == 404
        assert (await c.http.get("/console/sandboxes/..%2Fpolicy/revoke")).status_code == 404
        assert c.deployment.store.agent_for_key(key) == "claims"  # the GET changed nothing

        done = await c.http.post("/console/sandboxes/claims/revoke", data={"csrf": csrf_of(confirm.text)})
        assert done.status_code == 200 and "Revoked sandbox claims" in done.text
        assert c.deployment.store.agent_for_key(key) is None  # in force now, no restart
        [s] = sb.read_sandboxes(c.policy.parent)
        assert (s.state, s.keys) == ("revoked", 0)
        assert "written by `box-mcp console (admin-key:ops)`" in s.file.read_text()
        store = emulator.emulator.store
        assert store.fetch_one("SELECT status FROM users WHERE id = ?", (s.record.app_user,))["status"] == (
            "inactive"
        )
        assert (
            store.fetch_one("SELECT id FROM collaborations WHERE id = ?", (s.record.collaboration,)) is None
        )
        row = re.search(r'<tr id="sandbox-claims">.*?</tr>', done.text, re.S)
        assert row and "revoked" in row.group(0) and "Revoke" not in row.group(0)  # nothing left to do
        again = await c.http.post("/console/sandboxes/claims/revoke", data={"csrf": csrf_of(confirm.text)})
        assert again.status_code == 200 and "already revoked" in again.text  # idempotent, as the CLI
        [first, _second] = [
            r["detail"] for r in await c.records("console") if r["detail"]["action"] == "sandbox_revoked"
        ]
        assert (first["who"], first["sandbox"], first["app_user"], first["finished_in_box"]) == (
            "admin-key:ops",
            "claims",
            s.record.app_user,
            True,
        )


async def test_only_console_admins_create_or_revoke_and_every_post_needs_its_csrf_token(
    make_console: Any,
) -> None:
    async with make_console(calls=False, directory=True) as c:
        await c.sign_in()
        made = await _create(c, name="claims", folder="Agents/claims", role="editor")
        assert made.status_code == 200
        page = await c.http.get("/console/sandboxes")
        forged = await c.http.post(
            "/console/sandboxes", data={"csrf": "not-it", "name": "x", "folder": "Agents/x"}
        )
        assert forged.status_code == 403 and "Form expired" in forged.text
        no_token = await c.http.post("/console/sandboxes/claims/revoke", data={})
        assert no_token.status_code == 403
        assert [s.name for s in sb.read_sandboxes(c.policy.parent)] == ["claims"]
        assert sb.read_sandboxes(c.policy.parent)[0].state == "active"

        c.http.cookies.clear()  # an approver signed in with Box (named by a rule's approval: by)
        c.http.cookies.set("bmcp_console", _forged(c, "pat@acme.example"), path="/console")
        assert (await c.http.get("/console/approvals")).status_code == 200
        for path in ("/console/sandboxes", "/console/sandboxes/claims/revoke"):
            refused = await c.http.get(path)
            assert refused.status_code == 403 and "For console admins" in refused.text, path
        token = csrf_of(page.text)  # even with a token the approver's session never had
        for path, data in (
            ("/console/sandboxes", {"csrf": token, "name": "y", "folder": "Agents/y"}),
            ("/console/sandboxes/claims/revoke", {"csrf": token}),
        ):
            assert (await c.http.post(path, data=data)).status_code == 403, path
        assert [(s.name, s.state) for s in sb.read_sandboxes(c.policy.parent)] == [("claims", "active")]
        assert "Sandboxes" not in (await c.http.get("/console/approvals")).text  # not in an approver's nav
        c.http.cookies.clear()
        assert (await c.http.get("/console/sandboxes")).status_code == 303  # signed out: to sign in


async def test_a_policy_file_and_a_server_without_keys_are_explained(make_console: Any) -> None:
    async with make_console(calls=False) as c:  # one policy file, not a directory
        await c.sign_in()
        page = await c.http.get("/console/sandboxes")
        assert page.status_code == 200 and "is not a directory" in page.text
        tried = await _create(c, name="claims", folder="Agents/claims", role="editor")
        assert tried.status_code == 400 and "must be a directory" in tried.text
    async with make_console(calls=False, directory=True, agent_keys=False) as c:
        assert c.deployment.verifier is None
        await c.sign_in(ADMIN_KEY)
        page = await c.http.get("/console/sandboxes")
        assert 'id="keys-unchecked"' in page.text and "checks none" in page.text
        made = await _create(c, name="claims", folder="Agents/claims", role="editor")
        assert made.status_code == 200 and "restart <code>box-mcp serve</code>" in made.text


async def test_a_revoke_box_refuses_still_kills_the_key_and_pressing_revoke_again_finishes(
    make_console: Any, emulator: Any
) -> None:
    async with make_console(calls=False, directory=True) as c:
        await c.sign_in()
        key = _key_of((await _create(c, name="claims", folder="Agents/claims", role="editor")).text)
        store = emulator.emulator.store
        scopes = store.fetch_one("SELECT scopes FROM apps WHERE kind = 'server'")["scopes"]
        with store.tx():  # the app loses "Manage app users": Box refuses to set the user inactive
            store.execute("UPDATE apps SET scopes = 'root_readwrite' WHERE kind = 'server'")
        confirm = await c.http.get("/console/sandboxes/claims/revoke")
        failed = await c.http.post("/console/sandboxes/claims/revoke", data={"csrf": csrf_of(confirm.text)})
        assert failed.status_code == 502
        assert (
            "the keys of &#39;claims&#39; are revoked" in failed.text
            and "Box refused to finish" in failed.text
        )
        assert "press Revoke again" in failed.text
        assert c.deployment.store.agent_for_key(key) is None  # the key is dead all the same
        row = re.search(r'<tr id="sandbox-claims" class="drifted">.*?</tr>', failed.text, re.S)
        assert (
            row
            and "still active in Box (run revoke again)" in row.group(0)
            and "Revoke again" in row.group(0)
        )
        with store.tx():
            store.execute("UPDATE apps SET scopes = ? WHERE kind = 'server'", (scopes,))
        done = await c.http.post("/console/sandboxes/claims/revoke", data={"csrf": csrf_of(confirm.text)})
        assert done.status_code == 200 and "Revoked sandbox claims" in done.text
        revokes = [
            (r["detail"]["action"], r["detail"]["finished_in_box"])
            for r in await c.records("console")
            if r["detail"]["action"].startswith("sandbox_revoke")
        ]
        assert revokes == [("sandbox_revoked", False), ("sandbox_revoked", True)]
