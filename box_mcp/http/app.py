"""The HTTP face of box-mcp: `/mcp` (streamable HTTP), `/healthz`, Host/Origin checks, inbound auth.

Inbound auth is a callable `request -> agent name | None` (the policy's API keys fill it); None answers
401 with `WWW-Authenticate`. Without one, every caller is the deployment's default agent, which is only
sensible on loopback, so a non-loopback bind without an authenticator is refused at start-up.
"""

from __future__ import annotations

import hmac
import inspect
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence

from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from box_mcp._serving import MAX_BODY_BYTES
from box_mcp.errors import ConfigError
from box_mcp.http.guards import ExplainNotAcceptable, HostOriginGuard, OneRequestPerId
from box_mcp.server import AGENT_SCOPE_KEY, BoxMCPServer

Authenticator = Callable[[Request], "str | Awaitable[str | None] | None"]

MCP_PATH = "/mcp"
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


SESSION_HEADER = b"mcp-session-id"
MAX_SESSIONS = 100_000  # owners remembered; the oldest is forgotten first (and then refused, see below)


class InboundAuth:
    """ASGI middleware on /mcp: ask who is calling, record it on the scope, or answer 401.

    It also binds each MCP session to the agent whose key opened it (the MCP spec's advice against
    session hijacking): a request naming a session opened by another agent, or one this process never
    saw open, is answered 404 as an unknown session, so one agent cannot act inside another's session
    (for instance to raise approval prompts on the other agent's client).
    """

    def __init__(self, app: ASGIApp, authenticate: Authenticator, realm: str = "box-mcp") -> None:
        self.app = app
        self.authenticate = authenticate
        self.realm = realm
        self._owners: OrderedDict[bytes, str] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(MCP_PATH):
            await self.app(scope, receive, send)
            return
        scope.pop(AGENT_SCOPE_KEY, None)  # never trust a value that arrived from outside this middleware
        agent = self.authenticate(Request(scope))
        if inspect.isawaitable(agent):
            agent = await agent
        if not agent:
            response = JSONResponse(
                {"error": "invalid_token", "error_description": "a valid box-mcp API key is required"},
                status_code=401,
                headers={"WWW-Authenticate": f'Bearer realm="{self.realm}", error="invalid_token"'},
            )
            await response(scope, receive, send)
            return
        scope[AGENT_SCOPE_KEY] = agent
        session = _header(scope, SESSION_HEADER)
        if session is None:
            await self.app(scope, receive, self._record_owner(send, agent))
            return
        owner = self._owners.get(session)
        if owner is None or not hmac.compare_digest(owner, agent):
            await JSONResponse(
                {"jsonrpc": "2.0", "id": None, "error": {"code": -32001, "message": "Session not found"}},
                status_code=404,
            )(scope, receive, send)
            return
        if scope.get("method") == "DELETE":
            self._owners.pop(session, None)
        await self.app(scope, receive, send)

    def _record_owner(self, send: Send, agent: str) -> Send:
        """Remember who opened the session the response announces."""

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", ()):
                    if name.lower() == SESSION_HEADER:
                        self._owners[bytes(value)] = agent
                        while len(self._owners) > MAX_SESSIONS:
                            self._owners.popitem(last=False)
            await send(message)

        return recording


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class _StripAgent:
    """Without an authenticator nobody may set the agent: drop any scope key (defence in depth)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.pop(AGENT_SCOPE_KEY, None)
        await self.app(scope, receive, send)


def create_http_app(
    server: BoxMCPServer,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    authenticate: Authenticator | None = None,
    allowed_hosts: Sequence[str] = (),
    stateless: bool = False,
) -> ASGIApp:
    """The ASGI app serving `server`. Run it with uvicorn on `host:port` (loopback unless told otherwise)."""
    if authenticate is None and host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(
            f"refusing to serve on {host} without inbound authentication: anyone reaching the port would "
            "act as the default agent. Bind 127.0.0.1, or configure API keys in the policy."
        )

    @server.custom_route("/healthz", methods=["GET"])
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "tools": len(server.gate.tools)})

    security = transport_security(host, port, allowed_hosts)
    app: Starlette = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=stateless,
        # The SDK's check matches `name:*` by prefix; HostOriginGuard below applies the same lists exactly.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        max_request_body_size=MAX_BODY,
        host=host,
    )
    # A slash redirect (/healthz/ -> /healthz) would take its absolute target from the Host header.
    app.router.redirect_slashes = False
    inner: ASGIApp = OneRequestPerId(app, path=MCP_PATH, max_body=MAX_BODY)
    inner = _StripAgent(inner) if authenticate is None else InboundAuth(inner, authenticate)
    return HostOriginGuard(ExplainNotAcceptable(inner), hosts=security.allowed_hosts,
                           origins=security.allowed_origins, path=MCP_PATH)
