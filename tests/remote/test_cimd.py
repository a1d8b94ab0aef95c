"""Client ID Metadata Documents: what box-mcp fetches, from where, how much, and what it accepts.

A real loopback HTTP server serves the documents (the resolver's loopback development mode); the
address rules for https ids are checked on the classifier and on a hostname that resolves to loopback.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from box_mcp._serving import bind, serving
from box_mcp.remote.cimd import CIMDError, CIMDResolver, address_refused, redirect_uri_problem

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def documents() -> AsyncIterator[tuple[str, list[str], dict[str, Any]]]:
    """A loopback server; `served[path]` is what it answers (a dict: JSON; bytes; a callable)."""
    hits: list[str] = []
    served: dict[str, Any] = {}

    async def answer(request: Request) -> Response:
        hits.append(request.url.path)
        what = served.get(request.url.path)
        if callable(what):
            return await what(request)  # type: ignore[no-any-return]
        if isinstance(what, bytes):
            return Response(what, media_type="application/json")
        if what is None:
            return Response(status_code=404)
        return Response(
            json.dumps(what), media_type="application/json", headers={"Cache-Control": "max-age=600"}
        )

    sock = bind(0, "127.0.0.1")
    sock.listen(16)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = Starlette(routes=[Route("/{path:path}", answer)])
    async with serving(app, sock):
        yield base, hits, served


def doc(client_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "client_name": "Test client",
        "redirect_uris": ["http://127.0.0.1:5000/cb"],
    } | extra


async def test_a_valid_document_is_fetched_once_and_cached() -> None:
    async with documents() as (base, hits, served), httpx2.AsyncClient() as http:
        url = f"{base}/client.json"
        served["/client.json"] = doc(url)
        resolver = CIMDResolver(http, allow_loopback=True)
        first = await resolver.resolve(url)
        second = await resolver.resolve(url)
    assert first.client_id == url and first.client_name == "Test client"
    assert first.token_endpoint_auth_method == "none" and first.client_secret is None
    assert second == first and hits == ["/client.json"]  # the second answer came from the cache


@pytest.mark.parametrize(
    ("document", "said"),
    [
        (lambda url: doc(url + "x"), "client_id is not the URL"),
        (lambda url: doc(url, client_secret="s3cret"), "client secret"),
        (lambda url: doc(url, token_endpoint_auth_method="client_secret_post"), "not supported"),
        (lambda url: doc(url, redirect_uris=[]), "redirect_uris"),
        (lambda url: doc(url, redirect_uris=["javascript:alert(1)"]), "cannot receive"),
        (lambda url: doc(url, redirect_uris=["http://evil.example/cb"]), "plain http off loopback"),
        (lambda url: [1, 2], "not a JSON object"),
    ],
)
async def test_documents_that_break_the_rules_are_refused(document: Any, said: str) -> None:
    async with documents() as (base, _, served), httpx2.AsyncClient() as http:
        url = f"{base}/client.json"
        served["/client.json"] = document(url)
        with pytest.raises(CIMDError, match=said):
            await CIMDResolver(http, allow_loopback=True).resolve(url)


async def test_size_time_redirects_and_status_are_limited_and_failures_are_cached() -> None:
    async def slow(request: Request) -> Response:
        await anyio.sleep(2)
        return Response("{}")

    async def elsewhere(request: Request) -> Response:
        return RedirectResponse("http://127.0.0.1:9/other.json")

    async with documents() as (base, hits, served), httpx2.AsyncClient() as http:
        served["/big.json"] = json.dumps(doc(f"{base}/big.json", padding="x" * 6000)).encode()
        served["/slow.json"] = slow
        served["/moved.json"] = elsewhere
        resolver = CIMDResolver(http, allow_loopback=True, timeout=0.3)
        with pytest.raises(CIMDError, match="over 5120 bytes"):
            await resolver.resolve(f"{base}/big.json")
        with pytest.raises(CIMDError, match="did not answer within"):
            await resolver.resolve(f"{base}/slow.json")
        with pytest.raises(CIMDError, match="HTTP 307"):
            await resolver.resolve(f"{base}/moved.json")
        with pytest.raises(CIMDError, match="HTTP 404"):
            await resolver.resolve(f"{base}/missing.json")
        before = len(hits)
        with pytest.raises(CIMDError, match="HTTP 404"):
            await resolver.resolve(f"{base}/missing.json")  # a failure is cached: no second fetch
        assert len(hits) == before


async def test_loopback_http_ids_only_when_box_mcp_itself_is_on_loopback() -> None:
    async with documents() as (base, hits, served), httpx2.AsyncClient() as http:
        url = f"{base}/client.json"
        served["/client.json"] = doc(url)
        with pytest.raises(CIMDError, match="must be https"):
            await CIMDResolver(http, allow_loopback=False).resolve(url)
        with pytest.raises(CIMDError, match="loopback address"):
            # https to a name that resolves to loopback: refused before any connection
            await CIMDResolver(http, allow_loopback=False).resolve("https://localhost/client.json")
    assert hits == []


@pytest.mark.parametrize(
    "client_id",
    [
        "ftp://example.com/c.json",
        "https://example.com",
        "https://example.com/",
        "https://user:pw@example.com/c.json",
        "https://example.com/a/../c.json",
        "https://example.com/c.json#frag",
    ],
)
async def test_malformed_client_id_urls_are_refused_without_a_fetch(client_id: str) -> None:
    async with httpx2.AsyncClient() as http:
        with pytest.raises(CIMDError):
            await CIMDResolver(http, allow_loopback=False).resolve(client_id)


@pytest.mark.parametrize(
    "address",
    [
        "10.1.2.3",
        "192.168.0.1",
        "172.16.5.4",
        "169.254.169.254",
        "127.0.0.1",
        "::1",
        "fc00::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address refused, not bound
        "224.0.0.1",
        "240.0.0.1",
    ],
)
def test_private_and_special_addresses_are_refused(address: str) -> None:
    assert address_refused(address, allow_loopback=False) is not None


def test_public_addresses_are_allowed_and_loopback_mode_allows_only_loopback() -> None:
    assert address_refused("93.184.216.34", allow_loopback=False) is None
    assert address_refused("2606:4700::1111", allow_loopback=False) is None
    assert address_refused("127.0.0.1", allow_loopback=True) is None
    assert address_refused("93.184.216.34", allow_loopback=True) is not None


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("https://claude.ai/api/mcp/auth_callback", True),
        ("http://127.0.0.1:8080/callback", True),
        ("http://localhost/callback", True),
        ("cursor://anysphere.cursor-mcp/oauth/callback", True),
        ("vscode://vscode.github-authentication/did-authenticate", True),
        ("http://example.com/callback", False),
        ("javascript:alert(1)", False),
        ("data:text/html,hi", False),
        ("file:///etc/passwd", False),
        ("https://example.com/cb#x", False),
    ],
)
def test_redirect_uri_rules(uri: str, ok: bool) -> None:
    assert (redirect_uri_problem(uri) is None) is ok
