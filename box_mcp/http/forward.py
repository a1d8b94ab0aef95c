"""In front of /mcp on a replica: a handshake-era request for a session another replica holds is
forwarded to that replica, so a plain round-robin balancer (no sticky sessions) works.

A legacy session (Mcp-Session-Id, protocol 2025-11-25 and older) lives in the memory of the process that
opened it: its GET stream, the tool calls awaiting an elicitation answer. So this middleware

- records each session this process opens (the `mcp-session-id` of a successful initialize response)
  in the registry (box_mcp.state.sessions) before the client sees the id, and forgets it when it ends
  (a DELETE, or the SDK answering 404 to the principal that opened it: the transport closed, e.g. idle);
- passes a request for a session it holds to the SDK, and forwards one it does not hold to the owner
  (body, every header with Authorization, Host as the client sent it so the owner's Host/Origin guard
  judges the client's request; the response streamed back as it comes, SSE included), marked with
  FORWARDED_HEADER: a forwarded request is never forwarded again, so no loop can form;
- answers 404 (what the spec says for an unknown session: the client initializes again) when no live
  replica holds the session.

The owner authenticates the forwarded request itself and binds it to the session's principal exactly as
for a direct one; nothing here is trusted by it. Requests of the 2026-07-28 era carry no session and
pass straight through: any replica serves them.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx2
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, authorization_context
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from box_mcp.state.database import DatabaseError
from box_mcp.state.sessions import HEARTBEAT_S, Replica, SessionRegistry

log = logging.getLogger("box_mcp.http.forward")

FORWARDED_HEADER = b"x-box-mcp-forwarded-by"  # value: the forwarding replica's id (for logs only)
SESSION_HEADER = b"mcp-session-id"
VERSION_HEADER = b"mcp-protocol-version"
# Bounded everywhere. read: the longest silence between two chunks of an answer; the SDK's SSE streams
# send a ping every 15 s, so only a stuck owner reaches it.
TIMEOUT = httpx2.Timeout(connect=3.0, read=60.0, write=30.0, pool=10.0)
MAX_FORWARDS = 512  # concurrent forwarded requests (GET streams included) per replica
OWNERS_CACHED = 10_000  # session -> owner answers kept (an owner never changes; liveness is re-read)
# Hop-by-hop headers (RFC 9110 §7.6.1) are the connection's, not the request's; httpx2 sets the length.
_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding", b"upgrade"}
)
_REQUEST_DROP = _HOP | {b"content-length", FORWARDED_HEADER}
_RESPONSE_DROP = _HOP


@dataclass
class _Held:
    """A session this process holds."""

    agent: str | None
    principal: dict[str, Any] | None
    in_flight: int = 0
    last_active: float = 0.0


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _caller(scope: Scope) -> tuple[str | None, dict[str, Any] | None]:
    """(agent, principal) of the authenticated request, as the SDK binds sessions; (None, None) keyless."""
    user = scope.get("user")
    if not isinstance(user, AuthenticatedUser):
        return None, None
    return user.access_token.client_id, dict(authorization_context(user))


def _not_found() -> JSONResponse:
    # The SDK's own answer to an unknown session, byte for byte in substance.
    return JSONResponse(
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}},
        status_code=404,
    )


def _failure(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32603, "message": message}}, status_code=status
    )


class SessionForwarder:
    """ASGI middleware around the SDK's /mcp app; `run()` is its lifespan (registration, heartbeat)."""

    def __init__(
        self,
        app: ASGIApp,
        registry: SessionRegistry,
        *,
        idle_timeout: float | None,
        max_body: int,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.app = app
        self.registry = registry
        self.idle_timeout = idle_timeout
        self.max_body = max_body
        self._transport = transport
        self._held: dict[str, _Held] = {}
        self._owners: OrderedDict[str, str] = OrderedDict()  # session -> replica id
        self._replicas: dict[str, Replica] = {}
        self._client: httpx2.AsyncClient | None = None
        self._slots: anyio.CapacityLimiter | None = None  # made in run(): it needs the event loop

    def holds(self, session_id: str) -> bool:
        return session_id in self._held

    # -- lifespan -----------------------------------------------------------------------------

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Register this replica, heartbeat while serving; on the way out drop its rows, close up."""
        await self.registry.aregister()
        limits = httpx2.Limits(max_connections=MAX_FORWARDS, max_keepalive_connections=32)
        # trust_env=False: a proxy variable in the environment must not route replica-to-replica traffic.
        client = httpx2.AsyncClient(
            timeout=TIMEOUT, limits=limits, trust_env=False, transport=self._transport
        )
        self._client = client
        self._slots = anyio.CapacityLimiter(MAX_FORWARDS)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._beat)
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()
        finally:
            self._client = None
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await client.aclose()
                try:
                    await self.registry.aunregister()
                except DatabaseError as exc:
                    log.warning("%s; other replicas will take this one for dead shortly", exc)
            self.registry.close()

    async def _beat(self) -> None:
        last = time.monotonic()
        while True:  # until the lifespan cancels it
            await anyio.sleep(HEARTBEAT_S)
            now = time.monotonic()
            await self._expire_idle(now)
            touched = [sid for sid, h in self._held.items() if h.in_flight or h.last_active >= last]
            last = now
            try:
                present, replicas = await self.registry.aheartbeat(touched)
                self._replicas = replicas
                if not present:  # taken for dead while the database was out of reach: come back
                    log.warning(
                        "this replica's registry row was gone (database unreachable?): registering again"
                    )
                    await self.registry.aregister()
                    await self.registry.aadd_many(
                        (sid, h.agent, h.principal) for sid, h in self._held.items()
                    )
            except DatabaseError as exc:
                log.warning("session registry heartbeat failed: %s", exc)

    async def _expire_idle(self, now: float) -> None:
        """Forget sessions the SDK has certainly closed for idleness (it times out the same way)."""
        if self.idle_timeout is None:
            return
        limit = self.idle_timeout + 2 * HEARTBEAT_S
        for sid in [s for s, h in self._held.items() if not h.in_flight and now - h.last_active > limit]:
            await self._forget(sid)

    async def _forget(self, session_id: str) -> None:
        if self._held.pop(session_id, None) is None:
            return
        try:
            await self.registry.aremove(session_id)
        except DatabaseError as exc:  # the row is harmless: its owner answers 404 for it
            log.warning("could not forget session %s: %s", session_id[:12], exc)

    # -- requests -----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        version = _header(scope, VERSION_HEADER)
        session = _header(scope, SESSION_HEADER)
        if version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS:
            await self.app(scope, receive, send)  # the stateless era: any replica serves it
            return
        if session is None:
            await self._serve_new(scope, receive, send)
            return
        held = self._held.get(session)
        if held is not None:
            await self._serve_held(session, held, scope, receive, send)
            return
        if _header(scope, FORWARDED_HEADER) is not None:
            await self.app(scope, receive, send)  # forwarded here already: never again (the SDK 404s)
            return
        try:
            owner = await self._owner(session)
        except DatabaseError as exc:
            log.warning("cannot route session %s: %s", session[:12], exc)
            await _failure(503, "the session registry is unavailable; retry shortly")(scope, receive, send)
            return
        if owner is None or not owner.alive or owner.replica_id == self.registry.replica_id:
            await _not_found()(scope, receive, send)
            return
        await self._forward(owner, session, scope, receive, send)

    async def _serve_new(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A request with no session: an initialize that succeeds opens one here; record it first."""
        agent, principal = _caller(scope)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                opened = next(
                    (bytes(v).decode() for k, v in message["headers"] if k.lower() == SESSION_HEADER), None
                )
                if opened is not None and opened not in self._held:
                    self._held[opened] = _Held(agent, principal, last_active=time.monotonic())
                    try:  # before the client learns the id: its next request may reach another replica
                        await self.registry.aadd(opened, agent=agent, principal=principal)
                    except DatabaseError as exc:
                        log.warning("session %s is served by this replica only: %s", opened[:12], exc)
            await send(message)

        await self.app(scope, receive, sending)

    async def _serve_held(
        self, session: str, held: _Held, scope: Scope, receive: Receive, send: Send
    ) -> None:
        status: int | None = None

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        held.in_flight += 1
        held.last_active = time.monotonic()
        try:
            await self.app(scope, receive, sending)
        finally:
            held.in_flight -= 1
            held.last_active = time.monotonic()
        ended = scope["method"] == "DELETE" and status is not None and 200 <= status < 300
        # 404 to the session's own principal: the SDK no longer has it (another principal's 404 is the
        # SDK refusing a stranger, and says nothing about the session).
        gone = status == 404 and _caller(scope)[1] == held.principal
        if ended or gone:
            with anyio.CancelScope(shield=True):
                await self._forget(session)

    async def _owner(self, session: str) -> Replica | None:
        replica_id = self._owners.get(session)
        if replica_id is not None and (known := self._replicas.get(replica_id)) is not None:
            self._owners.move_to_end(session)
            return known
        found = await self.registry.aowner(session)
        if found is None:
            return None
        self._owners[session] = found.replica.replica_id
        if len(self._owners) > OWNERS_CACHED:
            self._owners.popitem(last=False)
        return found.replica

    async def _forward(
        self, owner: Replica, session: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        client, slots = self._client, self._slots
        if client is None or slots is None:
            await _failure(503, "this replica is starting or stopping; retry")(scope, receive, send)
            return
        body = await self._body(receive)
        if body is None:  # the client left before sending its request
            return
        if len(body) > self.max_body:
            await _failure(413, "request body too large")(scope, receive, send)
            return
        path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        url = owner.url + path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _REQUEST_DROP]
        headers.append((FORWARDED_HEADER, self.registry.replica_id.encode()))
        request = client.build_request(scope["method"], url, headers=headers, content=body)
        async with slots:
            try:
                response = await client.send(request, stream=True)
            except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
                # The owner's port refuses: the process is gone, and its sessions with it.
                log.info(
                    "owner %s of session %s unreachable (%s)", owner.url, session[:12], type(exc).__name__
                )
                await _not_found()(scope, receive, send)
                return
            except httpx2.TimeoutException:
                await _failure(504, "the replica holding this session did not answer in time")(
                    scope, receive, send
                )
                return
            except httpx2.TransportError as exc:
                log.warning("forwarding to %s failed: %s", owner.url, type(exc).__name__)
                await _failure(502, "the replica holding this session could not be reached")(
                    scope, receive, send
                )
                return
            try:
                await self._relay(response, receive, send)
            finally:
                await response.aclose()
        if scope["method"] == "DELETE" and 200 <= response.status_code < 300:
            self._owners.pop(session, None)

    async def _body(self, receive: Receive) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while size <= self.max_body:  # bounded: a body past the limit is refused, not read on
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _relay(self, response: httpx2.Response, receive: Receive, send: Send) -> None:
        """Stream `response` to the client chunk by chunk; the client leaving closes the upstream."""
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in _RESPONSE_DROP]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":  # bounded by the connection's life
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(watch)
            try:
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx2.HTTPError as exc:  # the owner went away mid-answer: end ours too
                log.info("forwarded answer cut off: %s", type(exc).__name__)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            tg.cancel_scope.cancel()
