"""MCP sessions for the audit: session_start / session_end records, and who each call's client is.

A handshake-era connection (stdio, or HTTP with an Mcp-Session-Id) is a session: it starts when the
client's `notifications/initialized` (or first request) arrives and ends when mcp closes the connection.
On the 2026 per-request protocol a stdio process is one session; an HTTP request stands alone (the
protocol has no session), so its calls carry the client's name and version but no session id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from box_mcp.events import Events, SessionInfo

STATE_KEY = "box_mcp.session"


def connection_of(ctx: ServerRequestContext[Any, Any]) -> Connection | None:
    # mcp 2.3 hands handlers the per-request ServerSession, which keeps its Connection privately.
    connection = getattr(ctx.session, "_connection", None)
    return connection if isinstance(connection, Connection) else None


def _client(connection: Connection) -> tuple[str | None, str | None]:
    params = connection.client_params
    info = params.client_info if params is not None else None
    return (info.name, info.version) if info is not None else (None, None)


class SessionTracker:
    """A server middleware (mcp `ServerMiddleware` shape) that records sessions into `events`."""

    def __init__(
        self,
        events: Events,
        *,
        agent_of: Callable[[ServerRequestContext[Any, Any]], str],
        transport_of: Callable[[ServerRequestContext[Any, Any]], str],
    ) -> None:
        self.events = events
        self._agent_of = agent_of
        self._transport_of = transport_of
        self._process: SessionInfo | None = None  # the stdio process's session on the 2026 protocol
        self._process_agent = ""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "initialize":  # the client's info is committed only after initialize returns
            await self.ensure(ctx)
        return await call_next(ctx)

    def info(self, ctx: ServerRequestContext[Any, Any]) -> SessionInfo | None:
        """The session of the connection `ctx` arrived on (set by the middleware before any handler)."""
        connection = connection_of(ctx)
        info = None if connection is None else connection.state.get(STATE_KEY)
        return info if isinstance(info, SessionInfo) else None

    async def ensure(self, ctx: ServerRequestContext[Any, Any]) -> SessionInfo | None:
        connection = connection_of(ctx)
        if connection is None:
            return None
        known = connection.state.get(STATE_KEY)
        if isinstance(known, SessionInfo):
            return known
        name, version = _client(connection)
        transport = self._transport_of(ctx)
        if connection.protocol_version in MODERN_PROTOCOL_VERSIONS:
            if transport != "stdio":  # a stateless exchange: no session to start or end
                info = SessionInfo(None, name, version, transport)
                connection.state[STATE_KEY] = info
                return info
            if self._process is None:
                self._process = SessionInfo(uuid.uuid4().hex, name, version, transport)
                self._process_agent = self._agent_of(ctx)
                await self._start(self._process, self._process_agent, connection.protocol_version)
            connection.state[STATE_KEY] = self._process
            return self._process
        info = SessionInfo(connection.session_id or uuid.uuid4().hex, name, version, transport)
        connection.state[STATE_KEY] = info  # set before awaiting: concurrent requests start it once
        agent = self._agent_of(ctx)
        await self._start(info, agent, connection.protocol_version)
        connection.exit_stack.push_async_callback(self._end, info, agent)
        return info

    async def end_process_session(self) -> None:
        """Call when a stdio server stops: ends the 2026-protocol process session, if one started."""
        if self._process is not None:
            info, self._process = self._process, None
            await self._end(info, self._process_agent)

    async def _start(self, info: SessionInfo, agent: str, protocol_version: str) -> None:
        await self.events.emit(
            "session_start",
            agent=agent,
            **info.fields(),
            detail={"transport": info.transport, "protocol_version": protocol_version},
        )

    async def _end(self, info: SessionInfo, agent: str) -> None:
        await self.events.emit(
            "session_end", agent=agent, **info.fields(), detail={"transport": info.transport}
        )
