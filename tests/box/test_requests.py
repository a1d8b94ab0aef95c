"""What every request carries (auth, box-version, As-User, fields, conditionals) and what comes back."""

from __future__ import annotations

import httpx2
import pytest

from box_mcp.box import BoxClient, NotModified, StaticToken

TOKEN = "dev-token-SECRET-123"  # the token conftest.make_client uses

pytestmark = pytest.mark.anyio


def recorder(response: httpx2.Response | None = None):
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return response or httpx2.Response(200, json={"ok": True})

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


async def test_requests_carry_token_box_version_and_user_agent(make_client):
    handler = recorder()
    client = make_client(handler, box_version="2025.0", user_agent="test-agent/1")
    await client.get("/files/123", fields=["name", "sha1"])
    req = handler.seen[0]
    assert str(req.url) == "https://api.box.com/2.0/files/123?fields=name%2Csha1"
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert req.headers["box-version"] == "2025.0"
    assert req.headers["User-Agent"] == "test-agent/1"
    assert "As-User" not in req.headers


async def test_a_bound_view_acts_as_another_user_on_the_same_pool(make_client):
    handler = recorder()
    client = make_client(handler)
    view = client.bound(as_user="4242", token_source=StaticToken("other"))
    await view.get("/users/me")
    await view.aclose()  # a view never closes the shared pool
    await client.get("/users/me")
    assert handler.seen[0].headers["As-User"] == "4242"
    assert handler.seen[0].headers["Authorization"] == "Bearer other"
    assert "As-User" not in handler.seen[1].headers
    assert view._http is client._http


def test_as_user_must_be_a_user_id():
    client = BoxClient(token_source=StaticToken("x"), transport=httpx2.MockTransport(recorder()))
    with pytest.raises(ValueError, match="user id"):
        client.bound(as_user="alice@example.com")


async def test_if_none_match_on_an_unchanged_item_returns_not_modified(make_client):
    handler = recorder(httpx2.Response(304, headers={"ETag": "7"}))
    client = make_client(handler)
    result = await client.get("/files/1", if_none_match="7")
    assert result == NotModified(etag="7")
    assert handler.seen[0].headers["If-None-Match"] == "7"


async def test_no_content_answers_none(make_client):
    client = make_client(recorder(httpx2.Response(204)))
    assert await client.delete("/folders/5", params={"recursive": True}) is None


async def test_boolean_and_list_params_are_spelled_as_box_expects(make_client):
    handler = recorder()
    client = make_client(handler)
    await client.get(
        "/search",
        params={"query": "q", "trash_content": None, "recursive": True, "file_extensions": ["pdf", "txt"]},
    )
    assert handler.seen[0].url.params["recursive"] == "true"
    assert handler.seen[0].url.params["file_extensions"] == "pdf,txt"
    assert "trash_content" not in handler.seen[0].url.params


async def test_an_authorization_header_from_a_caller_is_refused(make_client):
    client = make_client(recorder())
    with pytest.raises(ValueError, match="token_source"):
        await client.get("/users/me", headers={"Authorization": "Bearer stolen"})


def test_upload_host_defaults_follow_the_base_url():
    def build(**kw):
        return BoxClient(token_source=StaticToken("x"), transport=httpx2.MockTransport(recorder()), **kw)

    assert build().upload_url == "https://upload.box.com/api"
    assert build(base_url="http://127.0.0.1:9000/").upload_url == "http://127.0.0.1:9000/api"
    emu = build(base_url="http://emulator")
    assert emu.url("/files/content", upload=True) == "http://emulator/api/2.0/files/content"
    assert emu.url("/files/1") == "http://emulator/2.0/files/1"


def test_the_token_never_shows_in_repr():
    token = StaticToken("very-secret")
    client = BoxClient(token_source=token, transport=httpx2.MockTransport(recorder()))
    assert "very-secret" not in repr(token)
    assert "very-secret" not in repr(client)


def test_an_empty_developer_token_is_refused_with_a_hint():
    with pytest.raises(ValueError, match="Developer Console"):
        StaticToken("  ")


async def test_errors_never_carry_the_token(make_client):
    def handler(request: httpx2.Request) -> httpx2.Response:
        # A hostile or buggy server echoing our headers back must not get the token into the error text.
        echoed = {
            "type": "error",
            "status": 401,
            "code": "unauthorized",
            "message": "nope",
            "context_info": {"headers": dict(request.headers)},
        }
        return httpx2.Response(401, json=echoed)

    client = make_client(handler)
    with pytest.raises(Exception) as info:
        await client.get("/users/me")
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)


def test_only_the_api_and_upload_origins_are_trusted_with_the_token() -> None:
    client = BoxClient(
        token_source=StaticToken(TOKEN),
        base_url="https://api.box.com",
        upload_url="https://upload.box.com/api",
    )
    assert client.is_trusted(client.url("/files/1"))
    assert client.is_trusted(client.url("/files/content", upload=True))
    assert client.is_trusted("https://api.box.com:443/2.0/files/1")  # same origin, spelt otherwise
    for url in (
        "https://api.box.com.evil.example/2.0/files/1",
        "https://api.box.com@evil.example/2.0",
        "http://api.box.com/2.0/files/1",
        "https://api.box.com:8443/2.0/files/1",
        "https://dl.boxcloud.com/d/1/secret",
        "https://upload.box.com.evil.example/api/x",
    ):
        assert not client.is_trusted(url), url
