"""The whole remote sign-in with the deployment built in this process (`open_deployment`, the HTTP app
served by uvicorn on a loopback socket), so its branches are measured: consent denied, Box denied, a
person the policy admits to no agent (their Box grant revoked at once), and a good sign-in. The same
flow through the real `box-mcp serve` process is tests/e2e/test_remote_sign_in.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio
import httpx2
import pytest

from box_mcp._serving import bind, serving
from box_mcp.config import Settings
from box_mcp.deployment import open_deployment
from tests.e2e.browser import Browser, Chooser, Form, approve_all
from tests.e2e.test_remote_sign_in import Person, people_policy
from tests.state_mode import state_env

pytestmark = pytest.mark.anyio


def settings(emulator: Any, tmp_path: Path) -> Settings:
    oauth = emulator.credentials["oauth"]
    return Settings.load(
        env={"BOX_OAUTH_CLIENT_ID": oauth["client_id"], "BOX_OAUTH_CLIENT_SECRET": oauth["client_secret"]}
        | state_env(),  # the state the operator's commands below find too (tests/state_mode.py)
        transport="http",
        box_url=emulator.base_url,
        data_dir=tmp_path / "data",
        policy=only_ada_and_bob(tmp_path),
    )


def only_ada_and_bob(tmp_path: Path) -> Path:
    path = people_policy(tmp_path)
    path.write_text(
        path.read_text().replace(
            "people: {domains: [acme.example]}", "people: {logins: [ada@acme.example, bob@acme.example]}"
        )
    )
    return path


def deny_at(where: str) -> Chooser:
    """Approve everything except the form whose page URL contains `where`."""
    approve = approve_all("bob@acme.example")

    def choose(url: str, form: Form, text: str) -> dict[str, str] | None:
        fields = approve(url, form, text)
        if where in url and fields is not None:
            fields["decision"] = "deny"
        return fields

    return choose


async def test_remote_sign_in_in_process(
    emulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with open_deployment(settings(emulator, tmp_path), transport="http") as deployment:
        sock = bind(0, "127.0.0.1")
        port = sock.getsockname()[1]
        app = deployment.http_app(port=port)
        base = f"http://127.0.0.1:{port}"
        async with serving(app, sock), httpx2.AsyncClient(follow_redirects=False, timeout=20) as http:
            register = await http.post(
                f"{base}/register",
                json={"redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"},
            )
            client_id = register.json()["client_id"]

            def authorize() -> str:
                query = {
                    "response_type": "code",
                    "client_id": client_id,
                    "redirect_uri": "http://127.0.0.1:9/cb",
                    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                    "code_challenge_method": "S256",
                    "state": "xyz",
                    "resource": f"{base}/mcp",
                }
                return f"{base}/authorize?{urlencode(query)}"

            def answer(visit: Any) -> dict[str, list[str]]:
                assert visit.final is not None, visit.pages[-1:]
                return parse_qs(urlsplit(visit.final).query)

            origins = [base, emulator.base_url]
            denied = answer(await Browser(http, origins=origins).walk(authorize(), deny_at("/oauth/consent")))
            assert (
                denied["error"] == ["access_denied"]
                and denied["state"] == ["xyz"]
                and denied["iss"] == [base]
            )
            box_no = answer(
                await Browser(http, origins=origins).walk(authorize(), deny_at("/oauth2/authorize"))
            )
            assert box_no["error"] == ["access_denied"] and box_no["iss"] == [base]
            # Carol is no one the policy admits: refused, and her new Box grant is revoked, not kept.
            refused = await Browser(http, origins=origins).walk(
                authorize(), approve_all("carol@acme.example")
            )
            assert answer(refused)["error"] == ["access_denied"]
            assert "policy gives this Box account no access" in answer(refused)["error_description"][0]
            assert not [r for r in deployment.broker.vault.list() if r.key.startswith("person:")]
            ok = answer(
                await Browser(http, origins=origins).walk(authorize(), approve_all("bob@acme.example"))
            )
            assert ok["code"][0].startswith("bmcp_code_") and ok["iss"] == [base]

            person = Person(f"{base}/mcp", emulator.base_url, "ada@acme.example")
            async with person.session() as client:
                who = await client.call_tool("who_am_i", {})
            assert who.structured_content and who.structured_content["login"] == "ada@acme.example"
            expired = await http.get(f"{base}/oauth/consent?request=nope")
            assert expired.status_code == 400 and "expired or was already used" in expired.text

            # The operator's side, as `box-mcp auth ...` runs it (cli.main is the command's entry point).
            from box_mcp.cli import main

            oauth = emulator.credentials["oauth"]
            monkeypatch.setenv("BOX_OAUTH_CLIENT_ID", oauth["client_id"])
            monkeypatch.setenv("BOX_OAUTH_CLIENT_SECRET", oauth["client_secret"])
            where = ["--data-dir", str(tmp_path / "data"), "--box-url", emulator.base_url]
            capsys.readouterr()
            assert await anyio.to_thread.run_sync(main, ["auth", "status", *where]) == 0
            listed = capsys.readouterr().out
            assert "ada@acme.example" in listed and "Signed-in people" in listed and "registered" in listed
            nobody = await anyio.to_thread.run_sync(
                main, ["auth", "logout", "--person", "zed@acme.example", *where]
            )
            assert nobody == 1 and "No signed-in person" in capsys.readouterr().out
            out = await anyio.to_thread.run_sync(
                main, ["auth", "logout", "--person", "ada@acme.example", *where]
            )
            said = capsys.readouterr().out
            assert out == 0 and "revoked at Box and deleted" in said, said
            token = person.storage.tokens
            assert token is not None
            await anyio.sleep(2.1)  # the verifier's cache of a token lives 2 s
            refused = await http.post(
                f"{base}/mcp",
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"},
            )
            assert refused.status_code == 401
    if "BOX_MCP_DATABASE_URL" in state_env():  # the OAuth store was the database's, not a file's
        assert not (tmp_path / "data" / "oauth.sqlite3").exists()
