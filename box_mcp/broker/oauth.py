"""OAuth 2.0 for a person: authorize URL with PKCE and state, a loopback redirect receiver, the code
exchange, storing the grant, and revoking it (`box-mcp auth login | logout`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import anyio
import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from box_mcp._serving import bind, serving
from box_mcp.broker.tokens import TokenEndpoint, TokenRequestError
from box_mcp.broker.vault import GrantRecord, VaultStore
from box_mcp.errors import BrokerError

CALLBACK_PATH = "/callback"
_PAGE = (
    "<!doctype html><meta charset=utf-8><title>box-mcp</title>"
    "<body style='font-family:sans-serif'><h1>{title}</h1><p>{text}</p></body>"
)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    url: str = field(repr=False)  # holds the state
    redirect_uri: str
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)


def s256_challenge(verifier: str) -> str:
    """RFC 7636's S256 code challenge: urlsafe base64 of the verifier's SHA-256, without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_request(
    authorize_url: str, *, client_id: str, redirect_uri: str, scope: str | None = None
) -> AuthorizationRequest:
    """Box's authorize URL with a fresh state and an S256 PKCE challenge."""
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 chars: RFC 7636 wants 43-128
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": s256_challenge(verifier),
        "code_challenge_method": "S256",
    }
    if scope:
        query["scope"] = scope
    return AuthorizationRequest(f"{authorize_url}?{urlencode(query)}", redirect_uri, state, verifier)


class LoopbackReceiver:
    """Receives the browser's redirect on 127.0.0.1 and hands back the authorization code: one
    Starlette route served by uvicorn (through `box_mcp._serving`, with its connection limits).

    Anything but a GET of the callback path with the expected state is answered and ignored, so a
    stray request (a favicon, a port scanner) cannot end or hijack the sign-in.
    """

    def __init__(self, sock: socket.socket, state: str | None = None) -> None:
        self._sock = sock
        self.state = state
        self._code: str | None = None
        self._error: str | None = None
        self._done = anyio.Event()
        not_here = {404: self._not_here, 405: self._not_here}
        self.app = Starlette(
            routes=[Route(CALLBACK_PATH, self._callback, methods=["GET"])], exception_handlers=not_here
        )

    @classmethod
    async def start(cls, port: int = 0) -> LoopbackReceiver:
        """Bind now (a busy port is a ConfigError) and listen, so a browser that is quicker than
        `wait_for_code` waits in the queue instead of being refused."""
        sock = bind(port, "127.0.0.1")
        sock.listen(16)
        return cls(sock)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}{CALLBACK_PATH}"

    async def wait_for_code(self, wait_seconds: float) -> str:
        """Serve until the right redirect arrives (or `wait_seconds` pass); return the code."""
        async with serving(self.app, self._sock):  # closes the socket when the block ends
            with anyio.move_on_after(wait_seconds):
                await self._done.wait()
        if self._error is not None:
            raise BrokerError(f"Box did not grant access: {self._error}. Run `box-mcp auth login` to retry")
        if self._code is None:
            raise BrokerError(
                f"no sign-in arrived within {int(wait_seconds)} s; run `box-mcp auth login` again"
            )
        return self._code

    async def _callback(self, request: Request) -> Response:
        if request.method != "GET":  # Starlette routes HEAD with GET; only a browser's GET counts
            return _page(405, "Not here", "This address only receives the Box sign-in.")
        query = request.query_params
        state = query.get("state", "")
        if self.state is None or not hmac.compare_digest(state.encode(), self.state.encode()):
            return _page(400, "Sign-in not accepted", "The state does not match this sign-in.")
        if "error" in query:
            self._error = "".join(ch for ch in query["error"][:100] if ch.isprintable())
            self._done.set()
            return _page(200, "Sign-in cancelled", "Box did not grant access. You can close this window.")
        code = query.get("code")
        if not code:
            return _page(400, "Sign-in not accepted", "The redirect carries no code.")
        self._code = code
        self._done.set()
        return _page(200, "Signed in to Box", "box-mcp has the grant. You can close this window.")

    async def _not_here(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return _page(status, "Not here", "This address only receives the Box sign-in.")


def _page(status: int, title: str, text: str) -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(title=title, text=text), status_code=status, headers={"Cache-Control": "no-store"}
    )


async def login(
    *,
    endpoint: TokenEndpoint,
    http: httpx2.AsyncClient,
    vault: VaultStore,
    label: str,
    client_id: str,
    client_secret: str,
    open_browser: Callable[[str], Coroutine[Any, Any, None]],
    port: int = 0,
    wait_seconds: float = 300.0,
) -> GrantRecord:
    """The whole sign-in: receive the redirect, exchange the code, ask Box who signed in, store it."""
    receiver = await LoopbackReceiver.start(port)
    request = authorization_request(
        endpoint.endpoints.authorize_url, client_id=client_id, redirect_uri=receiver.redirect_uri
    )
    receiver.state = request.state
    failure: BrokerError | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(open_browser, request.url)
        try:
            code = await receiver.wait_for_code(wait_seconds)
        except BrokerError as exc:  # raised outside the group, so callers see it and not a group
            failure = exc
        tg.cancel_scope.cancel()  # the browser helper has nothing left to do
    if failure is not None:
        raise failure
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": client_id,
        "client_secret": client_secret,
        "redirect_uri": request.redirect_uri,
        "code_verifier": request.code_verifier,
    }
    token = await endpoint.request(form, what="exchanging the sign-in code")
    if token.refresh_token is None:
        raise BrokerError("Box returned no refresh token for the sign-in; check the OAuth app's settings")
    user_id, user_login = await _who(http, endpoint.endpoints.api_base, token.access_token)
    record = GrantRecord(
        key=f"user:{label}",
        kind="user_grant",
        access_token=token.access_token,
        access_expires_at=token.expires_at,
        refresh_token=token.refresh_token,
        client_id=client_id,
        user_id=user_id,
        user_login=user_login,
    )
    return await anyio.to_thread.run_sync(lambda: vault.put(record, expect_generation=None))


async def _who(http: httpx2.AsyncClient, api_base: str, access_token: str) -> tuple[str | None, str | None]:
    try:
        response = await http.get(
            f"{api_base}/2.0/users/me",
            params={"fields": "id,login"},
            headers={"Authorization": f"Bearer {access_token}"},
        )
        body = response.json() if response.status_code == 200 else {}
    except (httpx2.HTTPError, ValueError):
        return None, None  # who signed in is a nicety for `auth status`; the grant is what matters
    user_id, user_login = _printable(body.get("id"), 40), _printable(body.get("login"), 200)
    return user_id or None, user_login or None


def _printable(value: object, limit: int) -> str:
    """Box's text is untrusted and ends up on a terminal (`auth status`): no control characters."""
    return "".join(ch for ch in str(value or "") if ch.isprintable())[:limit]


async def logout(
    *,
    endpoint: TokenEndpoint,
    vault: VaultStore,
    label: str,
    client_id: str,
    client_secret: str,
    forget_only: bool = False,
    key: str | None = None,
) -> bool:
    """Revoke the stored grant at Box, then delete it. False when nothing was stored. `key` names the
    vault record (a remotely signed-in person's `person:<id>`); else the label's `user:<label>`."""
    key = key or f"user:{label}"
    record = await anyio.to_thread.run_sync(vault.get, key)
    if record is None:
        return False
    if not forget_only:
        for token in (record.refresh_token, record.access_token):
            if token:
                try:
                    await endpoint.revoke(
                        token=token, client_id=record.client_id or client_id, client_secret=client_secret
                    )
                except TokenRequestError as exc:
                    if exc.error not in ("invalid_grant", "invalid_token"):  # already dead is fine
                        raise
    return await anyio.to_thread.run_sync(vault.delete, key)
