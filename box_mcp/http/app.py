"""The HTTP face of box-mcp: `/mcp` (streamable HTTP), `/healthz`, Host/Origin checks, inbound auth.

Built from the SDK's public parts: its StreamableHTTPSessionManager serves /mcp; with a TokenVerifier
(the policy's API keys, `box_mcp.http.auth`, and box-mcp's own OAuth access tokens, `box_mcp.http.oauth`)
its BearerAuthBackend and AuthContextMiddleware authenticate every /mcp request, `ChallengeMiddleware`
answers 401/403 without a valid one, and the session manager binds each session to the token's
principal. Without a verifier every caller is the
deployment's default agent, which is only sensible on loopback, so a non-loopback bind without one is
refused at start-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend
from mcp.server.auth.provider import TokenVerifier
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from box_mcp._serving import MAX_BODY_BYTES
from box_mcp.errors import ConfigError
from box_mcp.http.guards import ExplainNotAcceptable, HostOriginGuard, OneRequestPerId
from box_mcp.http.oauth import ChallengeMiddleware, RemoteURLs
from box_mcp.http.resume import RETRY_MS, SessionEventStore, SessionSlots
from box_mcp.server import BoxMCPServer

if TYPE_CHECKING:  # psycopg is imported only by a deployment that has a database
    from box_mcp.http.forward import SessionForwarder
    from box_mcp.state.sessions import SessionRegistry

MCP_PATH = "/mcp"
CONSOLE_PATH = "/console"  # the web console (box_mcp.console), mounted by the deployment: guarded alike
MAX_BODY = MAX_BODY_BYTES
_LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
_LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


def transport_security(host: str, port: int, extra_hosts: Sequence[str] = ()) -> TransportSecuritySettings:
    """Accept only Host values naming this server (DNS-rebinding defence) and Origins on the same hosts."""
    hosts = list(_LOOPBACK_HOSTS)
    origins = list(_LOOPBACK_ORIGINS)
    if host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::"):  # noqa: S104 - compared, not bound
        name = f"[{host}]" if ":" in host else host  # an IPv6 literal travels bracketed in Host and Origin
        hosts += [name, f"{name}:{port}"]
        origins += [f"http://{name}:{port}", f"https://{name}", f"https://{name}:{port}"]
    for extra in extra_hosts:
        hosts.append(extra)
        origins += [f"http://{extra}", f"https://{extra}"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


@asynccontextmanager
async def _lifespan(
    sessions: StreamableHTTPSessionManager,
    forwarder: SessionForwarder | None,
    background: Sequence[Callable[[], AbstractAsyncContextManager[None]]] = (),
) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for task in background:  # e.g. the webhook receiver's worker: entered first, left last
            await stack.enter_async_context(task())
        if forwarder is not None:  # entered first, left last: sessions end before the replica's row goes
            await stack.enter_async_context(forwarder.run())
        await stack.enter_async_context(sessions.run())
        yield


def create_http_app(
    server: BoxMCPServer,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    verifier: TokenVerifier | None = None,
    allowed_hosts: Sequence[str] = (),
    stateless: bool = False,
    remote: RemoteURLs | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    replicas: SessionRegistry | None = None,
    background: Sequence[Callable[[], AbstractAsyncContextManager[None]]] = (),
) -> ASGIApp:
    """The ASGI app serving `server`. Run it with uvicorn on `host:port` (loopback unless told otherwise).

    With `remote` (remote sign-in on), `extra_routes` are the OAuth and sign-in routes, and the 401
    challenge names the protected resource metadata, so an OAuth client given only the URL finds its way.
    With `replicas` (a database is configured), this process is one of several replicas: its sessions are
    registered there and a request for another replica's session is forwarded to it (http.forward).
    `background`: context managers run for the app's lifetime (the webhook receiver's worker); routes in
    `extra_routes` outside /mcp are not behind the bearer challenge (the receiver checks signatures)."""
    if verifier is None and host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(
            f"refusing to serve on {host} without inbound authentication: anyone reaching the port would "
            "act as the default agent. In a container or on a shared network, mint an API key with "
            "`box-mcp policy new-key AGENT` and put the sha256 line it prints under agents.AGENT.keys "
            "in the policy; on one machine, bind 127.0.0.1 instead."
        )
    # Legacy-era sessions resume a dropped stream (Last-Event-ID); a stateless deployment has none.
    events = None if stateless else SessionEventStore()
    sessions = StreamableHTTPSessionManager(
        app=server,
        stateless=stateless,
        # The SDK's check matches `name:*` by prefix; HostOriginGuard below applies the same lists exactly.
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        max_request_body_size=MAX_BODY,
        event_store=events,
        retry_interval=RETRY_MS if events is not None else None,
    )
    mcp: ASGIApp = StreamableHTTPASGIApp(sessions)
    if events is not None:
        mcp = SessionSlots(mcp, events)
    forwarder = None
    if replicas is not None:  # behind ChallengeMiddleware: a caller without a valid token learns nothing
        from box_mcp.http.forward import SessionForwarder

        forwarder = SessionForwarder(
            mcp, replicas, idle_timeout=sessions.session_idle_timeout, max_body=MAX_BODY
        )
        mcp = forwarder
    middleware: list[Middleware] = []
    if verifier is not None:
        mcp = ChallengeMiddleware(mcp, urls=remote)
        middleware = [
            Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(verifier)),
            Middleware(AuthContextMiddleware),
        ]

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "tools": len(server.gate.tools)})

    app = Starlette(
        routes=[
            Route(MCP_PATH, endpoint=mcp),
            Route("/healthz", endpoint=healthz, methods=["GET"]),
            *extra_routes,
        ],
        middleware=middleware,
        lifespan=lambda app: _lifespan(sessions, forwarder, background),
    )
    # A slash redirect (/healthz/ -> /healthz) would take its absolute target from the Host header.
    app.router.redirect_slashes = False
    security = transport_security(host, port, allowed_hosts)
    guarded: ASGIApp = OneRequestPerId(app, path=MCP_PATH, max_body=MAX_BODY)
    return HostOriginGuard(
        ExplainNotAcceptable(guarded),
        hosts=security.allowed_hosts,
        origins=security.allowed_origins,
        path=(MCP_PATH, CONSOLE_PATH),
        null_origin=(CONSOLE_PATH,),
    )
